"""Schema migrations, applied forward on open; the version lives in ``PRAGMA user_version``.

Each migration runs in its own transaction with the version bump, so an interrupted upgrade
leaves the previous version intact. Never edit a released migration: add the next one.
"""

from __future__ import annotations

from collections.abc import Callable

import sqlite_utils


def _v1(db: sqlite_utils.Database) -> None:
    db.table("feeds").create(
        {
            "id": int,
            "name": str,
            "url": str,
            "config_url": str,
            "title": str,
            "etag": str,
            "last_modified": str,
            "last_polled_at": str,
            "last_status": int,
            "last_error": str,
            "consecutive_errors": int,
            "next_poll_at": str,
            "interval": float,
            "created_at": str,
        },
        pk="id",
        not_null={"name", "url", "config_url", "consecutive_errors"},
        defaults={"consecutive_errors": 0},
    )
    db.table("feeds").create_index(["name"], unique=True)
    db.table("articles").create(
        {
            "id": int,
            "feed": int,
            "url": str,
            "guid": str,
            "title": str,
            "author": str,
            "published_at": str,
            "discovered_at": str,
            "summary": str,
            "text": str,
            "language": str,
            "extraction_status": str,
        },
        pk="id",
        not_null={"feed", "guid", "discovered_at", "extraction_status"},
        foreign_keys=[("feed", "feeds", "id")],
    )
    db.table("articles").create_index(["feed", "guid"], unique=True)
    db.execute("CREATE UNIQUE INDEX idx_articles_url ON articles(url) WHERE url IS NOT NULL")
    db.table("articles").create_index(["discovered_at"])
    db.table("articles").create_index(["published_at"])
    db.table("matches").create(
        {
            "article": int,
            "topic": str,
            "score": float,
            "evidence": str,
            "topic_version": str,
            "created_at": str,
        },
        pk=("article", "topic"),
        not_null={"score"},
        foreign_keys=[("article", "articles", "id")],
    )
    db.table("matches").create_index(["topic", "score"])
    db.table("alerts").create(
        {
            "id": int,
            "article": int,
            "channel": str,
            "status": str,
            "attempts": int,
            "last_error": str,
            "created_at": str,
            "next_attempt_at": str,
            "sent_at": str,
        },
        pk="id",
        not_null={"article", "channel", "status", "attempts", "created_at"},
        defaults={"status": "pending", "attempts": 0},
        foreign_keys=[("article", "articles", "id")],
    )
    db.table("alerts").create_index(["article", "channel"], unique=True)
    db.table("alerts").create_index(["status", "next_attempt_at"])
    db.table("articles").enable_fts(["title", "text"], create_triggers=True, tokenize="porter")


# Statuses were prose ("text too short (95 chars)"); v2 splits them into a label the enums in
# ``records`` name and a detail column, so they can be grouped, counted and exported.
_EXTRACTION_PROSE = (
    ("fetch failed: %", "fetch_failed", "substr(extraction_status, 15)"),
    ("text too short (%", "too_short", "rtrim(substr(extraction_status, 17), ')')"),
    ("extraction exceeded %", "timed_out", "substr(extraction_status, 21)"),
    ("extraction failed: %", "extraction_failed", "substr(extraction_status, 20)"),
    ("extraction interrupted%", "interrupted", "NULL"),
    ("empty page", "empty_page", "NULL"),
    ("no main text found", "no_main_text", "NULL"),
    ("no link in feed entry", "no_link", "NULL"),
)
_FEED_ERROR_PROSE = (
    ("HTTP %", "http_status"),
    ("deadline of %", "timeout"),
    ("timed out %", "timeout"),
    ("response %exceeds cap%", "too_large"),
    ("refused %", "blocked"),
    ("more than % redirects", "redirects"),
    ("invalid URL%", "invalid_url"),
    ("DOCTYPE entity declarations removed%", "entities_removed"),
    ("ill-formed feed%", "ill_formed"),
    ("parser crashed%", "ill_formed"),
    ("not a feed%", "not_a_feed"),
    ("internal error%", "internal"),
)


def _v2(db: sqlite_utils.Database) -> None:
    db.execute("ALTER TABLE articles ADD COLUMN extraction_detail TEXT")
    db.execute("ALTER TABLE feeds ADD COLUMN last_error_kind TEXT")
    db.execute("ALTER TABLE feeds ADD COLUMN last_skipped INTEGER")
    db.execute("ALTER TABLE feeds ADD COLUMN volatile_params TEXT")
    for prose, status, detail in _EXTRACTION_PROSE:
        db.execute(
            f"UPDATE articles SET extraction_detail = {detail}, extraction_status = ? "  # noqa: S608
            "WHERE extraction_status LIKE ?",
            [status, prose],
        )
    known = ("ok", *(status for _, status, _ in _EXTRACTION_PROSE))
    marks = ",".join("?" * len(known))
    db.execute(
        "UPDATE articles SET extraction_detail = extraction_status, "  # noqa: S608
        f"extraction_status = 'extraction_failed' WHERE extraction_status NOT IN ({marks})",
        list(known),
    )
    for prose, kind in _FEED_ERROR_PROSE:
        db.execute(
            "UPDATE feeds SET last_error_kind = ? WHERE last_error_kind IS NULL AND last_error LIKE ?",
            [kind, prose],
        )
    db.execute(
        "UPDATE feeds SET last_error_kind = 'connection' "
        "WHERE last_error IS NOT NULL AND last_error_kind IS NULL"
    )
    db.table("articles").create_index(["extraction_status"])
    db.table("alerts").create_index(["channel", "status", "next_attempt_at"])


def _v3(db: sqlite_utils.Database) -> None:
    """The analyst's verdicts. A label keeps the headline and text it was given on, so it stays
    a training example even if the article is later deleted; training never writes here."""
    db.execute(
        """CREATE TABLE labels (
               article INTEGER NOT NULL,
               topic TEXT NOT NULL,
               label INTEGER NOT NULL CHECK (label IN (0, 1)),
               title TEXT,
               text TEXT,
               language TEXT,
               source TEXT,
               labelled_at TEXT NOT NULL,
               note TEXT,
               PRIMARY KEY (article, topic)
           )"""
    )
    db.execute("CREATE INDEX idx_labels_topic ON labels(topic)")


def _v4(db: sqlite_utils.Database) -> None:
    """Events: flagged stories grouped by the real-world occurrence they report. An article
    belongs to at most one event; an alert names the event it announces and what kind of alert
    it is, and at most one alert per event and channel announces a new event."""
    db.execute(
        """CREATE TABLE events (
               id INTEGER PRIMARY KEY,
               topic TEXT NOT NULL,
               first_seen TEXT NOT NULL,
               last_seen TEXT NOT NULL,
               title TEXT,
               articles INTEGER NOT NULL DEFAULT 0,
               outlets INTEGER NOT NULL DEFAULT 0,
               sources TEXT NOT NULL DEFAULT '[]',
               anchors TEXT NOT NULL DEFAULT '{}',
               facts TEXT NOT NULL DEFAULT '{}',
               alerted_at TEXT,
               created_at TEXT NOT NULL,
               updated_at TEXT NOT NULL
           )"""
    )
    db.execute("CREATE INDEX idx_events_topic_last_seen ON events(topic, last_seen)")
    db.execute("CREATE INDEX idx_events_last_seen ON events(last_seen)")
    db.execute("ALTER TABLE articles ADD COLUMN event INTEGER REFERENCES events(id)")
    db.execute("ALTER TABLE articles ADD COLUMN duplicate_of INTEGER")
    db.execute("ALTER TABLE articles ADD COLUMN grouped_at TEXT")
    db.execute("CREATE INDEX idx_articles_event ON articles(event)")
    db.execute("ALTER TABLE alerts ADD COLUMN kind TEXT NOT NULL DEFAULT 'story'")
    db.execute("ALTER TABLE alerts ADD COLUMN event INTEGER")
    db.execute("ALTER TABLE alerts ADD COLUMN news TEXT")
    db.execute("CREATE UNIQUE INDEX idx_alerts_event_channel ON alerts(event, channel) WHERE kind = 'event'")


def _v5(db: sqlite_utils.Database) -> None:
    """An event's facts, one row per field: the fused value, the story that first gave it and
    the sentence it was read from (``events.facts`` holds the same values as one JSON object)."""
    db.execute(
        """CREATE TABLE facts (
               event INTEGER NOT NULL REFERENCES events(id),
               field TEXT NOT NULL,
               value TEXT NOT NULL,
               article INTEGER,
               quote TEXT,
               reports INTEGER NOT NULL DEFAULT 1,
               PRIMARY KEY (event, field)
           )"""
    )


def _v6(db: sqlite_utils.Database) -> None:
    """Feed health (see ``service.health``) and the notices it sends to ops channels, an outbox
    of its own: a notice belongs to a feed, not to an article."""
    for column, kind in (
        ("last_ok_at", "TEXT"),
        ("failing_since", "TEXT"),
        ("last_new", "INTEGER"),
        ("last_new_at", "TEXT"),
        ("rhythm", "REAL"),
        ("notice", "TEXT"),
    ):
        db.execute(f"ALTER TABLE feeds ADD COLUMN {column} {kind}")
    # What the old columns tell: a feed without errors worked at its last poll; a failing one
    # has failed at least since then; its newest story says when it last had news.
    db.execute("UPDATE feeds SET last_ok_at = last_polled_at WHERE consecutive_errors = 0")
    db.execute("UPDATE feeds SET failing_since = last_polled_at WHERE consecutive_errors > 0")
    db.execute(
        "UPDATE feeds SET last_new_at = (SELECT max(discovered_at) FROM articles WHERE feed = feeds.id)"
    )
    db.execute(
        """CREATE TABLE notices (
               id INTEGER PRIMARY KEY,
               feed TEXT NOT NULL,
               kind TEXT NOT NULL,
               channel TEXT NOT NULL,
               message TEXT NOT NULL,
               status TEXT NOT NULL DEFAULT 'pending',
               attempts INTEGER NOT NULL DEFAULT 0,
               last_error TEXT,
               created_at TEXT NOT NULL,
               next_attempt_at TEXT,
               sent_at TEXT
           )"""
    )
    db.execute("CREATE INDEX idx_notices_channel_status ON notices(channel, status, next_attempt_at)")


def _v7(db: sqlite_utils.Database) -> None:
    """A poll's lease on its feed (``Store.claim_feed``): a second hub, or a hub restarted while
    its poll was in flight, cannot poll the feed again until the lease is released or expires."""
    db.execute("ALTER TABLE feeds ADD COLUMN lease_owner TEXT")
    db.execute("ALTER TABLE feeds ADD COLUMN lease_until TEXT")


MIGRATIONS: tuple[Callable[[sqlite_utils.Database], None], ...] = (_v1, _v2, _v3, _v4, _v5, _v6, _v7)
SCHEMA_VERSION = len(MIGRATIONS)
