"""Alert delivery end to end: real SMTP (aiosmtpd) and json:// receivers on loopback, a real
database, the clock under the test's control for retries and digests."""

from __future__ import annotations

import asyncio
import email
import os
import signal
import sqlite3
import subprocess
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from monitor.config import load_settings
from monitor.notify import Deliverer
from monitor.service import Runtime, deliverer_for, prepare
from monitor.store import Store
from tests.conftest import MONITOR, ROOT, Receiver, free_port, running_daemon, write_config
from tests.loopback import Response, Site, rss, story
from tests.test_cli import monitor
from tests.test_poll import MISSILE, poll, rows, start_service

SANCTIONS = "The Treasury imposed new sanctions on three shipping firms for evading the oil embargo on Iran."


class Mailbox:
    def __init__(self) -> None:
        self.messages: list[email.message.Message] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(email.message_from_bytes(envelope.content))
        return "250 OK"


@pytest.fixture
def smtp() -> Iterator[tuple[Controller, Mailbox]]:
    box = Mailbox()
    controller = Controller(box, hostname="127.0.0.1", port=free_port())
    controller.start()
    yield controller, box
    controller.stop()


def body_of(message: email.message.Message) -> str:
    if message.is_multipart():
        return "\n".join(_decoded(part) for part in message.walk() if part.get_content_maintype() == "text")
    return _decoded(message)


def _decoded(part: email.message.Message) -> str:
    payload = part.get_payload(decode=True)
    assert isinstance(payload, bytes)
    return payload.decode("utf-8", "replace")


def flagged_feed(
    site: Site, n: int = 1, text: str = MISSILE, prefix: str = "North Korea fires missiles"
) -> None:
    site.routes["/feed.xml"] = Response(
        rss([story(i, site, title=f"{prefix} {i}", text=text) for i in range(n)])
    )


def hook_config(tmp_path: Path, site: Site, receiver: Receiver, **extra: Any) -> Path:
    """One feed (/feed.xml) and one json:// channel named "hook"."""
    return write_config(
        tmp_path,
        feeds=[{"name": "Wire", "url": site.url("/feed.xml")}],
        notify=[{"name": "hook", "url": receiver.url}],
        **extra,
    )


def deliverer(runtime: Runtime, store: Store, clock: Callable[[], datetime]) -> Deliverer:
    """The daemon's outbox sweeper: no HTTP fetcher, no worker pool, just the outbox and channels."""
    return deliverer_for(runtime, store, clock=clock)


def deliver_at(runtime: Runtime, when: datetime) -> list[Any]:
    """A delivery sweep as the daemon runs it, with the clock at ``when``; a fresh store each
    time, as after a restart."""
    store = Store(runtime.settings.database)

    try:
        return asyncio.run(deliverer(runtime, store, lambda: when).sweep())
    finally:
        store.close()


def test_email_through_a_real_smtp_server(
    tmp_path: Path, site: Site, smtp: tuple[Controller, Mailbox]
) -> None:
    controller, box = smtp
    flagged_feed(site)
    url = f"mailto://127.0.0.1:{controller.port}?from=monitor@news.example&to=analyst@news.example&mode=insecure"
    cfg = write_config(
        tmp_path,
        feeds=[{"name": "Wire", "url": site.url("/feed.xml")}],
        notify=[{"name": "mail", "url": url}],
    )
    poll(cfg)
    poll(cfg)
    assert len(box.messages) == 1
    message = box.messages[0]
    assert "North Korea fires missiles 0" in message["Subject"]
    assert site.url("/a/0.html") in body_of(message)


def test_one_message_names_both_topics(tmp_path: Path, site: Site, receiver: Receiver) -> None:
    site.routes["/feed.xml"] = Response(
        rss(
            [
                story(
                    1,
                    site,
                    title="North Korea fires missiles, US imposes sanctions",
                    text=f"{MISSILE} {SANCTIONS}",
                )
            ]
        )
    )
    cfg = hook_config(tmp_path, site, receiver)
    poll(cfg)
    assert len(receiver.posts) == 1
    assert receiver.posts[0]["title"].startswith("Missile launch + Sanctions: ")


def test_routing_by_topic_and_min_score(tmp_path: Path, site: Site, receiver: Receiver) -> None:
    flagged_feed(site)
    cfg = write_config(
        tmp_path,
        feeds=[{"name": "Wire", "url": site.url("/feed.xml")}],
        notify=[
            {"name": "sanctions-desk", "url": receiver.url + "/s", "topics": ["sanctions"]},
            {"name": "picky", "url": receiver.url + "/p", "min_score": 1.0},
            {"name": "launch-desk", "url": receiver.url + "/m", "topics": ["missile_launch"]},
        ],
    )
    poll(cfg)
    [(score,)] = rows(tmp_path / "monitor.db", "SELECT score FROM matches")
    assert score < 1.0  # below the picky channel's bar
    assert rows(tmp_path / "monitor.db", "SELECT channel FROM alerts") == [("launch-desk",)]
    assert len(receiver.posts) == 1


def test_failing_receiver_then_recovery_delivers_exactly_once(
    tmp_path: Path,
    site: Site,
    receiver: Receiver,
) -> None:
    flagged_feed(site)
    cfg = hook_config(tmp_path, site, receiver)
    receiver.status = 500
    poll(cfg)  # first attempt fails
    runtime = prepare(load_settings(cfg))
    now = datetime.now(UTC)
    assert deliver_at(runtime, now + timedelta(seconds=5)) == []  # backing off: not due yet
    assert [r.ok for r in deliver_at(runtime, now + timedelta(seconds=31))] == [False]  # second attempt
    receiver.status = 200
    assert [r.ok for r in deliver_at(runtime, now + timedelta(seconds=200))] == [True]
    assert deliver_at(runtime, now + timedelta(hours=2)) == []
    assert len(receiver.posts) == 1
    assert rows(tmp_path / "monitor.db", "SELECT status, attempts FROM alerts") == [("sent", 3)]


def test_attempts_run_out_then_alerts_retry_requeues(
    tmp_path: Path,
    site: Site,
    receiver: Receiver,
    cli_env: dict[str, str],
) -> None:
    flagged_feed(site)
    cfg = hook_config(tmp_path, site, receiver, alerts={"max_attempts": 1})
    receiver.status = 500
    poll(cfg)
    listing = monitor("alerts", "--config", str(cfg), "--status", "failed", "--json", env=cli_env)
    (row,) = [__import__("json").loads(line) for line in listing.stdout.splitlines()]
    assert row["status"] == "failed" and row["channel"] == "hook" and row["last_error"]
    retried = monitor("alerts", "retry", "--config", str(cfg), env=cli_env)
    assert "1 failed alert(s) requeued" in retried.stdout
    receiver.status = 200
    poll(cfg)
    assert len(receiver.posts) == 1
    assert rows(tmp_path / "monitor.db", "SELECT status FROM alerts") == [("sent",)]


def test_burst_goes_as_one_combined_message(tmp_path: Path, site: Site, receiver: Receiver) -> None:
    flagged_feed(site, n=12)
    cfg = hook_config(tmp_path, site, receiver, alerts={"burst_limit": 10})
    poll(cfg)
    assert len(receiver.posts) == 1
    post = receiver.posts[0]
    assert post["title"] == "12 new alerts"
    assert all(site.url(f"/a/{i}.html") in post["message"] for i in range(12))
    assert rows(tmp_path / "monitor.db", "SELECT count(*) FROM alerts WHERE status = 'sent'") == [(12,)]


def test_digest_waits_for_its_schedule_survives_restart_and_skips_empty_periods(
    tmp_path: Path,
    site: Site,
    receiver: Receiver,
) -> None:
    flagged_feed(site, n=2)
    site.routes["/s.xml"] = Response(
        rss([story(9, site, title="US imposes new sanctions on Iran", text=SANCTIONS)])
    )
    cfg = write_config(
        tmp_path,
        feeds=[{"name": "Wire", "url": site.url("/feed.xml")}, {"name": "Gov", "url": site.url("/s.xml")}],
        notify=[{"name": "daily", "url": receiver.url, "mode": "digest", "schedule": "0 8 * * *"}],
        timezone="UTC",
    )
    poll(cfg)
    assert receiver.posts == []  # queued for the digest, not sent at once
    runtime = prepare(load_settings(cfg))
    created = datetime.fromisoformat(
        rows(tmp_path / "monitor.db", "SELECT min(created_at) FROM alerts")[0][0]
    )
    eight = created.replace(hour=8, minute=0, second=0) + (
        timedelta(days=1) if created.hour >= 8 else timedelta()
    )
    assert deliver_at(runtime, eight - timedelta(minutes=1)) == []
    # The daemon was down at 08:00 and restarts at 09:30: the overdue digest goes out then.
    assert len(deliver_at(runtime, eight + timedelta(minutes=90))) == 3
    assert len(receiver.posts) == 1
    digest = receiver.posts[0]
    assert digest["title"] == "Digest: 3 stories"
    assert "**Missile launch** (2)" in digest["message"] and "**Sanctions** (1)" in digest["message"]
    assert deliver_at(runtime, eight + timedelta(days=1)) == []  # an empty period sends nothing
    assert len(receiver.posts) == 1


def test_bad_digest_schedule_is_a_config_error(tmp_path: Path, cli_env: dict[str, str]) -> None:
    cfg = write_config(
        tmp_path, notify=[{"url": "json://127.0.0.1:9/x", "mode": "digest", "schedule": "every day"}]
    )
    result = monitor("check", "--config", str(cfg), env=cli_env)
    assert result.returncode == 1 and "notify[0].schedule: invalid cron expression" in result.stdout


def test_notify_test_reports_per_channel_and_never_prints_secrets(
    tmp_path: Path,
    receiver: Receiver,
    cli_env: dict[str, str],
) -> None:
    port = receiver.server.server_address[1]
    env = {**cli_env, "HOOK_PASSWORD": "hunter2-secret"}
    cfg = tmp_path / "config.yaml"
    cfg.write_text(
        f"database: {tmp_path / 'm.db'}\n"
        "notify:\n"
        f"  - name: good\n    url: 'json://user:${{HOOK_PASSWORD}}@127.0.0.1:{port}/ok'\n"
        "  - name: dead\n    url: 'json://user:${HOOK_PASSWORD}@127.0.0.1:9/down'\n"
    )
    result = monitor("--log-level", "debug", "notify-test", "--config", str(cfg), env=env)
    assert result.returncode == 1
    assert "ok      good" in result.stdout and "FAILED  dead" in result.stdout
    assert len(receiver.posts) == 1 and receiver.posts[0]["title"] == "monitor: test message"
    assert "hunter2-secret" not in result.stdout + result.stderr
    only = monitor("notify-test", "--config", str(cfg), "--channel", "good", env=env)
    assert only.returncode == 0 and "dead" not in only.stdout


def test_secrets_never_reach_logs_output_or_database(
    tmp_path: Path,
    site: Site,
    receiver: Receiver,
    cli_env: dict[str, str],
) -> None:
    """Secrets in a password, in a webhook's path, in a header, and in a feed URL's query: never
    in `check`, `notify-test`, `poll` (debug logs included), `alerts`, or the database's outbox."""
    flagged_feed(site)
    site.routes["/feed.xml?token=feedtok3n"] = site.routes["/feed.xml"]
    port = receiver.server.server_address[1]
    secrets = {"HOOK_TOKEN": "tok-5up3r-s3cr3t", "PATH_TOKEN": "pathT0ken77", "API_KEY": "h3aderK3y"}
    env = {**cli_env, **secrets}
    cfg = write_config(
        tmp_path,
        feeds=[{"name": "Wire", "url": site.url("/feed.xml?token=feedtok3n")}],
        notify=[
            {"url": f"json://bot:${{HOOK_TOKEN}}@127.0.0.1:{port}/hook"},
            {"url": "json://bot:${HOOK_TOKEN}@127.0.0.1:9/dead"},
            {"url": "json://127.0.0.1:9/hooks/${PATH_TOKEN}?+X-Api-Key=${API_KEY}"},
        ],
    )
    results = [
        monitor("--log-level", "debug", cmd, "--config", str(cfg), env=env)
        for cmd in ("check", "notify-test", "poll")
    ]
    results.append(monitor("alerts", "--config", str(cfg), env=env))
    output = "".join(r.stdout + r.stderr for r in results)
    assert "json://bot:****@127.0.0.1" in output and "/hooks/****" in output  # shown, redacted
    assert "json-3" in output  # a channel without a name is called by its service, not its URL
    database = (tmp_path / "monitor.db").read_bytes()
    for secret in secrets.values():
        assert secret not in output, secret
        assert secret.encode() not in database, secret
    assert "feedtok3n" not in output


@pytest.mark.slow
def test_daemon_killed_with_alerts_pending_delivers_all_once_after_restart(
    tmp_path: Path,
    site: Site,
    receiver: Receiver,
    cli_env: dict[str, str],
) -> None:
    flagged_feed(site, n=3)
    cfg = write_config(
        tmp_path,
        feeds=[{"name": "Wire", "url": site.url("/feed.xml"), "interval": "1h"}],
        notify=[{"name": "hook", "url": receiver.url}],
        alerts={"per": "story"},  # three alerts from three stories of one launch
    )
    receiver.status = 500  # the chat service is down when the stories arrive
    db = tmp_path / "monitor.db"

    def attempted() -> int:
        try:
            return int(rows(db, "SELECT count(*) FROM alerts WHERE attempts > 0")[0][0])
        except sqlite3.OperationalError:  # the daemon is still creating the database
            return 0

    with (tmp_path / "d1.log").open("w") as log:
        proc = subprocess.Popen([*MONITOR, "run", "--config", str(cfg)], env=cli_env, cwd=ROOT, stderr=log)
        try:
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline and attempted() < 3:
                time.sleep(0.2)
        finally:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
    assert attempted() == 3, (tmp_path / "d1.log").read_text()[-2000:]
    assert rows(db, "SELECT count(*) FROM alerts WHERE status = 'pending'") == [(3,)]
    receiver.status = 200
    with (tmp_path / "d2.log").open("w") as log:
        proc = subprocess.Popen([*MONITOR, "run", "--config", str(cfg)], env=cli_env, cwd=ROOT, stderr=log)
        try:
            deadline = time.monotonic() + 60  # the first retry is due 30 s after the failure
            while time.monotonic() < deadline and len(receiver.posts) < 3:
                time.sleep(0.5)
            time.sleep(1.0)
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
    assert sorted(p["title"] for p in receiver.posts) == [
        f"Missile launch: North Korea fires missiles {i}" for i in range(3)
    ]
    assert rows(db, "SELECT count(*) FROM alerts WHERE status = 'sent'") == [(3,)]


def test_same_story_in_two_feeds_and_resent_is_alerted_once(
    tmp_path: Path, site: Site, receiver: Receiver
) -> None:
    item = story(1, site, title="North Korea fires ballistic missiles", text=MISSILE)
    site.routes["/a.xml"] = Response(rss([item]))
    resent = {**item, "guid": "another-guid", "link": item["link"] + "?utm_source=b#x"}
    site.routes["/b.xml"] = Response(rss([resent]))
    cfg = write_config(
        tmp_path,
        feeds=[{"name": "A", "url": site.url("/a.xml")}, {"name": "B", "url": site.url("/b.xml")}],
        notify=[{"name": "hook", "url": receiver.url}],
    )
    poll(cfg)
    poll(cfg)
    assert len(receiver.posts) == 1


def test_concurrent_delivery_sweeps_never_send_twice(tmp_path: Path, site: Site, receiver: Receiver) -> None:
    """The daemon sweeps the outbox after each poll and on a timer; sweeps that overlap (a slow
    chat API) must not both send the same alert."""
    flagged_feed(site, n=2)
    cfg = hook_config(tmp_path, site, receiver)
    receiver.status = 500
    poll(cfg)  # queued; first attempt failed
    receiver.status, receiver.delay = 200, 0.5
    runtime = prepare(load_settings(cfg))
    store = Store(runtime.settings.database)
    later = datetime.now(UTC) + timedelta(minutes=5)

    async def two_sweeps() -> None:
        sweeper = deliverer(runtime, store, lambda: later)
        await asyncio.gather(sweeper.sweep(), sweeper.sweep())

    try:
        asyncio.run(two_sweeps())
    finally:
        store.close()
    assert len(receiver.posts) == 2  # two stories, each once


def test_poll_delivers_due_alerts_once_with_link_and_evidence(
    tmp_path: Path, site: Site, receiver: Receiver
) -> None:
    flagged_feed(site)
    cfg = hook_config(tmp_path, site, receiver)
    poll(cfg)
    poll(cfg)  # a re-poll never alerts twice
    assert len(receiver.posts) == 1
    post = receiver.posts[0]
    assert post["title"] == "Missile launch: North Korea fires missiles 0"
    assert site.url("/a/0.html") in post["message"]
    assert "short-range ballistic missiles" in post["message"]
    assert rows(tmp_path / "monitor.db", "SELECT channel, status, attempts FROM alerts") == [
        ("hook", "sent", 1)
    ]


def test_failed_delivery_is_recorded_for_retry(tmp_path: Path, site: Site, receiver: Receiver) -> None:
    receiver.status = 500
    flagged_feed(site)
    poll(hook_config(tmp_path, site, receiver))
    ((status, attempts, error, created, retry),) = rows(
        tmp_path / "monitor.db",
        "SELECT status, attempts, last_error, created_at, next_attempt_at FROM alerts",
    )
    assert (status, attempts) == ("pending", 1) and error
    assert retry > created  # scheduled for a later retry, not lost


@pytest.mark.slow
def test_a_dripping_channel_delays_only_itself(tmp_path: Path, site: Site, cli_env: dict[str, str]) -> None:
    """A chat service that answers one byte a second never trips a per-read timeout. Polling
    goes on at its interval, the healthy channel gets its alerts, and SIGTERM stops the daemon
    within seconds although a send to the slow one is still in progress."""
    slow, fast = Receiver(), Receiver()
    slow.drip = 1.0
    served = {"n": 0}

    def growing(_req: object) -> Response:
        served["n"] += 1
        items = [
            story(i, site, title=f"North Korea fires missiles {i}", text=MISSILE) for i in range(served["n"])
        ]
        return Response(rss(items))

    site.routes["/feed.xml"] = growing
    cfg = write_config(
        tmp_path,
        feeds=[{"name": "Live", "url": site.url("/feed.xml"), "interval": "1s"}],
        notify=[{"name": "slow", "url": slow.url}, {"name": "fast", "url": fast.url}],
        alerts={"send_timeout": "3s", "per": "story"},  # every story alerts: a steady stream
    )
    log_path = tmp_path / "daemon.log"
    with running_daemon(cfg, cli_env, log_path) as proc:
        try:
            deadline = time.monotonic() + 25
            while time.monotonic() < deadline and (len(site.hits("/feed.xml")) < 8 or len(fast.posts) < 4):
                time.sleep(0.2)
            polls, delivered = len(site.hits("/feed.xml")), len(fast.posts)
            assert slow.requests >= 1, "the slow channel was tried"
            assert polls >= 8, f"polling stalled behind the slow channel: {polls} polls"
            assert delivered >= 4, f"the healthy channel waited behind the slow one: {delivered} alerts"
            started = time.monotonic()
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=30)
            assert time.monotonic() - started < 8, "SIGTERM waited for the slow send"
        finally:
            for r in (slow, fast):
                r.server.shutdown()
                r.server.server_close()
    stderr = log_path.read_text()
    assert proc.returncode == 0, stderr
    assert "no answer from the service within 3s" in stderr


def test_a_database_that_cannot_record_a_send_never_causes_a_resend(
    tmp_path: Path, site: Site, receiver: Receiver
) -> None:
    """Another program holds the database (as a full disk would refuse the write) just when a
    sent alert is to be marked sent. The alert is not sent again while the database stays
    unwritable; delivery waits; once writable, what was sent is recorded and nothing repeats."""
    flagged_feed(site, n=2)
    cfg = hook_config(tmp_path, site, receiver)
    receiver.status = 500
    poll(cfg)  # queued, first attempt failed: both alerts pending
    receiver.status = 200
    runtime = prepare(load_settings(cfg))
    store = Store(runtime.settings.database)
    store.db.execute("PRAGMA busy_timeout = 200")
    sweeper = deliverer(runtime, store, lambda: datetime.now(UTC) + timedelta(minutes=5))
    holder = sqlite3.connect(runtime.settings.database, isolation_level=None)

    async def scenario() -> list[int]:
        posts = []
        holder.execute("BEGIN EXCLUSIVE")
        for _ in range(3):  # the database refuses every write
            await sweeper.sweep()
            posts.append(len(receiver.posts))
        holder.execute("ROLLBACK")
        await sweeper.sweep()  # writable again
        posts.append(len(receiver.posts))
        return posts

    try:
        posts = asyncio.run(scenario())
    finally:
        holder.close()
        store.close()
    assert posts == [1, 1, 1, 2], "one sent before the write failed, none resent, the other after"
    statuses = rows(tmp_path / "monitor.db", "SELECT status, attempts FROM alerts ORDER BY id")
    assert statuses == [("sent", 2), ("sent", 2)]


def test_a_burst_part_that_fails_is_retried_alone(tmp_path: Path, site: Site, receiver: Receiver) -> None:
    """A burst too long for one message goes in parts; the second part is refused once. The first
    part's stories are recorded as sent and never repeated; the retry carries only the rest."""
    long = "North Korea fires missiles " + "and the region reacts " * 45  # ~1,000 characters
    flagged_feed(site, n=40, prefix=long)
    cfg = hook_config(tmp_path, site, receiver, alerts={"burst_limit": 10, "max_per_poll": 40})
    receiver.reject = {2}
    poll(cfg)
    assert len(receiver.posts) == 1 and receiver.posts[0]["title"].endswith("(1/2)")
    first = {i for i in range(40) if site.url(f"/a/{i}.html") in receiver.posts[0]["message"]}
    assert 0 < len(first) < 40
    runtime = prepare(load_settings(cfg))
    store = Store(runtime.settings.database)
    try:
        asyncio.run(deliverer(runtime, store, lambda: datetime.now(UTC) + timedelta(minutes=5)).sweep())
    finally:
        store.close()
    retried = [
        i for post in receiver.posts[1:] for i in range(40) if site.url(f"/a/{i}.html") in post["message"]
    ]
    assert sorted(retried) == sorted(set(range(40)) - first), "each story delivered exactly once"
    assert rows(tmp_path / "monitor.db", "SELECT count(*) FROM alerts WHERE status = 'sent'") == [(40,)]


def test_a_service_slower_than_a_socket_read_is_not_sent_twice(
    tmp_path: Path, site: Site, receiver: Receiver
) -> None:
    """A service that answers after 5 s (longer than apprise's own 4 s read timeout, well within
    alerts.send_timeout) has taken the message: it is sent once and recorded as sent."""
    flagged_feed(site, n=1)
    receiver.delay = 5.0
    poll(hook_config(tmp_path, site, receiver))
    assert len(receiver.posts) == 1
    assert rows(tmp_path / "monitor.db", "SELECT status, attempts FROM alerts") == [("sent", 1)]


def test_outbox_rows_of_a_channel_named_by_its_url_move_to_its_label(
    tmp_path: Path, site: Site, receiver: Receiver
) -> None:
    """Earlier versions named an unnamed channel by its (redacted) URL, which could still hold a
    token: on start its pending rows move to the new label, so none is orphaned or resent."""
    flagged_feed(site)
    cfg = write_config(
        tmp_path, feeds=[{"name": "Wire", "url": site.url("/feed.xml")}], notify=[{"url": receiver.url}]
    )
    receiver.status = 500
    poll(cfg)
    runtime = prepare(load_settings(cfg))
    (channel,) = runtime.channels
    assert channel.name == "json" and channel.legacy_name
    conn = sqlite3.connect(tmp_path / "monitor.db")
    conn.execute("UPDATE alerts SET channel = ?", [channel.legacy_name])
    conn.commit()
    conn.close()
    start_service(runtime)
    assert rows(tmp_path / "monitor.db", "SELECT channel, status FROM alerts") == [("json", "pending")]
