"""Article page -> main text and metadata, with trafilatura. Pure and picklable, so it can run
in a process pool (``extract.workers``) where one pathological page cannot stall the daemon."""

from __future__ import annotations

import logging
import time
from dataclasses import replace
from datetime import UTC, datetime

import trafilatura

from .records import Extracted

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
        return Extracted(status="empty page")
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
        return Extracted(status=f"extraction failed: {type(exc).__name__}")
    if doc is None:
        return Extracted(status="no main text found")
    text = (getattr(doc, "text", None) or "").strip()
    extracted = Extracted(
        status="ok",
        text=text,
        title=(getattr(doc, "title", None) or None),
        author=(getattr(doc, "author", None) or None),
        published_at=_date(getattr(doc, "date", None)),
        language=(getattr(doc, "language", None) or None),
    )
    if len(text) < MIN_TEXT_CHARS:
        return replace(extracted, status=f"text too short ({len(text)} chars)")
    return extracted


def warm_worker() -> None:
    """Run once in each new extraction process: load trafilatura's models and caches, and
    linger a moment so that every worker of the pool receives one."""
    extract_article(b"<html><body><article><p>warm up</p></article></body></html>", "http://localhost/")
    time.sleep(0.05)
