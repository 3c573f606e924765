"""The hub side of ``executor: celery``: a poll's work sent to Celery workers (``tasks``), their
answers read back from Redis, and nothing lost when a worker or the broker is.

Every task the hub sends waits in ``_pending`` until its answer comes. The sweeper sends a task
again (with a new id; a late answer to the old one is ignored) when its worker started it and
went quiet for ``celery.task_timeout`` (killed mid-task), when no worker started it within
``celery.queue_timeout`` (a broker that lost it), and at once for every pending task when the
connection to Redis comes back (a restarted Redis may have lost its queue and our answers).
The schedule and the outbox are in the database, never only in the broker: the worst a lost
broker costs is work done twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

import redis
import redis.asyncio as aioredis

from ..config import Settings
from ..records import (
    Extracted,
    ExtractionStatus,
    FeedDone,
    FeedJob,
    QueueStats,
    StoryDone,
    StoryJob,
)
from ..stages.classify import Topic
from ..stages.story import judge_story
from ..stages.urls import redact_url
from .codec import decode, encode
from .flight import once
from .tasks import FEED_TASK, QUEUE, REDISPATCHED_KEY, STORIES_TASK, WORKER_KEY, celery_app, feed_failure

log = logging.getLogger(__name__)
T = TypeVar("T")

SWEEP_EVERY = 1.0  # seconds between looks at the pending tasks
BATCH = 16  # stories per task, at most
BATCH_WAIT = 0.02  # seconds a batch waits for more stories before it leaves
DRAIN = 500  # answers taken from the reply list per round trip, at most
MAX_SENDS = 4  # a task sent this often without an answer is given up (the story or poll fails)


class _Resend(Exception):
    """The sweeper's word to a waiting task: send it again."""


@dataclass(slots=True)
class _Pending:
    task: str
    payload: dict[str, Any]
    future: asyncio.Future[dict[str, Any]]
    sent_at: float
    started_at: float | None = None
    worker: str | None = None


class CeleryWork:
    """One per hub process; create it inside the running event loop."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.app = celery_app(settings)
        self.reply_key = f"monitor:reply:{uuid.uuid4().hex}"
        self._redis = aioredis.Redis.from_url(
            str(settings.broker), socket_timeout=5, socket_connect_timeout=5, health_check_interval=10
        )
        self._pending: dict[str, _Pending] = {}
        self._slots = asyncio.Semaphore(settings.celery.in_flight)
        self._sender = ThreadPoolExecutor(max_workers=1, thread_name_prefix="monitor-send")
        self._stories: dict[StoryJob, asyncio.Future[StoryDone]] = {}
        self._batch: list[tuple[StoryJob, asyncio.Future[dict[str, Any] | None]]] = []
        self._flushing: asyncio.TimerHandle | None = None
        self._batches: set[asyncio.Task[None]] = set()
        # Stories of one feed in flight at once: enough to fill two batches.
        self.per_feed = 2 * BATCH
        # Feeds processing stories at once: a task carries up to BATCH stories, so that many
        # feeds of one new story each fill every task slot.
        self.processing = asyncio.Semaphore(settings.celery.in_flight * BATCH)
        self._tasks: list[asyncio.Task[None]] = []  # the reader and the sweeper
        self._counting: set[asyncio.Task[None]] = set()

    # -- the Work port -------------------------------------------------------------------

    async def feed(self, job: FeedJob) -> FeedDone:
        data = await self._call(FEED_TASK, encode(job))
        if data is None:
            return feed_failure(job, f"no worker answered after {MAX_SENDS} tries")
        return decode(FeedDone, data)

    async def story(self, job: StoryJob, topics: tuple[Topic, ...]) -> StoryDone:
        """One task per distinct story at a time, even when several feeds carry it; stories go
        to the workers in batches of up to ``BATCH`` (one message and one answer for each batch,
        which is most of the hub's cost per story)."""
        if not job.url:  # nothing to fetch: classifying here is cheaper than a round trip
            return judge_story(job, Extracted(status=ExtractionStatus.NO_LINK), topics)
        return await once(self._stories, job, lambda: self._judged(job, topics))

    async def _judged(self, job: StoryJob, topics: tuple[Topic, ...]) -> StoryDone:
        data = await self._queued(job)
        if data is None:
            lost = Extracted(status=ExtractionStatus.INTERRUPTED, detail="no worker answered")
            return judge_story(job, lost, topics)
        return decode(StoryDone, data)

    async def _queued(self, job: StoryJob) -> dict[str, Any] | None:
        """Join the batch being filled; it leaves when full or ``BATCH_WAIT`` after it began."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[dict[str, Any] | None] = loop.create_future()
        self._batch.append((job, future))
        if len(self._batch) >= BATCH:
            self._flush()
        elif self._flushing is None:
            self._flushing = loop.call_later(BATCH_WAIT, self._flush)
        return await future

    def _flush(self) -> None:
        if self._flushing is not None:
            self._flushing.cancel()
            self._flushing = None
        batch, self._batch = self._batch, []
        if batch:
            task = asyncio.get_running_loop().create_task(self._send_batch(batch))
            self._batches.add(task)
            task.add_done_callback(self._batches.discard)

    async def _send_batch(self, batch: list[tuple[StoryJob, asyncio.Future[dict[str, Any] | None]]]) -> None:
        try:
            data = await self._call(STORIES_TASK, {"jobs": [encode(job) for job, _ in batch]})
        except asyncio.CancelledError:
            for _, future in batch:
                future.cancel()
            raise
        except Exception as exc:  # a bug: every story of the batch hears of it
            for _, future in batch:
                if not future.done():
                    future.set_exception(exc)
            return
        stories: list[dict[str, Any] | None] = list(data["stories"]) if data else [None] * len(batch)
        for (_, future), story in zip(batch, stories, strict=True):
            if not future.done():  # its poll was cancelled meanwhile
                future.set_result(story)

    def expect_pages(self) -> None:
        """The Celery workers extract, and run already."""

    async def aclose(self) -> None:
        if self._flushing is not None:
            self._flushing.cancel()
        for task in [*self._tasks, *self._batches]:
            task.cancel()
        await asyncio.gather(*self._tasks, *self._batches, return_exceptions=True)
        self._tasks.clear()
        self._sender.shutdown(wait=False, cancel_futures=True)
        await self._redis.aclose()

    # -- sending and receiving -----------------------------------------------------------

    async def _call(self, task: str, payload: dict[str, Any]) -> dict[str, Any] | None:
        """Send a task and wait for its answer, sending it again while the sweeper says so;
        None after ``MAX_SENDS`` sends without one."""
        self._start()
        async with self._slots:
            for _send in range(MAX_SENDS):
                task_id = uuid.uuid4().hex
                future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
                self._pending[task_id] = _Pending(task, payload, future, time.monotonic())
                try:
                    await self._send(task_id, task, payload)
                    return await future
                except _Resend:
                    continue
                finally:
                    del self._pending[task_id]
        log.error("%s: no worker answered after %d sends; given up", task, MAX_SENDS)
        return None

    async def _send(self, task_id: str, task: str, payload: dict[str, Any]) -> None:
        """Publish on the sender thread (kombu blocks); while Redis is down, keep trying: the
        task is not lost, it waits here."""
        loop = asyncio.get_running_loop()
        while True:
            try:
                await loop.run_in_executor(
                    self._sender,
                    lambda: self.app.send_task(
                        task, args=[payload, self.reply_key], task_id=task_id, queue=QUEUE, retry=False
                    ),
                )
                return
            except Exception as exc:  # kombu's OperationalError, redis' ConnectionError ...
                log.warning("cannot send %s to the broker (%s); retrying", task, exc)
                await asyncio.sleep(1.0)

    def _start(self) -> None:
        if not self._tasks:
            loop = asyncio.get_running_loop()
            self._tasks = [loop.create_task(self._read()), loop.create_task(self._sweep())]

    async def _read(self) -> None:
        """Drain our reply list (what waits is taken in one round trip); a broken connection
        means answers (and queued tasks) may be lost: everything pending is sent again once
        Redis is back."""
        broken = False
        while True:
            try:
                # One round trip: blocks until an answer is there, takes every waiting one.
                popped = await self._redis.blmpop(1, 1, self.reply_key, direction="LEFT", count=DRAIN)
            except (redis.RedisError, OSError) as exc:
                if not broken:
                    log.warning("broker %s unreachable (%s)", redact_url(str(self.settings.broker)), exc)
                broken = True
                await asyncio.sleep(0.5)
                continue
            if broken:
                broken = False
                log.warning("broker reachable again: sending the %d pending tasks again", len(self._pending))
                self._resend(list(self._pending.values()))
            for raw in popped[1] if popped else []:
                try:
                    self._answer(json.loads(raw if isinstance(raw, bytes | str) else str(raw)))
                except (ValueError, TypeError, KeyError) as exc:
                    log.error("an unreadable answer on %s ignored: %s", self.reply_key, exc)

    def _answer(self, message: dict[str, Any]) -> None:
        pending = self._pending.get(str(message.get("id")))
        if pending is None or pending.future.done():
            return  # an answer to a task sent again meanwhile: the other answer counts
        pending.worker = message.get("worker")
        if message.get("kind") == "started":
            pending.started_at = time.monotonic()
        elif message.get("kind") == "done":
            pending.future.set_result(message["result"])

    async def _sweep(self) -> None:
        celery = self.settings.celery
        while True:
            await asyncio.sleep(SWEEP_EVERY)
            now = time.monotonic()
            self._resend(
                [
                    p
                    for p in self._pending.values()
                    if (p.started_at is not None and now - p.started_at > celery.task_timeout)
                    or (p.started_at is None and now - p.sent_at > celery.queue_timeout)
                ]
            )

    def _resend(self, lost: list[_Pending]) -> None:
        for pending in lost:
            if not pending.future.done():
                pending.future.set_exception(_Resend())
                log.warning(
                    "%s task %s (worker %s) sent again",
                    pending.task,
                    "timed out" if pending.started_at is not None else "not started",
                    pending.worker or "-",
                )
        if lost:
            task = asyncio.get_running_loop().create_task(self._count(len(lost)))
            self._counting.add(task)
            task.add_done_callback(self._counting.discard)

    async def _count(self, n: int) -> None:
        with contextlib.suppress(redis.RedisError, OSError):  # a statistic
            await self._redis.incrby(REDISPATCHED_KEY, n)


def queue_stats(broker: str) -> QueueStats:
    """Read the queue's state from Redis (synchronously: for the CLI and the metrics)."""
    client = redis.Redis.from_url(broker, socket_timeout=5, socket_connect_timeout=5)
    try:
        depth = int(client.llen(QUEUE))
        workers = sum(1 for _ in client.scan_iter(match=WORKER_KEY + "*", count=500))
        redispatched = int(client.get(REDISPATCHED_KEY) or 0)
    finally:
        client.close()
    return QueueStats(depth=depth, workers=workers, redispatched=redispatched)
