"""The read side: what review commands and the demo show, as records. SQLite only here and in
``sqlite``; these read while the daemon writes (WAL) and never write."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ..clock import iso, parse_iso
from ..records import Alert, AlertKind, AlertListing, AlertStatus, EventSummary
from .sqlite import Store


def list_alerts(
    store: Store, status: AlertStatus | None, limit: int, channel: str | None = None
) -> list[AlertListing]:
    """Alerts for review, newest first (the channel's name, never its URL), with the scores of
    the topics that flagged each story."""
    rows = store.db.execute(
        """SELECT alerts.id, alerts.created_at, alerts.channel, alerts.status, alerts.attempts,
                  alerts.sent_at, alerts.next_attempt_at, alerts.last_error, articles.title,
                  articles.url, alerts.article, alerts.kind, alerts.event
           FROM alerts JOIN articles ON articles.id = alerts.article
           WHERE (? IS NULL OR alerts.status = ?) AND (? IS NULL OR alerts.channel = ?)
           ORDER BY alerts.id DESC LIMIT ?""",
        [status, status, channel, channel, limit],
    ).fetchall()
    verdicts = store.verdicts(r[10] for r in rows)
    return [
        AlertListing(
            id=r[0],
            created_at=r[1],
            channel=r[2],
            status=AlertStatus(r[3]),
            attempts=r[4],
            sent_at=r[5],
            next_attempt_at=r[6],
            last_error=r[7],
            title=r[8],
            url=r[9],
            article_id=r[10],
            kind=AlertKind(r[11]),
            event=r[12],
            topics={v.topic: round(v.score, 3) for v in verdicts.get(r[10], ())},
        )
        for r in rows
    ]


def flagged_previews(store: Store) -> list[Alert]:
    """Every flagged article as the alert it would make (no channel): ``monitor demo``."""
    rows = store.db.execute(
        """SELECT a.id, a.title, a.url, a.published_at, f.name FROM articles a
           JOIN feeds f ON f.id = a.feed
           WHERE EXISTS (SELECT 1 FROM matches m WHERE m.article = a.id) ORDER BY a.id"""
    ).fetchall()
    verdicts = store.verdicts(r[0] for r in rows)
    return [
        Alert(
            id=0,
            article_id=r[0],
            channel="(preview)",
            title=r[1] or "",
            url=r[2],
            published_at=parse_iso(r[3]),
            feed_name=r[4],
            matches=verdicts.get(r[0], ()),
        )
        for r in rows
    ]


def _summary(r: tuple[Any, ...]) -> EventSummary:
    return EventSummary(
        id=r[0],
        topic=r[1],
        first_seen=parse_iso(r[2]),
        last_seen=parse_iso(r[3]),
        title=r[4] or "",
        articles=r[5],
        outlets=r[6],
        sources=tuple(json.loads(r[7] or "[]")),
        anchors=json.loads(r[8] or "{}"),
        facts=json.loads(r[9] or "{}"),
    )


_EVENT_COLUMNS = "id, topic, first_seen, last_seen, title, articles, outlets, sources, anchors, facts"


def list_events(store: Store, topic: str | None, since: datetime | None, limit: int) -> list[EventSummary]:
    """Events reported since ``since`` (of one topic), most recently reported first."""
    rows = store.db.execute(
        f"SELECT {_EVENT_COLUMNS} FROM events WHERE (? IS NULL OR topic = ?) "  # noqa: S608
        "AND (? IS NULL OR last_seen >= ?) ORDER BY last_seen DESC, id DESC LIMIT ?",
        [topic, topic, iso(since), iso(since), limit],
    ).fetchall()
    return [_summary(r) for r in rows]


@dataclass(frozen=True, slots=True)
class EventStory:
    """One story of an event, for ``monitor event``."""

    article_id: int
    time: str | None  # published, else discovered
    feed: str
    title: str
    url: str | None
    language: str | None
    duplicate_of: int | None
    alerts: tuple[str, ...]  # "event -> telegram (sent)"


def event_detail(store: Store, event_id: int) -> tuple[EventSummary, list[EventStory]] | None:
    """An event and its stories in the order they were reported."""
    row = store.db.execute(f"SELECT {_EVENT_COLUMNS} FROM events WHERE id = ?", [event_id]).fetchone()  # noqa: S608
    if row is None:
        return None
    stories = store.db.execute(
        "SELECT a.id, coalesce(a.published_at, a.discovered_at), f.name, a.title, a.url, a.language, "
        "a.duplicate_of FROM articles a JOIN feeds f ON f.id = a.feed WHERE a.event = ? "
        "ORDER BY coalesce(a.published_at, a.discovered_at), a.id",
        [event_id],
    ).fetchall()
    alerts: dict[int, list[str]] = {}
    for article, kind, channel, status in store.db.execute(
        "SELECT article, kind, channel, status FROM alerts WHERE event = ? ORDER BY id", [event_id]
    ):
        alerts.setdefault(article, []).append(f"{kind} -> {channel} ({status})")
    return _summary(row), [
        EventStory(
            article_id=r[0],
            time=r[1],
            feed=r[2],
            title=r[3] or "",
            url=r[4],
            language=r[5],
            duplicate_of=r[6],
            alerts=tuple(alerts.get(r[0], ())),
        )
        for r in stories
    ]
