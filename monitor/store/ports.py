"""What the service and delivery layers need from storage, as Protocols.

``notify`` and ``service`` are written against these, never against the SQLite class, so a
test can hand in another implementation and a task-queue worker can hold its own connection.
Every method is synchronous and cheap to call on one writer thread (see ``execute``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from datetime import datetime
from typing import Protocol

from ..records import (
    Alert,
    AlertKind,
    Entry,
    EventDecision,
    Feed,
    FeedState,
    GroupedStory,
    NewArticle,
    Notice,
    PollOutcome,
    RegroupReport,
    StoredArticle,
    StoryToGroup,
    Verdict,
)


class Grouping(Protocol):
    """Event grouping as the store calls it, inside the write transaction that stores a flagged
    story (``service.grouping.EventGrouping``)."""

    def sync(self, load: Callable[[int, datetime | None], list[GroupedStory]], now: datetime) -> None: ...

    def place(self, story: StoryToGroup) -> EventDecision: ...

    def placed(self, decision: EventDecision, event_id: int) -> None: ...

    def event_facts(self, event_id: int) -> dict[str, dict[str, object]]: ...

    def discard(self) -> None: ...

    def update_due(self, decision: EventDecision, alerted_at: datetime | None, now: datetime) -> bool: ...

    def kind(self) -> AlertKind: ...


class FeedStore(Protocol):
    """Feeds and their polling state."""

    def sync_feeds(self, feeds: Iterable[Feed], now: datetime) -> list[FeedState]: ...

    def feed_state(self, name: str) -> FeedState | None: ...

    def clamp_next_polls(self, now: datetime, horizon: datetime) -> int: ...

    def claim_feed(
        self, name: str, owner: str, now: datetime, until: datetime, due_by: datetime | None
    ) -> bool: ...

    def claim_feeds(self, names: Iterable[str], owner: str, now: datetime, until: datetime) -> list[str]: ...

    def lease_owners(self) -> list[str]: ...

    def release_leases(self, owner: str) -> int: ...


class ArticleStore(Protocol):
    """Articles, their matches, and the one-transaction commit of a poll."""

    def unseen(self, feed_id: int, entries: Iterable[Entry]) -> list[Entry]: ...

    def commit_poll(self, outcome: PollOutcome) -> list[int]: ...

    def same_pages(self, feed_id: int, bases: list[str]) -> list[tuple[str, str]]: ...

    def commit_articles(self, articles: Iterable[NewArticle], now: datetime) -> list[int]: ...

    def articles_since(self, since: datetime | None, batch: int = 500) -> Iterator[list[StoredArticle]]: ...

    def verdicts(self, article_ids: Iterable[int]) -> dict[int, tuple[Verdict, ...]]: ...

    def update_matches(
        self, changes: Iterable[tuple[int, Verdict]], alerts: Iterable[tuple[int, str]], now: datetime
    ) -> None: ...

    def grouped(self, article_id: int) -> tuple[int | None, tuple[AlertKind, ...], dict[str, object]]: ...

    def regroup(self, since: datetime | None, now: datetime) -> RegroupReport: ...

    def alert_events(self, alerts: Iterable[tuple[int, str]], now: datetime) -> int: ...


class Outbox(Protocol):
    """The alerts table as a durable outbox."""

    def due_alerts(self, now: datetime, channel: str, limit: int = 500) -> list[Alert]: ...

    def pending_digest(self, channel: str, now: datetime) -> list[Alert] | None: ...

    def mark_sent(self, alert_ids: Iterable[int], now: datetime) -> None: ...

    def mark_failed(
        self, alert_ids: Iterable[int], error: str, retry_at: datetime | None, now: datetime
    ) -> None: ...

    def retry_failed(self, channel: str | None, now: datetime) -> int: ...

    def due_notices(self, now: datetime, channel: str) -> list[Notice]: ...

    def mark_notice(
        self, notice_id: int, error: str | None, retry_at: datetime | None, now: datetime
    ) -> None: ...

    def clamp_retries(self, now: datetime, horizon: datetime) -> int: ...

    def rename_channel(self, old: str, new: str) -> int: ...


class PollStore(FeedStore, ArticleStore, Protocol):
    """What a feed poll reads and writes."""


class MonitorStore(FeedStore, ArticleStore, Outbox, Protocol):
    """Everything the daemon needs: what ``sqlite.Store`` implements."""

    path: str

    def close(self) -> None: ...
