"""Article page -> main text and metadata, with trafilatura. Pure and picklable, so it can run
in a process pool (``extract.workers``) where one pathological page cannot stall the daemon."""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import UTC, datetime

import trafilatura

from ..records import Extracted, ExtractionStatus
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


def extract_article(page: bytes | str, url: str | None = None) -> Extracted:
    """Main text plus title, author, date and language; ``status`` says why text is missing."""
    if not page:
        return Extracted(status=ExtractionStatus.EMPTY_PAGE)
    try:
        doc = trafilatura.bare_extraction(
            page,
            url=url,
            with_metadata=True,
            include_comments=False,
            include_tables=False,
            favor_precision=False,
        )
    except Exception as exc:  # trafilatura/lxml raise many types on hostile markup
        log.warning("extraction failed for %s: %r", url, exc)
        return Extracted(status=ExtractionStatus.EXTRACTION_FAILED, detail=type(exc).__name__)
    if doc is None:
        return Extracted(status=ExtractionStatus.NO_MAIN_TEXT)
    text = strip_controls(getattr(doc, "text", None) or "").strip()
    extracted = Extracted(
        status=ExtractionStatus.OK,
        text=text,
        title=strip_controls(getattr(doc, "title", None) or "") or None,
        author=strip_controls(getattr(doc, "author", None) or "") or None,
        published_at=_date(getattr(doc, "date", None)),
        language=(getattr(doc, "language", None) or None),
    )
    if len(text) < MIN_TEXT_CHARS:
        return replace(extracted, status=ExtractionStatus.TOO_SHORT, detail=f"{len(text)} chars")
    return extracted
