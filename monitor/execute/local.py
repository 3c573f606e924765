"""Runs the service's work in this process: the single-process default, nothing to install.

Network I/O runs concurrently on the event loop (bounded by ``fetch.concurrency``), feed parsing
on a worker thread, extraction in a process pool (``extract.workers``), and every database call
on one dedicated thread, so a slow disk or a reader holding a lock never stalls fetching.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import time
from collections.abc import Callable
from concurrent.futures import Executor as PoolExecutor
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import replace
from functools import partial
from typing import Any, TypeVar

from ..config import ExtractSettings, Settings
from ..errors import MonitorError
from ..fetch import Fetcher
from ..records import (
    PAGE_FIELDS,
    Extracted,
    ExtractionStatus,
    FeedDone,
    FeedJob,
    PageField,
    ParsedFeed,
    StoryDone,
    StoryJob,
)
from ..stages.classify import Topic
from ..stages.parse import parse_feed
from ..stages.story import judge_story
from .flight import once
from .memory import Trimmer
from .ports import Executor
from .worker import exit_with_parent, extract_page, warm_worker

log = logging.getLogger(__name__)
T = TypeVar("T")


def _extract_pool(settings: ExtractSettings) -> PoolExecutor:
    if settings.workers <= 0:
        return ThreadPoolExecutor(max_workers=1, thread_name_prefix="monitor-extract")
    # forkserver: a clean child, not a fork of a process that holds threads and sockets. The
    # server imports extraction alone, warm (``preload``); workers fork from it and share that.
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload([f"{__package__}.preload"])
    # Not the executor's own max_tasks_per_child: on Python 3.11 a worker that exits at its limit
    # can leave the pool without workers (CPython gh-115634). LocalExecutor recycles whole pools.
    return ProcessPoolExecutor(max_workers=settings.workers, mp_context=context, initializer=exit_with_parent)


class _NoWorkers(MonitorError):
    """The extraction workers cannot be started (``LocalExecutor._cannot_start``)."""


def _stop_forkserver() -> None:
    """Stop multiprocessing's forkserver, and the warm extraction it holds (~70 MB); the next
    pool starts a new one. Python has no public call for this: ``ForkServer._stop`` is the one
    its own tests use (3.8 to 3.13). Without it the server stays, as before."""
    from multiprocessing import forkserver

    stop = getattr(getattr(forkserver, "_forkserver", None), "_stop", None)
    if callable(stop):
        stop()


def _workers(executor: PoolExecutor) -> list[Any]:
    """A process pool's live worker processes (none for a thread pool, or once shut down)."""
    return list((getattr(executor, "_processes", None) or {}).values())


def _release(executor: ProcessPoolExecutor) -> None:
    """Stop an idle pool's workers, then the server they were forked from (the server waits for
    every process forked from it). The pool has no page, but a page whose caller was cancelled
    may still run in a worker: workers are killed, not waited for. Never raises: a server that
    cannot be stopped stays, and the next pool uses it."""
    try:
        processes = _workers(executor)
        executor.shutdown(wait=False, cancel_futures=True)
        for process in processes:
            process.kill()
        for process in processes:  # reaped by the server: stopped first, it would leave zombies
            process.join(5)
        executor.shutdown(wait=True)
        _stop_forkserver()
    except Exception:  # the daemon must go on extracting whatever happened here
        log.warning("stopping the idle extraction workers failed", exc_info=True)


class LocalExecutor:
    """One per process; create it inside the running event loop."""

    RETRY_START = 60.0  # seconds between attempts to start workers that could not start

    def __init__(self, settings: Settings, *, extract_pool: PoolExecutor | None = None) -> None:
        self.settings = settings
        self._db_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="monitor-db")
        self._extractor = extract_pool or _extract_pool(settings.extract)
        self._owns_extractor = extract_pool is None
        self._network = asyncio.Semaphore(settings.fetch.concurrency)
        # Two pages per worker: one extracting, one ready, so that a worker never waits for this
        # process to hand it the next page (a busy event loop and the GIL made that a quarter of
        # the workers' time, issue 17). A page that waits behind another gets that page's budget
        # as well as its own (``_extract_on``).
        self._slots = max(settings.extract.workers, 1)
        self._extracting = asyncio.Semaphore(2 * self._slots)
        self._on_pool = 0  # pages handed to the pool and not yet back
        self._warm_for: PoolExecutor | None = None
        self._warming: asyncio.Future[None] | None = None
        self._extracted = 0  # pages the current pool has taken
        self._inside = 0  # pages in extract()
        self._drained = asyncio.Event()  # set whenever the last page on the pool comes back
        self._idle: asyncio.TimerHandle | None = None  # stops the workers when it fires
        self._released: asyncio.Future[None] | None = None  # an idle pool and server stopping
        # The pages fetched for extraction leave this process's heap full of holes too.
        self._trimmer = Trimmer(every=25)
        self._start_failure: str | None = None  # why the last pool's workers could not start
        self._here: ThreadPoolExecutor | None = None  # extraction while they cannot
        self._here_turn = asyncio.Lock()
        self._retry_start_at = 0.0  # monotonic time: not before, after a failed start
        self._warm_task: asyncio.Task[None] | None = None  # workers started ahead of pages (warm)
        self._closed = False

    async def db(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run a store call on the database thread."""
        return await asyncio.get_running_loop().run_in_executor(self._db_thread, partial(fn, *args, **kwargs))

    def network(self) -> asyncio.Semaphore:
        return self._network

    async def parse(self, content: bytes, *, url: str, content_type: str | None) -> ParsedFeed:
        # feedparser is pure Python: a large feed must not stall the other polls on the loop.
        return await asyncio.to_thread(parse_feed, content, url=url, content_type=content_type)

    def warm(self) -> None:
        """Start the workers now, in the background, unless they run or are starting: a poll
        that finds new stories calls this before fetching their pages, so that the workers'
        start (most of a second: the forkserver imports extraction, then each worker warms up)
        overlaps the fetching instead of holding back the first page. Workers already running
        get the idle timeout anew, so that they are not stopped just before the pages come."""
        if self._closed or self._warm_task is not None:
            return
        if not isinstance(self._extractor, ProcessPoolExecutor) or self._no_workers():
            return
        if self._warm_for is self._extractor:
            if self._idle is not None:
                self._stop_when_idle()
            return
        if self._idle is not None:
            self._idle.cancel()
            self._idle = None
        self._warm_task = asyncio.get_running_loop().create_task(self._warm_in_background())

    async def _warm_in_background(self) -> None:
        try:
            await self._warm_up()
        except Exception:  # the first page meets the same failure, and deals with it (_extract)
            log.debug("starting the extraction workers ahead of the pages failed", exc_info=True)
        finally:
            self._warm_task = None
        self._stop_when_idle()  # no page may come (their fetches failed): stop them in time

    async def extract(
        self, content: bytes, url: str, *, metadata: frozenset[PageField] = PAGE_FIELDS
    ) -> Extracted:
        if self._idle is not None:
            self._idle.cancel()
            self._idle = None
        self._inside += 1
        try:
            return await self._extract(content, url, metadata)
        finally:
            self._inside -= 1
            self._trimmer.tick()
            self._stop_when_idle()

    async def _extract(self, content: bytes, url: str, metadata: frozenset[PageField]) -> Extracted:
        for _attempt in range(2):
            async with self._extracting:
                # Warm the pool this page will run on: a pool replaced while the page waited for
                # its turn starts cold, and start-up must not count against the budget.
                await self._recycle_when_drained()
                try:
                    await self._warm_up()
                except _NoWorkers:
                    return await self._extract_here(content, url, metadata)
                except BrokenProcessPool:  # a worker died starting (a new pool is up), or closed
                    if self._closed:
                        break
                    continue
                executor = self._extractor
                self._extracted += 1
                waits = self._on_pool >= self._slots  # every worker has a page: this one queues
                self._on_pool += 1
                try:
                    return await self._extract_on(executor, content, url, metadata, waits=waits)
                except BrokenProcessPool:
                    if self._closed:
                        break
                    if self._extractor is executor:  # a worker died (the OOM killer, a crash)
                        log.warning("an extraction worker died: restarting the extraction workers")
                        self._replace_extractor(executor, reason=None)
                finally:
                    self._on_pool -= 1
                    if not self._on_pool:
                        self._drained.set()
                # Another page's extraction ran over its budget, or a worker died, and the pool
                # went with this page in it: this page did nothing wrong, so it gets one go on the
                # new pool.
        return Extracted(status=ExtractionStatus.INTERRUPTED)

    async def _extract_on(
        self, executor: PoolExecutor, content: bytes, url: str, metadata: frozenset[PageField], *, waits: bool
    ) -> Extracted:
        """Extract on ``executor`` within the budget. A page that ``waits`` behind another may
        wait at most that page's budget (it is cut there), so it is allowed both: it is never
        cut short for waiting, and a pathological page is stopped within twice the budget."""
        loop = asyncio.get_running_loop()
        budget = self.settings.extract.timeout
        limit = budget * (2 if waits else 1)
        try:
            extraction = loop.run_in_executor(executor, extract_page, content, url, metadata)
            return await asyncio.wait_for(extraction, limit)
        except TimeoutError:
            self._replace_extractor(executor)
            return Extracted(status=ExtractionStatus.TIMED_OUT, detail=f"{budget:g}s")
        except MonitorError as exc:
            return Extracted(status=ExtractionStatus.EXTRACTION_FAILED, detail=str(exc))

    def _recycle_due(self) -> bool:
        return (
            isinstance(self._extractor, ProcessPoolExecutor)
            and self._extracted >= self.settings.extract.max_tasks_per_child * self._slots
        )

    async def _recycle_when_drained(self) -> None:
        """Replace the pool after ``extract.max_tasks_per_child`` pages per worker, so that no
        worker grows for months (lxml's and the allocator's leftovers). The pages already on the
        old pool finish first (a fraction of a second): two pools side by side would hold twice
        the workers' memory while they overlap."""
        while self._recycle_due() and self._on_pool:
            self._drained.clear()
            await self._drained.wait()
        self._recycle_if_due()

    def _recycle_if_due(self) -> None:
        executor, extract = self._extractor, self.settings.extract
        if not self._recycle_due():
            return
        assert isinstance(executor, ProcessPoolExecutor)
        log.info("extraction workers recycled after %d pages", self._extracted)
        self._extracted = 0
        self._extractor = _extract_pool(extract)
        executor.shutdown(wait=False)

    def _stop_when_idle(self) -> None:
        """Once no page is being extracted, stop the workers and their forkserver
        ``extract.idle_timeout`` later unless another page comes first: a daemon between polls
        gives their memory back. The next page starts them again (about a second)."""
        idle = self.settings.extract.idle_timeout
        if self._inside or not idle or self._closed or not self._owns_extractor:
            return
        if not isinstance(self._extractor, ProcessPoolExecutor):
            return
        if self._idle is not None:
            self._idle.cancel()
        self._idle = asyncio.get_running_loop().call_later(idle, self._stop_idle_workers)

    def _stop_idle_workers(self) -> None:
        self._idle = None
        executor = self._extractor
        if self._inside or self._warm_task is not None or not isinstance(executor, ProcessPoolExecutor):
            return
        if not _workers(executor):
            return  # no worker started: nothing to give back
        log.debug("extraction workers stopped after %gs without a page", self.settings.extract.idle_timeout)
        self._extracted = 0
        self._extractor = _extract_pool(self.settings.extract)  # starts its workers on the next page
        self._released = asyncio.get_running_loop().run_in_executor(None, _release, executor)

    def close(self) -> None:
        """Wait for the write in progress (if any) to finish, then release the pools."""
        self._closed = True
        if self._idle is not None:
            self._idle.cancel()
            self._idle = None
        if self._warm_task is not None:
            self._warm_task.cancel()
        self._db_thread.shutdown(wait=True)
        if self._owns_extractor:
            self._extractor.shutdown(wait=False, cancel_futures=True)
        if self._here is not None:
            self._here.shutdown(wait=False, cancel_futures=True)

    async def _warm_up(self) -> None:
        """Start every worker of a new process pool (and import trafilatura there) before any
        extraction is timed: the budget bounds extraction, not process start-up. Every page
        waiting for the same pool shares its start."""
        if self._released is not None:  # the last idle pool's server must be gone first
            await asyncio.shield(self._released)  # never raises (_release)
        executor = self._extractor
        if not isinstance(executor, ProcessPoolExecutor):
            return
        if self._no_workers():
            raise _NoWorkers
        if self._warm_for is not executor:
            self._warm_for = executor
            self._warming = asyncio.get_running_loop().create_task(self._start(executor))
        assert self._warming is not None
        try:
            await asyncio.shield(self._warming)
        except BrokenProcessPool:
            # A worker died starting. Replaced here, where the pool is known, and only if it is
            # still the current one: each page waiting on it meets the error.
            if not self._closed:
                self._replace_extractor(executor, reason="an extraction worker died starting")
            raise

    async def _start(self, executor: ProcessPoolExecutor) -> None:
        """Start ``executor``'s workers and warm them up. Starting a worker waits for the
        forkserver, which first imports extraction (0.4 s): done on a thread, not the loop."""
        workers = max(self.settings.extract.workers, 1)
        try:
            started = await asyncio.to_thread(lambda: [executor.submit(warm_worker) for _ in range(workers)])
        except BrokenProcessPool:
            raise
        except Exception as exc:
            if self._closed or executor is not self._extractor:  # shut down meanwhile: not a failure
                raise BrokenProcessPool("the pool was stopped while starting") from exc
            self._cannot_start(executor, exc)
            raise _NoWorkers from exc
        await asyncio.gather(*map(asyncio.wrap_future, started))
        if self._start_failure is not None:
            log.warning("extraction workers start again: extracting in them")
            self._start_failure = None

    def _no_workers(self) -> bool:
        """Whether the last attempt to start the workers failed less than ``RETRY_START`` ago."""
        return self._start_failure is not None and time.monotonic() < self._retry_start_at

    def _cannot_start(self, executor: ProcessPoolExecutor, exc: Exception) -> None:
        """A pool whose workers cannot be started: the kernel refused a process (a pids limit
        such as systemd's TasksMax, no memory), or this is a daemonic process, which
        multiprocessing forbids to have children. Every page failed with an internal error,
        for good: the pool kept the failed start. Now the pool is replaced, pages are extracted
        on a thread of this process (as with ``extract.workers: 0``; trafilatura is then loaded
        here), and the workers are tried again ``RETRY_START`` later (each attempt may start a
        forkserver, 0.4 CPU-s and 70 MB). Said once per cause, not at every page."""
        failure = f"{type(exc).__name__}: {exc}"
        if failure != self._start_failure:
            log.warning(
                "extraction workers cannot be started (%s): extracting in this process, trying "
                "them again every %gs",
                failure,
                self.RETRY_START,
            )
        self._start_failure = failure
        self._retry_start_at = time.monotonic() + self.RETRY_START
        self._extracted = 0
        self._extractor = _extract_pool(self.settings.extract)
        executor.shutdown(wait=False, cancel_futures=True)

    async def _extract_here(self, content: bytes, url: str, metadata: frozenset[PageField]) -> Extracted:
        """Extract on a thread of this process, one page at a time: a page's budget runs from
        when the thread takes it, and stops the waiting, not the thread."""
        if self._here is None:
            self._here = ThreadPoolExecutor(max_workers=1, thread_name_prefix="monitor-extract")
        async with self._here_turn:
            return await self._extract_on(self._here, content, url, metadata, waits=False)

    def _replace_extractor(
        self, executor: PoolExecutor, reason: str | None = "an extraction exceeded its budget"
    ) -> None:
        """Stop a pathological extraction: kill the pool's workers and start a fresh pool, so the
        time budget is a real bound and no worker stays busy (also used for a broken pool).
        (A thread cannot be killed: with ``extract.workers: 0`` the budget only stops the
        waiting.)"""
        if not isinstance(executor, ProcessPoolExecutor):
            return
        processes = _workers(executor)
        if executor is self._extractor:  # not one already replaced (recycled, or killed before)
            if reason:
                log.warning("%s: restarting the extraction workers", reason)
            self._extracted = 0
            self._extractor = _extract_pool(self.settings.extract)
        # Not cancel_futures: a cancelled future would cancel the poll awaiting it. Pages queued
        # in the old pool fail with BrokenProcessPool instead, and extract() retries them.
        executor.shutdown(wait=False)
        for process in processes:
            process.kill()


def pages_in_flight(settings: Settings) -> int:
    """Pages fetched or being fetched and not yet extracted, at most: the network's share
    (``fetch.concurrency``, so downloads keep their parallelism over slow links) plus two per
    extraction worker (one extracting, one ready), and no more waiting in memory."""
    return settings.fetch.concurrency + 2 * max(settings.extract.workers, 1)


class LocalWork:
    """A poll's work in this process: the fetcher on the event loop, parsing and extraction
    through the executor, classification on the loop."""

    def __init__(self, settings: Settings, fetcher: Fetcher, executor: Executor) -> None:
        self.fetcher = fetcher
        self.executor = executor
        self.per_feed = settings.fetch.per_feed_concurrency
        in_flight = pages_in_flight(settings)
        self.processing = asyncio.Semaphore(in_flight)  # as many feeds as pages: see ``Work``
        self._in_flight: dict[tuple[str, frozenset[PageField]], asyncio.Future[Extracted]] = {}
        self._pages = asyncio.Semaphore(in_flight)

    async def feed(self, job: FeedJob) -> FeedDone:
        async with self.executor.network():
            result = await self.fetcher.fetch_feed(
                job.url, etag=job.etag, last_modified=job.last_modified, trusted=job.trusted
            )
        if result.error is not None or result.not_modified:
            return FeedDone(fetched=result)
        parsed = await self.executor.parse(
            result.content, url=result.final_url, content_type=result.content_type
        )
        return FeedDone(fetched=replace(result, content=b""), parsed=parsed)

    async def story(self, job: StoryJob, topics: tuple[Topic, ...]) -> StoryDone:
        if job.url:
            # Fetched and extracted once, even when several feeds carry it at once (more only when
            # their entries lack different metadata: one an author, another a date).
            url, metadata = job.url, job.page_metadata
            extracted = await once(
                self._in_flight, (url, metadata), lambda: self._fetch_and_extract(url, metadata)
            )
        else:
            extracted = Extracted(status=ExtractionStatus.NO_LINK)
        return judge_story(job, extracted, topics)

    def expect_pages(self) -> None:
        self.executor.warm()

    async def aclose(self) -> None:
        """The fetcher and the executor belong to the service, which closes them."""

    async def _fetch_and_extract(self, url: str, metadata: frozenset[PageField]) -> Extracted:
        # Back-pressure: a page holds its slot from fetch to extracted text, so memory is set by
        # the pages in flight, not by the size of a poll (2,000 fetched pages waiting for two
        # extraction workers).
        async with self._pages:
            async with self.executor.network():
                page = await self.fetcher.fetch_page(url)
            if page.error is not None:
                return Extracted(status=ExtractionStatus.FETCH_FAILED, detail=page.error)
            return await self.executor.extract(page.content, page.final_url, metadata=metadata)
