"""`monitor serve`: Datasette on the database, loaded in headless Chromium while a poll writes."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import threading
import time
from pathlib import Path

import pytest
import yaml

from monitor.cli.serve import datasette_metadata
from monitor.service.grouping import EventGrouping
from monitor.store import Store
from tests.conftest import MONITOR, ROOT, free_port, write_config
from tests.loopback import Request, Response, Site, rss, story
from tests.test_review import LAUNCH, LAUNCH_2


def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is missing: .ci/run installs it")
        pytest.skip("chromium is not installed (apt-get install chromium)")
    return found


def render(url: str) -> str:
    """The page's DOM after its scripts ran, as headless Chromium sees it."""
    result = subprocess.run(
        [
            chromium(),
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--dump-dom",
            url,
        ],
        capture_output=True,
        text=True,
        timeout=90,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


def wait_for_port(port: int, proc: subprocess.Popen[str], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, "monitor serve exited"
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.2)
    raise AssertionError("monitor serve did not start listening")


@pytest.mark.slow
def test_serve_shows_stored_stories_in_chromium_while_a_poll_writes(
    tmp_path: Path, site: Site, cli_env: dict[str, str]
) -> None:
    chromium()
    site.routes["/wire.xml"] = Response(
        rss([story(1, site, title="North Korea fires two ballistic missiles into East Sea", text=LAUNCH)])
    )
    cfg = write_config(
        tmp_path, feeds=[{"name": "Wire", "url": site.url("/wire.xml")}], fetch={"timeout": "200s"}
    )
    first = subprocess.run(
        [*MONITOR, "poll", "--config", str(cfg)], env=cli_env, cwd=ROOT, capture_output=True, timeout=120
    )
    assert first.returncode == 0, first.stderr
    # The next poll finds a second story whose page takes seconds: it writes while we browse.
    second = story(2, site, title="Japan says North Korean missile fell outside its EEZ", text=LAUNCH_2)
    page = site.routes["/a/2.html"]
    assert isinstance(page, Response)
    gate = threading.Event()  # the page is answered once the browser has rendered

    def held(_request: Request) -> Response:
        gate.wait(timeout=180)
        return page

    site.routes["/a/2.html"] = held
    site.routes["/wire.xml"] = Response(
        rss(
            [
                story(1, site, title="North Korea fires two ballistic missiles into East Sea", text=LAUNCH),
                second,
            ]
        )
    )
    port = free_port()
    serve_log = (tmp_path / "serve.log").open("w")
    serve = subprocess.Popen(
        [*MONITOR, "serve", "--config", str(cfg), "--port", str(port)],
        env=cli_env,
        cwd=ROOT,
        stdout=serve_log,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        wait_for_port(port, serve)
        poll = subprocess.Popen(
            [*MONITOR, "poll", "--config", str(cfg)],
            env=cli_env,
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        while not site.hits("/a/2.html"):  # the poll has started writing
            assert poll.poll() is None
            time.sleep(0.1)
        rendered = render(f"http://127.0.0.1:{port}/monitor/latest_flagged")
        assert poll.poll() is None  # rendered while the poll was still running
        assert "Latest flagged stories" in rendered
        assert "North Korea fires two ballistic missiles into East Sea" in rendered
        assert "missile_launch" in rendered
        gate.set()
        assert poll.wait(timeout=120) == 0
        rendered = render(f"http://127.0.0.1:{port}/monitor/latest_flagged")
        assert "Japan says North Korean missile fell outside its EEZ" in rendered
        search = render(f"http://127.0.0.1:{port}/monitor/articles?_search=exclusive")
        assert "Japan says North Korean missile" in search and "1 row where search matches" in search
        assert "articles_fts_data" not in render(f"http://127.0.0.1:{port}/monitor")  # hidden
    finally:
        gate.set()
        serve.terminate()
        serve.wait(timeout=30)
        serve_log.close()


def test_every_canned_query_runs_on_the_schema(tmp_path: Path) -> None:
    """The shipped metadata's queries are SQL the schema answers, and name real tables."""
    from datetime import UTC, datetime

    from monitor.config import Settings
    from monitor.records import Feed
    from tests.test_events import ICBM_EN, flagged

    settings = Settings.model_validate({"database": str(tmp_path / "m.db")})
    store = Store(settings.database, grouping=EventGrouping(settings))
    now = datetime.now(UTC)
    (feed,) = store.sync_feeds([Feed(name="F", url="https://f.example/", interval=60)], now)
    store.commit_articles([flagged(feed.id, 1, *ICBM_EN, now)], now)
    metadata = datasette_metadata(str(tmp_path / "m.db"))
    (database,) = metadata["databases"].values()
    assert list(metadata["databases"]) == ["m"]
    assert set(database["tables"]) <= set(store.db.table_names())
    answered = set()
    for name, query in database["queries"].items():
        params = {"event": 1, "topic": "missile_launch", "day": now.strftime("%Y-%m-%d")}
        if store.db.execute(query["sql"], params).fetchall():
            answered.add(name)
    store.close()
    assert {"latest_flagged", "topic_day", "events_this_week", "event_stories"} <= answered
    assert {"feeds_in_error", "failed_alerts", "event_alerts", "alerts_per_event"} <= set(database["queries"])
    assert yaml.safe_dump(metadata)  # what `monitor serve` writes for Datasette
