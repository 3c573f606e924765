"""Text as the classifier reads it: case folding, sentences and word boundaries.

Everything here that has two implementations (a regex for the plain definition, Python for the
fast path) keeps both side by side, so that they cannot drift apart: ``wrap`` and
``whole_words`` define what a whole word is.
"""

from __future__ import annotations

import logging
import re

# The regex engine's table of letters that IGNORECASE treats as one; _fold must agree with it.
import re._casefix as _casefix
from typing import TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")


def _equivalents() -> dict[int, str]:
    """Lower-case letters that IGNORECASE treats as one ("σ" and "ς", "s" and "ſ", "µ" and
    "μ" ...), each mapped to one representative of its group."""
    groups: list[set[int]] = []
    for code, others in _casefix._EXTRA_CASES.items():
        group = {code, *others}
        for other in [g for g in groups if g & group]:
            group |= other
            groups.remove(other)
        groups.append(group)
    return {c: chr(min(group)) for group in groups for c in group if c != min(group)}


_EQUIVALENT = _equivalents()
_NEEDS_EQUIVALENT = re.compile("[" + "".join(re.escape(chr(c)) for c in sorted(_EQUIVALENT)) + "]")


def _fold(text: str) -> str:
    """Lower case as the regex engine's IGNORECASE sees it. str.lower() turns "İ" into "i" and a
    combining dot (the engine: "i"), and keeps letters apart that the engine treats as one."""
    lowered = text.lower().replace("i\u0307", "i")
    if _NEEDS_EQUIVALENT.search(lowered):  # rare: a C-speed scan decides
        lowered = lowered.translate(_EQUIVALENT)
    return lowered


# Sentence ends: ., ! or ? followed by space and a capital, quote or digit; or a blank line.
# Written to start with a character class, so the regex engine can skip ahead to candidates.
_SENTENCE_END = re.compile(r"[.!?](?P<sep>[\"'”’)]?\s+(?=[\"'“‘(\[]?[A-Z0-9]))|\n\s*\n|\n(?=[A-Z•\-])")


def split_sentences(text: str) -> list[tuple[int, int]]:
    """(start, end) offsets of the sentences of ``text``."""
    spans, start = [], 0
    for match in _SENTENCE_END.finditer(text):
        end = match.start("sep") if match.group("sep") is not None else match.start()  # keep the "."
        if end > start:
            spans.append((start, end))
        start = match.end()
    if start < len(text):
        spans.append((start, len(text)))
    return spans


def wrap(patterns: list[str]) -> str:
    """One regex matching any of ``patterns`` as a whole word: no word character or hyphen
    right before or after it. ``whole_words`` is the same definition, for the fast path."""
    alternation = "|".join(f"(?:{p})" for p in patterns)
    return rf"(?<![\w-])(?:{alternation})(?![\w-])"


def whole_words(text: str, hits: list[tuple[int, int, T]]) -> list[tuple[int, int, T]]:
    """The hits ``(start, stop, value)`` where ``text[start:stop]`` stands as ``wrap`` demands:
    [\\w-] on neither side (\\w is a letter, digit or underscore: ``str.isalnum()`` or "_").
    Most hits of a string search fail here ("use" in "house")."""
    size = len(text)
    words = []
    for hit in hits:
        start, stop, _ = hit
        if start:
            c = text[start - 1]
            if c.isalnum() or c == "_" or c == "-":
                continue
        if stop < size:
            c = text[stop]
            if c.isalnum() or c == "_" or c == "-":
                continue
        words.append(hit)
    return words
