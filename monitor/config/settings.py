"""Load ``config.yaml`` into a validated, immutable Settings model.

The only module that reads the environment: ``${VAR}`` anywhere in the file is replaced by the
variable's value, so secrets (bot tokens, SMTP passwords) never have to sit in the file.
Every problem is reported with its key path; unknown keys are errors, not silently ignored.
"""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from .. import __version__
from ..errors import ConfigError
from .units import Duration, OptionalDelay, Size

log = logging.getLogger(__name__)

DEFAULT_CONFIG = "config.yaml"
CONFIG_ENV = "MONITOR_CONFIG"
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
    feeds: list[FeedSpec | OpmlSpec] = []
    alerts: AlertSettings = AlertSettings()
    events: EventSettings = EventSettings()
    notify: list[Channel] = []
    topics: dict[str, dict[str, Any]] = {}
    health: HealthSettings = HealthSettings()
    # `monitor run` serves Prometheus metrics and /healthz on this port (None: no server),
    # bound to metrics_host (loopback by default: put a reverse proxy in front to expose it).
    metrics_port: int | None = Field(default=None, ge=1, le=65535)
    metrics_host: str = "127.0.0.1"

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
        if isinstance(part, str) and part in ("FeedSpec", "OpmlSpec"):
            continue
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else part
    return out or "(top level)"


def _validation_problems(exc: ValidationError) -> list[str]:
    problems: list[str] = []
    for err in exc.errors(include_input=False, include_url=False):
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            msg = "unknown key"
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
    if database != ":memory:" and not Path(database).is_absolute():
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
