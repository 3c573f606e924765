"""Composes the stages for one feed poll: fetch -> parse -> (fetch page -> extract) -> classify
-> store (articles, matches and queued alerts, with the feed's new state, in one transaction).

Network I/O runs concurrently on the event loop (bounded by ``fetch.concurrency``), extraction
in a process pool (``extract.workers``), and every database call on one dedicated thread, so a
slow disk or a reader holding a lock never stalls fetching.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import time
from collections.abc import Callable, Iterable
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any, TypeVar

from .classify import Topic, classify, load_topics
from .config import Feed, Settings, resolve_feeds
from .errors import ConfigError, MonitorError
from .extract import extract_article, warm_worker
from .fetch import Fetcher
from .notify import ChannelHandle, build_channels, channels_for, deliver_due
from .parse import parse_feed
from .records import (
    Article,
    DeliveryResult,
    Entry,
    Extracted,
    FeedState,
    FetchResult,
    PollReport,
    Verdict,
)
from .store import Store, parse_iso

log = logging.getLogger(__name__)
T = TypeVar("T")


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class Runtime:
    """Everything derived from the configuration, validated up front."""

    settings: Settings
    feeds: tuple[Feed, ...]
    topics: tuple[Topic, ...]
    channels: tuple[ChannelHandle, ...]

    @property
    def topic_labels(self) -> dict[str, str]:
        return {t.name: t.label for t in self.topics}


def prepare(settings: Settings) -> Runtime:
    """Resolve feeds (OPML), compile topics and channels; one ConfigError lists every problem."""
    problems: list[str] = []
    feeds: list[Feed] = []
    topics: tuple[Topic, ...] = ()
    channels: list[ChannelHandle] = []
    try:
        feeds = resolve_feeds(settings)
    except ConfigError as exc:
        problems += exc.problems
    try:
        topics = load_topics(settings.topics)
    except ConfigError as exc:
        problems += exc.problems
    try:
        channels = build_channels(settings.notify, [t.name for t in topics], settings.timezone)
    except ConfigError as exc:
        problems += exc.problems
    if problems:
        raise ConfigError(problems)
    return Runtime(settings=settings, feeds=tuple(feeds), topics=topics, channels=tuple(channels))


def next_poll_time(
    now: datetime, interval: float, errors: int, retry_after: float | None, max_backoff: float
) -> datetime:
    """After success: one interval. After the n-th failure in a row: interval * 2**(n-1), capped
    at ``max_backoff``, never sooner than the server's Retry-After. A failing feed is never
    dropped: it is retried at the cap for as long as it fails."""
    delay = interval if errors == 0 else min(interval * 2 ** (errors - 1), max(max_backoff, interval))
    if retry_after:
        delay = max(delay, retry_after)
    return now + timedelta(seconds=delay)


def article_from(
    entry: Entry, feed: FeedState, extracted: Extracted, now: datetime, topics: tuple[Topic, ...]
) -> Article:
    """Merge a feed entry with its extracted page (or fall back to the summary) and classify."""
    # A failed or too-short extraction is usually a paywall or cookie wall: the feed's own
    # summary is the better text whenever there is one.
    text = extracted.text if extracted.status == "ok" else (entry.summary or extracted.text)
    title = entry.title or extracted.title or ""
    return Article(
        feed_id=feed.id,
        feed_name=feed.name,
        url=entry.url,
        guid=entry.identity,
        title=title,
        summary=entry.summary,
        text=text,
        author=entry.author or extracted.author,
        language=extracted.language,
        published_at=entry.published_at or extracted.published_at,
        discovered_at=now,
        extraction_status=extracted.status,
        verdicts=classify(title, text, topics),
    )


def _extract_pool(workers: int) -> Executor:
    if workers <= 0:
        return ThreadPoolExecutor(max_workers=1, thread_name_prefix="monitor-extract")
    # forkserver: a clean child, not a fork of a process that holds threads and sockets
    return ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("forkserver"))


class Pipeline:
    """Polls feeds into the store. One per process; share it between all scheduled jobs."""

    def __init__(
        self,
        runtime: Runtime,
        store: Store,
        fetcher: Fetcher,
        *,
        clock: Callable[[], datetime] = utcnow,
        extract_executor: Executor | None = None,
    ) -> None:
        self.runtime = runtime
        self.settings = runtime.settings
        self.store = store
        self.fetcher = fetcher
        self.clock = clock
        self._db_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="monitor-db")
        self._extractor = extract_executor or _extract_pool(self.settings.extract.workers)
        self._owns_extractor = extract_executor is None
        self._network = asyncio.Semaphore(self.settings.fetch.concurrency)
        self._delivering = asyncio.Lock()
        self._warm_for: Executor | None = None
        self._warming: asyncio.Future[list[None]] | None = None
        self._in_flight: dict[str, asyncio.Future[Extracted]] = {}

    async def db(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run a Store call on the database thread."""
        return await asyncio.get_running_loop().run_in_executor(self._db_thread, partial(fn, *args, **kwargs))

    def close(self) -> None:
        """Wait for the write in progress (if any) to finish, then release the pools."""
        self._db_thread.shutdown(wait=True)
        if self._owns_extractor:
            self._extractor.shutdown(wait=False, cancel_futures=True)

    async def sync_feeds(self) -> dict[str, FeedState]:
        states = await self.db(self.store.sync_feeds, self.runtime.feeds, self.clock())
        return {s.name: s for s in states}

    async def poll_all(self, names: Iterable[str] | None = None) -> list[PollReport]:
        """Poll every configured feed (or those named) once, concurrently."""
        wanted = set(names) if names is not None else None
        await self.sync_feeds()
        feeds = [f for f in self.runtime.feeds if wanted is None or f.name in wanted]
        return list(await asyncio.gather(*(self.poll_feed(f) for f in feeds)))

    async def poll_feed(self, feed: Feed) -> PollReport:
        """Poll one feed. Never raises for a bad feed: the outcome is recorded on the feed row."""
        started = time.monotonic()
        state = await self.db(self.store.feed_state, feed.name)
        if state is None:
            state = (await self.sync_feeds())[feed.name]
        try:
            report = await self._poll(feed, state, started)
        except (asyncio.CancelledError, KeyboardInterrupt):
            raise
        except Exception as exc:  # a bug, not a bad feed: record it and keep the daemon alive
            log.exception("internal error while polling %s", feed.name)
            error = f"internal error: {type(exc).__name__}: {exc}"
            report = await self._record_failure(feed, state, None, error, None, started)
        log.info(
            "poll feed=%r status=%s new=%d flagged=%d duration=%.2fs%s",
            feed.name,
            "304" if report.not_modified else (report.status or "-"),
            report.new,
            report.flagged,
            report.duration,
            f" error={report.error!r}" if report.error else "",
        )
        return report

    async def _record_failure(
        self,
        feed: Feed,
        state: FeedState,
        status: int | None,
        error: str,
        retry_after: float | None,
        started: float,
    ) -> PollReport:
        now = self.clock()
        errors = state.consecutive_errors + 1
        schedule = self.settings.schedule
        await self.db(
            self.store.record_poll,
            state.id,
            now=now,
            status=status,
            error=error,
            next_poll_at=next_poll_time(now, feed.interval, errors, retry_after, schedule.max_backoff),
            consecutive_errors=errors,
            keep_validators=True,
        )
        return PollReport(
            feed=feed.name,
            status=status,
            new=0,
            flagged=0,
            duration=time.monotonic() - started,
            error=error,
        )

    async def _poll(self, feed: Feed, state: FeedState, started: float) -> PollReport:
        async with self._network:
            result = await self.fetcher.fetch_feed(
                state.url, etag=state.etag, last_modified=state.last_modified
            )
        if result.error is not None:
            return await self._record_failure(
                feed, state, result.status, result.error, result.retry_after, started
            )
        now = self.clock()
        schedule = self.settings.schedule
        next_at = next_poll_time(now, feed.interval, 0, None, schedule.max_backoff)
        if result.not_modified:
            await self.db(
                self.store.record_poll,
                state.id,
                now=now,
                status=304,
                error=None,
                next_poll_at=next_at,
                consecutive_errors=0,
                new_url=result.permanent_redirect,
                keep_validators=True,
            )
            return PollReport(
                feed=feed.name,
                status=304,
                new=0,
                flagged=0,
                duration=time.monotonic() - started,
                not_modified=True,
            )
        # feedparser is pure Python: a large feed must not stall the other polls on the loop.
        parsed = await asyncio.to_thread(
            parse_feed, result.content, url=result.final_url, content_type=result.content_type
        )
        if not parsed.entries and parsed.error:
            return await self._record_failure(feed, state, result.status, parsed.error, None, started)
        fresh = await self.db(self.store.unseen, state.id, parsed.entries)
        articles = await asyncio.gather(*(self._article(entry, state) for entry in fresh))
        routed = [(a, self._route(a, now)) for a in articles]
        inserted = await self.db(
            self.store.record_poll,
            state.id,
            now=now,
            status=result.status,
            error=parsed.error,
            next_poll_at=next_at,
            consecutive_errors=0,
            etag=result.etag,
            last_modified=result.last_modified,
            new_url=result.permanent_redirect,
            title=parsed.title,
            articles=routed,
        )
        flagged = sum(1 for a in articles if a.flagged)
        return PollReport(
            feed=feed.name,
            status=result.status,
            new=len(inserted),
            flagged=flagged,
            duration=time.monotonic() - started,
            error=parsed.error,
        )

    def _route(self, article: Article, now: datetime) -> list[str]:
        """Channels to alert; none for a story older than ``alerts.max_age`` (a feed's backlog)."""
        if not article.flagged:
            return []
        published = article.published_at or article.discovered_at
        if (now - published).total_seconds() > self.settings.alerts.max_age:
            return []
        return channels_for(article, self.runtime.channels)

    async def _article(self, entry: Entry, feed: FeedState) -> Article:
        extracted = await self._page(entry.url) if entry.url else Extracted(status="no link in feed entry")
        return article_from(entry, feed, extracted, self.clock(), self.runtime.topics)

    async def _page(self, url: str) -> Extracted:
        """Fetch and extract a page once, even when several feeds carry it at the same time."""
        if url in self._in_flight:
            return await asyncio.shield(self._in_flight[url])
        future: asyncio.Future[Extracted] = asyncio.get_running_loop().create_future()
        self._in_flight[url] = future
        try:
            extracted = await self._fetch_and_extract(url)
            future.set_result(extracted)
            return extracted
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # mark retrieved: waiters re-raise it, nobody else must
            raise
        finally:
            del self._in_flight[url]

    async def _fetch_and_extract(self, url: str) -> Extracted:
        async with self._network:
            page: FetchResult = await self.fetcher.fetch_page(url)
        if page.error is not None:
            return Extracted(status=f"fetch failed: {page.error}")
        loop = asyncio.get_running_loop()
        budget = self.settings.extract.timeout
        try:
            await self._warm_up()
            executor = self._extractor
            return await asyncio.wait_for(
                loop.run_in_executor(executor, extract_article, page.content, page.final_url), budget
            )
        except TimeoutError:
            self._replace_extractor(executor)
            return Extracted(status=f"extraction exceeded {budget:g}s")
        except BrokenProcessPool:
            return Extracted(status="extraction interrupted (its worker was stopped)")
        except MonitorError as exc:
            return Extracted(status=f"extraction failed: {exc}")

    async def _warm_up(self) -> None:
        """Start every worker of a new process pool (and import trafilatura there) before any
        extraction is timed: the budget bounds extraction, not process start-up."""
        executor = self._extractor
        if not isinstance(executor, ProcessPoolExecutor):
            return
        if self._warm_for is not executor:
            loop = asyncio.get_running_loop()
            self._warm_for = executor
            workers = max(self.settings.extract.workers, 1)
            self._warming = asyncio.gather(
                *(loop.run_in_executor(executor, warm_worker) for _ in range(workers))
            )
        assert self._warming is not None
        await asyncio.shield(self._warming)

    def _replace_extractor(self, executor: Executor) -> None:
        """Stop a pathological extraction: kill the pool's workers and start a fresh pool, so the
        time budget is a real bound and no worker stays busy. (A thread cannot be killed: with
        ``extract.workers: 0`` the budget only stops the waiting.)"""
        if executor is not self._extractor or not isinstance(executor, ProcessPoolExecutor):
            return
        log.warning("an extraction exceeded its budget: restarting the extraction workers")
        processes = list((getattr(executor, "_processes", None) or {}).values())
        self._extractor = _extract_pool(self.settings.extract.workers)
        executor.shutdown(wait=False, cancel_futures=True)
        for process in processes:
            process.kill()

    async def deliver(self) -> list[DeliveryResult]:
        """Deliver due alerts: store calls on the database thread, sending on the loop.

        One sweep at a time: the daemon sweeps after every poll and on a timer, and two sweeps
        reading the same due rows would send them twice."""
        async with self._delivering:
            return await self._deliver()

    async def _deliver(self) -> list[DeliveryResult]:
        return await deliver_due(
            self.store,
            self.runtime.channels,
            now=self.clock(),
            max_attempts=self.settings.alerts.max_attempts,
            burst_limit=self.settings.alerts.burst_limit,
            topic_labels=self.runtime.topic_labels,
            db=self.db,
        )


async def poll_once(
    runtime: Runtime, store: Store, names: Iterable[str] | None = None, *, fetcher: Fetcher | None = None
) -> tuple[list[PollReport], list[DeliveryResult]]:
    """One pass over the feeds (or those named), then deliver the alerts that are due."""
    async with fetcher or Fetcher(runtime.settings.fetch) as fetcher:
        pipeline = Pipeline(runtime, store, fetcher)
        try:
            reports = await pipeline.poll_all(names)
            deliveries = await pipeline.deliver() if runtime.channels else []
        finally:
            pipeline.close()
    return reports, deliveries


@dataclass(frozen=True, slots=True)
class Rescored:
    """One (article, topic) whose flag changed under the current topic definitions."""

    article_id: int
    title: str
    topic: str
    before: float | None  # score of the stored match, None if it was not flagged
    after: Verdict


@dataclass(frozen=True, slots=True)
class ReclassifyReport:
    articles: int
    newly_flagged: tuple[Rescored, ...]
    unflagged: tuple[Rescored, ...]
    rescored: int  # flagged before and after, with a new score or topic version
    alerts_queued: int


def reclassify(
    runtime: Runtime,
    store: Store,
    *,
    since: datetime | None,
    topic_names: Iterable[str] | None = None,
    alert: bool = False,
    now: datetime | None = None,
) -> ReclassifyReport:
    """Re-score stored articles with the current topics and update ``matches``.

    Alerts are queued only with ``alert=True``, and then only for newly flagged stories within
    ``alerts.max_age`` (by publication time, else discovery time).
    """
    now = now or utcnow()
    wanted = set(topic_names) if topic_names else None
    topics = tuple(t for t in runtime.topics if wanted is None or t.name in wanted)
    flagged_now: list[Rescored] = []
    unflagged: list[Rescored] = []
    rescored = queued = seen = 0
    for batch in store.articles_since(since):
        changes: list[tuple[int, Verdict]] = []
        alerts: list[tuple[int, str]] = []
        stored = store.verdicts(row["id"] for row in batch)
        for row in batch:
            seen += 1
            before = {v.topic: v for v in stored.get(row["id"], ())}
            new_flags = []
            for verdict in classify(row["title"] or "", row["text"] or "", topics):
                old = before.get(verdict.topic)
                item = Rescored(
                    article_id=row["id"],
                    title=row["title"] or "",
                    topic=verdict.topic,
                    before=old.score if old else None,
                    after=verdict,
                )
                if verdict.flagged and old is None:
                    flagged_now.append(item)
                    new_flags.append(verdict)
                elif old is not None and not verdict.flagged:
                    unflagged.append(item)
                elif old is not None and (old.score != verdict.score or old.version != verdict.version):
                    rescored += 1
                else:
                    continue
                changes.append((row["id"], verdict))
            if alert and new_flags:
                published = parse_iso(row["published_at"]) or parse_iso(row["discovered_at"]) or now
                if (now - published).total_seconds() <= runtime.settings.alerts.max_age:
                    for channel in runtime.channels:
                        if channel.routes(new_flags):
                            alerts.append((row["id"], channel.name))
        if changes or alerts:
            store.update_matches(changes, alerts, now)
            queued += len(alerts)
    return ReclassifyReport(
        articles=seen,
        newly_flagged=tuple(flagged_now),
        unflagged=tuple(unflagged),
        rescored=rescored,
        alerts_queued=queued,
    )
