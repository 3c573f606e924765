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

import apprise

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

    def routes(self, verdicts: Iterable[Verdict]) -> bool:
        return any(
            v.flagged and v.score >= self.min_score and (self.topics is None or v.topic in self.topics)
            for v in verdicts
        )


def build_channels(channels: Iterable[Channel], known_topics: Iterable[str] = ()) -> list[ChannelHandle]:
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
        if channel.mode == "digest":
            # Refused rather than accepted and silently never sent.
            problems.append(f"notify[{i}].mode: digest delivery is not available yet; use instant")
        handles.append(
            ChannelHandle(
                name=name,
                display=display,
                plugin=plugin,
                topics=frozenset(channel.topics) if channel.topics is not None else None,
                min_score=channel.min_score,
                mode=channel.mode,
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


async def deliver_due(
    store: Store,
    channels: Iterable[ChannelHandle],
    *,
    now: datetime,
    max_attempts: int,
    topic_labels: dict[str, str] | None = None,
    db: DbRunner = _direct,
) -> list[DeliveryResult]:
    """Deliver every pending alert that is due; record each outcome in the outbox.

    ``db`` runs a Store call (the daemon passes its database-thread runner)."""
    by_name = {c.name: c for c in channels if c.mode == "instant"}
    results = []
    for alert in await db(store.due_alerts, now):
        channel = by_name.get(alert.channel)
        if channel is None:
            continue  # removed from config, or a digest channel: left pending
        title, body = render(alert, topic_labels=topic_labels, max_body=channel.plugin.body_maxlen)
        error = await send(channel, title, body)
        if error is None:
            await db(store.mark_sent, [alert.id], now)
            log.info("alert %d sent to %s", alert.id, channel.name)
        else:
            attempts = alert.attempts + 1
            retry = now + timedelta(seconds=retry_delay(attempts)) if attempts < max_attempts else None
            await db(store.mark_failed, [alert.id], error, retry, now)
            log.warning(
                "alert %d to %s failed (attempt %d/%d): %s",
                alert.id,
                channel.name,
                attempts,
                max_attempts,
                error,
            )
        results.append(DeliveryResult(alert_id=alert.id, channel=channel.name, ok=error is None, error=error))
    return results
