from __future__ import annotations

import sqlite3
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from monitor.errors import StoreError
from monitor.records import Feed, PollOutcome, Validators
from monitor.store import SCHEMA_VERSION, Store

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def test_schema_wal_and_version(tmp_path: Path) -> None:
    store = Store(tmp_path / "m.db")
    store.close()
    conn = sqlite3.connect(tmp_path / "m.db")
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"feeds", "articles", "matches", "alerts", "articles_fts"} <= tables
    columns = {r[1] for r in conn.execute("PRAGMA table_info(articles)")}
    assert {
        "id",
        "feed",
        "url",
        "guid",
        "title",
        "author",
        "published_at",
        "discovered_at",
        "summary",
        "text",
        "language",
        "extraction_status",
        "extraction_detail",
    } <= columns
    conn.close()
    Store(tmp_path / "m.db").close()  # reopening migrates nothing and keeps working


def test_newer_schema_is_refused(tmp_path: Path) -> None:
    conn = sqlite3.connect(tmp_path / "m.db")
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.close()
    with pytest.raises(StoreError, match="newer than this monitor understands"):
        Store(tmp_path / "m.db")


def test_missing_folder_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="does not exist"):
        Store(tmp_path / "nope" / "m.db")


def test_sync_feeds_keeps_state_and_resets_on_changed_url(tmp_path: Path) -> None:
    store = Store(tmp_path / "m.db")
    [state] = store.sync_feeds([Feed(name="A", url="https://a.example/", interval=60)], NOW)
    store.commit_poll(
        PollOutcome(
            feed_id=state.id,
            polled_at=NOW,
            status=200,
            next_poll_at=NOW,
            consecutive_errors=0,
            validators=Validators(etag='"1"'),
            new_url="https://a.example/moved",
        )
    )
    [same] = store.sync_feeds([Feed(name="A", url="https://a.example/", interval=60)], NOW)
    assert (same.url, same.etag) == ("https://a.example/moved", '"1"')  # redirect remembered
    [changed] = store.sync_feeds([Feed(name="A", url="https://b.example/", interval=60)], NOW)
    assert (changed.url, changed.etag) == ("https://b.example/", None)
    store.close()


def test_reader_holding_a_transaction_does_not_block_writes(tmp_path: Path) -> None:
    store = Store(tmp_path / "m.db")
    reader = sqlite3.connect(tmp_path / "m.db")
    reader.execute("BEGIN")
    reader.execute("SELECT count(*) FROM articles").fetchone()  # a long read, as Datasette does
    store.sync_feeds([Feed(name="A", url="https://a.example/", interval=60)], NOW)
    assert store.count("feeds") == 1
    reader.rollback()
    reader.close()
    store.close()


def test_v1_database_is_migrated_to_status_labels_with_details(tmp_path: Path) -> None:
    """A database written before statuses were labels: prose moves into the detail column,
    every feed error gets a kind, and the data is otherwise untouched."""
    import sqlite_utils

    from monitor.store.migrations import MIGRATIONS

    path = tmp_path / "old.db"
    old = sqlite_utils.Database(path)
    MIGRATIONS[0](old)
    old.execute("PRAGMA user_version = 1")
    feeds = {
        "http": "HTTP 404",
        "slow": "deadline of 20s exceeded",
        "big": "response exceeds cap of 10 bytes",
        "inner": "refused intranet: resolves to non-public address 10.0.0.1",
        "odd": "ill-formed feed: SAXParseException: mismatched tag",
        "dns": "connection failed: cannot resolve example.invalid",
        "fine": None,
    }
    for n, (name, error) in enumerate(feeds.items(), start=1):
        old.table("feeds").insert(
            {"id": n, "name": name, "url": f"https://{name}.example/", "config_url": "x", "last_error": error}
        )
    statuses = [
        "ok",
        "fetch failed: HTTP 404",
        "text too short (95 chars)",
        "extraction exceeded 30s",
        "extraction failed: ParserError",
        "extraction interrupted (its worker was stopped)",
        "empty page",
        "no main text found",
        "no link in feed entry",
        "something a future version wrote",
    ]
    for n, status in enumerate(statuses, start=1):
        old.table("articles").insert(
            {
                "id": n,
                "feed": 1,
                "guid": f"g{n}",
                "discovered_at": "2026-11-01T00:00:00Z",
                "title": f"T{n}",
                "extraction_status": status,
            }
        )
    old.conn.commit()
    old.close()

    Store(path).close()
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    got = conn.execute("SELECT extraction_status, extraction_detail FROM articles ORDER BY id").fetchall()
    assert got == [
        ("ok", None),
        ("fetch_failed", "HTTP 404"),
        ("too_short", "95 chars"),
        ("timed_out", "30s"),
        ("extraction_failed", "ParserError"),
        ("interrupted", None),
        ("empty_page", None),
        ("no_main_text", None),
        ("no_link", None),
        ("extraction_failed", "something a future version wrote"),
    ]
    kinds = dict(conn.execute("SELECT name, last_error_kind FROM feeds").fetchall())
    assert kinds == {
        "http": "http_status",
        "slow": "timeout",
        "big": "too_large",
        "inner": "blocked",
        "odd": "ill_formed",
        "dns": "connection",
        "fine": None,
    }
    assert conn.execute("SELECT count(*) FROM articles_fts WHERE articles_fts MATCH 'T5'").fetchone() == (1,)
    assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    conn.close()


def test_two_processes_creating_one_database_both_succeed(tmp_path: Path) -> None:
    """Both read version 0 before either has migrated; the second must not run the first
    migration again ("table feeds already exists")."""
    import threading

    path = tmp_path / "new.db"
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("PRAGMA journal_mode = wal")  # as the first process leaves it before migrating
    holder.execute("BEGIN IMMEDIATE")  # both openers read version 0, then wait for the write lock
    errors: list[BaseException] = []

    def open_store() -> None:
        try:
            Store(path).close()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=open_store) for _ in range(2)]
    for t in threads:
        t.start()
    time.sleep(0.5)
    holder.execute("ROLLBACK")
    holder.close()
    for t in threads:
        t.join(30)
    assert errors == []
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    conn.close()


def test_labels_keep_their_text_replace_on_relabel_and_need_an_article(tmp_path: Path) -> None:
    """A label is a training example on its own: it keeps the headline and text, and survives
    the article; labelling again replaces the verdict; a missing article is a clear error."""
    from datetime import UTC, datetime

    from monitor.errors import StoreError

    store = Store(tmp_path / "m.db")
    now = datetime(2026, 12, 1, tzinfo=UTC)
    store.db.execute(
        "INSERT INTO feeds (id, name, url, config_url, consecutive_errors) VALUES "
        "(1, 'Wire', 'https://www.wire.example/feed', 'x', 0)"
    )
    store.db.execute(
        "INSERT INTO articles (id, feed, guid, url, title, text, discovered_at, extraction_status) VALUES "
        "(5, 1, 'g', 'https://www.wire.example/a/5', 'Headline', 'Body text.', '2026-12-01T00:00:00Z', 'ok')"
    )
    store.db.conn.commit()
    store.add_label(5, "sanctions", True, now)
    store.add_label(5, "sanctions", False, now, note="background clause")
    with pytest.raises(StoreError, match="no article with id 6"):
        store.add_label(6, "sanctions", True, now)
    store.db.execute("DELETE FROM articles WHERE id = 5")
    store.db.conn.commit()
    [label] = store.labels()
    assert (label.article_id, label.topic, label.label) == (5, "sanctions", False)
    assert (label.title, label.text, label.source, label.note) == (
        "Headline",
        "Body text.",
        "wire.example",
        "background clause",
    )
    store.close()


def test_a_feed_lease_is_held_against_another_owner_until_released_or_expired(tmp_path: Path) -> None:
    """Two hubs (or a hub restarted mid-poll) cannot poll one feed at once: the lease is one
    UPDATE; it is released by the poll's commit, or by the owner's shutdown, or expires."""
    from datetime import timedelta

    store = Store(str(tmp_path / "m.db"))
    try:
        now = datetime(2026, 1, 1, tzinfo=UTC)
        (state,) = store.sync_feeds([Feed(name="wire", url="http://example.org/f", interval=900)], now)
        until = now + timedelta(minutes=15)
        assert store.claim_feed("wire", "hub-a", now, until, None)
        assert not store.claim_feed("wire", "hub-b", now, until, None)
        assert store.claim_feed("wire", "hub-a", now, until, None)  # its own lease: renewed
        assert store.claim_feed("wire", "hub-b", until, until + timedelta(minutes=15), None)  # expired
        store.commit_poll(
            PollOutcome(
                feed_id=state.id,
                polled_at=now,
                status=200,
                next_poll_at=now + timedelta(hours=1),
                consecutive_errors=0,
            )
        )
        # Released by the commit; not due for an hour, so a due-only claim is refused.
        assert not store.claim_feed("wire", "hub-a", now, until, due_by=now)
        assert store.claim_feed("wire", "hub-a", now, until, due_by=now + timedelta(hours=1))
        assert store.release_leases("hub-a") == 1
        assert store.claim_feed("wire", "hub-b", now, until, None)
    finally:
        store.close()


def test_many_feeds_are_leased_in_one_transaction_except_those_leased_elsewhere(tmp_path: Path) -> None:
    """``claim_feeds`` (a poll of every feed): the names leased, in order; a feed another owner
    holds is left out, a feed this owner holds is renewed, and an expired lease is taken."""
    from datetime import timedelta

    store = Store(str(tmp_path / "m.db"))
    try:
        now = datetime(2026, 1, 1, tzinfo=UTC)
        until = now + timedelta(minutes=15)
        names = ["a", "b", "c", "d"]
        store.sync_feeds([Feed(name=n, url=f"http://example.org/{n}", interval=900) for n in names], now)
        assert store.claim_feed("b", "hub-b", now, until, None)
        assert store.claim_feed("c", "hub-a", now, until, None)
        assert store.claim_feed("d", "hub-b", now - timedelta(hours=1), now, None)  # expires now
        statements: list[str] = []
        store.db.conn.set_trace_callback(statements.append)
        assert store.claim_feeds(["d", "c", "b", "a", "unknown"], "hub-a", now, until) == ["d", "c", "a"]
        store.db.conn.set_trace_callback(None)
        assert [q.split()[0] for q in statements] == ["BEGIN", *["UPDATE"] * 5, "COMMIT"]
        assert not store.claim_feed("a", "hub-b", now, until, None)
    finally:
        store.close()
