"""One feed poll: fetch -> parse -> (fetch page -> extract) -> classify -> route. Finished
stories are committed in batches as their pages finish; the poll ends with a ``PollOutcome``
(the last stories and the feed's new state, validators included) committed in one transaction.

Orchestration only: where each step runs (threads, processes, a task queue) is the executor's
business, and storage is reached through the ``PollStore`` port.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import os
import random
import socket
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from ..clock import Clock, utcnow
from ..execute.ports import Executor, Work
from ..records import (
    Article,
    Entry,
    Feed,
    FeedErrorKind,
    FeedJob,
    FeedState,
    NewArticle,
    PageField,
    PollOutcome,
    PollReport,
    StoryDone,
    StoryJob,
    Validators,
)
from ..stages.story import judge_story, topics_key
from ..stages.urls import query_base, volatile_params, without_params
from ..store.ports import PollStore
from .health import assess, notice_text
from .metrics import count_poll
from .policy import alert_channels, next_poll_time, poll_jitter

if TYPE_CHECKING:
    from .runtime import Runtime

log = logging.getLogger(__name__)

# How long a poll holds its feed (``Store.claim_feed``) against a second hub or a restarted one:
# longer than any poll takes; a hub killed mid-poll delays that feed's next poll by at most this.
LEASE = timedelta(minutes=15)
COMMIT_EVERY = 10  # stories per intermediate commit of a poll
DEFERRED_RETRY = 60.0  # seconds until a feed with entries left over is polled again


@dataclass(slots=True)
class _Progress:
    """What a poll has stored so far, for its report."""

    inserted: int = 0
    flagged: int = 0

    def add(self, inserted: list[int], articles: Iterable[NewArticle]) -> None:
        self.inserted += len(inserted)
        self.flagged += sum(1 for new in articles if new.article.flagged)


def _without_params(entry: Entry, keys: frozenset[str]) -> Entry:
    """The entry with its link's volatile parameters dropped (and its identity, if the link is it)."""
    if not entry.url:
        return entry
    url = without_params(entry.url, keys)
    return replace(entry, url=url, identity=url if entry.identity == entry.url else entry.identity)


def page_fields(entry: Entry) -> frozenset[PageField]:
    """What a story will take from its page's metadata: what its entry lacks (``article_from``
    and ``judge_story`` prefer the entry's)."""
    given = {PageField.TITLE: entry.title, PageField.AUTHOR: entry.author, PageField.DATE: entry.published_at}
    return frozenset(field for field, value in given.items() if not value)


def article_from(entry: Entry, feed: FeedState, story: StoryDone, now: datetime) -> Article:
    """A feed entry merged with its judged page: the record the store keeps."""
    extracted = story.extracted
    return Article(
        feed_id=feed.id,
        feed_name=feed.name,
        url=entry.url,
        guid=entry.identity,
        title=story.title,
        summary=entry.summary,
        text=story.text,
        author=entry.author or extracted.author,
        language=story.language,
        published_at=entry.published_at or extracted.published_at,
        discovered_at=now,
        extraction_status=extracted.status,
        extraction_detail=extracted.detail,
        verdicts=story.verdicts,
    )


def hub_id() -> str:
    """Who holds a lease: this host and process, and a random part (pids are reused)."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def owner_gone(owner: str, me: str) -> bool:
    """Whether the hub named ``owner`` is known to be dead: it ran on this host and its process
    is gone, or it had this process's pid (a container restarted: its hub is pid 1 again).
    A hub on another host is never known dead: its leases expire instead."""
    host, _, rest = owner.partition(":")
    pid_text = rest.partition(":")[0]
    if host != socket.gethostname() or not pid_text.isdigit() or owner == me:
        return False
    pid = int(pid_text)
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # alive, another user's
        return False
    return False


class Poller:
    """Polls feeds into the store. One per process; shared by every scheduled job."""

    def __init__(
        self,
        runtime: Runtime,
        store: PollStore,
        work: Work,
        executor: Executor,
        *,
        clock: Clock = utcnow,
        owner: str | None = None,
    ) -> None:
        self.runtime = runtime
        self.owner = owner or hub_id()
        self.settings = runtime.settings
        self.store = store
        self.work = work
        self.executor = executor
        self.clock = clock
        self._topics_key = topics_key(runtime.topics)

    async def sync_feeds(self) -> dict[str, FeedState]:
        states = await self.executor.db(self.store.sync_feeds, self.runtime.feeds, self.clock())
        return {s.name: s for s in states}

    async def feed_state(self, name: str) -> FeedState | None:
        return await self.executor.db(self.store.feed_state, name)

    async def poll_all(
        self, names: Iterable[str] | None = None, on_report: Callable[[PollReport], None] | None = None
    ) -> list[PollReport]:
        """Poll every configured feed (or those named) once, concurrently; ``on_report`` hears
        of each feed as it finishes (a progress bar). After ``Service.start``, which synced the
        feeds table (a feed added since is synced by its own poll)."""
        wanted = set(names) if names is not None else None
        feeds = [f for f in self.runtime.feeds if wanted is None or f.name in wanted]
        # Leased in one transaction: one transaction per feed, queued on the writer ahead of the
        # first feed's lookup of its new stories, held those back by 2 s in a first poll of 200.
        claimed = await self.executor.db(self._claim_all, [f.name for f in feeds], self.clock())

        async def one(feed: Feed) -> PollReport:
            report = await self.poll_feed(feed, claimed=claimed.get(feed.name))
            if on_report is not None:
                on_report(report)
            return report

        return list(await asyncio.gather(*(one(f) for f in feeds)))

    async def poll_feed(
        self, feed: Feed, *, due_by: datetime | None = None, claimed: FeedState | None = None
    ) -> PollReport:
        """Poll one feed (only if it is due by ``due_by``, when given; ``claimed``: its state,
        already leased). Never raises for a bad feed: the outcome is recorded on the feed row. A
        feed another hub is polling (its lease is held) is left alone: the report says
        ``leased``."""
        started = time.monotonic()
        now = self.clock()
        if claimed is not None and due_by is not None:
            raise ValueError("a feed already claimed has no due time to check")
        state = (
            claimed if claimed is not None else await self.executor.db(self._claim, feed.name, now, due_by)
        )
        if state is None and await self.feed_state(feed.name) is None:  # added since the last sync
            await self.sync_feeds()
            state = await self.executor.db(self._claim, feed.name, now, due_by)
        if state is None:
            log.info("feed %r is being polled elsewhere, or not due: left alone", feed.name)
            return PollReport(feed=feed.name, status=None, new=0, flagged=0, duration=0.0, leased=True)
        progress = _Progress()
        try:
            outcome = self._with_health(await self._poll(feed, state, progress), state)
            inserted = await self.executor.db(self.store.commit_poll, outcome)
        except (asyncio.CancelledError, KeyboardInterrupt):
            raise
        except Exception as exc:  # a bug, not a bad feed: record it and keep the daemon alive
            log.exception("internal error while polling %s", feed.name)
            error = f"internal error: {type(exc).__name__}: {exc}"
            outcome = self._failure(feed, state, None, error, FeedErrorKind.INTERNAL, None)
            outcome = self._with_health(outcome, state)
            inserted = await self.executor.db(self.store.commit_poll, outcome)
        progress.add(inserted, outcome.articles)
        report = PollReport(
            feed=feed.name,
            status=outcome.status,
            new=progress.inserted,
            flagged=progress.flagged,
            duration=time.monotonic() - started,
            error=outcome.error,
            error_kind=outcome.error_kind,
            not_modified=outcome.status == 304,
            skipped=outcome.skipped,
            deferred=outcome.deferred,
        )
        count_poll(report)
        if outcome.notice is not None:
            log.warning("%s", outcome.notice_text)
        # A failed poll is worth a look (WARNING); an ill-formed feed that still gave entries is not.
        log.log(
            logging.WARNING if outcome.consecutive_errors else logging.INFO,
            "poll feed=%r status=%s new=%d flagged=%d duration=%.2fs%s%s%s",
            feed.name,
            "304" if report.not_modified else (report.status or "-"),
            report.new,
            report.flagged,
            report.duration,
            f" skipped={report.skipped} (no title, link or text)" if report.skipped else "",
            f" deferred={report.deferred} (fetch.max_new_entries)" if report.deferred else "",
            f" error={report.error!r}" if report.error else "",
        )
        return report

    def _claim(self, name: str, now: datetime, due_by: datetime | None) -> FeedState | None:
        """On the database thread: lease the feed and read its state, in one hop (this runs for
        every poll, most of them a 304)."""
        if not self.store.claim_feed(name, self.owner, now, now + LEASE, due_by):
            return None
        return self.store.feed_state(name)

    def _claim_all(self, names: list[str], now: datetime) -> dict[str, FeedState]:
        """``_claim`` for many feeds, in one transaction: the states of those leased."""
        states = (
            self.store.feed_state(name)
            for name in self.store.claim_feeds(names, self.owner, now, now + LEASE)
        )
        return {state.name: state for state in states if state is not None}

    def _jitter(self, feed: Feed) -> float:
        """This poll's share of ``schedule.jitter``, drawn once and stored in ``next_poll_at``, so
        the time the database shows is the time the feed is polled."""
        return random.uniform(0, poll_jitter(feed.interval, self.settings.schedule.jitter))

    def _with_health(self, outcome: PollOutcome, state: FeedState) -> PollOutcome:
        """The outcome with the feed's health after it, and a notice for the ops channels."""
        health, notice = assess(
            state.health,
            ok=outcome.consecutive_errors == 0,
            new_entries=outcome.new_entries,
            now=outcome.polled_at,
            settings=self.settings.health,
        )
        if notice is None:
            return replace(outcome, health=health)
        return replace(
            outcome,
            health=health,
            notice=notice,
            notice_channels=tuple(c.name for c in self.runtime.channels if c.ops),
            notice_text=notice_text(state.name, notice, health, outcome.error, outcome.polled_at),
        )

    def _failure(
        self,
        feed: Feed,
        state: FeedState,
        status: int | None,
        error: str,
        kind: FeedErrorKind | None,
        retry_after: float | None,
    ) -> PollOutcome:
        now = self.clock()
        errors = state.consecutive_errors + 1
        backoff = self.settings.schedule.max_backoff
        return PollOutcome(
            feed_id=state.id,
            polled_at=now,
            status=status,
            error=error,
            error_kind=kind,
            next_poll_at=next_poll_time(now, feed.interval, errors, retry_after, backoff, self._jitter(feed)),
            consecutive_errors=errors,
        )

    async def _poll(self, feed: Feed, state: FeedState, progress: _Progress) -> PollOutcome:
        done = await self.work.feed(
            FeedJob(
                url=state.url,
                etag=state.etag,
                last_modified=state.last_modified,
                # A URL learnt from a 301 is the server's word, not the user's: guard it.
                trusted=state.url == feed.url,
            )
        )
        result = done.fetched
        if result.error is not None:
            return self._failure(
                feed, state, result.status, result.error, result.error_kind, result.retry_after
            )
        now = self.clock()
        next_at = next_poll_time(
            now, feed.interval, 0, None, self.settings.schedule.max_backoff, self._jitter(feed)
        )
        if result.not_modified:
            return PollOutcome(
                feed_id=state.id,
                polled_at=now,
                status=304,
                next_poll_at=next_at,
                consecutive_errors=0,
                new_url=result.permanent_redirect,
            )
        parsed = done.parsed
        if parsed is None:  # a worker's answer without entries for a 200: cannot happen
            return self._failure(feed, state, result.status, "no parse result", FeedErrorKind.INTERNAL, None)
        if not parsed.entries and parsed.error:
            return self._failure(feed, state, result.status, parsed.error, parsed.error_kind, None)
        volatile = state.volatile_params
        entries = [_without_params(e, volatile) for e in parsed.entries] if volatile else list(parsed.entries)
        fresh = await self.executor.db(self.store.unseen, state.id, entries)
        fresh, learnt = await self._resends(state, fresh)
        cap = self.settings.fetch.max_new_entries
        taken, deferred = fresh[:cap], len(fresh) - min(len(fresh), cap)
        if deferred:
            # Keep the old validators, so the next poll gets the whole feed again, and come back
            # soon for the rest (feeds list newest first: the newest are taken now).
            next_at = min(next_at, now + timedelta(seconds=DEFERRED_RETRY))
        remaining: tuple[NewArticle, ...] = ()
        if any(entry.url for entry in taken):
            self.work.expect_pages()
        if taken:
            # A feed holds its finished stories until it commits them: without a bound on the
            # feeds processing at once (``Work.processing``), a first poll of 200 feeds held some
            # 1,200 stories' text (issue 17). A feed with nothing new does not wait its turn.
            async with self.work.processing:
                remaining = await self._process(taken, state, now, progress)
        return PollOutcome(
            feed_id=state.id,
            polled_at=now,
            status=result.status,
            error=parsed.error,
            error_kind=parsed.error_kind,
            next_poll_at=next_at,
            consecutive_errors=0,
            validators=None if deferred else Validators(etag=result.etag, last_modified=result.last_modified),
            new_url=result.permanent_redirect,
            title=parsed.title,
            skipped=parsed.skipped,
            deferred=deferred,
            articles=remaining,
            volatile_params=learnt if learnt != volatile else None,
            new_entries=len(fresh),
        )

    async def _resends(self, state: FeedState, fresh: list[Entry]) -> tuple[list[Entry], frozenset[str]]:
        """Entries that look new only because a link parameter changed since the last poll (a
        session id): recognised by the same page and headline as a stored story, dropped, and
        the parameter remembered for this feed, so its links are compared without it."""
        volatile = state.volatile_params
        # Links with a query, or (once parameters are known to be volatile) links that lost theirs.
        linked = [e for e in fresh if e.url and ("?" in e.url or volatile)]
        if not linked:
            return fresh, volatile
        bases = sorted({query_base(e.url) for e in linked if e.url})
        stored = await self.executor.db(self.store.same_pages, state.id, bases)
        candidates = {id(e) for e in linked}
        kept, learnt = [], set(volatile)
        for entry in fresh:
            keys = (
                volatile_params(entry.url, entry.title, stored, learnt)
                if id(entry) in candidates and entry.url
                else None
            )
            if keys is None:
                kept.append(entry)
            else:
                learnt |= keys
        if learnt != volatile:
            log.info("feed %r: link parameters %s change between polls; ignored", state.name, sorted(learnt))
        return kept, frozenset(learnt)

    async def _process(
        self, entries: list[Entry], state: FeedState, now: datetime, progress: _Progress
    ) -> tuple[NewArticle, ...]:
        """Fetch, extract and classify the new entries concurrently, committing every
        ``COMMIT_EVERY`` finished stories as they come: a slow page holds back neither the other
        feeds nor this feed's finished stories. Returns the last, uncommitted ones, which go in
        the poll's final transaction with the feed's new state."""
        done: asyncio.Queue[NewArticle] = asyncio.Queue()
        max_age, max_alerts = self.settings.alerts.max_age, self.settings.alerts.max_per_poll
        slots = asyncio.Semaphore(self.work.per_feed)
        alerted = held = 0

        async def one(entry: Entry) -> None:
            nonlocal alerted, held
            article = await self._article(entry, state, slots)
            channels = alert_channels(article, self.runtime.channels, now, max_age)
            if channels and alerted >= max_alerts:  # a flood from one feed: stored, not alerted
                channels, held = (), held + 1
            elif channels:
                alerted += 1
            await done.put(NewArticle(article=article, channels=channels))

        batch: list[NewArticle] = []
        async with asyncio.TaskGroup() as group:  # cancelling the poll cancels every page
            for entry in entries:
                group.create_task(one(entry))
            for _ in entries:
                batch.append(await done.get())
                if len(batch) >= COMMIT_EVERY:
                    inserted = await self.executor.db(self.store.commit_articles, batch, now)
                    progress.add(inserted, batch)
                    batch = []
        if held:
            log.warning(
                "feed %r: %d more flagged stories in one poll than alerts.max_per_poll (%d): stored, "
                "not alerted",
                state.name,
                held,
                max_alerts,
            )
        return tuple(batch)

    async def _article(self, entry: Entry, feed: FeedState, slots: asyncio.Semaphore) -> Article:
        job = StoryJob(
            url=entry.url,
            title=entry.title,
            summary=entry.summary,
            page_metadata=page_fields(entry),
        )
        topics = self.runtime.topics
        async with slots:  # this feed's share of the network
            story = await self.work.story(job, topics)
        if story.topics != self._topics_key:
            # A worker running another configuration's topics: judge the text with ours, so
            # what is stored never depends on which worker took the page.
            _warn_topics(story.topics, self._topics_key)
            story = judge_story(job, story.extracted, topics)
        return article_from(entry, feed, story, self.clock())


@functools.cache
def _warn_topics(theirs: str, ours: str) -> None:
    log.warning(
        "a worker classified with other topics (%s, here %s): its stories are classified again "
        "here; give the workers the hub's configuration",
        theirs or "none",
        ours,
    )
