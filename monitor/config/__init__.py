"""Configuration: ``config.yaml`` validated up front into immutable settings.

``settings`` (the pydantic models and loading; the only reader of the environment), ``units``
(durations and sizes), ``sources`` (the feed list and OPML files -> ``Feed`` records).
"""

from __future__ import annotations

from .settings import (
    AlertSettings,
    Channel,
    ExtractSettings,
    FeedSpec,
    FetchSettings,
    HealthSettings,
    OpmlSpec,
    ScheduleSettings,
    Settings,
    config_path,
    database_problems,
    load_settings,
    models_dir,
    parse_settings,
    raw_sections,
)
from .sources import resolve_feeds
from .units import parse_duration, parse_size

__all__ = [
    "AlertSettings",
    "Channel",
    "ExtractSettings",
    "FeedSpec",
    "FetchSettings",
    "HealthSettings",
    "OpmlSpec",
    "ScheduleSettings",
    "Settings",
    "config_path",
    "database_problems",
    "load_settings",
    "models_dir",
    "parse_duration",
    "parse_settings",
    "parse_size",
    "raw_sections",
    "resolve_feeds",
]
