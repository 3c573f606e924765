"""What runs inside an extraction worker process, importing extraction and nothing else: an
unpickled call to a function of ``local`` would import the network stack into every worker.
The daemon names these functions without importing extraction itself (trafilatura and lxml,
27 MB): only the processes that extract load it."""

from __future__ import annotations

import time

from ..records import Extracted
from .memory import Trimmer

WARM_UP_PAGE = b"<html><body><article><p>warm up</p></article></body></html>"
# A page's parse leaves the allocator's heap full of holes: handed back every tenth page.
_trimmer = Trimmer(every=10)


def extract_page(content: bytes, url: str, metadata: bool = True) -> Extracted:
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
