"""Notification channels: ``notify:`` entries turned into ready apprise handles, and routing.

The only place (with ``deliver``) that touches apprise. Channel URLs carry secrets: a handle
keeps the plugin and shows only its redacted URL.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from zoneinfo import ZoneInfo

import apprise
from apscheduler.triggers.cron import CronTrigger

from ..config import Channel
from ..errors import ConfigError
from ..records import Verdict
from ..stages.urls import MASK, redact_url, secrets_in


class Mode(StrEnum):
    """How a channel receives alerts (``notify[].mode``)."""

    INSTANT = "instant"
    DIGEST = "digest"


@dataclass(frozen=True, slots=True)
class ChannelHandle:
    """A configured channel, ready to send. ``name`` and ``display`` are safe to show."""

    name: str
    display: str
    plugin: apprise.plugins.NotifyBase
    topics: frozenset[str] | None
    min_score: float
    mode: Mode
    schedule: CronTrigger | None = None  # digest channels only
    secrets: tuple[str, ...] = ()  # parts of the URL that ``display`` hides
    legacy_name: str | None = None  # the default name earlier versions gave (it held the URL)
    ops: bool = False  # also receives notices about feed health

    def scrub(self, text: str) -> str:
        """``text`` (a service's error message, say) with this channel's secrets masked."""
        for secret in self.secrets:
            text = text.replace(secret, MASK)
        return text

    def digest_at(self, oldest: datetime) -> datetime | None:
        """When the digest holding an alert queued at ``oldest`` goes out: the schedule's first
        firing after it (None: not a digest channel)."""
        if self.schedule is None:
            return None
        fire: datetime | None = self.schedule.get_next_fire_time(None, oldest)
        return fire

    def digest_due(self, oldest: datetime, now: datetime) -> bool:
        """A digest is due once its schedule has fired since the oldest alert waiting for it;
        computed from the outbox, so a restart neither loses nor skips a digest."""
        fire = self.digest_at(oldest)
        return fire is not None and fire <= now

    def routes(self, verdicts: Iterable[Verdict]) -> bool:
        return any(
            v.flagged and v.score >= self.min_score and (self.topics is None or v.topic in self.topics)
            for v in verdicts
        )


def build_channels(
    channels: Iterable[Channel],
    known_topics: Iterable[str] = (),
    timezone: str = "UTC",
    *,
    read_timeout: float | None = None,
) -> list[ChannelHandle]:
    """Instantiate every channel; a malformed URL or unknown topic is a ConfigError (redacted).

    ``read_timeout`` (``alerts.send_timeout``) replaces apprise's 4 s socket read timeout unless
    the URL sets ``rto``: a service that takes 6 s to answer has taken the message, and treating
    that as a failure would send it again on every retry."""
    problems, handles, names = [], [], set()
    known = set(known_topics)
    for i, channel in enumerate(channels):
        plugin, told = _instantiate(channel.url)
        if plugin is not None and read_timeout is not None and "rto=" not in channel.url:
            plugin.socket_read_timeout = read_timeout
        if plugin is None:
            scheme = channel.url.split("://", 1)[0] if "://" in channel.url else "(none)"
            # apprise says why (a mailto URL without a valid From, an unknown service); its
            # message may quote the URL, so its secrets are masked first.
            why = "; ".join(dict.fromkeys(told)) or f"no apprise service for scheme {scheme!r}"
            problems.append(
                f"notify[{i}].url: not a usable apprise URL: {why} (see https://github.com/caronc/apprise/wiki)"
            )
            continue
        # apprise's privacy mode masks the secrets it knows of; not a token in a webhook's path or
        # a header value (json://host/hooks/TOKEN?+X-Api-Key=...): redact_url masks those too.
        shown = str(plugin.url(privacy=True))  # type: ignore[no-untyped-call, unused-ignore]
        display = redact_url(shown)
        scheme = channel.url.split("://", 1)[0].lower()
        name = channel.name or _default_name(scheme, i, [c.url for c in channels])
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
                mode=Mode(channel.mode),
                schedule=schedule,
                secrets=secrets_in(channel.url, display),
                legacy_name=None if channel.name else shown.split("?", 1)[0],
                ops=channel.ops,
            )
        )
    if problems:
        raise ConfigError(problems)
    return handles


def _instantiate(url: str) -> tuple[apprise.plugins.NotifyBase | None, list[str]]:
    """apprise's plugin for ``url``, and what apprise said about it (its reasons for refusing
    one), with the URL's secrets masked. Nothing reaches the log: it would quote the URL."""
    logger = logging.getLogger("apprise")
    propagate, logger.propagate = logger.propagate, False
    try:
        with apprise.LogCapture(level=logging.WARNING, fmt="%(message)s") as captured:  # type: ignore[no-untyped-call, unused-ignore]
            plugin = apprise.Apprise.instantiate(url, suppress_exceptions=True)
            told = str(captured.getvalue())
    finally:
        logger.propagate = propagate
    # The URL is not echoed back at all: the user has it, and a refused one is not parsed
    # well enough to know which parts are secret.
    shown, secrets = url.split("://", 1)[0] + "://…", secrets_in(url, redact_url(url))
    lines = []
    for line in told.splitlines():
        line = line.strip().replace(url, shown)
        for secret in secrets:
            line = line.replace(secret, MASK)
        if line:
            lines.append(line)
    return plugin, lines


def _default_name(scheme: str, index: int, urls: list[str]) -> str:
    """A channel without a ``name`` is called by its service ("json", "tgram"), numbered when
    several share one ("json-2"): a label, never its URL, which may hold a secret."""
    same = [i for i, url in enumerate(urls) if url.split("://", 1)[0].lower() == scheme]
    return scheme if len(same) == 1 else f"{scheme}-{same.index(index) + 1}"


def channels_for(verdicts: Iterable[Verdict], channels: Iterable[ChannelHandle]) -> tuple[str, ...]:
    """The names of the channels a story with these verdicts is alerted on."""
    verdicts = tuple(verdicts)
    return tuple(c.name for c in channels if c.routes(verdicts))
