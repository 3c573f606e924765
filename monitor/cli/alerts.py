"""Alerts: ``alerts``, ``alerts retry``, ``notify-test``."""

from __future__ import annotations

import asyncio
import json
import sys
from dataclasses import asdict

import click

from ..clock import utcnow
from ..notify import plain, send_test
from ..records import AlertStatus
from ..store.queries import list_alerts
from .common import EXIT_PROBLEMS, config_option, load_runtime, open_store


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


@click.group(invoke_without_command=True)
@config_option
@click.option("--status", type=click.Choice([s.value for s in AlertStatus]), default=None)
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
@click.option("--limit", default=50, show_default=True)
@click.pass_context
def alerts(
    ctx: click.Context, config_file: str | None, status: str | None, as_json: bool, limit: int
) -> None:
    """List alerts with their delivery status (newest first). `monitor alerts retry` requeues failed ones."""
    ctx.obj = {**(ctx.obj or {}), "config_file": config_file}
    if ctx.invoked_subcommand is not None:
        return
    runtime = load_runtime(config_file)
    store = open_store(runtime)
    try:
        rows = list_alerts(store, AlertStatus(status) if status else None, limit)
    finally:
        store.close()
    for row in rows:
        if as_json:
            click.echo(json.dumps(asdict(row), ensure_ascii=False))
            continue
        when = row.sent_at or row.next_attempt_at or row.created_at
        line = f"{row.id:>6}  {row.status:<7} {row.attempts:>2}x  {when}  {plain(row.channel)}  "
        line += plain(row.title or "")[:80]
        if row.last_error and row.status is not AlertStatus.SENT:
            line += f"  [{plain(row.last_error)[:120]}]"
        click.echo(line)
    if not rows and not as_json:
        click.echo("no alerts" + (f" with status {status}" if status else ""))


@alerts.command(name="retry")
@config_option
@click.option("--channel", default=None, help="Only this channel's failed alerts.")
def alerts_retry(config_file: str | None, channel: str | None) -> None:
    """Requeue failed alerts for delivery (with a fresh set of attempts)."""
    runtime = load_runtime(config_file)
    store = open_store(runtime)
    try:
        count = store.retry_failed(channel, utcnow())
    finally:
        store.close()
    click.echo(f"{count} failed alert(s) requeued; the daemon (or the next `monitor poll`) delivers them")
