"""One monitor per database: an advisory lock on ``<database>.lock``.

Two daemons on one database poll every feed twice as often and alert some stories twice; a cron
``monitor poll`` beside the daemon does the same. ``flock`` is released by the kernel when the
process ends, however it ends, so a crash or SIGKILL never leaves a stale lock behind. The file
also says who holds it (pid, command, since when), for the error message.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
from pathlib import Path
from types import TracebackType

from ..clock import iso, utcnow
from ..errors import InstanceLockedError, StoreError

log = logging.getLogger(__name__)


class InstanceLock:
    """``with InstanceLock(database, "monitor run"):`` or ``acquire()`` / ``release()``."""

    def __init__(self, database: str, command: str) -> None:
        self.database = database
        self.command = command
        self.path = Path(f"{database}.lock")
        self._fd: int | None = None

    def acquire(self) -> None:
        """Take the lock or raise InstanceLockedError naming the holder."""
        if self.database == ":memory:" or self._fd is not None:
            return
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise StoreError(f"cannot create the lock file {self.path}: {exc.strerror}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read_holder(fd)
            os.close(fd)
            raise InstanceLockedError(
                f"another monitor is using {self.database}: {holder}. Stop it first "
                "(one monitor per database: two would poll every feed twice and alert twice)",
                holder=holder,
            ) from None
        os.ftruncate(fd, 0)
        os.write(
            fd, json.dumps({"pid": os.getpid(), "command": self.command, "since": iso(utcnow())}).encode()
        )
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> InstanceLock:
        self.acquire()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.release()


def _read_holder(fd: int) -> str:
    try:
        info = json.loads(os.pread(fd, 4096, 0) or b"{}")
        return f"pid {info['pid']} (`{info['command']}`, since {info['since']})"
    except (OSError, ValueError, KeyError, TypeError):
        return "a process that did not say who it is"
