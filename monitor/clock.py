"""The one source of "now", and the one spelling of a time in the database.

Stages never read the clock: the service passes ``now`` in, so a test can too.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

Clock = Callable[[], datetime]


def utcnow() -> datetime:
    """The current time, timezone-aware, in UTC."""
    return datetime.now(UTC)


def iso(ts: datetime | None) -> str | None:
    """UTC ISO 8601 with a Z, to the second: sorts as text, reads in any tool."""
    if ts is None:
        return None
    return ts.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_iso(value: str | None) -> datetime | None:
    """The inverse of :func:`iso` (also accepts any ISO 8601 form Python reads)."""
    if not value:
        return None
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def story_time(published: datetime | None, discovered: datetime) -> datetime:
    """When a story reports from: its publication time, unless missing or more than an hour
    ahead of when it was found (a feed's clock or time zone is wrong)."""
    if published is None or published > discovered + timedelta(hours=1):
        return discovered
    return published
