"""Feed health, with no I/O: after each poll, whether a feed is failing, has gone silent or has
recovered, and whether that is worth one notice to the ``ops: true`` channels.

One notice per episode: a feed that fails for a week sends one "failing" notice and, when it
works again, one "recovered" notice; the standing notice lives in ``feeds.notice``, written in
the poll's own transaction, so a restart neither repeats nor forgets it.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from ..config import HealthSettings
from ..records import FeedHealth, FeedNotice

RHYTHM_WEIGHT = 0.3  # weight of the newest gap in the moving average of gaps between new stories


def assess(
    before: FeedHealth, *, ok: bool, new_entries: int, now: datetime, settings: HealthSettings
) -> tuple[FeedHealth, FeedNotice | None]:
    """The feed's health after a poll, and the notice it gives rise to (None: nothing to say)."""
    if not ok:
        failing_since = before.failing_since or now
        after = replace(before, failing_since=failing_since)
        if (
            before.notice is not FeedNotice.FAILING
            and (now - failing_since).total_seconds() >= settings.feed_failing_after
        ):
            return replace(after, notice=FeedNotice.FAILING), FeedNotice.FAILING
        return after, None
    after = replace(before, last_ok_at=now, failing_since=None)
    if new_entries:
        rhythm = before.rhythm
        if before.last_new_at is not None:
            gap = (now - before.last_new_at).total_seconds()
            rhythm = gap if rhythm is None else (1 - RHYTHM_WEIGHT) * rhythm + RHYTHM_WEIGHT * gap
        after = replace(after, last_new_at=now, rhythm=rhythm)
    if before.notice is FeedNotice.FAILING or (before.notice is FeedNotice.SILENT and new_entries):
        return replace(after, notice=None), FeedNotice.RECOVERED
    if before.notice is None and silent(after, now, settings):
        return replace(after, notice=FeedNotice.SILENT), FeedNotice.SILENT
    return after, None


def silent(health: FeedHealth, now: datetime, settings: HealthSettings) -> bool:
    """No new story for ``feed_silent_factor`` times the usual gap (and ``feed_silent_min``)."""
    if not settings.feed_silent_factor or health.last_new_at is None or health.rhythm is None:
        return False
    quiet = (now - health.last_new_at).total_seconds()
    return quiet >= max(settings.feed_silent_factor * health.rhythm, settings.feed_silent_min)


def notice_text(feed: str, notice: FeedNotice, health: FeedHealth, error: str | None, now: datetime) -> str:
    """The one-line notice for the ops channels (plain text; rendering escapes it)."""
    if notice is FeedNotice.FAILING:
        since = health.failing_since or now
        hours = (now - since).total_seconds() / 3600
        return f"feed {feed!r} has failed every poll for {hours:.0f} h: {error or 'unknown error'}"
    if notice is FeedNotice.SILENT:
        last = health.last_new_at.strftime("%Y-%m-%d %H:%M UTC") if health.last_new_at else "never"
        return f"feed {feed!r} has published nothing new since {last}, far longer than usual"
    return f"feed {feed!r} works again"
