"""The ``monitor`` command line: one module per command group. Commands only parse arguments,
call one library function and render; library errors become one-line messages.

Exit codes: 0 success; 1 ``check`` found problems, or a command failed at run time;
2 configuration error (or a usage error).
"""

from __future__ import annotations

import click

from .. import __version__
from .alerts import alerts, notify_test
from .common import setup_logging
from .demo import demo
from .events import eval_events, event, events, group, regroup, train_events
from .feeds import check, poll, run
from .learn import label, train
from .review import articles, export, feeds, search, show, stats_command, status
from .serve import serve
from .topics import classify, eval_command, reclassify
from .worker import worker


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="monitor")
@click.option(
    "--log-level",
    type=click.Choice(["debug", "info", "warning", "error"], case_sensitive=False),
    default=None,
    help="Log level (default: info); -v and -q are shorthands.",
)
@click.option("-v", "--verbose", is_flag=True, help="Log at debug level.")
@click.option("-q", "--quiet", count=True, help="Log warnings only (-qq: errors only).")
@click.option(
    "--log-format",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="json: one object per line (time, level, logger, message).",
)
@click.option(
    "--config",
    "config_file",
    type=click.Path(dir_okay=False),
    default=None,
    help="Configuration file for the command (it may also follow the command).",
)
@click.pass_context
def cli(
    ctx: click.Context,
    log_level: str | None,
    verbose: bool,
    quiet: int,
    log_format: str,
    config_file: str | None,
) -> None:
    """News monitor: polls feeds, flags missile-launch and sanctions stories, alerts you."""
    ctx.obj = {"config_file": config_file}
    if log_level is None:
        log_level = "debug" if verbose else ("info", "warning", "error")[min(quiet, 2)]
    setup_logging(log_level, log_format)


for command in (
    run,
    worker,
    poll,
    check,
    demo,
    classify,
    eval_command,
    train,
    label,
    reclassify,
    events,
    event,
    group,
    eval_events,
    train_events,
    regroup,
    notify_test,
    alerts,
    articles,
    show,
    search,
    feeds,
    stats_command,
    export,
    status,
    serve,
):
    cli.add_command(command)


def main() -> None:
    cli(prog_name="monitor")


__all__ = ["cli", "main"]
