"""Running and checking: ``run``, ``poll``, ``check``."""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import click

from ..config import config_path
from ..errors import ServiceError
from ..notify import plain
from ..records import PollReport
from ..service import poll_once
from ..service.runtime import diagnose
from ..store.review import HealthReader
from .common import EXIT_PROBLEMS, config_option, load_runtime, lock_instance, open_store, reload_runtime


@click.command()
@config_option
def run(config_file: str | None) -> None:
    """Run the daemon in the foreground until SIGTERM or Ctrl-C."""
    from ..daemon import Daemon

    runtime = load_runtime(config_file)
    store = open_store(runtime)
    health = HealthReader(store.path, runtime.settings.health.stale_after)
    try:
        with lock_instance(runtime, "monitor run"):
            path = config_path(config_file).resolve()
            daemon = Daemon(runtime, store, health=health, reload=lambda: reload_runtime(path))
            asyncio.run(daemon.run())
    except ServiceError as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        health.close()
        store.close()


@click.command()
@config_option
@click.option("--feed", "feeds", multiple=True, help="Poll only this feed (by name); repeatable.")
def poll(config_file: str | None, feeds: tuple[str, ...]) -> None:
    """Poll every feed (or --feed NAME) once, deliver due alerts, print a summary.

    On a terminal: a progress bar over the feeds, then the summary and the feeds that failed.
    Piped: one line per feed, then the summary."""
    runtime = load_runtime(config_file)
    unknown = [f for f in feeds if f not in {x.name for x in runtime.feeds}]
    if unknown:
        raise click.UsageError(f"no feed named {unknown[0]!r} in the configuration")
    total = len(feeds) or len(runtime.feeds)
    store = open_store(runtime)
    try:
        with lock_instance(runtime, "monitor poll"), _progress(total) as on_report:
            reports, deliveries = asyncio.run(poll_once(runtime, store, feeds or None, on_report=on_report))
    finally:
        store.close()
    tty = sys.stdout.isatty()
    width = max((len(r.feed) for r in reports), default=4)
    for r in reports:
        if tty and not r.error:
            continue  # the bar showed them; failures are listed
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


@contextmanager
def _progress(total: int) -> Iterator[Callable[[PollReport], None] | None]:
    """A progress bar on stderr when it is a terminal (the per-poll INFO lines held back, the
    bar says the same); nothing otherwise."""
    if not sys.stderr.isatty():
        yield None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    counts = {"new": 0, "flagged": 0, "failed": 0}
    bar = Progress(
        TextColumn("polling"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("feeds · {task.fields[stories]}"),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        transient=True,
    )
    task = bar.add_task("poll", total=total, stories="0 new")

    def on_report(report: PollReport) -> None:
        counts["new"] += report.new
        counts["flagged"] += report.flagged
        counts["failed"] += bool(report.error and not report.new)
        stories = f"{counts['new']} new, {counts['flagged']} flagged, {counts['failed']} failed"
        bar.update(task, advance=1, stories=stories)

    poll_log = logging.getLogger("monitor.service.poll")
    level = poll_log.level
    if logging.getLogger().getEffectiveLevel() > logging.DEBUG:
        poll_log.setLevel(logging.WARNING)
    try:
        with bar:
            yield on_report
    finally:
        poll_log.setLevel(level)


@click.command()
@config_option
def check(config_file: str | None) -> None:
    """Validate the configuration; print every problem with its key. Exit 1 if any."""
    path = config_path(config_file)
    runtime, problems = diagnose(path)
    if runtime is None:
        click.echo(f"{path}: {len(problems)} problem(s)")
        for problem in problems:
            click.echo(f"  - {problem}")
        sys.exit(EXIT_PROBLEMS)
    click.echo(
        f"{path}: ok ({len(runtime.feeds)} feeds, {len(runtime.topics)} topics: "
        f"{', '.join(t.name for t in runtime.topics)}; {len(runtime.channels)} channels)"
    )
    for topic in runtime.topics:
        words = f"; words in {', '.join(topic.languages)} beside the base" if topic.languages else ""
        if topic.model is None:
            click.echo(f"  topic {topic.name}: rules alone, flag at {topic.threshold:g}{words}")
        else:
            judged = (
                f" for {', '.join(topic.model.languages)} (the rules alone elsewhere)"
                if topic.model.languages
                else ""
            )
            click.echo(
                f"  topic {topic.name}: rules and model {topic.model.origin}{judged}, "
                f"flag at probability {topic.model_threshold:g}{words}"
            )
    for channel in runtime.channels:
        click.echo(f"  channel {channel.name}: {channel.display}")
