"""Word lists as one case-insensitive regex, each word matched as its script writes words."""

from __future__ import annotations

import re
from collections.abc import Iterable

from ..classify.segment import is_cjk


def alternation(words: Iterable[str], *, whole: bool = False) -> re.Pattern[str]:
    """Any of ``words``, longest first: a Han, kana or Hangul word as a string (those scripts put
    no space between words); any other at the start of a word. With ``whole``, a Latin-script
    word as a whole word and a Cyrillic one as a stem with its ending (Cyrillic inflects);
    without, a word may go on ("altitude" finds "altitudes")."""
    parts = []
    for word in sorted(words, key=len, reverse=True):
        if is_cjk(word[0]):
            parts.append(re.escape(word))
        elif not whole:
            parts.append(rf"(?<![\w-]){re.escape(word)}")
        elif "\u0400" <= word[0] <= "\u04ff":
            parts.append(rf"(?<![\w-]){re.escape(word)}\w*")
        else:
            parts.append(rf"(?<![\w-]){re.escape(word)}(?![\w-])")
    return re.compile("|".join(parts), re.IGNORECASE)
