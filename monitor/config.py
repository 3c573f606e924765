"""Load ``config.yaml`` into a validated, immutable Settings model.

The only module that reads the environment: ``${VAR}`` anywhere in the file is replaced by the
variable's value, so secrets (bot tokens, SMTP passwords) never have to sit in the file.
Every problem is reported with its key path; unknown keys are errors, not silently ignored.
"""

from __future__ import annotations

import logging
import os
import re
import xml.etree.ElementTree as ET
from functools import partial
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, field_validator

from . import __version__
from .errors import ConfigError

log = logging.getLogger(__name__)

DEFAULT_CONFIG = "config.yaml"
CONFIG_ENV = "MONITOR_CONFIG"
DEFAULT_USER_AGENT = f"monitor/{__version__} (news monitor; +https://github.com/monitor-news/monitor)"

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)?\s*$", re.IGNORECASE)
_DURATION_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([KMG]i?B?|B)?\s*$", re.IGNORECASE)
_SIZE_UNITS = {"": 1, "B": 1, "K": 1024, "M": 1024**2, "G": 1024**3}
_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def parse_duration(value: object, *, allow_zero: bool = False) -> float:
    """``30s``, ``15m``, ``2h``, ``1d``, ``1w`` or a bare number of seconds -> seconds."""
    if isinstance(value, bool):
        raise ValueError(f"expected a duration such as 30s, 15m, 2h or 1d, got {value!r}")
    if isinstance(value, int | float):
        seconds = float(value)
    else:
        match = _DURATION.match(str(value))
        if not match:
            raise ValueError(f"expected a duration such as 30s, 15m, 2h or 1d, got {value!r}")
        seconds = float(match.group(1)) * _DURATION_UNITS[(match.group(2) or "s").lower()]
    if seconds < 0 or (seconds == 0 and not allow_zero):
        raise ValueError(f"a duration must be positive, got {value!r}")
    return seconds


def parse_size(value: object) -> int:
    """``512KB``, ``10MB``, ``1GiB`` or a bare number of bytes -> bytes (KB = 1024 bytes)."""
    if isinstance(value, bool):
        raise ValueError(f"expected a size such as 512KB or 10MB, got {value!r}")
    if isinstance(value, int):
        size = value
    else:
        match = _SIZE.match(str(value))
        if not match:
            raise ValueError(f"expected a size such as 512KB or 10MB, got {value!r}")
        unit = (match.group(2) or "").upper()[:1]
        size = int(float(match.group(1)) * _SIZE_UNITS[unit])
    if size <= 0:
        raise ValueError(f"a size must be positive, got {value!r}")
    return size


Duration = Annotated[float, BeforeValidator(parse_duration)]
OptionalDelay = Annotated[float, BeforeValidator(partial(parse_duration, allow_zero=True))]
Size = Annotated[int, BeforeValidator(parse_size)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FetchSettings(_Model):
    timeout: Duration = 20.0
    max_feed_bytes: Size = 10 * 1024**2
    max_page_bytes: Size = 5 * 1024**2
    user_agent: str = DEFAULT_USER_AGENT
    allow_private_addresses: bool = False
    concurrency: int = Field(default=16, ge=1, le=512)
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
        return _check_http_url(url)


class OpmlSpec(_Model):
    opml: str
    interval: Duration | None = None


class AlertSettings(_Model):
    max_age: Duration = 2 * 86400.0
    burst_limit: int = Field(default=10, ge=1)
    max_attempts: int = Field(default=10, ge=1)


class Channel(_Model):
    url: str = Field(repr=False)
    name: str | None = None
    topics: list[str] | None = None
    min_score: float = Field(default=0.0, ge=0.0, le=1.0)
    mode: Literal["instant", "digest"] = "instant"
    schedule: str | None = None


class Settings(_Model):
    database: str = "monitor.db"
    timezone: str = "UTC"
    fetch: FetchSettings = FetchSettings()
    schedule: ScheduleSettings = ScheduleSettings()
    extract: ExtractSettings = ExtractSettings()
    feeds: list[FeedSpec | OpmlSpec] = []
    alerts: AlertSettings = AlertSettings()
    notify: list[Channel] = []
    topics: dict[str, dict[str, Any]] = {}

    @field_validator("timezone")
    @classmethod
    def _zone(cls, name: str) -> str:
        try:
            ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {name!r} (use an IANA name such as UTC)") from None
        return name


class Feed(_Model):
    """A feed after OPML expansion and defaults: what the pipeline polls."""

    name: str
    url: str
    interval: float


def _check_http_url(url: str) -> str:
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
    return settings.model_copy(update={"database": database, "feeds": feeds})


def _read_opml(path: str) -> list[tuple[str | None, str]]:
    """(title, xmlUrl) of every feed outline in an OPML file, nested folders included."""
    try:
        root = ET.parse(path).getroot()  # noqa: S314 - the user's own file; expat limits entities
    except OSError as exc:
        raise ValueError(f"cannot read {path}: {exc.strerror}") from None
    except ET.ParseError as exc:
        raise ValueError(f"{path} is not valid OPML: {exc}") from None
    out = []
    for outline in root.iter("outline"):
        url = outline.get("xmlUrl") or outline.get("xmlurl")
        if url:
            out.append((outline.get("title") or outline.get("text"), url.strip()))
    return out


def resolve_feeds(settings: Settings) -> list[Feed]:
    """Expand OPML imports, apply default intervals and name feeds; names must be unique."""
    problems: list[str] = []
    feeds: list[Feed] = []
    seen_names: dict[str, int] = {}
    seen_urls: set[str] = set()
    default = settings.schedule.default_interval
    for i, spec in enumerate(settings.feeds):
        if isinstance(spec, FeedSpec):
            candidates = [(spec.name, spec.url, False)]
        else:
            try:
                candidates = [(t, u, True) for t, u in _read_opml(spec.opml)]
            except ValueError as exc:
                problems.append(f"feeds[{i}].opml: {exc}")
                continue
        for name, url, from_opml in candidates:
            try:
                url = _check_http_url(url)
            except ValueError as exc:
                problems.append(f"feeds[{i}]{'.opml' if from_opml else '.url'}: {exc}")
                continue
            if url in seen_urls:
                if not from_opml:
                    problems.append(f"feeds[{i}].url: {url} is listed twice")
                continue
            seen_urls.add(url)
            name = (name or "").strip() or (urlsplit(url).hostname or url)
            if name in seen_names:
                if not from_opml:
                    problems.append(f"feeds[{i}].name: {name!r} is used by another feed")
                    continue
                seen_names[name] += 1
                name = f"{name} ({seen_names[name]})"
            seen_names.setdefault(name, 1)
            feeds.append(Feed(name=name, url=url, interval=spec.interval or default))
    if problems:
        raise ConfigError(problems)
    return feeds
