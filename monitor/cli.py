"""The ``monitor`` command line. Only parses arguments, calls one library function, renders.

Exit codes: 0 success; 1 ``check`` found problems, or a command failed at run time;
2 configuration error (or a usage error).
"""

from __future__ import annotations

import asyncio
import logging
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from . import __version__
from .config import config_path, load_settings
from .errors import ConfigError, MonitorError, StoreError
from .notify import plain
from .pipeline import Runtime, poll_once, prepare
from .store import Store

F = TypeVar("F", bound=Callable[..., Any])
log = logging.getLogger("monitor")

EXIT_PROBLEMS = 1
EXIT_CONFIG = 2


def _inherit_config(ctx: click.Context, _param: click.Parameter, value: str | None) -> str | None:
    """``monitor --config X run`` and ``monitor run --config X`` both work."""
    return value if value is not None else (ctx.obj or {}).get("config_file")


def config_option(fn: F) -> F:
    return click.option(
        "--config",
        "config_file",
        type=click.Path(dir_okay=False),
        default=None,
        callback=_inherit_config,
        help="Configuration file (default: $MONITOR_CONFIG, else config.yaml).",
    )(fn)


def _setup_logging(level: str) -> None:
    logging.basicConfig(
        level=getattr(logging, level.upper()),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    # httpx logs every request URL at INFO; apprise can be chatty. Ours say what matters.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    logging.getLogger("trafilatura").setLevel(logging.ERROR)


def _config_failure(exc: ConfigError) -> None:
    where = f"{exc.source}: " if exc.source else ""
    click.echo(f"monitor: configuration error in {where.rstrip(': ') or 'configuration'}:", err=True)
    for problem in exc.problems:
        click.echo(f"  - {problem}", err=True)
    sys.exit(EXIT_CONFIG)


def _load_runtime(config_file: str | None) -> Runtime:
    try:
        return prepare(load_settings(config_path(config_file)))
    except ConfigError as exc:
        if exc.source is None:
            exc.source = str(config_path(config_file))
        _config_failure(exc)
        raise  # unreachable


def _open_store(runtime: Runtime) -> Store:
    try:
        return Store(runtime.settings.database)
    except StoreError as exc:
        raise click.ClickException(str(exc)) from None


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="monitor")
@click.option(
    "--log-level",
    type=click.Choice(["debug", "info", "warning", "error"], case_sensitive=False),
    default="info",
    show_default=True,
)
@click.option(
    "--config",
    "config_file",
    type=click.Path(dir_okay=False),
    default=None,
    help="Configuration file for the command (it may also follow the command).",
)
@click.pass_context
def cli(ctx: click.Context, log_level: str, config_file: str | None) -> None:
    """News monitor: polls feeds, flags missile-launch and sanctions stories, alerts you."""
    ctx.obj = {"config_file": config_file}
    _setup_logging(log_level)


@cli.command()
@config_option
def run(config_file: str | None) -> None:
    """Run the daemon in the foreground until SIGTERM or Ctrl-C."""
    from .daemon import Daemon

    runtime = _load_runtime(config_file)
    store = _open_store(runtime)
    try:
        asyncio.run(Daemon(runtime, store).run())
    finally:
        store.close()


@cli.command()
@config_option
@click.option("--feed", "feeds", multiple=True, help="Poll only this feed (by name); repeatable.")
def poll(config_file: str | None, feeds: tuple[str, ...]) -> None:
    """Poll every feed (or --feed NAME) once, deliver due alerts, print a summary."""
    runtime = _load_runtime(config_file)
    unknown = [f for f in feeds if f not in {x.name for x in runtime.feeds}]
    if unknown:
        raise click.UsageError(f"no feed named {unknown[0]!r} in the configuration")
    store = _open_store(runtime)
    try:
        reports, deliveries = asyncio.run(poll_once(runtime, store, feeds or None))
    finally:
        store.close()
    width = max((len(r.feed) for r in reports), default=4)
    for r in reports:
        status = "304" if r.not_modified else (str(r.status) if r.status else "---")
        line = f"{plain(r.feed):<{width}}  {status:>3}  new {r.new:>3}  flagged {r.flagged:>3}"
        line += f"  {r.duration:6.2f}s"
        if r.error:
            line += f"  error: {plain(r.error)[:200]}"
        click.echo(line)
    failed = sum(1 for r in reports if r.error and r.new == 0)
    click.echo(
        f"{len(reports)} feeds polled, {failed} failed, {sum(r.new for r in reports)} new articles, "
        f"{sum(r.flagged for r in reports)} flagged; "
        f"{sum(d.ok for d in deliveries)} alerts sent, {sum(not d.ok for d in deliveries)} failed"
    )


@cli.command()
@config_option
def check(config_file: str | None) -> None:
    """Validate the configuration; print every problem with its key. Exit 1 if any."""
    path = config_path(config_file)
    try:
        runtime = prepare(load_settings(path))
    except ConfigError as exc:
        click.echo(f"{path}: {len(exc.problems)} problem(s)")
        for problem in exc.problems:
            click.echo(f"  - {problem}")
        sys.exit(EXIT_PROBLEMS)
    click.echo(
        f"{path}: ok ({len(runtime.feeds)} feeds, {len(runtime.topics)} topics: "
        f"{', '.join(t.name for t in runtime.topics)}; {len(runtime.channels)} channels)"
    )
    for channel in runtime.channels:
        click.echo(f"  channel {channel.name}: {channel.display}")


@cli.command()
@click.option(
    "--seeds",
    "seeds_dir",
    type=click.Path(file_okay=False, exists=True, path_type=Path),
    default=None,
    help="Folder of seed articles (*.txt: headline, then body). Default: the bundled seeds/.",
)
def demo(seeds_dir: Path | None) -> None:
    """Offline end-to-end run: serve the seed articles on loopback, poll, show what is flagged."""
    from .demo import default_seeds_dir, run_demo

    with tempfile.TemporaryDirectory(prefix="monitor-demo-") as tmp:
        try:
            result = run_demo(seeds_dir or default_seeds_dir(), Path(tmp) / "demo.db")
        except (FileNotFoundError, MonitorError) as exc:
            raise click.ClickException(str(exc)) from None
    for r in result.reports:
        click.echo(f"polled {r.feed}: HTTP {r.status}, {r.new} new articles, {r.flagged} flagged")
    click.echo(f"{result.stored} articles stored, {len(result.flagged)} flagged\n")
    for alert, title, body in result.flagged:
        topics = ", ".join(f"{v.topic} ({v.score:.2f})" for v in alert.matches)
        click.echo(f"FLAGGED: {plain(alert.title)}\n  topics: {topics}")
        click.echo("  alert that would be sent:")
        click.echo(f"    title: {title}")
        for line in body.splitlines():
            click.echo(f"    | {line}")
        click.echo("")


def main() -> None:
    cli(prog_name="monitor")
