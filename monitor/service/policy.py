"""Decisions with no I/O: when a feed is next due, and whether a story is alerted."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from ..notify.channels import ChannelHandle, channels_for
from ..records import Article


def next_poll_time(
    now: datetime,
    interval: float,
    errors: int,
    retry_after: float | None,
    max_backoff: float,
    jitter: float = 0.0,
) -> datetime:
    """After success: one interval. After the n-th failure in a row: interval * 2**(n-1), capped
    at ``max_backoff``, never sooner than the server's Retry-After. A failing feed is never
    dropped: it is retried at the cap for as long as it fails. ``jitter`` (seconds, drawn by the
    caller) is added, so the stored time is the one the scheduler keeps."""
    delay = interval if errors == 0 else min(interval * 2 ** (errors - 1), max(max_backoff, interval))
    if retry_after:
        delay = max(delay, retry_after)
    return now + timedelta(seconds=delay + jitter)


JITTER_SHARE = 0.1  # of a feed's interval, at most


def poll_jitter(interval: float, jitter: float) -> float:
    """The random delay added to a feed's polls: ``schedule.jitter``, but never more than a
    tenth of its interval, so a feed polled every minute is polled within 66 s, not 90."""
    return min(jitter, JITTER_SHARE * interval)


def within_max_age(published: datetime, now: datetime, max_age: float) -> bool:
    """Stories published longer ago than ``alerts.max_age`` (a feed's backlog) are not alerted."""
    return (now - published).total_seconds() <= max_age


def alert_channels(
    article: Article, channels: Iterable[ChannelHandle], now: datetime, max_age: float
) -> tuple[str, ...]:
    """The channels to alert for a new article; none for an unflagged or old story."""
    if not article.flagged:
        return ()
    if not within_max_age(article.published_at or article.discovered_at, now, max_age):
        return ()
    return channels_for(article.verdicts, channels)
