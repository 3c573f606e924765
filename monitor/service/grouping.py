"""Event grouping inside the store's write transaction: one alert per real-world event, and
each event's facts fused from its stories.

``EventGrouping`` owns the in-memory state of the open events (``stages.group.Grouper``) and is
attached to the store, which calls it for every flagged story it inserts, in the same
transaction as the article, the event row and the outbox rows: the grouping decision, the event
and the alert are stored together or not at all, so a crash between grouping and delivery
neither loses nor doubles an alert.

The state is a cache of the database. It is rebuilt from the stories of recent events when
first needed and after a transaction rolls back; before each transaction it takes in the
stories that other processes (``monitor poll`` beside the daemon) grouped meanwhile. The write
lock is held throughout, so two processes never decide at once.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from ..config import Settings, models_dir
from ..errors import ConfigError
from ..records import AlertKind, EventDecision, GroupedStory, StoryToGroup
from ..stages.facts.extract import Fact, launch_actor, sanctions_authority, site_latlon, story_facts
from ..stages.facts.fuse import fuse
from ..stages.group import Grouper, Sketch, Tuning, sketch
from ..stages.group.cluster import Weights

log = logging.getLogger(__name__)

Loader = Callable[[int, datetime | None], list[GroupedStory]]
"""Stories already in events: those with an article id above the first argument, of events
reported since the second (None: since any time)."""


WEIGHTS_FILE = "events.json"  # in the models folder, written by `monitor train-events`


def trained_weights(settings: Settings) -> Weights | None:
    """Weights ``monitor train-events`` wrote to the models folder, if any (else the shipped ones
    apply). A file that is not weights is a configuration error naming it."""
    folder = models_dir(settings)
    path = folder / WEIGHTS_FILE if folder is not None else None
    if path is None or not path.is_file():
        return None
    try:
        return Weights.from_json(path.read_text(encoding="utf-8"), str(path))
    except (OSError, ValueError) as exc:
        raise ConfigError(str(exc), source=str(path)) from None


def actor_of(topic: str, title: str, text: str, language: str | None) -> str | None:
    """Who acted, as a place code: who fired, for a launch story; who imposes, for a sanctions
    story (None for other topics or when unsaid)."""
    if topic == "missile_launch":
        return launch_actor(title, text, language)
    if topic == "sanctions":
        return sanctions_authority(title, text, language)
    return None


def tuning_for(settings: Settings, weights: Weights | None = None) -> Tuning:
    events = settings.events
    return Tuning(
        window=events.window,
        threshold=events.threshold,
        duplicate=events.duplicate,
        weights=weights or trained_weights(settings),
    )


class EventGrouping:
    """Places flagged stories in events and decides which of them alert (``alerts.per``)."""

    def __init__(self, settings: Settings, weights: Weights | None = None) -> None:
        self.tuning = tuning_for(settings, weights)
        self.per_event = settings.alerts.per == "event"
        self.update_spacing = settings.alerts.update_spacing
        self._grouper: Grouper | None = None
        self._watermark = 0  # the highest article id the grouper has taken in
        self._pending: dict[int, Sketch] = {}  # placed, not yet recorded
        self._stories: dict[int, StoryToGroup] = {}  # ... and the stories themselves
        self._reports: dict[int, list[tuple[int, dict[str, Fact]]]] = {}  # event -> its stories' facts

    def sync(self, load: Loader, now: datetime) -> None:
        """Bring the state up to date with the database (call under the write lock)."""
        if self._grouper is None:
            self._grouper = Grouper(self.tuning)
            self._watermark = 0
            since = now - timedelta(seconds=self._grouper.horizon)
            stories = load(0, since)
            if stories:
                log.info("grouping: %d stories of recent events reloaded", len(stories))
        else:
            stories = load(self._watermark, None)
        for grouped in stories:
            self._take(grouped.story, grouped.event_id, grouped.topic)

    def _take(self, story: StoryToGroup, event_id: int, topic: str) -> None:
        assert self._grouper is not None
        self._grouper.add(self.sketch(story, topic), event_id, topic)
        self._report(story, event_id, topic)
        self._watermark = max(self._watermark, story.article_id)

    def _report(self, story: StoryToGroup, event_id: int, topic: str) -> None:
        """Keep the facts of a story of an open event, for fusion (forget closed events')."""
        facts = story_facts(topic, story.title, story.text, story.language, story.time.date())
        self._reports.setdefault(event_id, []).append((story.article_id, facts))
        if self._grouper is not None and len(self._reports) > 2 * len(self._grouper.events) + 16:
            for stale in set(self._reports) - set(self._grouper.events):
                del self._reports[stale]

    def event_facts(self, event_id: int) -> dict[str, dict[str, object]]:
        """An event's facts fused from its stories so far: field -> value, article, quote, reports."""
        fused = fuse(self._reports.get(event_id, ()))
        facts: dict[str, dict[str, object]] = {
            field: {"value": f.value, "article": f.article, "quote": f.quote, "reports": f.reports}
            for field, f in fused.items()
        }
        where = site_latlon(str(fused["site"].value)) if "site" in fused else None
        if where is not None:
            facts["site_latlon"] = {**facts["site"], "value": f"{where[0]:.2f},{where[1]:.2f}"}
        return facts

    @staticmethod
    def sketch(story: StoryToGroup, topic: str | None = None) -> Sketch:
        topic = topic or (story.topics[0] if story.topics else None)
        actor = actor_of(topic, story.title, story.text, story.language) if topic else None
        return sketch(
            story.article_id, story.title, story.text, story.language, story.time, story.source, actor
        )

    def place(self, story: StoryToGroup) -> EventDecision:
        """Where ``story`` goes; nothing changes until ``placed``."""
        if self._grouper is None:
            raise RuntimeError("EventGrouping.sync must run first in the transaction")
        drawn = self.sketch(story)
        placement = self._grouper.place(drawn, story.topics)
        a = drawn.anchors
        anchors = {
            "places": sorted(a.places),
            "weapons": sorted(a.weapons),
            "missiles": sorted(a.families),
            "numbers": sorted(a.identifiers),
        }
        self._pending[story.article_id] = drawn
        self._stories[story.article_id] = story
        return EventDecision(
            article_id=story.article_id,
            topic=placement.topic,
            event_id=placement.event,
            duplicate_of=placement.duplicate_of,
            score=placement.score,
            news=self._grouper.news(drawn, placement.event),
            anchors={k: v for k, v in anchors.items() if v},
        )

    def placed(self, decision: EventDecision, event_id: int) -> None:
        """Record a decision the store has written (in the transaction still open)."""
        assert self._grouper is not None
        self._grouper.add(self._pending.pop(decision.article_id), event_id, decision.topic)
        self._report(self._stories.pop(decision.article_id), event_id, decision.topic)
        self._watermark = max(self._watermark, decision.article_id)

    def discard(self) -> None:
        """The transaction rolled back: forget everything, reload on next use."""
        self._grouper = None
        self._pending.clear()
        self._stories.clear()
        self._reports.clear()

    def update_due(self, decision: EventDecision, alerted_at: datetime | None, now: datetime) -> bool:
        """Whether a story of an alerted event alerts again, as an update."""
        if not decision.news or self.update_spacing <= 0:
            return False
        return alerted_at is None or (now - alerted_at).total_seconds() >= self.update_spacing

    def kind(self) -> AlertKind:
        """The kind of alert a story that alerts queues first."""
        return AlertKind.EVENT if self.per_event else AlertKind.STORY
