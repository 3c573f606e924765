"""Stories from a file grouped exactly as the daemon groups them (``monitor group``,
``monitor eval-events``): each story is classified, stored and grouped through the store (an
in-memory database the CLI hands in), one transaction per story, in arrival order."""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime

from ..clock import utcnow
from ..records import AlertKind, Article, ExtractionStatus, Feed, NewArticle
from ..stages.classify import classify
from ..stages.facts.score import judge
from ..stages.group import sketch
from ..stages.group.cluster import Weights
from ..stages.group.learn import Labelled
from ..stages.group.metrics import GroupingFigures, score_grouping
from ..stages.group.stories import InputStory, in_arrival_order
from ..stages.language import detect_language
from ..store.ports import PollStore
from .grouping import actor_of, tuning_for
from .runtime import Runtime

CHANNEL = "group"  # the channel every flagged story is routed to, so alerts are counted


@dataclass(frozen=True, slots=True)
class GroupedLine:
    """One story's outcome, as ``monitor group`` writes it."""

    story: InputStory
    flagged: tuple[str, ...]
    event: int | None
    new_event: bool
    alert: AlertKind | None  # what the daemon would have sent for it (None: nothing)
    skipped: str | None = None  # why it was not stored (the daemon would skip it too)
    facts: dict[str, object] = field(default_factory=dict)

    def record(self) -> dict[str, object]:
        line: dict[str, object] = {
            "id": self.story.id,
            "flagged": list(self.flagged),
            "event": self.event,
            "new_event": self.new_event,
            "alert": self.alert.value if self.alert else None,
            "facts": self.facts,
        }
        if self.skipped:
            line["skipped"] = self.skipped
        return line


def group_stories(
    runtime: Runtime, store: PollStore, stories: Iterable[InputStory], *, now: datetime | None = None
) -> Iterator[GroupedLine]:
    """Classify, store and group each story in turn. A story without ``published`` arrives when
    the one before it did (the first: ``now``)."""
    feeds: dict[str, int] = {}
    events: set[int] = set()
    arrival = now or utcnow()
    for story in stories:
        arrival = story.published or arrival
        outlet = story.outlet or "input"
        if outlet not in feeds:
            (state,) = store.sync_feeds(
                [Feed(name=outlet, url=f"https://{outlet}.invalid/", interval=900.0)], arrival
            )
            feeds[outlet] = state.id
        language = detect_language(story.title, story.text, story.language)
        verdicts = classify(story.title, story.text, runtime.topics, language)
        article = Article(
            feed_id=feeds[outlet],
            feed_name=outlet,
            url=story.url,
            guid=f"line:{story.line}",
            title=story.title,
            summary="",
            text=story.text,
            author=None,
            language=language,
            published_at=story.published,
            discovered_at=arrival,
            extraction_status=ExtractionStatus.OK,
            verdicts=verdicts,
        )
        flagged = tuple(v.topic for v in sorted(article.flagged, key=lambda v: -v.score))
        inserted = store.commit_articles(
            [NewArticle(article=article, channels=(CHANNEL,) if flagged else ())], arrival
        )
        if not inserted:
            yield GroupedLine(
                story=story,
                flagged=flagged,
                event=None,
                new_event=False,
                alert=None,
                skipped="an earlier story has the same link",
            )
            continue
        event, kinds, facts = store.grouped(inserted[0])
        new = event is not None and event not in events
        if event is not None:
            events.add(event)
        yield GroupedLine(
            story=story,
            flagged=flagged,
            event=event,
            new_event=new,
            alert=kinds[0] if kinds else None,
            facts=facts,
        )


@dataclass(frozen=True, slots=True)
class EventsReport:
    """``monitor eval-events``: grouping figures over the flagged stories of a labelled file."""

    stories: int
    flagged: int
    real_events: int  # real events with at least one story in the file
    figures: GroupingFigures
    event_alerts: int
    update_alerts: int
    facts: dict[str, tuple[int, int]] = field(default_factory=dict)  # field -> (right, judged)

    @property
    def alerts_per_event(self) -> float:
        return self.event_alerts / self.figures.real_events if self.figures.real_events else 0.0

    @property
    def alerts_per_event_with_updates(self) -> float:
        alerts = self.event_alerts + self.update_alerts
        return alerts / self.figures.real_events if self.figures.real_events else 0.0


def _facts_figures(
    lines: list[GroupedLine], references: dict[str, dict[str, object]]
) -> dict[str, tuple[int, int]]:
    """Per field, how many real events' facts are right: the facts of the event that holds the
    real event's first flagged story, as they stand after its last story."""
    final: dict[int, dict[str, object]] = {}
    for g in lines:
        if g.event is not None:
            final[g.event] = g.facts
    first: dict[str, int] = {}
    for g in lines:
        if g.story.event is not None and g.event is not None:
            first.setdefault(g.story.event, g.event)
    tally: dict[str, list[int]] = {}
    for real, reference in references.items():
        predicted = first.get(real)
        facts = final.get(predicted, {}) if predicted is not None else {}
        for name, right in judge(facts, reference).items():
            counts = tally.setdefault(name, [0, 0])
            counts[0] += right
            counts[1] += 1
    return {name: (right, judged) for name, (right, judged) in tally.items()}


def _report(
    lines: list[GroupedLine],
    key: Callable[[GroupedLine], Hashable],
    references: dict[str, dict[str, object]] | None = None,
) -> EventsReport:
    gold = {g.story.line: g.story.event for g in lines if g.story.event is not None}
    predicted = {g.story.line: key(g) for g in lines if g.event is not None and g.story.line in gold}
    alerts = [g.alert for g in lines if g.story.line in gold]
    return EventsReport(
        stories=len(lines),
        flagged=sum(1 for g in lines if g.flagged),
        real_events=len(set(gold.values())),
        figures=score_grouping({k: v for k, v in gold.items() if v is not None}, predicted),
        event_alerts=sum(1 for a in alerts if a is AlertKind.EVENT),
        update_alerts=sum(1 for a in alerts if a is AlertKind.UPDATE),
        facts=_facts_figures(lines, references) if references else {},
    )


def evaluate_events(
    runtime: Runtime,
    store: PollStore,
    stories: list[InputStory],
    dates: dict[str, datetime],
    references: dict[str, dict[str, object]] | None = None,
) -> EventsReport:
    """Group a labelled file's stories in arrival order and score the grouping (and, given the
    events' reference facts, the facts)."""
    lines = list(group_stories(runtime, store, in_arrival_order(stories, dates)))
    return _report(lines, lambda g: g.event, references)


def labelled(runtime: Runtime, stories: Iterable[InputStory]) -> list[Labelled]:
    """Labelled stories as grouping learns from them: read in their language, at their time,
    under their labelled topic (else the one the classifier flags first; unflagged ones left out)."""
    out: list[Labelled] = []
    for story in stories:
        if story.event is None:
            continue
        language = detect_language(story.title, story.text, story.language)
        topic = story.topic
        if topic is None:
            flagged = [v for v in classify(story.title, story.text, runtime.topics, language) if v.flagged]
            topic = max(flagged, key=lambda v: v.score).topic if flagged else None
        if topic is None:
            continue
        when = story.published or utcnow()
        actor = actor_of(topic, story.title, story.text, language)
        drawn = sketch(story.line, story.title, story.text, language, when, story.outlet, actor)
        out.append(Labelled(sketch=drawn, topic=topic, event=story.event))
    return out


def train_weights(runtime: Runtime, stories: list[InputStory], dates: dict[str, datetime]) -> Weights:
    """Grouping weights learnt from a labelled file's stories, in arrival order."""
    from ..stages.group.learn import fit  # scikit-learn: only when learning (40 MB)

    return fit(labelled(runtime, in_arrival_order(stories, dates)), tuning_for(runtime.settings))


def cross_validate_events(
    runtime: Runtime,
    stories: list[InputStory],
    dates: dict[str, datetime],
    folds: int,
    open_store: Callable[[Weights], PollStore],
) -> EventsReport:
    """Each fold's events grouped with weights learnt from the other folds' stories only. Folds
    are runs of consecutive events (by their first story), so an event and the neighbours it
    could be confused with are judged together, never learnt from."""
    from ..stages.group.learn import fit  # scikit-learn: only when learning (40 MB)

    ordered = in_arrival_order(stories, dates)
    first = list(dict.fromkeys(s.event for s in ordered if s.event is not None))
    fold = {event: i * folds // len(first) for i, event in enumerate(first)}
    lines: list[tuple[int, GroupedLine]] = []
    for k in range(folds):
        train = [s for s in ordered if s.event is not None and fold[s.event] != k]
        weights = fit(labelled(runtime, train), tuning_for(runtime.settings))
        store = open_store(weights)
        try:
            test = [s for s in ordered if s.event is not None and fold[s.event] == k]
            lines += [(k, g) for g in group_stories(runtime, store, test)]
        finally:
            close = getattr(store, "close", None)
            if close is not None:
                close()
    keys = {id(g): k for k, g in lines}
    return _report([g for _, g in lines], lambda g: (keys[id(g)], g.event))
