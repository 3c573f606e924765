"""Storage: ports (what the layers above need), the SQLite implementation, its migrations and
the read side.

``ports`` has the Protocols; ``sqlite`` the only class that writes the database; ``migrations``
the schema history (``PRAGMA user_version``); ``queries`` the read models for review commands.
"""

from __future__ import annotations

from .migrations import SCHEMA_VERSION
from .ports import ArticleStore, FeedStore, MonitorStore, Outbox, PollStore
from .sqlite import Store

__all__ = ["SCHEMA_VERSION", "ArticleStore", "FeedStore", "MonitorStore", "Outbox", "PollStore", "Store"]
