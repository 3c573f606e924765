"""Hostile input: XML attacks, resource limits, server-side request forgery, ill-formed feeds.
Each test fails if the protection it covers is removed."""

from __future__ import annotations

import asyncio
import gzip
import ipaddress
import json
import os
import random
import re
import signal
import socket
import sqlite3
import subprocess
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from monitor.config import FetchSettings, load_settings
from monitor.fetch import Fetcher, address_is_blocked
from monitor.records import FeedErrorKind, FetchResult
from monitor.service import poll_once, prepare
from monitor.stages.parse import parse_feed
from monitor.store import Store
from tests.conftest import MONITOR, ROOT, write_config
from tests.loopback import Response, Site, rss, story
from tests.test_cli import monitor
from tests.test_poll import poll, rows

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE rss [
 <!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<rss version="2.0"><channel><title>t</title><item><title>Bomb &lol9;</title>
<link>http://example.org/a</link><description>x</description></item></channel></rss>"""


def quadratic() -> bytes:
    big = b"A" * 100_000
    refs = b"&a;" * 10_000  # 1 GB if expanded
    return (
        b'<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY a "' + big + b'">]>'
        b"<rss version='2.0'><channel><title>t</title><item><title>Q</title><link>http://example.org/q</link>"
        b"<description>" + refs + b"</description></item></channel></rss>"
    )


def test_billion_laughs_is_not_expanded() -> None:
    parsed = parse_feed(BILLION_LAUGHS, url="http://example.org/feed")
    assert parsed.error and "entity declarations removed" in parsed.error
    assert all("lollol" not in e.title + e.summary for e in parsed.entries)
    assert sum(len(e.title) + len(e.summary) for e in parsed.entries) < 1000


def test_quadratic_blowup_is_not_expanded() -> None:
    parsed = parse_feed(quadratic(), url="http://example.org/feed")
    assert parsed.error and "entity declarations removed" in parsed.error
    assert sum(len(e.summary) for e in parsed.entries) < 100_000


def test_external_entities_read_no_file_and_no_url(tmp_path: Path, site: Site) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-MARKER")
    feed = (
        f'<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY file SYSTEM "file://{secret}">'
        f'<!ENTITY web SYSTEM "{site.url("/xxe")}">]>'
        "<rss version='2.0'><channel><title>t</title><item><title>Leak &file; &web;</title>"
        "<link>http://example.org/x</link><description>d &file;</description></item></channel></rss>"
    ).encode()
    parsed = parse_feed(feed, url="http://example.org/feed")
    assert all("TOP-SECRET" not in e.title + e.summary for e in parsed.entries)
    assert not site.hits("/xxe")
    assert parsed.error and "entity declarations removed" in parsed.error


def test_short_literal_entities_still_work() -> None:
    feed = (
        b"<!DOCTYPE rss [<!ENTITY id 'tag:example.com,'>]><rss version='2.0'><channel><title>t</title>"
        b"<item><title>T</title><guid isPermaLink='false'>&id;2026:/a</guid></item></channel></rss>"
    )
    (entry,) = parse_feed(feed, url="http://example.org/feed").entries
    assert entry.identity == "tag:example.com,2026:/a"


def test_gzip_bomb_is_cut_off_at_the_decompressed_cap(tmp_path: Path, site: Site) -> None:
    bomb = gzip.compress(b"<rss>" + b" " * 50_000_000)  # ~50 KB on the wire, 50 MB inflated
    assert len(bomb) < 200_000
    site.routes["/bomb.xml"] = Response(bomb, headers={"Content-Encoding": "gzip"})
    site.routes["/ok.xml"] = Response(rss([story(1, site)]))
    cfg = write_config(
        tmp_path,
        feeds=[{"name": "Bomb", "url": site.url("/bomb.xml")}, {"name": "Ok", "url": site.url("/ok.xml")}],
        fetch={"max_feed_bytes": "1MB"},
    )
    reports = {r.feed: r for r in poll(cfg)}
    assert reports["Bomb"].error and "cap" in reports["Bomb"].error
    assert reports["Ok"].new == 1


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "127.5.5.5",
        "10.1.2.3",
        "172.16.0.9",
        "192.168.1.1",
        "169.254.169.254",
        "100.64.0.1",
        "0.0.0.0",
        "224.0.0.1",
        "240.0.0.1",
        "255.255.255.255",
        "::1",
        "::",
        "fe80::1",
        "fc00::1",
        "ff02::1",
        "::ffff:127.0.0.1",
        "::ffff:10.0.0.1",
        "2002:7f00:1::",
        "64:ff9b::7f00:1",
        "fec0::1",  # IPv6 site-local (deprecated, still routed inside some networks)
        "fec0:0:0:1::5",
        "::ffff:0:7f00:1",  # SIIT IPv4-translated 127.0.0.1
        "64:ff9b:1::a00:1",  # local-use NAT64 (RFC 8215)
        "198.18.0.1",
        "2001:db8::1",
    ],
)
def test_non_public_addresses_are_blocked(address: str) -> None:
    assert address_is_blocked(ipaddress.ip_address(address))


@pytest.mark.parametrize("address", ["93.184.216.34", "8.8.8.8", "2606:4700:4700::1111"])
def test_public_addresses_are_allowed(address: str) -> None:
    assert not address_is_blocked(ipaddress.ip_address(address))


def test_ssrf_spellings_never_reach_the_internal_server(site: Site) -> None:
    """Every spelling of loopback (names, IPv6, decimal, octal, hex, short forms) is refused by
    the guarded client before a connection is made: the server sees no request."""
    port = site.server.server_address[1]
    site.routes["/internal"] = Response(b"secret admin page")
    hosts = [
        "127.0.0.1",
        "localhost",
        "LOCALHOST.",
        "[::1]",
        "[::ffff:127.0.0.1]",
        "2130706433",
        "0x7f000001",
        "0177.0.0.1",
        "127.1",
        "0x7f.0.0.1",
        "[0:0:0:0:0:ffff:7f00:1]",
    ]

    async def go() -> list[str | None]:
        async with Fetcher(FetchSettings(timeout=5)) as fetcher:
            return [(await fetcher.fetch_page(f"http://{h}:{port}/internal")).error for h in hosts]

    errors = asyncio.run(go())
    assert all(errors), dict(zip(hosts, errors, strict=True))
    assert not site.hits("/internal")


@pytest.mark.parametrize(
    "url", ["file:///etc/passwd", "ftp://127.0.0.1/x", "gopher://127.0.0.1:70/_x", "data:,hi"]
)
def test_other_schemes_are_refused(url: str) -> None:
    async def go() -> str | None:
        async with Fetcher(FetchSettings(timeout=5)) as fetcher:
            return (await fetcher.fetch_page(url)).error

    error = asyncio.run(go())
    assert error and "refused scheme" in error


def test_the_test_seams_keep_the_guard(site: Site) -> None:
    """The test seams (names answered without DNS, dialling limited to loopback) replace the
    network, never the guard: a link or a redirect to an internal address is still refused, and
    its kind recorded."""
    port = site.server.server_address[1]
    site.routes["/hop"] = Response(b"", 302, {"Location": f"http://127.0.0.1:{port}/internal"})
    site.routes["/internal"] = Response(b"secret")

    async def go() -> tuple[FetchResult, FetchResult]:
        fetcher = Fetcher(FetchSettings(timeout=5), resolver=public_dns, socket_factory=loopback_only)
        async with fetcher:
            return await fetcher.fetch_page(site.url("/internal")), await fetcher.fetch_feed(site.url("/hop"))

    page, feed = asyncio.run(go())
    assert page.error and "non-public address 127.0.0.1" in page.error
    assert page.error_kind is FeedErrorKind.BLOCKED
    assert feed.error and "non-public" in feed.error and feed.error_kind is FeedErrorKind.BLOCKED
    assert site.hits("/hop") and not site.hits("/internal")


def test_an_unparseable_link_costs_one_article_not_the_feed(tmp_path: Path, site: Site) -> None:
    site.routes["/feed.xml"] = Response(
        rss([{"title": "Odd link", "link": "http://0177.0.0.1/x", "guid": "urn:odd"}, story(1, site)])
    )
    report = poll(write_config(tmp_path, feeds=[{"name": "Wire", "url": site.url("/feed.xml")}]))[0]
    assert report.error is None and report.new == 2
    status = {
        guid: (kind, detail)
        for guid, kind, detail in rows(
            tmp_path / "monitor.db", "SELECT guid, extraction_status, extraction_detail FROM articles"
        )
    }
    assert status["urn:odd"][0] == "fetch_failed" and status["urn:odd"][1].startswith("invalid URL")
    assert status["urn:test:1"] == ("ok", None)


def test_redirect_into_the_internal_network_is_refused(site: Site) -> None:
    port = site.server.server_address[1]
    site.routes["/hop"] = Response(b"", 302, {"Location": f"http://[::1]:{port}/internal"})
    site.routes["/internal"] = Response(b"secret")

    async def go() -> str | None:
        # The first hop is trusted (a configured feed); the redirect it answers is not.
        async with Fetcher(FetchSettings(timeout=5)) as fetcher:
            return (await fetcher.fetch_feed(site.url("/hop"))).error

    error = asyncio.run(go())
    assert error and "non-public" in error
    assert not site.hits("/internal")


def test_terminal_control_sequences_in_titles_are_neutralised(
    tmp_path: Path, site: Site, cli_env: dict[str, str]
) -> None:
    site.routes["/feed.xml"] = Response(rss([story(1, site)], title="t"))
    cfg = write_config(
        tmp_path, feeds=[{"name": "Evil\x1b[2J\x1b]0;pwned\x07 wire", "url": site.url("/feed.xml")}]
    )
    result = monitor("poll", "--config", str(cfg), env=cli_env)
    assert result.returncode == 0, result.stderr
    assert "\x1b" not in result.stdout and "\x07" not in result.stdout


def test_a_reader_holding_the_database_never_fails_a_poll(tmp_path: Path, site: Site) -> None:
    site.routes["/feed.xml"] = Response(rss([story(i, site) for i in range(3)]))
    cfg = write_config(tmp_path, feeds=[{"name": "Wire", "url": site.url("/feed.xml")}])
    poll(cfg)  # create the database
    reader = sqlite3.connect(tmp_path / "monitor.db")
    reader.execute("BEGIN")
    assert reader.execute("SELECT count(*) FROM articles").fetchone()[0] == 3  # holds a read snapshot
    site.routes["/feed.xml"] = Response(rss([story(i, site) for i in range(6)]))
    report = poll(cfg)[0]
    assert report.error is None and report.new == 3
    reader.rollback()
    reader.close()


def loopback_only(info: tuple) -> socket.socket:
    """The socket factory of the tests' fetchers: real sockets to loopback; anything else (the
    public internet, absent here) is refused without touching the network."""
    family, kind, proto, _, address = info
    if address[0] not in ("127.0.0.1", "::1"):
        raise OSError(101, f"public internet not reachable in tests: {address[0]}")
    return socket.socket(family, kind, proto)


async def public_dns(host: str, port: int) -> list[str]:
    """Every name resolves to one public address, without a DNS query: the guard lets it
    through and ``loopback_only`` then refuses to connect, so nothing leaves the machine."""
    return ["127.0.0.1"] if host == "localhost" else ["93.184.216.34"]


def test_every_real_and_illformed_feed_gets_a_status(tmp_path: Path, site: Site, corpus: Path) -> None:
    """Serve every real, ill-formed and malicious feed of the corpus to one poll: nothing
    crashes or stalls, every feed gets a status, entries are stored wherever feedparser
    recovers them."""
    manifest = json.loads((corpus / "manifest.json").read_text())
    files = [r for r in manifest if r["kind"] in ("feed", "illformed_feed")]
    assert len(files) > 250
    feeds = []
    for n, record in enumerate(files):
        path = f"/corpus/{n}.xml"
        declared = [h.split(":", 1) for h in record.get("http_headers") or [] if ":" in h]
        headers = {k.strip(): v.strip() for k, v in declared if k.strip().lower() == "content-type"}
        site.routes[path] = Response((corpus / record["file"]).read_bytes(), headers=headers)
        feeds.append({"name": f"{n} {record['file'].rsplit('/', 1)[-1]}", "url": site.url(path)})
    cfg = write_config(tmp_path, feeds=feeds, fetch={"timeout": "10s", "allow_private_addresses": False})
    runtime = prepare(load_settings(cfg))
    store = Store(runtime.settings.database)
    try:
        fetcher = Fetcher(runtime.settings.fetch, resolver=public_dns, socket_factory=loopback_only)
        reports, _ = asyncio.run(poll_once(runtime, store, fetcher=fetcher))
    finally:
        store.close()
    assert len(reports) == len(files)
    db = tmp_path / "monitor.db"
    assert rows(db, "SELECT count(*) FROM feeds WHERE last_polled_at IS NULL") == [(0,)]
    per_feed = (
        "SELECT feeds.name, count(articles.id) FROM feeds "
        "LEFT JOIN articles ON articles.feed = feeds.id GROUP BY feeds.id"
    )
    stored = dict(rows(db, per_feed))
    recovered = [
        f"{n} {r['file'].rsplit('/', 1)[-1]}"
        for n, r in enumerate(files)
        if (r.get("feedparser") or {}).get("entries", 0) > 0 and r["kind"] == "feed"
    ]
    assert all(stored[name] > 0 for name in recovered), [n for n in recovered if not stored[n]]
    assert rows(db, "PRAGMA integrity_check") == [("ok",)]


@pytest.mark.slow
def test_random_sigkills_during_polls_end_in_the_same_database_as_a_clean_run(
    tmp_path: Path, site: Site, cli_env: dict[str, str]
) -> None:
    items = [story(i, site, title=f"Story {i}") for i in range(15)]
    for i in range(15):
        route = site.routes[f"/a/{i}.html"]
        assert isinstance(route, Response)
        route.delay = 0.1
    site.routes["/feed.xml"] = Response(rss(items), headers={"ETag": '"v"'})
    site.routes["/two.xml"] = Response(rss([*items[5:], story(20, site, title="Story 20")]))
    feeds = [{"name": "One", "url": site.url("/feed.xml")}, {"name": "Two", "url": site.url("/two.xml")}]

    clean_dir = tmp_path / "clean"
    clean_dir.mkdir()
    clean_cfg = write_config(clean_dir, feeds=feeds)
    assert monitor("poll", "--config", str(clean_cfg), env=cli_env).returncode == 0

    killed_dir = tmp_path / "killed"
    killed_dir.mkdir()
    cfg = write_config(killed_dir, feeds=feeds, fetch={"concurrency": 2})
    rng = random.Random(7)
    for _ in range(6):
        proc = subprocess.Popen(
            [*MONITOR, "poll", "--config", str(cfg)],
            env=cli_env,
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        time.sleep(rng.uniform(0.3, 1.6))
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    assert monitor("poll", "--config", str(cfg), env=cli_env).returncode == 0

    def snapshot(db: Path) -> list[tuple[str, str, str]]:
        return sorted(rows(db, "SELECT guid, url, title FROM articles"))

    assert snapshot(killed_dir / "monitor.db") == snapshot(clean_dir / "monitor.db")
    assert len(snapshot(clean_dir / "monitor.db")) == 16
    assert rows(killed_dir / "monitor.db", "PRAGMA integrity_check") == [("ok",)]


@pytest.mark.parametrize("delay", [1.5, 0.0], ids=["next page later", "next page queued behind it"])
def test_pathological_page_is_stopped_at_its_time_budget(tmp_path: Path, site: Site, delay: float) -> None:
    """A page that takes seconds to extract is cut off at extract.timeout: its worker is killed,
    the article keeps its summary, and extraction goes on working for the next pages, including
    one that was waiting in the killed pool (it gets a go on the new one)."""
    huge = "<html><body>" + "<div><p>Paragraph with words in it, officials said today.</p></div>" * 25_000
    site.routes["/slow.html"] = Response((huge + "</body></html>").encode())
    items = [
        {"title": "Slow page", "link": site.url("/slow.html"), "guid": "urn:slow", "description": "Lead."}
    ]
    site.routes["/feed.xml"] = Response(rss(items))
    site.routes["/feed2.xml"] = Response(rss([story(1, site)]))
    page = site.routes["/a/1.html"]
    assert isinstance(page, Response)
    page.delay = delay  # 1.5: arrives after the slow page has used up its budget
    cfg = write_config(
        tmp_path,
        feeds=[
            {"name": "Wire", "url": site.url("/feed.xml")},
            {"name": "Next", "url": site.url("/feed2.xml")},
        ],
        extract={"workers": 1, "timeout": "0.3s"},
        fetch={"max_page_bytes": "10MB"},
    )
    poll(cfg)  # one worker: without the kill, the second page would queue behind the first
    status = rows(
        tmp_path / "monitor.db",
        "SELECT guid, extraction_status, extraction_detail FROM articles ORDER BY guid",
    )
    assert status == [("urn:slow", "timed_out", "0.3s"), ("urn:test:1", "ok", None)]


@pytest.mark.slow
def poll_with_peak_memory(cfg: Path, env: dict[str, str]) -> tuple[int, int, str]:
    """Run `monitor poll` in a child of a child: (exit code, peak RSS in MB, its output)."""
    wrapper = (
        "import resource, subprocess, sys\n"
        f"r = subprocess.run({[*MONITOR, 'poll', '--config', str(cfg)]!r}, capture_output=True, text=True)\n"
        "print(r.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss // 1024)\n"
        "print(r.stdout)\n"
    )
    out = subprocess.run([MONITOR[0], "-c", wrapper], capture_output=True, text=True, env=env, cwd=ROOT)
    code, peak_mb = (int(x) for x in out.stdout.split()[:2])
    return code, peak_mb, out.stdout + out.stderr


def test_memory_stays_bounded_against_endless_responses(
    tmp_path: Path, site: Site, cli_env: dict[str, str]
) -> None:
    """Eight feeds that stream without end (gigabytes within the deadline, if nothing stopped
    them) are each cut at the cap: the poll's peak memory stays within the stated bound of
    baseline + concurrency x cap x a small factor."""
    for i in range(8):
        site.routes[f"/endless{i}.xml"] = Response(endless=True)
    site.routes["/ok.xml"] = Response(rss([story(1, site)]))
    feeds = [{"name": f"Endless {i}", "url": site.url(f"/endless{i}.xml")} for i in range(8)]
    cfg = write_config(
        tmp_path,
        feeds=[*feeds, {"name": "Ok", "url": site.url("/ok.xml")}],
        fetch={"max_feed_bytes": "8MB", "concurrency": 8, "timeout": "10s"},
    )
    code, peak_mb, stdout = poll_with_peak_memory(cfg, cli_env)
    assert code == 0, stdout
    assert "9 feeds polled, 8 failed, 1 new articles" in stdout
    assert stdout.count("exceeds cap") == 8
    # baseline (~100 MB with trafilatura and apprise loaded) + 8 x 8 MB in flight, with room for
    # decoding and copies; an uncapped run would hold gigabytes.
    print(f"peak RSS {peak_mb} MB")
    assert peak_mb < 400, f"peak RSS {peak_mb} MB"


def test_the_checked_address_is_the_one_dialled_so_dns_rebinding_cannot_slip_through(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A rebinding resolver answers a public address to the check and loopback afterwards. The
    guarded session resolves once, checks, and dials the address it checked: no second lookup
    happens. (The public DNS cannot exist here, so the system resolver is the one stand-in.)"""
    answers = iter(["93.184.216.34", "127.0.0.1", "127.0.0.1"])
    lookups: list[str] = []

    async def rebinding_getaddrinfo(self: object, host: str, port: int, **kwargs: object) -> list[tuple]:
        lookups.append(host)
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (next(answers), port))]

    monkeypatch.setattr(asyncio.BaseEventLoop, "getaddrinfo", rebinding_getaddrinfo)
    dialled: list[str] = []

    def recorder(info: tuple) -> socket.socket:
        dialled.append(info[4][0])
        raise OSError(101, "recorded, not connected")

    async def fetch() -> FetchResult:
        async with Fetcher(FetchSettings(timeout=5), socket_factory=recorder) as fetcher:
            return await fetcher.fetch_page("http://rebind.example/")

    first = asyncio.run(fetch())
    assert first.error_kind is FeedErrorKind.CONNECTION and first.error and "recorded" in first.error
    second = asyncio.run(fetch())  # the next answer is loopback: refused before any dial
    assert second.error_kind is FeedErrorKind.BLOCKED
    assert dialled == ["93.184.216.34"] and lookups == ["rebind.example", "rebind.example"]


def test_a_feed_url_learnt_from_a_permanent_redirect_keeps_the_guard(tmp_path: Path, site: Site) -> None:
    """The user trusted the URL they wrote, not wherever it later moved: a stored redirect target
    (as a 301 leaves it in feeds.url) that points inside the network is refused, not fetched."""
    site.routes["/feed.xml"] = Response(rss([story(1, site)]))
    site.routes["/internal.xml"] = Response(rss([story(2, site)]))
    cfg = write_config(
        tmp_path,
        feeds=[{"name": "Wire", "url": site.url("/feed.xml")}],
        fetch={"allow_private_addresses": False},
    )
    poll(cfg)
    assert site.hits("/feed.xml")
    moved = site.url("/internal.xml").replace("127.0.0.1", "localhost")
    conn = sqlite3.connect(tmp_path / "monitor.db")
    conn.execute("UPDATE feeds SET url = ?, etag = NULL, last_modified = NULL", [moved])
    conn.commit()
    conn.close()
    report = poll(cfg)[0]
    assert not site.hits("/internal.xml")
    assert report.error and "non-public" in report.error and report.error_kind is FeedErrorKind.BLOCKED


def test_markdown_in_a_link_and_control_characters_in_text(tmp_path: Path, site: Site) -> None:
    """A link crafted as markdown stays a plain link in the alert (its brackets percent-encoded),
    and ESC and right-to-left override characters never reach the database."""
    from monitor.notify import render
    from monitor.records import Alert, Verdict

    crafted = "https://news.example/a/[Verify your account](https://phish.example/login)"
    site.routes["/feed.xml"] = Response(
        rss(
            [
                {
                    "title": "Breaking\x1b[2J\x1b[31m North Korea fires \u202egpj.exe missiles",
                    "link": crafted,
                    "guid": "urn:crafted",
                    "description": "Lead\x07 text\u2066 here.",
                }
            ]
        )
    )
    poll(write_config(tmp_path, feeds=[{"name": "Wire", "url": site.url("/feed.xml")}]))
    ((title, summary, text),) = rows(tmp_path / "monitor.db", "SELECT title, summary, text FROM articles")
    for stored in (title, summary, text):
        assert not re.search(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]", stored), stored
    assert title == "Breaking[2J[31m North Korea fires gpj.exe missiles"
    alert = Alert(
        id=1,
        article_id=1,
        channel="c",
        title=title,
        url=crafted,
        feed_name="Wire",
        published_at=None,
        matches=(Verdict(topic="missile_launch", score=0.9, flagged=True),),
    )
    _, body = render(alert)
    assert "[Verify your account](https://phish.example/login)" not in body
    assert body.endswith(
        "https://news.example/a/%5BVerify%20your%20account%5D%28https://phish.example/login%29"
    )


def test_a_feed_of_hanging_links_cannot_starve_the_others(tmp_path: Path, site: Site) -> None:
    """A feed of 40 links that all hang, polled beside a healthy feed: the hostile feed gets its
    share of the network (fetch.per_feed_concurrency), takes at most fetch.max_new_entries
    entries a poll (the rest on the next poll), and the healthy feed is done at once."""
    hanging = []
    for i in range(40):
        site.routes[f"/hang/{i}.html"] = Response(b"", delay=30)
        hanging.append({"title": f"Story {i}", "link": site.url(f"/hang/{i}.html"), "guid": f"urn:hang:{i}"})
    site.routes["/hostile.xml"] = Response(rss(hanging))
    site.routes["/good.xml"] = Response(rss([story(1, site)]), delay=0.3)  # after the hostile links queue
    cfg = write_config(
        tmp_path,
        feeds=[
            {"name": "Hostile", "url": site.url("/hostile.xml")},
            {"name": "Good", "url": site.url("/good.xml")},
        ],
        fetch={"timeout": "1s", "concurrency": 4, "per_feed_concurrency": 2, "max_new_entries": 10},
    )
    reports = {r.feed: r for r in poll(cfg)}
    good, hostile = reports["Good"], reports["Hostile"]
    assert good.new == 1 and good.duration < 3, good  # not queued behind 40 hanging pages
    assert (hostile.new, hostile.deferred) == (10, 30)
    assert len(site.hits("/good.xml")) == 1
    ((next_poll,),) = rows(tmp_path / "monitor.db", "SELECT next_poll_at FROM feeds WHERE name = 'Hostile'")
    wait = datetime.fromisoformat(next_poll.replace("Z", "+00:00")) - datetime.now(UTC)
    assert wait.total_seconds() < 90  # back in a minute for the rest, not after the 15 min interval
    second = {r.feed: r for r in poll(cfg)}["Hostile"]
    assert (second.new, second.deferred) == (10, 20)  # the next poll takes the next ten


def test_a_feed_of_100000_items_costs_little_memory_and_alerts_a_bounded_few(
    tmp_path: Path, site: Site, cli_env: dict[str, str]
) -> None:
    """A 9 MB feed of 100,000 flagged items: the poll's memory stays near that of a poll of a
    hundred (only the first thousand items are parsed), at most alerts.max_per_poll alerts are
    queued, and what was not taken is counted on the feed."""

    def feed(n: int) -> bytes:
        items = "".join(
            f"<item><title>North Korea fires ballistic missile {i}</title><guid>urn:flood:{i}</guid></item>"
            for i in range(n)
        )
        channel = f"<channel><title>Flood</title>{items}</channel>"
        return f"<?xml version='1.0'?><rss version='2.0'>{channel}</rss>".encode()

    site.routes["/flood.xml"] = Response(feed(100_000))
    site.routes["/hundred.xml"] = Response(feed(100))
    assert len(site.routes["/flood.xml"].body) > 8_000_000  # type: ignore[union-attr]
    peaks = {}
    for name in ("hundred", "flood"):
        folder = tmp_path / name
        folder.mkdir()
        cfg = write_config(
            folder,
            feeds=[{"name": "Flood", "url": site.url(f"/{name}.xml")}],
            notify=[{"name": "ops", "url": "json://127.0.0.1:9/none"}],
            # Per story, so that alerts.max_per_poll is what bounds them (per event: one alert).
            alerts={"max_attempts": 1, "per": "story"},
        )
        code, peaks[name], stdout = poll_with_peak_memory(cfg, cli_env)
        assert code == 0, stdout
    print(f"peak RSS {peaks}")
    # Measured: 144 MB and 154 MB (the same stories classified, stored and grouped); with all
    # 100,000 items parsed, 100 MB more. The baseline moves with the machine; the difference not.
    assert peaks["flood"] - peaks["hundred"] < 40, peaks
    tmp_path = tmp_path / "flood"
    db = tmp_path / "monitor.db"
    assert rows(db, "SELECT count(*) FROM articles") == [(100,)]  # fetch.max_new_entries
    assert rows(db, "SELECT count(*) FROM alerts") == [(20,)]  # alerts.max_per_poll
    assert rows(db, "SELECT last_skipped FROM feeds") == [(99_000,)]
