"""executor: celery with real parts: redis-server on loopback, `monitor worker` and `monitor run`
/ `monitor poll` as subprocesses, feeds and pages on a loopback site, alerts to a json://
receiver. The same stories, verdicts, events and alerts as executor: local; a worker killed
mid-task and a Redis restart mid-poll lose nothing and double no alert."""

from __future__ import annotations

import os
import shutil
import signal
import sqlite3
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import redis

from tests.conftest import MONITOR, ROOT, Receiver, free_port, running_daemon, write_config
from tests.loopback import FILLER, Request, Response, Site, article_page, rss, story

HTML = {"Content-Type": "text/html"}

pytestmark = pytest.mark.slow

LAUNCH = (
    "North Korea fired a ballistic missile into the sea off its east coast on Tuesday, South "
    "Korea's Joint Chiefs of Staff said, the latest in a series of weapons tests this year."
)
SANCTIONS = (
    "The United States imposed sanctions on Tuesday on three companies accused of helping North "
    "Korea's missile programme, the Treasury Department said in a statement."
)


class RedisServer:
    """redis-server on a free loopback port, without persistence: a restart loses everything,
    the harshest case for the hub."""

    def __init__(self, folder: Path) -> None:
        self.port = free_port()
        self.folder = folder
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> RedisServer:
        exe = shutil.which("redis-server")
        assert exe is not None
        self.proc = subprocess.Popen(
            [exe, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
            cwd=self.folder,
            stdout=subprocess.DEVNULL,
        )
        client = redis.Redis.from_url(self.url)
        deadline = time.monotonic() + 10
        while True:
            try:
                client.ping()
                break
            except redis.ConnectionError:
                assert time.monotonic() < deadline, "redis-server did not start"
                time.sleep(0.05)
        client.close()
        return self

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[RedisServer]:
    if shutil.which("redis-server") is None:
        if os.environ.get("CI"):
            pytest.fail("redis-server is not installed (.ci/run installs it)")
        pytest.skip("redis-server is not installed")
    server = RedisServer(tmp_path).start()
    yield server
    server.stop()


@contextmanager
def workers(
    cfg: Path, env: dict[str, str], folder: Path, count: int
) -> Iterator[list[subprocess.Popen[bytes]]]:
    """``count`` `monitor worker -c 1` processes, each in its own process group (a SIGKILL of the
    group kills the worker and its pool child, as a machine going away would)."""
    procs = []
    for i in range(count):
        procs.append(start_worker(cfg, env, folder / f"worker{i}.log"))
    try:
        yield procs
    finally:
        for proc in procs:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


def start_worker(cfg: Path, env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("w") as out:
        proc = subprocess.Popen(
            [*MONITOR, "worker", "--config", str(cfg), "--concurrency", "1"],
            env=env,
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    wait_for(lambda: "ready" in log.read_text(), 60, f"worker did not start: {log.read_text()}")
    return proc


def wait_for(condition: Callable[[], bool], timeout: float, message: str | Callable[[], str] = "") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(message() if callable(message) else message)
        time.sleep(0.1)


def wire(site: Site, path: str, items: list[dict[str, Any]]) -> None:
    site.routes[path] = Response(rss(items), headers={"Content-Type": "application/rss+xml", "ETag": '"1"'})


def news(site: Site) -> None:
    """Two wires: ordinary stories, one launch told by both (one event), one sanctions story."""
    a = [story(i, site) for i in range(1, 9)]
    a.append(story(20, site, title="North Korea fires ballistic missile into sea", text=LAUNCH))
    a.append(story(21, site, title="US sanctions firms over North Korea missiles", text=SANCTIONS))
    b = [story(i, site) for i in range(30, 36)]
    b.append(story(22, site, title="N. Korea launches ballistic missile, Seoul says", text=LAUNCH))
    b.append(story(20, site, title="North Korea fires ballistic missile into sea", text=LAUNCH))
    wire(site, "/a.xml", a)
    wire(site, "/b.xml", b)


def hold(site: Site, path: str) -> tuple[threading.Event, threading.Event]:
    """Serve ``path`` only once the first event (the gate) is set; the second is set when a
    request for it arrives (a worker is mid-task)."""
    gate, held = threading.Event(), threading.Event()
    page = site.routes[path]
    assert isinstance(page, Response)

    def slow(_req: Request) -> Response:
        held.set()
        gate.wait(60)
        return page

    site.routes[path] = slow
    return gate, held


def config(tmp_path: Path, site: Site, receiver: Receiver, **extra: Any) -> Path:
    tmp_path.mkdir(exist_ok=True)
    return write_config(
        tmp_path,
        feeds=[{"url": site.url("/a.xml"), "name": "wire-a"}, {"url": site.url("/b.xml"), "name": "wire-b"}],
        notify=[{"name": "desk", "url": receiver.url}],
        **extra,
    )


def celery_config(tmp_path: Path, site: Site, receiver: Receiver, broker: RedisServer, **extra: Any) -> Path:
    return config(tmp_path, site, receiver, executor="celery", broker=broker.url, **extra)


def snapshot(db: Path) -> dict[str, Any]:
    """What a user sees of a poll, without ids and times (they differ between runs)."""
    conn = sqlite3.connect(db)
    try:
        q = conn.execute
        return {
            "articles": sorted(
                q(
                    # Not the feed: a story two feeds carry belongs to the one that stored it first.
                    "SELECT a.url, a.guid, a.title, a.text, a.language, a.extraction_status FROM articles a"
                ).fetchall()
            ),
            "matches": sorted(
                q(
                    "SELECT a.url, m.topic, round(m.score, 9), m.evidence FROM matches m "
                    "JOIN articles a ON a.id = m.article"
                ).fetchall()
            ),
            "events": sorted(
                tuple(sorted(json_urls.split("\x1f")))
                for (json_urls,) in q(
                    "SELECT group_concat(a.url, char(31)) FROM articles a WHERE a.event IS NOT NULL "
                    "GROUP BY a.event"
                ).fetchall()
            ),
            # Which story of an event alerts is the one that finished first: compare the event.
            "alerts": sorted(
                q(
                    "SELECT coalesce((SELECT group_concat(url, ' ') FROM (SELECT url FROM articles "
                    "WHERE event = a.event ORDER BY url)), a.url), al.channel, al.kind, al.status "
                    "FROM alerts al JOIN articles a ON a.id = al.article"
                ).fetchall()
            ),
            "feeds": sorted(q("SELECT name, etag, last_status, consecutive_errors FROM feeds").fetchall()),
        }
    finally:
        conn.close()


def poll(cfg: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [*MONITOR, "poll", "--config", str(cfg)],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stderr
    return done


def test_celery_stores_and_alerts_exactly_what_local_does(
    tmp_path: Path, site: Site, receiver: Receiver, broker: RedisServer, cli_env: dict[str, str]
) -> None:
    news(site)
    local = config(tmp_path / "local", site, receiver)
    poll(local, cli_env)
    # One alert per event; which of its stories sends it is the one stored first (a race).
    local_posts = sorted(p["title"].split(":")[0] for p in receiver.posts)
    receiver.posts.clear()

    remote = celery_config(tmp_path / "celery", site, receiver, broker)
    with workers(remote, cli_env, tmp_path, 2):
        out = poll(remote, cli_env)
        assert "wire-a" in out.stdout and "wire-b" in out.stdout
    expected, got = snapshot(tmp_path / "local" / "monitor.db"), snapshot(tmp_path / "celery" / "monitor.db")
    assert len(expected["articles"]) == 17 and expected["alerts"], expected  # the test has teeth
    assert got == expected
    assert sorted(p["title"].split(":")[0] for p in receiver.posts) == local_posts
    assert local_posts == ["Missile launch", "Sanctions"]
    # A page one feed carries was fetched once per run: the workers' fetch was the only one.
    assert len(site.hits("/a/21.html")) == 2


def test_a_worker_killed_mid_task_loses_nothing(
    tmp_path: Path, site: Site, receiver: Receiver, broker: RedisServer, cli_env: dict[str, str]
) -> None:
    news(site)
    gate, held = hold(site, "/a/21.html")
    cfg = celery_config(
        tmp_path / "hub",
        site,
        receiver,
        broker,
        celery={"task_timeout": "3s"},
        schedule={"default_interval": "1h"},
    )
    with (
        workers(cfg, cli_env, tmp_path, 1) as (first,),
        running_daemon(cfg, cli_env, tmp_path / "hub.log") as hub,
    ):
        assert held.wait(60), (tmp_path / "hub.log").read_text()
        os.killpg(first.pid, signal.SIGKILL)  # the worker, and its pool child holding the page
        first.wait()
        gate.set()
        with workers(cfg, cli_env, tmp_path / "hub", 1):
            db = tmp_path / "hub" / "monitor.db"
            wait_for(lambda: _count(db, "SELECT count(*) FROM articles") == 17, 90, lambda: _log(tmp_path))
            wait_for(lambda: len(receiver.posts) >= 2, 60, lambda: _log(tmp_path))
            time.sleep(2)  # a doubled alert would arrive now
        hub.send_signal(signal.SIGTERM)
        assert hub.wait(30) == 0
    assert _count(db, "SELECT count(*) FROM alerts WHERE status = 'sent'") == len(receiver.posts)
    titles = [p["title"] for p in receiver.posts]
    assert len(titles) == len(set(titles)) == 2, titles  # the launch (one event), the sanctions
    assert "sent again" in (tmp_path / "hub.log").read_text()


def test_a_redis_restart_mid_poll_loses_nothing(
    tmp_path: Path, site: Site, receiver: Receiver, broker: RedisServer, cli_env: dict[str, str]
) -> None:
    news(site)
    gate, held = hold(site, "/a/20.html")
    cfg = celery_config(tmp_path / "hub", site, receiver, broker, schedule={"default_interval": "1h"})
    db = tmp_path / "hub" / "monitor.db"
    with workers(cfg, cli_env, tmp_path, 2), running_daemon(cfg, cli_env, tmp_path / "hub.log") as hub:
        assert held.wait(60), _log(tmp_path)
        broker.stop()  # no persistence: the queue, the answers and the statistics are gone
        time.sleep(1)
        broker.start()
        gate.set()
        wait_for(lambda: _count(db, "SELECT count(*) FROM articles") == 17, 120, lambda: _log(tmp_path))
        wait_for(lambda: len(receiver.posts) >= 2, 60, lambda: _log(tmp_path))
        time.sleep(2)
        hub.send_signal(signal.SIGTERM)
        assert hub.wait(30) == 0
    titles = [p["title"] for p in receiver.posts]
    assert len(titles) == len(set(titles)) == 2, titles
    assert _count(db, "SELECT count(*) FROM alerts WHERE status = 'sent'") == 2
    assert "broker reachable again" in (tmp_path / "hub.log").read_text()


def _count(db: Path, sql: str) -> int:
    if not db.exists():
        return -1
    conn = sqlite3.connect(db)
    try:
        return int(conn.execute(sql).fetchone()[0])
    except sqlite3.OperationalError:
        return -1
    finally:
        conn.close()


def _log(folder: Path) -> str:
    return "\n".join(f"== {p.name}\n{p.read_text()[-3000:]}" for p in sorted(folder.rglob("*.log")))


def test_a_worker_without_celery_configured_is_a_usage_error(tmp_path: Path, cli_env: dict[str, str]) -> None:
    cfg = write_config(tmp_path)
    done = subprocess.run(
        [*MONITOR, "worker", "--config", str(cfg)], env=cli_env, cwd=ROOT, capture_output=True, text=True
    )
    assert done.returncode == 2 and "executor: celery" in done.stderr


def test_celery_needs_a_redis_broker(tmp_path: Path, cli_env: dict[str, str]) -> None:
    for extra, message in (
        ({"executor": "celery"}, "broker: required with executor: celery"),
        ({"executor": "celery", "broker": "amqp://x"}, "expected a Redis URL"),
    ):
        cfg = write_config(tmp_path, **extra)
        done = subprocess.run(
            [*MONITOR, "check", "--config", str(cfg)], env=cli_env, cwd=ROOT, capture_output=True, text=True
        )
        assert done.returncode == 1 and message in done.stdout, done.stdout


def test_status_and_metrics_show_the_queue_and_an_unreachable_broker(
    tmp_path: Path, site: Site, receiver: Receiver, broker: RedisServer, cli_env: dict[str, str]
) -> None:
    import json

    news(site)
    metrics_port = free_port()
    cfg = celery_config(tmp_path / "hub", site, receiver, broker, metrics_port=metrics_port)
    with workers(cfg, cli_env, tmp_path, 1):
        poll(cfg, cli_env)
        status = subprocess.run(
            [*MONITOR, "status", "--json", "--config", str(cfg)],
            env=cli_env,
            cwd=ROOT,
            capture_output=True,
            text=True,
        )
        assert status.returncode == 0, status.stdout + status.stderr
        assert json.loads(status.stdout)["queue"] == {"depth": 0, "workers": 1, "redispatched": 0}
        with running_daemon(cfg, cli_env, tmp_path / "hub.log"):
            url = f"http://127.0.0.1:{metrics_port}/metrics"
            wait_for(lambda: _scrape(url) is not None, 30, lambda: _log(tmp_path))
            text = _scrape(url) or ""
            assert "monitor_broker_up 1.0" in text and "monitor_workers 1.0" in text, text
    # The broker gone, with a password in its URL: named, unhealthy, the password never shown.
    broker.stop()
    secret = celery_config(tmp_path / "down", site, receiver, broker)
    secret.write_text(secret.read_text().replace("redis://127.0.0.1", "redis://:s3cret-pass@127.0.0.1"))
    down = subprocess.run(
        [*MONITOR, "status", "--config", str(secret)], env=cli_env, cwd=ROOT, capture_output=True, text=True
    )
    assert down.returncode == 1 and "unreachable" in down.stdout, down.stdout
    assert "s3cret-pass" not in down.stdout + down.stderr


def _scrape(url: str) -> str | None:
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(url, timeout=5) as resp:
            return str(resp.read().decode())
    except (urllib.error.URLError, OSError):
        return None


def test_one_host_gets_at_most_per_host_fetches_at_once_across_workers(
    tmp_path: Path, site: Site, receiver: Receiver, broker: RedisServer, cli_env: dict[str, str]
) -> None:
    """celery.per_host: 2, two workers, 20 stories (two tasks, one per worker) on one host whose
    pages take a moment: the host never serves more than two requests at once."""
    lock, now, most = threading.Lock(), [0], [0]
    items = [story(i, site) for i in range(20)]
    for i in range(20):
        page = site.routes[f"/a/{i}.html"]
        assert isinstance(page, Response)

        def slow(_req: Request, page: Response = page) -> Response:
            with lock:
                now[0] += 1
                most[0] = max(most[0], now[0])
            time.sleep(0.15)
            with lock:
                now[0] -= 1
            return page

        site.routes[f"/a/{i}.html"] = slow
    wire(site, "/a.xml", items)
    (tmp_path / "hub").mkdir()
    cfg = write_config(
        tmp_path / "hub",
        feeds=[{"url": site.url("/a.xml"), "name": "wire-a"}],
        executor="celery",
        broker=broker.url,
        celery={"per_host": 2},
    )
    with workers(cfg, cli_env, tmp_path, 2):
        poll(cfg, cli_env)
    assert _count(tmp_path / "hub" / "monitor.db", "SELECT count(*) FROM articles") == 20
    assert most[0] == 2, most  # reached, never passed


def test_a_page_over_its_extraction_budget_is_timed_out_on_a_worker_as_in_one_process(
    tmp_path: Path, site: Site, receiver: Receiver, broker: RedisServer, cli_env: dict[str, str]
) -> None:
    """extract.timeout bounds each page on the workers as the local executor bounds it: with a
    1 ms budget every page is `timed_out` (the feed's summary is kept as its text), the worker
    survives, and the stories are the same as one process stores."""
    news(site)
    # Pages that take far longer than the budget to extract (a few hundred milliseconds), so the
    # budget wins however late a loaded machine runs the timer: with the test's small pages an
    # extraction could finish within the time a busy event loop took to notice the 1 ms.
    for path in [p for p in site.routes if p.startswith("/a/")]:
        site.routes[path] = Response(article_page(f"Story {path}", [FILLER] * 1500), headers=HTML)
    budget = {"workers": 0, "timeout": "1ms"}
    local = config(tmp_path / "local", site, receiver, extract=budget)
    poll(local, cli_env)
    remote = celery_config(tmp_path / "celery", site, receiver, broker, extract=budget)
    with workers(remote, cli_env, tmp_path, 1) as (worker,):
        poll(remote, cli_env)
        assert worker.poll() is None  # the alarm stopped the extraction, not the worker
    statuses = {
        name: sorted(
            {(s, d) for s, d in _rows(tmp_path / name / "monitor.db", "extraction_status, extraction_detail")}
        )
        for name in ("local", "celery")
    }
    assert statuses["celery"] == statuses["local"] == [("timed_out", "0.001s")], statuses
    texts = _rows(tmp_path / "celery" / "monitor.db", "text")
    assert all(text.startswith("Summary of story") for (text,) in texts), texts


def _rows(db: Path, columns: str) -> list[tuple[Any, ...]]:
    conn = sqlite3.connect(db)
    try:
        return conn.execute(f"SELECT {columns} FROM articles").fetchall()
    finally:
        conn.close()


def test_a_story_job_crosses_the_broker_as_json_with_the_page_fields_it_wants() -> None:
    """What a story wants of its page survives the message, and a message from an older hub
    (which said only whether to read all three) still decodes: workers are upgraded first."""
    from monitor.execute.codec import decode, encode
    from monitor.records import PAGE_FIELDS, PageField, StoryJob

    job = StoryJob(
        url="https://x.example/a", title="T", summary="", page_metadata=frozenset({PageField.AUTHOR})
    )
    message = encode(job)
    assert message["page_metadata"] == ["author"]
    assert decode(StoryJob, message) == job
    older = {"url": "https://x.example/a", "title": "T", "summary": ""}
    assert decode(StoryJob, {**older, "page_metadata": True}).page_metadata == PAGE_FIELDS
    assert decode(StoryJob, {**older, "page_metadata": False}).page_metadata == frozenset()
    with pytest.raises(ValueError, match="page_metadata"):
        decode(StoryJob, {**older, "page_metadata": ["headline"]})
