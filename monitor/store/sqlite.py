"""SQLite storage: the only module that touches the database.

WAL mode (readers such as the sqlite3 shell or Datasette never block a poll), a busy timeout,
foreign keys on, schema version in ``PRAGMA user_version`` with forward migrations on open.
Each feed poll is written in one ``BEGIN IMMEDIATE`` transaction together with the feed's new
validators (ETag/Last-Modified), so a crash either keeps the whole poll or none of it: the
next poll, seeing the old validators, fetches and processes the same entries again.
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import sqlite_utils

from ..clock import iso, parse_iso, story_time
from ..errors import StoreError
from ..records import (
    Alert,
    AlertKind,
    Article,
    Entry,
    EventDecision,
    Feed,
    FeedHealth,
    FeedNotice,
    FeedState,
    GroupedStory,
    Label,
    NewArticle,
    Notice,
    PollOutcome,
    RegroupReport,
    StoredArticle,
    StoryToGroup,
    Verdict,
)
from ..stages.facts.fuse import material_news
from ..stages.parse import distinct_identity, same_story
from .migrations import MIGRATIONS, SCHEMA_VERSION
from .ports import Grouping

log = logging.getLogger(__name__)

BUSY_TIMEOUT_MS = 10_000


class Store:
    """A connection to the monitor database. Not thread-safe: use from one thread at a time."""

    def __init__(self, path: str | Path, grouping: Grouping | None = None) -> None:
        self.path = str(path)
        # Called for every flagged story inserted, in the inserting transaction (None: stories
        # are not grouped, as in ``monitor classify`` runs that store nothing).
        self.grouping = grouping
        if self.path != ":memory:":
            parent = Path(self.path).resolve().parent
            if not parent.is_dir():
                raise StoreError(f"cannot open database {self.path}: folder {parent} does not exist")
        try:
            conn = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_MS / 1000, check_same_thread=False)
            conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            conn.execute("PRAGMA foreign_keys = ON")
            self.db = sqlite_utils.Database(conn)
            version = self._user_version()
            if version > SCHEMA_VERSION:
                raise StoreError(
                    f"database {self.path} has schema version {version}, newer than this "
                    f"monitor understands ({SCHEMA_VERSION}); upgrade monitor"
                )
            if version == 0:
                self._refuse_foreign()
            if self.db.journal_mode != "wal":
                self.db.enable_wal()
            conn.execute("PRAGMA synchronous = NORMAL")  # with WAL: durable at checkpoint, never corrupt
            self._migrate(version)
            self._check_writable()
        except sqlite3.DatabaseError as exc:
            raise StoreError(
                f"cannot use database {self.path}: {exc} (the file was left untouched)"
            ) from None

    def _refuse_foreign(self) -> None:
        """A file with tables but no schema version is another application's database: adding
        monitor's tables to it (and switching it to WAL) would be vandalism."""
        tables = [t for t in self.db.table_names() if not t.startswith("sqlite_")]
        if tables:
            shown = ", ".join(sorted(tables)[:5]) + (", ..." if len(tables) > 5 else "")
            self.db.conn.close()
            raise StoreError(
                f"{self.path} is not a monitor database (it has tables {shown} and no monitor "
                "schema version); refusing to change it: point `database:` at a new file"
            )

    def close(self) -> None:
        self.db.conn.close()

    def _check_writable(self) -> None:
        """Fail now, not at the first poll: a database this user cannot write (the file, its
        folder, or leftover -wal/-shm files of another user) would fail every poll for months."""
        try:
            with self.transaction():
                self.db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")  # a write that changes nothing
        except sqlite3.OperationalError as exc:
            if "readonly" not in str(exc) and "read-only" not in str(exc):
                raise
            folder = Path(self.path).resolve().parent
            raise StoreError(
                f"database {self.path} cannot be written by this user (uid {os.getuid()}): {exc}. "
                f"Make the file, its folder {folder} and any {Path(self.path).name}-wal and "
                f"{Path(self.path).name}-shm files beside it writable by the user monitor runs as "
                "(for example: chown -R monitor: " + str(folder) + ")"
            ) from None

    def _user_version(self) -> int:
        return int(self.db.execute("PRAGMA user_version").fetchone()[0])

    def _migrate(self, version: int) -> None:
        for target in range(version, SCHEMA_VERSION):
            with self.transaction():
                # Read again under the write lock: another process may have migrated meanwhile.
                if self._user_version() > target:
                    continue
                MIGRATIONS[target](self.db)
                self.db.execute(f"PRAGMA user_version = {target + 1}")
            if self.path != ":memory:":
                log.info("migrated %s to schema version %d", self.path, target + 1)

    @contextmanager
    def transaction(self) -> Iterator[sqlite_utils.Database]:
        """BEGIN IMMEDIATE: take the write lock up front, so the busy timeout applies."""
        conn = self.db.conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield self.db
        except BaseException:
            conn.execute("ROLLBACK")
            if self.grouping is not None:
                self.grouping.discard()  # its state may hold decisions that were not stored
            raise
        else:
            conn.execute("COMMIT")

    # -- feeds -----------------------------------------------------------------------------

    def sync_feeds(self, feeds: Iterable[Feed], now: datetime) -> list[FeedState]:
        """Make the feeds table agree with the configuration; keep state of known feeds.

        A feed whose configured URL is unchanged keeps its stored URL (which a permanent
        redirect may have updated); a changed configured URL resets it.
        """
        states = []
        with self.transaction():
            for feed in feeds:
                row = self._feed_row(feed.name)
                if row is None:
                    self.db.table("feeds").insert(
                        {
                            "name": feed.name,
                            "url": feed.url,
                            "config_url": feed.url,
                            "interval": feed.interval,
                            "consecutive_errors": 0,
                            "created_at": iso(now),
                        }
                    )
                elif row["config_url"] != feed.url:
                    self.db.table("feeds").update(
                        row["id"],
                        {
                            "url": feed.url,
                            "config_url": feed.url,
                            "etag": None,
                            "last_modified": None,
                            "consecutive_errors": 0,
                            "next_poll_at": None,
                            "interval": feed.interval,
                        },
                    )
                elif row["interval"] != feed.interval:
                    self.db.table("feeds").update(row["id"], {"interval": feed.interval})
                states.append(self.feed_state(feed.name))
        return [s for s in states if s is not None]

    def clamp_next_polls(self, now: datetime, horizon: datetime) -> int:
        """Bring feeds due after ``horizon`` back to ``now``: no delay monitor sets is that long,
        so such a time was written by a clock that jumped forward. Returns how many moved."""
        with self.transaction():
            cursor = self.db.execute(
                "UPDATE feeds SET next_poll_at = ? WHERE next_poll_at > ?", [iso(now), iso(horizon)]
            )
        return int(cursor.rowcount)

    def _update_feed(self, feed_id: int, values: dict[str, Any]) -> None:
        """``UPDATE feeds`` in one statement, on every poll's hot path (``Table.update`` reads
        the table's structure and the row again). The column names are this module's own."""
        columns = ", ".join(f"{name} = ?" for name in values)
        self.db.execute(f"UPDATE feeds SET {columns} WHERE id = ?", [*values.values(), feed_id])  # noqa: S608

    def claim_feed(
        self, name: str, owner: str, now: datetime, until: datetime, due_by: datetime | None
    ) -> bool:
        """Lease a feed for one poll: true unless another owner holds an unexpired lease (or,
        with ``due_by``, the feed is not due by then). One statement, so two hubs racing for
        a feed cannot both win."""
        with self.transaction():
            return self._lease(name, owner, now, until, due_by)

    def claim_feeds(self, names: Iterable[str], owner: str, now: datetime, until: datetime) -> list[str]:
        """``claim_feed`` for many feeds at once, in one transaction (a poll of every feed:
        200 transactions queued on the writer held the first feed's new stories back by two
        seconds); the names leased, in order."""
        with self.transaction():
            return [name for name in names if self._lease(name, owner, now, until, None)]

    def _lease(self, name: str, owner: str, now: datetime, until: datetime, due_by: datetime | None) -> bool:
        due = iso(due_by) if due_by is not None else None
        cursor = self.db.execute(
            "UPDATE feeds SET lease_owner = ?, lease_until = ? WHERE name = ? "
            "AND (lease_until IS NULL OR lease_until <= ? OR lease_owner = ?) "
            "AND (? IS NULL OR next_poll_at IS NULL OR next_poll_at <= ?)",
            [owner, iso(until), name, iso(now), owner, due, due],
        )
        return bool(cursor.rowcount)

    def lease_owners(self) -> list[str]:
        """Who holds a lease on some feed now (expired or not)."""
        rows = self.db.execute("SELECT DISTINCT lease_owner FROM feeds WHERE lease_owner IS NOT NULL")
        return [row[0] for row in rows.fetchall()]

    def release_leases(self, owner: str) -> int:
        """Give back every lease ``owner`` holds (a hub shutting down with polls cancelled)."""
        with self.transaction():
            cursor = self.db.execute(
                "UPDATE feeds SET lease_owner = NULL, lease_until = NULL WHERE lease_owner = ?", [owner]
            )
        return int(cursor.rowcount)

    def _feed_row(self, name: str) -> dict[str, Any] | None:
        """One statement (sqlite-utils' ``rows_where`` reads the table's structure first: a
        third of the database's time when re-polling unchanged feeds)."""
        cursor = self.db.execute("SELECT * FROM feeds WHERE name = ?", [name])
        row = cursor.fetchone()
        return dict(zip((c[0] for c in cursor.description), row, strict=True)) if row else None

    def feed_state(self, name: str) -> FeedState | None:
        row = self._feed_row(name)
        if row is None:
            return None
        return FeedState(
            id=row["id"],
            name=row["name"],
            url=row["url"],
            etag=row["etag"],
            last_modified=row["last_modified"],
            consecutive_errors=row["consecutive_errors"] or 0,
            next_poll_at=parse_iso(row["next_poll_at"]),
            volatile_params=frozenset(json.loads(row.get("volatile_params") or "[]")),
            health=FeedHealth(
                last_ok_at=parse_iso(row["last_ok_at"]),
                failing_since=parse_iso(row["failing_since"]),
                last_new_at=parse_iso(row["last_new_at"]),
                rhythm=row["rhythm"],
                notice=FeedNotice(row["notice"]) if row["notice"] else None,
            ),
        )

    # -- articles --------------------------------------------------------------------------

    def unseen(self, feed_id: int, entries: Iterable[Entry]) -> list[Entry]:
        """Entries not yet stored: neither this feed's identity nor the canonical URL is known.

        An entry whose identity this feed already used for a different story (a reused guid:
        neither link nor title match) is another story: it comes back under its distinct
        identity, unless that is known too."""
        entries = list(entries)
        if not entries:
            return []
        known = self._known_identities(feed_id, [e.identity for e in entries])
        renamed = [
            replace(e, identity=distinct_identity(e))
            if e.identity in known and not same_story(*known[e.identity], e.url, e.title)
            else e
            for e in entries
        ]
        requalified = [new.identity for new, old in zip(renamed, entries, strict=True) if new is not old]
        if requalified:
            known.update(self._known_identities(feed_id, requalified))
        seen_urls: set[str] = set()
        for batch in _chunks([e.url for e in renamed if e.url], 400):
            marks = ",".join("?" * len(batch))
            rows = self.db.execute(f"SELECT url FROM articles WHERE url IN ({marks})", batch)  # noqa: S608
            seen_urls.update(r[0] for r in rows)
        return [e for e in renamed if e.identity not in known and (e.url is None or e.url not in seen_urls)]

    def same_pages(self, feed_id: int, bases: list[str]) -> list[tuple[str, str]]:
        """(url, title) of this feed's stored articles whose link, without its query, is one
        of ``bases``."""
        found: list[tuple[str, str]] = []
        for batch in _chunks(bases, 400):
            marks = ",".join("?" * len(batch))
            rows = self.db.execute(
                "SELECT url, title FROM articles WHERE feed = ? AND instr(url, '?') > 0 "  # noqa: S608
                f"AND substr(url, 1, instr(url, '?') - 1) IN ({marks})",
                [feed_id, *batch],
            )
            found.extend((url, title or "") for url, title in rows)
        return found

    def _known_identities(self, feed_id: int, identities: list[str]) -> dict[str, tuple[str | None, str]]:
        """identity -> (url, title) of this feed's stored articles with those identities."""
        found: dict[str, tuple[str | None, str]] = {}
        for batch in _chunks(identities, 400):
            marks = ",".join("?" * len(batch))
            rows = self.db.execute(
                f"SELECT guid, url, title FROM articles WHERE feed = ? AND guid IN ({marks})",  # noqa: S608
                [feed_id, *batch],
            )
            found.update((guid, (url, title or "")) for guid, url, title in rows)
        return found

    def commit_poll(self, outcome: PollOutcome) -> list[int]:
        """Store a poll's articles, their matches and queued alerts, and the feed's new state,
        all in one transaction. Returns the ids of the articles inserted (an article another
        feed stored meanwhile is skipped, not duplicated)."""
        now = outcome.polled_at
        with self.transaction():
            inserted = self._insert_new(outcome.articles, now)
            update: dict[str, Any] = {
                "last_polled_at": iso(now),
                "last_status": outcome.status,
                "last_error": outcome.error,
                "last_error_kind": outcome.error_kind.value if outcome.error_kind else None,
                "consecutive_errors": outcome.consecutive_errors,
                "next_poll_at": iso(outcome.next_poll_at),
                "last_skipped": outcome.skipped,
                "lease_owner": None,
                "lease_until": None,
            }
            if outcome.validators is not None:
                update["etag"] = outcome.validators.etag
                update["last_modified"] = outcome.validators.last_modified
            if outcome.new_url:
                update["url"] = outcome.new_url
            if outcome.title:
                update["title"] = outcome.title
            if outcome.volatile_params is not None:
                update["volatile_params"] = json.dumps(sorted(outcome.volatile_params))
            if outcome.health is not None:
                health = outcome.health
                update.update(
                    last_ok_at=iso(health.last_ok_at),
                    failing_since=iso(health.failing_since),
                    last_new_at=iso(health.last_new_at),
                    rhythm=health.rhythm,
                    notice=health.notice.value if health.notice else None,
                    last_new=outcome.new_entries,
                )
            self._update_feed(outcome.feed_id, update)
            if outcome.notice is not None:
                feed = self.db.execute("SELECT name FROM feeds WHERE id = ?", [outcome.feed_id]).fetchone()
                for channel in outcome.notice_channels:
                    self.db.execute(
                        "INSERT INTO notices (feed, kind, channel, message, created_at, next_attempt_at) "
                        "VALUES (?, ?, ?, ?, ?, ?)",
                        [feed[0], outcome.notice.value, channel, outcome.notice_text, iso(now), iso(now)],
                    )
        return inserted

    def commit_articles(self, articles: Iterable[NewArticle], now: datetime) -> list[int]:
        """Store some of a poll's articles (with their matches and alerts) before the poll ends,
        so a slow feed's finished stories are kept; the feed's state waits for commit_poll."""
        with self.transaction():
            return self._insert_new(articles, now)

    def _insert_new(self, articles: Iterable[NewArticle], now: datetime) -> list[int]:
        articles = list(articles)
        grouping = self.grouping if any(new.article.flagged for new in articles) else None
        if grouping is not None:
            grouping.sync(self.grouped_stories, now)
        inserted: list[int] = []
        for new in articles:
            article_id = self._insert_article(new.article)
            if article_id is None:
                continue
            inserted.append(article_id)
            self._write_matches(article_id, new.article.verdicts, now)
            if grouping is not None and new.article.flagged:
                self._group(grouping, article_id, new, now)
                continue
            for channel in new.channels:
                self.queue_alert(article_id, channel, now)
        return inserted

    def _group(self, grouping: Grouping, article_id: int, new: NewArticle, now: datetime) -> None:
        """Place a flagged story in its event and queue its alerts: an event alert for each of
        its channels that has none for this event yet (exactly one per event and channel, by
        the unique index), else an update when the story reports something material."""
        article = new.article
        story = StoryToGroup(
            article_id=article_id,
            topics=tuple(v.topic for v in sorted(article.flagged, key=lambda v: -v.score)),
            title=article.title,
            text=article.text,
            language=article.language,
            time=story_time(article.published_at, article.discovered_at),
            source=article.feed_name,
        )
        decision = grouping.place(story)
        before = grouping.event_facts(decision.event_id) if decision.event_id is not None else {}
        event_id, alerted_at = self._write_event(decision, story, now)
        grouping.placed(decision, event_id)
        facts = grouping.event_facts(event_id)
        self._write_facts(event_id, facts)
        if decision.event_id is not None:
            decision = replace(decision, news=decision.news + material_news(before, facts))
        kind = grouping.kind()
        update = kind is AlertKind.EVENT and grouping.update_due(decision, alerted_at, now)
        queued = False
        for channel in new.channels:
            if self.queue_alert(article_id, channel, now, kind=kind, event_id=event_id):
                queued = True
            elif update and not self._updated(event_id, channel):  # one update per event and channel
                queued |= self.queue_alert(
                    article_id, channel, now, kind=AlertKind.UPDATE, event_id=event_id, news=decision.news
                )
        if queued:
            self.db.execute("UPDATE events SET alerted_at = ? WHERE id = ?", [iso(now), event_id])

    def _updated(self, event_id: int, channel: str) -> bool:
        row = self.db.execute(
            "SELECT 1 FROM alerts WHERE event = ? AND channel = ? AND kind = 'update' LIMIT 1",
            [event_id, channel],
        ).fetchone()
        return row is not None

    def _write_event(
        self, decision: EventDecision, story: StoryToGroup, now: datetime
    ) -> tuple[int, datetime | None]:
        """Create or extend the story's event; returns its id and when it last alerted."""
        row = (
            self.db.execute(
                "SELECT first_seen, last_seen, title, sources, anchors, alerted_at FROM events WHERE id = ?",
                [decision.event_id],
            ).fetchone()
            if decision.event_id is not None
            else None
        )
        when = iso(story.time)
        if row is None:  # a new event (or one another process has just regrouped away)
            cursor = self.db.execute(
                "INSERT INTO events (topic, first_seen, last_seen, title, articles, outlets, sources, "
                "anchors, created_at, updated_at) VALUES (?, ?, ?, ?, 1, 1, ?, ?, ?, ?)",
                [
                    decision.topic,
                    when,
                    when,
                    story.title,
                    json.dumps([story.source], ensure_ascii=False),
                    json.dumps(decision.anchors, ensure_ascii=False),
                    iso(now),
                    iso(now),
                ],
            )
            event_id, alerted_at = int(cursor.lastrowid or 0), None
        else:
            event_id, alerted_at = int(decision.event_id or 0), parse_iso(row[5])
            sources = json.loads(row[3] or "[]")
            if story.source not in sources:
                sources.append(story.source)
            anchors = json.loads(row[4] or "{}")
            for key, values in decision.anchors.items():
                anchors[key] = sorted({*anchors.get(key, ()), *values})
            self.db.execute(
                "UPDATE events SET first_seen = min(first_seen, ?), last_seen = max(last_seen, ?), "
                "title = coalesce(nullif(title, ''), ?), articles = articles + 1, outlets = ?, "
                "sources = ?, anchors = ?, updated_at = ? WHERE id = ?",
                [
                    when,
                    when,
                    story.title,
                    len(sources),
                    json.dumps(sources, ensure_ascii=False),
                    json.dumps(anchors, ensure_ascii=False),
                    iso(now),
                    event_id,
                ],
            )
        self.db.execute(
            "UPDATE articles SET event = ?, duplicate_of = ?, grouped_at = ? WHERE id = ?",
            [event_id, decision.duplicate_of, iso(now), story.article_id],
        )
        return event_id, alerted_at

    def grouped(self, article_id: int) -> tuple[int | None, tuple[AlertKind, ...], dict[str, object]]:
        """An article's event, the kinds of alert it queued, and its event's facts so far."""
        row = self.db.execute(
            "SELECT a.event, e.facts FROM articles a LEFT JOIN events e ON e.id = a.event WHERE a.id = ?",
            [article_id],
        ).fetchone()
        kinds = self.db.execute(
            "SELECT DISTINCT kind FROM alerts WHERE article = ? ORDER BY kind", [article_id]
        ).fetchall()
        facts = json.loads(row[1] or "{}") if row else {}
        return (row[0] if row else None), tuple(AlertKind(k[0]) for k in kinds), facts

    def _write_facts(self, event_id: int, facts: dict[str, dict[str, object]]) -> None:
        """Store an event's fused facts: the values on the event, the provenance in ``facts``."""
        self.db.execute(
            "UPDATE events SET facts = ? WHERE id = ?",
            [json.dumps({k: f["value"] for k, f in facts.items()}, ensure_ascii=False), event_id],
        )
        self.db.execute("DELETE FROM facts WHERE event = ?", [event_id])
        for field, fact in facts.items():
            self.db.execute(
                "INSERT INTO facts (event, field, value, article, quote, reports) VALUES (?, ?, ?, ?, ?, ?)",
                [event_id, field, str(fact["value"]), fact["article"], fact["quote"], fact["reports"]],
            )

    def regroup(self, since: datetime | None, now: datetime) -> RegroupReport:
        """Group again, with the current grouping, every flagged story found since ``since``
        (all if None) and every story of the events they were in, in the order they arrived;
        in one transaction. Nothing is alerted: an alert already queued or sent stays, naming
        its story's new event (one announcing an event another alert already announced on its
        channel becomes an update)."""
        if self.grouping is None:  # a store that does not group (tests, tools): nothing to do
            return RegroupReport(stories=0, events_before=0, events_after=0)
        grouping = self.grouping
        with self.transaction():
            db = self.db
            db.execute("DROP TABLE IF EXISTS temp.regrouped")
            db.execute(
                "CREATE TEMP TABLE regrouped AS SELECT DISTINCT event AS id FROM articles "
                "WHERE event IS NOT NULL AND (? IS NULL OR discovered_at >= ?)",
                [iso(since), iso(since)],
            )
            rows = db.execute(
                f"SELECT {_STORY_COLUMNS} FROM articles a JOIN feeds f ON f.id = a.feed "  # noqa: S608
                "WHERE EXISTS (SELECT 1 FROM matches m WHERE m.article = a.id) AND "
                "((? IS NULL OR a.discovered_at >= ?) OR a.event IN (SELECT id FROM temp.regrouped)) "
                "ORDER BY a.discovered_at, a.id",
                [iso(since), iso(since)],
            ).fetchall()
            before = int(db.execute("SELECT count(*) FROM temp.regrouped").fetchone()[0])
            db.execute(
                "UPDATE articles SET event = NULL, duplicate_of = NULL, grouped_at = NULL "
                "WHERE event IN (SELECT id FROM temp.regrouped)"
            )
            db.execute("DELETE FROM facts WHERE event IN (SELECT id FROM temp.regrouped)")
            db.execute("DELETE FROM events WHERE id IN (SELECT id FROM temp.regrouped)")
            grouping.discard()
            grouping.sync(self.grouped_stories, now)
            verdicts = self.verdicts(r[0] for r in rows)
            after: set[int] = set()
            for r in rows:
                story = _story(r, tuple(v.topic for v in verdicts.get(r[0], ())), now)
                if not story.topics:
                    continue
                decision = grouping.place(story)
                event_id, _ = self._write_event(decision, story, now)
                grouping.placed(decision, event_id)
                self._write_facts(event_id, grouping.event_facts(event_id))
                after.add(event_id)
            self._repoint_alerts()
            db.execute("DROP TABLE temp.regrouped")
        return RegroupReport(stories=len(rows), events_before=before, events_after=len(after))

    def alert_events(self, alerts: Iterable[tuple[int, str]], now: datetime) -> int:
        """Queue an event alert for each (article, channel) whose article's event has none on
        that channel yet (a story without an event gets a story alert); returns how many."""
        queued = 0
        with self.transaction():
            for article_id, channel in alerts:
                row = self.db.execute("SELECT event FROM articles WHERE id = ?", [article_id]).fetchone()
                event = row[0] if row else None
                kind = AlertKind.EVENT if event is not None else AlertKind.STORY
                if self.queue_alert(article_id, channel, now, kind=kind, event_id=event):
                    queued += 1
                    if event is not None:
                        self.db.execute("UPDATE events SET alerted_at = ? WHERE id = ?", [iso(now), event])
        return queued

    def _repoint_alerts(self) -> None:
        """Alerts of regrouped events name their story's event now (see ``regroup``)."""
        rows = self.db.execute(
            "SELECT alerts.id, alerts.channel, alerts.kind, articles.event, alerts.created_at FROM alerts "
            "JOIN articles ON articles.id = alerts.article "
            "WHERE alerts.event IN (SELECT id FROM temp.regrouped) ORDER BY alerts.id"
        ).fetchall()
        announced = {
            (event, channel)
            for event, channel in self.db.execute(
                "SELECT event, channel FROM alerts WHERE kind = 'event' AND event IS NOT NULL "
                "AND event NOT IN (SELECT id FROM temp.regrouped)"
            )
        }
        for alert_id, channel, kind, event, created in rows:
            if kind == AlertKind.EVENT.value and (event, channel) in announced:
                kind = AlertKind.UPDATE.value
            elif kind == AlertKind.EVENT.value:
                announced.add((event, channel))
            self.db.execute("UPDATE alerts SET event = ?, kind = ? WHERE id = ?", [event, kind, alert_id])
            if event is not None:
                self.db.execute(
                    "UPDATE events SET alerted_at = max(coalesce(alerted_at, ''), ?) WHERE id = ?",
                    [created, event],
                )

    def grouped_stories(self, after_id: int, since: datetime | None) -> list[GroupedStory]:
        """Stories in events, by article id: those above ``after_id``, of events reported since
        ``since`` (None: any)."""
        rows = self.db.execute(
            f"SELECT {_STORY_COLUMNS}, a.event, e.topic FROM articles a "  # noqa: S608
            "JOIN events e ON e.id = a.event JOIN feeds f ON f.id = a.feed "
            "WHERE a.id > ? AND (? IS NULL OR e.last_seen >= ?) ORDER BY a.id",
            [after_id, iso(since), iso(since)],
        ).fetchall()
        return [GroupedStory(story=_story(r, (r[8],), datetime.min), event_id=r[7], topic=r[8]) for r in rows]

    def _insert_article(self, article: Article) -> int | None:
        cursor = self.db.execute(
            """INSERT INTO articles (feed, url, guid, title, author, published_at, discovered_at,
                   summary, text, language, extraction_status, extraction_detail)
               VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
               ON CONFLICT DO NOTHING""",
            [
                article.feed_id,
                article.url,
                article.guid,
                article.title,
                article.author,
                iso(article.published_at),
                iso(article.discovered_at),
                article.summary,
                article.text,
                article.language,
                article.extraction_status.value,
                article.extraction_detail,
            ],
        )
        return cursor.lastrowid if cursor.rowcount == 1 else None

    def _write_matches(self, article_id: int, verdicts: Iterable[Verdict], now: datetime) -> None:
        for v in verdicts:
            if v.flagged:
                self.db.execute(
                    """INSERT INTO matches (article, topic, score, evidence, topic_version, created_at)
                       VALUES (?, ?, ?, ?, ?, ?)
                       ON CONFLICT (article, topic) DO UPDATE SET score = excluded.score,
                         evidence = excluded.evidence, topic_version = excluded.topic_version""",
                    [
                        article_id,
                        v.topic,
                        v.score,
                        json.dumps(list(v.evidence)),
                        v.version,
                        iso(now),
                    ],
                )

    def queue_alert(
        self,
        article_id: int,
        channel: str,
        now: datetime,
        *,
        kind: AlertKind = AlertKind.STORY,
        event_id: int | None = None,
        news: tuple[str, ...] = (),
    ) -> bool:
        """Queue an alert once per (article, channel), and an event alert once per (event,
        channel); returns False (and changes nothing) when it is already queued."""
        cursor = self.db.execute(
            """INSERT INTO alerts (article, channel, status, attempts, created_at, next_attempt_at,
                   kind, event, news)
               VALUES (?, ?, 'pending', 0, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING""",
            [
                article_id,
                channel,
                iso(now),
                iso(now),
                kind.value,
                event_id,
                json.dumps(list(news)) if news else None,
            ],
        )
        return cursor.rowcount == 1

    def articles_since(self, since: datetime | None, batch: int = 500) -> Iterator[list[StoredArticle]]:
        """Stored articles discovered since ``since`` (all if None), in batches, oldest first."""
        last = 0
        while True:
            rows = self.db.execute(
                "SELECT a.id, a.title, a.text, a.url, a.published_at, a.discovered_at, f.name, a.language "
                "FROM articles a JOIN feeds f ON f.id = a.feed "
                "WHERE a.id > ? AND (? IS NULL OR a.discovered_at >= ?) ORDER BY a.id LIMIT ?",
                [last, iso(since), iso(since), batch],
            ).fetchall()
            if not rows:
                return
            yield [
                StoredArticle(
                    id=r[0],
                    title=r[1] or "",
                    text=r[2] or "",
                    url=r[3],
                    published_at=parse_iso(r[4]),
                    discovered_at=parse_iso(r[5]),
                    feed_name=r[6],
                    language=r[7],
                )
                for r in rows
            ]
            last = rows[-1][0]

    def add_label(
        self, article_id: int, topic: str, label: bool, now: datetime, note: str | None = None
    ) -> Label:
        """Record (or replace) the analyst's verdict on an article for a topic. Raises StoreError
        when there is no such article."""
        row = self.db.execute(
            "SELECT a.title, a.text, a.language, a.url, f.url FROM articles a "
            "JOIN feeds f ON f.id = a.feed WHERE a.id = ?",
            [article_id],
        ).fetchone()
        if row is None:
            raise StoreError(f"no article with id {article_id} in {self.path}")
        source = urlsplit(row[3] or row[4] or "").hostname or ""
        record = Label(
            article_id=article_id,
            topic=topic,
            label=label,
            title=row[0] or "",
            text=row[1] or "",
            language=row[2],
            source=source.removeprefix("www."),
            labelled_at=now,
            note=note,
        )
        with self.transaction():
            self.db.execute(
                "INSERT OR REPLACE INTO labels (article, topic, label, title, text, language, source, "
                "labelled_at, note) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    article_id,
                    topic,
                    int(label),
                    record.title,
                    record.text,
                    record.language,
                    record.source,
                    iso(now),
                    note,
                ],
            )
        return record

    def labels(self, topic: str | None = None) -> list[Label]:
        """Every label (of one topic), oldest first."""
        rows = self.db.execute(
            "SELECT article, topic, label, title, text, language, source, labelled_at, note FROM labels "
            "WHERE ? IS NULL OR topic = ? ORDER BY labelled_at, article, topic",
            [topic, topic],
        ).fetchall()
        return [
            Label(
                article_id=r[0],
                topic=r[1],
                label=bool(r[2]),
                title=r[3] or "",
                text=r[4] or "",
                language=r[5],
                source=r[6] or "",
                labelled_at=parse_iso(r[7]) or datetime.min,
                note=r[8],
            )
            for r in rows
        ]

    def update_matches(
        self, changes: Iterable[tuple[int, Verdict]], alerts: Iterable[tuple[int, str]], now: datetime
    ) -> None:
        """Write re-scored verdicts (a flagged one replaces, an unflagged one deletes its match)
        and queue alerts, in one transaction."""
        with self.transaction():
            for article_id, verdict in changes:
                if verdict.flagged:
                    self._write_matches(article_id, [verdict], now)
                else:
                    self.db.execute(
                        "DELETE FROM matches WHERE article = ? AND topic = ?", [article_id, verdict.topic]
                    )
            for article_id, channel in alerts:
                self.queue_alert(article_id, channel, now)

    def count(self, table: str) -> int:
        return int(self.db.execute(f"SELECT count(*) FROM [{table}]").fetchone()[0])  # noqa: S608

    # -- alerts ----------------------------------------------------------------------------

    _ALERT_SELECT = """SELECT alerts.id, alerts.article, alerts.channel, alerts.attempts,
                      articles.title, articles.url, articles.published_at, feeds.name,
                      alerts.created_at, alerts.kind, alerts.event, events.articles,
                      events.outlets, alerts.news, events.facts
               FROM alerts JOIN articles ON articles.id = alerts.article
                           JOIN feeds ON feeds.id = articles.feed
                           LEFT JOIN events ON events.id = alerts.event"""

    def alerts_where(self, where: str, params: list[Any]) -> list[Alert]:
        """Alerts (with their article's matches) for a trusted SQL condition on the outbox."""
        rows = self.db.execute(f"{self._ALERT_SELECT} WHERE {where}", params).fetchall()
        verdicts = self.verdicts(r[1] for r in rows)
        return [
            Alert(
                id=r[0],
                article_id=r[1],
                channel=r[2],
                attempts=r[3],
                title=r[4] or "",
                url=r[5],
                published_at=parse_iso(r[6]),
                feed_name=r[7],
                matches=verdicts.get(r[1], ()),
                created_at=parse_iso(r[8]),
                kind=AlertKind(r[9] or "story"),
                event_id=r[10],
                event_articles=r[11] or 0,
                event_outlets=r[12] or 0,
                news=tuple(json.loads(r[13] or "[]")),
                facts=json.loads(r[14] or "{}"),
            )
            for r in rows
        ]

    def due_alerts(self, now: datetime, channel: str, limit: int = 500) -> list[Alert]:
        """A channel's pending alerts whose next attempt is due, oldest first. Per channel, so a
        backlog on one channel never hides another's due alerts behind the limit."""
        return self.alerts_where(
            "alerts.channel = ? AND alerts.status = 'pending' AND alerts.next_attempt_at <= ? "
            "ORDER BY alerts.id LIMIT ?",
            [channel, iso(now), limit],
        )

    def pending_digest(self, channel: str, now: datetime) -> list[Alert] | None:
        """Every pending alert of a digest channel, or None while a failed digest waits to be
        retried (``next_attempt_at`` in the future)."""
        waiting = self.db.execute(
            "SELECT count(*) FROM alerts WHERE channel = ? AND status = 'pending' AND next_attempt_at > ?",
            [channel, iso(now)],
        ).fetchone()[0]
        if waiting:
            return None
        return self.alerts_where(
            "alerts.channel = ? AND alerts.status = 'pending' ORDER BY alerts.id", [channel]
        )

    def rename_channel(self, old: str, new: str) -> int:
        """Move a channel's outbox rows to its new name (kept where the article already has a
        row under the new one)."""
        with self.transaction():
            cursor = self.db.execute("UPDATE OR IGNORE alerts SET channel = ? WHERE channel = ?", [new, old])
        return int(cursor.rowcount)

    def clamp_retries(self, now: datetime, horizon: datetime) -> int:
        """Bring pending alerts retried after ``horizon`` back to ``now`` (see clamp_next_polls)."""
        with self.transaction():
            cursor = self.db.execute(
                "UPDATE alerts SET next_attempt_at = ? WHERE status = 'pending' AND next_attempt_at > ?",
                [iso(now), iso(horizon)],
            )
        return int(cursor.rowcount)

    def retry_failed(self, channel: str | None, now: datetime) -> int:
        """Requeue failed alerts (all, or one channel's) with a fresh set of attempts."""
        with self.transaction():
            cursor = self.db.execute(
                "UPDATE alerts SET status = 'pending', attempts = 0, next_attempt_at = ? "
                "WHERE status = 'failed' AND (? IS NULL OR channel = ?)",
                [iso(now), channel, channel],
            )
        return int(cursor.rowcount)

    # -- notices (feed health, for ops channels) -------------------------------------------

    def due_notices(self, now: datetime, channel: str) -> list[Notice]:
        rows = self.db.execute(
            "SELECT id, feed, kind, channel, message, attempts, created_at FROM notices "
            "WHERE channel = ? AND status = 'pending' AND (next_attempt_at IS NULL OR next_attempt_at <= ?) "
            "ORDER BY id",
            [channel, iso(now)],
        ).fetchall()
        return [
            Notice(
                id=r[0],
                feed=r[1],
                kind=FeedNotice(r[2]),
                channel=r[3],
                message=r[4],
                attempts=r[5],
                created_at=parse_iso(r[6]),
            )
            for r in rows
        ]

    def mark_notice(
        self, notice_id: int, error: str | None, retry_at: datetime | None, now: datetime
    ) -> None:
        """Record a notice's delivery: sent (``error`` None), retried at ``retry_at``, or failed."""
        with self.transaction():
            if error is None:
                self.db.execute(
                    "UPDATE notices SET status = 'sent', sent_at = ?, attempts = attempts + 1, "
                    "last_error = NULL WHERE id = ?",
                    [iso(now), notice_id],
                )
            else:
                self.db.execute(
                    "UPDATE notices SET status = ?, attempts = attempts + 1, last_error = ?, "
                    "next_attempt_at = ? WHERE id = ?",
                    ["pending" if retry_at else "failed", error, iso(retry_at), notice_id],
                )

    def verdicts(self, article_ids: Iterable[int]) -> dict[int, tuple[Verdict, ...]]:
        return stored_verdicts(self.db, article_ids)

    def mark_sent(self, alert_ids: Iterable[int], now: datetime) -> None:
        with self.transaction():
            for alert_id in alert_ids:
                self.db.execute(
                    "UPDATE alerts SET status = 'sent', sent_at = ?, attempts = attempts + 1, "
                    "last_error = NULL WHERE id = ?",
                    [iso(now), alert_id],
                )

    def mark_failed(
        self, alert_ids: Iterable[int], error: str, retry_at: datetime | None, now: datetime
    ) -> None:
        """Count a failed attempt; ``retry_at`` None means give up (status ``failed``)."""
        with self.transaction():
            for alert_id in alert_ids:
                self.db.execute(
                    "UPDATE alerts SET attempts = attempts + 1, last_error = ?, next_attempt_at = ?, "
                    "status = ? WHERE id = ?",
                    [error, iso(retry_at or now), "pending" if retry_at else "failed", alert_id],
                )


# What grouping reads of a stored story, in the order ``_story`` takes it.
_STORY_COLUMNS = "a.id, a.title, a.text, a.language, a.published_at, a.discovered_at, f.name"


def _story(row: tuple[Any, ...], topics: tuple[str, ...], undated: datetime) -> StoryToGroup:
    """A stored story (``_STORY_COLUMNS`` first in ``row``) as grouping places it; ``undated``
    stands for a discovery time the row lacks."""
    return StoryToGroup(
        article_id=row[0],
        topics=topics,
        title=row[1] or "",
        text=row[2] or "",
        language=row[3],
        time=story_time(parse_iso(row[4]), parse_iso(row[5]) or undated),
        source=row[6],
    )


def _chunks(items: list[str], size: int) -> Iterator[list[str]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def stored_verdicts(db: Any, article_ids: Iterable[int]) -> dict[int, tuple[Verdict, ...]]:
    """The stored matches of many articles, strongest first: one query per 400 articles
    rather than one per article. ``db``: any connection with ``execute`` (the review side
    reads through its own)."""
    found: dict[int, list[Verdict]] = {}
    ids = sorted(set(article_ids))
    for i in range(0, len(ids), 400):
        chunk = ids[i : i + 400]
        marks = ",".join("?" * len(chunk))
        columns = "article, topic, score, evidence, topic_version"
        rows = db.execute(
            f"SELECT {columns} FROM matches WHERE article IN ({marks})"  # noqa: S608
            " ORDER BY article, score DESC, topic",
            chunk,
        )
        for article, topic, score, evidence, version in rows:
            verdict = Verdict(
                topic=topic,
                score=score,
                flagged=True,
                evidence=tuple(json.loads(evidence or "[]")),
                version=version or "",
            )
            found.setdefault(article, []).append(verdict)
    return {article: tuple(verdicts) for article, verdicts in found.items()}
