"""The application layer: what one poll, one delivery sweep or one re-scoring does, over the
store ports and the executor.

``runtime`` (the composition root), ``policy`` (backoff, alert age, routing), ``poll`` (one
feed poll -> ``PollOutcome``), ``reclassify``, ``demo``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from ..fetch import Fetcher
from ..records import DeliveryResult, PollReport
from ..store.ports import MonitorStore
from .policy import next_poll_time
from .reclassify import ReclassifyReport, Rescored, reclassify
from .runtime import Runtime, Service, deliverer_for, prepare


async def poll_once(
    runtime: Runtime,
    store: MonitorStore,
    names: Iterable[str] | None = None,
    *,
    fetcher: Fetcher | None = None,
    on_report: Callable[[PollReport], None] | None = None,
) -> tuple[list[PollReport], list[DeliveryResult]]:
    """One pass over the feeds (or those named), then deliver the alerts that are due."""
    async with Service(runtime, store, fetcher=fetcher) as service:
        await service.start()
        reports = await service.poller.poll_all(names, on_report)
        deliveries = await service.deliverer.sweep()
    return reports, deliveries


async def deliver_once(runtime: Runtime, store: MonitorStore) -> list[DeliveryResult]:
    """Deliver the alerts that are due, e.g. after ``reclassify --alert``: only the outbox and
    the channels, no fetcher and no worker pool."""
    return await deliverer_for(runtime, store).sweep()


__all__ = [
    "ReclassifyReport",
    "Rescored",
    "Runtime",
    "Service",
    "deliver_once",
    "deliverer_for",
    "next_poll_time",
    "poll_once",
    "prepare",
    "reclassify",
]
