"""``monitor train`` and ``monitor eval --cv``: labelled stories and the analyst's labels in,
model files and cross-validated figures out.

Imports scikit-learn (through ``stages.classify.learn``): only these two commands load this
module, so the daemon never does.
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from ..records import Label
from ..stages.classify import Topic
from ..stages.classify.learn import (
    LABEL_WEIGHT,
    Example,
    Prediction,
    cross_validate,
    source_group,
    train_document,
)
from ..stages.classify.model import write_model
from ..stages.evaluate import Rates, Story, reading_language

MIN_POSITIVES = 5  # fewer labelled positives than this and a topic keeps its rules alone

# The keyword alerting an analyst would set up in Google Alerts: the figure to beat.
KEYWORDS = {"missile_launch": ("missile",), "sanctions": ("sanction",)}


def readings(stories: Sequence[Story]) -> list[str | None]:
    """The language each story is read in (``reading_language``), identified once for every
    topic's examples."""
    return [reading_language(s) for s in stories]


def examples(
    stories: Sequence[Story], labels: Iterable[Label], topic: str, read_as: Sequence[str | None]
) -> list[Example]:
    """The training examples of one topic: labelled stories first, then the analyst's labels
    (a story labelled in the database is its own source group: the analyst's feeds).
    ``read_as``: the stories' ``readings``."""
    out = [
        Example(
            id=s.id,
            title=s.title,
            text=s.text,
            label=s.labels[topic],
            group=source_group(s.source) if s.source else f"line {s.line}",
            language=s.language,
            ambiguous=s.ambiguous,
            reading=reading,
        )
        for s, reading in zip(stories, read_as, strict=True)
        if topic in s.labels
    ]
    out += [
        Example(
            id=f"label:{label.article_id}",
            title=label.title,
            text=label.text,
            label=int(label.label),
            group=f"labels:{label.source or 'unknown'}",
            language=label.language or "",
            weight=LABEL_WEIGHT,
            reading=label.language,  # detected when the article was polled
        )
        for label in labels
        if label.topic == topic
    ]
    return out


@dataclass(frozen=True, slots=True)
class TopicTraining:
    topic: str
    path: Path | None  # None when the topic was skipped
    stories: int
    positives: int
    labels: int
    threshold: float | None = None
    reason: str = ""


def _digest(items: Sequence[Example]) -> str:
    h = hashlib.sha256()
    for e in items:
        h.update(json.dumps([str(e.id), e.title, e.text, e.label, e.group, e.ambiguous]).encode())
    return h.hexdigest()[:16]


def train(
    topics: Iterable[Topic],
    stories: Sequence[Story],
    labels: Sequence[Label],
    out_dir: Path,
    *,
    data_name: str,
) -> list[TopicTraining]:
    """Train and write one model file per topic that has enough labelled stories."""
    results = []
    read_as = readings(stories)
    for topic in topics:
        rules_only = replace(topic, model=None)
        items = examples(stories, labels, topic.name, read_as)
        n_labels = sum(1 for e in items if str(e.id).startswith("label:"))
        positives = sum(e.label for e in items if not e.ambiguous)
        if positives < MIN_POSITIVES or positives == len([e for e in items if not e.ambiguous]):
            results.append(
                TopicTraining(
                    topic.name,
                    None,
                    len(items),
                    positives,
                    n_labels,
                    reason=f"needs at least {MIN_POSITIVES} positive and some negative stories",
                )
            )
            continue
        info = {"data": data_name, "data_sha256": _digest(items), "labels": n_labels}
        try:
            document = train_document(items, rules_only, info)
        except ValueError as exc:  # the rules find positives or negatives only
            results.append(TopicTraining(topic.name, None, len(items), positives, n_labels, reason=str(exc)))
            continue
        path = out_dir / f"{topic.name}.json"
        write_model(document, path)
        results.append(
            TopicTraining(topic.name, path, len(items), positives, n_labels, threshold=document["threshold"])
        )
    return results


@dataclass(frozen=True, slots=True)
class Counts(Rates):
    tp: int = 0
    fp: int = 0
    fn: int = 0


def _count(pairs: Iterable[tuple[bool, int]]) -> Counts:
    tp = fp = fn = 0
    for flagged, truth in pairs:
        tp += flagged and truth == 1
        fp += flagged and truth == 0
        fn += (not flagged) and truth == 1
    return Counts(tp, fp, fn)


def _keyword(topic: str, e: Example) -> bool | None:
    words = KEYWORDS.get(topic)
    if words is None:
        return None
    text = f"{e.title}\n{e.text}".lower()
    return any(w in text for w in words)


@dataclass(frozen=True, slots=True)
class TopicEvaluation:
    """Cross-validated figures of one topic: the model, the rules alone and keywords, on all
    stories and without the ambiguous ones, overall and per language."""

    topic: str
    folds: int
    stories: int
    figures: dict[str, dict[str, Counts]] = field(default_factory=dict)  # subset -> method -> counts
    languages: dict[str, dict[str, Counts]] = field(default_factory=dict)  # without ambiguous
    misses: list[Prediction] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        def one(c: Counts) -> dict[str, Any]:
            return {
                "precision": round(c.precision, 4),
                "recall": round(c.recall, 4),
                "f1": round(c.f1, 4),
                "tp": c.tp,
                "fp": c.fp,
                "fn": c.fn,
            }

        return {
            "topic": self.topic,
            "folds": self.folds,
            "stories": self.stories,
            "figures": {s: {m: one(c) for m, c in ms.items()} for s, ms in self.figures.items()},
            "languages": {lang: {m: one(c) for m, c in ms.items()} for lang, ms in self.languages.items()},
        }


def _methods(topic: str, chosen: Sequence[Prediction]) -> dict[str, Counts]:
    """The model's, the rules' and (for the built-in topics) keyword alerting's counts."""
    methods = {
        "model": _count((p.flagged, p.example.label) for p in chosen),
        "rules": _count((p.rules_flagged, p.example.label) for p in chosen),
    }
    if topic in KEYWORDS:
        methods["keywords"] = _count((bool(_keyword(topic, p.example)), p.example.label) for p in chosen)
    return methods


def evaluate_cv(topics: Iterable[Topic], stories: Sequence[Story], folds: int) -> list[TopicEvaluation]:
    out = []
    read_as = readings(stories)
    for topic in topics:
        items = examples(stories, (), topic.name, read_as)
        if sum(e.label for e in items) < MIN_POSITIVES:
            continue
        predictions = cross_validate(items, replace(topic, model=None), folds)
        figures = {
            "all stories": _methods(topic.name, predictions),
            "without ambiguous": _methods(topic.name, [p for p in predictions if not p.example.ambiguous]),
        }
        by_language: dict[str, list[Prediction]] = defaultdict(list)
        for p in predictions:
            if not p.example.ambiguous:
                by_language[p.example.language or "?"].append(p)
        languages = {lang: _methods(topic.name, ps) for lang, ps in sorted(by_language.items())}
        misses = [p for p in predictions if p.flagged != bool(p.example.label) and not p.example.ambiguous]
        out.append(TopicEvaluation(topic.name, folds, len(items), figures, languages, misses))
    return out
