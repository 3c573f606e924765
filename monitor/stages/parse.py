"""Feed bytes -> entries. Pure: no network (never ``feedparser.parse(url)``), no clock."""

from __future__ import annotations

import calendar
import hashlib
import html
import logging
import re
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import feedparser

from ..records import Entry, FeedErrorKind, ParsedFeed
from .sanitize import strip_controls
from .urls import canonical_url

log = logging.getLogger(__name__)

_TAGS = re.compile(r"<[^>]+>")
_SPACE = re.compile(r"[ \t\r\f\v]+")
_BLANK_LINES = re.compile(r"\n\s*\n+")
_BLOCK_END = re.compile(r"</(p|div|li|h[1-6]|blockquote|tr)\s*>|<br\s*/?>", re.IGNORECASE)
MAX_TITLE = 1000
# A missing or text/html Content-Type on a well-formed feed is common and harmless.
BENIGN = (feedparser.NonXMLContentType,)
MAX_SUMMARY = 100_000


def html_to_text(markup: str) -> str:
    """Plain text from an HTML fragment (feed summaries), keeping paragraph breaks."""
    text = _BLOCK_END.sub("\n\n", markup)
    text = html.unescape(_TAGS.sub(" ", text))
    lines = (_SPACE.sub(" ", line).strip() for line in strip_controls(text).split("\n"))
    return _BLANK_LINES.sub("\n\n", "\n".join(lines)).strip()


def _datetime(struct: Any) -> datetime | None:
    if not struct:
        return None
    try:
        return datetime.fromtimestamp(calendar.timegm(struct), tz=UTC)
    except (OverflowError, ValueError, TypeError, OSError):
        return None


def entry_identity(
    guid: str | None, url: str | None, title: str, published: datetime | None, summary: str = ""
) -> str:
    """guid, else canonical link, else a hash of title (the text, for an untitled item) and
    date: stable across re-sends."""
    if guid:
        return guid
    if url:
        return url
    basis = title or summary
    digest = hashlib.sha256(f"{basis}\x00{published.isoformat() if published else ''}".encode())
    return "sha256:" + digest.hexdigest()[:32]


def same_story(url: str | None, title: str, other_url: str | None, other_title: str) -> bool:
    """Whether two entries with one identity are one story (a re-send or an update). Feeds abuse
    guids (one for every item, or one reused for the next story): an entry with neither the link
    nor the title of the story its guid first named is another story."""
    return (url is not None and url == other_url) or title == other_title


def distinct_identity(entry: Entry) -> str:
    """The identity of a story whose guid already names another one: the guid qualified by the
    story's own link and title, stable across polls."""
    digest = hashlib.sha256(f"{entry.url or ''}\x00{entry.title}".encode()).hexdigest()[:16]
    return f"{entry.identity}#{digest}"


def _entry(raw: Any) -> Entry | None:
    title = html_to_text(raw.get("title") or "")[:MAX_TITLE]
    link = (raw.get("link") or "").strip()
    url = canonical_url(link) if link.lower().startswith(("http://", "https://")) else None
    guid = (raw.get("id") or raw.get("guid") or "").strip() or None
    content = raw.get("content") or []
    body = max((c.get("value") or "" for c in content), key=len, default="")
    summary = raw.get("summary") or ""
    summary_text = html_to_text(body if len(body) > len(summary) else summary)[:MAX_SUMMARY]
    if not (title or url or summary_text):
        return None
    # dict.get: bypass feedparser's deprecated updated->published key aliasing
    published = _datetime(dict.get(raw, "published_parsed") or dict.get(raw, "updated_parsed"))
    author = strip_controls(raw.get("author") or "").strip() or None
    return Entry(
        identity=entry_identity(guid, url, title, published, summary_text),
        guid=guid,
        url=url,
        title=title,
        summary=summary_text,
        author=author,
        published_at=published,
    )


# A DOCTYPE with an internal subset: where entity-expansion bombs and external entities live.
_INTERNAL_SUBSET = re.compile(rb"<!DOCTYPE[^\[>]{0,1000}\[.*?\]\s*>", re.DOTALL | re.IGNORECASE)
_ENTITY_DECL = re.compile(rb"<!ENTITY", re.IGNORECASE)


_SIMPLE_ENTITY = re.compile(rb"""<!ENTITY\s+([A-Za-z_][\w.-]*)\s+(["'])(.*?)\2\s*>""", re.DOTALL)
_ENTITY_REF = re.compile(rb"&([A-Za-z_][\w.-]*);")
MAX_ENTITY_VALUE = 256
MAX_ENTITY_GROWTH = 1_000_000


def defuse(content: bytes) -> tuple[bytes, bool]:
    """Take entity declarations out of the XML parser's hands (as defusedxml does).

    A DOCTYPE internal subset that declares entities is removed. "Billion laughs", quadratic
    blow-ups and external entities (XXE) need such declarations; few real feeds do, and those
    use short literal values (``<!ENTITY id "tag:example.com,">``). Those alone are substituted
    here, at most ``MAX_ENTITY_VALUE`` bytes each and ``MAX_ENTITY_GROWTH`` bytes in all; a
    recursive, large, parameter or external entity is never expanded or fetched, whatever the
    XML parser's own limits are. Returns (bytes, whether declarations were removed).
    """
    match = _INTERNAL_SUBSET.search(content, 0, 1_000_000)
    if match is None or not _ENTITY_DECL.search(match.group(0)):
        return content, False
    simple = {
        name: value
        for name, _quote, value in _SIMPLE_ENTITY.findall(match.group(0))
        if len(value) <= MAX_ENTITY_VALUE and not re.search(rb"[&%<]", value)
    }
    body = content[: match.start()] + content[match.end() :]
    if simple:
        budget = MAX_ENTITY_GROWTH

        def substitute(ref: re.Match[bytes]) -> bytes:
            nonlocal budget
            value: bytes | None = simple.get(ref.group(1))
            if value is None or len(value) > budget:
                return bytes(ref.group(0))
            budget -= len(value)
            return value

        body = _ENTITY_REF.sub(substitute, body)
    return body, True


MAX_ITEMS = 1000  # items of one document handed to feedparser; the rest are an archive
_ITEM_START = re.compile(rb"<(?:[A-Za-z_][\w.-]*:)?(item|entry)[\s>/]", re.IGNORECASE)
_ROOT_END = {b"item": b"</channel></rss></rdf:RDF>", b"entry": b"</feed>"}


def first_items(content: bytes, limit: int = MAX_ITEMS) -> tuple[bytes, int]:
    """The document cut before its ``limit + 1``-th item (RSS, RDF) or entry (Atom), with the
    closing tags put back, and how many items were cut. feedparser builds a dictionary per item:
    a 10 MB feed of 100,000 tiny items would take hundreds of megabytes. Feeds list the newest
    first; past a thousand items a document is an archive, not news."""
    starts = _ITEM_START.finditer(content)
    cut = next((m for i, m in enumerate(starts) if i == limit), None)
    if cut is None:
        return content, 0
    rest = 1 + sum(1 for _ in starts)
    closing = _ROOT_END[cut.group(1).lower()]
    if closing.startswith(b"</channel>") and b"<rdf:RDF" not in content[:2000]:
        closing = b"</channel></rss>"
    elif closing.startswith(b"</channel>"):
        closing = b"</rdf:RDF>"
    return content[: cut.start()] + closing, rest


def parse_feed(content: bytes, *, url: str, content_type: str | None = None) -> ParsedFeed:
    """Parse downloaded bytes. A bozo feed that still yields entries is used; its error is kept.

    ``url`` resolves relative links. Entries repeated within one document are kept once.
    """
    content, defused = defuse(content)
    content, archived = first_items(content)
    headers = {"content-location": url}
    if content_type:
        headers["content-type"] = content_type
    try:
        parsed = feedparser.parse(content, response_headers=headers, sanitize_html=True)
    except Exception as exc:  # feedparser can raise on pathological input; a feed must not crash us
        log.warning("feedparser failed on %s: %r", url, exc)
        return ParsedFeed(
            title=None,
            entries=(),
            error=f"parser crashed: {type(exc).__name__}",
            error_kind=FeedErrorKind.ILL_FORMED,
        )
    entries: dict[str, Entry] = {}
    skipped = archived
    for raw in parsed.get("entries", []):
        entry = _entry(raw)
        if entry is None:
            skipped += 1
            continue
        first = entries.get(entry.identity)
        if first is not None and not same_story(first.url, first.title, entry.url, entry.title):
            entry = replace(entry, identity=distinct_identity(entry))
        entries.setdefault(entry.identity, entry)
    error, kind = None, None
    if parsed.get("bozo") and not isinstance(parsed.get("bozo_exception"), BENIGN):
        problem = parsed.get("bozo_exception")
        error = f"ill-formed feed: {type(problem).__name__}: {problem}" if problem else "ill-formed feed"
        kind = FeedErrorKind.ILL_FORMED
    if not entries and not parsed.get("version") and error is None:
        error, kind = "not a feed (no RSS/Atom/RDF found)", FeedErrorKind.NOT_A_FEED
    if defused:
        error = "DOCTYPE entity declarations removed (entity expansion and external entities are refused)" + (
            f"; {error}" if error else ""
        )
        kind = FeedErrorKind.ENTITIES_REMOVED
    title = html_to_text(parsed.get("feed", {}).get("title") or "") or None
    return ParsedFeed(
        title=title, entries=tuple(entries.values()), error=error, error_kind=kind, skipped=skipped
    )
