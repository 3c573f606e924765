"""Imported once by the extraction pool's forkserver, before it forks any worker.

Loads trafilatura and the data it reads on a first extraction (about 60 MB), so that every
worker forked from the server starts warm and shares those pages with the others instead of
loading its own copy; and nothing else: by default the forkserver imports ``__main__``, the whole
CLI (issue 17). ``gc.freeze`` keeps the collector from touching, and so copying, what is shared.

A worker forked from the server would still import the parent's main module when it starts
(multiprocessing's ``spawn.prepare``, so that functions defined there can be unpickled): for
``monitor run`` that is the console script, hence the whole CLI (apprise, aiohttp, pydantic,
the scheduler: 740 modules), imported after the fork into each worker's private memory, again
for every new pool. Workers here only ever run functions of ``execute.worker``, so the server
turns that step off for the processes it forks (``_skip_parent_main``).
"""

from __future__ import annotations

import gc
from multiprocessing import spawn

from ..stages.extract import extract_article
from .memory import trim
from .worker import WARM_UP_PAGE


def _skip_parent_main(_main: str) -> None:
    """In place of ``spawn._fixup_main_from_name`` and ``_fixup_main_from_path``: the worker keeps
    the server's own ``__main__``."""


# Private names of multiprocessing.spawn (3.4 to 3.14); where they are gone, workers import the
# parent's main module as before: slower to start and larger, never wrong. The server is one per
# process: any other pool on the forkserver context (none in this project) would share it, and
# could not be sent functions defined in the main module.
for _name in ("_fixup_main_from_name", "_fixup_main_from_path"):
    if hasattr(spawn, _name):
        setattr(spawn, _name, _skip_parent_main)

extract_article(WARM_UP_PAGE, "http://localhost/")
gc.collect()
trim()  # what the imports and the warm-up freed is not copied into every worker
gc.freeze()
