"""Alert delivery: the only module (with ``channels``) that calls apprise.

Alerts sit in the ``alerts`` table (the outbox), written in the same transaction as their
article. A sweep hands due rows to their channel and records the outcome: ``sent``, or an
attempt counted with a retry scheduled by exponential backoff, or ``failed`` after
``alerts.max_attempts``. It works against the ``Outbox`` port, so it needs no HTTP fetcher and
no SQLite class. Channels are swept concurrently, each send within ``alerts.send_timeout``, so a
slow service delays only its own channel. Channel URLs carry secrets: only their redacted form is
ever shown, and a service's error text is scrubbed before it is logged or stored.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Awaitable, Callable, Iterable
from datetime import datetime, timedelta
from typing import Any, TypeVar

import apprise

from ..clock import Clock, utcnow
from ..records import Alert, DeliveryResult
from ..store.ports import Outbox
from .channels import ChannelHandle, Mode
from .render import Message, escape_markdown, render, render_batch, render_digest

log = logging.getLogger(__name__)
T = TypeVar("T")

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


DEFAULT_SEND_TIMEOUT = 30.0


def _call_in_daemon_thread(loop: asyncio.AbstractEventLoop, fn: Callable[[], T]) -> asyncio.Future[T]:
    """Run ``fn`` in a daemon thread of its own. apprise's services block on sockets with only a
    per-read timeout; a thread that a service keeps busy must not be waited for, neither by
    other channels nor at exit (apprise's shared pool, like every ThreadPoolExecutor, is joined
    when the interpreter exits)."""
    future: asyncio.Future[T] = loop.create_future()

    def settle(result: T | None, error: BaseException | None) -> None:
        if future.done():  # the caller gave up waiting
            return
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(result)  # type: ignore[arg-type]

    def run() -> None:
        try:
            result, error = fn(), None
        except BaseException as exc:  # handed to the awaiting task
            result, error = None, exc
        with contextlib.suppress(RuntimeError):  # the loop is closed: the daemon has stopped
            loop.call_soon_threadsafe(settle, result, error)

    threading.Thread(target=run, name="monitor-send", daemon=True).start()
    return future


async def send(
    channel: ChannelHandle, title: str, body: str, *, timeout: float = DEFAULT_SEND_TIMEOUT
) -> str | None:
    """Send one message within ``timeout`` seconds (the whole message, not one read); None on
    success, else the (redacted) reason."""

    def notify() -> tuple[bool, str]:
        with apprise.LogCapture(level=logging.WARNING, fmt="%(message)s") as captured:  # type: ignore[no-untyped-call, unused-ignore]
            ok = channel.plugin.notify(body=body, title=title, body_format=apprise.NotifyFormat.MARKDOWN)
            return bool(ok), str(captured.getvalue())

    try:
        ok, logged = await asyncio.wait_for(
            _call_in_daemon_thread(asyncio.get_running_loop(), notify), timeout
        )
    except TimeoutError:
        return f"no answer from the service within {timeout:g}s"
    except Exception as exc:  # a plugin bug must not take the sender down (its text may hold the URL)
        return f"{type(exc).__name__} in apprise plugin"
    if ok:
        return None
    detail = logged.strip().splitlines()
    return channel.scrub(detail[-1] if detail else "the service rejected the message")[:500]


async def _send_parts(
    channel: ChannelHandle,
    alerts: list[Alert],
    messages: list[Message],
    timeout: float,
    outcome: Callable[[list[Alert], str | None], Awaitable[None]],
) -> None:
    """Send a burst or digest part by part, recording each part's alerts as soon as it is sent:
    when part 2 of 3 fails, part 1 is never sent again."""
    by_id = {a.id: a for a in alerts}
    for n, message in enumerate(messages):
        error = await send(channel, message.title, message.body, timeout=timeout)
        if error is not None:
            rest = [by_id[i] for later in messages[n:] for i in later.alert_ids]
            await outcome(rest, error)
            return
        await outcome([by_id[i] for i in message.alert_ids], None)


async def deliver_channel(
    outbox: Outbox,
    channel: ChannelHandle,
    *,
    now: datetime,
    max_attempts: int,
    burst_limit: int = 10,
    topic_labels: dict[str, str] | None = None,
    send_timeout: float = DEFAULT_SEND_TIMEOUT,
    db: DbRunner = run_directly,
    unrecorded: dict[int, datetime] | None = None,
) -> list[DeliveryResult]:
    """Deliver what is due for one channel and record each outcome in the outbox.

    Instant channels: one message per alert, or, when more than ``burst_limit`` are due at once,
    one combined message. Digest channels: everything pending, grouped by topic, once the
    schedule has fired. ``db`` runs an Outbox call (the daemon passes its single-writer thread).

    ``unrecorded`` remembers alerts that were sent but could not be marked sent (a full disk,
    another program holding the database): they are never sent again, and the channel stops at
    the first write that fails, since nothing it sends could be recorded.
    """
    results: list[DeliveryResult] = []
    unrecorded = {} if unrecorded is None else unrecorded

    async def outcome(batch: list[Alert], error: str | None) -> None:
        ids = [a.id for a in batch]
        if error is None:
            try:
                await db(outbox.mark_sent, ids, now)
            except Exception as exc:  # the database refused the write; the service took the message
                unrecorded.update(dict.fromkeys(ids, now))
                log.error(
                    "%d alert(s) sent to %s but not recorded as sent (%s): delivery is held until "
                    "the database can be written",
                    len(ids),
                    channel.name,
                    exc,
                )
                raise _Held from exc
            log.info("%d alert(s) sent to %s", len(ids), channel.name)
        else:
            attempts = max(a.attempts for a in batch) + 1
            retry = now + timedelta(seconds=retry_delay(attempts)) if attempts < max_attempts else None
            try:
                await db(outbox.mark_failed, ids, error, retry, now)
            except Exception as exc:
                log.error("cannot record a failed delivery to %s (%s): delivery is held", channel.name, exc)
                raise _Held from exc
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

    async def deliver() -> None:
        maxlen = channel.plugin.body_maxlen
        if channel.mode is Mode.INSTANT:
            due = await db(outbox.due_alerts, now, channel.name)
            batch = [a for a in due if a.id not in unrecorded]
            if len(batch) > burst_limit:
                messages = render_batch(batch, topic_labels=topic_labels, max_body=maxlen)
                await _send_parts(channel, batch, messages, send_timeout, outcome)
                return
            for alert in batch:
                title, body = render(alert, topic_labels=topic_labels, max_body=maxlen)
                await outcome([alert], await send(channel, title, body, timeout=send_timeout))
            return
        pending = [
            a for a in await db(outbox.pending_digest, channel.name, now) or () if a.id not in unrecorded
        ]
        if pending and channel.digest_due(min(a.created_at or now for a in pending), now):
            messages = render_digest(pending, topic_labels=topic_labels, max_body=maxlen)
            await _send_parts(channel, pending, messages, send_timeout, outcome)

    with contextlib.suppress(_Held):  # an outcome could not be written: stop this channel for now
        await deliver()
    return results


async def deliver_notices(
    outbox: Outbox,
    channel: ChannelHandle,
    *,
    now: datetime,
    max_attempts: int,
    send_timeout: float = DEFAULT_SEND_TIMEOUT,
    db: DbRunner = run_directly,
) -> list[DeliveryResult]:
    """Send an ops channel its due notices about feed health, one message each, with the same
    retries as alerts. Results carry the notice's id."""
    results = []
    for notice in await db(outbox.due_notices, now, channel.name):
        title = f"monitor: feed {notice.kind.value}"
        error = await send(channel, title, escape_markdown(notice.message), timeout=send_timeout)
        attempts = notice.attempts + 1
        retry = None
        if error is not None and attempts < max_attempts:
            retry = now + timedelta(seconds=retry_delay(attempts))
        await db(outbox.mark_notice, notice.id, error, retry, now)
        if error is None:
            log.info("notice %s about feed %r sent to %s", notice.kind.value, notice.feed, channel.name)
        else:
            log.warning("notice about feed %r to %s failed: %s", notice.feed, channel.name, error)
        results.append(
            DeliveryResult(alert_id=notice.id, channel=channel.name, ok=error is None, error=error)
        )
    return results


class _Held(Exception):
    """A delivery outcome could not be written: stop sending on this channel for now."""


class Deliverer:
    """Sweeps the outbox for one process. Channels are swept concurrently and independently: a
    slow or hanging service delays only its own channel. One sweep per channel at a time: two
    sweeps reading the same due rows would send them twice, so a sweep that finds its channel
    busy leaves it to the sweep in progress."""

    def __init__(
        self,
        outbox: Outbox,
        channels: Iterable[ChannelHandle],
        *,
        max_attempts: int,
        burst_limit: int,
        topic_labels: dict[str, str],
        send_timeout: float = DEFAULT_SEND_TIMEOUT,
        db: DbRunner = run_directly,
        clock: Clock = utcnow,
    ) -> None:
        self.outbox = outbox
        self.channels = tuple(channels)
        self.max_attempts = max_attempts
        self.burst_limit = burst_limit
        self.topic_labels = topic_labels
        self.send_timeout = send_timeout
        self.db = db
        self.clock = clock
        self._busy = {channel.name: asyncio.Lock() for channel in self.channels}
        self._unrecorded: dict[int, datetime] = {}  # sent, not yet marked sent: never send again

    def succeed(self, previous: Deliverer) -> None:
        """Take over from the deliverer of the previous configuration (a reload): the same lock
        per channel name, so a sweep still running on the old one is never doubled, and the
        same record of alerts sent but not yet marked sent."""
        for name in self._busy.keys() & previous._busy.keys():
            self._busy[name] = previous._busy[name]
        self._unrecorded = previous._unrecorded

    async def sweep(self) -> list[DeliveryResult]:
        """Deliver every due alert of every channel that is not already being swept; first
        record what was sent while the database could not be written, and hold everything
        until that succeeds."""
        if self._unrecorded and not await self._record_held():
            return []
        done = await asyncio.gather(*(self._sweep_channel(c) for c in self.channels))
        return [result for results in done for result in results]

    async def _record_held(self) -> bool:
        by_time: dict[datetime, list[int]] = {}
        for alert_id, when in self._unrecorded.items():
            by_time.setdefault(when, []).append(alert_id)
        try:
            for when, ids in by_time.items():
                await self.db(self.outbox.mark_sent, ids, when)
                for alert_id in ids:
                    self._unrecorded.pop(alert_id, None)
        except Exception as exc:
            log.warning("the database still cannot be written (%s): delivery stays held", exc)
            return False
        log.info("the database is writable again: alerts sent meanwhile recorded, delivery resumes")
        return True

    async def _sweep_channel(self, channel: ChannelHandle) -> list[DeliveryResult]:
        lock = self._busy[channel.name]
        if lock.locked():
            return []
        async with lock:
            if channel.ops:
                try:
                    await deliver_notices(
                        self.outbox,
                        channel,
                        now=self.clock(),
                        max_attempts=self.max_attempts,
                        send_timeout=self.send_timeout,
                        db=self.db,
                    )
                except Exception as exc:  # the database refused the write: alerts still go out
                    log.error("cannot deliver notices to %s: %s", channel.name, exc)
            return await deliver_channel(
                self.outbox,
                channel,
                now=self.clock(),
                max_attempts=self.max_attempts,
                burst_limit=self.burst_limit,
                topic_labels=self.topic_labels,
                send_timeout=self.send_timeout,
                db=self.db,
                unrecorded=self._unrecorded,
            )


async def send_test(
    channel: ChannelHandle, now: datetime, *, timeout: float = DEFAULT_SEND_TIMEOUT
) -> str | None:
    """Send a test message; None on success, else the (redacted) reason."""
    return await send(
        channel,
        "monitor: test message",
        f"This is a test from monitor to channel **{escape_markdown(channel.name)}** "
        f"at {now.strftime('%Y-%m-%d %H:%M UTC')}. If you can read this, alerts will arrive here.",
        timeout=timeout,
    )
