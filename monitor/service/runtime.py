"""The composition root: configuration turned into compiled parts, and the parts wired together.

``prepare`` validates everything derived from ``config.yaml`` up front (feeds, topics,
channels) and reports every problem at once. ``Service`` owns what one process needs to poll
and deliver: the fetcher, the executor, the poller and the deliverer.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from types import TracebackType
from typing import Any

from pydantic import ValidationError

from ..clock import Clock, utcnow
from ..config import (
    Channel,
    Settings,
    database_problems,
    load_settings,
    models_dir,
    raw_sections,
    resolve_feeds,
)
from ..errors import ConfigError
from ..execute import Executor, LocalExecutor, LocalWork, Work
from ..fetch import MAX_RETRY_AFTER, Fetcher
from ..notify import ChannelHandle, Deliverer, build_channels
from ..notify.deliver import MAX_RETRY, DbRunner, run_directly
from ..records import Feed, FeedState
from ..stages.classify import Topic, load_topics
from ..stages.group.cluster import Weights
from ..store.ports import MonitorStore, Outbox
from .grouping import trained_weights
from .poll import Poller, hub_id, owner_gone

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Runtime:
    """Everything derived from the configuration, validated up front."""

    settings: Settings
    feeds: tuple[Feed, ...]
    topics: tuple[Topic, ...]
    channels: tuple[ChannelHandle, ...]
    weights: Weights | None = None  # event grouping's, from the models folder (None: the shipped ones)

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
        topics = load_topics(settings.topics, models_dir(settings))
    except ConfigError as exc:
        problems += exc.problems
    try:
        channels = build_channels(
            settings.notify,
            [t.name for t in topics],
            settings.timezone,
            read_timeout=settings.alerts.send_timeout,
        )
    except ConfigError as exc:
        problems += exc.problems
    weights = None
    try:
        weights = trained_weights(settings)
    except ConfigError as exc:
        problems += [f"{exc.source}: {p}" for p in exc.problems]
    if problems:
        raise ConfigError(problems)
    return Runtime(
        settings=settings, feeds=tuple(feeds), topics=topics, channels=tuple(channels), weights=weights
    )


def diagnose(path: str | Path) -> tuple[Runtime | None, list[str]]:
    """Every problem of a configuration file in one pass (``monitor check``): its settings, and
    its topics and channels even when a setting elsewhere is wrong, and whether the database
    can be created where it says."""
    try:
        settings = load_settings(path)
    except ConfigError as exc:
        raw = raw_sections(path)
        database = raw.get("database", Settings().database)
        where = (
            database_problems(str(Path(path).resolve().parent / database))
            if isinstance(database, str)
            else []
        )
        return None, [*exc.problems, *_section_problems(raw), *where]
    try:
        runtime = prepare(settings)
    except ConfigError as exc:
        return None, [*exc.problems, *database_problems(settings.database)]
    problems = database_problems(settings.database)
    return (None if problems else runtime), problems


def _section_problems(raw: dict[str, Any]) -> list[str]:
    """Topic and channel problems of a document whose other settings did not validate."""
    problems: list[str] = []
    names: list[str] = []
    topics = raw.get("topics")
    if isinstance(topics, dict):
        try:
            names = [t.name for t in load_topics(topics)]
        except ConfigError as exc:
            problems += exc.problems
    notify = raw.get("notify")
    if isinstance(notify, list):
        try:
            channels = [Channel.model_validate(entry) for entry in notify]
        except ValidationError:
            return problems  # already reported, by key, with the settings
        try:
            build_channels(channels, names)
        except ConfigError as exc:
            problems += exc.problems
    return problems


def deliverer_for(
    runtime: Runtime, outbox: Outbox, *, db: DbRunner = run_directly, clock: Clock = utcnow
) -> Deliverer:
    """The outbox sweeper the configuration describes (channels, attempts, burst limit, labels)."""
    alerts = runtime.settings.alerts
    return Deliverer(
        outbox,
        runtime.channels,
        max_attempts=alerts.max_attempts,
        burst_limit=alerts.burst_limit,
        topic_labels=runtime.topic_labels,
        send_timeout=alerts.send_timeout,
        db=db,
        clock=clock,
    )


def work_for(settings: Settings, fetcher: Fetcher, executor: Executor) -> Work:
    """Where a poll's work runs: here, or on Celery workers (imported only when configured)."""
    if settings.executor == "celery":
        from ..execute.remote import CeleryWork

        return CeleryWork(settings)
    return LocalWork(settings, fetcher, executor)


class Service:
    """Polling and delivery for one process. ``async with Service(...)`` inside the event loop;
    leaving it waits for a write in progress and releases the network, threads and processes."""

    def __init__(
        self,
        runtime: Runtime,
        store: MonitorStore,
        *,
        fetcher: Fetcher | None = None,
        executor: Executor | None = None,
        work: Work | None = None,
        clock: Clock = utcnow,
    ) -> None:
        settings = runtime.settings
        self.runtime = runtime
        self.store = store
        self.fetcher = fetcher or Fetcher(settings.fetch)
        self.clock = clock
        self.executor: Executor = executor or LocalExecutor(settings)
        self.work: Work = work or work_for(settings, self.fetcher, self.executor)
        self.owner = hub_id()  # this hub's name on the leases of the feeds it polls
        self._released = False
        self.poller = Poller(runtime, store, self.work, self.executor, clock=clock, owner=self.owner)
        self.deliverer = deliverer_for(runtime, store, db=self.executor.db, clock=clock)

    async def start(self) -> dict[str, FeedState]:
        """Before the first poll: make the feeds table agree with the configuration, and bring
        back stored times beyond the longest delay monitor itself sets (a clock that jumped
        forward and back would otherwise freeze a feed or an alert for as long as it jumped)."""
        now = self.clock()
        settings = self.runtime.settings
        longest = max(
            [settings.schedule.max_backoff, MAX_RETRY_AFTER, *(f.interval for f in self.runtime.feeds)]
        )
        feeds = await self.executor.db(self.store.clamp_next_polls, now, now + timedelta(seconds=longest))
        alerts = await self.executor.db(self.store.clamp_retries, now, now + timedelta(seconds=MAX_RETRY))
        for channel in self.runtime.channels:
            if channel.legacy_name and channel.legacy_name != channel.name:
                moved = await self.executor.db(self.store.rename_channel, channel.legacy_name, channel.name)
                if moved:
                    log.info(
                        "%d alert(s) moved to channel %r (channels are no longer named by URL)",
                        moved,
                        channel.name,
                    )
        for owner in await self.executor.db(self.store.lease_owners):
            if owner_gone(owner, self.owner):
                released = await self.executor.db(self.store.release_leases, owner)
                log.info("%d feed lease(s) of a stopped poller (%s) released", released, owner)
        if feeds or alerts:
            log.warning(
                "%d feed(s) and %d alert(s) were scheduled further ahead than monitor ever schedules "
                "(the clock jumped?): they are due now",
                feeds,
                alerts,
            )
        return await self.poller.sync_feeds()

    def reconfigure(self, runtime: Runtime) -> None:
        """Use a reloaded configuration (feeds, topics, channels, alerts, schedule, health) from
        the next poll and sweep on; polls and sweeps in flight finish with the one they began
        with. The fetcher, the executor and the store stay: changing them needs a restart."""
        poller = Poller(runtime, self.store, self.work, self.executor, clock=self.clock, owner=self.owner)
        deliverer = deliverer_for(runtime, self.store, db=self.executor.db, clock=self.clock)
        deliverer.succeed(self.deliverer)
        self.runtime, self.poller, self.deliverer = runtime, poller, deliverer

    async def __aenter__(self) -> Service:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def release(self) -> None:
        """Give back the leases of polls that were cancelled, so that the next start (or another
        hub) can poll their feeds at once. Before the executor closes; once."""
        if not self._released:
            self._released = True
            await self.executor.db(self.store.release_leases, self.owner)

    async def aclose(self) -> None:
        try:
            await self.work.aclose()
            await self.release()
            self.executor.close()
        finally:
            await self.fetcher.aclose()
