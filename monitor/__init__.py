"""monitor: a news-monitoring daemon.

It polls feeds on a schedule, extracts each article's full text, flags the topics you care about
(missile launches and sanctions out of the box), keeps a SQLite log and alerts you in chat or email.

The public API is re-exported here and loaded on first use, so that a worker process that only
needs one stage (extraction, classification) does not import the whole application.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_EXPORTS = {
    "Alert": "records",
    "Article": "records",
    "ConfigError": "errors",
    "DeliveryResult": "records",
    "Entry": "records",
    "ExtractionStatus": "records",
    "FeedErrorKind": "records",
    "FetchError": "errors",
    "Fetcher": "fetch",
    "MonitorError": "errors",
    "PollOutcome": "records",
    "PollReport": "records",
    "Runtime": "service",
    "Service": "service",
    "Settings": "config",
    "Store": "store",
    "StoreError": "errors",
    "Topic": "stages.classify",
    "Verdict": "records",
    "classify": "stages.classify",
    "load_settings": "config",
    "load_topics": "stages.classify",
    "poll_once": "service",
    "prepare": "service",
}

__all__ = [
    "Alert",
    "Article",
    "ConfigError",
    "DeliveryResult",
    "Entry",
    "ExtractionStatus",
    "FeedErrorKind",
    "FetchError",
    "Fetcher",
    "MonitorError",
    "PollOutcome",
    "PollReport",
    "Runtime",
    "Service",
    "Settings",
    "Store",
    "StoreError",
    "Topic",
    "Verdict",
    "__version__",
    "classify",
    "load_settings",
    "load_topics",
    "poll_once",
    "prepare",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'monitor' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


if TYPE_CHECKING:
    from .config import Settings, load_settings
    from .errors import ConfigError, FetchError, MonitorError, StoreError
    from .fetch import Fetcher
    from .records import (
        Alert,
        Article,
        DeliveryResult,
        Entry,
        ExtractionStatus,
        FeedErrorKind,
        PollOutcome,
        PollReport,
        Verdict,
    )
    from .service import Runtime, Service, poll_once, prepare
    from .stages.classify import Topic, classify, load_topics
    from .store import Store
