"""Alert delivery: the only module that calls apprise.

Alerts sit in the ``alerts`` table (the outbox), written in the same transaction as their
article. A sweep hands due rows to their channel and records the outcome: ``sent``, or an
attempt counted with a retry scheduled by exponential backoff, or ``failed`` after
``alerts.max_attempts``. It works against the ``Outbox`` port, so it needs no HTTP fetcher and
no SQLite class. Channel URLs carry secrets: only their redacted form (``url(privacy=True)``)
is ever shown, logged or stored.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable
from datetime import datetime, timedelta
from typing import Any

import apprise

from ..clock import Clock, utcnow
from ..records import Alert, DeliveryResult
from ..store.ports import Outbox
from .channels import ChannelHandle, Mode
from .render import escape_markdown, render, render_batch, render_digest

log = logging.getLogger(__name__)

FIRST_RETRY = 30.0
MAX_RETRY = 3600.0


DbRunner = Callable[..., Awaitable[Any]]
"""Runs one Outbox call; the daemon passes its single-writer thread."""


async def run_directly(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """A DbRunner that calls the store on the caller's thread (the CLI, tests)."""
    return fn(*args, **kwargs)


def retry_delay(attempts: int) -> float:
    """Seconds before the next try after ``attempts`` failures: 30 s doubling to an hour."""
    return float(min(FIRST_RETRY * 2 ** max(attempts - 1, 0), MAX_RETRY))


async def send(channel: ChannelHandle, title: str, body: str) -> str | None:
    """Send one message; None on success, else the (redacted) reason."""
    with apprise.LogCapture(level=logging.WARNING) as captured:  # type: ignore[no-untyped-call, unused-ignore]
        try:
            ok = await channel.plugin.async_notify(
                body=body, title=title, body_format=apprise.NotifyFormat.MARKDOWN
            )
        except Exception as exc:  # a plugin bug must not take the sender down
            return f"{type(exc).__name__} in apprise plugin"
    if ok:
        return None
    detail = captured.getvalue().strip().splitlines()
    return (detail[-1] if detail else "the service rejected the message")[:500]


async def _send_all(channel: ChannelHandle, messages: list[tuple[str, str]]) -> str | None:
    for title, body in messages:
        error = await send(channel, title, body)
        if error is not None:
            return error
    return None


async def deliver_due(
    outbox: Outbox,
    channels: Iterable[ChannelHandle],
    *,
    now: datetime,
    max_attempts: int,
    burst_limit: int = 10,
    topic_labels: dict[str, str] | None = None,
    db: DbRunner = run_directly,
) -> list[DeliveryResult]:
    """Deliver what is due and record each outcome in the outbox.

    Instant channels: one message per alert, or, when more than ``burst_limit`` are due at once,
    one combined message. Digest channels: everything pending, grouped by topic, once the
    schedule has fired. ``db`` runs an Outbox call (the daemon passes its single-writer thread).
    """
    channels = list(channels)
    results: list[DeliveryResult] = []

    async def outcome(channel: ChannelHandle, batch: list[Alert], error: str | None) -> None:
        ids = [a.id for a in batch]
        if error is None:
            await db(outbox.mark_sent, ids, now)
            log.info("%d alert(s) sent to %s", len(ids), channel.name)
        else:
            attempts = max(a.attempts for a in batch) + 1
            retry = now + timedelta(seconds=retry_delay(attempts)) if attempts < max_attempts else None
            await db(outbox.mark_failed, ids, error, retry, now)
            log.warning(
                "%d alert(s) to %s failed (attempt %d/%d): %s",
                len(ids),
                channel.name,
                attempts,
                max_attempts,
                error,
            )
        results.extend(
            DeliveryResult(alert_id=i, channel=channel.name, ok=error is None, error=error) for i in ids
        )

    due: dict[str, list[Alert]] = {}
    for alert in await db(outbox.due_alerts, now):
        due.setdefault(alert.channel, []).append(alert)
    for channel in channels:
        if channel.mode is Mode.INSTANT:
            batch = due.get(channel.name, [])
            maxlen = channel.plugin.body_maxlen
            if len(batch) > burst_limit:
                messages = render_batch(batch, topic_labels=topic_labels, max_body=maxlen)
                await outcome(channel, batch, await _send_all(channel, messages))
                continue
            for alert in batch:
                title, body = render(alert, topic_labels=topic_labels, max_body=maxlen)
                await outcome(channel, [alert], await send(channel, title, body))
        else:
            pending = await db(outbox.pending_digest, channel.name, now)
            if not pending:
                continue
            oldest = min(a.created_at or now for a in pending)
            if channel.digest_due(oldest, now):
                messages = render_digest(
                    pending, topic_labels=topic_labels, max_body=channel.plugin.body_maxlen
                )
                await outcome(channel, pending, await _send_all(channel, messages))
    return results


class Deliverer:
    """Sweeps the outbox for one process. One sweep at a time: the daemon sweeps after every
    poll and on a timer, and two sweeps reading the same due rows would send them twice."""

    def __init__(
        self,
        outbox: Outbox,
        channels: Iterable[ChannelHandle],
        *,
        max_attempts: int,
        burst_limit: int,
        topic_labels: dict[str, str],
        db: DbRunner = run_directly,
        clock: Clock = utcnow,
    ) -> None:
        self.outbox = outbox
        self.channels = tuple(channels)
        self.max_attempts = max_attempts
        self.burst_limit = burst_limit
        self.topic_labels = topic_labels
        self.db = db
        self.clock = clock
        self._sweeping = asyncio.Lock()

    async def sweep(self) -> list[DeliveryResult]:
        """Deliver every due alert; nothing to do without channels."""
        if not self.channels:
            return []
        async with self._sweeping:
            return await deliver_due(
                self.outbox,
                self.channels,
                now=self.clock(),
                max_attempts=self.max_attempts,
                burst_limit=self.burst_limit,
                topic_labels=self.topic_labels,
                db=self.db,
            )


async def send_test(channel: ChannelHandle, now: datetime) -> str | None:
    """Send a test message; None on success, else the (redacted) reason."""
    return await send(
        channel,
        "monitor: test message",
        f"This is a test from monitor to channel **{escape_markdown(channel.name)}** "
        f"at {now.strftime('%Y-%m-%d %H:%M UTC')}. If you can read this, alerts will arrive here.",
    )
