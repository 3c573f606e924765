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
import json
import logging
import math
import re
from dataclasses import dataclass
from importlib import resources
from typing import Any

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
_SENTENCE_END = re.compile(r"(?<=[.!?])[\"'”’)]?\s+(?=[\"'“‘(\[]?[A-Z0-9])|\n\s*\n|\n(?=[A-Z•\-])")


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
    terms: dict[str, re.Pattern[str]]
    rules: tuple[Rule, ...]
    version: str
    enabled: bool = True


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


def _compile_terms(raw: object, where: str) -> dict[str, re.Pattern[str]]:
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
        alternation = "|".join(f"(?:{p})" for p in patterns)
        terms[str(name)] = re.compile(rf"(?<![\w-])(?:{alternation})(?![\w-])", re.IGNORECASE)
    return terms


def _compile_rules(raw: object, terms: dict[str, re.Pattern[str]], where: str) -> tuple[Rule, ...]:
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
        if match.start() > start:
            spans.append((start, match.start()))
        start = match.end()
    if start < len(text):
        spans.append((start, len(text)))
    return spans


class _Doc:
    """A headline and body prepared once and shared by every topic. Sentence offsets are
    computed only when some vocabulary matches: most news matches none."""

    __slots__ = ("_spans", "_starts", "text", "title", "title_sentences")

    def __init__(self, title: str, text: str) -> None:
        self.title = " ".join(title.split())
        body = text[:MAX_TEXT]
        # The headline is its own segment: a rule must not straddle headline and body.
        self.text = f"{self.title}\n\n{body}" if self.title else body
        self._spans: list[tuple[int, int]] | None = None
        self._starts: list[int] = []
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

    def sentences_matching(self, pattern: re.Pattern[str]) -> set[int]:
        found: set[int] = set()
        for match in pattern.finditer(self.text):
            spans = self.spans
            i = bisect.bisect_right(self._starts, match.start()) - 1
            if i >= 0 and match.start() < spans[i][1]:
                found.add(i)
        return found

    def sentence_has(self, pattern: re.Pattern[str], i: int) -> bool:
        start, end = self.spans[i]
        return pattern.search(self.text, start, end) is not None

    def quote(self, i: int) -> str:
        start, end = self.spans[i]
        sentence = " ".join(self.text[start:end].split())
        if len(sentence) > EVIDENCE_CHARS:
            sentence = sentence[: EVIDENCE_CHARS - 1].rsplit(" ", 1)[0] + "…"
        return sentence


def _rule_sentences(rule: Rule, topic: Topic, doc: _Doc, anchors: dict[str, set[int]]) -> list[int]:
    """Sentences where the rule fires. Only the rule's first vocabulary (its anchor) is searched
    in the whole text; the others are tried in the anchor's sentences alone."""
    anchor = rule.all[0]
    if anchor not in anchors:
        anchors[anchor] = doc.sentences_matching(topic.terms[anchor])
    found = anchors[anchor]
    if not found:
        return []
    candidates = [
        i
        for i in sorted(found)
        if all(doc.sentence_has(topic.terms[t], i) for t in rule.all[1:])
        and not any(doc.sentence_has(topic.terms[t], i) for t in rule.none)
    ]
    if rule.where == "title":
        candidates = [i for i in candidates if i < doc.title_sentences]
    elif rule.where == "text":
        candidates = [i for i in candidates if i >= doc.title_sentences]
    return candidates


def _score_topic(topic: Topic, doc: _Doc) -> Verdict:
    """Each sentence counts once, with its strongest positive rule (several rules agreeing on
    one sentence are one piece of evidence), weighted by where it stands: the headline counts
    ``title_weight``, the lead in full, later sentences ``late_weight``. Sentences add up with
    diminishing returns (1, 1/2, 1/4 ...), strongest first; negative rules subtract."""
    anchors: dict[str, set[int]] = {}
    best: dict[int, float] = {}
    for rule in topic.rules:
        if rule.weight > 0:
            for i in _rule_sentences(rule, topic, doc, anchors)[: rule.max_hits]:
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
            for rank, i in enumerate(_rule_sentences(rule, topic, doc, anchors)[: rule.max_hits]):
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
