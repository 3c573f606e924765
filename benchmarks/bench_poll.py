"""End-to-end poll throughput: N feeds with M entries each, pages and feeds served on loopback.

Measures one full pass (every entry new: page fetch, extraction in the process pool,
classification, one transaction per feed) and a second pass (every feed answers 304), plus the
process's peak memory. Usage: python benchmarks/bench_poll.py [FEEDS] [ENTRIES]
"""

from __future__ import annotations

import asyncio
import resource
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from email.utils import format_datetime
from html import escape
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from monitor.config import Settings
from monitor.pipeline import poll_once, prepare
from monitor.store import Store

PARAGRAPH = (
    "Officials said on Tuesday that the regional council had approved a new programme of road "
    "repairs, school buildings and water projects after months of debate among its members. "
)


def build_site(base: str, feeds: int, entries: int) -> dict[str, bytes]:
    site: dict[str, bytes] = {}
    now = format_datetime(datetime.now(UTC))
    for f in range(feeds):
        items = []
        for e in range(entries):
            path = f"/p/{f}/{e}.html"
            title = f"Story {e} of feed {f}"
            if e == 0 and f % 10 == 0:
                title = f"North Korea fires ballistic missile, feed {f} reports"
            body = "".join(f"<p>{escape(PARAGRAPH)} Item {e}, paragraph {k}.</p>" for k in range(12))
            site[path] = (
                f"<html><head><title>{escape(title)}</title></head><body><nav>Home</nav>"
                f"<article><h1>{escape(title)}</h1>{body}</article><footer>(c)</footer></body></html>"
            ).encode()
            items.append(
                f"<item><title>{escape(title)}</title><link>{base}{path}</link><guid>{base}{path}</guid>"
                f"<pubDate>{now}</pubDate><description>Lead of story {e}.</description></item>"
            )
        site[f"/f/{f}.xml"] = (
            f"<?xml version='1.0'?><rss version='2.0'><channel><title>Feed {f}</title>{''.join(items)}"
            "</channel></rss>"
        ).encode()
    return site


def serve(site: dict[str, bytes]) -> tuple[ThreadingHTTPServer, str]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            body = site.get(self.path)
            if body is None:
                self.send_error(404)
                return
            etag = f'"{hash(body) & 0xFFFFFFFF:x}"'
            if self.headers.get("If-None-Match") == etag:
                self.send_response(304)
                self.send_header("ETag", etag)
                self.end_headers()
                return
            self.send_response(200)
            self.send_header("ETag", etag)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


def main() -> None:
    feeds = int(sys.argv[1]) if len(sys.argv) > 1 else 200
    entries = int(sys.argv[2]) if len(sys.argv) > 2 else 10
    site: dict[str, bytes] = {}
    server, base = serve(site)
    site.update(build_site(base, feeds, entries))
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings.model_validate(
            {
                "database": str(Path(tmp) / "bench.db"),
                "fetch": {"allow_private_addresses": True, "concurrency": 32},
                "extract": {"workers": 2},
                "feeds": [{"name": f"Feed {f}", "url": f"{base}/f/{f}.xml"} for f in range(feeds)],
            }
        )
        runtime = prepare(settings)
        store = Store(settings.database)
        start = time.perf_counter()
        reports, _ = asyncio.run(poll_once(runtime, store))
        first = time.perf_counter() - start
        new = sum(r.new for r in reports)
        start = time.perf_counter()
        reports, _ = asyncio.run(poll_once(runtime, store))
        second = time.perf_counter() - start
        store.close()
    server.shutdown()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"poll: {feeds} feeds x {entries} entries on loopback, 2 extraction processes")
    print(f"  first pass:  {new} new articles in {first:.1f} s = {new / first:,.0f} articles/s")
    not_modified = sum(r.not_modified for r in reports)
    rate = feeds / second
    print(f"  second pass: {not_modified}/{feeds} feeds answered 304 in {second:.2f} s = {rate:,.0f} feeds/s")
    print(f"  peak memory of the polling process: {peak:.0f} MB (extraction workers not included)")


if __name__ == "__main__":
    main()
