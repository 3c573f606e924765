"""Scoring: an article against each topic, one verdict per topic.

The article is prepared once (``_Doc``: headline and body, sentence offsets, the lowered text,
per-topic scans) and shared by every topic. A rule fires on a sentence when all of its
vocabularies match in it and none of its ``none`` vocabularies do; ``_score_topic`` turns the
firing rules into a score and the evidence quoted for it.
"""

from __future__ import annotations

import bisect
import functools
import logging
import math
import re
from collections import OrderedDict
from collections.abc import Callable

from ...records import Verdict
from .features import BITS, Features, RuleReading, combine, lead_text, rule_features, text_features
from .matcher import KEY_SPACE, Automaton, RegexGroup, Values, Vocabulary, merge
from .normalise import clean
from .segment import _fold_document, split_sentences, stem_words, whole_words
from .topics import Rule, Topic, for_language

log = logging.getLogger(__name__)

EVIDENCE_CHARS = 240
MAX_EVIDENCE = 3
MAX_TEXT = 60_000  # classify the first 60k characters; a story's substance is at the top
_DECAY = 0.5


class _Doc:
    """A headline and body prepared once and shared by every topic. Sentence offsets are
    computed only when some vocabulary matches: most news matches none."""

    __slots__ = (
        "_cjk",
        "_features",
        "_hits",
        "_holding",
        "_lowered",
        "_read",
        "_spans",
        "_starts",
        "body",
        "text",
        "title",
        "title_sentences",
    )

    def __init__(self, title: str, text: str) -> None:
        self.title = " ".join(clean(title).split())
        self.body = body = clean(text[:MAX_TEXT])
        self._features: Features | None = None
        # The headline is its own segment: a rule must not straddle headline and body.
        self.text = f"{self.title}\n\n{body}" if self.title else body
        self._spans: list[tuple[int, int]] | None = None
        self._starts: list[int] = []
        self._lowered: str | None = None
        self._cjk: bool | None = None
        # id(topic) -> what it found (_Found) and which sentences hold which vocabulary. The
        # key is valid as long as this document, which lives for one classify() call while its
        # topics do; it is never stored in a topic.
        self._read: dict[int, tuple[_Found | None, dict[tuple[int, int], bool]]] = {}
        self._holding: dict[tuple[str, ...], set[int]] = {}
        # id(automaton) -> its hits in the lowered text and the values that read them, when one
        # search served several topics (``search``); same lifetime argument as ``_read``.
        self._hits: dict[int, tuple[list[tuple[int, int, int]], Values]] = {}
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
            self._fold()
        return self._lowered or None

    @property
    def cjk(self) -> bool:
        """Whether the text has a character of Han, kana or Hangul: the regexes' CJK word
        boundaries are needed only then (the lowered text has the same ones)."""
        if self._cjk is None:
            self._fold()
        return bool(self._cjk)

    def _fold(self) -> None:
        lowered, self._cjk = _fold_document(self.text)
        self._lowered = lowered if len(lowered) == len(self.text) else ""

    def search(self, topics: tuple[Topic, ...]) -> None:
        """Search the text once for the strings of all ``topics`` (``matcher.merge``), and keep
        each topic's hits for its scan: a second topic costs no second pass."""
        automata = tuple(t.automaton for t in topics if t.automaton is not None)
        if len(automata) < 2 or self.lowered is None:
            return
        merged, values = _merged(automata)
        hits = merged.find(self.lowered)
        for automaton, own in zip(automata, values, strict=True):
            self._hits[id(automaton)] = (hits, own)

    def hits(self, automaton: Automaton) -> tuple[list[tuple[int, int, int]], Values]:
        """The automaton's hits in the lowered text (string, start, stop), and its values."""
        found = self._hits.get(id(automaton))
        return found if found is not None else (automaton.find(self.lowered or ""), automaton.values)

    def text_features(self, bits: int) -> Features:
        """The lead's hashed n-grams, made once for every topic's model."""
        if self._features is None or self._features.bits != bits:
            self._features = text_features(lead_text(self.title, self.body), bits)
        return self._features

    def view(self, topic: Topic) -> _TopicView:
        """The document as ``topic`` reads it. The scan is made once; the view itself is a
        throwaway (a view kept here would make every document a reference cycle)."""
        read = self._read.get(id(topic))
        if read is None:
            read = self._read[id(topic)] = (_scan(self, topic), {})
        return _TopicView(self, topic, *read)

    def sentences_matching(self, topic: Topic, vocabulary: Vocabulary) -> set[int]:
        return self.view(topic).sentences_matching(vocabulary)

    def sentence_has(self, topic: Topic, vocabulary: Vocabulary, i: int) -> bool:
        return self.view(topic).sentence_has(vocabulary, i)

    def regex_sentences(self, pattern: re.Pattern[str], text: str) -> set[int]:
        """The sentences where ``pattern`` matches, searched one by one as ``sentence_has``
        does: one pass over the text would count a match that runs on into the next sentence
        (and could hide one there)."""
        search = pattern.search
        return {i for i, (start, end) in enumerate(self.spans) if search(text, start, end)}

    def holding(self, strings: tuple[str, ...]) -> set[int]:
        """The sentences whose folded text holds one of ``strings`` (a regex group's hints;
        only when ``lowered`` is not None)."""
        found = self._holding.get(strings)
        if found is None:
            found = self._holding[strings] = set()
            lowered, spans, starts, locate = self.lowered or "", self.spans, self._starts, bisect.bisect_right
            for string in strings:
                at = lowered.find(string)
                while at >= 0:
                    i = locate(starts, at) - 1
                    if i >= 0 and at + len(string) <= spans[i][1]:
                        found.add(i)
                    at = lowered.find(string, at + 1)
        return found

    def quote(self, i: int) -> str:
        start, end = self.spans[i]
        sentence = " ".join(self.text[start:end].split())
        if len(sentence) > EVIDENCE_CHARS:
            sentence = sentence[: EVIDENCE_CHARS - 1].rsplit(" ", 1)[0] + "…"
        return sentence


# The scan: per vocabulary index, the sentences holding one of its exact strings or stems as a
# whole word (matches, final), and per sentence holding a prefilter literal of one of its regex
# groups, those groups' positions (candidates: only they are run there). ``_scan`` gives None
# instead when the automaton found too little for any positive rule to fire (``Topic.needs``).
_Found = tuple[dict[int, set[int]], dict[int, dict[int, set[int]]]]

# The merged automata of the topic readings articles are read with (``_Doc.search``), by the
# ids of their automata; each entry holds the automata themselves, so that no id is reused
# while it is a key.
_MERGED: OrderedDict[tuple[int, ...], tuple[tuple[Automaton, ...], Automaton, tuple[Values, ...]]] = (
    OrderedDict()
)
# Least recently used first out: the readings of a reloaded configuration's old topics age out.
# One language's merged automaton takes about 1 MB; the every-language one, 6 MB.
MAX_MERGED = 24


def _merged(automata: tuple[Automaton, ...]) -> tuple[Automaton, tuple[Values, ...]]:
    key = tuple(map(id, automata))
    entry = _MERGED.get(key)
    if entry is None:
        entry = _MERGED[key] = (automata, *merge(automata))
        if len(_MERGED) > MAX_MERGED:
            _MERGED.popitem(last=False)
    else:
        _MERGED.move_to_end(key)
    return entry[1], entry[2]


def _scan(doc: _Doc, topic: Topic, *, gate: bool = True) -> _Found | None:
    """One Aho-Corasick pass of the topic's automaton over the document (with ``gate``, None
    when no positive rule can fire)."""
    exact_found: dict[int, set[int]] = {}
    candidates: dict[int, dict[int, set[int]]] = {}
    automaton, lowered = topic.automaton, doc.lowered
    if automaton is None or lowered is None:
        return exact_found, candidates
    hits: list[tuple[int, int, tuple[int, ...]]] = []
    stem_hits: list[tuple[int, int, tuple[int, ...]]] = []
    literals: set[tuple[int, tuple[int, ...]]] = set()
    found, values = doc.hits(automaton)
    for index, start, stop in found:
        exact, literal, stem = values[index]
        if literal:
            literals.add((start, literal))
        if exact:
            hits.append((start, stop, exact))
        if stem:
            stem_hits.append((start, stop, stem))
    if gate and topic.needs is not None:  # sentences are not split for a story no rule can flag
        present: set[int] = set().union(*(e for _, _, e in hits), *(e for _, _, e in stem_hits))
        present.update(key // KEY_SPACE for _, keys in literals for key in keys)
        if not any(present.issuperset(need) for need in topic.needs):
            return None
    words = whole_words(lowered, hits) if hits else hits  # before any sentence lookup
    if not words and not literals and not stem_hits:
        return exact_found, candidates  # no sentence splitting needed
    spans, starts, locate = doc.spans, doc._starts, bisect.bisect_right
    if stem_hits:
        placed = []
        for start, stop, stem in stem_hits:
            i = locate(starts, start) - 1
            if i >= 0 and stop <= spans[i][1]:
                placed.append((start, stop, spans[i][1], stem))
        words = words + stem_words(lowered, placed, doc.cjk)
    for start, stop, exact in words:
        i = locate(starts, start) - 1
        if i >= 0 and stop <= spans[i][1]:
            for v in exact:
                sentences = exact_found.get(v)
                if sentences is None:
                    sentences = exact_found[v] = set()
                sentences.add(i)
    for i, literal in {(locate(starts, start) - 1, literal) for start, literal in literals}:
        if i >= 0:
            for key in literal:
                v, position = divmod(key, KEY_SPACE)
                by_sentence = candidates.get(v)
                if by_sentence is None:
                    by_sentence = candidates[v] = {}
                positions = by_sentence.get(i)
                if positions is None:
                    positions = by_sentence[i] = set()
                positions.add(position)
    return exact_found, candidates


_NONE: frozenset[int] = frozenset()


class _TopicView:
    """One topic's reading of a document: per vocabulary (by its index in the topic) the
    sentences it matches, worked out on demand from the scan."""

    __slots__ = ("_has", "_scanned", "doc", "possible", "topic")

    def __init__(
        self, doc: _Doc, topic: Topic, found: _Found | None, has: dict[tuple[int, int], bool]
    ) -> None:
        self.doc = doc
        self.topic = topic
        self.possible = found is not None  # whether a positive rule can fire (``_scan``)
        self._scanned = found
        self._has = has  # (vocabulary index, sentence) -> matches

    @property
    def _found(self) -> _Found:
        """The scan; when it stopped early (no positive rule can fire) and a vocabulary is asked
        for all the same, made in full."""
        if self._scanned is None:
            found = _scan(self.doc, self.topic, gate=False)
            self._scanned = found if found is not None else ({}, {})
            self.doc._read[id(self.topic)] = (self._scanned, self._has)
        return self._scanned

    def _text(self, group: RegexGroup) -> str:
        """The text a regex group reads: folded, or the original."""
        return (self.doc.lowered or self.doc.text) if group.lowered else self.doc.text

    def sentences_matching(self, vocabulary: Vocabulary) -> set[int]:
        doc = self.doc
        if doc.lowered is None:
            return doc.regex_sentences(vocabulary.pattern.for_text(doc.cjk), doc.text)
        found = set(self._found[0].get(vocabulary.index, ()))
        for group in vocabulary.unfiltered:
            if group.hints is None:
                found |= doc.regex_sentences(group.pattern.for_text(doc.cjk), self._text(group))
                continue
            search, text, spans = group.pattern.for_text(doc.cjk).search, self._text(group), doc.spans
            found.update(i for i in doc.holding(group.hints) if i not in found and search(text, *spans[i]))
        found.update(
            i
            for i in self._found[1].get(vocabulary.index, ())
            if i not in found and self.sentence_has(vocabulary, i)
        )
        return found

    def test(self, vocabulary: Vocabulary) -> Callable[[int], bool]:
        """Whether a sentence holds the vocabulary, as a function of the sentence: membership in
        the scan's matches, and ``sentence_has`` only for the sentences where one of its
        regexes has a literal (every sentence when one of them has none)."""
        if self.doc.lowered is None or vocabulary.unfiltered:
            return functools.partial(self.sentence_has, vocabulary)
        exact = self._found[0].get(vocabulary.index, _NONE)
        candidates = self._found[1].get(vocabulary.index)
        if not candidates:  # no regex can match: the scan's matches are the answer
            return exact.__contains__
        has = self.sentence_has
        return lambda i: i in exact or (i in candidates and has(vocabulary, i))

    def sentence_has(self, vocabulary: Vocabulary, i: int) -> bool:
        key = (vocabulary.index, i)
        known = self._has.get(key)
        if known is None:
            doc = self.doc
            start, end = doc.spans[i]
            if doc.lowered is None:
                known = vocabulary.pattern.for_text(doc.cjk).search(doc.text, start, end) is not None
            elif i in self._found[0].get(vocabulary.index, ()):
                known = True
            else:
                known = False
                by_sentence = self._found[1].get(vocabulary.index)
                positions = by_sentence.get(i) if by_sentence is not None else None
                for group in (
                    *(vocabulary.groups[p] for p in positions or ()),
                    *vocabulary.unfiltered,
                ):
                    if group.hints is not None and i not in doc.holding(group.hints):
                        continue
                    if group.pattern.for_text(doc.cjk).search(self._text(group), start, end):
                        known = True
                        break
            self._has[key] = known
        return known


def _rule_sentences(rule: Rule, view: _TopicView, anchors: dict[str, set[int]]) -> list[int]:
    """The first ``max_hits`` sentences where the rule fires, in document order. Only the
    rule's first vocabulary (its anchor) is searched in the whole text; the others are tried
    in the anchor's sentences alone, and only until enough have been found."""
    topic = view.topic
    anchor = rule.all[0]
    if anchor not in anchors:
        anchors[anchor] = view.sentences_matching(topic.terms[anchor])
    found = anchors[anchor]
    hits: list[int] = []
    if not found:
        return hits
    title_sentences = view.doc.title_sentences
    required = [view.test(topic.terms[t]) for t in rule.all[1:]]
    excluded = [view.test(topic.terms[t]) for t in rule.none]
    for i in sorted(found):
        in_title = i < title_sentences
        if (rule.where == "title" and not in_title) or (rule.where == "text" and in_title):
            continue
        if all(test(i) for test in required) and not any(test(i) for test in excluded):
            hits.append(i)
            if len(hits) == rule.max_hits:
                break
    return hits


def _fired(topic: Topic, doc: _Doc) -> list[tuple[Rule, list[int]]]:
    """Every rule that fires, with the sentences it fires on (in topic order)."""
    view = doc.view(topic)
    if not view.possible:
        return []
    anchors: dict[str, set[int]] = {}
    fired = []
    for rule in topic.rules:
        hits = _rule_sentences(rule, view, anchors)
        if hits:
            fired.append((rule, hits))
    return fired


def _rule_score(topic: Topic, doc: _Doc, fired: list[tuple[Rule, list[int]]]) -> tuple[float, list[int]]:
    """The rules' score and the sentences ranked strongest first.

    Each sentence counts once, with its strongest positive rule (several rules agreeing on one
    sentence are one piece of evidence), weighted by where it stands: the headline counts
    ``title_weight``, the lead in full, later sentences ``late_weight``. Sentences add up with
    diminishing returns (1, 1/2, 1/4 ...), strongest first; negative rules subtract."""
    best: dict[int, float] = {}
    for rule, hits in fired:
        if rule.weight > 0:
            for i in hits:
                best[i] = max(best.get(i, 0.0), rule.weight)
    if not best:
        return 0.0, []

    def position(i: int) -> float:
        if i < doc.title_sentences:
            return topic.title_weight
        return 1.0 if i - doc.title_sentences < topic.lead_sentences else topic.late_weight

    strength = {i: w * position(i) for i, w in best.items()}
    ranked = sorted(strength, key=lambda i: (-strength[i], i))
    total = sum(strength[i] * _DECAY**rank for rank, i in enumerate(ranked))
    for rule, hits in fired:
        if rule.weight < 0:
            for rank, i in enumerate(hits):
                total += rule.weight * position(i) * _DECAY**rank
    return (round(1.0 - math.exp(-total / topic.scale), 4) if total > 0 else 0.0), ranked


def _readings(topic: Topic, doc: _Doc, fired: list[tuple[Rule, list[int]]]) -> list[RuleReading]:
    """Where each fired rule fired: headline, lead (``lead_sentences``), later."""
    out = []
    for rule, hits in fired:
        title = sum(1 for i in hits if i < doc.title_sentences)
        lead = sum(1 for i in hits if 0 <= i - doc.title_sentences < topic.lead_sentences)
        out.append(RuleReading(rule.name, title, lead, len(hits) - title - lead))
    return out


def _coverage(topic: Topic, doc: _Doc, ranked: list[int]) -> tuple[float, str]:
    """The share of the story's sentences with evidence, and where the first of them stands."""
    first = min(ranked)
    if first < doc.title_sentences:
        zone = "title"
    else:
        zone = "lead" if first - doc.title_sentences < topic.lead_sentences else "late"
    return len(ranked) / max(len(doc.spans), 1), zone


def _model_features(
    topic: Topic, doc: _Doc, fired: list[tuple[Rule, list[int]]], score: float, ranked: list[int], bits: int
) -> Features:
    """What a topic's model reads in a candidate: the one definition the daemon and training share."""
    reading = rule_features(_readings(topic, doc, fired), score, _coverage(topic, doc, ranked), bits)
    return combine(doc.text_features(bits), reading)


def _score_topic(topic: Topic, doc: _Doc) -> Verdict:
    """The rules' verdict, re-scored by the topic's model when there is one. The model only
    weighs candidates, stories where a positive rule found evidence: the rules are the net, the
    model the judge, and the great majority of news (no vocabulary matched) costs nothing more."""
    fired = _fired(topic, doc)
    score, ranked = _rule_score(topic, doc, fired)
    if not ranked:
        return Verdict(topic=topic.name, score=score, flagged=False, version=topic.version)
    flagged = score >= topic.threshold
    model = topic.model
    if model is not None:
        score = model.probability(_model_features(topic, doc, fired, score, ranked, model.bits))
        flagged = score >= topic.model_threshold
    quotes: dict[str, None] = {}  # ordered set: a headline repeated as the first line counts once
    for i in sorted(ranked[: MAX_EVIDENCE + 1]):
        quotes.setdefault(doc.quote(i))
    return Verdict(
        topic=topic.name,
        score=score,
        flagged=flagged,
        evidence=tuple(quotes)[:MAX_EVIDENCE] if score > 0 else (),
        version=topic.version,
    )


def classify(
    title: str, text: str, topics: tuple[Topic, ...], language: str | None = None
) -> tuple[Verdict, ...]:
    """Score one article against every topic, reading it with the words of its ``language``
    (every language's when it is unknown: ``for_language``). Pure and deterministic."""
    doc = _Doc(title or "", text or "")
    readings = tuple(for_language(topic, language) for topic in topics)
    doc.search(readings)
    return tuple(_score_topic(reading, doc) for reading in readings)


def topic_features(
    title: str, text: str, topic: Topic, bits: int = BITS, language: str | None = None
) -> tuple[Features, float] | None:
    """What a model of ``topic`` reads in an article (the same features ``classify`` computes)
    and the rules' score, for training; None when the story is no candidate (no positive rule
    found evidence), which the model never scores."""
    topic = for_language(topic, language)
    doc = _Doc(title or "", text or "")
    fired = _fired(topic, doc)
    score, ranked = _rule_score(topic, doc, fired)
    if not ranked:
        return None
    return _model_features(topic, doc, fired, score, ranked, bits), score
