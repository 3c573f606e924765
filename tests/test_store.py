from __future__ import annotations

import sqlite3
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
