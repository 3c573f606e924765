"""Immutable records passed between stages, and the statuses they carry.

Stages take and return these, never loose dicts. Statuses are enums whose values are what the
database stores (``articles.extraction_status``, ``feeds.last_error_kind``, ``alerts.status``);
the human-readable specifics go in a separate detail field, so a status can be grouped, counted
and exported as a label.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum


class ExtractionStatus(StrEnum):
    """Why an article has (or lacks) its page's main text; ``articles.extraction_status``."""

    OK = "ok"
    NO_LINK = "no_link"  # the feed entry has no usable link
    FETCH_FAILED = "fetch_failed"  # detail: the fetch error
    EMPTY_PAGE = "empty_page"
    NO_MAIN_TEXT = "no_main_text"
    TOO_SHORT = "too_short"  # detail: "95 chars" (a teaser, paywall or cookie wall)
    EXTRACTION_FAILED = "extraction_failed"  # detail: the exception type
    TIMED_OUT = "timed_out"  # detail: the budget, "30s"
    INTERRUPTED = "interrupted"  # its worker was stopped (shutdown)


class PageField(StrEnum):
    """Metadata a story may take from its article's page, where its feed entry lacks it."""

    TITLE = "title"
    AUTHOR = "author"
    DATE = "date"


PAGE_FIELDS = frozenset(PageField)  # an entry that gives none of them


class FeedErrorKind(StrEnum):
    """What went wrong with a feed's last poll; ``feeds.last_error_kind``."""

    HTTP_STATUS = "http_status"  # the server answered with an error status
    TIMEOUT = "timeout"
    TOO_LARGE = "too_large"
    BLOCKED = "blocked"  # a refused address or scheme
    CONNECTION = "connection"  # DNS, refused connection, TLS, protocol error
    REDIRECTS = "redirects"  # too many redirects
    INVALID_URL = "invalid_url"
    NOT_A_FEED = "not_a_feed"
    ILL_FORMED = "ill_formed"  # feedparser's bozo; the feed may still have yielded entries
    ENTITIES_REMOVED = "entities_removed"  # DOCTYPE entity declarations were refused
    INTERNAL = "internal"  # a bug in monitor, logged with its traceback


class AlertStatus(StrEnum):
    """An outbox row's delivery state; ``alerts.status``."""

    PENDING = "pending"
    SENT = "sent"
    FAILED = "failed"


class AlertKind(StrEnum):
    """What an outbox row announces; ``alerts.kind``."""

    STORY = "story"  # a flagged story (alerts.per: story)
    EVENT = "event"  # the first story of a new event (alerts.per: event)
    UPDATE = "update"  # a later story of an event that first reports something material


class FeedNotice(StrEnum):
    """A notice about a feed's health sent to the ``ops: true`` channels (``notices.kind``;
    ``feeds.notice`` holds the standing one, failing or silent, until it recovers)."""

    FAILING = "failing"  # every poll has failed for longer than health.feed_failing_after
    SILENT = "silent"  # no new story for far longer than the feed's usual rhythm
    RECOVERED = "recovered"  # a failing feed polled again, or a silent one published again


@dataclass(frozen=True, slots=True, kw_only=True)
class FeedHealth:
    """What a feed's polls say about its health over time (``feeds`` columns of the same names)."""

    last_ok_at: datetime | None = None  # the last poll that worked (a 304 included)
    failing_since: datetime | None = None  # the first failure of the current run of failures
    last_new_at: datetime | None = None  # the last poll that found new entries
    rhythm: float | None = None  # usual seconds between polls that find new entries (moving average)
    notice: FeedNotice | None = None  # the standing notice (failing or silent), None when healthy


@dataclass(frozen=True, slots=True, kw_only=True)
class Feed:
    """A configured feed after OPML expansion and defaults: what gets polled."""

    name: str
    url: str
    interval: float


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
    volatile_params: frozenset[str] = frozenset()  # link parameters seen changing between polls
    health: FeedHealth = field(default_factory=FeedHealth)


@dataclass(frozen=True, slots=True, kw_only=True)
class FetchResult:
    """Outcome of one HTTP request. A failure is data: ``error`` and ``error_kind`` are set."""

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
    error_kind: FeedErrorKind | None = None
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
    """Entries recovered from a feed's bytes; ``error`` (and its kind) for a bozo or unusable feed."""

    title: str | None
    entries: tuple[Entry, ...]
    error: str | None = None
    error_kind: FeedErrorKind | None = None
    skipped: int = 0  # items with no title, link or text: nothing to store


@dataclass(frozen=True, slots=True, kw_only=True)
class Extracted:
    """Main text and metadata of an article page; ``status`` says why text is missing."""

    status: ExtractionStatus
    detail: str | None = None
    text: str = ""
    title: str | None = None
    author: str | None = None
    published_at: datetime | None = None
    language: str | None = None

    @property
    def description(self) -> str:
        """``status: detail`` for a log line or a terminal."""
        return f"{self.status}: {self.detail}" if self.detail else str(self.status)


@dataclass(frozen=True, slots=True, kw_only=True)
class FeedJob:
    """What fetching and parsing one feed needs: its URL and conditional-GET validators (they
    travel with the work, so a worker on another machine needs no database)."""

    url: str
    etag: str | None = None
    last_modified: str | None = None
    trusted: bool = True  # a URL the user configured (a 301's target is not)


@dataclass(frozen=True, slots=True, kw_only=True)
class FeedDone:
    """A feed fetched and, when there was something to parse, parsed. ``fetched.content`` is
    dropped once parsed: the entries are what the hub needs."""

    fetched: FetchResult
    parsed: ParsedFeed | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class StoryJob:
    """What turning one feed entry into a classified story needs, besides the topics."""

    url: str | None
    title: str
    summary: str
    # The page's metadata wanted: what the entry lacks (reading all three is about a fifth of an
    # extraction's CPU; most feeds give a title and a date, many no author).
    page_metadata: frozenset[PageField] = PAGE_FIELDS


@dataclass(frozen=True, slots=True, kw_only=True)
class Verdict:
    """A topic's judgement of one article."""

    topic: str
    score: float
    flagged: bool
    evidence: tuple[str, ...] = ()
    version: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class StoryDone:
    """A story's page extracted and its text classified. ``topics`` names the topic versions
    that judged it (``Topic.version``), so a hub can tell a worker with another configuration."""

    extracted: Extracted
    title: str
    text: str
    language: str | None
    verdicts: tuple[Verdict, ...]
    topics: str


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
    extraction_status: ExtractionStatus
    extraction_detail: str | None = None
    verdicts: tuple[Verdict, ...] = field(default=())

    @property
    def flagged(self) -> tuple[Verdict, ...]:
        return tuple(v for v in self.verdicts if v.flagged)


@dataclass(frozen=True, slots=True, kw_only=True)
class NewArticle:
    """An article a poll found, with the channels it is to be alerted on (possibly none)."""

    article: Article
    channels: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class Validators:
    """A feed response's conditional-GET validators."""

    etag: str | None = None
    last_modified: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class PollOutcome:
    """Everything one feed poll changes, committed by the store in one transaction.

    ``validators`` None keeps the stored ones (a failure or a 304 must not drop them: the next
    poll would fetch and process the whole feed again)."""

    feed_id: int
    polled_at: datetime
    status: int | None
    next_poll_at: datetime
    consecutive_errors: int
    error: str | None = None
    error_kind: FeedErrorKind | None = None
    validators: Validators | None = None
    new_url: str | None = None
    title: str | None = None
    articles: tuple[NewArticle, ...] = ()
    skipped: int = 0  # items that could not be stored (no title, link or text)
    deferred: int = 0  # new entries left for the next poll (fetch.max_new_entries)
    volatile_params: frozenset[str] | None = None  # newly learnt set; None: unchanged
    new_entries: int = 0  # entries the feed listed that were not stored before
    health: FeedHealth | None = None  # the feed's health after this poll; None: unchanged
    notice: FeedNotice | None = None  # a notice this poll gives rise to, queued for notice_channels
    notice_channels: tuple[str, ...] = ()
    notice_text: str = ""


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
    kind: AlertKind = AlertKind.STORY
    event_id: int | None = None
    event_articles: int = 0  # stories of the event so far (for an update: its outlets, sources)
    event_outlets: int = 0
    news: tuple[str, ...] = ()  # for an update: what this story reports first
    facts: dict[str, object] = field(default_factory=dict)  # its event's facts, fused so far


@dataclass(frozen=True, slots=True, kw_only=True)
class StoryToGroup:
    """A flagged story, just stored, that grouping places in an event."""

    article_id: int
    topics: tuple[str, ...]  # flagged topics, best first
    title: str
    text: str
    language: str | None
    time: datetime  # when it was published (or found, if not dated or dated in the future)
    source: str  # the outlet: the feed's name


@dataclass(frozen=True, slots=True, kw_only=True)
class GroupedStory:
    """A story already in an event, as grouping reloads it."""

    story: StoryToGroup
    event_id: int
    topic: str


@dataclass(frozen=True, slots=True, kw_only=True)
class EventDecision:
    """Where grouping put a story: ``event_id`` None for a new event of ``topic``. ``news``: what
    the story reports that the event's stories had not (a missile class, a number)."""

    article_id: int
    topic: str
    event_id: int | None
    duplicate_of: int | None = None
    score: float = 0.0
    news: tuple[str, ...] = ()
    anchors: dict[str, list[str]] = field(default_factory=dict)  # what the story names, for review


@dataclass(frozen=True, slots=True, kw_only=True)
class RegroupReport:
    """What ``monitor regroup`` changed."""

    stories: int  # stories placed again
    events_before: int  # events they were in
    events_after: int  # events they are in now


@dataclass(frozen=True, slots=True, kw_only=True)
class EventSummary:
    """One row of ``monitor events``."""

    id: int
    topic: str
    first_seen: datetime | None
    last_seen: datetime | None
    title: str
    articles: int
    outlets: int
    sources: tuple[str, ...] = ()
    anchors: dict[str, list[str]] = field(default_factory=dict)
    facts: dict[str, object] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, kw_only=True)
class Notice:
    """A queued notice about a feed's health for one ops channel (``notices`` table)."""

    id: int
    feed: str
    kind: FeedNotice
    channel: str
    message: str
    attempts: int = 0
    created_at: datetime | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class AlertListing:
    """One outbox row for review (``monitor alerts``): the channel's name, never its URL."""

    id: int
    created_at: str
    channel: str
    status: AlertStatus
    attempts: int
    sent_at: str | None
    next_attempt_at: str | None
    last_error: str | None
    title: str | None
    url: str | None
    article_id: int = 0
    kind: AlertKind = AlertKind.STORY
    event: int | None = None
    topics: dict[str, float] = field(default_factory=dict)  # topic -> score of the story
    due_at: str | None = None  # a pending digest alert: when its digest goes out


@dataclass(frozen=True, slots=True, kw_only=True)
class StoredArticle:
    """An article as read back for re-scoring."""

    id: int
    title: str
    text: str
    url: str | None
    published_at: datetime | None
    discovered_at: datetime | None
    feed_name: str
    language: str | None = None


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
    error_kind: FeedErrorKind | None = None
    not_modified: bool = False
    skipped: int = 0
    deferred: int = 0
    leased: bool = False  # not polled: another hub's poll of this feed holds its lease


@dataclass(frozen=True, slots=True, kw_only=True)
class Label:
    """An analyst's verdict on one article for one topic, with the text it was given on."""

    article_id: int
    topic: str
    label: bool
    title: str
    text: str
    language: str | None
    source: str  # the feed's URL host, for grouped cross-validation
    labelled_at: datetime
    note: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Health:
    """What ``monitor status``, ``/healthz`` and the metrics report."""

    feeds: int
    feeds_failing: int  # their last poll failed
    feeds_noticed: dict[str, int]  # standing notices: failing / silent -> feeds
    last_poll_at: str | None
    last_ok_at: str | None  # the last successful poll of any feed
    alerts: dict[str, int]  # status -> count
    notices: dict[str, int]  # status -> count
    oldest_pending_alert: str | None
    healthy: bool
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class QueueStats:
    """The broker of ``executor: celery`` as ``monitor status`` and the metrics show it."""

    depth: int  # tasks waiting for a worker
    workers: int  # workers that answered a task in the last five minutes
    redispatched: int  # tasks a hub sent again (a worker or the broker lost them) since Redis started
