"""Load ``config.yaml`` into a validated, immutable Settings model.

The only module that reads the environment: ``${VAR}`` anywhere in the file is replaced by the
variable's value, so secrets (bot tokens, SMTP passwords) never have to sit in the file.
Every problem is reported with its key path; unknown keys are errors, not silently ignored.
"""

from __future__ import annotations

import difflib
import logging
import os
import re
import typing
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    ValidationError,
    field_validator,
    model_validator,
)

from .. import __version__
from ..errors import ConfigError
from .units import Duration, OptionalDelay, Size

log = logging.getLogger(__name__)

DEFAULT_CONFIG = "config.yaml"
CONFIG_ENV = "MONITOR_CONFIG"
# Replaces `database:` (a deployment's state folder: systemd's StateDirectory, a container's
# volume), so the shipped config works unchanged wherever it is installed.
DATABASE_ENV = "MONITOR_DATABASE"
DEFAULT_USER_AGENT = f"monitor/{__version__} (news monitor; +https://github.com/monitor-news/monitor)"

_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FetchSettings(_Model):
    timeout: Duration = 20.0
    max_feed_bytes: Size = 10 * 1024**2
    max_page_bytes: Size = 5 * 1024**2
    user_agent: str = DEFAULT_USER_AGENT
    allow_private_addresses: bool = False
    concurrency: int = Field(default=16, ge=1, le=512)
    per_feed_concurrency: int = Field(default=4, ge=1, le=512)
    max_new_entries: int = Field(default=100, ge=1)
    max_redirects: int = Field(default=5, ge=0, le=20)


class ScheduleSettings(_Model):
    default_interval: Duration = 900.0
    jitter: OptionalDelay = 30.0
    max_backoff: Duration = 6 * 3600.0


class ExtractSettings(_Model):
    workers: int = Field(default=2, ge=0, le=64)
    timeout: Duration = 30.0
    # A worker process is replaced after this many pages, so no worker can grow for months.
    max_tasks_per_child: int = Field(default=500, ge=1)
    # The workers and their forkserver exit after this long without a page, and the next page
    # starts them again (about a second): an idle daemon holds no extraction memory. 0: never.
    idle_timeout: Duration = 60.0


class CelerySettings(_Model):
    """``executor: celery``: how the hub uses its workers (``execute.remote``)."""

    # Tasks the hub keeps queued or running at once: enough to keep every worker busy, few
    # enough that a restart of the hub re-does little.
    in_flight: int = Field(default=64, ge=1, le=10000)
    # Page and feed fetches in progress per host, across all workers (politeness).
    per_host: int = Field(default=4, ge=1, le=256)
    # A task not answered this long after a worker started it is sent again (a worker killed
    # mid-task); one never started is sent again after queue_timeout (a broker that lost it).
    task_timeout: Duration = 300.0
    queue_timeout: Duration = 600.0
    # A worker process is replaced after this many tasks, so no worker can grow for months.
    max_tasks_per_child: int = Field(default=500, ge=1)


class FeedSpec(_Model):
    url: str
    name: str | None = None
    interval: Duration | None = None

    @field_validator("url")
    @classmethod
    def _http_url(cls, url: str) -> str:
        return check_http_url(url)


class OpmlSpec(_Model):
    opml: str
    interval: Duration | None = None


class AlertSettings(_Model):
    # event: one alert per real-world event (its first story), story: one per flagged story.
    per: Literal["event", "story"] = "event"
    # An event's later story alerts again (an update) when it first reports something material
    # (a missile class, a named missile, a resolution or package number), at most this often;
    # 0 turns updates off.
    update_spacing: OptionalDelay = 6 * 3600.0
    max_age: Duration = 2 * 86400.0
    burst_limit: int = Field(default=10, ge=1)
    max_attempts: int = Field(default=10, ge=1)
    send_timeout: Duration = 30.0
    max_per_poll: int = Field(default=20, ge=1)


class EventSettings(_Model):
    """How flagged stories are grouped into events (see ``stages.group``)."""

    window: Duration = 72 * 3600.0
    threshold: float = Field(default=0.5, ge=0.0, le=1.0)
    duplicate: float = Field(default=0.6, gt=0.0, le=1.0)


class HealthSettings(_Model):
    """When monitor calls itself or a feed unhealthy (``monitor status``, ``/healthz``, ops notices)."""

    # `monitor status` exits 1 (and /healthz answers 503) when no feed has been polled
    # successfully for this long.
    stale_after: Duration = 2 * 3600.0
    # A feed whose every poll has failed for this long sends one notice to the ops channels.
    feed_failing_after: Duration = 6 * 3600.0
    # A feed with no new story for this many times its usual gap between new stories (and at
    # least feed_silent_min) sends one notice too; 0 turns silence notices off.
    feed_silent_factor: float = Field(default=10.0, ge=0.0)
    feed_silent_min: Duration = 2 * 86400.0


class Channel(_Model):
    url: str = Field(repr=False)
    name: str | None = None
    # Operations notices (a feed failing for hours, or gone silent, and its recovery) go to
    # channels marked ops: true, besides their alerts (give an ops-only channel `topics: []`).
    ops: bool = False
    topics: list[str] | None = None
    min_score: float = Field(default=0.0, ge=0.0, le=1.0)
    mode: Literal["instant", "digest"] = "instant"
    schedule: str | None = None


class Settings(_Model):
    database: str = "monitor.db"
    # Where ``monitor train`` writes topic models and the daemon looks for them first; by
    # default a ``models`` folder beside the database (a writable place by construction).
    models: str | None = None
    timezone: str = "UTC"
    fetch: FetchSettings = FetchSettings()
    schedule: ScheduleSettings = ScheduleSettings()
    extract: ExtractSettings = ExtractSettings()
    # An entry with `opml:` is an import, any other a feed: one model is judged per entry, so a
    # misspelt key gives one message, not one per model it failed to be.
    feeds: list[
        Annotated[
            Annotated[FeedSpec, Tag("feed")] | Annotated[OpmlSpec, Tag("opml")],
            Discriminator(lambda v: "opml" if isinstance(v, dict) and "opml" in v else "feed"),
        ]
    ] = []
    alerts: AlertSettings = AlertSettings()
    events: EventSettings = EventSettings()
    notify: list[Channel] = []
    topics: dict[str, dict[str, Any]] = {}
    health: HealthSettings = HealthSettings()
    # `monitor run` serves Prometheus metrics and /healthz on this port (None: no server),
    # bound to metrics_host (loopback by default: put a reverse proxy in front to expose it).
    metrics_port: int | None = Field(default=None, ge=1, le=65535)
    metrics_host: str = "127.0.0.1"
    # local: everything in this process (nothing else to install). celery: fetching,
    # extraction and classification on `monitor worker` processes through the Redis `broker`;
    # `monitor run` stays the only writer of the database.
    executor: Literal["local", "celery"] = "local"
    broker: str | None = Field(default=None, repr=False)
    celery: CelerySettings = CelerySettings()

    @field_validator("broker")
    @classmethod
    def _redis_url(cls, url: str | None) -> str | None:
        if url is not None and urlsplit(url.strip()).scheme not in ("redis", "rediss"):
            raise ValueError("expected a Redis URL (redis://host:6379/0 or rediss://...)")
        return url.strip() if url is not None else None

    @model_validator(mode="after")
    def _broker_for_celery(self) -> Settings:
        if self.executor == "celery" and not self.broker:
            raise ValueError("broker: required with executor: celery (a Redis URL, redis://host:6379/0)")
        return self

    @field_validator("timezone")
    @classmethod
    def _zone(cls, name: str) -> str:
        try:
            ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {name!r} (use an IANA name such as UTC)") from None
        return name


def check_http_url(url: str) -> str:
    parts = urlsplit(url.strip())
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise ValueError(f"expected an http(s) URL, got {url!r}")
    return url.strip()


def _expand_env(node: Any, path: str, problems: list[str]) -> Any:
    """Replace ``${VAR}`` in every string; a missing variable is a problem at that key."""
    if isinstance(node, dict):
        return {k: _expand_env(v, f"{path}.{k}" if path else str(k), problems) for k, v in node.items()}
    if isinstance(node, list):
        return [_expand_env(v, f"{path}[{i}]", problems) for i, v in enumerate(node)]
    if isinstance(node, str):

        def sub(match: re.Match[str]) -> str:
            name = match.group(1)
            if name not in os.environ:
                problems.append(f"{path}: environment variable {name} is not set")
                return ""
            return os.environ[name]

        return _ENV_REF.sub(sub, node)
    return node


def _format_loc(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        # pydantic names the union member it tried; that is noise for the user
        if isinstance(part, str) and part in ("FeedSpec", "OpmlSpec", "feed", "opml") and out.endswith("]"):
            continue
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else part
    return out or "(top level)"


def _models_at(loc: tuple[int | str, ...]) -> list[type[BaseModel]]:
    """The models whose fields are valid keys at ``loc`` (the parent of an unknown key)."""
    current: list[type[BaseModel]] = [Settings]
    for part in loc:
        if isinstance(part, int) or part in ("FeedSpec", "OpmlSpec"):
            continue
        if part == "feed":
            current = [FeedSpec]
            continue
        if part == "opml" and current == [FeedSpec, OpmlSpec]:
            current = [OpmlSpec]
            continue
        found: list[type[BaseModel]] = []
        for model in current:
            info = model.model_fields.get(str(part))
            if info is not None:
                found += _models_in(info.annotation)
        current = found
    return current


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [m for arg in typing.get_args(annotation) for m in _models_in(arg)]


def _suggestion(loc: tuple[int | str, ...]) -> str:
    """ "; did you mean 'interval'?" for a misspelt key, from the keys valid where it stands."""
    known = [name for model in _models_at(loc[:-1]) for name in model.model_fields]
    close = difflib.get_close_matches(str(loc[-1]), known, n=1, cutoff=0.7)
    return f"; did you mean {close[0]!r}?" if close else ""


def _validation_problems(exc: ValidationError) -> list[str]:
    problems: list[str] = []
    for err in exc.errors(include_input=False, include_url=False):
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            msg = "unknown key" + _suggestion(err["loc"])
        problems.append(f"{_format_loc(err['loc'])}: {msg}")
    return list(dict.fromkeys(problems))


def parse_settings(raw: object, *, source: str = "<config>") -> Settings:
    """Validate a loaded YAML document into Settings, or raise ConfigError with every problem."""
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError("(top level): expected a mapping of keys", source=source)
    problems: list[str] = []
    expanded = _expand_env(raw, "", problems)
    settings: Settings | None = None
    try:
        settings = Settings.model_validate(expanded)
    except ValidationError as exc:
        problems.extend(_validation_problems(exc))
    if problems or settings is None:
        raise ConfigError(problems, source=source)
    return settings


def raw_sections(path: str | Path) -> dict[str, Any]:
    """The file's top-level sections with ``${VAR}`` expanded, unvalidated ({} when it cannot
    be read): ``check`` judges topics and channels even when other settings are wrong."""
    try:
        raw = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError):
        return {}
    if not isinstance(raw, dict):
        return {}
    expanded: dict[str, Any] = _expand_env(raw, "", [])
    return expanded


def database_problems(database: str) -> list[str]:
    """Whether the database can be created (or written) where ``database:`` says."""
    if database == ":memory:":
        return []
    path = Path(database)
    folder = path.parent
    if not folder.is_dir():
        return [f"database: folder {folder} does not exist (create it, or point database: elsewhere)"]
    if path.exists() and not os.access(path, os.R_OK | os.W_OK):
        return [f"database: {path} cannot be read and written by this user (uid {os.getuid()})"]
    if not path.exists() and not os.access(folder, os.W_OK | os.X_OK):
        return [f"database: {path} cannot be created: folder {folder} is not writable by uid {os.getuid()}"]
    return []


def config_path(explicit: str | None) -> Path:
    """The config file to use: ``--config``, else ``$MONITOR_CONFIG``, else ``config.yaml``."""
    return Path(explicit or os.environ.get(CONFIG_ENV) or DEFAULT_CONFIG)


def load_settings(path: str | Path) -> Settings:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read configuration: {exc.strerror}", source=str(path)) from None
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        where = getattr(exc, "problem_mark", None)
        line = f"line {where.line + 1}: " if where is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(f"{line}invalid YAML: {problem}", source=str(path)) from None
    settings = parse_settings(raw, source=str(path))
    # Relative paths in the file are relative to the file, not to wherever the daemon started.
    base = path.resolve().parent
    database = settings.database
    if os.environ.get(DATABASE_ENV):
        database = str(Path(os.environ[DATABASE_ENV]).absolute())
    elif database != ":memory:" and not Path(database).is_absolute():
        database = str(base / database)
    feeds = [
        f.model_copy(update={"opml": str(base / f.opml)})
        if isinstance(f, OpmlSpec) and not Path(f.opml).is_absolute()
        else f
        for f in settings.feeds
    ]
    models = settings.models
    if models is not None and not Path(models).is_absolute():
        models = str(base / models)
    return settings.model_copy(update={"database": database, "feeds": feeds, "models": models})


def models_dir(settings: Settings) -> Path | None:
    """The folder of trained topic models: ``models``, else ``models/`` beside the database."""
    if settings.models is not None:
        return Path(settings.models)
    if settings.database == ":memory:":
        return None
    return Path(settings.database).parent / "models"
