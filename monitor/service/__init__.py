"""The application layer: what one poll, one delivery sweep or one re-scoring does, over the
store ports and the executor.

``runtime`` (the composition root), ``policy`` (backoff, alert age, routing), ``poll`` (one
feed poll -> ``PollOutcome``), ``reclassify``, ``demo``.
"""

from __future__ import annotations

from collections.abc import Iterable

from ..fetch import Fetcher
from ..notify import Deliverer
from ..records import DeliveryResult, PollReport
from ..store.ports import MonitorStore
from .policy import next_poll_time
from .reclassify import ReclassifyReport, Rescored, reclassify
from .runtime import Runtime, Service, prepare


async def poll_once(
    runtime: Runtime,
    store: MonitorStore,
    names: Iterable[str] | None = None,
    *,
    fetcher: Fetcher | None = None,
) -> tuple[list[PollReport], list[DeliveryResult]]:
    """One pass over the feeds (or those named), then deliver the alerts that are due."""
    async with Service(runtime, store, fetcher=fetcher) as service:
        reports = await service.poller.poll_all(names)
        deliveries = await service.deliverer.sweep()
    return reports, deliveries


async def deliver_once(runtime: Runtime, store: MonitorStore) -> list[DeliveryResult]:
    """Deliver the alerts that are due, e.g. after ``reclassify --alert``: only the outbox and
    the channels, no fetcher and no worker pool."""
    settings = runtime.settings
    deliverer = Deliverer(
        store,
        runtime.channels,
        max_attempts=settings.alerts.max_attempts,
        burst_limit=settings.alerts.burst_limit,
        topic_labels=runtime.topic_labels,
    )
    return await deliverer.sweep()


__all__ = [
    "ReclassifyReport",
    "Rescored",
    "Runtime",
    "Service",
    "deliver_once",
    "next_poll_time",
    "poll_once",
    "prepare",
    "reclassify",
]
