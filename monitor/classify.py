"""Article -> verdicts, one per topic. Topics are data (YAML), not code.

A topic names vocabularies (``terms``: lists of regular expressions) and ``rules`` that fire
on a sentence when all of their vocabularies match in it and none of their ``none``
vocabularies do. Each firing rule adds its weight (negative weights subtract); repeated hits
of one rule count with diminishing returns, a hit in the headline counts ``title_weight``
times. The total becomes a score in [0, 1) as ``1 - exp(-total / scale)``; the story is flagged
when the score reaches ``threshold``. The sentences that contributed most are the evidence.

Deterministic: no randomness, no clock, no state between calls.
"""

from __future__ import annotations

import bisect
import hashlib
import itertools
import json
import logging
import math
import re

# CPython's own regex parser (Python >= 3.11), used only to derive prefilter literals.
import re._casefix as _casefix
import re._constants as _c
import re._parser as _parser
from dataclasses import dataclass
from importlib import resources
from typing import Any

import ahocorasick_rs
import yaml

from .errors import TopicError
from .records import Verdict

log = logging.getLogger(__name__)

BUILTIN_TOPICS = ("missile_launch", "sanctions")
TOPIC_KEYS = {
    "label",
    "description",
    "enabled",
    "threshold",
    "scale",
    "title_weight",
    "lead_sentences",
    "late_weight",
    "terms",
    "rules",
}
RULE_KEYS = {"name", "all", "none", "weight", "in", "max_hits"}
EVIDENCE_CHARS = 240
MAX_EVIDENCE = 3
MAX_TEXT = 60_000  # classify the first 60k characters; a story's substance is at the top
_DECAY = 0.5

# Sentence ends: ., ! or ? followed by space and a capital, quote or digit; or a blank line.
# Written to start with a character class, so the regex engine can skip ahead to candidates.
_SENTENCE_END = re.compile(r"[.!?](?P<sep>[\"'”’)]?\s+(?=[\"'“‘(\[]?[A-Z0-9]))|\n\s*\n|\n(?=[A-Z•\-])")


@dataclass(frozen=True, slots=True)
class Vocabulary:
    """A compiled vocabulary. ``pattern`` defines what it matches. For speed, the patterns
    with a small finite language (``launch(?:es|ed)?``) are also expanded into the lower-case
    strings they match (``exact``), found by one Aho-Corasick pass over the lowered text and a
    word-boundary check; the others (``rest``) are regexes tried only in the sentences that
    contain one of their required literals (``literals``; ``None`` when none can be derived)."""

    pattern: re.Pattern[str]  # all patterns, case-insensitive, for the original text
    exact: tuple[str, ...]
    rest: re.Pattern[str] | None
    rest_lowered: bool  # ``rest`` is written in lower case, for the lowered text
    literals: tuple[str, ...] | None


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


def _lower_pattern(pattern: str) -> str | None:
    """The pattern with its literals in lower case (escapes kept), or None if that could change
    its meaning (case-sensitive groups, named escapes)."""
    if "(?-i" in pattern or "\\N" in pattern or "(?P" in pattern:
        return None
    out, i = [], 0
    while i < len(pattern):
        if pattern[i] == "\\":
            out.append(pattern[i : i + 2])
            i += 2
        else:
            out.append(_fold(pattern[i]))
            i += 1
    return "".join(out)


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


def _wrap(patterns: list[str]) -> str:
    alternation = "|".join(f"(?:{p})" for p in patterns)
    return rf"(?<![\w-])(?:{alternation})(?![\w-])"


def _vocabulary(patterns: list[str]) -> Vocabulary:
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
    rest_pattern, rest_lowered, literals = None, False, None
    if rest:
        lowered_rest = [_lower_pattern(p) for p in rest]
        if all(p is not None for p in lowered_rest):
            rest_pattern, rest_lowered = re.compile(_wrap([p for p in lowered_rest if p is not None])), True
        else:
            rest_pattern = re.compile(_wrap(rest), re.IGNORECASE)
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
        pattern=re.compile(_wrap(patterns), re.IGNORECASE),
        exact=tuple(sorted(exact)),
        rest=rest_pattern,
        rest_lowered=rest_lowered,
        literals=literals,
    )


@dataclass(frozen=True, slots=True)
class Rule:
    name: str
    all: tuple[str, ...]
    none: tuple[str, ...]
    weight: float
    where: str  # "any" | "title" | "text"
    max_hits: int


@dataclass(frozen=True, slots=True)
class Topic:
    name: str
    label: str
    threshold: float
    scale: float
    title_weight: float
    lead_sentences: int
    late_weight: float
    terms: dict[str, Vocabulary]
    rules: tuple[Rule, ...]
    version: str
    enabled: bool = True
    automaton: Any = None  # Aho-Corasick over every vocabulary's exact strings and literals


def _merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """Override keys replace the base's; ``terms`` merge per vocabulary; ``rules`` merge by name."""
    merged = dict(base)
    for key, value in override.items():
        if key == "terms" and isinstance(value, dict) and isinstance(base.get("terms"), dict):
            merged["terms"] = {**base["terms"], **value}
        elif key == "rules" and isinstance(value, list) and isinstance(base.get("rules"), list):
            by_name = {r.get("name"): r for r in base["rules"] if isinstance(r, dict)}
            extra = []
            for rule in value:
                if isinstance(rule, dict) and rule.get("name") in by_name:
                    by_name[rule["name"]] = rule
                else:
                    extra.append(rule)
            merged["rules"] = list(by_name.values()) + extra
        else:
            merged[key] = value
    return merged


def _number(spec: dict[str, Any], key: str, where: str, default: float, lo: float, hi: float) -> float:
    value = spec.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or not lo <= value <= hi:
        raise TopicError(f"{where}.{key}: expected a number from {lo:g} to {hi:g}, got {value!r}")
    return float(value)


def _compile_terms(raw: object, where: str) -> dict[str, Vocabulary]:
    if not isinstance(raw, dict) or not raw:
        raise TopicError(f"{where}.terms: expected a mapping of vocabulary name -> list of patterns")
    terms = {}
    for name, patterns in raw.items():
        if isinstance(patterns, str):
            patterns = [patterns]
        if not isinstance(patterns, list) or not patterns or not all(isinstance(p, str) for p in patterns):
            raise TopicError(f"{where}.terms.{name}: expected a list of patterns (strings)")
        for i, pattern in enumerate(patterns):
            try:
                re.compile(pattern)
            except re.error as exc:
                raise TopicError(f"{where}.terms.{name}[{i}]: invalid pattern {pattern!r}: {exc}") from None
        terms[str(name)] = _vocabulary(patterns)
    return terms


def _automaton(vocabularies: list[Vocabulary]) -> Any:
    """One Aho-Corasick automaton for a topic, with a value per string:
    ``(exact vocabulary ids, literal vocabulary ids)``: the vocabularies that have it as
    an exact string (a match when it stands as a whole word) and those that have it as a
    prefilter literal of their regex."""
    exact: dict[str, list[int]] = {}
    literal: dict[str, list[int]] = {}
    for vocabulary in vocabularies:
        for string in vocabulary.exact:
            exact.setdefault(string, []).append(id(vocabulary))
        for string in vocabulary.literals or ():
            literal.setdefault(string, []).append(id(vocabulary))
    if not exact and not literal:
        return None
    strings = sorted(exact.keys() | literal.keys())
    values = tuple((tuple(exact.get(s, ())), tuple(literal.get(s, ()))) for s in strings)
    return ahocorasick_rs.AhoCorasick(strings), values


def _compile_rules(raw: object, terms: dict[str, Vocabulary], where: str) -> tuple[Rule, ...]:
    if not isinstance(raw, list) or not raw:
        raise TopicError(f"{where}.rules: expected a list of rules")
    rules = []
    for i, spec in enumerate(raw):
        here = f"{where}.rules[{i}]"
        if not isinstance(spec, dict):
            raise TopicError(f"{here}: expected a mapping")
        unknown = sorted(set(spec) - RULE_KEYS)
        if unknown:
            raise TopicError(f"{here}.{unknown[0]}: unknown key (allowed: {', '.join(sorted(RULE_KEYS))})")
        names: dict[str, tuple[str, ...]] = {}
        for key in ("all", "none"):
            value = spec.get(key, [])
            value = [value] if isinstance(value, str) else value
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise TopicError(f"{here}.{key}: expected a list of vocabulary names")
            for name in value:
                if name not in terms:
                    raise TopicError(f"{here}.{key}: no vocabulary named {name!r} in terms")
            names[key] = tuple(value)
        if not names["all"]:
            raise TopicError(f"{here}.all: a rule needs at least one vocabulary")
        where_ = spec.get("in", "any")
        if where_ not in ("any", "title", "text"):
            raise TopicError(f"{here}.in: expected any, title or text, got {where_!r}")
        rules.append(
            Rule(
                name=str(spec.get("name") or f"rule{i}"),
                all=names["all"],
                none=names["none"],
                weight=_number(spec, "weight", here, 1.0, -100, 100),
                where=where_,
                max_hits=int(_number(spec, "max_hits", here, 3, 1, 100)),
            )
        )
    return tuple(rules)


def compile_topic(name: str, spec: object, where: str | None = None) -> Topic:
    """Validate and compile one topic definition; errors name the key that is wrong."""
    where = where or f"topics.{name}"
    if not isinstance(spec, dict):
        raise TopicError(f"{where}: expected a mapping")
    unknown = sorted(set(spec) - TOPIC_KEYS)
    if unknown:
        raise TopicError(f"{where}.{unknown[0]}: unknown key (allowed: {', '.join(sorted(TOPIC_KEYS))})")
    terms = _compile_terms(spec.get("terms"), where)
    rules = _compile_rules(spec.get("rules"), terms, where)
    enabled = spec.get("enabled", True)
    if not isinstance(enabled, bool):
        raise TopicError(f"{where}.enabled: expected true or false")
    canonical = json.dumps({k: v for k, v in spec.items() if k != "enabled"}, sort_keys=True, default=str)
    return Topic(
        name=name,
        label=str(spec.get("label") or name.replace("_", " ").capitalize()),
        threshold=_number(spec, "threshold", where, 0.5, 0, 1),
        scale=_number(spec, "scale", where, 3.0, 0.01, 1000),
        title_weight=_number(spec, "title_weight", where, 1.5, 0, 100),
        lead_sentences=int(_number(spec, "lead_sentences", where, 3, 0, 1000)),
        late_weight=_number(spec, "late_weight", where, 1.0, 0, 100),
        terms=terms,
        rules=rules,
        version=hashlib.sha256(canonical.encode()).hexdigest()[:12],
        enabled=enabled,
        automaton=_automaton(list(terms.values())),
    )


def builtin_definition(name: str) -> dict[str, Any]:
    text = resources.files("monitor").joinpath("topics", f"{name}.yaml").read_text(encoding="utf-8")
    data = yaml.safe_load(text)
    assert isinstance(data, dict)
    return data


def load_topics(overrides: dict[str, dict[str, Any]] | None = None) -> tuple[Topic, ...]:
    """The built-in topics with ``config.yaml`` overrides applied, plus user-defined topics.

    Raises TopicError listing every problem (each with its key path).
    """
    overrides = overrides or {}
    problems: list[str] = []
    topics: list[Topic] = []
    names = list(BUILTIN_TOPICS) + [n for n in overrides if n not in BUILTIN_TOPICS]
    for name in names:
        override = overrides.get(name) or {}
        if not isinstance(override, dict):
            problems.append(f"topics.{name}: expected a mapping")
            continue
        try:
            if not re.fullmatch(r"[a-z][a-z0-9_]*", name):
                raise TopicError(f"topics.{name}: a topic name is lower-case letters, digits and _")
            spec = _merge(builtin_definition(name), override) if name in BUILTIN_TOPICS else override
            topic = compile_topic(name, spec)
        except TopicError as exc:
            problems.extend(exc.problems)
            continue
        if topic.enabled:
            topics.append(topic)
    if problems:
        raise TopicError(problems)
    return tuple(topics)


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


class _Doc:
    """A headline and body prepared once and shared by every topic. Sentence offsets are
    computed only when some vocabulary matches: most news matches none."""

    __slots__ = ("_has", "_lowered", "_scanned", "_spans", "_starts", "text", "title", "title_sentences")

    def __init__(self, title: str, text: str) -> None:
        self.title = " ".join(title.split())
        body = text[:MAX_TEXT]
        # The headline is its own segment: a rule must not straddle headline and body.
        self.text = f"{self.title}\n\n{body}" if self.title else body
        self._spans: list[tuple[int, int]] | None = None
        self._starts: list[int] = []
        self._lowered: str | None = None
        self._has: dict[tuple[int, int], bool] = {}  # (id(vocabulary), sentence) -> matches
        # id(topic) -> id(vocabulary) -> (sentences with an exact string, with a literal)
        self._scanned: dict[int, dict[int, tuple[set[int], set[int]]]] = {}
        self.title_sentences = 0

    @property
    def spans(self) -> list[tuple[int, int]]:
        if self._spans is None:
            title_spans = split_sentences(self.title) if self.title else []
            offset = len(self.title) + 2 if self.title else 0
            body_spans = [(s + offset, e + offset) for s, e in split_sentences(self.text[offset:])]
            self._spans = title_spans + body_spans
            self._starts = [s for s, _ in self._spans]
            self.title_sentences = len(title_spans)
        return self._spans

    @property
    def lowered(self) -> str | None:
        """The text in lower case, or None when lowering moved offsets (rare scripts): then
        every vocabulary is searched with its full regex in the original text."""
        if self._lowered is None:
            lowered = _fold(self.text)
            self._lowered = lowered if len(lowered) == len(self.text) else ""
        return self._lowered or None

    def scan(self, topic: Topic) -> dict[int, tuple[set[int], set[int]]]:
        """One Aho-Corasick pass for the topic: per vocabulary, the sentences holding one of
        its exact strings as a whole word (matches, final) and the sentences holding one of
        its prefilter literals (candidates for its regex)."""
        found = self._scanned.get(id(topic))
        if found is not None:
            return found
        found = {}
        self._scanned[id(topic)] = found
        lowered = self.lowered
        if topic.automaton is None or lowered is None:
            return found
        size = len(lowered)
        words: list[tuple[int, int, tuple[int, ...]]] = []
        literals: set[tuple[int, tuple[int, ...]]] = set()
        automaton, values = topic.automaton
        for index, start, stop in automaton.find_matches_as_indexes(lowered, overlapping=True):
            exact, literal = values[index]
            if literal:
                literals.add((start, literal))
            if exact:
                # [\w-] on neither side, as the regex's (?<![\w-]) and (?![\w-]) demand.
                # Most hits fail here ("use" in "house"), before any sentence lookup.
                if start:
                    c = lowered[start - 1]
                    if c.isalnum() or c == "_" or c == "-":
                        continue
                if stop < size:
                    c = lowered[stop]
                    if c.isalnum() or c == "_" or c == "-":
                        continue
                words.append((start, stop, exact))
        if not words and not literals:
            return found  # no sentence splitting needed
        spans, starts, locate = self.spans, self._starts, bisect.bisect_right
        for start, stop, exact in words:
            i = locate(starts, start) - 1
            if i >= 0 and stop <= spans[i][1]:
                for vid in exact:
                    entry = found.get(vid)
                    if entry is None:
                        entry = found[vid] = (set(), set())
                    entry[0].add(i)
        for i, literal in {(locate(starts, start) - 1, literal) for start, literal in literals}:
            if i >= 0:
                for vid in literal:
                    entry = found.get(vid)
                    if entry is None:
                        entry = found[vid] = (set(), set())
                    entry[1].add(i)
        return found

    def sentences_matching(self, topic: Topic, vocabulary: Vocabulary) -> set[int]:
        if self.lowered is None:
            return self._regex_sentences(vocabulary.pattern, self.text)
        exact, candidates = self.scan(topic).get(id(vocabulary), ((), ()))
        found = set(exact)
        if vocabulary.rest is not None:
            if vocabulary.literals is None:
                found |= self._regex_sentences(vocabulary.rest, self._rest_text(vocabulary))
            else:
                found.update(
                    i for i in candidates if i not in found and self.sentence_has(topic, vocabulary, i)
                )
        return found

    def _rest_text(self, vocabulary: Vocabulary) -> str:
        return (self.lowered or self.text) if vocabulary.rest_lowered else self.text

    def _regex_sentences(self, pattern: re.Pattern[str], text: str) -> set[int]:
        found: set[int] = set()
        spans = self.spans
        for match in pattern.finditer(text):
            i = bisect.bisect_right(self._starts, match.start()) - 1
            if i >= 0 and match.start() < spans[i][1]:
                found.add(i)
        return found

    def sentence_has(self, topic: Topic, vocabulary: Vocabulary, i: int) -> bool:
        vid = id(vocabulary)
        key = (vid, i)
        known = self._has.get(key)
        if known is None:
            start, end = self._spans[i] if self._spans is not None else self.spans[i]
            if self.lowered is None:
                known = vocabulary.pattern.search(self.text, start, end) is not None
            else:
                entry = self.scan(topic).get(vid)
                if entry is not None and i in entry[0]:
                    known = True
                elif vocabulary.rest is None or (
                    vocabulary.literals is not None and (entry is None or i not in entry[1])
                ):
                    known = False  # no exact string, and none of the regex's literals
                else:
                    known = vocabulary.rest.search(self._rest_text(vocabulary), start, end) is not None
            self._has[key] = known
        return known

    def quote(self, i: int) -> str:
        start, end = self.spans[i]
        sentence = " ".join(self.text[start:end].split())
        if len(sentence) > EVIDENCE_CHARS:
            sentence = sentence[: EVIDENCE_CHARS - 1].rsplit(" ", 1)[0] + "…"
        return sentence


def _rule_sentences(rule: Rule, topic: Topic, doc: _Doc, anchors: dict[str, set[int]]) -> list[int]:
    """The first ``max_hits`` sentences where the rule fires, in document order. Only the
    rule's first vocabulary (its anchor) is searched in the whole text; the others are tried
    in the anchor's sentences alone, and only until enough have been found."""
    anchor = rule.all[0]
    if anchor not in anchors:
        anchors[anchor] = doc.sentences_matching(topic, topic.terms[anchor])
    found = anchors[anchor]
    hits: list[int] = []
    if not found:
        return hits
    has = doc.sentence_has
    required = [topic.terms[t] for t in rule.all[1:]]
    excluded = [topic.terms[t] for t in rule.none]
    for i in sorted(found):
        in_title = i < doc.title_sentences
        if (rule.where == "title" and not in_title) or (rule.where == "text" and in_title):
            continue
        if all(has(topic, v, i) for v in required) and not any(has(topic, v, i) for v in excluded):
            hits.append(i)
            if len(hits) == rule.max_hits:
                break
    return hits


def _score_topic(topic: Topic, doc: _Doc) -> Verdict:
    """Each sentence counts once, with its strongest positive rule (several rules agreeing on
    one sentence are one piece of evidence), weighted by where it stands: the headline counts
    ``title_weight``, the lead in full, later sentences ``late_weight``. Sentences add up with
    diminishing returns (1, 1/2, 1/4 ...), strongest first; negative rules subtract."""
    anchors: dict[str, set[int]] = {}
    best: dict[int, float] = {}
    for rule in topic.rules:
        if rule.weight > 0:
            for i in _rule_sentences(rule, topic, doc, anchors):
                best[i] = max(best.get(i, 0.0), rule.weight)
    if not best:
        return Verdict(topic=topic.name, score=0.0, flagged=False, version=topic.version)

    def position(i: int) -> float:
        if i < doc.title_sentences:
            return topic.title_weight
        return 1.0 if i - doc.title_sentences < topic.lead_sentences else topic.late_weight

    strength = {i: w * position(i) for i, w in best.items()}
    ranked = sorted(strength, key=lambda i: (-strength[i], i))
    total = sum(strength[i] * _DECAY**rank for rank, i in enumerate(ranked))
    for rule in topic.rules:
        if rule.weight < 0:
            for rank, i in enumerate(_rule_sentences(rule, topic, doc, anchors)):
                total += rule.weight * position(i) * _DECAY**rank
    score = round(1.0 - math.exp(-total / topic.scale), 4) if total > 0 else 0.0
    quotes: dict[str, None] = {}  # ordered set: a headline repeated as the first line counts once
    for i in sorted(ranked[: MAX_EVIDENCE + 1]):
        quotes.setdefault(doc.quote(i))
    return Verdict(
        topic=topic.name,
        score=score,
        flagged=score >= topic.threshold,
        evidence=tuple(quotes)[:MAX_EVIDENCE] if score > 0 else (),
        version=topic.version,
    )


def classify(title: str, text: str, topics: tuple[Topic, ...]) -> tuple[Verdict, ...]:
    """Score one article against every topic. Pure and deterministic."""
    doc = _Doc(title or "", text or "")
    return tuple(_score_topic(topic, doc) for topic in topics)
