"""Batch classification and evaluation against labelled stories. Pure: records in, figures out.

Used by ``monitor classify --jsonl`` and ``monitor eval``. A malformed input line becomes an
error record for that line; the run goes on.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from ..records import Verdict
from .classify import Topic, classify
from .language import detect_language


@dataclass(frozen=True, slots=True)
class Story:
    """One input line: ``id``, ``title``, ``text`` and any 0/1 labels."""

    line: int
    id: Any
    title: str
    text: str
    labels: dict[str, int] = field(default_factory=dict)
    ambiguous: bool = False
    source: str = ""  # where it came from (a URL, a collection): folds are grouped by it
    language: str = ""


@dataclass(frozen=True, slots=True)
class BadLine:
    line: int
    id: Any
    error: str


def story_objects(
    lines: Iterable[str], *, null_text: bool = False
) -> Iterator[tuple[int, dict[str, Any], str, str] | BadLine]:
    """(line number, object, title, text) of each JSON line that is an object with a string
    headline or text; a BadLine naming what is wrong otherwise; blank lines skipped. With
    ``null_text``, a null title or text reads as empty."""
    for number, raw in enumerate(lines, start=1):
        if not raw.strip():
            continue
        try:
            obj = json.loads(raw)
        except json.JSONDecodeError as exc:
            yield BadLine(line=number, id=None, error=f"line {number}: invalid JSON: {exc.msg}")
            continue
        if not isinstance(obj, dict):
            yield BadLine(line=number, id=None, error=f"line {number}: expected a JSON object")
            continue
        title, text = obj.get("title", ""), obj.get("text", "")
        if null_text:
            title, text = title or "", text or ""
        if not isinstance(title, str) or not isinstance(text, str):
            yield BadLine(
                line=number, id=obj.get("id"), error=f"line {number}: title and text must be strings"
            )
            continue
        if not title and not text:
            yield BadLine(line=number, id=obj.get("id"), error=f"line {number}: no title or text")
            continue
        yield number, obj, title, text


def read_stories(lines: Iterable[str], topics: Iterable[str] = ()) -> Iterator[Story | BadLine]:
    """Parse JSON lines; blank lines are skipped; a bad line yields a BadLine, never raises."""
    wanted = list(topics)
    for read in story_objects(lines):
        if isinstance(read, BadLine):
            yield read
            continue
        number, obj, title, text = read
        ident = obj.get("id")
        labels = {t: int(obj[t]) for t in wanted if t in obj and obj[t] in (0, 1, True, False)}
        source, language = obj.get("source"), obj.get("lang", obj.get("language"))
        yield Story(
            line=number,
            id=ident,
            title=title,
            text=text,
            labels=labels,
            ambiguous=bool(obj.get("ambiguous")),
            source=source if isinstance(source, str) else "",
            language=language if isinstance(language, str) else "",
        )


def reading_language(story: Story) -> str | None:
    """The language the daemon would read the story in: its ``lang`` as the page's declaration,
    checked against the text (``detect_language``)."""
    return detect_language(story.title, story.text, story.language or None)


def verdict_record(story: Story, verdicts: Iterable[Verdict]) -> dict[str, Any]:
    """The ``classify --jsonl`` output object for one story."""
    verdicts = list(verdicts)
    return {
        "id": story.id if story.id is not None else story.line,
        "flagged": [v.topic for v in verdicts if v.flagged],
        "scores": {v.topic: v.score for v in verdicts},
        "evidence": {v.topic: list(v.evidence) for v in verdicts if v.evidence},
    }


def error_record(bad: BadLine) -> dict[str, Any]:
    return {"id": bad.id if bad.id is not None else bad.line, "error": bad.error}


@dataclass(frozen=True, slots=True)
class Miss:
    id: Any
    title: str
    score: float
    evidence: tuple[str, ...]


class Rates:
    """Precision, recall and F1 of a record with ``tp``, ``fp`` and ``fn`` counts."""

    __slots__ = ()
    tp: int
    fp: int
    fn: int

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0


@dataclass(frozen=True, slots=True)
class TopicFigures(Rates):
    topic: str
    tp: int
    fp: int
    fn: int
    tn: int
    false_positives: tuple[Miss, ...]
    false_negatives: tuple[Miss, ...]


Judged = list[tuple[Story, tuple[Verdict, ...]]]


def judge(stories: Iterable[Story], topics: tuple[Topic, ...]) -> Judged:
    """Every story with its verdicts: classified once, counted in as many ways as needed."""
    return [(story, classify(story.title, story.text, topics, reading_language(story))) for story in stories]


def evaluate(
    stories: Iterable[Story] | Judged,
    topics: tuple[Topic, ...],
    *,
    skip_ambiguous: bool = False,
) -> list[TopicFigures]:
    """Precision, recall and F1 per topic over the stories that carry that topic's label;
    stories already judged are not classified again."""
    counts = {t.name: [0, 0, 0, 0] for t in topics}
    fps: dict[str, list[Miss]] = {t.name: [] for t in topics}
    fns: dict[str, list[Miss]] = {t.name: [] for t in topics}
    for item in stories:
        story, verdicts = item if isinstance(item, tuple) else (item, None)
        if skip_ambiguous and story.ambiguous:
            continue
        if verdicts is None:
            verdicts = classify(story.title, story.text, topics, reading_language(story))
        for v in verdicts:
            if v.topic not in story.labels or v.topic not in counts:
                continue
            truth = story.labels[v.topic] == 1
            c = counts[v.topic]
            miss = Miss(id=story.id, title=story.title, score=v.score, evidence=v.evidence)
            if v.flagged and truth:
                c[0] += 1
            elif v.flagged:
                c[1] += 1
                fps[v.topic].append(miss)
            elif truth:
                c[2] += 1
                fns[v.topic].append(miss)
            else:
                c[3] += 1
    return [
        TopicFigures(
            topic=name,
            tp=c[0],
            fp=c[1],
            fn=c[2],
            tn=c[3],
            false_positives=tuple(fps[name]),
            false_negatives=tuple(fns[name]),
        )
        for name, c in counts.items()
    ]
