"""Alert text: pure functions from alerts to (title, markdown body). No I/O.

Feed text is untrusted: it is stripped of control and bidi characters and markdown-escaped, so
a crafted headline cannot inject links, images or formatting. Text in a right-to-left script is
then wrapped in a first-strong isolate (U+2068 ... U+2069), so that an Arabic or Persian headline
or quote reads right to left without reordering what we write around it ("(Source, #12)").
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..records import Alert, AlertKind
from ..stages.facts.fuse import summary

# Inline markup only: every line we send starts with text we wrote, so block syntax (#, -, +, 1.)
# in untrusted text is never at a line start and cannot take effect.
_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()<>!|~])")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def plain(text: str) -> str:
    """Untrusted feed text made safe for one line: control and bidi characters removed."""
    return " ".join(_CONTROL.sub("", text).split())


_MD_BLOCK_START = re.compile(r"^(#|>|\+|-|=|\d+\.)")


# Hebrew, Arabic, Syriac, Thaana, NKo, Samaritan, Mandaic and the presentation forms.
_RIGHT_TO_LEFT = re.compile("[\u0590-\u08ff\ufb1d-\ufdff\ufe70-\ufefc]")


def isolate(text: str) -> str:
    """``text`` in a first-strong isolate when it holds right-to-left letters. ``plain`` has
    removed every bidi control the feed sent, so ours are the only ones and always balanced."""
    return f"\u2068{text}\u2069" if _RIGHT_TO_LEFT.search(text) else text


def escape_markdown(text: str) -> str:
    """Escape markdown so a crafted headline cannot inject links, images or formatting; isolate
    right-to-left text."""
    escaped = _MD_SPECIAL.sub(r"\\\1", plain(text))
    return isolate(_MD_BLOCK_START.sub(r"\\\1", escaped))  # e.g. a quote that starts with "# "


# Characters that markdown (or a chat service's auto-linker) reads as syntax around or inside a
# bare link. Percent-encoded, the link still leads to the same page and cannot become
# "[Verify your account](https://phish.example/)".
_LINK_UNSAFE = re.compile(r"[\[\]()<>*`\\\s\"'{}|^]")


def safe_link(url: str | None) -> str:
    """A feed's link, percent-encoded where markdown could read it as markup."""
    if not url:
        return ""
    return _LINK_UNSAFE.sub(lambda m: "".join(f"%{b:02X}" for b in m.group(0).encode()), plain(url))


# How an update names what a story reports first (the anchors of ``stages.group``).
NEWS_LABELS = {
    "icbm": "ICBM",
    "medium": "medium-range missile",
    "srbm": "short-range missile",
    "slbm": "submarine-launched missile",
    "cruise": "cruise missile",
    "satellite": "satellite launch",
    "rocket_artillery": "rocket artillery",
}


def news_label(item: str) -> str:
    """What an update reports first, in words: "icbm" -> "ICBM", "hwasong-18" -> "Hwasong-18",
    "2397" -> "no. 2397", "count: 2" -> "count 2", "apogee_km: 6000" -> "apogee 6000 km"."""
    if ": " in item:
        field, value = item.split(": ", 1)
        if field.endswith("_km"):
            return f"{field.removesuffix('_km').replace('_', ' ')} {value} km"
        return f"{field.replace('_', ' ')} {value}"
    if item in NEWS_LABELS:
        return NEWS_LABELS[item]
    if item.isdigit():
        return f"no. {item}"
    return item[:1].upper() + item[1:]


def _event_line(alert: Alert) -> str | None:
    if alert.event_id is None or alert.kind is AlertKind.STORY:
        return None
    if alert.kind is AlertKind.UPDATE:
        news = ", ".join(news_label(n) for n in alert.news) or "new details"
        return (
            f"**Update on event {alert.event_id}:** first reported here: {escape_markdown(news)} "
            f"({alert.event_articles} stories from {alert.event_outlets} outlets so far)"
        )
    return f"**Event:** {alert.event_id} (new; later stories of it do not alert again)"


def _map_link(latlon: object) -> str | None:
    """An OpenStreetMap link for "lat,lon" (a launch site from the gazetteer, never feed text)."""
    try:
        lat, lon = (float(x) for x in str(latlon).split(","))
    except ValueError:
        return None
    return f"https://www.openstreetmap.org/?mlat={lat:.2f}&mlon={lon:.2f}#map=8/{lat:.2f}/{lon:.2f}"


def render(
    alert: Alert, *, topic_labels: dict[str, str] | None = None, max_body: int = 4000
) -> tuple[str, str]:
    """(title, markdown body) for one alert. Evidence is trimmed to fit; the link never is."""
    labels = topic_labels or {}
    names = " + ".join(labels.get(v.topic, v.topic) for v in alert.matches) or "Match"
    # Services that take markdown render the title as markdown too: escape the headline there.
    update = "Update: " if alert.kind is AlertKind.UPDATE else ""
    title = f"{update}{escape_markdown(names)}: {escape_markdown(alert.title)}"
    event = _event_line(alert)
    lines = [f"**{escape_markdown(summary(alert.facts))}**"] if alert.facts else []
    where = _map_link(alert.facts.get("site_latlon"))
    lines += [f"**Map:** {where}"] if where else []
    lines += [event] if event else []
    lines.append(f"**Source:** {escape_markdown(alert.feed_name)}")
    if alert.published_at:
        lines.append(f"**Published:** {alert.published_at.strftime('%Y-%m-%d %H:%M UTC')}")
    lines.append(
        "**Score:** " + ", ".join(f"{escape_markdown(v.topic)} {v.score:.2f}" for v in alert.matches)
    )
    # The id to label a false alarm with, read on a phone: `monitor label ID --topic T --no`.
    lines.append(f"**Article:** {alert.article_id}")
    link = safe_link(alert.url)
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


@dataclass(frozen=True, slots=True, kw_only=True)
class Message:
    """One message of a burst or digest, with the alerts it carries: a part that was sent is
    recorded as sent even when a later part fails, so a retry never repeats it."""

    title: str
    body: str
    alert_ids: tuple[int, ...]


Line = tuple[str, int | None]  # the text, and the alert it stands for (None for a heading)


def _chunks(lines: list[Line], budget: int) -> list[list[Line]]:
    """Split lines into groups whose joined length fits ``budget``; a line is never cut."""
    groups: list[list[Line]] = [[]]
    used = 0
    for line in lines:
        if groups[-1] and used + len(line[0]) + 1 > budget:
            groups.append([])
            used = 0
        groups[-1].append(line)
        used += len(line[0]) + 1
    return groups


def _messages(title: str, lines: list[Line], max_body: int) -> list[Message]:
    groups = _chunks(lines, max_body - 50)
    return [
        Message(
            title=title + (f" ({n}/{len(groups)})" if len(groups) > 1 else ""),
            body="\n".join(text for text, _ in group),
            alert_ids=tuple(alert_id for _, alert_id in group if alert_id is not None),
        )
        for n, group in enumerate(groups, start=1)
    ]


def _item(alert: Alert, labels: dict[str, str]) -> str:
    names = ", ".join(labels.get(v.topic, v.topic) for v in alert.matches)
    if alert.kind is AlertKind.UPDATE:
        names = f"Update, {names}"
    source = escape_markdown(alert.feed_name)
    line = f"- **{escape_markdown(names)}:** {escape_markdown(alert.title)} ({source}, #{alert.article_id})"
    return f"{line} {safe_link(alert.url)}" if alert.url else line


def render_batch(
    alerts: list[Alert], *, topic_labels: dict[str, str] | None = None, max_body: int = 4000
) -> list[Message]:
    """A burst of alerts as few messages as the service's length limit allows, one line each
    (labels, headline, source, link); evidence is left out, the link never."""
    labels = topic_labels or {}
    title = (
        f"{_events(alerts) or f'{len(alerts)} alerts'} new"
        if _events(alerts)
        else f"{len(alerts)} new alerts"
    )
    return _messages(title, [(_item(a, labels), a.id) for a in alerts], max_body)


def _events(alerts: list[Alert]) -> str | None:
    """ "3 events" when every alert announces an event or an update of one (alerts.per: event)."""
    events = {a.event_id for a in alerts if a.kind is not AlertKind.STORY and a.event_id is not None}
    if events and all(a.kind is not AlertKind.STORY for a in alerts):
        return f"{len(events)} {'event' if len(events) == 1 else 'events'}"
    return None


def render_digest(
    alerts: list[Alert], *, topic_labels: dict[str, str] | None = None, max_body: int = 4000
) -> list[Message]:
    """A digest grouped by topic (a story under its best-scoring topic), split to fit."""
    labels = topic_labels or {}
    groups: dict[str, list[Alert]] = {}
    for alert in alerts:
        top = alert.matches[0].topic if alert.matches else "other"
        groups.setdefault(top, []).append(alert)
    lines: list[Line] = []
    for topic, items in groups.items():
        lines.append((f"**{escape_markdown(labels.get(topic, topic))}** ({len(items)})", None))
        lines += [(_item(a, labels), a.id) for a in items]
    title = f"Digest: {_events(alerts) or f'{len(alerts)} ' + ('story' if len(alerts) == 1 else 'stories')}"
    return _messages(title, lines, max_body)
