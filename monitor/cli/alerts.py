"""Alerts: ``alerts``, ``alerts retry``, ``notify-test``."""

from __future__ import annotations

import asyncio
import sys
from dataclasses import asdict, replace

import click

from ..clock import iso, parse_iso, utcnow
from ..notify import plain, send_test
from ..records import AlertStatus
from ..service import Runtime
from ..store.queries import list_alerts
from .common import EXIT_PROBLEMS, config_option, load_runtime, open_store
from .output import Column, Format, chosen_format, emit, format_options


@click.command(name="notify-test")
@config_option
@click.option("--channel", "names", multiple=True, help="Only this channel (by name); repeatable.")
def notify_test(config_file: str | None, names: tuple[str, ...]) -> None:
    """Send a test message to each channel and report the result per channel (exit 1 if any failed)."""
    runtime = load_runtime(config_file)
    channels = [c for c in runtime.channels if not names or c.name in names]
    unknown = set(names) - {c.name for c in runtime.channels}
    if unknown:
        raise click.UsageError(f"no channel named {sorted(unknown)[0]!r}")
    if not channels:
        raise click.ClickException("no notification channels are configured (notify: in the config)")

    async def run_all() -> list[str | None]:
        now = utcnow()
        timeout = runtime.settings.alerts.send_timeout
        return list(await asyncio.gather(*(send_test(c, now, timeout=timeout) for c in channels)))

    failed = 0
    for channel, error in zip(channels, asyncio.run(run_all()), strict=True):
        if error is None:
            click.echo(f"ok      {channel.name}  ({channel.display})")
        else:
            failed += 1
            click.echo(f"FAILED  {channel.name}  ({channel.display}): {plain(error)}")
    if failed:
        sys.exit(EXIT_PROBLEMS)


ALERT_COLUMNS = (
    Column("id", "id", justify="right"),
    Column("status", "status"),
    Column("attempts", "tries", justify="right"),
    Column("when", "when"),
    Column("channel", "channel"),
    Column("kind", "kind"),
    Column("topics", "topics", max_width=34),
    Column("title", "title", max_width=70),
    Column("last_error", "last error", max_width=60),
)


def _unknown_channel(runtime: Runtime, channel: str | None) -> None:
    if channel is not None and channel not in {c.name for c in runtime.channels}:
        names = ", ".join(c.name for c in runtime.channels) or "none configured"
        raise click.UsageError(f"no channel named {channel!r} (channels: {names})")


@click.group(invoke_without_command=True)
@config_option
@click.option("--status", type=click.Choice([s.value for s in AlertStatus]), default=None)
@click.option("--channel", default=None, help="Only this channel's alerts (by name).")
@click.option("--limit", default=50, show_default=True)
@format_options()
@click.pass_context
def alerts(
    ctx: click.Context, config_file: str | None, status: str | None, channel: str | None, limit: int
) -> None:
    """List alerts with their delivery status (newest first). `monitor alerts retry` requeues failed ones.

    A pending alert shows when it goes out: its next attempt, or for a digest channel the time
    of the digest."""
    ctx.obj = {**(ctx.obj or {}), "config_file": config_file}
    if ctx.invoked_subcommand is not None:
        return
    fmt = chosen_format()
    runtime = load_runtime(config_file)
    _unknown_channel(runtime, channel)
    store = open_store(runtime)
    try:
        rows = list_alerts(store, AlertStatus(status) if status else None, limit, channel)
    finally:
        store.close()
    digests = {c.name: c for c in runtime.channels if c.schedule is not None}
    records = []
    for row in rows:
        if row.status is AlertStatus.PENDING and row.channel in digests:
            at = digests[row.channel].digest_at(parse_iso(row.created_at) or utcnow())
            row = replace(row, due_at=iso(at))
        record = asdict(row)
        when = row.sent_at or row.due_at or row.next_attempt_at or row.created_at
        record["when"] = when[:16].replace("T", " ") if fmt is Format.TABLE and when else when
        if fmt is Format.TABLE and row.status is AlertStatus.SENT:
            record["last_error"] = None
        records.append(record)
    emit(records, ALERT_COLUMNS, fmt, empty="no alerts" + (f" with status {status}" if status else ""))


@alerts.command(name="retry")
@config_option
@click.option("--channel", default=None, help="Only this channel's failed alerts.")
def alerts_retry(config_file: str | None, channel: str | None) -> None:
    """Requeue failed alerts for delivery (with a fresh set of attempts)."""
    runtime = load_runtime(config_file)
    _unknown_channel(runtime, channel)
    store = open_store(runtime)
    try:
        count = store.retry_failed(channel, utcnow())
    finally:
        store.close()
    click.echo(f"{count} failed alert(s) requeued; the daemon (or the next `monitor poll`) delivers them")
