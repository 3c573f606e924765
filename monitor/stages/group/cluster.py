"""Online grouping of flagged stories into events, in two levels. No I/O: state in, decision out.

1. **Copies.** A story whose shingles' MinHash is close to an open event's story (estimated
   Jaccard >= ``duplicate``: a wire copy, a syndicated reprint, an updated version) joins that
   event; datasketch's LSH finds the candidates without comparing every pair.
2. **Events.** Otherwise the story is compared with every open event of its flagged topics.
   Something that two reports of one occurrence cannot disagree on rules an event out: another
   class of missile (a short-range launch is not the next day's ICBM), another named missile
   family and number, another sanctions action (lifting is not imposing), another resolution or
   package number, or a headline whose places that event's stories never name. Of the rest, the
   story joins the most similar when the similarity reaches ``threshold``: TF-IDF cosine with
   the event's closest story in the same language, plus how many of the story's places the
   event's stories name, less a penalty per day since the event was last reported.
   Across languages, where words cannot meet, places, weapons and identifiers carry the match.

An event is open while it has been reported within ``window`` (72 h by default). Decisions
depend only on the stories seen before, in arrival order: the first story of an event is
placed (and alerted) the moment it arrives, never held back for later ones.

``place`` decides without changing anything; ``add`` records the decision once it is stored,
so a transaction that fails leaves the grouper as it was (see ``service.grouping``).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from datasketch import MinHashLSH

from .anchors import gazetteer
from .sketch import NUM_PERM, Sketch, jaccard

DAY = 86400.0
MAX_MEMBERS = 24  # an event's stories compared by text: its first ones and its latest


@dataclass(frozen=True, slots=True)
class Tuning:
    """How grouping decides; ``window``, ``threshold`` and ``duplicate`` are in config.yaml."""

    window: float = 72 * 3600.0  # seconds of silence after which an event closes
    named_window: float = 14 * 86400.0  # ... to a story naming its resolution or package number
    threshold: float = 0.20  # similarity a story needs to join an event
    duplicate: float = 0.6  # estimated shingle Jaccard of a copy
    text_weight: float = 0.6
    place_weight: float = 0.4
    day_penalty: float = 0.04  # per day between the story and the event's last report
    unknown_text: float = 0.3  # text similarity assumed when the event has no story in the language
    agree_weight: float = 0.1  # the same missile class or family (twice for the same number)
    mismatch_penalty: float = 0.2  # another sanctions action, subject or day of the month


@dataclass(frozen=True, slots=True)
class Placement:
    """Where a story goes: ``event`` None means a new event of ``topic``."""

    key: int
    topic: str
    event: int | None
    duplicate_of: int | None = None
    score: float = 0.0


@dataclass(slots=True)
class OpenEvent:
    """An event still open to new stories, with what its stories have named so far."""

    id: int
    topic: str
    first: datetime
    last: datetime
    members: list[Sketch] = field(default_factory=list)
    vectors: dict[int, dict[str, float]] = field(default_factory=dict)
    places: Counter[str] = field(default_factory=Counter)
    subjects: Counter[str] = field(default_factory=Counter)
    days: Counter[int] = field(default_factory=Counter)
    weapons: Counter[str] = field(default_factory=Counter)
    head_weapons: Counter[str] = field(default_factory=Counter)
    families: Counter[str] = field(default_factory=Counter)
    head_families: Counter[str] = field(default_factory=Counter)
    actions: Counter[str] = field(default_factory=Counter)
    identifiers: Counter[str] = field(default_factory=Counter)
    size: int = 0


def _top(counts: Counter[str]) -> set[str]:
    """The values an event's stories name most (all of them at the highest count)."""
    if not counts:
        return set()
    best = max(counts.values())
    return {k for k, n in counts.items() if n == best}


def _classes(weapons: Counter[str]) -> set[str]:
    """The class of missile an event's headlines name most, a specific one before "ballistic"."""
    specific = Counter({w: n for w, n in weapons.items() if w != "ballistic"})
    return _top(specific or weapons)


def _cosine(a: dict[str, float], b: dict[str, float]) -> float:
    if len(a) > len(b):
        a, b = b, a
    return sum(w * b[t] for t, w in a.items() if t in b)


class Grouper:
    """The open events of one database, and the decisions that grow them."""

    def __init__(self, tuning: Tuning | None = None) -> None:
        self.tuning = tuning or Tuning()
        self.events: dict[int, OpenEvent] = {}
        self._event_of: dict[int, int] = {}  # story key -> event id
        self._lsh = MinHashLSH(threshold=self.tuning.duplicate, num_perm=NUM_PERM)
        self._df: Counter[str] = Counter()
        self._docs = 0
        self._clock: datetime | None = None

    # -- decisions ----------------------------------------------------------------------------

    def place(self, story: Sketch, topics: Iterable[str]) -> Placement:
        """Where ``story``, flagged for ``topics`` (best first), goes. Changes nothing."""
        wanted = list(topics)
        if not wanted:
            raise ValueError("a story is grouped only for the topics it is flagged for")
        copy = self._copy_of(story)
        if copy is not None:
            member, similarity = copy
            event = self.events[self._event_of[member]]
            return Placement(
                key=story.key, topic=event.topic, event=event.id, duplicate_of=member, score=similarity
            )
        vector = self._vector(story.terms)
        best: tuple[float, OpenEvent] | None = None
        for event in self.events.values():
            if event.topic not in wanted or not self._is_open(event, story.time, self.tuning.named_window):
                continue
            score = self._similarity(story, vector, event)
            if score is not None and (best is None or score > best[0]):
                best = (score, event)
        if best is not None and best[0] >= self.tuning.threshold:
            return Placement(key=story.key, topic=best[1].topic, event=best[1].id, score=best[0])
        return Placement(key=story.key, topic=wanted[0], event=None, score=best[0] if best else 0.0)

    def _is_open(self, event: OpenEvent, when: datetime, window: float | None = None) -> bool:
        window = window or self.tuning.window
        return (when - event.last).total_seconds() <= window and (
            event.first - when
        ).total_seconds() <= window

    def _copy_of(self, story: Sketch) -> tuple[int, float] | None:
        best: tuple[int, float] | None = None
        for key in self._lsh.query(story.minhash):
            event = self.events.get(self._event_of.get(key, -1))
            if event is None or not self._is_open(event, story.time):
                continue
            member = next((m for m in event.members if m.key == key), None)
            if member is None:
                continue
            similarity = jaccard(story.minhash, member.minhash)
            if similarity >= self.tuning.duplicate and (best is None or similarity > best[1]):
                best = (key, similarity)
        return best

    def _similarity(self, story: Sketch, vector: dict[str, float], event: OpenEvent) -> float | None:
        """How alike ``story`` and ``event`` are, or None when they cannot be one occurrence."""
        judged = self.judge(story, vector, event)
        return judged if isinstance(judged, float) else None

    def judge(self, story: Sketch, vector: dict[str, float], event: OpenEvent) -> float | str:
        """The similarity of ``story`` to ``event``, or what rules the event out."""
        a, t, g = story.anchors, self.tuning, gazetteer()
        if a.head_weapons and g.clash(a.head_weapons, _classes(event.head_weapons)):
            return f"another missile class ({', '.join(sorted(a.head_weapons))})"
        if a.head_families and event.head_families and not a.head_families & set(event.families):
            return f"another missile ({', '.join(sorted(a.head_families))})"
        if a.head_identifiers and event.identifiers and not a.head_identifiers & set(event.identifiers):
            return f"another number ({', '.join(sorted(a.head_identifiers))})"
        days = max((story.time - event.last).total_seconds(), 0.0) / DAY
        named = bool(a.identifiers & set(event.identifiers))  # the same resolution or package
        if days * DAY > t.window and not named:
            return f"closed {days:.1f} days before"
        same_language = [m for m in event.members if m.language == story.language]
        # Across languages words cannot meet: no evidence either way, the anchors decide.
        text = (
            max(_cosine(vector, event.vectors[m.key]) for m in same_language)
            if same_language
            else t.unknown_text
        )
        places = sum(event.places[p] for p in a.places) / (len(a.places) * event.size) if a.places else 0.0
        agree = t.agree_weight * (
            bool(a.weapons & set(event.weapons) - {"ballistic"})
            + bool(a.families & set(event.families))
            + 2 * named
        )
        action = event.topic == "sanctions" and a.action not in _top(event.actions)
        subject = bool(a.subject and event.subjects and a.subject not in event.subjects)
        day = bool(a.day and event.days and a.day not in event.days)
        return (
            t.text_weight * text
            + t.place_weight * places
            + agree
            - t.mismatch_penalty * (action + subject + day)
            - t.day_penalty * (0 if named else days)
        )

    def _vector(self, terms: dict[str, float]) -> dict[str, float]:
        """TF-IDF, L2-normalised; document frequencies from every story grouped so far."""
        n = self._docs + 1
        weights = {
            t: (1.0 + math.log(c)) * math.log((n + 1) / (self._df.get(t, 0) + 1)) for t, c in terms.items()
        }
        norm = math.sqrt(sum(w * w for w in weights.values())) or 1.0
        return {t: w / norm for t, w in weights.items()}

    def news(self, story: Sketch, event_id: int | None) -> tuple[str, ...]:
        """What ``story`` reports first in its event: a missile class or a named missile in its
        headline, or a resolution or package number, that none of the event's stories gave."""
        event = self.events.get(event_id) if event_id is not None else None
        if event is None:
            return ()
        a = story.anchors
        return tuple(
            sorted(
                {w for w in a.head_weapons if w != "ballistic" and w not in event.weapons}
                | {f for f in a.head_families if f not in event.families}
                | {i for i in a.head_identifiers if i not in event.identifiers}
            )
        )

    @property
    def horizon(self) -> float:
        """Seconds after its last story that an event can still matter to a new one."""
        return self.tuning.named_window + self.tuning.window

    # -- state --------------------------------------------------------------------------------

    def add(self, story: Sketch, event_id: int, topic: str) -> None:
        """Record that ``story`` is in event ``event_id`` (new or open), as stored."""
        self._expire(story.time)
        self._docs += 1
        self._df.update(story.terms.keys())
        event = self.events.get(event_id)
        if event is None:
            event = self.events[event_id] = OpenEvent(
                id=event_id, topic=topic, first=story.time, last=story.time
            )
        event.first, event.last = min(event.first, story.time), max(event.last, story.time)
        event.size += 1
        a = story.anchors
        event.places.update(a.places)
        if a.subject:
            event.subjects[a.subject] += 1
        if a.day:
            event.days[a.day] += 1
        event.weapons.update(a.weapons)
        event.head_weapons.update(a.head_weapons)
        event.families.update(a.families)
        event.head_families.update(a.head_families)
        event.identifiers.update(a.identifiers)
        event.actions[a.action] += 1
        self._event_of[story.key] = event_id
        if len(event.members) >= MAX_MEMBERS:  # keep the first stories and the latest
            dropped = event.members.pop(MAX_MEMBERS // 2)
            event.vectors.pop(dropped.key, None)
            if dropped.key in self._lsh:
                self._lsh.remove(dropped.key)
        event.members.append(story)
        event.vectors[story.key] = self._vector(story.terms)
        if story.key not in self._lsh:
            self._lsh.insert(story.key, story.minhash)

    def _expire(self, when: datetime) -> None:
        """Forget events closed for longer than a window: no story can join them any more."""
        self._clock = when if self._clock is None else max(self._clock, when)
        horizon = self._clock - timedelta(seconds=self.horizon)
        for event in [e for e in self.events.values() if e.last < horizon]:
            del self.events[event.id]
            for member in event.members:
                self._event_of.pop(member.key, None)
                if member.key in self._lsh:
                    self._lsh.remove(member.key)
