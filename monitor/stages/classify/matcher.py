"""Vocabularies compiled for speed: a topic's regexes, and the strings that find them fast.

A vocabulary's regex (``Vocabulary.pattern``) defines what it matches. Patterns with a small
finite language (``launch(?:es|ed)?``) are expanded into the lower-case strings they match,
found by one Aho-Corasick pass per topic plus a word-boundary check; for the other patterns,
the literals every match must contain are derived, so that their regex runs only in the
sentences holding one.

This is the only module that uses CPython's private regex parser (``re._parser`` and
``re._constants``, Python >= 3.11) to read patterns. One more private table, ``re._casefix``
(the letters IGNORECASE treats as one), is read by ``segment``, where case folding lives: this
module folds patterns with it, so it depends on ``segment``, not the reverse. Anything the
parser returns that is not understood here falls back to the plain regex, never to a different
result.
"""

from __future__ import annotations

import itertools
import logging
import re

# CPython's own regex parser (Python >= 3.11), used only to derive prefilter literals.
import re._constants as _c
import re._parser as _parser
from dataclasses import dataclass
from typing import Any

import ahocorasick_rs

from .normalise import clean
from .segment import WordPattern, _fold

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Vocabulary:
    """A compiled vocabulary. ``pattern`` defines what it matches. For speed, the patterns
    with a small finite language (``launch(?:es|ed)?``) are also expanded into the lower-case
    strings they match (``exact``), found by one Aho-Corasick pass over the lowered text and a
    word-boundary check; the others are regexes tried only in the sentences that contain one of
    their required literals (``literals``; ``None`` when none can be derived): ``rest`` written
    in lower case for the folded text, ``cased`` (those with a case-sensitive part, ``(?-i:UN)``)
    for the original text. Kept apart, a case-sensitive pattern never takes its vocabulary's
    other regexes off the folded text (where traditional Chinese meets simplified)."""

    pattern: WordPattern  # all patterns, case-insensitive, for the original text
    exact: tuple[str, ...]
    rest: WordPattern | None  # for the folded text
    cased: WordPattern | None  # for the original text
    literals: tuple[str, ...] | None
    index: int  # its position in the topic's terms: how the automaton's values name it


def _lower_pattern(pattern: str) -> str | None:
    """The pattern with its literals in lower case (escapes kept), or None if that could change
    its meaning (case-sensitive groups, named escapes)."""
    if "(?-i" in pattern or "\\N" in pattern or "(?P" in pattern:
        return None
    # Escapes ("\\w", "\\S") keep their case; the runs between them are folded as the text is.
    parts = re.split(r"(\\.)", pattern, flags=re.DOTALL)
    return "".join(part if i % 2 else _fold(part) for i, part in enumerate(parts))


def _required_literals(items: Any) -> set[str] | None:
    """Literal strings, one of which every match of the parsed sequence must contain."""
    best: set[str] | None = None

    def consider(candidate: set[str] | None) -> None:
        nonlocal best
        if (
            candidate
            and all(len(c) >= 3 for c in candidate)
            and (best is None or min(map(len, candidate)) > min(map(len, best)))
        ):
            best = candidate

    run = ""
    for op, av in items:
        if op is _c.LITERAL:
            run += chr(av)
            continue
        consider({_fold(run)} if run else None)
        run = ""
        if op is _c.SUBPATTERN:
            consider(_required_literals(av[3]))
        elif op is _c.BRANCH:
            alternatives = [_required_literals(branch) for branch in av[1]]
            if all(alternatives):
                consider(set().union(*alternatives))  # type: ignore[arg-type]
        elif op in (_c.MAX_REPEAT, _c.MIN_REPEAT) and av[0] >= 1:
            consider(_required_literals(av[2]))
    consider({_fold(run)} if run else None)
    return best


def _expand(items: Any, limit: int = 256) -> list[str] | None:
    """Every string the parsed (lower-case, flag-free) pattern matches, or None if there are
    more than ``limit`` or the pattern uses anything but literals, small character sets,
    alternatives, groups and bounded repeats."""
    out = [""]
    for op, av in items:
        if op is _c.LITERAL:
            alternatives: list[str] | None = [chr(av)]
        elif op is _c.IN:
            alternatives = []
            for kind, value in av:
                if kind is _c.LITERAL:
                    alternatives.append(chr(value))
                elif kind is _c.RANGE and value[1] - value[0] < 16:
                    alternatives.extend(chr(c) for c in range(value[0], value[1] + 1))
                else:
                    return None
        elif op is _c.SUBPATTERN:
            alternatives = None if av[1] or av[2] else _expand(av[3], limit)
        elif op is _c.BRANCH:
            branches = [_expand(branch, limit) for branch in av[1]]
            alternatives = None if None in branches else [a for b in branches for a in b or ()]
        elif op in (_c.MAX_REPEAT, _c.MIN_REPEAT) and av[1] <= 3:
            once = _expand(av[2], limit)
            alternatives = None
            if once is not None:
                alternatives = [
                    "".join(parts)
                    for k in range(av[0], av[1] + 1)
                    for parts in itertools.product(once, repeat=k)
                ]
        else:
            return None
        if alternatives is None:
            return None
        out = [a + b for a in out for b in alternatives]
        if len(out) > limit:
            return None
    return out


def compile_vocabulary(patterns: list[str], index: int) -> Vocabulary:
    """The vocabulary matching any of ``patterns`` (valid regexes) as a whole word; ``index`` is
    its position in its topic's terms. Patterns are cleaned as the text is (``normalise.clean``:
    letters and digits only, so no regex syntax changes)."""
    patterns = [clean(p) for p in patterns]
    exact: set[str] = set()
    rest: list[str] = []
    for p in patterns:
        lowered = _lower_pattern(p)
        strings = None
        if lowered is not None:
            try:
                strings = _expand(_parser.parse(lowered))
            except Exception:  # a parser detail we do not handle: keep the regex
                strings = None
        # Short strings ("on") occur inside most words: their boundary checks cost more than
        # the regex they would save.
        if strings and all(len(x) >= 3 for x in strings):
            exact.update(strings)
        else:
            rest.append(p)
    literals = None
    lowered_rest = [lowered for lowered in map(_lower_pattern, rest) if lowered is not None]
    cased = [p for p in rest if _lower_pattern(p) is None]
    if rest:
        found_all: set[str] | None = set()
        for p in rest:
            try:
                found = _required_literals(_parser.parse(p, re.IGNORECASE))
            except Exception:  # a parser detail we do not handle: no prefilter, same results
                found = None
            if not found or found_all is None:
                found_all = None
                break
            found_all |= found
        literals = tuple(sorted(found_all)) if found_all is not None else None
    return Vocabulary(
        pattern=WordPattern(patterns, re.IGNORECASE),
        exact=tuple(sorted(exact)),
        rest=WordPattern(lowered_rest) if lowered_rest else None,
        cased=WordPattern(cased, re.IGNORECASE) if cased else None,
        literals=literals,
        index=index,
    )


# Per string: (indexes of the vocabularies that have it as an exact string, indexes of those
# that have it as a prefilter literal of their regex).
Values = tuple[tuple[tuple[int, ...], tuple[int, ...]], ...]


class Automaton:
    """One Aho-Corasick automaton over a topic's strings, and a value per string (``values``):
    the vocabularies that have it as an exact string (a match when it stands as a whole word)
    and those that have it as a prefilter literal of their regex, named by their index in the
    topic's terms, so that the values mean the same in any process.

    Picklable (a compiled topic is sent to worker processes): the Rust automaton cannot be
    pickled, so it is rebuilt from the strings when loaded."""

    __slots__ = ("_automaton", "strings", "values")

    def __init__(self, strings: tuple[str, ...], values: Values) -> None:
        self.strings = strings
        self.values = values
        self._automaton = ahocorasick_rs.AhoCorasick(list(strings))

    def __reduce__(self) -> tuple[type[Automaton], tuple[tuple[str, ...], Values]]:
        return Automaton, (self.strings, self.values)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Automaton):
            return NotImplemented
        return (self.strings, self.values) == (other.strings, other.values)

    __hash__ = None  # type: ignore[assignment]  # as a topic: compared, not hashed

    def find(self, text: str) -> list[tuple[int, int, int]]:
        """Every occurrence of every string, overlapping ones included: (string, start, stop)."""
        found: list[tuple[int, int, int]] = self._automaton.find_matches_as_indexes(text, overlapping=True)
        return found


def build_automaton(vocabularies: list[Vocabulary]) -> Automaton | None:
    """The automaton over the vocabularies' exact strings and literals (None if they have none)."""
    exact: dict[str, list[int]] = {}
    literal: dict[str, list[int]] = {}
    for vocabulary in vocabularies:
        for string in vocabulary.exact:
            exact.setdefault(string, []).append(vocabulary.index)
        for string in vocabulary.literals or ():
            literal.setdefault(string, []).append(vocabulary.index)
    if not exact and not literal:
        return None
    strings = tuple(sorted(exact.keys() | literal.keys()))
    return Automaton(strings, tuple((tuple(exact.get(s, ())), tuple(literal.get(s, ()))) for s in strings))
