"""Running and checking: ``run``, ``poll``, ``check``."""

from __future__ import annotations

import asyncio
import sys

import click

from ..config import config_path
from ..errors import ServiceError
from ..notify import plain
from ..service import poll_once
from ..service.runtime import diagnose
from ..store.review import HealthReader
from .common import EXIT_PROBLEMS, config_option, load_runtime, lock_instance, open_store


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
            asyncio.run(Daemon(runtime, store, health=health).run())
    except ServiceError as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        health.close()
        store.close()


@click.command()
@config_option
@click.option("--feed", "feeds", multiple=True, help="Poll only this feed (by name); repeatable.")
def poll(config_file: str | None, feeds: tuple[str, ...]) -> None:
    """Poll every feed (or --feed NAME) once, deliver due alerts, print a summary."""
    runtime = load_runtime(config_file)
    unknown = [f for f in feeds if f not in {x.name for x in runtime.feeds}]
    if unknown:
        raise click.UsageError(f"no feed named {unknown[0]!r} in the configuration")
    store = open_store(runtime)
    try:
        with lock_instance(runtime, "monitor poll"):
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
