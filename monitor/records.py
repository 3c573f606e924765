"""Immutable records passed between stages. Stages take and return these, never loose dicts."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class FeedState:
    """A feed as the database knows it: where to fetch it and its conditional-GET validators."""

    id: int
    name: str
    url: str
    etag: str | None = None
    last_modified: str | None = None
    consecutive_errors: int = 0
    next_poll_at: datetime | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class FetchResult:
    """Outcome of one HTTP request. A failure is data: ``error`` is set, ``status`` may be None."""

    url: str
    final_url: str
    status: int | None
    content: bytes = b""
    content_type: str | None = None
    etag: str | None = None
    last_modified: str | None = None
    permanent_redirect: str | None = None
    retry_after: float | None = None
    error: str | None = None
    elapsed: float = 0.0

    @property
    def ok(self) -> bool:
        return self.error is None and self.status is not None and 200 <= self.status < 300

    @property
    def not_modified(self) -> bool:
        return self.error is None and self.status == 304


@dataclass(frozen=True, slots=True, kw_only=True)
class Entry:
    """One item of a feed, normalised. ``identity`` is stable across re-sends and reorders."""

    identity: str
    guid: str | None
    url: str | None
    title: str
    summary: str
    author: str | None = None
    published_at: datetime | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ParsedFeed:
    """Entries recovered from a feed's bytes; ``error`` is set for a bozo or unusable feed."""

    title: str | None
    entries: tuple[Entry, ...]
    error: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Extracted:
    """Main text and metadata of an article page; ``status`` is ``ok`` or why it is missing."""

    status: str
    text: str = ""
    title: str | None = None
    author: str | None = None
    published_at: datetime | None = None
    language: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Verdict:
    """A topic's judgement of one article."""

    topic: str
    score: float
    flagged: bool
    evidence: tuple[str, ...] = ()
    version: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class Article:
    """A fully processed entry, ready to store: text (extracted or fallback) and verdicts."""

    feed_id: int
    feed_name: str
    url: str | None
    guid: str
    title: str
    summary: str
    text: str
    author: str | None
    language: str | None
    published_at: datetime | None
    discovered_at: datetime
    extraction_status: str
    verdicts: tuple[Verdict, ...] = field(default=())

    @property
    def flagged(self) -> tuple[Verdict, ...]:
        return tuple(v for v in self.verdicts if v.flagged)


@dataclass(frozen=True, slots=True, kw_only=True)
class Alert:
    """A queued notification: one article for one channel, naming every matched topic."""

    id: int
    article_id: int
    channel: str
    title: str
    url: str | None
    feed_name: str
    published_at: datetime | None
    matches: tuple[Verdict, ...]
    attempts: int = 0
    created_at: datetime | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class DeliveryResult:
    """What happened when one alert was handed to its channel."""

    alert_id: int
    channel: str
    ok: bool
    error: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class PollReport:
    """Summary of one feed poll, logged as one line and returned to the CLI."""

    feed: str
    status: int | None
    new: int
    flagged: int
    duration: float
    error: str | None = None
    not_modified: bool = False
