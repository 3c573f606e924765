"""A feed entry and its extracted page -> the story's text, language and verdicts.

Pure and deterministic: the same in the daemon's own process and in a Celery worker on another
machine, which is what lets ``executor: celery`` store exactly what ``executor: local`` stores.
"""

from __future__ import annotations

from collections.abc import Sequence

from ..records import Extracted, ExtractionStatus, StoryDone, StoryJob
from .classify import Topic, classify
from .language import detect_language


def topics_key(topics: Sequence[Topic]) -> str:
    """The topic versions a verdict depends on, as one comparable string."""
    return ",".join(f"{t.name}:{t.version}" for t in topics)


def judge_story(job: StoryJob, extracted: Extracted, topics: Sequence[Topic]) -> StoryDone:
    """The text to keep (a failed or too-short extraction is usually a paywall or cookie wall,
    so the feed's own summary is better whenever there is one), its language and verdicts."""
    ok = extracted.status is ExtractionStatus.OK
    text = extracted.text if ok else (job.summary or extracted.text)
    title = job.title or extracted.title or ""
    language = detect_language(title, text or "", extracted.language)
    return StoryDone(
        extracted=extracted,
        title=title,
        text=text,
        language=language,
        verdicts=classify(title, text, tuple(topics), language),
        topics=topics_key(topics),
    )
