"""Alert delivery: the only module that calls apprise.

Alerts sit in the ``alerts`` table (the outbox), written in the same transaction as their
article. ``deliver_due`` hands due rows to their channel and records the outcome: ``sent``, or
an attempt counted with a retry scheduled by exponential backoff, or ``failed`` after
``alerts.max_attempts``. Channel URLs carry secrets: only their redacted form
(``url(privacy=True)``) is ever shown, logged or stored.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import apprise
from apscheduler.triggers.cron import CronTrigger

from .config import Channel
from .errors import ConfigError
from .records import Alert, Article, DeliveryResult, Verdict
from .store import Store

log = logging.getLogger(__name__)

FIRST_RETRY = 30.0
MAX_RETRY = 3600.0
# Inline markup only: every line we send starts with text we wrote, so block syntax (#, -, +, 1.)
# in untrusted text is never at a line start and cannot take effect.
_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()<>!|~])")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


@dataclass(frozen=True, slots=True)
class ChannelHandle:
    """A configured channel, ready to send. ``name`` and ``display`` are safe to show."""

    name: str
    display: str
    plugin: apprise.plugins.NotifyBase
    topics: frozenset[str] | None
    min_score: float
    mode: str
    schedule: CronTrigger | None = None  # digest channels only

    def digest_due(self, oldest: datetime, now: datetime) -> bool:
        """A digest is due once its schedule has fired since the oldest alert waiting for it;
        computed from the outbox, so a restart neither loses nor skips a digest."""
        if self.schedule is None:
            return False
        fire = self.schedule.get_next_fire_time(None, oldest)
        return fire is not None and fire <= now

    def routes(self, verdicts: Iterable[Verdict]) -> bool:
        return any(
            v.flagged and v.score >= self.min_score and (self.topics is None or v.topic in self.topics)
            for v in verdicts
        )


def build_channels(
    channels: Iterable[Channel], known_topics: Iterable[str] = (), timezone: str = "UTC"
) -> list[ChannelHandle]:
    """Instantiate every channel; a malformed URL or unknown topic is a ConfigError (redacted)."""
    problems, handles, names = [], [], set()
    known = set(known_topics)
    for i, channel in enumerate(channels):
        plugin = apprise.Apprise.instantiate(channel.url, suppress_exceptions=True)
        if plugin is None:
            scheme = channel.url.split("://", 1)[0] if "://" in channel.url else "(none)"
            problems.append(
                f"notify[{i}].url: not a valid apprise URL (scheme {scheme!r}); "
                "see https://github.com/caronc/apprise/wiki"
            )
            continue
        display = plugin.url(privacy=True)
        name = channel.name or display.split("?", 1)[0]
        if name in names:
            problems.append(f"notify[{i}].name: {name!r} is used by another channel")
            continue
        names.add(name)
        for topic in channel.topics or []:
            if known and topic not in known:
                problems.append(f"notify[{i}].topics: unknown topic {topic!r}")
        schedule = None
        if channel.mode == "digest":
            if not channel.schedule:
                problems.append(
                    f"notify[{i}].schedule: a digest channel needs a cron schedule, e.g. '0 8 * * *'"
                )
            else:
                try:
                    schedule = CronTrigger.from_crontab(channel.schedule, timezone=ZoneInfo(timezone))
                except ValueError as exc:
                    problems.append(
                        f"notify[{i}].schedule: invalid cron expression {channel.schedule!r}: {exc}"
                    )
        elif channel.schedule:
            problems.append(f"notify[{i}].schedule: only digest channels have a schedule (set mode: digest)")
        handles.append(
            ChannelHandle(
                name=name,
                display=display,
                plugin=plugin,
                topics=frozenset(channel.topics) if channel.topics is not None else None,
                min_score=channel.min_score,
                mode=channel.mode,
                schedule=schedule,
            )
        )
    if problems:
        raise ConfigError(problems)
    return handles


def channels_for(article: Article, channels: Iterable[ChannelHandle]) -> list[str]:
    return [c.name for c in channels if c.routes(article.verdicts)]


def plain(text: str) -> str:
    """Untrusted feed text made safe for one line: control and bidi characters removed."""
    return " ".join(_CONTROL.sub("", text).split())


_MD_BLOCK_START = re.compile(r"^(#|>|\+|-|=|\d+\.)")


def escape_markdown(text: str) -> str:
    """Escape markdown so a crafted headline cannot inject links, images or formatting."""
    escaped = _MD_SPECIAL.sub(r"\\\1", plain(text))
    return _MD_BLOCK_START.sub(r"\\\1", escaped)  # e.g. a quote that starts with "# "


def render(
    alert: Alert, *, topic_labels: dict[str, str] | None = None, max_body: int = 4000
) -> tuple[str, str]:
    """(title, markdown body) for one alert. Evidence is trimmed to fit; the link never is."""
    labels = topic_labels or {}
    names = " + ".join(labels.get(v.topic, v.topic) for v in alert.matches) or "Match"
    # Services that take markdown render the title as markdown too: escape the headline there.
    title = f"{escape_markdown(names)}: {escape_markdown(alert.title)}"
    lines = [f"**Source:** {escape_markdown(alert.feed_name)}"]
    if alert.published_at:
        lines.append(f"**Published:** {alert.published_at.strftime('%Y-%m-%d %H:%M UTC')}")
    lines.append(
        "**Score:** " + ", ".join(f"{escape_markdown(v.topic)} {v.score:.2f}" for v in alert.matches)
    )
    link = alert.url or ""
    evidence: list[str] = []
    seen: set[str] = set()
    for v in alert.matches:
        quotes = [q for q in v.evidence if q not in seen]
        seen.update(quotes)
        if quotes:
            evidence.append(f"*{escape_markdown(labels.get(v.topic, v.topic))}:*")
            evidence += [f"> {escape_markdown(q)}" for q in quotes]
    head = "\n".join(lines)
    budget = max_body - len(head) - len(link) - 4
    kept: list[str] = []
    used = 0
    for line in evidence:
        if used + len(line) + 1 > budget:
            break
        kept.append(line)
        used += len(line) + 1
    body = head + ("\n\n" + "\n".join(kept) if kept else "") + ("\n\n" + link if link else "")
    return title, body


DbRunner = Callable[..., Awaitable[Any]]


async def _direct(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    return fn(*args, **kwargs)


def retry_delay(attempts: int) -> float:
    """Seconds before the next try after ``attempts`` failures: 30 s doubling to an hour."""
    return min(FIRST_RETRY * 2 ** max(attempts - 1, 0), MAX_RETRY)


async def send(channel: ChannelHandle, title: str, body: str) -> str | None:
    """Send one message; None on success, else the (redacted) reason."""
    with apprise.LogCapture(level=logging.WARNING) as captured:
        try:
            ok = await channel.plugin.async_notify(
                body=body, title=title, body_format=apprise.NotifyFormat.MARKDOWN
            )
        except Exception as exc:  # a plugin bug must not take the sender down
            return f"{type(exc).__name__} in apprise plugin"
    if ok:
        return None
    detail = captured.getvalue().strip().splitlines()
    return (detail[-1] if detail else "the service rejected the message")[:500]


def _chunks(lines: list[str], budget: int) -> list[list[str]]:
    """Split lines into groups whose joined length fits ``budget``; a line is never cut."""
    groups: list[list[str]] = [[]]
    used = 0
    for line in lines:
        if groups[-1] and used + len(line) + 1 > budget:
            groups.append([])
            used = 0
        groups[-1].append(line)
        used += len(line) + 1
    return groups


def _item(alert: Alert, labels: dict[str, str]) -> str:
    names = ", ".join(labels.get(v.topic, v.topic) for v in alert.matches)
    source = escape_markdown(alert.feed_name)
    line = f"- **{escape_markdown(names)}:** {escape_markdown(alert.title)} ({source})"
    return f"{line} {alert.url}" if alert.url else line


def render_batch(
    alerts: list[Alert], *, topic_labels: dict[str, str] | None = None, max_body: int = 4000
) -> list[tuple[str, str]]:
    """A burst of alerts as few messages as the service's length limit allows, one line each
    (labels, headline, source, link); evidence is left out, the link never."""
    labels = topic_labels or {}
    lines = [_item(a, labels) for a in alerts]
    groups = _chunks(lines, max_body - 50)
    total = len(alerts)
    return [
        (f"{total} new alerts" + (f" ({n}/{len(groups)})" if len(groups) > 1 else ""), "\n".join(group))
        for n, group in enumerate(groups, start=1)
    ]


def render_digest(
    alerts: list[Alert], *, topic_labels: dict[str, str] | None = None, max_body: int = 4000
) -> list[tuple[str, str]]:
    """A digest grouped by topic (a story under its best-scoring topic), split to fit."""
    labels = topic_labels or {}
    groups: dict[str, list[Alert]] = {}
    for alert in alerts:
        top = alert.matches[0].topic if alert.matches else "other"
        groups.setdefault(top, []).append(alert)
    lines: list[str] = []
    for topic, items in groups.items():
        lines.append(f"**{escape_markdown(labels.get(topic, topic))}** ({len(items)})")
        lines += [_item(a, labels) for a in items]
    chunks = _chunks(lines, max_body - 50)
    title = f"Digest: {len(alerts)} {'story' if len(alerts) == 1 else 'stories'}"
    return [
        (title + (f" ({n}/{len(chunks)})" if len(chunks) > 1 else ""), "\n".join(chunk))
        for n, chunk in enumerate(chunks, start=1)
    ]


async def _send_all(channel: ChannelHandle, messages: list[tuple[str, str]]) -> str | None:
    for title, body in messages:
        error = await send(channel, title, body)
        if error is not None:
            return error
    return None


async def deliver_due(
    store: Store,
    channels: Iterable[ChannelHandle],
    *,
    now: datetime,
    max_attempts: int,
    burst_limit: int = 10,
    topic_labels: dict[str, str] | None = None,
    db: DbRunner = _direct,
) -> list[DeliveryResult]:
    """Deliver what is due and record each outcome in the outbox.

    Instant channels: one message per alert, or, when more than ``burst_limit`` are due at once,
    one combined message. Digest channels: everything pending, grouped by topic, once the
    schedule has fired. ``db`` runs a Store call (the daemon passes its database-thread runner).
    """
    channels = list(channels)
    results: list[DeliveryResult] = []

    async def outcome(channel: ChannelHandle, batch: list[Alert], error: str | None) -> None:
        ids = [a.id for a in batch]
        if error is None:
            await db(store.mark_sent, ids, now)
            log.info("%d alert(s) sent to %s", len(ids), channel.name)
        else:
            attempts = max(a.attempts for a in batch) + 1
            retry = now + timedelta(seconds=retry_delay(attempts)) if attempts < max_attempts else None
            await db(store.mark_failed, ids, error, retry, now)
            log.warning(
                "%d alert(s) to %s failed (attempt %d/%d): %s",
                len(ids),
                channel.name,
                attempts,
                max_attempts,
                error,
            )
        results.extend(
            DeliveryResult(alert_id=i, channel=channel.name, ok=error is None, error=error) for i in ids
        )

    due: dict[str, list[Alert]] = {}
    for alert in await db(store.due_alerts, now):
        due.setdefault(alert.channel, []).append(alert)
    for channel in channels:
        if channel.mode == "instant":
            batch = due.get(channel.name, [])
            maxlen = channel.plugin.body_maxlen
            if len(batch) > burst_limit:
                messages = render_batch(batch, topic_labels=topic_labels, max_body=maxlen)
                await outcome(channel, batch, await _send_all(channel, messages))
                continue
            for alert in batch:
                title, body = render(alert, topic_labels=topic_labels, max_body=maxlen)
                await outcome(channel, [alert], await send(channel, title, body))
        else:
            pending = await db(store.pending_digest, channel.name, now)
            if not pending:
                continue
            oldest = min(a.created_at or now for a in pending)
            if channel.digest_due(oldest, now):
                messages = render_digest(
                    pending, topic_labels=topic_labels, max_body=channel.plugin.body_maxlen
                )
                await outcome(channel, pending, await _send_all(channel, messages))
    return results


async def send_test(channel: ChannelHandle, now: datetime) -> str | None:
    """Send a test message; None on success, else the (redacted) reason."""
    return await send(
        channel,
        "monitor: test message",
        f"This is a test from monitor to channel **{escape_markdown(channel.name)}** "
        f"at {now.strftime('%Y-%m-%d %H:%M UTC')}. If you can read this, alerts will arrive here.",
    )
