"""MinHash of a story's shingles, and the banded index that finds near copies among them.

The same arithmetic as datasketch's ``MinHash`` (its default "affine32" scheme, seed 1) and
``MinHashLSH`` (bands chosen to minimise the equally weighted false-positive and false-negative
areas), which a test checks value for value. It is written out here because importing
datasketch imports its whole package, SciPy and the Redis client among it: 55 MB in the daemon
for 64 multiplications a shingle (``docs/decisions.md``).
"""

from __future__ import annotations

import functools
import hashlib
import itertools
from collections.abc import Callable, Iterable

import numpy as np
import numpy.typing as npt

_EMPTY = np.uint32(0xFFFFFFFF)
_FMIX = (np.uint32(16), np.uint32(0x85EBCA6B), np.uint32(13), np.uint32(0xC2B2AE35), np.uint32(16))

HashValues = npt.NDArray[np.uint32]


@functools.cache
def _permutations(num_perm: int, seed: int) -> tuple[HashValues, HashValues]:
    """The affine maps h -> a * h + b (mod 2^32, ``a`` odd: a bijection) of each permutation."""
    gen = np.random.RandomState(seed)
    a = gen.randint(0, 1 << 31, num_perm, dtype=np.uint32) * np.uint32(2) + np.uint32(1)
    b = gen.randint(0, 1 << 32, num_perm, dtype=np.uint32)
    return a, b


def _fmix32(hv: HashValues) -> HashValues:
    """MurmurHash3's finalizer: a fixed bijection that spreads structured hash values."""
    s1, m1, s2, m2, s3 = _FMIX
    hv = hv ^ (hv >> s1)
    hv = hv * m1
    hv = hv ^ (hv >> s2)
    hv = hv * m2
    return hv ^ (hv >> s3)


def minhash(shingles: Iterable[bytes], num_perm: int, seed: int = 1) -> HashValues:
    """The ``num_perm`` minimum permuted hashes of ``shingles`` (each hashed by the first four
    bytes of its SHA-1, little-endian); all 2^32 - 1 when there are none."""
    sha1 = functools.partial(hashlib.sha1, usedforsecurity=False)  # a spread, not a secret
    hashes = [int.from_bytes(sha1(s).digest()[:4], "little") for s in shingles]
    if not hashes:
        return np.full(num_perm, _EMPTY, dtype=np.uint32)
    a, b = _permutations(num_perm, seed)
    hv = _fmix32(np.array(hashes, dtype=np.uint32).reshape(-1, 1))
    with np.errstate(over="ignore"):
        permuted: HashValues = hv * a + b  # wraps: arithmetic mod 2^32
    values: HashValues = permuted.min(axis=0)
    return values


Curve = Callable[[npt.NDArray[np.float64]], npt.NDArray[np.float64]]


def _area(f: Curve, low: float, high: float, points: int = 2001) -> float:
    """Simpson's rule over [low, high] for a vectorised ``f`` (smooth polynomials here)."""
    s = np.linspace(low, high, points)
    y = f(s)
    h = (high - low) / (points - 1)
    return float(h / 3 * (y[0] + y[-1] + 4 * y[1:-1:2].sum() + 2 * y[2:-1:2].sum()))


@functools.cache
def bands(threshold: float, num_perm: int) -> tuple[int, int]:
    """(bands, rows per band) minimising the area of false positives below ``threshold`` plus
    that of false negatives above it, as datasketch's ``MinHashLSH`` chooses them."""
    best, choice = float("inf"), (0, 0)
    for b in range(1, num_perm + 1):
        for r in range(1, num_perm // b + 1):
            false_positive = _area(lambda s: 1 - (1 - s**r) ** b, 0.0, threshold)  # noqa: B023
            false_negative = _area(lambda s: (1 - s**r) ** b, threshold, 1.0)  # noqa: B023
            if false_positive + false_negative < best:
                best, choice = false_positive + false_negative, (b, r)
    return choice


class LSH:
    """Keys of MinHashes, found again by any MinHash that equals one of theirs in a whole band."""

    def __init__(self, threshold: float, num_perm: int) -> None:
        b, r = bands(threshold, num_perm)
        self._ranges = [(i * r, (i + 1) * r) for i in range(b)]
        self._tables: list[dict[bytes, set[int]]] = [{} for _ in range(b)]
        self._keys: dict[int, tuple[int, list[bytes]]] = {}  # key -> (when indexed, bands)
        self._count = itertools.count()

    def _bands(self, hashvalues: HashValues) -> list[bytes]:
        return [hashvalues[start:end].tobytes() for start, end in self._ranges]

    def __contains__(self, key: int) -> bool:
        return key in self._keys

    def insert(self, key: int, hashvalues: HashValues) -> None:
        if key in self._keys:
            raise ValueError(f"key {key!r} is already indexed")
        self._keys[key] = (next(self._count), self._bands(hashvalues))
        for table, band in zip(self._tables, self._keys[key][1], strict=True):
            table.setdefault(band, set()).add(key)

    def remove(self, key: int) -> None:
        for table, band in zip(self._tables, self._keys.pop(key)[1], strict=True):
            members = table[band]
            members.discard(key)
            if not members:
                del table[band]

    def query(self, hashvalues: HashValues) -> list[int]:
        """The keys sharing a band with ``hashvalues``, in the order they were indexed."""
        found: set[int] = set()
        for table, band in zip(self._tables, self._bands(hashvalues), strict=True):
            found.update(table.get(band, ()))
        return sorted(found, key=lambda key: self._keys[key][0])
