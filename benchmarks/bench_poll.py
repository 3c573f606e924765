"""End-to-end poll throughput: N feeds with M entries each, pages and feeds served on loopback.

Measures one full pass (every entry new: page fetch, extraction in the process pool,
classification, one transaction per feed) and a second pass (every feed answers 304), plus the
process's peak memory. Pages and feeds are served on loopback by `page_server` (ETags, 304).
Usage: python -m benchmarks.bench_poll [FEEDS] [ENTRIES] [PARAGRAPHS]  (12 paragraphs: a 3 KB page;
500: a 100 KB page, the size of a real news page with its markup)
"""

from __future__ import annotations

import asyncio
import hashlib
import multiprocessing
import resource
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from email.utils import format_datetime
from functools import partial
from html import escape
from multiprocessing.connection import Connection
from pathlib import Path

from benchmarks.page_server import serve
from monitor.config import Settings
from monitor.service import Runtime, poll_once, prepare
from monitor.service.grouping import EventGrouping
from monitor.store import Store
from tests.loopback import Response, Site

PARAGRAPH = (
    "Officials said on Tuesday that the regional council had approved a new programme of road "
    "repairs, school buildings and water projects after months of debate among its members. "
)


def page(text: str) -> Response:
    body = text.encode()
    return Response(body, headers={"ETag": f'"{hashlib.sha1(body).hexdigest()[:16]}"'})


def build_site(site: Site, feeds: int, entries: int, paragraphs: int = 12) -> None:
    def article(_f: int, e: int, title: str) -> str:
        body = "".join(f"<p>{escape(PARAGRAPH)} Item {e}, paragraph {k}.</p>" for k in range(paragraphs))
        return (
            f"<html><head><title>{escape(title)}</title></head><body><nav>Home</nav>"
            f"<article><h1>{escape(title)}</h1>{body}</article><footer>(c)</footer></body></html>"
        )

    feeds_of(site, feeds, entries, article)


def feeds_of(site: Site, feeds: int, entries: int, article: Callable[[int, int, str], str]) -> None:
    """``feeds`` feeds of ``entries`` stories each at /f/{f}.xml, the first story of every tenth
    feed a launch; ``article(feed, entry, title)`` is each story's page."""
    base = site.base
    now = format_datetime(datetime.now(UTC))
    for f in range(feeds):
        items = []
        for e in range(entries):
            path = f"/p/{f}/{e}.html"
            title = f"Story {e} of feed {f}"
            if e == 0 and f % 10 == 0:
                title = f"North Korea fires ballistic missile, feed {f} reports"
            site.routes[path] = page(article(f, e, title))
            items.append(
                f"<item><title>{escape(title)}</title><link>{base}{path}</link><guid>{base}{path}</guid>"
                f"<pubDate>{now}</pubDate><description>Lead of story {e}.</description></item>"
            )
        site.routes[f"/f/{f}.xml"] = page(
            f"<?xml version='1.0'?><rss version='2.0'><channel><title>Feed {f}</title>{''.join(items)}"
            "</channel></rss>"
        )


# The corpus's real article pages, for the benchmarks that poll them (first poll, steady state,
# Celery). Defined here, beside the site, so that a benchmark measuring the daemon's process does
# not import the Celery benchmark (redis, celery) into it.
CORPUS_HTML = Path(__file__).resolve().parent.parent.parent / "shared" / "corpus" / "html"


def corpus_site(site: Site, feeds: int, entries: int) -> None:
    """``feeds`` feeds of ``entries`` stories each, whose pages are the corpus's real article
    pages (50-150 KB of markup around a few KB of text), taken in turn."""
    pages = [p.read_bytes().decode("utf-8", "replace") for p in sorted(CORPUS_HTML.glob("*/source.html"))]
    feeds_of(site, feeds, entries, lambda f, e, _title: pages[(f * entries + e) % len(pages)])


def _serve(routes: Callable[[Site], None], pipe: Connection) -> None:
    site = Site()  # its routes and its listening socket, served by the lean server
    routes(site)
    serve(site, ready=lambda: pipe.send(site.base), stop=pipe.recv)  # until the parent is done
    site.server.server_close()


@contextmanager
def served(routes: Callable[[Site], None]) -> Iterator[str]:
    """A loopback site in a process of its own (so this process's memory and CPU are the
    poller's alone), with the routes ``routes`` registers, served by ``page_server`` (as nginx
    would: next to no CPU); yields its base URL. Spawned, not
    forked: a forked server shares this process's pages (20 MB before a first poll), and the
    proportional sizes the memory benchmarks report would count half of them to the server
    they leave out."""
    parent, child = multiprocessing.Pipe()
    server = multiprocessing.get_context("spawn").Process(target=_serve, args=(routes, child), daemon=True)
    server.start()
    try:
        yield parent.recv()
    finally:
        parent.send("done")
        server.join(timeout=10)


@contextmanager
def polled(base: str, feeds: int, workers: int) -> Iterator[tuple[Runtime, Store]]:
    """The configuration and database the daemon would have for ``feeds`` feeds at ``base``."""
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings.model_validate(
            {
                "database": str(Path(tmp) / "bench.db"),
                "fetch": {"allow_private_addresses": True, "concurrency": 32},
                "extract": {"workers": workers},
                "feeds": [{"name": f"Feed {f}", "url": f"{base}/f/{f}.xml"} for f in range(feeds)],
            }
        )
        store = Store(settings.database, grouping=EventGrouping(settings))  # as the daemon
        try:
            yield prepare(settings), store
        finally:
            store.close()


def main() -> None:
    feeds = int(sys.argv[1]) if len(sys.argv) > 1 else 200
    entries = int(sys.argv[2]) if len(sys.argv) > 2 else 10
    paragraphs = int(sys.argv[3]) if len(sys.argv) > 3 else 12
    site = partial(build_site, feeds=feeds, entries=entries, paragraphs=paragraphs)
    with served(site) as base, polled(base, feeds, workers=2) as (runtime, store):
        start = time.perf_counter()
        reports, _ = asyncio.run(poll_once(runtime, store))
        first = time.perf_counter() - start
        new = sum(r.new for r in reports)
        start = time.perf_counter()
        reports, _ = asyncio.run(poll_once(runtime, store))
        second = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"poll: {feeds} feeds x {entries} entries of {paragraphs} paragraphs on loopback, "
        "2 extraction workers"
    )
    print(f"  first pass:  {new} new articles in {first:.1f} s = {new / first:,.0f} articles/s")
    not_modified = sum(r.not_modified for r in reports)
    rate = feeds / second
    print(f"  second pass: {not_modified}/{feeds} feeds answered 304 in {second:.2f} s = {rate:,.0f} feeds/s")
    print(f"  peak memory of the polling process: {peak:.0f} MB (extraction workers not included)")


if __name__ == "__main__":
    main()
