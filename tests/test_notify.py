"""Alert delivery through apprise to real receivers on loopback."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from monitor.notify import escape_markdown, render
from monitor.records import Alert, Verdict
from tests.conftest import Receiver, write_config
from tests.loopback import Response, Site, rss, story
from tests.test_pipeline import MISSILE, poll, rows


def test_poll_delivers_due_alerts_once_with_link_and_evidence(
    tmp_path: Path, site: Site, receiver: Receiver
) -> None:
    site.routes["/feed.xml"] = Response(
        rss([story(1, site, title="North Korea fires missiles", text=MISSILE)])
    )
    cfg = write_config(
        tmp_path,
        feeds=[{"name": "Wire", "url": site.url("/feed.xml")}],
        notify=[{"name": "hook", "url": receiver.url}],
    )
    poll(cfg)
    poll(cfg)  # a re-poll never alerts twice
    assert len(receiver.posts) == 1
    post = receiver.posts[0]
    assert post["title"] == "Missile launch: North Korea fires missiles"
    assert site.url("/a/1.html") in post["message"]
    assert "short-range ballistic missiles" in post["message"]
    assert rows(tmp_path / "monitor.db", "SELECT channel, status, attempts FROM alerts") == [
        ("hook", "sent", 1)
    ]


def test_failed_delivery_is_recorded_for_retry(tmp_path: Path, site: Site, receiver: Receiver) -> None:
    receiver.status = 500
    site.routes["/feed.xml"] = Response(
        rss([story(1, site, title="North Korea fires missiles", text=MISSILE)])
    )
    cfg = write_config(
        tmp_path,
        feeds=[{"name": "Wire", "url": site.url("/feed.xml")}],
        notify=[{"name": "hook", "url": receiver.url}],
    )
    poll(cfg)
    ((status, attempts, error, created, retry),) = rows(
        tmp_path / "monitor.db",
        "SELECT status, attempts, last_error, created_at, next_attempt_at FROM alerts",
    )
    assert (status, attempts) == ("pending", 1) and error
    assert retry > created  # scheduled for a later retry, not lost


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
    assert escape_markdown("[a](b)") == "\\[a\\]\\(b\\)"
    assert escape_markdown("# Big") == "\\# Big" and escape_markdown("1. x") == "\\1. x"
    assert body.rstrip().endswith("https://news.example/a")


def test_long_evidence_is_trimmed_but_the_link_is_kept() -> None:
    quotes = tuple(f"A long sentence about a missile launch number {i}." * 5 for i in range(50))
    alert = Alert(
        id=1,
        article_id=1,
        channel="c",
        title="T",
        url="https://news.example/a",
        feed_name="W",
        published_at=None,
        matches=(Verdict(topic="missile_launch", score=0.9, flagged=True, evidence=quotes),),
    )
    _, body = render(alert, max_body=500)
    assert len(body) <= 500 and body.endswith("https://news.example/a")
