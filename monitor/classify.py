"""The classifier now lives in :mod:`monitor.stages.classify`.

This module is kept only until the callers move: it re-exports the names they import from it.
New code imports from ``monitor.stages.classify``.
"""

from __future__ import annotations

from monitor.stages.classify import *  # noqa: F403
from monitor.stages.classify import (
    BUILTIN_TOPICS,
    Topic,
    builtin_definition,
    classify,
    compile_topic,
    load_topics,
    split_sentences,
)
from monitor.stages.classify.score import _Doc

__all__ = [
    "BUILTIN_TOPICS",
    "Topic",
    "_Doc",
    "builtin_definition",
    "classify",
    "compile_topic",
    "load_topics",
    "split_sentences",
]
