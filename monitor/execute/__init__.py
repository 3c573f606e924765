"""Where work runs. ``Executor`` is what the service needs; ``local.LocalExecutor`` runs it in
this process (asyncio for the network, one writer thread for SQLite, a process pool for
extraction). ``Work`` is a poll's fetching, parsing, extraction and classification:
``LocalWork`` does it here, ``remote.CeleryWork`` on Celery workers (``tasks``), imported only
with ``executor: celery``."""

from __future__ import annotations

from .local import LocalExecutor, LocalWork
from .ports import Executor, Work

__all__ = ["Executor", "LocalExecutor", "LocalWork", "Work"]
