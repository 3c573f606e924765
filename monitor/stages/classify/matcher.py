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

import functools
import itertools
import logging
import re

# CPython's own regex parser (Python >= 3.11), used only to derive prefilter literals.
import re._constants as _c
import re._parser as _parser
import sys
from dataclasses import dataclass
from typing import Any

import ahocorasick_rs

from .normalise import clean
from .segment import WordPattern, _fold, is_cjk

log = logging.getLogger(__name__)


KEY_SPACE = 1 << 16  # a regex group's key: vocabulary index * KEY_SPACE + its position


@dataclass(frozen=True, slots=True)
class RegexGroup:
    """Some of a vocabulary's regexes, run together: on the folded text (``lowered``: written in
    lower case) or on the original (patterns with a case-sensitive part, ``(?-i:UN)``); only in
    the sentences holding one of ``literals`` (strings every match contains), or in every
    sentence when ``literals`` is None. ``key`` names the group in the automaton's values."""

    pattern: WordPattern
    lowered: bool
    literals: tuple[str, ...] | None
    key: int  # vocabulary index * KEY_SPACE + its position in the vocabulary's groups
    # Without ``literals``: strings every match contains that are too short to be worth the
    # automaton's boundary checks on every document ("h3", "g7", "х-"), but which, searched
    # for in a document when the group is needed, spare the regex most of its sentences.
    hints: tuple[str, ...] | None = None


@dataclass(frozen=True, slots=True)
class Vocabulary:
    """A compiled vocabulary. ``pattern`` defines what it matches. For speed, the patterns
    with a small finite language (``launch(?:es|ed)?``) are also expanded into the lower-case
    strings they match (``exact``), found by one Aho-Corasick pass over the lowered text and a
    word-boundary check; ``stem\\w*`` patterns likewise (``stems``). The others are split at
    their top-level "|" into regex groups (``groups``): one per set of required literals, run
    only in the sentences holding one of them, so that a sentence pays for the alternatives
    it may match, not for the whole vocabulary; and those without one (``unfiltered``), one
    group per text they read and ``hints``, run on the sentences holding a hint, or on every
    sentence when they have none."""

    pattern: WordPattern  # all patterns, case-insensitive, for the original text
    exact: tuple[str, ...]
    # Strings that open a word: ``stem\w*`` patterns (ракет\w*, أطلق\w*), found by the same
    # automaton; the word may go on (``segment.stem_words``).
    stems: tuple[str, ...]
    groups: tuple[RegexGroup, ...]
    unfiltered: tuple[RegexGroup, ...]  # the groups without literals
    index: int  # its position in the topic's terms: how the automaton's values name it


def _lower_pattern(pattern: str) -> str | None:
    """The pattern with its literals in lower case (escapes kept), or None if that could change
    its meaning (case-sensitive groups, named escapes)."""
    if "(?-i" in pattern or "\\N" in pattern or "(?P" in pattern:
        return None
    # Escapes ("\\w", "\\S") keep their case; the runs between them are folded as the text is.
    parts = re.split(r"(\\.)", pattern, flags=re.DOTALL)
    return "".join(part if i % 2 else _fold(part) for i, part in enumerate(parts))


def _weight(string: str) -> int:
    """How selective a string is as a search key: its length, a Han, kana or Hangul character
    counting twice (발사 and 制裁 are words; "on" is inside most English words)."""
    return sum(2 if c >= "\u1100" and is_cjk(c) else 1 for c in string)


MIN_WEIGHT = 3  # strings lighter than this cost more in boundary checks than they save


def _literal_weight(literal: str) -> int:
    """A prefilter literal's weight, its white space left out: a space is in every sentence, so
    " من " is as common as the word من (Arabic "from")."""
    return _weight("".join(literal.split()))


def _selective(literal: str) -> bool:
    """Whether a required literal is worth a prefilter: as heavy as an exact string, or one
    Han, kana or Hangul character (러, 北: rare enough in a sentence to skip most of them)."""
    return _literal_weight(literal) >= MIN_WEIGHT or (
        len(literal) == 1 and literal >= "\u1100" and is_cjk(literal)
    )


MIN_HINT_WEIGHT = 2  # a single letter is in every sentence: no use as a hint


def _hint(literal: str) -> bool:
    """Whether a required literal is worth a search when its group is needed (``RegexGroup.hints``):
    two characters or more, one of them not a letter. Two letters are in most sentences of their
    script ("on", "un", Arabic "ال"), and finding them costs more than the regex they would spare;
    a digit or a hyphen beside a letter is rare (model names: H3, G7, Х-101)."""
    return _weight(literal) >= MIN_HINT_WEIGHT and not literal.replace(" ", "").isalpha()


def _required_literals(items: Any, selective: Any = _selective) -> set[str] | None:
    """Literal strings, one of which every match of the parsed sequence must contain, each
    passing ``selective``."""
    best: set[str] | None = None

    def consider(candidate: set[str] | None) -> None:
        nonlocal best
        if (
            candidate
            and all(selective(c) for c in candidate)
            and (best is None or min(map(_literal_weight, candidate)) > min(map(_literal_weight, best)))
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
            consider(_required_literals(av[3], selective))
        elif op is _c.BRANCH:
            alternatives = [_required_literals(branch, selective) for branch in av[1]]
            if all(alternatives):
                consider(set().union(*alternatives))  # type: ignore[arg-type]
        elif op in (_c.MAX_REPEAT, _c.MIN_REPEAT) and av[0] >= 1:
            consider(_required_literals(av[2], selective))
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


def _alternatives(pattern: str) -> list[str]:
    """The pattern's top-level alternatives ("a|b(c|d)" -> "a", "b(c|d)"), or the pattern
    itself when splitting could change what it means (global flags, group references)."""
    if pattern.startswith("(?") and re.match(r"\(\?[aiLmsux]+\)", pattern):
        return [pattern]
    if re.search(r"\\[1-9]|\(\?P[=<]|\(\?\(", pattern):
        return [pattern]
    parts, depth, start, i, in_class = [], 0, 0, 0, False
    while i < len(pattern):
        c = pattern[i]
        if c == "\\":
            i += 2
            continue
        if in_class:
            in_class = c != "]"
        elif c == "[":
            in_class = True
            if pattern[i + 1 : i + 2] == "^":
                i += 1
            if pattern[i + 1 : i + 2] == "]":
                i += 1  # a "]" first in a class is a literal
        elif c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
        elif c == "|" and depth == 0:
            parts.append(pattern[start:i])
            start = i + 1
        i += 1
    parts.append(pattern[start:])
    return parts if all(parts) else [pattern]


def _search_strings(lowered: str | None, min_weight: int = MIN_WEIGHT) -> list[str] | None:
    """Every string a lower-cased pattern matches, when they are few and each at least
    ``min_weight`` (short strings, "on", occur inside most words: their boundary checks cost
    more than the regex they would save); else None."""
    if lowered is None:
        return None
    try:
        strings = _expand(_parser.parse(lowered))
    except Exception:  # a parser detail we do not handle: keep the regex
        return None
    return strings if strings and all(_weight(x) >= min_weight for x in strings) else None


def _stem_head(lowered: str | None) -> str | None:
    r"""``stem`` of a lower-cased ``stem\w*`` pattern (the word may go on), else None."""
    if lowered is None or not lowered.endswith("\\w*"):
        return None
    head = lowered[:-3]
    backslashes = len(head) - len(head.rstrip("\\"))
    return head if head and backslashes % 2 == 0 else None  # not "\\\\w*" (a literal backslash)


# What one alternative of a pattern is: its exact strings ("exact"), the heads of its stems
# ("stems"), or a regex ("regex") with its required literals and hints (RegexGroup); and the
# pattern as it reads the folded text (None if it cannot).
_Piece = tuple[str, str | None, tuple[str, ...], tuple[str, ...] | None, tuple[str, ...] | None]


@functools.lru_cache(maxsize=4096)
def _analyse(p: str) -> _Piece:
    """One alternative of a (cleaned) pattern, analysed. Cached: every language's reading of a
    topic holds the English vocabularies too, so without it a daemon that meets a dozen
    languages parses the same few thousand regexes a dozen times (compiling the built-in
    topics' readings of 13 languages: 1.6 s, 0.7 s with the cache, issue 17). The built-in
    topics have about 8,200 pieces; the 4,096 most recently used (1.2 MB) keep the shared ones."""
    lowered = _lower_pattern(p)
    strings = _search_strings(lowered)
    if strings:
        return "exact", lowered, tuple(strings), None, None
    heads = _search_strings(_stem_head(lowered))
    if heads:
        return "stems", lowered, tuple(heads), None, None
    try:
        parsed = _parser.parse(p, re.IGNORECASE)
        found = _required_literals(parsed)
        weak = None
        if not found:
            weak = _required_literals(parsed, _hint)
            if not weak:  # a small language of short strings ("h-?3"): the strings themselves
                strings = _search_strings(lowered, MIN_HINT_WEIGHT) or []
                weak = set(strings) if strings and all(map(_hint, strings)) else None
    except Exception:  # a parser detail we do not handle: no prefilter, same results
        found = weak = None
    literals = tuple(sorted(found)) if found else None
    return "regex", lowered, (), literals, tuple(sorted(weak)) if weak else None


def compile_vocabulary(patterns: list[str], index: int) -> Vocabulary:
    """The vocabulary matching any of ``patterns`` (valid regexes) as a whole word; ``index`` is
    its position in its topic's terms. Patterns are cleaned as the text is (``normalise.clean``:
    letters and digits only, so no regex syntax changes)."""
    patterns = [clean(p) for p in patterns]
    exact: set[str] = set()
    stems: set[str] = set()
    # (reads the folded text, required literals or None, hints or None) -> patterns
    buckets: dict[tuple[bool, tuple[str, ...] | None, tuple[str, ...] | None], list[str]] = {}
    for p in (piece for pattern in patterns for piece in _alternatives(pattern)):
        kind, lowered, strings, literals, hints = _analyse(p)
        if kind == "exact":
            exact.update(strings)
        elif kind == "stems":
            stems.update(strings)
        else:
            buckets.setdefault((lowered is not None, literals, hints), []).append(
                lowered if lowered is not None else p
            )
    groups = []
    ordered = sorted(buckets.items(), key=lambda item: (item[0][0], item[0][1] or (), item[0][2] or ()))
    for position, ((folded, literals, hints), members) in enumerate(ordered):
        groups.append(
            RegexGroup(
                pattern=WordPattern(members) if folded else WordPattern(members, re.IGNORECASE),
                lowered=folded,
                literals=literals,
                key=index * KEY_SPACE + position,
                hints=hints,
            )
        )
    return Vocabulary(
        pattern=WordPattern(patterns, re.IGNORECASE),
        # Interned: a vocabulary's words are compiled again in every language's reading of a
        # topic (its English words beside each language's), and would be held once per reading.
        exact=tuple(sorted(map(sys.intern, exact))),
        stems=tuple(sorted(map(sys.intern, stems))),
        groups=tuple(groups),
        unfiltered=tuple(g for g in groups if g.literals is None),
        index=index,
    )


# Per string: (indexes of the vocabularies that have it as an exact string, keys of the regex
# groups that have it as a prefilter literal, indexes of the vocabularies that have it as a stem).
Value = tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]]
Values = tuple[Value, ...]


class Automaton:
    """One Aho-Corasick automaton over a topic's strings, and a value per string (``values``):
    the vocabularies that have it as an exact string (a match when it stands as a whole word),
    named by their index in the topic's terms, and the regex groups that have it as a prefilter
    literal, named by their key, so that the values mean the same in any process.

    Picklable (a compiled topic is sent to worker processes): the Rust automaton cannot be
    pickled, so it is rebuilt from the strings when first used. ``classify`` searches an
    article once for all its topics (``merge``), so a topic's own automaton is built only when
    it is searched alone (training, a single topic)."""

    __slots__ = ("_automaton", "strings", "values")

    def __init__(self, strings: tuple[str, ...], values: Values) -> None:
        self.strings = strings
        self.values = values
        self._automaton: ahocorasick_rs.AhoCorasick | None = None

    def __reduce__(self) -> tuple[type[Automaton], tuple[tuple[str, ...], Values]]:
        return Automaton, (self.strings, self.values)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Automaton):
            return NotImplemented
        return (self.strings, self.values) == (other.strings, other.values)

    __hash__ = None  # type: ignore[assignment]  # as a topic: compared, not hashed

    def find(self, text: str) -> list[tuple[int, int, int]]:
        """Every occurrence of every string, overlapping ones included: (string, start, stop)."""
        if self._automaton is None:
            self._automaton = ahocorasick_rs.AhoCorasick(list(self.strings))
        found: list[tuple[int, int, int]] = self._automaton.find_matches_as_indexes(text, overlapping=True)
        return found


_NO_VALUE: Value = ((), (), ())


def merge(automata: tuple[Automaton, ...]) -> tuple[Automaton, tuple[Values, ...]]:
    """One automaton over the strings of several (the topics an article is read with), and for
    each of them its values aligned with the merged strings (empty for the strings it does not
    have): one pass over an article then serves every topic, and each reads the hits as its
    own automaton would have found them. The merged automaton's own values are the first's."""
    strings = tuple(sorted({s for automaton in automata for s in automaton.strings}))
    aligned = []
    for automaton in automata:
        own = dict(zip(automaton.strings, automaton.values, strict=True))
        aligned.append(tuple(own.get(s, _NO_VALUE) for s in strings))
    return Automaton(strings, aligned[0]), tuple(aligned)


def build_automaton(vocabularies: list[Vocabulary]) -> Automaton | None:
    """The automaton over the vocabularies' exact strings and literals (None if they have none)."""
    exact: dict[str, list[int]] = {}
    literal: dict[str, list[int]] = {}
    stem: dict[str, list[int]] = {}
    for vocabulary in vocabularies:
        for string in vocabulary.exact:
            exact.setdefault(string, []).append(vocabulary.index)
        for group in vocabulary.groups:
            for string in group.literals or ():
                literal.setdefault(string, []).append(group.key)
        for string in vocabulary.stems:
            stem.setdefault(string, []).append(vocabulary.index)
    if not exact and not literal and not stem:
        return None
    strings = tuple(sorted(exact.keys() | literal.keys() | stem.keys()))
    # One object per distinct value: most strings share theirs with many others (the same few
    # vocabularies), and a reading has thousands of strings (9 MB for a daemon's readings before).
    distinct: dict[Value, Value] = {}
    values: list[Value] = []
    for s in strings:
        value = (tuple(exact.get(s, ())), tuple(literal.get(s, ())), tuple(stem.get(s, ())))
        values.append(distinct.setdefault(value, value))
    return Automaton(strings, tuple(values))
