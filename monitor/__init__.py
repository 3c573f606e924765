"""monitor: a news-monitoring daemon.

It polls feeds on a schedule, extracts each article's full text, flags the topics you care about
(missile launches and sanctions out of the box), keeps a SQLite log and alerts you in chat or email.
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
