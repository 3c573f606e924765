"""Online grouping of flagged stories into events, in two levels. No I/O: state in, decision out.

1. **Copies.** A story whose shingles' MinHash is close to an open event's story (estimated
   Jaccard >= ``duplicate``: a wire copy, a syndicated reprint, an updated version) joins that
   event; a MinHash LSH index (``minhash.LSH``) finds the candidates without comparing every pair.
2. **Events.** Otherwise the story is compared with every open event of its flagged topics.
   Something that two reports of one occurrence cannot disagree on rules an event out: another
   class of missile (a short-range launch is not the next day's ICBM), another named missile
   family and number, another sanctions action (lifting is not imposing), another resolution or
   package number, a story none of whose places the event's stories name (a launch in Yemen is
   not the same day's launch in North Korea), a launch by the country the event's launcher
   struck (the retaliation), a launch its story says was fired after the event was first
   reported (the next one), a strike on another city than the event's stories name (a war's
   strikes a day apart), sanctions imposed by another authority than the event's, by a
   story that never names the event's (Japan's measures are not the EU's package), sanctions
   on targets the event's stories never name (the Treasury's Iran and Russia actions of one
   afternoon), or a headline whose places that event's stories never name. Of the rest, the
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

import functools
import json
import math
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from importlib import resources

from .anchors import gazetteer, local_date
from .minhash import LSH
from .sketch import NUM_PERM, Sketch, jaccard

DAY = 86400.0
# How much later than an event's first report a story may say its launch was fired and still
# report it: feeds' clocks and time zones are not always right.
REPORT_SLACK = timedelta(hours=3)
MAX_MEMBERS = 24  # an event's stories compared by text: its first ones and its latest


FEATURES = (
    "text",  # TF-IDF cosine with the event's closest story in the story's language (0 if none)
    "other_language",  # 1 when the event has no story in the story's language
    "places",  # the share of the story's places the event's stories name
    "new_places",  # the share of its headline's places that none of the event's stories names
    "same_class",  # the same missile class (ICBM, short-range, ...)
    "same_missile",  # the same named missile (Hwasong-18)
    "same_number",  # the same resolution or package number
    "other_action",  # another sanctions action (lift, extend, impose)
    "other_actor",  # the headline's actor is not one the event's headlines name
    "other_day",  # another day of the month
    "days",  # days since the event was last reported
)


@dataclass(frozen=True, slots=True)
class Weights:
    """A logistic model over ``FEATURES``: the probability that a story reports an event's
    occurrence. Learnt by ``learn.fit`` from labelled events (``monitor train-events``)."""

    bias: float
    coef: dict[str, float]

    def probability(self, features: dict[str, float]) -> float:
        z = self.bias + sum(self.coef.get(name, 0.0) * value for name, value in features.items())
        return 1.0 / (1.0 + math.exp(-max(min(z, 50.0), -50.0)))

    def to_json(self) -> str:
        return json.dumps({"bias": self.bias, "coef": self.coef}, indent=1, sort_keys=True) + "\n"

    @classmethod
    def from_json(cls, text: str, source: str = "weights") -> Weights:
        try:
            data = json.loads(text)
            coef = {str(k): float(v) for k, v in data["coef"].items()}
            unknown = set(coef) - set(FEATURES)
            if unknown:
                raise ValueError(f"unknown features {sorted(unknown)}")
            return cls(bias=float(data["bias"]), coef=coef)
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise ValueError(f"{source}: not event-grouping weights ({exc})") from None


@functools.cache
def default_weights() -> Weights:
    """The weights shipped with monitor (trained on the project's labelled events)."""
    text = resources.files(__package__).joinpath("weights.json").read_text(encoding="utf-8")
    return Weights.from_json(text, "monitor/stages/group/weights.json")


@dataclass(frozen=True, slots=True)
class Tuning:
    """How grouping decides; ``window``, ``threshold`` and ``duplicate`` are in config.yaml."""

    window: float = 72 * 3600.0  # seconds of silence after which an event closes
    named_window: float = 14 * 86400.0  # ... to a story naming its resolution or package number
    threshold: float = 0.5  # probability a story needs to join an event
    duplicate: float = 0.6  # estimated shingle Jaccard of a copy
    weights: Weights | None = None  # None: the shipped ones


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
    actors: Counter[str] = field(default_factory=Counter)
    days: Counter[int] = field(default_factory=Counter)
    weapons: Counter[str] = field(default_factory=Counter)
    head_weapons: Counter[str] = field(default_factory=Counter)
    families: Counter[str] = field(default_factory=Counter)
    head_families: Counter[str] = field(default_factory=Counter)
    actions: Counter[str] = field(default_factory=Counter)
    identifiers: Counter[str] = field(default_factory=Counter)
    struck: Counter[str] = field(default_factory=Counter)
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


def _reversed(actor: str, places: set[str], actors: set[str], event: OpenEvent) -> bool:
    """Whether the roles are reversed: the story's launcher (``actor``) is not the event's
    (``actors``, the one its stories name most) but a place the event names, and the story
    names the event's launcher among its ``places``. A strike and the retaliation: Iran on
    Pakistan, then Pakistan on Iran; Russia on Kyiv, Ukraine on Belgorod the same day."""
    return actor not in actors and actor in event.places and bool(actors & places)


def _other_authority(authority: str, places: frozenset[str], event: OpenEvent) -> bool:
    """Whether a sanctions story's authority (who imposes) is none the event's stories gave,
    and the story names none of theirs: Japan's measures on Russia and the EU's package the
    same week are two actions, however alike their words. A story that names the event's
    authority may have its own read wrongly ("Russia hits back at EU sanctions")."""
    return authority not in event.actors and not set(event.actors) & places


def _dated_only(event: OpenEvent) -> bool:
    """Whether the event's first report gave a date without a time: stamped exactly midnight (a
    feed that gives only the day, in its own time zone)."""
    return event.first.time() == datetime.min.time()


def _first_report(event: OpenEvent) -> datetime:
    """When the event was first reported, at the latest. A time of exactly midnight is a date
    without a time, so the report may have come until that day's end at UTC-12: 36 hours
    later."""
    return event.first + timedelta(hours=36) if _dated_only(event) else event.first


def _after_days(day: date, event: OpenEvent) -> bool:
    """Whether ``day`` is one to three days after every day the event's stories name (each read
    as the date nearest the event's first report): a launch fired then is not the one they
    report."""
    first = event.first.date()
    named = [local_date(None, str(d), first) for d in event.days]
    return bool(named) and all(n is not None and 1 <= (day - n).days <= 3 for n in named)


def _other_targets(story: Sketch, event: OpenEvent) -> frozenset[str] | None:
    """The places a sanctions story names other than who imposes, when the event's stories
    name others and none of them: the Treasury's measures on Iranian oil and on Russian banks
    the same afternoon are two actions, though both name the United States. Who imposes is
    every authority the story or the event's stories gave; one read wrongly only removes a
    place from the comparison, so an error never splits an event on its own."""
    authorities = set(event.actors) | ({story.actor} if story.actor else set())
    ours = story.anchors.places - authorities
    theirs = set(event.places) - authorities
    return ours if ours and theirs and not ours & theirs else None


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
        self._lsh = LSH(self.tuning.duplicate, NUM_PERM)
        self._df: Counter[str] = Counter()
        self._docs = 0
        self._clock: datetime | None = None
        self.expire = True  # forget closed events (learn.training_pairs keeps them)

    # -- decisions ----------------------------------------------------------------------------

    def place(self, story: Sketch, topics: Iterable[str]) -> Placement:
        """Where ``story``, flagged for ``topics`` (best first), goes. Changes nothing."""
        wanted = list(topics)
        if not wanted:
            raise ValueError("a story is grouped only for the topics it is flagged for")
        copy = self.copy_of(story)
        if copy is not None:
            member, similarity = copy
            event = self.events[self._event_of[member]]
            return Placement(
                key=story.key, topic=event.topic, event=event.id, duplicate_of=member, score=similarity
            )
        vector = self.vector(story.terms)
        best: tuple[float, OpenEvent] | None = None
        for event in self.candidates(story, wanted):
            score = self._similarity(story, vector, event)
            if score is not None and (best is None or score > best[0]):
                best = (score, event)
        if best is not None and best[0] >= self.tuning.threshold:
            return Placement(key=story.key, topic=best[1].topic, event=best[1].id, score=best[0])
        return Placement(key=story.key, topic=wanted[0], event=None, score=best[0] if best else 0.0)

    def candidates(self, story: Sketch, topics: Iterable[str]) -> list[OpenEvent]:
        """The events of ``topics`` still open to ``story`` (to one naming their number, longer)."""
        wanted = set(topics)
        return [
            e
            for e in self.events.values()
            if e.topic in wanted and self._is_open(e, story.time, self.tuning.named_window)
        ]

    def _is_open(self, event: OpenEvent, when: datetime, window: float | None = None) -> bool:
        window = window or self.tuning.window
        return (when - event.last).total_seconds() <= window and (
            event.first - when
        ).total_seconds() <= window

    def copy_of(self, story: Sketch) -> tuple[int, float] | None:
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
        """How likely ``story`` reports ``event``'s occurrence, or None when it cannot."""
        judged = self.judge(story, vector, event)
        return judged if isinstance(judged, float) else None

    @property
    def weights(self) -> Weights:
        return self.tuning.weights or default_weights()

    def judge(self, story: Sketch, vector: dict[str, float], event: OpenEvent) -> float | str:
        """The probability that ``story`` reports ``event``'s occurrence, or what rules it out."""
        found = self.features(story, vector, event)
        return found if isinstance(found, str) else self.weights.probability(found)

    def explain(self, story: Sketch, vector: dict[str, float], event: OpenEvent) -> dict[str, float] | str:
        """Each feature's weighted contribution (with the bias they add up to the log-odds), or
        what rules the event out."""
        found = self.features(story, vector, event)
        if isinstance(found, str):
            return found
        w = self.weights
        return {"bias": w.bias} | {name: w.coef.get(name, 0.0) * value for name, value in found.items()}

    def features(self, story: Sketch, vector: dict[str, float], event: OpenEvent) -> dict[str, float] | str:
        """What grouping weighs (``FEATURES``), or what rules the event out: two classes of
        missile that cannot describe one launch, two named missiles, two numbers, no place in
        common, roles reversed, or an event closed for longer than the window."""
        a, t, g = story.anchors, self.tuning, gazetteer()
        if a.head_weapons and g.clash(a.head_weapons, _classes(event.head_weapons)):
            return f"another missile class ({', '.join(sorted(a.head_weapons))})"
        if a.head_families and event.head_families and not a.head_families & set(event.families):
            return f"another missile ({', '.join(sorted(a.head_families))})"
        if a.head_identifiers and event.identifiers and not a.head_identifiers & set(event.identifiers):
            return f"another number ({', '.join(sorted(a.head_identifiers))})"
        if a.places and event.places and not a.places & set(event.places):
            # Two launches in different countries the same day are two events, however alike
            # their words ("fires ballistic missile"): no place in common rules one out.
            return f"no place in common ({', '.join(sorted(a.places))})"
        actor, launch = story.actor, event.topic == "missile_launch"
        if actor and event.actors and launch and _reversed(actor, set(a.places), _top(event.actors), event):
            return f"roles reversed ({actor} acts on the event's actor)"
        if actor and event.actors and not launch and _other_authority(actor, a.places, event):
            return f"another authority ({actor}), and none of the event's named"
        if launch and a.launched is not None and a.launched > _first_report(event) + REPORT_SLACK:
            # A launch cannot be fired after it was reported: this is the next one.
            return f"fired {a.launched:%Y-%m-%d %H:%M} UTC, after the event was first reported"
        if launch and a.launch_day is not None and _dated_only(event) and _after_days(a.launch_day, event):
            # "12月18日午前8時24分ごろ…発射" against stories that all report the 17th: the next
            # launch, however alike the words. Only where the first report gave no time, which
            # leaves the rule above 36 hours of doubt; with times, that rule decides.
            return f"fired on {a.launch_day} (UTC+9), after every day the event's stories name"
        if launch and a.struck and event.struck and not a.struck & set(event.struck):
            # A war's strikes a day apart share attacker, country and words: where they land
            # tells them apart ("missiles hit Odesa" is not the event of "strike on Kyiv").
            return f"another place struck ({', '.join(sorted(a.struck))})"
        targets = _other_targets(story, event) if event.topic == "sanctions" else None
        if targets:
            return f"no target in common ({', '.join(sorted(targets))})"
        new_places = a.head_places - set(event.places)
        other_action = event.topic == "sanctions" and a.action not in _top(event.actions)
        if other_action and new_places:
            return f"another action ({a.action}) on another target ({', '.join(sorted(new_places))})"
        days = max((story.time - event.last).total_seconds(), 0.0) / DAY
        named = bool(a.identifiers & set(event.identifiers))  # the same resolution or package
        if days * DAY > t.window and not named:
            return f"closed {days:.1f} days before"
        same_language = [m for m in event.members if m.language == story.language]
        text = max((_cosine(vector, event.vectors[m.key]) for m in same_language), default=0.0)
        places = sum(event.places[p] for p in a.places) / (len(a.places) * event.size) if a.places else 0.0
        return {
            "text": text,
            "other_language": float(not same_language),
            "places": places,
            "new_places": len(new_places) / len(a.head_places) if a.head_places else 0.0,
            "same_class": float(bool(a.weapons & set(event.weapons) - {"ballistic"})),
            "same_missile": float(bool(a.families & set(event.families))),
            "same_number": float(named),
            "other_action": float(other_action),
            "other_actor": float(bool(a.subject and event.subjects and a.subject not in event.subjects)),
            "other_day": float(bool(a.day and event.days and a.day not in event.days)),
            "days": 0.0 if named else days,
        }

    def vector(self, terms: dict[str, float]) -> dict[str, float]:
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
        if story.actor:
            event.actors[story.actor] += 1
        if a.day:
            event.days[a.day] += 1
        event.weapons.update(a.weapons)
        event.head_weapons.update(a.head_weapons)
        event.families.update(a.families)
        event.head_families.update(a.head_families)
        event.identifiers.update(a.identifiers)
        event.struck.update(a.struck)
        event.actions[a.action] += 1
        self._event_of[story.key] = event_id
        if len(event.members) >= MAX_MEMBERS:  # keep the first stories and the latest
            dropped = event.members.pop(MAX_MEMBERS // 2)
            event.vectors.pop(dropped.key, None)
            if dropped.key in self._lsh:
                self._lsh.remove(dropped.key)
        event.members.append(story)
        event.vectors[story.key] = self.vector(story.terms)
        if story.key not in self._lsh:
            self._lsh.insert(story.key, story.minhash)

    def _expire(self, when: datetime) -> None:
        """Forget events closed for longer than a window: no story can join them any more."""
        self._clock = when if self._clock is None else max(self._clock, when)
        if not self.expire:
            return
        horizon = self._clock - timedelta(seconds=self.horizon)
        for event in [e for e in self.events.values() if e.last < horizon]:
            del self.events[event.id]
            for member in event.members:
                self._event_of.pop(member.key, None)
                if member.key in self._lsh:
                    self._lsh.remove(member.key)
