"""The read side: what review commands and the demo show, as records. SQLite only here and in
``sqlite``; these read while the daemon writes (WAL) and never write."""

from __future__ import annotations

from ..clock import parse_iso
from ..records import Alert, AlertListing, AlertStatus
from .sqlite import Store


def list_alerts(store: Store, status: AlertStatus | None, limit: int) -> list[AlertListing]:
    """Alerts for review, newest first (the channel's name, never its URL)."""
    rows = store.db.execute(
        """SELECT alerts.id, alerts.created_at, alerts.channel, alerts.status, alerts.attempts,
                  alerts.sent_at, alerts.next_attempt_at, alerts.last_error, articles.title,
                  articles.url
           FROM alerts JOIN articles ON articles.id = alerts.article
           WHERE (? IS NULL OR alerts.status = ?) ORDER BY alerts.id DESC LIMIT ?""",
        [status, status, limit],
    ).fetchall()
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
