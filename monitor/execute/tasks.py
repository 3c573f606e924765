"""The worker side of ``executor: celery``: the Celery app and its two tasks, ``monitor.feed``
(conditional GET and parse) and ``monitor.stories`` (fetch a batch of pages concurrently,
extract each within ``extract.timeout``, classify them).

Tasks are pure work on records, JSON in and out (``codec``). They never open the database, so
a task run twice (a broker redelivering it) changes nothing: the hub, the only writer, takes
the first answer and ignores the other. Each task answers on the Redis list its hub named
(``reply``): a ``started`` message when it begins (the hub times a task from then, not from
its wait in the queue) and a ``done`` message with the record.

Reliability settings, and why: ``acks_late`` with ``reject_on_worker_lost`` (a worker killed
mid-task leaves its message to another worker), prefetch 1 (a slow page holds back one
message, not a batch), a hard time limit and recycled children (no worker stuck or growing for
months). A task that keeps killing its worker (a page that crashes the parser) is answered as
failed on its third start instead of being redelivered for ever.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import socket
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import replace
from typing import Any
from urllib.parse import urlsplit

import redis
from celery import Celery, Task
from celery.exceptions import SoftTimeLimitExceeded

from ..config import Settings
from ..fetch import Fetcher
from ..records import (
    PAGE_FIELDS,
    Extracted,
    ExtractionStatus,
    FeedDone,
    FeedErrorKind,
    FeedJob,
    FetchResult,
    PageField,
    StoryJob,
)
from ..stages.classify import Topic
from ..stages.extract import extract_article  # noqa: F401  # loaded once, before any task
from ..stages.parse import parse_feed
from ..stages.story import judge_story
from .codec import decode, encode
from .worker import extract_page

log = logging.getLogger(__name__)

QUEUE = "monitor"  # the Redis list Celery keeps the tasks in (its depth is the backlog)
FEED_TASK = "monitor.feed"
STORIES_TASK = "monitor.stories"  # a batch of stories (``remote.BATCH``)
BATCH_MAX = 64  # stories one task may carry: its time limit is set for this many
REPLY_TTL = 3600  # seconds a reply list outlives its hub's silence
MAX_STARTS = 3  # a task that killed its worker this often is answered as failed
WORKER_KEY = "monitor:worker:"  # + worker name: set by each task, expires after WORKER_TTL
WORKER_TTL = 300
REDISPATCHED_KEY = "monitor:redispatched"  # tasks the hubs sent again (lost or timed out)
# Politeness across every worker: a sorted set per host of the fetches in progress, scored by
# start time; entries older than the fetch timeout are a killed worker's and are dropped.
_HOST_SLOT = """
local now = redis.call('TIME')
local t = tonumber(now[1]) + tonumber(now[2]) / 1e6
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', t - tonumber(ARGV[1]))
if redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[2]) then
  redis.call('ZADD', KEYS[1], t, ARGV[3])
  redis.call('EXPIRE', KEYS[1], math.ceil(tonumber(ARGV[1])))
  return 1
end
return 0
"""


def time_limits(settings: Settings, stories: int = 8) -> tuple[float, float]:
    """(soft, hard) seconds for one task of ``stories`` stories: their fetches (concurrent, each
    bounded by ``fetch.timeout``, with a wait for a per-host slot) and their extractions (each
    bounded by ``extract.timeout``). The soft limit answers the task as timed out, the hard one
    kills the worker process."""
    soft = 2 * settings.fetch.timeout + stories * settings.extract.timeout + 5.0
    return soft, soft + 15.0


def feed_failure(job: FeedJob, error: str) -> FeedDone:
    """A feed's task that could not be done, as the poll records it (an internal error)."""
    failed = FetchResult(
        url=job.url, final_url=job.url, status=None, error=error, error_kind=FeedErrorKind.INTERNAL
    )
    return FeedDone(fetched=failed)


def celery_app(settings: Settings) -> Celery:
    """The Celery app, configured for ``settings.broker``; the hub only sends with it."""
    soft, hard = time_limits(settings, 1)  # a feed: its fetch and its parse
    app = Celery("monitor", broker=settings.broker, set_as_current=False)
    app.conf.update(
        task_serializer="json",
        accept_content=["json"],
        task_ignore_result=True,
        task_default_queue=QUEUE,
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        task_soft_time_limit=soft,
        task_time_limit=hard,
        worker_prefetch_multiplier=1,
        worker_max_tasks_per_child=settings.celery.max_tasks_per_child,
        worker_hijack_root_logger=False,
        worker_redirect_stdouts=False,
        broker_connection_retry_on_startup=True,
        broker_connection_max_retries=None,  # a Redis restart is waited out, not fatal
        # An unacknowledged message (its worker vanished) goes back to the queue after this.
        broker_transport_options={"visibility_timeout": int(hard * 2 + 60)},
    )
    return app


class _Process:
    """What one worker process keeps between tasks: an event loop, a fetcher with its
    connection pool, and a Redis client. Built lazily after the fork, never shared."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.pid = os.getpid()
        self.loop = asyncio.new_event_loop()
        self.fetcher = Fetcher(settings.fetch)
        self.redis = redis.Redis.from_url(str(settings.broker), socket_timeout=10, socket_connect_timeout=5)
        self.slot = self.redis.register_script(_HOST_SLOT)

    def close(self) -> None:
        try:
            self.loop.run_until_complete(self.fetcher.aclose())
        finally:
            self.loop.close()

    @asynccontextmanager
    async def host_slot(self, url: str) -> AsyncIterator[None]:
        """Hold one of ``celery.per_host`` fetch slots of ``url``'s host across all workers.
        Without Redis there is no slot to take: the fetch goes ahead (its answer may be lost
        anyway, and the hub sends the task again)."""
        host = (urlsplit(url).hostname or "").lower()
        key, token = f"monitor:host:{host}", uuid.uuid4().hex
        ttl, limit = self.settings.fetch.timeout + 5.0, self.settings.celery.per_host
        taken = False
        try:
            while not (taken := bool(self.slot(keys=[key], args=[ttl, limit, token]))):
                await asyncio.sleep(0.05)
        except redis.RedisError as exc:
            log.warning("no per-host slot for %s (%s): fetching anyway", host, exc)
        try:
            yield
        finally:
            if taken:
                with contextlib.suppress(redis.RedisError):  # else it expires
                    self.redis.zrem(key, token)

    async def feed(self, job: FeedJob) -> FeedDone:
        async with self.host_slot(job.url):
            result = await self.fetcher.fetch_feed(
                job.url, etag=job.etag, last_modified=job.last_modified, trusted=job.trusted
            )
        if result.error is not None or result.not_modified:
            return FeedDone(fetched=replace(result, content=b""))
        parsed = parse_feed(result.content, url=result.final_url, content_type=result.content_type)
        return FeedDone(fetched=replace(result, content=b""), parsed=parsed)

    async def fetch(self, url: str | None) -> FetchResult | Extracted:
        """A page's bytes, or the story's outcome when there are none."""
        if not url:
            return Extracted(status=ExtractionStatus.NO_LINK)
        async with self.host_slot(url):
            page = await self.fetcher.fetch_page(url)
        if page.error is not None:
            return Extracted(status=ExtractionStatus.FETCH_FAILED, detail=page.error)
        return page

    def extract(self, page: FetchResult, metadata: frozenset[PageField] = PAGE_FIELDS) -> Extracted:
        """``extract_article`` within ``extract.timeout``, as the local executor bounds it: an
        alarm interrupts the extraction (tasks run on the worker process's main thread). Run as
        an extraction worker runs it (``extract_page``), handing freed memory back."""
        budget = self.settings.extract.timeout
        with _alarm(budget):
            try:
                return extract_page(page.content, page.final_url, metadata)
            except _OverBudget:
                return Extracted(status=ExtractionStatus.TIMED_OUT, detail=f"{budget:g}s")

    def reply(self, key: str, message: dict[str, Any]) -> None:
        worker = message["worker"]
        pipe = self.redis.pipeline()
        pipe.rpush(key, json.dumps(message))
        pipe.expire(key, REPLY_TTL)
        pipe.set(WORKER_KEY + worker, "1", ex=WORKER_TTL)
        pipe.execute()


class _OverBudget(BaseException):
    """Raised by the alarm inside an extraction (not an Exception: the extractor's own
    ``except Exception`` must not swallow it)."""


@contextlib.contextmanager
def _alarm(seconds: float) -> Iterator[None]:
    def expire(_signum: int, _frame: object) -> None:
        raise _OverBudget

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


_PROCESS: _Process | None = None


def _process(settings: Settings) -> _Process:
    global _PROCESS
    if _PROCESS is None or _PROCESS.pid != os.getpid():
        _PROCESS = _Process(settings)
    return _PROCESS


def _forget_process() -> None:
    """After a soft time limit interrupted the event loop: start the next task afresh."""
    global _PROCESS
    process, _PROCESS = _PROCESS, None
    if process is not None:
        try:
            process.close()
        except Exception:  # a loop interrupted mid-run may not close cleanly; it is dropped
            log.debug("worker state dropped", exc_info=True)


def register_tasks(app: Celery, settings: Settings, topics: tuple[Topic, ...]) -> None:
    """The two tasks, for ``monitor worker``: they judge stories with this process's topics
    (the hub checks that they are its own)."""
    name = f"monitor@{socket.gethostname()}:{os.getpid()}"

    def run(
        task: Task,
        reply: str,
        work: Callable[[_Process], dict[str, Any]],
        failed: Callable[[str], dict[str, Any]],
    ) -> None:
        """Announce the start, do the work, answer: with the work's result, or with ``failed``
        and the reason (a task that keeps killing its worker, a time limit, a bug), so the hub
        never waits for an answer that will not come."""
        process = _process(settings)
        task_id = str(task.request.id)
        starts = _starts(process, task_id)
        process.reply(reply, {"id": task_id, "kind": "started", "worker": name})
        try:
            if starts > MAX_STARTS:
                result = failed(f"stopped its worker {starts - 1} times (killed or over its time limit)")
            else:
                result = work(process)
        except SoftTimeLimitExceeded:
            _forget_process()
            process = _process(settings)
            result = failed("over the task's time limit")
        except Exception as exc:
            log.exception("task %s failed", task_id)
            result = failed(f"worker error: {type(exc).__name__}: {exc}")
        process.reply(reply, {"id": task_id, "kind": "done", "worker": name, "result": result})

    def feed_task(task: Task, payload: dict[str, Any], reply: str) -> None:
        job = decode(FeedJob, payload)

        def failed(reason: str) -> dict[str, Any]:
            return encode(feed_failure(job, f"the feed's task {reason}"))

        run(task, reply, lambda p: encode(p.loop.run_until_complete(p.feed(job))), failed)

    def stories_task(task: Task, payload: dict[str, Any], reply: str) -> None:
        jobs = [decode(StoryJob, job) for job in payload["jobs"]][:BATCH_MAX]

        async def fetch_all(p: _Process) -> list[FetchResult | Extracted]:
            return list(await asyncio.gather(*(p.fetch(job.url) for job in jobs)))

        def work(p: _Process) -> dict[str, Any]:
            pages = p.loop.run_until_complete(fetch_all(p))
            stories = []
            for job, page in zip(jobs, pages, strict=True):
                extracted = page if isinstance(page, Extracted) else p.extract(page, job.page_metadata)
                stories.append(encode(judge_story(job, extracted, topics)))
            return {"stories": stories}

        def failed(reason: str) -> dict[str, Any]:
            lost = Extracted(status=ExtractionStatus.INTERRUPTED, detail=reason)
            return {"stories": [encode(judge_story(job, lost, topics)) for job in jobs]}

        run(task, reply, work, failed)

    app.task(name=FEED_TASK, bind=True)(feed_task)
    soft, hard = time_limits(settings, BATCH_MAX)
    app.task(name=STORIES_TASK, bind=True, soft_time_limit=soft, time_limit=hard)(stories_task)


def _starts(process: _Process, task_id: str) -> int:
    """How many times this task has started (a redelivery after its worker died counts)."""
    try:
        key = f"monitor:starts:{task_id}"
        pipe = process.redis.pipeline()
        pipe.incr(key)
        pipe.expire(key, REPLY_TTL)
        return int(pipe.execute()[0])
    except redis.RedisError:
        return 1
