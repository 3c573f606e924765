"""The command line and the daemon, as users run them: real subprocesses."""

from __future__ import annotations

import json
import os
import re
import signal
import sqlite3
import subprocess
import time
from pathlib import Path

import pytest

from tests.conftest import MONITOR, ROOT, running_daemon, write_config
from tests.loopback import Response, Site, rss, story


def monitor(
    *args: str, env: dict[str, str], timeout: float = 60, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*MONITOR, *args], capture_output=True, text=True, env=env, timeout=timeout, cwd=cwd or ROOT
    )


def count(db: Path, sql: str) -> int:
    conn = sqlite3.connect(db)
    try:
        return int(conn.execute(sql).fetchone()[0])
    finally:
        conn.close()


def test_check_ok_on_shipped_config(cli_env: dict[str, str]) -> None:
    result = monitor("check", "--config", str(ROOT / "config.yaml"), env=cli_env)
    assert result.returncode == 0, result.stderr
    assert "ok" in result.stdout and "missile_launch, sanctions" in result.stdout


def test_check_reports_every_problem_with_its_key(tmp_path: Path, cli_env: dict[str, str]) -> None:
    cfg = tmp_path / "config.yaml"
    cfg.write_text(
        "database: x.db\n"
        "fetch:\n  timeout: soon\n  max_feed_bytes: 10XB\n  colour: blue\n"
        "feeds:\n  - url: ftp://example.org/feed\n  - url: https://example.org/rss\n    interval: -5m\n"
        "notify:\n  - url: 'nonsense://${MONITOR_TEST_TOKEN}'\n"
        "topics:\n  sanctions:\n    threshold: 2\n"
    )
    result = monitor("check", "--config", str(cfg), env=cli_env)
    assert result.returncode == 1
    out = result.stdout
    for expected in (
        "fetch.timeout: expected a duration",
        "fetch.max_feed_bytes: expected a size",
        "fetch.colour: unknown key",
        "feeds[0].url: expected an http(s) URL",
        "feeds[1].interval: expected a duration",
        "notify[0].url: environment variable MONITOR_TEST_TOKEN is not set",
    ):
        assert expected in out, out


def test_check_reports_bad_topic_and_channel(tmp_path: Path, cli_env: dict[str, str]) -> None:
    cfg = tmp_path / "config.yaml"
    cfg.write_text(
        "notify:\n  - url: 'nonsense://secret-token-123'\n"
        "topics:\n  sanctions:\n    threshold: 2\n"
        "  nuclear_test:\n    terms: {t: ['(unclosed']}\n    rules: []\n"
    )
    result = monitor("check", "--config", str(cfg), env=cli_env)
    assert result.returncode == 1
    assert "topics.sanctions.threshold" in result.stdout
    assert "topics.nuclear_test.terms.t[0]: invalid pattern" in result.stdout
    assert "notify[0].url: not a usable apprise URL" in result.stdout
    assert "secret-token-123" not in result.stdout + result.stderr


@pytest.mark.parametrize("command", ["poll", "run"])
def test_bad_config_exits_2_naming_the_key(tmp_path: Path, cli_env: dict[str, str], command: str) -> None:
    cfg = write_config(tmp_path, schedule={"default_interval": "often"})
    result = monitor(command, "--config", str(cfg), env=cli_env)
    assert result.returncode == 2
    assert "schedule.default_interval" in result.stderr


def test_config_option_before_or_after_the_command(tmp_path: Path, cli_env: dict[str, str]) -> None:
    cfg = write_config(tmp_path, feeds=[])
    for args in (("--config", str(cfg), "check"), ("check", "--config", str(cfg))):
        result = monitor(*args, env=cli_env, cwd=tmp_path.parent)
        assert result.returncode == 0 and str(cfg) in result.stdout, args


def test_config_from_environment_variable(tmp_path: Path, cli_env: dict[str, str]) -> None:
    cfg = write_config(tmp_path, feeds=[])
    result = monitor("check", env={**cli_env, "MONITOR_CONFIG": str(cfg)})
    assert result.returncode == 0 and str(cfg) in result.stdout


def test_poll_prints_summary_and_exits_0_even_when_a_feed_fails(
    tmp_path: Path, site: Site, cli_env: dict[str, str]
) -> None:
    site.routes["/good.xml"] = Response(rss([story(1, site), story(2, site)]))
    cfg = write_config(
        tmp_path,
        feeds=[
            {"name": "Good", "url": site.url("/good.xml")},
            {"name": "Broken", "url": site.url("/404.xml")},
        ],
    )
    result = monitor("poll", "--config", str(cfg), env=cli_env)
    assert result.returncode == 0, result.stderr
    assert "2 feeds polled, 1 failed, 2 new articles" in result.stdout
    assert "HTTP 404" in result.stdout
    assert "poll feed='Good' status=200 new=2" in result.stderr  # one log line per poll

    only = monitor("poll", "--config", str(cfg), "--feed", "Broken", env=cli_env)
    assert "1 feeds polled" in only.stdout
    missing = monitor("poll", "--config", str(cfg), "--feed", "Nope", env=cli_env)
    assert missing.returncode == 2 and "no feed named 'Nope'" in missing.stderr


def test_unusable_database_is_refused_and_left_untouched(tmp_path: Path, cli_env: dict[str, str]) -> None:
    db = tmp_path / "monitor.db"
    garbage = b"this is not a database, and must survive" * 100
    db.write_bytes(garbage)
    cfg = write_config(tmp_path, feeds=[])
    result = monitor("poll", "--config", str(cfg), env=cli_env)
    assert result.returncode == 1
    assert "cannot use database" in result.stderr and "not a database" in result.stderr
    assert db.read_bytes() == garbage


def test_demo_flags_the_seed_article(cli_env: dict[str, str], tmp_path: Path) -> None:
    result = monitor("demo", env=cli_env, cwd=tmp_path)  # works from any folder, offline
    assert result.returncode == 0, result.stderr
    assert "FLAGGED: North Korea launches ballistic missiles" in result.stdout
    assert "missile_launch (" in result.stdout
    assert (
        "> On September 13, 2023, North Korea conducted the launch of two ballistic missiles" in result.stdout
    )
    assert "http://127.0.0.1:" in result.stdout  # every alert carries its link


def test_help_lists_every_command(cli_env: dict[str, str]) -> None:
    result = monitor("--help", env=cli_env)
    assert result.returncode == 0, result.stderr
    commands = result.stdout.split("Commands:\n", 1)[1].splitlines()
    listed = {line.split()[0] for line in commands if line.strip()}
    assert listed == {
        "alerts",
        "articles",
        "check",
        "classify",
        "demo",
        "eval",
        "eval-events",
        "event",
        "events",
        "export",
        "feeds",
        "group",
        "label",
        "notify-test",
        "poll",
        "reclassify",
        "regroup",
        "run",
        "search",
        "serve",
        "show",
        "stats",
        "status",
        "train",
        "train-events",
        "worker",
    }
    sub = monitor("alerts", "--help", env=cli_env)
    assert sub.returncode == 0 and re.search(r"^\s+retry\s", sub.stdout, re.MULTILINE)


@pytest.mark.slow
def test_daemon_polls_on_schedule_survives_failures_and_stops_on_sigterm(
    tmp_path: Path, site: Site, cli_env: dict[str, str]
) -> None:
    served = {"n": 0}

    def growing(_req: object) -> Response:
        served["n"] += 1
        return Response(rss([story(i, site) for i in range(served["n"])]))

    site.routes["/feed.xml"] = growing
    site.routes["/bad.xml"] = Response(b"boom", 500)
    site.routes["/hang.xml"] = Response(rss([]), delay=60)  # a poll is in flight at SIGTERM
    cfg = write_config(
        tmp_path,
        feeds=[
            {"name": "Live", "url": site.url("/feed.xml"), "interval": "1s"},
            {"name": "Bad", "url": site.url("/bad.xml"), "interval": "1s"},
            {"name": "Hang", "url": site.url("/hang.xml"), "interval": "1s"},
        ],
        schedule={"max_backoff": "2s"},
        fetch={"timeout": "120s"},
    )
    log_path = tmp_path / "daemon.log"
    log_file = log_path.open("w")
    proc = subprocess.Popen([*MONITOR, "run", "--config", str(cfg)], env=cli_env, cwd=ROOT, stderr=log_file)
    try:
        deadline = time.monotonic() + 40
        while time.monotonic() < deadline and len(site.hits("/feed.xml")) < 4:
            time.sleep(0.2)
        assert len(site.hits("/feed.xml")) >= 4, "the daemon did not keep polling"
        assert len(site.hits("/bad.xml")) >= 2, "a failing feed must be retried, not dropped"
        assert site.hits("/hang.xml"), "the hanging feed is being polled"
        started = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=15)
        assert time.monotonic() - started < 8
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        log_file.close()
    stderr = log_path.read_text()
    assert proc.returncode == 0, stderr
    assert "monitor stopped" in stderr
    db = tmp_path / "monitor.db"
    assert count(db, "SELECT count(*) FROM articles") >= 3
    assert count(db, "SELECT count(*) - count(DISTINCT guid) FROM articles") == 0
    assert count(db, "SELECT consecutive_errors FROM feeds WHERE name = 'Bad'") >= 2
    conn = sqlite3.connect(db)
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    conn.close()


@pytest.mark.slow
def test_sigkill_mid_poll_then_repoll_loses_and_duplicates_nothing(
    tmp_path: Path, site: Site, cli_env: dict[str, str]
) -> None:
    items = [story(i, site) for i in range(12)]
    for i in range(12):
        route = site.routes[f"/a/{i}.html"]
        assert isinstance(route, Response)
        route.delay = 0.3  # slow pages: the kill lands while the poll is in flight
    site.routes["/feed.xml"] = Response(rss(items), headers={"ETag": '"x"'})
    cfg = write_config(
        tmp_path, feeds=[{"name": "Wire", "url": site.url("/feed.xml")}], fetch={"concurrency": 2}
    )
    for delay in (0.8, 1.6):
        proc = subprocess.Popen([*MONITOR, "poll", "--config", str(cfg)], env=cli_env, cwd=ROOT)
        time.sleep(delay)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    result = monitor("poll", "--config", str(cfg), env=cli_env)
    assert result.returncode == 0
    db = tmp_path / "monitor.db"
    assert count(db, "SELECT count(*) FROM articles") == 12
    assert count(db, "SELECT count(DISTINCT guid) FROM articles") == 12
    conn = sqlite3.connect(db)
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    conn.close()


def test_demo_uses_the_configured_topics(tmp_path: Path, cli_env: dict[str, str]) -> None:
    cfg = write_config(
        tmp_path, topics={"missile_launch": {"enabled": False}, "sanctions": {"enabled": False}}
    )
    result = monitor("demo", "--config", str(cfg), env=cli_env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "1 articles stored, 0 flagged" in result.stdout


@pytest.mark.slow
def test_one_monitor_per_database(tmp_path: Path, site: Site, cli_env: dict[str, str]) -> None:
    """A second daemon or a cron `poll` beside the daemon is refused with the daemon's pid; the
    lock does not outlive a SIGKILLed daemon."""
    site.routes["/feed.xml"] = Response(rss([story(1, site)]))
    cfg = write_config(tmp_path, feeds=[{"name": "Wire", "url": site.url("/feed.xml"), "interval": "1h"}])
    log_path = tmp_path / "daemon.log"
    with running_daemon(cfg, cli_env, log_path) as proc:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and "monitor running" not in log_path.read_text():
            time.sleep(0.2)
        assert "monitor running" in log_path.read_text()
        for command in ("poll", "run"):
            other = monitor(command, "--config", str(cfg), env=cli_env, timeout=30)
            assert other.returncode == 1, other.stderr
            assert f"pid {proc.pid} (`monitor run`" in other.stderr
            assert "another monitor is using" in other.stderr
        assert proc.poll() is None, "the first daemon keeps running"
        proc.kill()
        proc.wait()
    after = monitor("poll", "--config", str(cfg), env=cli_env, timeout=60)
    assert after.returncode == 0, after.stderr


def make_read_only(path: Path) -> None:
    """Read-only even for root (who ignores file modes): the immutable attribute as root, the
    file mode otherwise."""
    if os.getuid() == 0:
        subprocess.run(["chattr", "+i", str(path)], check=True)
    else:
        path.chmod(0o444)


def make_writable(path: Path) -> None:
    if os.getuid() == 0:
        subprocess.run(["chattr", "-i", str(path)], check=False)
    path.chmod(0o644)


def test_a_database_the_user_cannot_write_is_refused_at_start(
    tmp_path: Path, site: Site, cli_env: dict[str, str]
) -> None:
    """Not a traceback at every poll: one message at start, with the path and the fix; also when
    only the -wal/-shm files left behind (by another user, or a read-only copy) are read-only."""
    site.routes["/feed.xml"] = Response(rss([story(1, site)]))
    cfg = write_config(tmp_path, feeds=[{"name": "Wire", "url": site.url("/feed.xml")}])
    assert monitor("poll", "--config", str(cfg), env=cli_env).returncode == 0
    db = tmp_path / "monitor.db"
    holder = sqlite3.connect(db)  # keeps -wal and -shm in place, as a crashed process leaves them
    holder.execute("SELECT count(*) FROM feeds").fetchone()
    for locked in ([db], [Path(f"{db}-wal"), Path(f"{db}-shm")]):
        for path in locked:
            make_read_only(path)
        try:
            result = monitor("poll", "--config", str(cfg), env=cli_env)
        finally:
            for path in locked:
                make_writable(path)
        assert result.returncode == 1, result.stdout + result.stderr
        assert f"database {db} cannot be written by this user" in result.stderr, result.stderr
        assert "-wal" in result.stderr and "chown" in result.stderr
        assert "Traceback" not in result.stderr
    holder.close()
    assert monitor("poll", "--config", str(cfg), env=cli_env).returncode == 0


def test_poll_on_a_terminal_shows_progress_and_one_summary(
    tmp_path: Path, site: Site, cli_env: dict[str, str]
) -> None:
    """On a terminal (a pseudo-terminal from `script`): a progress bar, the failed feeds and the
    summary, not one table row and one INFO line per feed."""
    site.routes["/good.xml"] = Response(rss([story(1, site), story(2, site)]))
    cfg = write_config(
        tmp_path,
        feeds=[
            {"name": "Good", "url": site.url("/good.xml")},
            {"name": "Broken", "url": site.url("/404.xml")},
        ],
    )
    command = " ".join([*MONITOR, "poll", "--config", str(cfg)])
    result = subprocess.run(
        ["script", "-q", "-e", "-c", command, "/dev/null"],
        capture_output=True,
        text=True,
        env={**cli_env, "COLUMNS": "120", "TERM": "xterm"},
        cwd=ROOT,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout
    out = result.stdout
    assert "2 feeds polled, 1 failed, 2 new articles" in out
    assert "Broken" in out and "HTTP 404" in out  # the failure is listed
    assert "polling" in out  # the bar
    assert "poll feed='Good'" not in out  # no INFO line per feed
    assert re.search(r"^Good\s+200", out, re.MULTILINE) is None  # no table row for a feed that worked


def test_log_format_json_and_quiet(tmp_path: Path, site: Site, cli_env: dict[str, str]) -> None:
    site.routes["/good.xml"] = Response(rss([story(1, site)]))
    cfg = write_config(
        tmp_path,
        feeds=[
            {"name": "Good", "url": site.url("/good.xml")},
            {"name": "Broken", "url": site.url("/404.xml")},
        ],
    )
    result = monitor("--log-format", "json", "poll", "--config", str(cfg), env=cli_env)
    assert result.returncode == 0, result.stderr
    entries = [json.loads(line) for line in result.stderr.splitlines() if line.strip()]
    assert entries and all({"time", "level", "logger", "message"} <= set(e) for e in entries)
    broken = [e for e in entries if "poll feed='Broken'" in e["message"]]
    assert broken and broken[0]["level"] == "warning"
    assert any(e["level"] == "info" and "poll feed='Good'" in e["message"] for e in entries)
    quiet = monitor("-q", "poll", "--config", str(cfg), env=cli_env)
    assert quiet.returncode == 0
    assert "poll feed='Good'" not in quiet.stderr  # INFO held back
    assert "1 feeds polled" not in quiet.stdout and "2 feeds polled" in quiet.stdout
    verbose = monitor("-v", "check", "--config", str(cfg), env=cli_env)
    assert verbose.returncode == 0
