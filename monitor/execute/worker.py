"""What runs inside an extraction worker process, importing extraction and nothing else: an
unpickled call to a function of ``local`` would import the network stack into every worker.
The daemon names these functions without importing extraction itself (trafilatura and lxml,
27 MB): only the processes that extract load it."""

from __future__ import annotations

import logging
import multiprocessing
import os
import threading
import time

from ..records import PAGE_FIELDS, Extracted, PageField
from .memory import Trimmer

log = logging.getLogger(__name__)

WARM_UP_PAGE = b"<html><body><article><p>warm up</p></article></body></html>"
# A page's parse leaves the allocator's heap full of holes: handed back every tenth page.
_trimmer = Trimmer(every=10)


def extract_page(content: bytes, url: str, metadata: frozenset[PageField] = PAGE_FIELDS) -> Extracted:
    """``stages.extract.extract_article``, imported where it runs."""
    from ..stages.extract import extract_article

    try:
        return extract_article(content, url, metadata=metadata)
    finally:
        _trimmer.tick()


def warm_worker() -> None:
    """Run once in each new extraction process: load trafilatura's models and caches (a no-op
    in a worker forked from a warm server), and linger a moment so that every worker of the pool
    receives one."""
    extract_page(WARM_UP_PAGE, "http://localhost/")
    time.sleep(0.05)


def exit_with_parent() -> None:
    """The pool's initializer: end this worker when the process that started it ends. A worker
    blocks on its queue for the next page and never learns that the daemon was killed (SIGKILL,
    the OOM killer): it, its siblings and the forkserver (which lives while any of them does)
    stayed for good, 150 MB a restart. ``parent_process().join()`` waits on the pipe the daemon
    holds open for its workers, which the kernel closes however it ends."""
    parent = multiprocessing.parent_process()
    if parent is None:  # not a process multiprocessing started: there is no pool to leave
        return

    def watch() -> None:
        parent.join()
        os._exit(0)  # the daemon is gone: nobody awaits this worker's page

    try:
        threading.Thread(target=watch, name="monitor-parent-watch", daemon=True).start()
    except RuntimeError as exc:  # no thread to spare (a pids limit): extract all the same
        log.warning("an extraction worker cannot watch the daemon, and may outlive it if killed: %s", exc)
