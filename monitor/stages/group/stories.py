"""Stories for ``monitor group`` and ``monitor eval-events``: JSON lines in, records out.

One object per line: ``id``, ``title``, ``text``, and optionally ``url``, ``published`` (ISO
8601 date or time), ``lang``, ``outlet`` (or ``source``) and, in a labelled file, ``event``. A
malformed line becomes a ``BadLine`` naming its line and what is wrong; the run goes on.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from ..evaluate import BadLine, story_objects


@dataclass(frozen=True, slots=True)
class InputStory:
    line: int
    id: Any
    title: str
    text: str
    url: str | None = None
    published: datetime | None = None
    language: str | None = None
    outlet: str = ""
    event: str | None = None  # the real event, in a labelled file
    topic: str | None = None  # ... and its topic


def parse_time(value: object) -> datetime | None:
    """An ISO 8601 date or time as an aware UTC datetime (a bare date: its midnight UTC)."""
    if not isinstance(value, str) or not value.strip():
        return None
    parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def read_event_stories(lines: Iterable[str]) -> Iterator[InputStory | BadLine]:
    for read in story_objects(lines, null_text=True):
        if isinstance(read, BadLine):
            yield read
            continue
        number, obj, title, text = read
        ident = obj.get("id", number)
        try:
            published = parse_time(obj.get("published"))
        except ValueError:
            yield BadLine(
                line=number,
                id=ident,
                error=f"line {number}: published: not an ISO 8601 date or time: {obj.get('published')!r}",
            )
            continue
        url = obj.get("url") if isinstance(obj.get("url"), str) else None
        outlet = obj.get("outlet") or obj.get("source") or ""
        if not isinstance(outlet, str) or not outlet:
            outlet = (urlsplit(url).hostname or "") if url else ""
        language = obj.get("lang", obj.get("language"))
        event, topic = obj.get("event"), obj.get("topic")
        yield InputStory(
            line=number,
            id=ident,
            title=title,
            text=text,
            url=url or None,
            published=published,
            language=language if isinstance(language, str) and language else None,
            outlet=outlet.removeprefix("www.") or "input",
            event=str(event) if event is not None else None,
            topic=topic if isinstance(topic, str) and topic else None,
        )


def in_arrival_order(stories: list[InputStory], dates: dict[str, datetime]) -> list[InputStory]:
    """A labelled file's stories as they would arrive: by publication time, a story without one
    at its event's date (``dates``, else its event's earliest dated story), file order within."""
    earliest: dict[str, datetime] = {}
    for s in stories:
        if s.event is not None and s.published is not None:
            earliest[s.event] = min(earliest.get(s.event, s.published), s.published)
    dated = [
        s
        if s.published is not None or s.event is None
        else replace(s, published=dates.get(s.event) or earliest.get(s.event))
        for s in stories
    ]
    far = datetime.max.replace(tzinfo=UTC)
    return sorted(dated, key=lambda s: (s.published or far, s.line))
