"""Imported once by the extraction pool's forkserver, before it forks any worker.

Loads trafilatura and the data it reads on a first extraction (about 60 MB), so that every
worker forked from the server starts warm and shares those pages with the others instead of
loading its own copy; and nothing else: by default the forkserver imports ``__main__``, the whole
CLI (issue 17). ``gc.freeze`` keeps the collector from touching, and so copying, what is shared.
"""

from __future__ import annotations

import gc

from ..stages.extract import extract_article
from .memory import trim
from .worker import WARM_UP_PAGE

extract_article(WARM_UP_PAGE, "http://localhost/")
gc.collect()
trim()  # what the imports and the warm-up freed is not copied into every worker
gc.freeze()
