"""End-to-end polls against feeds and pages served on loopback, into a real SQLite file."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar

import pytest

from monitor.clock import parse_iso
from monitor.config import Settings, load_settings
from monitor.execute.ports import Executor
from monitor.records import PAGE_FIELDS, ExtractionStatus, PageField, PollReport
from monitor.service import Runtime, Service, next_poll_time, poll_once, prepare
from monitor.stages.extract import extract_article
from monitor.store import Store
from tests.conftest import write_config
from tests.loopback import FILLER, Response, Site, article_page, rss, story

MISSILE = (
    "North Korea fired two short-range ballistic missiles into the sea off its east coast on "
    "Thursday, South Korea's Joint Chiefs of Staff said."
)


def poll(config: Path, names: list[str] | None = None) -> list[PollReport]:
    runtime = prepare(load_settings(config))
    store = Store(runtime.settings.database)
    try:
        reports, _ = asyncio.run(poll_once(runtime, store, names))
    finally:
        store.close()
    return reports


def poll_through(runtime: Runtime, executor: Callable[[Settings], Executor]) -> list[PollReport]:
    """One poll of every feed, as ``poll`` makes it, on the executor ``executor`` builds (a real
    one that notes what it is asked), built inside the event loop as executors must be."""
    store = Store(runtime.settings.database)

    async def run() -> list[PollReport]:
        async with Service(runtime, store, executor=executor(runtime.settings)) as service:
            await service.start()
            return await service.poller.poll_all()

    try:
        return asyncio.run(run())
    finally:
        store.close()


def start_service(runtime: Runtime) -> None:
    """What the daemon and `poll` do before their first poll (Service.start), on the database."""
    store = Store(runtime.settings.database)

    async def start() -> None:
        async with Service(runtime, store) as service:
            await service.start()

    try:
        asyncio.run(start())
    finally:
        store.close()


def rows(db: Path, sql: str, *args: Any) -> list[tuple[Any, ...]]:
    conn = sqlite3.connect(db)
    try:
        return conn.execute(sql, args).fetchall()
    finally:
        conn.close()


def one_feed(tmp_path: Path, site: Site, path: str = "/feed.xml", **extra: Any) -> Path:
    return write_config(tmp_path, feeds=[{"name": "Wire", "url": site.url(path)}], **extra)


def test_poll_stores_entries_with_extracted_text_then_304(tmp_path: Path, site: Site) -> None:
    items = [story(i, site) for i in range(3)]
    site.routes["/feed.xml"] = Response(
        rss(items), headers={"ETag": '"v1"', "Content-Type": "application/rss+xml"}
    )
    cfg = one_feed(tmp_path, site)

    first = poll(cfg)
    assert first[0].status == 200 and first[0].new == 3
    db = tmp_path / "monitor.db"
    stored = rows(db, "SELECT guid, extraction_status, text FROM articles ORDER BY guid")
    assert [r[0] for r in stored] == ["urn:test:0", "urn:test:1", "urn:test:2"]
    assert all(r[1] == "ok" for r in stored)
    assert all("Officials said the situation" in r[2] for r in stored)  # page text, not the summary

    second = poll(cfg)
    assert second[0].not_modified and second[0].new == 0
    assert site.hits("/feed.xml")[-1].headers["if-none-match"] == '"v1"'
    assert len(site.hits("/a/0.html")) == 1  # a 304 costs no page fetches
    assert rows(db, "SELECT count(*) FROM articles") == [(3,)]
    assert rows(db, "SELECT last_status, etag FROM feeds") == [(304, '"v1"')]


def test_last_modified_is_sent_back(tmp_path: Path, site: Site) -> None:
    stamp = "Wed, 21 Oct 2026 07:28:00 GMT"
    site.routes["/feed.xml"] = Response(rss([story(1, site)]), headers={"Last-Modified": stamp})
    cfg = one_feed(tmp_path, site)
    poll(cfg)
    poll(cfg)
    assert site.hits("/feed.xml")[-1].headers.get("if-modified-since") == stamp


def test_reordered_and_resent_entries_are_not_duplicated(tmp_path: Path, site: Site) -> None:
    items = [story(i, site) for i in range(4)]
    site.routes["/feed.xml"] = Response(rss(items))  # no validators: full body every time
    cfg = one_feed(tmp_path, site)
    poll(cfg)
    # Same entries reordered, one with tracking parameters and a fragment on its link, plus a new one.
    items[0] = {**items[0], "link": items[0]["link"] + "?utm_source=rss&utm_medium=feed#top"}
    site.routes["/feed.xml"] = Response(rss([*reversed(items), story(9, site)]))
    report = poll(cfg)[0]
    assert report.new == 1
    db = tmp_path / "monitor.db"
    assert rows(db, "SELECT count(*), count(DISTINCT url) FROM articles") == [(5, 5)]


def test_entries_without_guid_or_link_get_stable_identity(tmp_path: Path, site: Site) -> None:
    when = datetime(2026, 11, 1, tzinfo=UTC)
    items = [{"title": "Bulletin one", "description": "text one", "published": when}]
    site.routes["/feed.xml"] = Response(rss(items))
    cfg = one_feed(tmp_path, site)
    assert poll(cfg)[0].new == 1
    assert poll(cfg)[0].new == 0
    status = rows(tmp_path / "monitor.db", "SELECT extraction_status, extraction_detail, text FROM articles")
    assert status == [("no_link", None, "text one")]


def test_same_article_in_two_feeds_is_fetched_and_stored_once(tmp_path: Path, site: Site) -> None:
    item = story(1, site)
    site.routes["/a.xml"] = Response(rss([item]))
    site.routes["/b.xml"] = Response(rss([{**item, "guid": "other-guid"}]))
    cfg = write_config(
        tmp_path, feeds=[{"name": "A", "url": site.url("/a.xml")}, {"name": "B", "url": site.url("/b.xml")}]
    )
    poll(cfg)
    poll(cfg)
    assert rows(tmp_path / "monitor.db", "SELECT count(*) FROM articles") == [(1,)]
    assert len(site.hits("/a/1.html")) == 1


@pytest.mark.parametrize(
    ("route", "expect"),
    [
        (Response(b"gone", 404), "HTTP 404"),
        (Response(b"oops", 500), "HTTP 500"),
        (Response(b"<html><body>not a feed</body></html>", headers={"Content-Type": "text/html"}), "feed"),
        (Response(b"x" * 300_000), "cap"),
        (Response(rss([]), delay=3.0), "deadline"),
        (Response(rss([]) * 20, drip=0.05), "deadline"),
        (Response(b"", 302, {"Location": "/bad.xml"}), "more than 5 redirects"),
    ],
    ids=["404", "500", "not-a-feed", "oversized", "hang", "slow-drip", "redirect-loop"],
)
def test_failing_feed_is_recorded_and_others_unaffected(
    tmp_path: Path, site: Site, route: Response, expect: str
) -> None:
    site.routes["/bad.xml"] = route
    site.routes["/good.xml"] = Response(rss([story(1, site)]))
    cfg = write_config(
        tmp_path,
        feeds=[{"name": "Bad", "url": site.url("/bad.xml")}, {"name": "Good", "url": site.url("/good.xml")}],
        fetch={"timeout": "1.5s", "max_feed_bytes": "200KB"},
    )
    reports = {r.feed: r for r in poll(cfg)}
    assert reports["Good"].new == 1 and reports["Good"].error is None
    assert reports["Bad"].error is not None and expect in reports["Bad"].error
    feeds = dict(
        (r[0], r[1:])
        for r in rows(tmp_path / "monitor.db", "SELECT name, last_error, consecutive_errors FROM feeds")
    )
    assert expect in feeds["Bad"][0] and feeds["Bad"][1] == 1
    assert feeds["Good"] == (None, 0)


def test_backoff_grows_and_recovery_resets(tmp_path: Path, site: Site) -> None:
    site.routes["/feed.xml"] = Response(b"down", 503, headers={"Retry-After": "7200"})
    cfg = one_feed(tmp_path, site)
    poll(cfg)
    db = tmp_path / "monitor.db"
    ((polled, next_at, errors),) = rows(
        db, "SELECT last_polled_at, next_poll_at, consecutive_errors FROM feeds"
    )
    gap = datetime.fromisoformat(next_at.replace("Z", "+00:00")) - datetime.fromisoformat(
        polled.replace("Z", "+00:00")
    )
    assert errors == 1 and gap >= timedelta(hours=2)  # Retry-After honoured over the 15m interval
    site.routes["/feed.xml"] = Response(rss([story(1, site)]))
    assert poll(cfg)[0].new == 1
    assert rows(db, "SELECT consecutive_errors, last_error FROM feeds") == [(0, None)]


def test_next_poll_time_backs_off_exponentially_to_a_cap() -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    gaps = [(next_poll_time(now, 600, n, None, 6 * 3600) - now).total_seconds() for n in range(8)]
    assert gaps[:5] == [600, 600, 1200, 2400, 4800]
    assert gaps[-1] == 6 * 3600  # capped, never abandoned
    assert (next_poll_time(now, 600, 1, 5000, 6 * 3600) - now).total_seconds() == 5000


def test_extraction_falls_back_to_summary_and_records_why(tmp_path: Path, site: Site) -> None:
    items = [
        {
            "title": "Paywalled",
            "link": site.url("/missing.html"),
            "guid": "urn:g1",
            "description": "Lead of story.",
        },
        {
            "title": "Teaser",
            "link": site.url("/short.html"),
            "guid": "urn:g2",
            "description": "Another lead.",
        },
    ]
    site.routes["/short.html"] = Response(article_page("Teaser", ["Subscribe to read."]))
    site.routes["/feed.xml"] = Response(rss(items))
    poll(one_feed(tmp_path, site))
    got = dict(
        (r[0], r[1:])
        for r in rows(
            tmp_path / "monitor.db", "SELECT guid, extraction_status, extraction_detail, text FROM articles"
        )
    )
    assert got["urn:g1"] == ("fetch_failed", "HTTP 404", "Lead of story.")
    status, detail, text = got["urn:g2"]
    assert (status == "too_short" and detail.endswith(" chars")) or (status, detail) == ("no_main_text", None)
    assert text == "Another lead."


def test_bozo_feed_with_entries_is_processed_and_error_recorded(tmp_path: Path, site: Site) -> None:
    body = rss([story(1, site)]).replace(b"</channel></rss>", b"<broken></channel>")
    site.routes["/feed.xml"] = Response(body)
    report = poll(one_feed(tmp_path, site))[0]
    assert report.new == 1
    ((error,),) = rows(tmp_path / "monitor.db", "SELECT last_error FROM feeds")
    assert error.startswith("ill-formed feed")


def test_permanent_redirect_updates_feed_url_temporary_does_not(tmp_path: Path, site: Site) -> None:
    site.routes["/old.xml"] = Response(b"", 301, {"Location": "/new.xml"})
    site.routes["/tmp.xml"] = Response(b"", 302, {"Location": "/new2.xml"})
    site.routes["/new.xml"] = Response(rss([story(1, site)]))
    site.routes["/new2.xml"] = Response(rss([story(2, site)]))
    cfg = write_config(
        tmp_path,
        feeds=[{"name": "P", "url": site.url("/old.xml")}, {"name": "T", "url": site.url("/tmp.xml")}],
    )
    poll(cfg)
    urls = dict(rows(tmp_path / "monitor.db", "SELECT name, url FROM feeds"))
    assert urls == {"P": site.url("/new.xml"), "T": site.url("/tmp.xml")}
    before = len(site.hits("/old.xml"))
    poll(cfg)
    assert len(site.hits("/old.xml")) == before  # the next poll goes straight to the new URL


def test_private_address_guard_refuses_article_links(tmp_path: Path, site: Site) -> None:
    """With the guard on, the configured (trusted) feed on loopback is read, but the article
    link it carries, which also points at loopback, is refused and never requested."""
    site.routes["/feed.xml"] = Response(rss([story(1, site)]))
    cfg = one_feed(tmp_path, site, fetch={"allow_private_addresses": False})
    poll(cfg)
    assert site.hits("/feed.xml") and not site.hits("/a/1.html")
    ((status, detail),) = rows(
        tmp_path / "monitor.db", "SELECT extraction_status, extraction_detail FROM articles"
    )
    assert status == "fetch_failed" and "non-public address 127.0.0.1" in detail


def test_private_address_guard_covers_feed_redirects(tmp_path: Path, site: Site) -> None:
    site.routes["/feed.xml"] = Response(
        b"", 302, {"Location": f"http://localhost:{site.server.server_address[1]}/x"}
    )
    site.routes["/x"] = Response(rss([story(1, site)]))
    report = poll(one_feed(tmp_path, site, fetch={"allow_private_addresses": False}))[0]
    assert report.error and "non-public address" in report.error
    assert not site.hits("/x")


def test_failure_mid_poll_loses_nothing(tmp_path: Path, site: Site) -> None:
    """A write that fails half-way rolls the whole poll back (validators included): the next
    poll processes every entry, once."""
    items = [story(i, site) for i in range(5)]
    site.routes["/feed.xml"] = Response(rss(items), headers={"ETag": '"e"'})
    cfg = one_feed(tmp_path, site)
    runtime = prepare(load_settings(cfg))

    class FailingStore(Store):
        calls = 0

        def _insert_article(self, article):  # type: ignore[no-untyped-def]
            FailingStore.calls += 1
            if FailingStore.calls == 3:
                raise sqlite3.OperationalError("disk I/O error (injected)")
            return super()._insert_article(article)

    store = FailingStore(runtime.settings.database)
    reports, _ = asyncio.run(poll_once(runtime, store))
    store.close()
    assert reports[0].error and "injected" in reports[0].error
    db = tmp_path / "monitor.db"
    assert rows(db, "SELECT count(*) FROM articles") == [(0,)]
    assert rows(db, "SELECT etag FROM feeds") == [(None,)]
    assert poll(cfg)[0].new == 5
    assert rows(db, "SELECT count(*), count(DISTINCT guid) FROM articles") == [(5, 5)]


def test_flagged_story_is_classified_and_alert_queued(tmp_path: Path, site: Site) -> None:
    missile = story(1, site, title="North Korea fires ballistic missiles into the sea", text=MISSILE)
    site.routes["/feed.xml"] = Response(rss([missile, story(2, site)]))
    cfg = one_feed(tmp_path, site, notify=[{"name": "ops", "url": "json://127.0.0.1:9/none"}])
    report = poll(cfg)[0]
    assert report.flagged == 1
    db = tmp_path / "monitor.db"
    ((topic, score, evidence),) = rows(db, "SELECT topic, score, evidence FROM matches")
    assert topic == "missile_launch" and score > 0.5 and "ballistic missiles" in evidence
    assert rows(db, "SELECT channel, status FROM alerts") == [("ops", "pending")]  # receiver is down


def test_old_entries_are_stored_but_not_alerted(tmp_path: Path, site: Site) -> None:
    old = datetime.now(UTC) - timedelta(days=5)
    item = {**story(1, site, title="North Korea fires ballistic missiles", text=MISSILE), "published": old}
    site.routes["/feed.xml"] = Response(rss([item]))
    poll(one_feed(tmp_path, site, notify=[{"name": "ops", "url": "json://127.0.0.1:9/none"}]))
    db = tmp_path / "monitor.db"
    assert rows(db, "SELECT count(*) FROM matches") == [(1,)]
    assert rows(db, "SELECT count(*) FROM alerts") == [(0,)]


def test_full_text_search_over_articles(tmp_path: Path, site: Site) -> None:
    site.routes["/feed.xml"] = Response(rss([story(1, site, text=MISSILE), story(2, site)]))
    poll(one_feed(tmp_path, site))
    hits = rows(
        tmp_path / "monitor.db",
        "SELECT articles.guid FROM articles_fts JOIN articles ON articles.rowid = articles_fts.rowid "
        "WHERE articles_fts MATCH 'ballistic'",
    )
    assert hits == [("urn:test:1",)]


def test_story_pages_clear_the_extractor_minimum() -> None:
    """The loopback site's story pages extract as full articles (not teasers), so tests that
    expect page text test the page path, not the summary fallback."""
    page = article_page("Local council approves budget", ["The council met on Tuesday.", FILLER, FILLER])
    extracted = extract_article(page, "https://x.example/a/1.html")
    assert extracted.status is ExtractionStatus.OK and FILLER in extracted.text


def test_extraction_in_a_process_pool(tmp_path: Path, site: Site) -> None:
    """The shipped default: trafilatura runs in worker processes, results come back intact."""
    items = [story(i, site, text=f"{MISSILE} Item {i}.") for i in range(4)]
    site.routes["/feed.xml"] = Response(rss(items))
    report = poll(one_feed(tmp_path, site, extract={"workers": 2}))[0]
    assert report.new == 4 and report.flagged == 4
    stored = rows(tmp_path / "monitor.db", "SELECT extraction_status, text FROM articles")
    assert all(status == "ok" and "Joint Chiefs of Staff" in text for status, text in stored)


def test_times_a_jumped_clock_left_in_the_database_are_brought_back(tmp_path: Path, site: Site) -> None:
    """A clock that ran a year ahead and was corrected left next_poll_at and an alert's retry a
    year out. On start they are due now: the feed is polled, the alert retried."""
    site.routes["/feed.xml"] = Response(rss([story(1, site, text=MISSILE)]))
    cfg = one_feed(tmp_path, site, notify=[{"name": "ops", "url": "json://127.0.0.1:9/none"}])
    poll(cfg)
    db = tmp_path / "monitor.db"
    conn = sqlite3.connect(db)
    conn.execute("UPDATE feeds SET next_poll_at = '2027-12-01T00:00:00Z'")
    conn.execute("UPDATE alerts SET next_attempt_at = '2027-12-01T00:00:00Z'")
    conn.execute(
        "INSERT INTO feeds (name, url, config_url, consecutive_errors, next_poll_at) "
        "VALUES ('Soon', 'https://soon.example/', 'https://soon.example/', 0, ?)",
        [(datetime.now(UTC) + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")],
    )
    conn.commit()
    conn.close()
    start_service(prepare(load_settings(cfg)))
    now = datetime.now(UTC)
    for table, column, name in (("feeds", "next_poll_at", "Wire"), ("alerts", "next_attempt_at", None)):
        where = f" WHERE name = '{name}'" if name else ""
        ((stored,),) = rows(db, f"SELECT {column} FROM {table}{where}")
        assert datetime.fromisoformat(stored.replace("Z", "+00:00")) <= now, (table, stored)
    ((soon,),) = rows(db, "SELECT next_poll_at FROM feeds WHERE name = 'Soon'")
    assert datetime.fromisoformat(soon.replace("Z", "+00:00")) > now  # a normal schedule is kept


def test_guid_abuse_loses_no_story(tmp_path: Path, site: Site) -> None:
    """One guid for every item, a guid reused for the next story, and untitled items without
    guid or link: every story is stored once, and re-polls add nothing."""
    same = [{**story(i, site), "guid": "urn:same"} for i in range(3)]
    untitled = [
        {"title": "", "description": f"Bulletin {i}: flights resume at the airport."} for i in range(2)
    ]
    site.routes["/feed.xml"] = Response(rss(same + untitled))
    cfg = one_feed(tmp_path, site)
    assert poll(cfg)[0].new == 5
    assert poll(cfg)[0].new == 0  # the same document again: nothing new
    site.routes["/feed.xml"] = Response(rss([story(10, site)]))
    assert poll(cfg)[0].new == 1
    reused = {**story(11, site, title="Ministry announces new budget rules"), "guid": "urn:test:10"}
    site.routes["/feed.xml"] = Response(rss([reused]))
    assert poll(cfg)[0].new == 1  # urn:test:10 now names another story
    assert poll(cfg)[0].new == 0
    titles = [t for (t,) in rows(tmp_path / "monitor.db", "SELECT title FROM articles ORDER BY id")]
    assert len(titles) == 7 and titles[-1] == "Ministry announces new budget rules"


def test_an_updated_headline_under_the_same_guid_is_the_same_story(tmp_path: Path, site: Site) -> None:
    item = story(1, site)
    site.routes["/feed.xml"] = Response(rss([item]))
    cfg = one_feed(tmp_path, site)
    poll(cfg)
    site.routes["/feed.xml"] = Response(rss([{**item, "title": "UPDATE: " + item["title"]}]))
    assert poll(cfg)[0].new == 0


def test_items_with_nothing_to_store_are_counted_on_the_feed(tmp_path: Path, site: Site) -> None:
    site.routes["/feed.xml"] = Response(rss([story(1, site), {"title": ""}, {"title": ""}]))
    cfg = one_feed(tmp_path, site)
    report = poll(cfg)[0]
    assert (report.new, report.skipped) == (1, 2)
    assert rows(tmp_path / "monitor.db", "SELECT last_skipped FROM feeds") == [(2,)]


def test_a_link_parameter_that_changes_every_poll_is_learnt(tmp_path: Path, site: Site) -> None:
    """A feed without guids whose links carry a new ?session= on every poll: the story is stored
    and alerted once; the parameter is remembered for the feed. Two stories that differ in a
    parameter and in headline stay two."""
    page = story(1, site)
    site.routes["/a/1.html?session=AAA"] = site.routes["/a/1.html?session=BBB"] = site.routes["/a/1.html"]
    site.routes["/a/1.html?session=CCC"] = site.routes["/a/1.html"]

    def document(session: str) -> Response:
        item = {"title": "North Korea fires missiles", "description": MISSILE}
        other = {"title": "Budget approved", "link": site.url("/p?id=2&session=" + session)}
        return Response(rss([{**item, "link": site.url(f"/a/1.html?session={session}")}, other]))

    assert page["link"]
    cfg = one_feed(tmp_path, site, notify=[{"name": "ops", "url": "json://127.0.0.1:9/none"}])
    site.routes["/feed.xml"] = document("AAA")
    assert poll(cfg)[0].new == 2
    for session in ("BBB", "CCC"):
        site.routes["/feed.xml"] = document(session)
        assert poll(cfg)[0].new == 0, session
    db = tmp_path / "monitor.db"
    assert rows(db, "SELECT volatile_params FROM feeds") == [('["session"]',)]
    assert rows(db, "SELECT count(*) FROM alerts") == [(1,)]
    site.routes["/feed.xml"] = Response(
        rss([{"title": "Budget revised", "link": site.url("/p?id=3&session=DDD")}])
    )
    assert poll(cfg)[0].new == 1  # another page (id=3) under another headline: a new story


def test_the_stored_next_poll_holds_the_jitter(tmp_path: Path, site: Site) -> None:
    """Each poll draws its jitter once and stores it in next_poll_at, so the time the database
    shows (``monitor feeds``, another hub) is the time the feed is polled, within a tenth of
    its interval."""
    for f in range(12):
        site.routes[f"/{f}.xml"] = Response(rss([story(f, site)]))
    feeds = [{"name": f"Wire {f}", "url": site.url(f"/{f}.xml"), "interval": "60s"} for f in range(12)]
    cfg = write_config(tmp_path, feeds=feeds, schedule={"jitter": "30s"})
    poll(cfg)
    gaps = [
        (parse_iso(due) - parse_iso(polled)).total_seconds()  # type: ignore[operator]
        for due, polled in rows(tmp_path / "monitor.db", "SELECT next_poll_at, last_polled_at FROM feeds")
    ]
    assert len(gaps) == 12 and all(60 <= gap <= 66 for gap in gaps), gaps
    assert len({round(gap, 3) for gap in gaps}) > 1, gaps  # drawn per feed, not one shared delay


def test_jitter_is_at_most_a_tenth_of_the_interval() -> None:
    from monitor.service.policy import poll_jitter

    assert poll_jitter(60, 30) == 6  # a one-minute feed: polled within 66 s, not 90
    assert poll_jitter(900, 30) == 30  # the configured jitter when it is the smaller
    assert poll_jitter(900, 0) == 0


def test_not_modified_answers_keep_the_connection(site: Site) -> None:
    """A 304 is read to its (empty) end, so the connection goes back to the pool: re-polling a
    host does not pay a new TCP (and TLS) handshake each time."""
    from monitor.config import FetchSettings
    from monitor.fetch import Fetcher

    site.routes["/feed.xml"] = Response(rss([story(1, site)]), headers={"ETag": '"v1"'})

    async def three() -> list[int | None]:
        async with Fetcher(FetchSettings(allow_private_addresses=True)) as fetcher:
            return [(await fetcher.fetch_feed(site.url("/feed.xml"), etag='"v1"')).status for _ in range(3)]

    assert asyncio.run(three()) == [304, 304, 304]
    ports = {r.client[1] for r in site.hits("/feed.xml")}
    assert len(ports) == 1, ports


def test_pages_wait_for_extraction_in_bounded_numbers(tmp_path: Path, site: Site) -> None:
    """Back-pressure: with extraction slower than downloads, the pages fetched and not yet
    extracted never exceed pages_in_flight; memory is set by it, not by the size of a poll."""
    from monitor.execute import LocalExecutor
    from monitor.execute.local import pages_in_flight
    from monitor.records import Extracted

    site.routes["/feed.xml"] = Response(rss([story(i, site) for i in range(40)]))
    cfg = one_feed(tmp_path, site, fetch={"concurrency": 4, "per_feed_concurrency": 40})
    runtime = prepare(load_settings(cfg))
    bound = 4 + 2  # fetch.concurrency, and two per extraction worker (one thread here)
    assert pages_in_flight(runtime.settings) == bound

    class SlowWorker(LocalExecutor):
        """The real executor behind an extraction worker that takes 50 ms a page."""

        done = 0  # pages extracted
        most = 0  # most pages fetched and not yet extracted at once

        async def extract(
            self, content: bytes, url: str, *, metadata: frozenset[PageField] = PAGE_FIELDS
        ) -> Extracted:
            fetched = len([r for r in site.requests if r.path.startswith("/a/")])
            SlowWorker.most = max(SlowWorker.most, fetched - SlowWorker.done)
            await asyncio.sleep(0.05)
            try:
                return await super().extract(content, url, metadata=metadata)
            finally:
                SlowWorker.done += 1

    (report,) = poll_through(runtime, SlowWorker)
    assert report.new == 40
    assert 1 < SlowWorker.most <= bound, SlowWorker.most


def test_feeds_processing_stories_at_once_are_bounded(tmp_path: Path, site: Site) -> None:
    """A feed's finished stories wait in memory for its commit: a poll of many feeds may not
    have them all half done at once (a first poll of 200 feeds held some 1,200 stories' text),
    only as many as ``Work.processing`` lets in, however many feeds the poll has; and nothing
    is lost."""
    from monitor.execute import LocalExecutor
    from monitor.execute.local import pages_in_flight
    from monitor.records import Extracted

    feeds, entries = 12, 3
    for f in range(feeds):
        site.routes[f"/f{f}.xml"] = Response(rss([story(100 * f + j, site) for j in range(entries)]))
    cfg = write_config(
        tmp_path,
        feeds=[{"name": f"Wire {f}", "url": site.url(f"/f{f}.xml")} for f in range(feeds)],
        fetch={"concurrency": 1, "per_feed_concurrency": 1},
    )
    runtime = prepare(load_settings(cfg))
    bound = pages_in_flight(runtime.settings)  # 1 + 2: one extraction thread
    assert bound == 3

    class Watched(LocalExecutor):
        """The real executor, noting which feeds have a page extracted and one still to come."""

        extracted: ClassVar[dict[int, int]] = {}  # feed -> its pages extracted
        most = 0  # most feeds part way through their stories at once

        async def extract(
            self, content: bytes, url: str, *, metadata: frozenset[PageField] = PAGE_FIELDS
        ) -> Extracted:
            feed = int(url.rsplit("/", 1)[1].split(".")[0]) // 100
            Watched.extracted[feed] = Watched.extracted.get(feed, 0) + 1
            begun = sum(1 for n in Watched.extracted.values() if n < entries)
            Watched.most = max(Watched.most, begun)
            await asyncio.sleep(0.01)  # the other feeds' pages get their turn meanwhile
            return await super().extract(content, url, metadata=metadata)

    reports = poll_through(runtime, Watched)
    assert sum(r.new for r in reports) == feeds * entries
    assert rows(Path(runtime.settings.database), "select count(*) from articles") == [(feeds * entries,)]
    assert 1 < Watched.most <= bound, Watched.most


def test_a_feed_with_nothing_new_does_not_wait_for_a_processing_slot(tmp_path: Path, site: Site) -> None:
    """Only feeds with new stories take a turn among the feeds processing at once: a feed that
    answers 200 with nothing new (a server without conditional GET) records its poll at once,
    whatever the other feeds' stories are doing."""
    site.routes["/feed.xml"] = Response(rss([story(i, site) for i in range(3)]))  # no validators
    runtime = prepare(load_settings(one_feed(tmp_path, site)))
    store = Store(runtime.settings.database)

    async def run() -> tuple[PollReport, PollReport]:
        async with Service(runtime, store) as service:
            await service.start()
            (first,) = await service.poller.poll_all()
            processing = service.poller.work.processing
            while not processing.locked():  # every slot held, as by feeds with slow pages
                await processing.acquire()
            (second,) = await asyncio.wait_for(service.poller.poll_all(), 10)
            return first, second

    try:
        first, second = asyncio.run(run())
    finally:
        store.close()
    assert (first.status, first.new, second.status, second.new) == (200, 3, 200, 0)


def test_extraction_workers_are_recycled_and_import_extraction_alone(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Workers fork from a server that imported extraction and nothing else (not the CLI,
    apprise or the network), and are replaced after ``extract.max_tasks_per_child`` pages each:
    every page is still extracted, and the replaced workers are gone."""
    import logging

    from monitor.config import Settings
    from monitor.execute import LocalExecutor

    settings = Settings.model_validate(
        {"database": str(tmp_path / "x.db"), "extract": {"workers": 1, "max_tasks_per_child": 3}}
    )
    page = article_page("Budget approved", [f"Item {k} of the agenda. {FILLER}" for k in range(4)])
    heavy = "__import__('sys').modules.keys() & {'apprise', 'aiohttp', 'monitor.cli', 'monitor.service'}"

    async def run() -> tuple[list[str], set[str], int]:
        executor = LocalExecutor(settings)
        try:
            statuses = [(await executor.extract(page, f"http://x.example/{i}")).status for i in range(10)]
            loop = asyncio.get_running_loop()
            loaded: set[str] = await loop.run_in_executor(executor._extractor, eval, heavy)
            return statuses, loaded, len(executor._extractor._processes)  # type: ignore[attr-defined,return-value]
        finally:
            executor.close()

    with caplog.at_level(logging.INFO, logger="monitor.execute.local"):
        statuses, loaded, workers = asyncio.run(run())
    assert statuses == [ExtractionStatus.OK] * 10
    assert loaded == set(), loaded
    assert workers == 1
    # Pages 1-3, 4-6 and 7-9 each on a pool of their own (the warm-up call counts no page).
    assert caplog.text.count("extraction workers recycled after 3 pages") == 3
    zombies = [p for p in os.listdir("/proc") if p.isdigit() and _is_defunct_child(int(p))]
    assert not zombies, zombies


def test_workers_do_not_import_the_main_module_of_the_process_that_started_them(
    tmp_path: Path, cli_env: dict[str, str]
) -> None:
    """The ``monitor`` console script is a file whose first line imports the CLI. A worker
    started by multiprocessing imports its parent's main module, which put the whole CLI
    (apprise, aiohttp, the scheduler: 740 modules, about 35 MB) into every extraction worker's
    private memory, and cost each new worker its import time. The pool's server turns that off."""
    script = tmp_path / "monitor_script.py"
    script.write_text(
        textwrap.dedent(
            """
            import asyncio, sys
            from monitor.cli import main  # the first line of the console script
            from monitor.config import Settings
            from monitor.execute import LocalExecutor

            HEAVY = "__import__('sys').modules.keys() & {'apprise', 'aiohttp', 'monitor.cli', 'pydantic'}"
            PAGE = b"<html><body><article><p>" + b"The council approved the budget. " * 20 + b"</p></article>"

            async def run(settings):
                executor = LocalExecutor(settings)
                try:
                    extracted = await executor.extract(PAGE, "http://x.example/0")
                    loop = asyncio.get_running_loop()
                    return extracted.status, await loop.run_in_executor(executor._extractor, eval, HEAVY)
                finally:
                    executor.close()

            if __name__ == "__main__":
                settings = Settings.model_validate({"database": sys.argv[1], "extract": {"workers": 1}})
                status, loaded = asyncio.run(run(settings))
                print(status.value, sorted(loaded))
            """
        )
    )
    done = run_script(script, str(tmp_path / "x.db"), env=cli_env)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["ok", "[]"], done.stdout


def run_script(
    script: Path, *args: str, env: dict[str, str], timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """Run a test's Python script in its own directory, as a new interpreter; its output as text."""
    return subprocess.run(
        [sys.executable, str(script), *args],
        env=env,
        cwd=script.parent,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def _running(pid: int) -> bool:
    """Whether process ``pid`` exists and has not ended (a zombie waiting to be reaped has)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def test_a_killed_daemon_leaves_no_extraction_process_behind(tmp_path: Path, cli_env: dict[str, str]) -> None:
    """SIGKILL (the OOM killer) gives the daemon no chance to stop its pool. Its workers, which
    block waiting for the next page, and the forkserver, which lives while any of them does,
    must end by themselves: they stayed for good, about 150 MB at every such restart."""
    script = tmp_path / "daemon.py"
    script.write_text(
        textwrap.dedent(
            """
            import asyncio, sys, time
            from multiprocessing import forkserver
            from monitor.config import Settings
            from monitor.execute import LocalExecutor

            PAGE = b"<html><body><article><p>" + b"The council approved the budget. " * 20 + b"</p></article>"

            async def run(settings):
                executor = LocalExecutor(settings)
                await executor.extract(PAGE, "http://x.example/0")
                workers = list(executor._extractor._processes)
                print(*workers, forkserver._forkserver._forkserver_pid, flush=True)
                time.sleep(60)

            if __name__ == "__main__":
                settings = Settings.model_validate({"database": sys.argv[1], "extract": {"workers": 2}})
                asyncio.run(run(settings))
            """
        )
    )
    with subprocess.Popen(
        [sys.executable, str(script), str(tmp_path / "x.db")], env=cli_env, stdout=subprocess.PIPE, text=True
    ) as daemon:
        try:
            assert daemon.stdout is not None
            pids = [int(p) for p in daemon.stdout.readline().split()]
            assert len(pids) == 3 and all(map(_running, pids)), pids
        finally:
            daemon.kill()
    deadline = time.monotonic() + 15
    while any(map(_running, pids)) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not [p for p in pids if _running(p)], pids


def test_a_worker_without_a_thread_to_spare_still_starts(tmp_path: Path, cli_env: dict[str, str]) -> None:
    """The parent watch is a thread; where none can be started (a pids limit), the worker says
    so and goes on: a pool whose initializer raised would break at every page."""
    script = tmp_path / "nothread.py"
    script.write_text(
        textwrap.dedent(
            """
            import multiprocessing, threading

            def child():
                def refuse(self):
                    raise RuntimeError("can't start new thread")
                threading.Thread.start = refuse
                from monitor.execute.worker import exit_with_parent
                exit_with_parent()

            if __name__ == "__main__":
                process = multiprocessing.get_context("spawn").Process(target=child)
                process.start()
                process.join()
                print(process.exitcode)
            """
        )
    )
    done = run_script(script, env=cli_env, timeout=60)
    assert done.stdout.split() == ["0"], done.stderr
    assert "cannot watch the daemon" in done.stderr and "can't start new thread" in done.stderr


def test_pages_are_extracted_while_no_worker_can_be_started_and_workers_return_when_they_can(
    tmp_path: Path, cli_env: dict[str, str]
) -> None:
    """Where no worker process can be started (here a daemonic process, which multiprocessing
    forbids to have children; in service, a pids limit or no memory), every page's poll failed
    with an internal error, and went on failing after the cause was gone. Pages are now
    extracted in the process itself, the cause said once, and the workers tried again a while
    later: they return once they can start (the flag cleared below stands for a limit lifted)."""
    script = tmp_path / "daemonic.py"
    script.write_text(
        textwrap.dedent(
            """
            import asyncio, multiprocessing, os, sys

            PAGE = (b"<html><body><article><p>" + b"The council approved the new budget on Tuesday. " * 20
                    + b"</p></article></body></html>")

            async def run(database):
                from monitor.config import Settings
                from monitor.execute import LocalExecutor
                settings = Settings.model_validate({"database": database, "extract": {"workers": 1}})
                LocalExecutor.RETRY_START = 1.0  # 60 s in service
                executor = LocalExecutor(settings)
                try:
                    for i in range(4):
                        if i == 3:
                            multiprocessing.current_process()._config["daemon"] = False
                            await asyncio.sleep(1.1)
                        done = await executor.extract(PAGE, f"http://x.example/{i}")
                        workers = len(executor._extractor._processes)
                        print(done.status.value, "council approved" in done.text, workers)
                finally:
                    executor.close()

            def child(database):
                import logging
                logging.basicConfig(level=logging.WARNING, format="%(message)s")
                asyncio.run(run(database))
                sys.stdout.flush()
                os._exit(0)  # not multiprocessing's exit, which joins the worker before its pool stops

            if __name__ == "__main__":
                spawn = multiprocessing.get_context("spawn")
                process = spawn.Process(target=child, args=(sys.argv[1],), daemon=True)
                process.start()
                process.join()
                print("exit", process.exitcode)
            """
        )
    )
    done = run_script(script, str(tmp_path / "x.db"), env=cli_env)
    lines = [line.split() for line in done.stdout.splitlines()]
    expected = [["ok", "True", "0"]] * 3 + [["ok", "True", "1"], ["exit", "0"]]
    assert lines == expected, (done.stdout, done.stderr)
    assert done.stderr.count("extraction workers cannot be started") == 1, done.stderr
    assert "daemonic processes are not allowed to have children" in done.stderr
    assert done.stderr.count("extraction workers start again") == 1, done.stderr


def test_the_extraction_workers_start_while_the_first_pages_are_fetched(tmp_path: Path, site: Site) -> None:
    """Starting the workers takes most of a second (the forkserver imports extraction, each
    worker warms up). They were started by the first page to extract, so that second came on
    top of its fetch; a poll that finds new stories now starts them before fetching the pages.
    The page here is answered only once the workers run (or after 20 s, without them)."""
    from monitor.execute import LocalExecutor

    held: list[LocalExecutor] = []

    class Kept(LocalExecutor):
        def __init__(self, settings: Settings) -> None:
            super().__init__(settings)
            held.append(self)

    def workers() -> int:
        return len(getattr(held[0]._extractor, "_processes", None) or {}) if held else 0

    running_when_answered: list[int] = []
    page = article_page("Budget approved", [f"Item {k} of the agenda. {FILLER}" for k in range(3)])

    def answer_once_workers_run(_request: Any) -> Response:
        deadline = time.monotonic() + 20
        while not workers() and time.monotonic() < deadline:
            time.sleep(0.05)
        running_when_answered.append(workers())
        return Response(page, headers={"Content-Type": "text/html"})

    item = story(0, site)
    site.routes["/a/0.html"] = answer_once_workers_run
    site.routes["/feed.xml"] = Response(rss([item]))
    settings = load_settings(one_feed(tmp_path, site, extract={"workers": 1}, fetch={"timeout": "60s"}))
    reports = poll_through(prepare(settings), Kept)
    assert reports[0].new == 1
    assert running_when_answered == [1]
    stored = rows(tmp_path / "monitor.db", "SELECT extraction_status FROM articles")
    assert stored == [("ok",)]


def test_a_worker_dying_as_it_starts_costs_one_new_pool_and_no_page(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Every page waiting for a pool's start meets its worker's death: the pool is replaced once,
    not once per page (each page replaced the new pool as it started), and every page is
    extracted on the new one."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    from monitor.config import Settings
    from monitor.execute import LocalExecutor

    settings = Settings.model_validate({"database": str(tmp_path / "x.db"), "extract": {"workers": 2}})
    page = article_page("Budget approved", [f"Item {k} of the agenda. {FILLER}" for k in range(4)])
    dying = ProcessPoolExecutor(
        2, mp_context=multiprocessing.get_context("forkserver"), initializer=os._exit, initargs=(3,)
    )

    async def run() -> list[ExtractionStatus]:
        executor = LocalExecutor(settings, extract_pool=dying)
        try:
            done = await asyncio.gather(*(executor.extract(page, f"http://x.example/{i}") for i in range(4)))
            return [d.status for d in done]
        finally:
            executor.close()
            executor._extractor.shutdown(wait=True)  # the replacement is this test's to stop

    assert asyncio.run(run()) == [ExtractionStatus.OK] * 4
    assert caplog.text.count("an extraction worker died starting") == 1, caplog.text


def test_a_worker_killed_between_pages_costs_no_page(tmp_path: Path) -> None:
    """A worker that dies (the OOM killer, a crash) breaks its pool: the next pages are not all
    lost with it, the workers are restarted and the pages extracted."""
    import signal

    from monitor.config import Settings
    from monitor.execute import LocalExecutor

    settings = Settings.model_validate({"database": str(tmp_path / "x.db"), "extract": {"workers": 1}})
    page = article_page("Budget approved", [f"Item {k} of the agenda. {FILLER}" for k in range(4)])

    async def run() -> list[ExtractionStatus]:
        executor = LocalExecutor(settings)
        try:
            statuses = [(await executor.extract(page, "http://x.example/0")).status]
            for pid in list(executor._extractor._processes):  # type: ignore[attr-defined]
                os.kill(pid, signal.SIGKILL)
            await asyncio.sleep(0.3)
            for i in range(1, 4):
                statuses.append((await executor.extract(page, f"http://x.example/{i}")).status)
            return statuses
        finally:
            executor.close()

    assert asyncio.run(run()) == [ExtractionStatus.OK] * 4


def test_a_pool_is_recycled_only_once_the_pages_on_it_are_back(tmp_path: Path) -> None:
    """Recycling waits for the pages on the old pool to finish before starting the new one, so
    that two pools never hold their workers' memory side by side; no page is lost meanwhile."""
    from monitor.config import Settings
    from monitor.execute import LocalExecutor

    settings = Settings.model_validate(
        {"database": str(tmp_path / "x.db"), "extract": {"workers": 1, "max_tasks_per_child": 2}}
    )
    page = article_page("Budget approved", [f"Item {k} of the agenda. {FILLER}" for k in range(4)])
    on_old_pool: list[int] = []  # pages on the old pool when a new one was started

    class Watched(LocalExecutor):
        def _recycle_if_due(self) -> None:
            before = self._extractor
            super()._recycle_if_due()
            if self._extractor is not before:
                on_old_pool.append(self._on_pool)

    async def run() -> list[ExtractionStatus]:
        executor = Watched(settings)
        try:
            done = await asyncio.gather(*(executor.extract(page, f"http://x.example/{i}") for i in range(12)))
            return [d.status for d in done]
        finally:
            executor.close()

    assert asyncio.run(run()) == [ExtractionStatus.OK] * 12
    assert len(on_old_pool) >= 3 and set(on_old_pool) == {0}, on_old_pool


def test_idle_extraction_workers_exit_and_the_next_page_starts_them_again(tmp_path: Path) -> None:
    """An idle daemon gives its extraction memory back: ``extract.idle_timeout`` after the last
    page the workers and their forkserver exit, and the next page is extracted by new ones."""
    from multiprocessing import forkserver

    from monitor.config import Settings
    from monitor.execute import LocalExecutor

    def server() -> int | None:
        pid: int | None = forkserver._forkserver._forkserver_pid  # type: ignore[attr-defined]
        return pid

    settings = Settings.model_validate(
        {"database": str(tmp_path / "x.db"), "extract": {"workers": 1, "idle_timeout": 0.3}}
    )
    page = article_page("Budget approved", [f"Item {k} of the agenda. {FILLER}" for k in range(4)])

    async def run() -> tuple[list[ExtractionStatus], set[int], set[int], list[bool]]:
        executor = LocalExecutor(settings)
        try:
            first = await executor.extract(page, "http://x.example/1")
            before = set(executor._extractor._processes) | {server() or 0}  # type: ignore[attr-defined]
            await asyncio.sleep(0.1)  # less than the timeout: still there
            still = [os.path.exists(f"/proc/{pid}") and not _is_defunct_child(pid) for pid in before]
            await asyncio.sleep(2.0)
            gone = [not os.path.exists(f"/proc/{pid}") or _is_defunct_child(pid) for pid in before]
            stopped = server() is None
            second = await executor.extract(page, "http://x.example/2")
            after = set(executor._extractor._processes) | {server() or 0}  # type: ignore[attr-defined]
            return [first.status, second.status], before, after, [*still, *gone, stopped]
        finally:
            executor.close()

    statuses, before, after, alive_then_gone = asyncio.run(run())
    assert statuses == [ExtractionStatus.OK] * 2
    assert len(before) == 2 and len(after) == 2 and not before & after  # a worker and its server
    assert alive_then_gone == [True] * 5


def test_workers_started_ahead_of_pages_that_never_come_exit_when_idle(tmp_path: Path) -> None:
    """Workers started for a poll's pages (``warm``) whose fetches all fail receive no page:
    they exit ``extract.idle_timeout`` later all the same, as after a last page."""
    from monitor.config import Settings
    from monitor.execute import LocalExecutor

    settings = Settings.model_validate(
        {"database": str(tmp_path / "x.db"), "extract": {"workers": 1, "idle_timeout": 0.3}}
    )

    async def run() -> tuple[set[int], bool, bool]:
        executor = LocalExecutor(settings)
        try:
            executor.warm()
            executor.warm()  # once starting, not again
            deadline = time.monotonic() + 20
            while not getattr(executor._extractor, "_processes", None) and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
            started = set(executor._extractor._processes)  # type: ignore[attr-defined]
            await asyncio.sleep(0.1)
            alive = all(os.path.exists(f"/proc/{pid}") and not _is_defunct_child(pid) for pid in started)
            await asyncio.sleep(2.5)
            gone = all(not os.path.exists(f"/proc/{pid}") or _is_defunct_child(pid) for pid in started)
            return started, alive, gone
        finally:
            executor.close()

    started, alive, gone = asyncio.run(run())
    assert len(started) == 1 and alive and gone


def test_a_poll_expecting_pages_keeps_idle_workers_running(tmp_path: Path) -> None:
    """``warm`` on running workers gives them the idle timeout anew: a poll that finds new
    stories just before the timeout would otherwise lose its workers as its pages arrive."""
    from monitor.config import Settings
    from monitor.execute import LocalExecutor

    settings = Settings.model_validate(
        {"database": str(tmp_path / "x.db"), "extract": {"workers": 1, "idle_timeout": 1.0}}
    )
    page = article_page("Budget approved", [f"Item {k} of the agenda. {FILLER}" for k in range(4)])

    def alive(pids: set[int]) -> bool:
        return all(os.path.exists(f"/proc/{pid}") and not _is_defunct_child(pid) for pid in pids)

    async def run() -> tuple[bool, bool]:
        executor = LocalExecutor(settings)
        try:
            await executor.extract(page, "http://x.example/0")
            workers = set(executor._extractor._processes)  # type: ignore[attr-defined]
            await asyncio.sleep(0.7)
            executor.warm()  # a poll found new stories: their pages are on their way
            await asyncio.sleep(0.7)  # 1.4 s after the page, 0.7 s after warm
            kept = alive(workers)
            await asyncio.sleep(2.5)
            return kept, not alive(workers)
        finally:
            executor.close()

    assert asyncio.run(run()) == (True, True)


def test_a_page_ready_behind_another_is_not_cut_short_for_waiting(tmp_path: Path) -> None:
    """Each worker holds one page extracting and one ready. The ready page's budget runs from
    hand-over and is doubled (it may wait one budget behind the other): a page waiting behind a
    slow but legitimate one is not timed out, and a pathological one is still stopped."""
    import time
    from concurrent.futures import Future, ThreadPoolExecutor

    from monitor.config import Settings
    from monitor.execute import LocalExecutor
    from monitor.records import Extracted

    handed: list[float] = []  # when each page reached the pool

    class Scripted(ThreadPoolExecutor):
        """One worker whose extraction of each page takes the seconds its URL says."""

        def submit(self, fn: Any, /, *args: Any, **kwargs: Any) -> Future[Any]:
            handed.append(time.monotonic())
            seconds = float(args[1].rsplit("/", 1)[1])

            def extract() -> Extracted:
                time.sleep(seconds)
                return Extracted(status=ExtractionStatus.OK)

            return super().submit(extract)

    extract = {"workers": 1, "timeout": "1s"}
    settings = Settings.model_validate({"database": str(tmp_path / "x.db"), "extract": extract})

    async def run(durations: list[float]) -> list[tuple[ExtractionStatus, float]]:
        executor = LocalExecutor(settings, extract_pool=Scripted(max_workers=1))
        started = time.monotonic()

        async def one(seconds: float) -> tuple[ExtractionStatus, float]:
            status = (await executor.extract(b"<html/>", f"http://x.example/{seconds}")).status
            return status, time.monotonic() - started

        try:
            return list(await asyncio.gather(*(one(s) for s in durations)))
        finally:
            executor.close()

    # 0.5 s, then 0.7 s behind it: done at 1.2 s, past one budget from its hand-over.
    (first, _), (second, at_second) = asyncio.run(run([0.5, 0.7]))
    assert first == second == ExtractionStatus.OK and at_second > 1.0
    assert handed[1] - handed[0] < 0.3  # the second page was ready before the first was done
    # A runaway page waiting behind a short one is stopped at twice the budget.
    (_, _), (runaway, at_runaway) = asyncio.run(run([0.1, 5.0]))
    assert runaway == ExtractionStatus.TIMED_OUT and 1.5 < at_runaway < 2.5


def _is_defunct_child(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    state, parent = stat.rsplit(")", 1)[1].split()[:2]
    return state == "Z" and int(parent) == os.getpid()


def test_a_feed_another_hub_is_polling_is_left_alone(tmp_path: Path, site: Site) -> None:
    """Two hubs on one database, polling the same feed at the same moment: the feed is
    fetched once and its stories stored once; the second poll reports the lease."""
    site.routes["/feed.xml"] = Response(
        rss([story(1, site), story(2, site)]), headers={"ETag": '"v1"'}, delay=0.5
    )
    runtime = prepare(load_settings(one_feed(tmp_path, site)))
    start_service(runtime)
    first, second = Store(runtime.settings.database), Store(runtime.settings.database)

    async def both() -> list[PollReport]:
        async with Service(runtime, first) as one, Service(runtime, second) as two:
            (feed,) = runtime.feeds
            return list(await asyncio.gather(one.poller.poll_feed(feed), two.poller.poll_feed(feed)))

    try:
        reports = asyncio.run(both())
    finally:
        first.close()
        second.close()
    assert sorted(r.leased for r in reports) == [False, True]
    assert sum(r.new for r in reports) == 2 and len(site.hits("/feed.xml")) == 1
    # The lease went with the poll's commit: the next poll is not refused.
    assert rows(tmp_path / "monitor.db", "SELECT lease_owner FROM feeds") == [(None,)]
    assert not poll(one_feed(tmp_path, site))[0].leased


def test_a_poll_of_every_feed_leases_them_at_once_and_leaves_one_leased_elsewhere(
    tmp_path: Path, site: Site
) -> None:
    """A poll of every feed leases them in one transaction before fetching (one each, queued on
    the database's writer, held the first feed's new stories back behind all the others), and
    still leaves alone a feed another hub is polling."""
    feeds = 6
    for f in range(feeds):
        site.routes[f"/f{f}.xml"] = Response(rss([story(10 * f, site)]))
    cfg = write_config(
        tmp_path, feeds=[{"name": f"Wire {f}", "url": site.url(f"/f{f}.xml")} for f in range(feeds)]
    )
    runtime = prepare(load_settings(cfg))
    start_service(runtime)
    store = Store(runtime.settings.database)
    now = datetime.now(UTC)
    statements: list[str] = []
    try:
        assert store.claim_feed("Wire 3", "elsewhere:1:ffff", now, now + timedelta(minutes=15), None)
        store.db.conn.set_trace_callback(statements.append)
        reports, _ = asyncio.run(poll_once(runtime, store))
    finally:
        store.close()
    assert [r.feed for r in reports if r.leased] == ["Wire 3"]
    assert sum(r.new for r in reports) == feeds - 1 and not site.hits("/f3.xml")
    leases = [
        i
        for i, q in enumerate(statements)
        if q.startswith("UPDATE feeds SET lease_owner") and "NULL," not in q
    ]  # not the release at the end
    first = leases[0]
    # Every feed's lease in the first transaction; Wire 3's tried once more on its own.
    assert statements[first - 1].startswith("BEGIN") and leases[:feeds] == list(range(first, first + feeds))
    assert statements[first + feeds] == "COMMIT" and len(leases) == feeds + 1


def test_leases_of_a_killed_poller_on_this_host_are_released_at_start(tmp_path: Path, site: Site) -> None:
    """A poller SIGKILLed mid-poll leaves its leases; the next start on this host releases them
    (its process is gone), while a live process's and another host's leases are kept."""
    import os
    import socket
    import subprocess
    import sys

    from monitor.service.poll import owner_gone

    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    host = socket.gethostname()
    me = f"{host}:{os.getpid()}:aaaa"
    assert owner_gone(f"{host}:{gone.pid}:bbbb", me)
    assert owner_gone(f"{host}:{os.getpid()}:cccc", me)  # this pid, another incarnation
    assert not owner_gone(me, me)
    assert not owner_gone(f"{host}:{os.getppid()}:dddd", me)  # alive
    assert not owner_gone(f"elsewhere:{gone.pid}:eeee", me)  # another host: its lease expires

    site.routes["/feed.xml"] = Response(rss([story(1, site)]))
    cfg = one_feed(tmp_path, site)
    runtime = prepare(load_settings(cfg))
    start_service(runtime)
    store = Store(runtime.settings.database)
    now = datetime.now(UTC)
    try:
        assert store.claim_feed("Wire", f"{host}:{gone.pid}:bbbb", now, now + timedelta(minutes=15), None)
    finally:
        store.close()
    (report,) = poll(cfg)
    assert not report.leased and report.new == 1


def test_the_page_s_metadata_is_read_only_for_what_the_feed_does_not_give(tmp_path: Path, site: Site) -> None:
    """A page's metadata (about a fifth of an extraction) is read only for what its entry lacks:
    nothing for an entry with its headline, author and date; the author alone, or the date
    alone, for one without it; and the story keeps the entry's values and the page's for the
    rest."""
    from monitor.execute import LocalExecutor
    from monitor.records import Extracted

    page = (
        "<html lang='en'><head><title>Page title</title><meta name='author' content='Page Writer'>"
        "<meta property='article:published_time' content='2026-11-18T08:00:00Z'></head><body><article>"
        + "".join(f"<p>Paragraph {i}: {FILLER}</p>" for i in range(4))
        + "</article></body></html>"
    ).encode()
    creator, dated = (
        "<dc:creator>Feed Writer</dc:creator>",
        "<pubDate>Fri, 20 Nov 2026 09:00:00 +0000</pubDate>",
    )
    items = ""
    for name, given in (("full", creator + dated), ("unsigned", dated), ("undated", creator)):
        site.routes[f"/a/{name}.html"] = Response(page, headers={"Content-Type": "text/html"})
        items += f"<item><title>{name} story</title><link>{site.url(f'/a/{name}.html')}</link>{given}</item>"
    site.routes["/feed.xml"] = Response(
        (
            "<?xml version='1.0'?><rss version='2.0' xmlns:dc='http://purl.org/dc/elements/1.1/'>"
            f"<channel><title>Wire</title><link>http://example.org/</link>{items}</channel></rss>"
        ).encode()
    )
    runtime = prepare(load_settings(one_feed(tmp_path, site)))
    asked: dict[str, frozenset[PageField]] = {}

    class Recording(LocalExecutor):
        """The real executor, noting which of each page's metadata was asked for."""

        async def extract(
            self, content: bytes, url: str, *, metadata: frozenset[PageField] = PAGE_FIELDS
        ) -> Extracted:
            asked[url.rsplit("/", 1)[1]] = metadata
            return await super().extract(content, url, metadata=metadata)

    poll_through(runtime, Recording)
    assert asked == {
        "full.html": frozenset(),
        "unsigned.html": {PageField.AUTHOR},
        "undated.html": {PageField.DATE},
    }
    conn = sqlite3.connect(runtime.settings.database)
    try:
        stored = {
            title: (author, published[:10])
            for title, author, published in conn.execute("SELECT title, author, published_at FROM articles")
        }
    finally:
        conn.close()
    assert stored == {
        "full story": ("Feed Writer", "2026-11-20"),
        "unsigned story": ("Page Writer", "2026-11-20"),
        "undated story": ("Feed Writer", "2026-11-18"),
    }
