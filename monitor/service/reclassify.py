"""Re-score stored articles with the current topic definitions (``monitor reclassify``)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from ..clock import utcnow
from ..records import Verdict
from ..stages.classify import classify
from ..stages.language import detect_language
from ..store.ports import ArticleStore
from .policy import within_max_age
from .runtime import Runtime


@dataclass(frozen=True, slots=True)
class Rescored:
    """One (article, topic) whose flag changed under the current topic definitions."""

    article_id: int
    title: str
    topic: str
    before: float | None  # score of the stored match, None if it was not flagged
    after: Verdict


@dataclass(frozen=True, slots=True)
class ReclassifyReport:
    articles: int
    newly_flagged: tuple[Rescored, ...]
    unflagged: tuple[Rescored, ...]
    rescored: int  # flagged before and after, with a new score or topic version
    alerts_queued: int


def reclassify(
    runtime: Runtime,
    store: ArticleStore,
    *,
    since: datetime | None,
    topic_names: Iterable[str] | None = None,
    alert: bool = False,
    now: datetime | None = None,
    dry_run: bool = False,
) -> ReclassifyReport:
    """Re-score stored articles with the current topics and update ``matches``.

    Alerts are queued only with ``alert=True``, and then only for newly flagged stories within
    ``alerts.max_age`` (by publication time, else discovery time). The stories found since
    ``since`` are then grouped again (``regroup``), so newly flagged ones are in events; with
    ``alerts.per: event`` a newly flagged story alerts only if its event never has.

    A topic no longer in the configuration (removed or disabled) loses its matches, unless
    ``topic_names`` limits the run. With ``dry_run`` nothing is written: the report says what
    would change.
    """
    now = now or utcnow()
    wanted = set(topic_names) if topic_names else None
    topics = tuple(t for t in runtime.topics if wanted is None or t.name in wanted)
    configured = {t.name for t in runtime.topics}
    flagged_now: list[Rescored] = []
    unflagged: list[Rescored] = []
    rescored = queued = seen = 0
    per_event = runtime.settings.alerts.per == "event"
    event_alerts: list[tuple[int, str]] = []  # queued once the stories have their events
    for batch in store.articles_since(since):
        changes: list[tuple[int, Verdict]] = []
        alerts: list[tuple[int, str]] = []
        stored = store.verdicts(article.id for article in batch)
        for article in batch:
            seen += 1
            before = {v.topic: v for v in stored.get(article.id, ())}
            new_flags = []
            # Read as a poll would now: articles stored before language identification carry
            # the page's tag as declared ("zh-CN") or none.
            language = detect_language(article.title, article.text, article.language)
            for verdict in classify(article.title, article.text, topics, language):
                old = before.get(verdict.topic)
                item = Rescored(
                    article_id=article.id,
                    title=article.title,
                    topic=verdict.topic,
                    before=old.score if old else None,
                    after=verdict,
                )
                if verdict.flagged and old is None:
                    flagged_now.append(item)
                    new_flags.append(verdict)
                elif old is not None and not verdict.flagged:
                    unflagged.append(item)
                elif old is not None and (old.score != verdict.score or old.version != verdict.version):
                    rescored += 1
                else:
                    continue
                changes.append((article.id, verdict))
            if wanted is None:
                for gone in sorted(before.keys() - configured):  # its topic was removed or disabled
                    dropped = Verdict(topic=gone, score=0.0, flagged=False, evidence=(), version="removed")
                    unflagged.append(
                        Rescored(
                            article_id=article.id,
                            title=article.title,
                            topic=gone,
                            before=before[gone].score,
                            after=dropped,
                        )
                    )
                    changes.append((article.id, dropped))
            if alert and new_flags:
                published = article.published_at or article.discovered_at or now
                if within_max_age(published, now, runtime.settings.alerts.max_age):
                    for channel in runtime.channels:
                        if channel.routes(new_flags):
                            alerts.append((article.id, channel.name))
        if per_event:
            event_alerts += alerts
            alerts = []
        if dry_run:
            queued += len(alerts)
            continue
        if changes or alerts:
            store.update_matches(changes, alerts, now)
            queued += len(alerts)
    if dry_run:
        return ReclassifyReport(
            articles=seen,
            newly_flagged=tuple(flagged_now),
            unflagged=tuple(unflagged),
            rescored=rescored,
            alerts_queued=0,
        )
    if flagged_now or unflagged:
        # Newly flagged stories join (or start) events, unflagged ones leave theirs; with
        # alerts.per: event, an event alerts on a channel only if it never has.
        store.regroup(since, now)
    if event_alerts:
        queued += store.alert_events(event_alerts, now)
    return ReclassifyReport(
        articles=seen,
        newly_flagged=tuple(flagged_now),
        unflagged=tuple(unflagged),
        rescored=rescored,
        alerts_queued=queued,
    )
