"""Feed health: one notice to the ops channels when a feed fails for hours or goes silent, one
when it recovers; a foreign SQLite file is refused."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from monitor.config import HealthSettings, load_settings
from monitor.errors import StoreError
from monitor.records import FeedHealth, FeedNotice
from monitor.service import poll_once, prepare
from monitor.service.health import assess
from monitor.store import Store
from tests.conftest import Receiver, write_config
from tests.loopback import Response, Site, rss, story

T0 = datetime(2026, 11, 1, tzinfo=UTC)
SETTINGS = HealthSettings(feed_failing_after=6 * 3600, feed_silent_factor=10, feed_silent_min=86400)


def run(health: FeedHealth, polls: Sequence[tuple[float, bool, int]]) -> list[FeedNotice | None]:
    """Apply polls (hours after T0, ok, new entries) in order; the notice each gave."""
    notices = []
    for hours, ok, new in polls:
        health, notice = assess(
            health, ok=ok, new_entries=new, now=T0 + timedelta(hours=hours), settings=SETTINGS
        )
        notices.append(notice)
    return notices


def test_a_failing_feed_gives_one_notice_after_the_threshold_and_one_on_recovery() -> None:
    polls = [(0, True, 2), *((h, False, 0) for h in range(1, 13)), (13, True, 0), (14, True, 1)]
    notices = run(FeedHealth(), polls)
    assert notices.count(FeedNotice.FAILING) == 1
    assert notices.index(FeedNotice.FAILING) == 7  # failing since hour 1: six hours later, at hour 7
    assert notices[13] is FeedNotice.RECOVERED and notices.count(FeedNotice.RECOVERED) == 1


def test_a_short_outage_gives_no_notice() -> None:
    assert set(run(FeedHealth(), [(0, True, 1), (1, False, 0), (5, False, 0), (6, True, 0)])) == {None}


def test_silence_is_judged_against_the_feeds_own_rhythm() -> None:
    busy = [(h, True, 1) for h in range(0, 10)]  # a story every hour: usual gap 1 h
    quiet = [(10 + h, True, 0) for h in range(1, 30)]  # then nothing for 29 hours
    notices = run(FeedHealth(), [*busy, *quiet, (40, True, 3)])
    assert notices.count(FeedNotice.SILENT) == 1
    # The last story came at hour 9; a day (feed_silent_min) later is hour 33, the 33rd poll.
    assert notices.index(FeedNotice.SILENT) == 32
    assert notices[-1] is FeedNotice.RECOVERED


def test_a_weekly_feed_is_not_called_silent_after_three_days() -> None:
    weekly = [(h * 24 * 7, True, 1) for h in range(4)]
    later = [(3 * 24 * 7 + d * 24, True, 0) for d in range(1, 4)]
    assert set(run(FeedHealth(), [*weekly, *later])) == {None}


def test_ops_channel_gets_exactly_one_notice_and_one_recovery(tmp_path: Path, site: Site) -> None:
    ops, chat = Receiver(), Receiver()
    try:
        site.routes["/wire.xml"] = Response(rss([story(1, site)]))
        cfg = write_config(
            tmp_path,
            feeds=[
                {"name": "Wire", "url": site.url("/wire.xml")},
                {"name": "Flaky", "url": site.url("/flaky.xml")},
            ],
            notify=[
                {"name": "ops", "url": ops.url, "ops": True, "topics": []},
                {"name": "chat", "url": chat.url},
            ],
            health={"feed_failing_after": "1s"},
        )
        runtime = prepare(load_settings(cfg))
        store = Store(runtime.settings.database)

        def poll() -> None:
            asyncio.run(poll_once(runtime, store))

        try:
            poll()  # Flaky fails: failing since now, no notice yet
            assert ops.posts == []
            time.sleep(1.1)
            poll()  # failing for over a second: one notice
            poll()  # still failing: nothing more
            assert len(ops.posts) == 1
            assert "Flaky" in ops.posts[0]["message"] and "HTTP 404" in ops.posts[0]["message"]
            assert "Wire" not in ops.posts[0]["message"]
            site.routes["/flaky.xml"] = Response(rss([story(2, site)]))
            poll()  # works again: one recovery notice
            poll()
            assert len(ops.posts) == 2 and "works again" in ops.posts[1]["message"]
            assert chat.posts == []  # notices go to ops channels only
            rows = store.db.execute("SELECT feed, kind, channel, status FROM notices ORDER BY id").fetchall()
            assert rows == [("Flaky", "failing", "ops", "sent"), ("Flaky", "recovered", "ops", "sent")]
            notice = store.db.execute(
                "SELECT notice, failing_since FROM feeds WHERE name = 'Flaky'"
            ).fetchone()
            assert notice == (None, None)
        finally:
            store.close()
    finally:
        for r in (ops, chat):
            r.server.shutdown()
            r.server.server_close()


def test_failed_polls_log_at_warning(tmp_path: Path, site: Site, caplog: pytest.LogCaptureFixture) -> None:
    cfg = write_config(tmp_path, feeds=[{"name": "Gone", "url": site.url("/gone.xml")}])
    runtime = prepare(load_settings(cfg))
    store = Store(runtime.settings.database)
    try:
        with caplog.at_level("INFO"):
            asyncio.run(poll_once(runtime, store))
    finally:
        store.close()
    (line,) = [r for r in caplog.records if "poll feed='Gone'" in r.getMessage()]
    assert line.levelname == "WARNING" and "HTTP 404" in line.getMessage()


def test_a_database_of_another_application_is_refused_untouched(tmp_path: Path) -> None:
    path = tmp_path / "notes.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)")
    conn.execute("INSERT INTO notes (body) VALUES ('keep me')")
    conn.commit()
    conn.close()
    before = path.read_bytes()
    with pytest.raises(StoreError, match=r"not a monitor database .*notes"):
        Store(path)
    assert path.read_bytes() == before
    assert not (tmp_path / "notes.db-wal").exists()
