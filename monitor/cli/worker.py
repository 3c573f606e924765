"""``monitor worker``: a Celery worker for ``executor: celery``."""

from __future__ import annotations

import logging
import os

import click

from .common import config_option, load_runtime


@click.command()
@config_option
@click.option(
    "-c",
    "--concurrency",
    type=click.IntRange(1, 512),
    default=None,
    help="Worker processes (default: one per CPU core).",
)
def worker(config_file: str | None, concurrency: int | None) -> None:
    """Fetch, extract and classify for a hub (`executor: celery`); never opens the database.

    Run it with the hub's configuration file (the same broker and topics), on as many machines
    as you like; stop it with SIGTERM (it finishes the tasks in hand)."""
    runtime = load_runtime(config_file)
    settings = runtime.settings
    if settings.executor != "celery" or not settings.broker:
        raise click.UsageError("monitor worker needs `executor: celery` and a `broker:` in the configuration")
    from ..execute.tasks import QUEUE, celery_app, register_tasks

    app = celery_app(settings)
    register_tasks(app, settings, runtime.topics)
    level = logging.getLevelName(logging.getLogger().getEffectiveLevel())
    app.worker_main(
        [
            "worker",
            f"--concurrency={concurrency or os.cpu_count() or 1}",
            "--pool=prefork",
            f"--queues={QUEUE}",
            f"--hostname=monitor-{os.getpid()}@%h",
            f"--loglevel={level}",
            "--without-gossip",
            "--without-mingle",
        ]
    )
