"""Re-polling unchanged feeds: N feeds that all answer 304, wall time and the poller's CPU.

The feeds are served on loopback by `page_server` in a process of its own, so the CPU figure
is the poller's alone (its threads included: the single writer, the resolver). The first pass
stores each feed's entries (no links, so no page fetches) and is not measured; the second pass
is, three times, best of three. Issue 17's target: 1,000 feeds in < 2 s and < 1 CPU-second.
Usage: python -m benchmarks.bench_repoll [FEEDS]
"""

from __future__ import annotations

import asyncio
import hashlib
import resource
import sys
import time
from datetime import UTC, datetime
from email.utils import format_datetime
from functools import partial

from benchmarks.bench_poll import polled, served
from monitor.service import poll_once
from tests.loopback import Response, Site


def feed_body(f: int) -> bytes:
    now = format_datetime(datetime.now(UTC))
    items = "".join(
        f"<item><title>Story {e} of feed {f}</title><guid>urn:f{f}:{e}</guid><pubDate>{now}</pubDate>"
        f"<description>The council met on Tuesday to discuss item {e} of the agenda.</description></item>"
        for e in range(5)
    )
    channel = f"<channel><title>Feed {f}</title>{items}</channel>"
    return f"<?xml version='1.0'?><rss version='2.0'>{channel}</rss>".encode()


def unchanged_feeds(site: Site, feeds: int) -> None:
    for f in range(feeds):
        body = feed_body(f)
        site.routes[f"/f/{f}.xml"] = Response(
            body, headers={"ETag": f'"{hashlib.sha1(body).hexdigest()[:16]}"'}
        )


def cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def main() -> None:
    feeds = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    with (
        served(partial(unchanged_feeds, feeds=feeds)) as base,
        polled(base, feeds, workers=0) as (runtime, store),
    ):
        reports, _ = asyncio.run(poll_once(runtime, store))
        stored = sum(r.new for r in reports)
        runs = []
        for _ in range(3):
            wall, used = time.perf_counter(), cpu()
            reports, _ = asyncio.run(poll_once(runtime, store))
            runs.append((time.perf_counter() - wall, cpu() - used))
            assert sum(r.not_modified for r in reports) == feeds, "every feed should answer 304"
    wall, used = min(runs)
    print(f"re-poll: {feeds} unchanged feeds on loopback ({stored} entries stored by the first pass)")
    print(f"  wall {wall:.2f} s (target < 2 s), poller CPU {used:.2f} s (target < 1 s); best of 3")
    print(f"  {feeds / wall:,.0f} feeds/s; {1000 * used / feeds:.2f} ms of CPU per feed")


if __name__ == "__main__":
    main()
