"""The long-running daemon: scheduling and signals only. APScheduler 3 drives one job per feed
on the asyncio loop; the work itself is the service's.

The database is the source of truth for when a feed is next due (``feeds.next_poll_at``,
which includes backoff): on start every feed is scheduled at its stored time, and after
each poll the job is moved to the time the poll recorded. A restart, or another worker
reading the same table, picks up where the last one left off.
"""

from __future__ import annotations

import asyncio
import logging
import random
import signal
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from functools import partial

from apscheduler.executors.asyncio import AsyncIOExecutor
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.interval import IntervalTrigger

from .clock import utcnow
from .errors import ConfigError, ServiceError
from .records import Feed, FeedState
from .service import Runtime, Service
from .service.metrics import START_DELAY, HealthRead, MetricsServer, QueueRead, count_deliveries
from .service.policy import poll_jitter
from .store.ports import MonitorStore

log = logging.getLogger(__name__)

DELIVERY_INTERVAL = 10.0  # seconds between outbox sweeps
STARTUP_SPREAD = 10.0  # seconds over which overdue feeds are spread at start
SHUTDOWN_GRACE = 5.0
LEASED_RECHECK = 60.0  # seconds until a feed another hub was polling is looked at again
# Settings a reload cannot change in a running daemon (the store, fetcher, executor and
# metrics server were built from them): logged, and kept until the next restart.
RESTART_KEYS = (
    "database",
    "fetch",
    "extract",
    "events",
    "metrics_port",
    "metrics_host",
    "executor",
    "broker",
    "celery",
)


class Daemon:
    def __init__(
        self,
        runtime: Runtime,
        store: MonitorStore,
        *,
        delivery_interval: float = DELIVERY_INTERVAL,
        health: HealthRead | None = None,
        reload: Callable[[], Runtime] | None = None,
    ) -> None:
        self.runtime = runtime
        self.store = store
        self.health = health  # what /healthz and the metrics' gauges read (metrics_port)
        self._reload_config = reload  # SIGHUP: the configuration again (raises ConfigError)
        self.delivery_interval = delivery_interval
        self._stop = asyncio.Event()
        self._scheduler: AsyncIOScheduler | None = None
        self._service: Service | None = None
        self._sweeps: set[asyncio.Task[None]] = set()
        self._reloading = asyncio.Lock()
        self._due: dict[str, datetime] = {}  # when each feed's job is meant to fire

    def stop(self) -> None:
        self._stop.set()

    async def _poll_job(self, feed: Feed) -> None:
        assert self._service is not None and self._scheduler is not None
        poller = self._service.poller
        due = self._due.pop(feed.name, None)
        if due is not None:  # how late the scheduler fired this job
            START_DELAY.observe(max((utcnow() - due).total_seconds(), 0.0))
        state = await poller.feed_state(feed.name)
        now = utcnow()
        if state and state.next_poll_at and state.next_poll_at > now + timedelta(seconds=self._slack(feed)):
            self._reschedule(feed, state.next_poll_at)  # backing off, or polled by another worker
            return
        report = await poller.poll_feed(feed, due_by=now + timedelta(seconds=self._slack(feed)))
        state = await poller.feed_state(feed.name)
        if report.leased:  # another hub is polling it: look again once it should be done
            soon = utcnow() + timedelta(seconds=min(feed.interval, LEASED_RECHECK))
            self._reschedule(feed, max(soon, state.next_poll_at or soon) if state else soon)
        elif state and state.next_poll_at:
            self._reschedule(feed, state.next_poll_at)
        self._deliver_soon()

    def _deliver_soon(self) -> None:
        """Sweep the outbox in the background: a poll never waits for a chat service."""
        if self._stop.is_set() or not self.runtime.channels:
            return
        task = asyncio.get_running_loop().create_task(self._deliver())
        self._sweeps.add(task)
        task.add_done_callback(self._sweeps.discard)

    def _jitter(self, feed: Feed) -> float:
        return poll_jitter(feed.interval, self.runtime.settings.schedule.jitter)

    def _slack(self, feed: Feed) -> float:
        """How early a job may fire and still poll: its own jitter, plus a second."""
        return self._jitter(feed) + 1.0

    def _reschedule(self, feed: Feed, when: datetime) -> None:
        """Fire the feed's job at ``when``: its stored next poll, which already holds its jitter."""
        assert self._scheduler is not None
        if self._stop.is_set():
            return
        job = self._scheduler.get_job(feed.name)
        if job is not None:
            job.modify(next_run_time=when)
            self._due[feed.name] = when

    async def _deliver(self) -> None:
        assert self._service is not None
        count_deliveries(await self._service.deliverer.sweep())

    async def run(self) -> None:
        """Run until stop() or SIGTERM/SIGINT; then cancel polls in flight and close cleanly."""
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.stop)
        loop.add_signal_handler(signal.SIGHUP, self._reload_soon)
        metrics = self._metrics_server()
        async with Service(self.runtime, self.store) as service:
            self._service = service
            scheduler = AsyncIOScheduler(
                event_loop=loop,
                timezone=UTC,
                executors={"default": AsyncIOExecutor()},
                job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
            )
            self._scheduler = scheduler
            try:
                states = await service.start()
                now = utcnow()
                for feed in self.runtime.feeds:
                    self._schedule(feed, states[feed.name], now)
                scheduler.add_job(
                    self._deliver,
                    IntervalTrigger(seconds=self.delivery_interval, timezone=UTC),
                    id="deliver",
                    next_run_time=now,
                )
                scheduler.start()
                log.info(
                    "monitor running: %d feeds, %d topics, %d channels, database %s",
                    len(self.runtime.feeds),
                    len(self.runtime.topics),
                    len(self.runtime.channels),
                    self.store.path,
                )
                await self._stop.wait()
                log.info("stopping: cancelling polls in flight")
            finally:
                scheduler.shutdown(wait=False)  # cancels running job tasks
                await _drain(SHUTDOWN_GRACE)
                await service.release()
                service.executor.close()  # waits for a transaction in progress: never half-written
                for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
                    loop.remove_signal_handler(sig)
                if metrics is not None:
                    metrics.stop()
        log.info("monitor stopped")

    def _schedule(self, feed: Feed, state: FeedState, now: datetime) -> None:
        """One job per feed, first run at its stored next poll; feeds already due (a first start,
        a restart after downtime) are spread over a few seconds."""
        assert self._scheduler is not None
        first = state.next_poll_at
        if first is None or first <= now:
            first = now + timedelta(seconds=random.uniform(0, min(STARTUP_SPREAD, feed.interval)))
        self._scheduler.add_job(
            self._poll_job,
            self._trigger(feed),
            args=[feed],
            id=feed.name,
            name=f"poll {feed.name}",
            next_run_time=first,
        )
        self._due[feed.name] = first

    def _trigger(self, feed: Feed) -> IntervalTrigger:
        return IntervalTrigger(seconds=feed.interval, jitter=self._jitter(feed), timezone=UTC)

    def _reload_soon(self) -> None:
        """SIGHUP: reload the configuration in a task (a signal handler must not wait)."""
        if self._stop.is_set():
            return
        task = asyncio.get_running_loop().create_task(self._reload())
        self._sweeps.add(task)
        task.add_done_callback(self._sweeps.discard)

    async def _reload(self) -> None:
        """Feeds, topics, channels, alert and schedule settings from the file again, without a
        restart: polls and deliveries in flight finish as they began, nothing queued is lost,
        and a configuration with problems is refused whole (the running one stays)."""
        if self._reload_config is None or self._service is None or self._scheduler is None:
            log.warning("SIGHUP: no configuration file to reload")
            return
        async with self._reloading:  # two quick SIGHUPs: one reload after the other
            await self._apply_reload(self._reload_config, self._service, self._scheduler)

    async def _apply_reload(
        self, reload: Callable[[], Runtime], service: Service, scheduler: AsyncIOScheduler
    ) -> None:
        try:
            runtime = reload()
        except ConfigError as exc:
            log.error("reload refused, the running configuration stays: %s", "; ".join(exc.problems))
            return
        later = [
            key
            for key in RESTART_KEYS
            if getattr(runtime.settings, key) != getattr(self.runtime.settings, key)
        ]
        if later:
            log.warning("reload: changes to %s take effect at the next restart", ", ".join(later))
            runtime = replace(
                runtime,
                settings=runtime.settings.model_copy(
                    update={k: getattr(self.runtime.settings, k) for k in later}
                ),
            )
        before = {f.name: f for f in self.runtime.feeds}
        jitter = runtime.settings.schedule.jitter != self.runtime.settings.schedule.jitter
        service.reconfigure(runtime)
        self.runtime = runtime
        states = await service.poller.sync_feeds()
        now = utcnow()
        wanted = {f.name: f for f in runtime.feeds}
        for name in before.keys() - wanted.keys():
            if scheduler.get_job(name) is not None:
                scheduler.remove_job(name)
                self._due.pop(name, None)
        for feed in runtime.feeds:
            job = scheduler.get_job(feed.name)
            if job is None:
                self._schedule(feed, states[feed.name], now)
            elif before.get(feed.name) != feed or jitter:
                job.modify(args=[feed], trigger=self._trigger(feed))
        log.info(
            "configuration reloaded: %d feeds (%d added, %d removed), %d topics, %d channels",
            len(wanted),
            len(wanted.keys() - before.keys()),
            len(before.keys() - wanted.keys()),
            len(runtime.topics),
            len(runtime.channels),
        )

    def _metrics_server(self) -> MetricsServer | None:
        """Prometheus /metrics and /healthz when ``metrics_port`` is set; a port in use is a
        clear error at start, not a daemon running blind."""
        settings = self.runtime.settings
        if settings.metrics_port is None or self.health is None:
            return None
        queue: QueueRead | None = None
        if settings.executor == "celery" and settings.broker:
            from .execute.remote import queue_stats

            queue = partial(queue_stats, settings.broker)
        try:
            server = MetricsServer(self.health, settings.metrics_host, settings.metrics_port, queue).start()
        except OSError as exc:
            raise ServiceError(
                f"cannot serve metrics on {settings.metrics_host}:{settings.metrics_port} "
                f"(metrics_port): {exc.strerror or exc}"
            ) from None
        log.info("metrics on http://%s:%d/metrics and /healthz", settings.metrics_host, server.port)
        return server


async def _drain(grace: float) -> None:
    """Let cancelled job tasks unwind (they only await network and the db thread)."""
    current = asyncio.current_task()
    pending = [t for t in asyncio.all_tasks() if t is not current and not t.done()]
    for task in pending:
        task.cancel()
    if pending:
        await asyncio.wait(pending, timeout=grace)
