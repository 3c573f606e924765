"""Prometheus metrics and /healthz: a real daemon with a failing feed and a failing channel,
scraped over HTTP; and the health endpoint turning 503 on a stale database."""

from __future__ import annotations

import re
import signal
import sqlite3
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from monitor.service.metrics import MetricsServer
from monitor.store import Store
from monitor.store.review import HealthReader
from tests.conftest import Receiver, free_port, running_daemon, write_config
from tests.loopback import Response, Site, rss, story
from tests.test_review import LAUNCH


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def sample(text: str, name: str, **labels: str) -> float | None:
    """The value of one sample in Prometheus text format."""
    want = ",".join(f'{k}="{v}"' for k, v in labels.items())
    pattern = rf"^{re.escape(name)}{re.escape('{' + want + '}') if want else ''} (\S+)$"
    found = re.search(pattern, text, flags=re.MULTILINE)
    return float(found.group(1)) if found else None


@pytest.mark.slow
def test_daemon_metrics_show_a_failing_feed_and_a_failed_alert(
    tmp_path: Path, site: Site, receiver: Receiver, cli_env: dict[str, str]
) -> None:
    receiver.status = 500
    site.routes["/wire.xml"] = Response(
        rss([story(1, site, title="North Korea fires ballistic missile", text=LAUNCH)])
    )
    port = free_port()
    cfg = write_config(
        tmp_path,
        feeds=[
            {"name": "Wire", "url": site.url("/wire.xml")},
            {"name": "Broken", "url": site.url("/gone.xml")},
        ],
        notify=[{"name": "pager", "url": receiver.url}],
        alerts={"max_attempts": 1},
        metrics_port=port,
    )
    base = f"http://127.0.0.1:{port}"
    with running_daemon(cfg, cli_env, tmp_path / "daemon.log") as proc:
        deadline = time.monotonic() + 60
        text = ""
        while time.monotonic() < deadline:
            try:
                _, text = get(base + "/metrics")
            except OSError:
                text = ""
            if (sample(text, "monitor_alerts", status="failed") or 0) >= 1 and sample(
                text, "monitor_polls_total", result="http_status"
            ):
                break
            time.sleep(0.5)
        log = (tmp_path / "daemon.log").read_text()
        assert sample(text, "monitor_feeds") == 2, log
        assert sample(text, "monitor_feeds_failing") == 1
        assert sample(text, "monitor_polls_total", result="http_status") == 1
        assert sample(text, "monitor_polls_total", result="ok") == 1
        assert sample(text, "monitor_stories_flagged_total") == 1
        assert sample(text, "monitor_alerts", status="failed") == 1
        assert sample(text, "monitor_alert_deliveries_total", result="failed") == 1
        assert sample(text, "monitor_healthy") == 1
        # Both feeds were due at start and polled by their jobs: the scheduler's lateness is seen.
        assert (sample(text, "monitor_poll_start_delay_seconds_count") or 0) >= 2
        assert (sample(text, "monitor_poll_start_delay_seconds_bucket", le="30.0") or 0) >= 2
        assert (sample(text, "monitor_last_successful_poll_timestamp_seconds") or 0) > time.time() - 120
        assert "Broken" not in text and "Wire" not in text  # no feed names as labels
        status, body = get(base + "/healthz")
        assert status == 200 and body.startswith("ok: a feed was polled successfully")
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
    assert "metrics on http://127.0.0.1" in log


def test_healthz_answers_503_when_nothing_was_polled_for_too_long(tmp_path: Path) -> None:
    db = tmp_path / "monitor.db"
    Store(db).close()
    conn = sqlite3.connect(db)
    conn.execute(
        "INSERT INTO feeds (name, url, config_url, consecutive_errors, created_at, last_ok_at) "
        "VALUES ('Wire', 'http://x/', 'http://x/', 3, '2026-01-01T00:00:00Z', '2026-01-02T00:00:00Z')"
    )
    conn.commit()
    conn.close()
    read = HealthReader(str(db), 3600)
    server = MetricsServer(read, "127.0.0.1", 0).start()
    try:
        status, body = get(f"http://127.0.0.1:{server.port}/healthz")
        assert status == 503 and "no successful poll since 2026-01-02T00:00:00Z" in body
        _, text = get(f"http://127.0.0.1:{server.port}/metrics")
        assert sample(text, "monitor_healthy") == 0 and sample(text, "monitor_feeds_failing") == 1
    finally:
        server.stop()
        read.close()


def test_a_taken_metrics_port_stops_the_daemon_with_a_clear_message(
    tmp_path: Path, cli_env: dict[str, str]
) -> None:
    import socket
    import subprocess

    from tests.conftest import MONITOR, ROOT

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        cfg = write_config(tmp_path, feeds=[], metrics_port=taken.getsockname()[1])
        result = subprocess.run(
            [*MONITOR, "run", "--config", str(cfg)],
            capture_output=True,
            text=True,
            env=cli_env,
            cwd=ROOT,
            timeout=60,
        )
    assert result.returncode == 1
    assert "cannot serve metrics on 127.0.0.1:" in result.stderr and "(metrics_port)" in result.stderr
