"""A story reduced to what grouping compares: its words, its shingles' MinHash and its anchors.

Pure and cheap (about 1 ms a story), so a poll computes it beside classification and grouping
itself is only arithmetic on the writer thread.

- Words: headline (counted twice) and lead, case-folded and folded as the classifier folds
  them (Arabic letter variants, traditional Chinese), digits kept ("18", "2397"); runs of Han,
  kana or Hangul become overlapping character pairs, since those scripts write no spaces.
- MinHash (``minhash``) of the character 5-shingles of headline and text, whitespace removed:
  wire copies and syndicated reprints share most shingles whatever their script, so near
  duplicates are found without tokenising anything.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np

from ..classify.normalise import clean
from ..classify.segment import _fold, is_cjk
from . import minhash as _minhash
from .anchors import Anchors, anchors, lead_of
from .minhash import HashValues

NUM_PERM = 64
SHINGLE = 5
SHINGLE_TEXT = 1500  # characters of headline and text the shingles are taken from
_TOKEN = re.compile(r"\w+")
_SPACE = re.compile(r"\s+")


@dataclass(frozen=True, slots=True)
class Sketch:
    """One story as grouping sees it. ``key`` is the article's id (or the input line's)."""

    key: int
    time: datetime
    language: str | None
    terms: dict[str, float]  # term -> count (headline counted twice)
    minhash: HashValues = field(compare=False)  # read-only
    anchors: Anchors
    title: str
    source: str  # the outlet: its feed, else the link's host
    actor: str | None = None  # a place code: who fired, or who imposes, as fact extraction reads it


def terms(title: str, lead: str) -> Counter[str]:
    """Words (and character pairs in spaceless scripts) of the headline, twice, and lead."""
    counts: Counter[str] = Counter()
    for text, weight in ((title, 2), (lead, 1)):
        for token in _TOKEN.findall(_fold(clean(text))):
            if len(token) < 2 and not is_cjk(token):
                continue
            if any(is_cjk(c) for c in token):
                for run in re.findall(r"[^\W\d_a-zа-я]+", token):
                    cjk = [c for c in run if is_cjk(c)]
                    pairs = ["".join(cjk[i : i + 2]) for i in range(max(len(cjk) - 1, 1))]
                    for pair in pairs:
                        counts[pair] += weight
                continue
            counts[token] += weight
    return counts


def minhash(title: str, text: str) -> HashValues:
    """The MinHash of a story's character shingles (see the module docstring)."""
    flat = _SPACE.sub("", _fold(clean(f"{title} {text[:SHINGLE_TEXT]}")))
    shingles = {flat[i : i + SHINGLE].encode() for i in range(max(len(flat) - SHINGLE + 1, 1))}
    values = _minhash.minhash(shingles, NUM_PERM)
    values.setflags(write=False)
    return values


def sketch(
    key: int,
    title: str,
    text: str,
    language: str | None,
    time: datetime,
    source: str = "",
    actor: str | None = None,
) -> Sketch:
    """Everything grouping needs of one story; ``actor``: who fired or who imposes (a place
    code), from its facts."""
    lead = lead_of(text)
    return Sketch(
        key=key,
        time=time,
        language=language,
        terms=dict(terms(title, lead)),
        minhash=minhash(title, text),
        anchors=anchors(title, lead, language, time.date()),
        title=title,
        source=source,
        actor=actor,
    )


def jaccard(a: HashValues, b: HashValues) -> float:
    """The share of equal minimums: an estimate of the shingles' Jaccard similarity."""
    return float(np.count_nonzero(a == b)) / NUM_PERM
