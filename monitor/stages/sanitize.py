"""Untrusted text made safe to store and show: no terminal escapes, no invisible reordering.

Feed titles and page text end up in the database, where the sqlite3 shell, Datasette and
``monitor`` commands show them. An ESC sequence can rewrite a terminal; a right-to-left override
(U+202E) can make ``gpj.exe`` read as ``exe.jpg``. Both are removed before anything is stored.
"""

from __future__ import annotations

import re

# C0 controls except tab and newline, DEL, C1 controls, and the bidi embeddings, overrides and
# isolates (U+202A-U+202E, U+2066-U+2069). Marks (LRM, RLM) are harmless and kept.
_UNSAFE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def strip_controls(text: str) -> str:
    """``text`` without control and bidi-override characters (tabs and newlines kept)."""
    return _UNSAFE.sub("", text) if _UNSAFE.search(text) else text
