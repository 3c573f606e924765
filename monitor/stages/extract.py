"""Article page -> main text and metadata, with trafilatura. Pure and picklable, so it can run
in a process pool (``extract.workers``) where one pathological page cannot stall the daemon."""

from __future__ import annotations

import logging
import re
from collections.abc import Collection
from dataclasses import replace
from datetime import UTC, datetime

import trafilatura
from htmldate import find_date
from lxml.html import HtmlElement
from trafilatura.metadata import examine_meta, extract_author, extract_meta_json, extract_title, extract_url
from trafilatura.settings import DEFAULT_CONFIG, set_date_params
from trafilatura.utils import load_html

from ..records import PAGE_FIELDS, Extracted, ExtractionStatus, PageField
from .language import language_code
from .sanitize import strip_controls

log = logging.getLogger(__name__)

MIN_TEXT_CHARS = 200  # below this the "article" is a teaser, a paywall or a cookie wall


def _date(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


HEAD_BYTES = 262_144  # where a page's declarations are looked for: its head, inline styles and all
_BODY = re.compile(rb"<body[\s>]", re.IGNORECASE)
_HTML = re.compile(rb"<html\b[^>]{0,2000}>", re.IGNORECASE)
_META = re.compile(rb"<meta\b[^>]{0,2000}>", re.IGNORECASE)
# A name is matched from its first character only: retried inside a long run of letters with no
# "=" after it, the search would be quadratic in the run (5 s on a hostile 256 KB head).
_ATTRIBUTE = re.compile(rb"""(?<![A-Za-z:-])([A-Za-z:-]+)\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s>"']+))""")
# Meta declarations first, as trafilatura weighs them: a template's <html lang> is its site's
# default more often than a page's own.
_DECLARING = (b"content-language", b"og:locale")


def declared_language(page: bytes | str) -> str | None:
    """The language the page declares (``http-equiv="content-language"``, ``og:locale``, then
    ``<html lang>``), as an ISO 639 code, or None. trafilatura reads these only to filter by a
    target language and returns none of them, so they are read here; ``language`` weighs them
    against what the text says."""
    head = page[:HEAD_BYTES].encode("utf-8", "replace") if isinstance(page, str) else page[:HEAD_BYTES]
    body = _BODY.search(head)
    if body is not None:
        head = head[: body.start()]
    found: dict[bytes, str] = {}
    for meta in _META.finditer(head):
        attributes = _attributes(meta[0])
        kind = (
            attributes.get(b"http-equiv") or attributes.get(b"property") or attributes.get(b"name") or b""
        ).lower()
        if kind in _DECLARING and kind not in found:
            # "de-DE, en" declares two: the first is the page's.
            code = _code(attributes.get(b"content", b"").split(b",")[0])
            if code:
                found[kind] = code
    for kind in _DECLARING:
        if kind in found:
            return found[kind]
    html = _HTML.search(head)
    if html is None:
        return None
    attributes = _attributes(html[0])
    return _code(attributes.get(b"lang") or attributes.get(b"xml:lang") or b"")


def _attributes(tag: bytes) -> dict[bytes, bytes]:
    """A tag's attributes, names in lower case (the last of a repeated name wins)."""
    return {m[1].lower(): (m[2] or m[3] or m[4] or b"").strip() for m in _ATTRIBUTE.finditer(tag)}


def _code(value: bytes) -> str | None:
    """The ISO 639 code of a declared language tag ("de-DE", "fr_FR"), or None."""
    return language_code(value.decode("ascii", "replace"))


COPY_TREE_BELOW = 1_000_000  # a page this long (characters or bytes) or shorter is parsed once
# What bare_extraction asks of htmldate by default: its configuration's extensive date search.
_EXTENSIVE_DATES = DEFAULT_CONFIG.getboolean("DEFAULT", "EXTENSIVE_DATE_SEARCH")


def page_metadata(
    tree: HtmlElement, url: str | None, wanted: Collection[PageField] = PAGE_FIELDS
) -> tuple[str | None, str | None, str | None]:
    """The page's title, author and date (``YYYY-MM-DD``) among ``wanted`` (None for the
    others), read as trafilatura's ``extract_metadata`` reads them, without what it also reads
    and a story never keeps (categories, tags, licence, site name). Each field's search is its
    own, so one left unread changes no other; the author's (on a copy of the whole tree) costs
    the most. ``tree`` is left as it was."""
    found = examine_meta(tree)
    if found.author and " " not in found.author:  # as extract_metadata: one word is not a name
        found.author = None
    try:
        found = extract_meta_json(tree, found)
    except Exception as exc:  # as extract_metadata: its JSON-LD reader has bugs of its own
        log.debug("JSON-LD metadata unreadable for %s: %r", url, exc)
    if PageField.TITLE in wanted and not found.title:
        found.title = extract_title(tree)
    if PageField.AUTHOR in wanted and not found.author:
        found.author = extract_author(tree)
    if PageField.DATE in wanted:
        if not found.url:
            found.url = extract_url(tree, url)
        dating = set_date_params(_EXTENSIVE_DATES)  # today as the latest date: as bare_extraction, per call
        dating["url"] = found.url
        found.date = find_date(tree, **dating)
    found.clean_and_trim()  # entities, spaces, control characters and length, as extract_metadata
    return (
        found.title if PageField.TITLE in wanted else None,
        found.author if PageField.AUTHOR in wanted else None,
        found.date if PageField.DATE in wanted else None,
    )


def extract_article(
    page: bytes | str, url: str | None = None, *, metadata: Collection[PageField] = PAGE_FIELDS
) -> Extracted:
    """Main text plus the declared language, and the title, author and date among ``metadata``
    (``page_metadata``: all three are about a fifth of an extraction's CPU on the corpus's pages;
    a story asks only for what its feed entry lacks); ``status`` says why text is missing."""
    if not page:
        return Extracted(status=ExtractionStatus.EMPTY_PAGE)
    language = declared_language(page)  # whatever the extraction gives: the summary may be the text
    title = author = date = None
    content: bytes | str | HtmlElement = page
    try:
        if metadata:
            try:
                tree = load_html(page)
                if tree is None:  # nothing lxml can read as HTML
                    raise ValueError("not HTML")
                title, author, date = page_metadata(tree, url, metadata)
            except (TypeError, ValueError):  # as inside bare_extraction, where this pass ran: no text
                return Extracted(status=ExtractionStatus.NO_MAIN_TEXT, language=language)
            if len(page) <= COPY_TREE_BELOW:
                # Parsed once for both: trafilatura copies a tree it is given (a tenth of the cost
                # of parsing again). Not a large page: the copy is held beside the tree (22 MB
                # more at 5 MB).
                content = tree
        doc = trafilatura.bare_extraction(
            content,
            url=url,
            with_metadata=False,
            include_comments=False,
            include_tables=False,
            favor_precision=False,
        )
    except Exception as exc:  # trafilatura/lxml raise many types on hostile markup
        log.warning("extraction failed for %s: %r", url, exc)
        failed = ExtractionStatus.EXTRACTION_FAILED
        return Extracted(status=failed, detail=type(exc).__name__, language=language)
    if doc is None:
        return Extracted(status=ExtractionStatus.NO_MAIN_TEXT, language=language)
    text = strip_controls(getattr(doc, "text", None) or "").strip()
    extracted = Extracted(
        status=ExtractionStatus.OK,
        text=text,
        title=strip_controls(title or "") or None,
        author=strip_controls(author or "") or None,
        published_at=_date(date),
        language=language,
    )
    if len(text) < MIN_TEXT_CHARS:
        return replace(extracted, status=ExtractionStatus.TOO_SHORT, detail=f"{len(text)} chars")
    return extracted
