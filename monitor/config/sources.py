"""Where feeds come from: the ``feeds:`` list and OPML files, resolved into ``Feed`` records."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from urllib.parse import urlsplit

from ..errors import ConfigError
from ..records import Feed
from .settings import FeedSpec, Settings, check_http_url


def _read_opml(path: str) -> list[tuple[str | None, str]]:
    """(title, xmlUrl) of every feed outline in an OPML file, nested folders included."""
    try:
        root = ET.parse(path).getroot()  # noqa: S314 - the user's own file; expat limits entities
    except OSError as exc:
        raise ValueError(f"cannot read {path}: {exc.strerror}") from None
    except ET.ParseError as exc:
        raise ValueError(f"{path} is not valid OPML: {exc}") from None
    out = []
    for outline in root.iter("outline"):
        url = outline.get("xmlUrl") or outline.get("xmlurl")
        if url:
            out.append((outline.get("title") or outline.get("text"), url.strip()))
    return out


def resolve_feeds(settings: Settings) -> list[Feed]:
    """Expand OPML imports, apply default intervals and name feeds; names must be unique."""
    problems: list[str] = []
    feeds: list[Feed] = []
    seen_names: dict[str, int] = {}
    seen_urls: set[str] = set()
    default = settings.schedule.default_interval
    for i, spec in enumerate(settings.feeds):
        if isinstance(spec, FeedSpec):
            candidates = [(spec.name, spec.url, False)]
        else:
            try:
                candidates = [(t, u, True) for t, u in _read_opml(spec.opml)]
            except ValueError as exc:
                problems.append(f"feeds[{i}].opml: {exc}")
                continue
        for name, url, from_opml in candidates:
            try:
                url = check_http_url(url)
            except ValueError as exc:
                problems.append(f"feeds[{i}]{'.opml' if from_opml else '.url'}: {exc}")
                continue
            if url in seen_urls:
                if not from_opml:
                    problems.append(f"feeds[{i}].url: {url} is listed twice")
                continue
            seen_urls.add(url)
            name = (name or "").strip() or (urlsplit(url).hostname or url)
            if name in seen_names:
                if not from_opml:
                    problems.append(f"feeds[{i}].name: {name!r} is used by another feed")
                    continue
                seen_names[name] += 1
                name = f"{name} ({seen_names[name]})"
            seen_names.setdefault(name, 1)
            feeds.append(Feed(name=name, url=url, interval=spec.interval or default))
    if problems:
        raise ConfigError(problems)
    return feeds
