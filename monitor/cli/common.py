"""What every command shares: the --config option, logging, loading the configuration and
opening the database, with library errors turned into one-line messages and exit codes."""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import click

from ..clock import utcnow
from ..config import Settings, config_path, load_settings, parse_duration
from ..errors import ConfigError, StoreError
from ..service import Runtime, prepare
from ..service.grouping import EventGrouping
from ..stages.classify import Topic, load_topics
from ..stages.group.cluster import Weights
from ..stages.group.stories import parse_time
from ..stages.urls import MASK, redact_url, secrets_in
from ..store import Store
from ..store.lock import InstanceLock

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


class SecretFilter(logging.Filter):
    """Masks the configuration's secrets in every log line, whoever logs it: apprise logs its
    services' full URLs at DEBUG, and a library's error message may quote a URL."""

    def __init__(self) -> None:
        super().__init__()
        self.secrets: list[str] = []

    def add(self, secrets: Iterable[str]) -> None:
        self.secrets = sorted({*self.secrets, *secrets}, key=len, reverse=True)

    def filter(self, record: logging.LogRecord) -> bool:
        if self.secrets:
            message = record.getMessage()
            for secret in self.secrets:
                message = message.replace(secret, MASK)
            record.msg, record.args = message, None
        return True


SECRETS = SecretFilter()


class JsonFormatter(logging.Formatter):
    """One JSON object per line (``--log-format json``) for journald, Loki or jq: time, level,
    logger, message, and the traceback when there is one. Secrets are masked before this runs."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["traceback"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


class _Handler(logging.StreamHandler):  # type: ignore[type-arg, unused-ignore]
    """Ours, so a second setup replaces it and leaves other handlers (a test's) alone."""


def setup_logging(level: str, fmt: str = "text") -> None:
    handler = _Handler(sys.stderr)
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(SECRETS)
    root = logging.getLogger()
    for old in [h for h in root.handlers if isinstance(h, _Handler)]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(getattr(logging, level.upper()))
    # apprise logs its services' URLs at DEBUG; ours say what matters.
    logging.getLogger("apprise").setLevel(max(logging.INFO, getattr(logging, level.upper())))
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    logging.getLogger("trafilatura").setLevel(logging.ERROR)


def config_failure(exc: ConfigError) -> NoReturn:
    where = f"{exc.source}: " if exc.source else ""
    click.echo(f"monitor: configuration error in {where.rstrip(': ') or 'configuration'}:", err=True)
    for problem in exc.problems:
        click.echo(f"  - {problem}", err=True)
    sys.exit(EXIT_CONFIG)


def reload_runtime(path: Path) -> Runtime:
    """The configuration at ``path``, validated, its secrets registered with the log filter;
    raises ConfigError (the daemon's SIGHUP keeps the running configuration then)."""
    runtime = prepare(load_settings(path))
    SECRETS.add(s for channel in runtime.channels for s in channel.secrets)
    SECRETS.add(s for feed in runtime.feeds for s in secrets_in(feed.url, redact_url(feed.url, guess=False)))
    broker = runtime.settings.broker
    if broker:  # Celery and kombu quote the broker's URL in their own messages
        SECRETS.add(secrets_in(broker, redact_url(broker, guess=False)))
    return runtime


def load_runtime(config_file: str | None) -> Runtime:
    """The validated configuration; its secrets are registered with the log filter."""
    try:
        return reload_runtime(config_path(config_file))
    except ConfigError as exc:
        if exc.source is None:
            exc.source = str(config_path(config_file))
        config_failure(exc)


def open_database(settings: Settings, weights: Weights | None = None) -> Store:
    """The configured database, grouping the flagged stories it stores into events."""
    return Store(settings.database, grouping=EventGrouping(settings, weights))


def open_store(runtime: Runtime) -> Store:
    try:
        return open_database(runtime.settings, runtime.weights)
    except StoreError as exc:
        raise click.ClickException(str(exc)) from None


def lock_instance(runtime: Runtime, command: str) -> InstanceLock:
    """Take the database's instance lock or stop with a message naming the process holding it."""
    lock = InstanceLock(runtime.settings.database, command)
    try:
        lock.acquire()
    except StoreError as exc:
        raise click.ClickException(str(exc)) from None
    return lock


def parse_since(value: str | None) -> datetime | None:
    """``--since``: a period back from now (30d) or an ISO date or time."""
    if not value:
        return None
    try:
        return utcnow() - timedelta(seconds=parse_duration(value))
    except ValueError:
        pass
    try:
        return parse_time(value)
    except ValueError:
        raise click.BadParameter(
            f"expected a period such as 7d or a date such as 2026-11-30, got {value!r}", param_hint="--since"
        ) from None


def load_topics_for(config_file: str | None) -> tuple[Topic, ...]:
    """Topics from the configuration; the built-ins when no config file exists and none was named."""
    path = config_path(config_file)
    if config_file is None and not Path(path).exists():
        return load_topics()
    return load_runtime(config_file).topics
