"""SIGHUP reloads the configuration of a running daemon: feeds, channels and topics change
without a restart; a bad file is refused whole and the running configuration stays."""

from __future__ import annotations

import signal
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from tests.conftest import Receiver, running_daemon, write_config
from tests.loopback import Response, Site, rss, story
from tests.test_review import LAUNCH


def wait_for(check: Callable[[], bool], timeout: float = 40) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.2)
    return False


@pytest.mark.slow
def test_sighup_reloads_feeds_and_channels_and_refuses_a_bad_file(
    tmp_path: Path, site: Site, receiver: Receiver, cli_env: dict[str, str]
) -> None:
    second = Receiver()
    try:
        site.routes["/a.xml"] = Response(rss([story(1, site)]))
        site.routes["/b.xml"] = Response(
            rss([story(2, site, title="North Korea fires ballistic missile into East Sea", text=LAUNCH)])
        )
        cfg = write_config(
            tmp_path,
            feeds=[{"name": "A", "url": site.url("/a.xml")}],
            notify=[{"name": "first", "url": receiver.url}],
        )
        log = tmp_path / "daemon.log"
        with running_daemon(cfg, cli_env, log) as proc:
            assert wait_for(lambda: "poll feed='A'" in log.read_text())
            config = yaml.safe_load(cfg.read_text())
            config["feeds"] = [{"name": "B", "url": site.url("/b.xml")}]
            config["notify"] = [{"name": "second", "url": second.url}]
            config["database"] = str(tmp_path / "elsewhere.db")  # needs a restart: kept as it is
            cfg.write_text(yaml.safe_dump(config))
            proc.send_signal(signal.SIGHUP)
            assert wait_for(lambda: "configuration reloaded: 1 feeds (1 added, 1 removed)" in log.read_text())
            assert "changes to database take effect at the next restart" in log.read_text()
            assert wait_for(lambda: len(second.posts) == 1), log.read_text()
            assert "North Korea fires ballistic missile" in second.posts[0]["message"]
            assert receiver.posts == []  # the removed channel gets nothing
            assert not (tmp_path / "elsewhere.db").exists()

            cfg.write_text(cfg.read_text() + "fetch: {timout: 3s}\n")
            proc.send_signal(signal.SIGHUP)
            assert wait_for(lambda: "reload refused, the running configuration stays" in log.read_text())
            assert "did you mean 'timeout'" in log.read_text()
            assert proc.poll() is None  # still running
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=30) == 0
    finally:
        second.server.shutdown()
        second.server.server_close()
