"""The read side of review and operations: stories, search, feeds, statistics and health, as
records. Functions take any connection with ``execute`` (a ``Store``'s, or a read-only
``sqlite3`` connection opened by the metrics thread); they read while the daemon writes (WAL)
and never write.
"""

from __future__ import annotations

import json
import re
import sqlite3
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

from ..clock import iso, parse_iso, utcnow
from ..errors import StoreError
from ..records import Health
from .sqlite import stored_verdicts


class Reader(Protocol):
    """A database connection: ``sqlite3.Connection`` and ``sqlite_utils.Database`` both are."""

    def execute(self, sql: str, parameters: Any = ..., /) -> Any: ...


def read_only(path: str) -> sqlite3.Connection:
    """A connection that cannot write, for threads beside the daemon's writer (metrics)."""
    if not Path(path).exists():
        raise StoreError(f"database {path} does not exist")
    conn = sqlite3.connect(f"file:{Path(path).resolve()}?mode=ro", uri=True, check_same_thread=False)
    conn.execute("PRAGMA busy_timeout = 5000")
    return conn


# -- stories -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class ArticleFilter:
    """Which stories ``articles``, ``export`` and ``search`` show."""

    topic: str | None = None
    feed: str | None = None
    since: datetime | None = None  # discovered at or after
    flagged: bool = False
    limit: int | None = 50


@dataclass(frozen=True, slots=True, kw_only=True)
class ArticleRow:
    """One stored story, with the score of every topic that flagged it."""

    id: int
    time: str | None  # published, else discovered
    discovered_at: str
    feed: str
    title: str
    url: str | None
    language: str | None
    extraction_status: str
    event: int | None
    topics: dict[str, float] = field(default_factory=dict)
    text: str | None = None  # only for export


_ROW_COLUMNS = (
    "a.id, coalesce(a.published_at, a.discovered_at), a.discovered_at, f.name, a.title, a.url, "
    "a.language, a.extraction_status, a.event"
)


def _where(which: ArticleFilter) -> tuple[str, list[Any]]:
    clauses: list[str] = ["1 = 1"]
    params: list[Any] = []
    if which.topic is not None:
        clauses.append("EXISTS (SELECT 1 FROM matches m WHERE m.article = a.id AND m.topic = ?)")
        params.append(which.topic)
    elif which.flagged:
        clauses.append("EXISTS (SELECT 1 FROM matches m WHERE m.article = a.id)")
    if which.feed is not None:
        clauses.append("f.name = ?")
        params.append(which.feed)
    if which.since is not None:
        clauses.append("a.discovered_at >= ?")
        params.append(iso(which.since))
    return " AND ".join(clauses), params


def _topics(db: Reader, ids: list[int]) -> dict[int, dict[str, float]]:
    """Each story's flagging topics and scores, strongest first."""
    return {
        article: {v.topic: round(v.score, 3) for v in verdicts}
        for article, verdicts in stored_verdicts(db, ids).items()
    }


def _rows(db: Reader, rows: list[tuple[Any, ...]], text: bool = False) -> list[ArticleRow]:
    topics = _topics(db, [r[0] for r in rows])
    return [
        ArticleRow(
            id=r[0],
            time=r[1],
            discovered_at=r[2],
            feed=r[3],
            title=r[4] or "",
            url=r[5],
            language=r[6],
            extraction_status=r[7],
            event=r[8],
            topics=topics.get(r[0], {}),
            text=r[9] if text else None,
        )
        for r in rows
    ]


def list_articles(db: Reader, which: ArticleFilter) -> list[ArticleRow]:
    """Stories newest first (by when they were stored)."""
    where, params = _where(which)
    rows = db.execute(
        f"SELECT {_ROW_COLUMNS} FROM articles a JOIN feeds f ON f.id = a.feed "  # noqa: S608
        f"WHERE {where} ORDER BY a.id DESC LIMIT ?",
        [*params, -1 if which.limit is None else which.limit],
    ).fetchall()
    return _rows(db, rows)


def export_articles(db: Reader, which: ArticleFilter, batch: int = 500) -> Iterator[ArticleRow]:
    """Every story the filter selects, oldest first, with its text, read in batches."""
    where, params = _where(which)
    last, left = 0, which.limit
    while left is None or left > 0:
        size = batch if left is None else min(batch, left)
        rows = db.execute(
            f"SELECT {_ROW_COLUMNS}, a.text FROM articles a JOIN feeds f ON f.id = a.feed "  # noqa: S608
            f"WHERE {where} AND a.id > ? ORDER BY a.id LIMIT ?",
            [*params, last, size],
        ).fetchall()
        if not rows:
            return
        yield from _rows(db, rows, text=True)
        last = rows[-1][0]
        left = None if left is None else left - len(rows)


@dataclass(frozen=True, slots=True, kw_only=True)
class MatchDetail:
    topic: str
    score: float
    evidence: tuple[str, ...]
    version: str | None
    created_at: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class AlertState:
    id: int
    channel: str
    kind: str
    status: str
    attempts: int
    created_at: str
    sent_at: str | None
    next_attempt_at: str | None
    last_error: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class ArticleDetail:
    """One story for ``monitor show``: metadata, what flagged it and where its alerts are."""

    row: ArticleRow
    author: str | None
    published_at: str | None
    extraction_detail: str | None
    duplicate_of: int | None
    event_title: str | None
    text: str
    matches: tuple[MatchDetail, ...]
    alerts: tuple[AlertState, ...]
    labels: dict[str, bool]


def article_detail(db: Reader, article_id: int) -> ArticleDetail | None:
    found = db.execute(
        f"SELECT {_ROW_COLUMNS}, a.text, a.author, a.published_at, a.extraction_detail, "  # noqa: S608
        "a.duplicate_of, e.title FROM articles a JOIN feeds f ON f.id = a.feed "
        "LEFT JOIN events e ON e.id = a.event WHERE a.id = ?",
        [article_id],
    ).fetchone()
    if found is None:
        return None
    row = _rows(db, [found])[0]
    matches = tuple(
        MatchDetail(topic=t, score=s, evidence=tuple(json.loads(e or "[]")), version=v, created_at=c)
        for t, s, e, v, c in db.execute(
            "SELECT topic, score, evidence, topic_version, created_at FROM matches WHERE article = ? "
            "ORDER BY score DESC, topic",
            [article_id],
        )
    )
    alerts = tuple(
        AlertState(
            id=r[0],
            channel=r[1],
            kind=r[2],
            status=r[3],
            attempts=r[4],
            created_at=r[5],
            sent_at=r[6],
            next_attempt_at=r[7],
            last_error=r[8],
        )
        for r in db.execute(
            "SELECT id, channel, kind, status, attempts, created_at, sent_at, next_attempt_at, last_error "
            "FROM alerts WHERE article = ? ORDER BY id",
            [article_id],
        )
    )
    labels = {
        t: bool(v) for t, v in db.execute("SELECT topic, label FROM labels WHERE article = ?", [article_id])
    }
    return ArticleDetail(
        row=row,
        text=found[9] or "",
        author=found[10],
        published_at=found[11],
        extraction_detail=found[12],
        duplicate_of=found[13],
        event_title=found[14],
        matches=matches,
        alerts=alerts,
        labels=labels,
    )


# -- search --------------------------------------------------------------------------------

# Around each match in a snippet; private-use characters no feed text keeps (``plain`` and the
# renderers turn them into highlighting or «»).
MARK_START, MARK_END = "\ue000", "\ue001"
_TERM = re.compile(r"\w[\w'-]*", re.UNICODE)


def fts_query(text: str) -> str:
    """Plain words as an FTS5 query: every word must occur (in any order); punctuation and FTS5
    operators in the user's text are taken as words, never as syntax."""
    terms = [t.replace('"', "") for t in _TERM.findall(text)]
    if not terms:
        raise StoreError(f"nothing to search for in {text!r}")
    return " ".join(f'"{t}"' for t in terms)


@dataclass(frozen=True, slots=True, kw_only=True)
class SearchHit:
    row: ArticleRow
    snippet: str  # with MARK_START / MARK_END around the matched words
    rank: float  # bm25: lower is better


def search_articles(db: Reader, query: str, which: ArticleFilter, *, raw: bool = False) -> list[SearchHit]:
    """Stories matching ``query`` (plain words; FTS5 syntax with ``raw``), best first."""
    match = query if raw else fts_query(query)
    where, params = _where(which)
    try:
        rows = db.execute(
            f"SELECT {_ROW_COLUMNS}, snippet(articles_fts, -1, ?, ?, '…', 16), "  # noqa: S608
            "bm25(articles_fts, 5.0, 1.0) AS rank "
            "FROM articles_fts JOIN articles a ON a.id = articles_fts.rowid JOIN feeds f ON f.id = a.feed "
            f"WHERE articles_fts MATCH ? AND {where} ORDER BY rank LIMIT ?",
            [MARK_START, MARK_END, match, *params, -1 if which.limit is None else which.limit],
        ).fetchall()
    except sqlite3.OperationalError as exc:
        raise StoreError(f"invalid search {query!r}: {exc}") from None
    stories = _rows(db, [r[:9] for r in rows])
    return [SearchHit(row=s, snippet=r[9] or "", rank=r[10]) for s, r in zip(stories, rows, strict=True)]


# -- feeds ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class FeedRow:
    """One feed's state for ``monitor feeds`` (the URL as stored: redact before showing)."""

    name: str
    url: str
    title: str | None
    last_polled_at: str | None
    last_status: int | None
    last_new: int | None
    consecutive_errors: int
    last_error_kind: str | None
    last_error: str | None
    next_poll_at: str | None
    last_ok_at: str | None
    failing_since: str | None
    last_new_at: str | None
    notice: str | None
    articles: int
    flagged: int

    @property
    def failing(self) -> bool:
        return self.consecutive_errors > 0


def list_feeds(db: Reader) -> list[FeedRow]:
    """Every feed the database knows, failing ones first, then by name."""
    counts = {
        feed: (n, flagged)
        for feed, n, flagged in db.execute(
            "SELECT feed, count(*), sum(EXISTS (SELECT 1 FROM matches m WHERE m.article = a.id)) "
            "FROM articles a GROUP BY feed"
        )
    }
    rows = db.execute(
        "SELECT id, name, url, title, last_polled_at, last_status, last_new, consecutive_errors, "
        "last_error_kind, last_error, next_poll_at, last_ok_at, failing_since, last_new_at, notice "
        "FROM feeds ORDER BY consecutive_errors = 0, name"
    ).fetchall()
    return [
        FeedRow(
            name=r[1],
            url=r[2],
            title=r[3],
            last_polled_at=r[4],
            last_status=r[5],
            last_new=r[6],
            consecutive_errors=r[7] or 0,
            last_error_kind=r[8],
            last_error=r[9],
            next_poll_at=r[10],
            last_ok_at=r[11],
            failing_since=r[12],
            last_new_at=r[13],
            notice=r[14],
            articles=counts.get(r[0], (0, 0))[0],
            flagged=counts.get(r[0], (0, 0))[1] or 0,
        )
        for r in rows
    ]


# -- statistics ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Stats:
    """``monitor stats``: stories per topic, feed and day, and alert delivery, since a time."""

    since: str | None
    articles: int
    flagged: int
    topics: list[dict[str, Any]]  # topic, stories, events, alerts_sent
    feeds: list[dict[str, Any]]  # feed, articles, flagged, extracted (share with full text)
    days: list[dict[str, Any]]  # day, articles, flagged, and one count per topic
    alerts: list[dict[str, Any]]  # channel, kind, pending, sent, failed
    extraction: dict[str, int]  # extraction status -> stories


def stats(db: Reader, since: datetime | None) -> Stats:
    start = iso(since) or ""
    total, flagged = db.execute(
        "SELECT count(*), coalesce(sum(EXISTS (SELECT 1 FROM matches m WHERE m.article = a.id)), 0) "
        "FROM articles a WHERE a.discovered_at >= ?",
        [start],
    ).fetchone()
    topics = [
        {"topic": t, "stories": n, "events": e, "alerts_sent": s}
        for t, n, e, s in db.execute(
            """SELECT m.topic, count(*), count(DISTINCT a.event),
                      (SELECT count(*) FROM alerts al JOIN matches m2 ON m2.article = al.article
                       WHERE m2.topic = m.topic AND al.status = 'sent' AND al.created_at >= ?)
               FROM matches m JOIN articles a ON a.id = m.article
               WHERE a.discovered_at >= ? GROUP BY m.topic ORDER BY m.topic""",
            [start, start],
        )
    ]
    feeds = [
        {"feed": f, "articles": n, "flagged": fl, "extracted": round(ok / n, 3) if n else None}
        for f, n, fl, ok in db.execute(
            """SELECT f.name, count(a.id),
                      coalesce(sum(EXISTS (SELECT 1 FROM matches m WHERE m.article = a.id)), 0),
                      coalesce(sum(a.extraction_status = 'ok'), 0)
               FROM feeds f LEFT JOIN articles a ON a.feed = f.id AND a.discovered_at >= ?
               GROUP BY f.id ORDER BY count(a.id) DESC, f.name""",
            [start],
        )
    ]
    by_day: dict[str, dict[str, Any]] = {}
    for day, n in db.execute(
        "SELECT substr(discovered_at, 1, 10) AS day, count(*) FROM articles WHERE discovered_at >= ? "
        "GROUP BY day ORDER BY day",
        [start],
    ):
        by_day[day] = {"day": day, "articles": n, "flagged": 0}
    for day, topic, n in db.execute(
        """SELECT substr(a.discovered_at, 1, 10) AS day, m.topic, count(*)
           FROM matches m JOIN articles a ON a.id = m.article WHERE a.discovered_at >= ?
           GROUP BY day, m.topic""",
        [start],
    ):
        by_day[day][topic] = n
    for day, n in db.execute(
        """SELECT substr(discovered_at, 1, 10) AS day, count(*) FROM articles a
           WHERE discovered_at >= ? AND EXISTS (SELECT 1 FROM matches m WHERE m.article = a.id)
           GROUP BY day""",
        [start],
    ):
        by_day[day]["flagged"] = n
    alerts: dict[tuple[str, str], dict[str, Any]] = {}
    for channel, kind, status, n in db.execute(
        "SELECT channel, kind, status, count(*) FROM alerts WHERE created_at >= ? "
        "GROUP BY channel, kind, status ORDER BY channel, kind",
        [start],
    ):
        entry = alerts.setdefault(
            (channel, kind), {"channel": channel, "kind": kind, "pending": 0, "sent": 0, "failed": 0}
        )
        entry[status] = n
    extraction = dict(
        db.execute(
            "SELECT extraction_status, count(*) FROM articles WHERE discovered_at >= ? "
            "GROUP BY extraction_status ORDER BY count(*) DESC",
            [start],
        ).fetchall()
    )
    return Stats(
        since=iso(since),
        articles=total,
        flagged=flagged,
        topics=topics,
        feeds=feeds,
        days=list(by_day.values()),
        alerts=list(alerts.values()),
        extraction=extraction,
    )


# -- health --------------------------------------------------------------------------------


def health(db: Reader, now: datetime, stale_after: float) -> Health:
    """The database's view of the daemon: healthy while some feed was polled successfully
    within ``stale_after`` seconds (or, on a new database, since its feeds were added)."""
    feeds, failing, last_poll, last_ok, created = db.execute(
        "SELECT count(*), coalesce(sum(consecutive_errors > 0), 0), max(last_polled_at), max(last_ok_at), "
        "min(created_at) FROM feeds"
    ).fetchone()
    noticed = dict(db.execute("SELECT notice, count(*) FROM feeds WHERE notice IS NOT NULL GROUP BY notice"))
    alerts = dict(db.execute("SELECT status, count(*) FROM alerts GROUP BY status").fetchall())
    notices = dict(db.execute("SELECT status, count(*) FROM notices GROUP BY status").fetchall())
    oldest = db.execute("SELECT min(created_at) FROM alerts WHERE status = 'pending'").fetchone()[0]
    limit = now - timedelta(seconds=stale_after)
    ok_at, created_at = parse_iso(last_ok), parse_iso(created)
    if not feeds:
        healthy, reason = False, "no feed has been polled: is the daemon running on this database?"
    elif ok_at is not None and ok_at >= limit:
        healthy, reason = True, f"a feed was polled successfully at {last_ok}"
    elif ok_at is None and created_at is not None and created_at >= limit:
        healthy, reason = True, f"feeds added at {created}; no successful poll yet"
    else:
        healthy = False
        reason = (
            f"no successful poll since {last_ok or 'the feeds were added'} "
            f"(more than {stale_after / 3600:g} h; health.stale_after)"
        )
    return Health(
        feeds=feeds,
        feeds_failing=failing,
        feeds_noticed=noticed,
        last_poll_at=last_poll,
        last_ok_at=last_ok,
        alerts={s: alerts.get(s, 0) for s in ("pending", "sent", "failed")},
        notices={s: notices.get(s, 0) for s in ("pending", "sent", "failed")},
        oldest_pending_alert=oldest,
        healthy=healthy,
        reason=reason,
    )


class HealthReader:
    """``health`` on a read-only connection of its own, for a thread beside the writer (the
    metrics server); opened at the first call, so a daemon starting on a new file is fine."""

    def __init__(self, path: str, stale_after: float) -> None:
        self.path = path
        self.stale_after = stale_after
        self._conn: sqlite3.Connection | None = None
        self._lock = threading.Lock()

    def __call__(self) -> Health:
        with self._lock:
            if self._conn is None:
                self._conn = read_only(self.path)
            try:
                return health(self._conn, utcnow(), self.stale_after)
            except sqlite3.Error as exc:
                raise StoreError(f"cannot read {self.path}: {exc}") from None

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None
