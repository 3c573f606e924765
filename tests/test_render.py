"""Rendering alerts: escaping, trimming, the link always kept. Delivery is tested in test_deliver."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from monitor.notify import escape_markdown, render
from monitor.records import Alert, Verdict


def alert_of(*evidence: str, **fields: Any) -> Alert:
    """A missile-launch alert for rendering; ``fields`` replace the defaults."""
    defaults: dict[str, Any] = {
        "id": 1,
        "article_id": 1,
        "channel": "c",
        "title": "T",
        "url": "https://news.example/a",
        "feed_name": "W",
        "published_at": None,
        "matches": (Verdict(topic="missile_launch", score=0.9, flagged=True, evidence=evidence),),
    }
    return Alert(**{**defaults, **fields})


def test_crafted_headline_cannot_inject_markup() -> None:
    alert = Alert(
        id=1,
        article_id=1,
        channel="c",
        title="Click [here](http://evil.example) **now**\x1b[31m",
        url="https://news.example/a",
        feed_name="Wire <b>",
        published_at=datetime(2026, 1, 1, tzinfo=UTC),
        matches=(
            Verdict(topic="missile_launch", score=0.9, flagged=True, evidence=("See ![x](http://e/x.png)",)),
        ),
    )
    title, body = render(alert)
    assert "\x1b" not in title
    assert "[here](http" not in title and "\\[here\\]\\(http" in title
    assert "![x](" not in body and "Wire <b>" not in body
    assert "**Source:** Wire \\<b\\>" in body and "\\!\\[x\\]\\(http://e/x.png\\)" in body
    assert escape_markdown("[a](b)") == "\\[a\\]\\(b\\)"
    assert escape_markdown("# Big") == "\\# Big" and escape_markdown("1. x") == "\\1. x"
    assert body.rstrip().endswith("https://news.example/a")


def test_long_evidence_is_trimmed_but_the_link_is_kept() -> None:
    quotes = tuple(f"A long sentence about a missile launch number {i}." * 5 for i in range(50))
    alert = alert_of(*quotes)
    _, body = render(alert, max_body=500)
    assert len(body) <= 500 and body.endswith("https://news.example/a")


def test_every_alert_names_its_article_for_labelling_later() -> None:
    """A false alarm read on a phone can be labelled afterwards: `monitor label ID --topic T --no`."""
    from monitor.notify.render import render_batch

    alert = alert_of(id=7, article_id=4321, title="Launch", feed_name="Wire")
    _, body = render(alert)
    assert "**Article:** 4321" in body
    [message] = render_batch([alert, alert])
    assert message.body.count("#4321") == 2


def test_right_to_left_text_is_isolated_and_cannot_reorder_the_message() -> None:
    """An Arabic headline and quote read right to left inside their own isolates; a bidi
    override smuggled in by the feed is gone, so it cannot reverse what follows it."""
    from monitor.notify.render import render_batch

    quote = "أطلقت كوريا الشمالية صاروخا باليستيا\u202e.exe"
    alert = alert_of(quote, title="كوريا الشمالية تطلق صاروخا\u202e", feed_name="Wire")
    title, body = render(alert)
    for text in (title, body, render_batch([alert])[0].body):
        assert "\u202e" not in text
        assert text.count("\u2068") == text.count("\u2069") >= 1
    assert "\u2068كوريا الشمالية تطلق صاروخا\u2069" in title
    assert "> \u2068أطلقت كوريا الشمالية صاروخا باليستيا.exe\u2069" in body
    assert "**Source:** Wire\n" in body  # left-to-right text is left alone
