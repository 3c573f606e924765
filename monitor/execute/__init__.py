"""Where work runs. ``Executor`` is what the service needs; ``local.LocalExecutor`` runs it in
this process (asyncio for the network, one writer thread for SQLite, a process pool for
extraction). ``Work`` is a poll's fetching, parsing, extraction and classification:
``LocalWork`` does it here, ``remote.CeleryWork`` on Celery workers (``tasks``), imported only
with ``executor: celery``.

Names are imported on first use, so that an extraction worker's ``preload`` brings in
extraction alone, not the network stack."""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .local import LocalExecutor, LocalWork
    from .ports import Executor, Work

__all__ = ["Executor", "LocalExecutor", "LocalWork", "Work"]
_HOMES = {"Executor": "ports", "Work": "ports", "LocalExecutor": "local", "LocalWork": "local"}


def __getattr__(name: str) -> Any:
    if name not in _HOMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(f".{_HOMES[name]}", __name__), name)
