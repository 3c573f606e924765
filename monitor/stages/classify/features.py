"""What the learned model reads: hashed n-grams of the headline and lead, and the rules' reading.

Features are hashed into a fixed space of ``2**bits`` slots (no vocabulary file to keep, a word
never seen in training costs nothing) with a sign from another bit of the hash, so collisions
cancel out on average instead of adding up. Three groups:

- character n-grams (``CHAR_NGRAMS``) of the folded headline and lead, hashed with numpy by a
  polynomial over code points: they need no tokeniser, so they carry over to Korean, Chinese,
  Japanese and Arabic, and cost a few microseconds;
- word unigrams and bigrams of the same text (``\\w+`` tokens), hashed with CRC-32;
- the rules: for each rule that fired, where (headline, lead, later) and how often, the rules'
  own score, and how central the topic is to the story (the share of its sentences with
  evidence, the zone of the first), so the model learns how much to trust each rule rather than
  replace it.

The n-gram groups are scaled to unit length, so a long lead does not outweigh a short one.
Deterministic (no ``hash()``, no randomness) and identical in training and in the daemon: both
go through ``score._score_topic``'s reading of the story (``score.topic_features`` for training).
"""

from __future__ import annotations

import math
import re
import zlib
from collections.abc import Iterable
from dataclasses import dataclass
from itertools import pairwise

import numpy as np
import numpy.typing as npt

BITS = 16
CHAR_NGRAMS = (3, 4, 5)
LEAD_CHARS = 600  # the headline plus this much of the body: the story is at the top
# The rules' score enters at three times its value: the same weight on it then costs a third
# of the regularisation, so the model starts from trusting the rules and the n-grams correct
# them where the training stories say so (cross-validated: docs/decisions.md).
RULE_SCORE_SCALE = 3.0
_WORDS = re.compile(r"\w+")
_PRIME = np.uint64(1_000_003)
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_SALTS = {n: np.uint64(0x51ED27F3A5B1C3D7 * n % (1 << 64)) for n in CHAR_NGRAMS}


@dataclass(frozen=True, slots=True)
class RuleReading:
    """A rule that fired in an article: where, and how often."""

    name: str
    title: int
    lead: int
    late: int


@dataclass(frozen=True, slots=True)
class Features:
    """A sparse vector in a space of ``2**bits`` slots: indices and their signed values."""

    bits: int
    indices: npt.NDArray[np.int64]
    values: npt.NDArray[np.float32]


def lead_text(title: str, text: str) -> str:
    """The headline and the opening of the body, folded to lower case with spaces collapsed."""
    body = text[: LEAD_CHARS * 2]
    head = " ".join(title.split())
    lead = " ".join(body.split())[:LEAD_CHARS]
    return f"{head} | {lead}".lower() if head else lead.lower()


def _char_hashes(text: str) -> npt.NDArray[np.uint64]:
    """64-bit hashes of every character n-gram, vectorised: the polynomial hash of each 2-gram
    is extended one character at a time (h = h * P + c, wrapping), and each length in
    ``CHAR_NGRAMS`` is emitted with its own salt so that "abc" and "abcd" differ."""
    codes = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32).astype(np.uint64)
    out = []
    h = codes
    for n in range(2, max(CHAR_NGRAMS) + 1):
        if len(codes) < n:
            break
        h = h[:-1] * _PRIME + codes[n - 1 :]
        if n in CHAR_NGRAMS:
            out.append(h ^ _SALTS[n])
    if not out:
        return np.zeros(0, dtype=np.uint64)
    return np.concatenate(out)


def _slots(
    hashes: npt.NDArray[np.uint64], bits: int
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float32]]:
    """Distinct slots of some hashes and their signs, scaled to unit length. The hashes are
    mixed by a multiplication with the golden ratio (Fibonacci hashing): the slot is the top
    ``bits`` bits, the sign the bit below them."""
    if not len(hashes):
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
    hashes = np.sort(hashes)  # distinct values, as np.unique would give them but five times faster
    hashes = hashes[np.concatenate(([True], hashes[1:] != hashes[:-1]))]
    mixed = hashes * _GOLDEN
    index = (mixed >> np.uint64(64 - bits)).astype(np.int64)
    sign = np.float32(1.0) - np.float32(2.0) * ((mixed >> np.uint64(63 - bits)) & np.uint64(1)).astype(
        np.float32
    )
    return index, sign / np.float32(math.sqrt(len(hashes)))


def _crc(strings: Iterable[str]) -> npt.NDArray[np.uint64]:
    return np.fromiter((zlib.crc32(s.encode()) for s in strings), dtype=np.uint64)


def text_features(lead: str, bits: int = BITS) -> Features:
    """Character and word n-grams of a lead (as ``lead_text`` makes it)."""
    words = _WORDS.findall(lead)
    grams = [f"w {w}" for w in words] + [f"b {a} {b}" for a, b in pairwise(words)]
    char_index, char_value = _slots(_char_hashes(lead), bits)
    word_index, word_value = _slots(_crc(grams), bits)
    return Features(bits, np.concatenate([char_index, word_index]), np.concatenate([char_value, word_value]))


def rule_features(
    readings: Iterable[RuleReading], rule_score: float, coverage: tuple[float, str], bits: int = BITS
) -> Features:
    """The rules' reading as features: one per rule and zone it fired in, its total count
    (log-scaled), the rules' score, and how central the topic is to the story (the share of
    sentences with evidence, the zone of the first): a passing clause is not a story."""
    share, first = coverage
    names: list[str] = ["share", f"first {first}"]
    values: list[float] = [share, 1.0]
    for r in readings:
        for zone, hits in (("title", r.title), ("lead", r.lead), ("late", r.late)):
            if hits:
                names.append(f"r {r.name} {zone}")
                values.append(1.0)
        names.append(f"n {r.name}")
        values.append(math.log1p(r.title + r.lead + r.late))
    names.append("score")
    values.append(rule_score * RULE_SCORE_SCALE)
    return Features(bits, _named_slots(names, bits), np.asarray(values, dtype=np.float32))


def _named_slots(names: list[str], bits: int) -> npt.NDArray[np.int64]:
    """Slots of the rules' named features (unsigned: they are few, and collide rarely)."""
    return (_crc(names) & np.uint64((1 << bits) - 1)).astype(np.int64)


def score_slot(bits: int = BITS) -> int:
    """The slot of the rules' score (where ``rule_features`` puts it)."""
    return int(_named_slots(["score"], bits)[0])


def combine(first: Features, *rest: Features) -> Features:
    """One vector of several groups (same space; slots shared by two groups add up)."""
    parts = (first, *rest)
    return Features(
        first.bits, np.concatenate([p.indices for p in parts]), np.concatenate([p.values for p in parts])
    )
