"""Where work runs. ``Executor`` is what the service needs; ``local.LocalExecutor`` runs it in
this process (asyncio for the network, one writer thread for SQLite, a process pool for
extraction). A task-queue executor plugs in here, behind the same Protocol."""

from __future__ import annotations

from .local import LocalExecutor
from .ports import Executor

__all__ = ["Executor", "LocalExecutor"]
