"""Alert latency: from a story's publication to its alert's delivery, through the daemon.

F feeds (default 50) are polled every 60 s (the default jitter, capped at a tenth of the
interval). Each publishes S launch reports (default 2) at random moments of a window (default
180 s): the story appears in its feed, with its page, at that moment. The daemon runs in this
process and alerts the tests' json:// receiver on loopback, which notes when each alert arrives. Latency
is arrival minus publication: the wait for the feed's next poll, the page's fetch and extraction,
classification, storage and delivery. Event grouping is off (a Store without it), so that every
story is an alert of its own; grouping adds milliseconds per story (``bench_events``).
Issue 17's target: p95 <= 75 s at a 60 s interval.
Usage: python -m benchmarks.bench_latency [FEEDS] [STORIES_PER_FEED] [WINDOW_SECONDS]
"""

from __future__ import annotations

import asyncio
import json
import random
import statistics
import sys
import tempfile
import time
from functools import partial
from html import escape
from pathlib import Path

from benchmarks.bench_poll import served
from monitor.config import Settings
from monitor.daemon import Daemon
from monitor.service import prepare
from monitor.store import Store
from tests.loopback import Receiver, Request, Response, Site, article_page

INTERVAL = 60
LEAD = 15.0  # seconds from the daemon's start to the first publication
TAIL = 2 * INTERVAL  # seconds after the last publication for its alert to arrive
PLACES = ["Sinpo", "Wonsan", "Pyongyang", "Hamhung", "Kaesong", "Nampo", "Chongjin", "Sinuiju"]


def schedule(feeds: int, stories: int, window: float, seed: int = 17) -> dict[tuple[int, int], float]:
    """Seconds after the start at which feed f publishes its story k."""
    rng = random.Random(seed)
    return {(f, k): LEAD + rng.uniform(0, window) for f in range(feeds) for k in range(stories)}


def headline(f: int, k: int) -> str:
    return f"North Korea fires ballistic missile from {PLACES[(f + k) % len(PLACES)]}, report {f}-{k}"


def build(site: Site, plan: dict[tuple[int, int], float], start: float) -> None:
    """Feeds whose items appear at their planned moments (wall clock, shared with the parent)."""
    feeds = {f for f, _ in plan}
    for (f, k), _at in plan.items():
        text = [
            f"North Korea fired a ballistic missile from near {PLACES[(f + k) % len(PLACES)]} into the sea "
            "east of the Korean Peninsula, South Korea's Joint Chiefs of Staff said.",
            "The missile flew about 600 kilometres before landing outside Japan's exclusive economic zone.",
        ]
        site.routes[f"/p/{f}/{k}.html"] = Response(article_page(headline(f, k), text))

    def feed(f: int, _req: Request) -> Response:
        now = time.time()
        items = "".join(
            f"<item><title>{escape(headline(ff, k))}</title><link>{site.base}/p/{ff}/{k}.html</link>"
            f"<guid>{site.base}/p/{ff}/{k}.html</guid><pubDate>{_rfc822(start + at)}</pubDate></item>"
            for (ff, k), at in sorted(plan.items(), key=lambda kv: -kv[1])
            if ff == f and start + at <= now
        )
        channel = f"<channel><title>Feed {f}</title>{items}</channel>"
        body = f"<?xml version='1.0'?><rss version='2.0'>{channel}</rss>"
        return Response(body.encode(), headers={"ETag": f'"{f}-{len(items)}"'})

    for f in feeds:
        site.routes[f"/f/{f}.xml"] = partial(feed, f)


def _rfc822(ts: float) -> str:
    return time.strftime("%a, %d %b %Y %H:%M:%S +0000", time.gmtime(ts))


def latencies(plan: dict[tuple[int, int], float], start: float, inbox: Receiver) -> list[float]:
    """Seconds from publication to arrival, per story alerted (by the report number in its text)."""
    found = []
    received = list(zip(inbox.arrivals, inbox.posts, strict=True))
    for (f, k), at in plan.items():
        mark = f"report {f}-{k}"
        arrived = [when for when, post in received if mark in json.dumps(post)]
        if arrived:
            found.append(min(arrived) - (start + at))
    return found


async def run_daemon(settings: Settings, store: Store, seconds: float) -> None:
    """Run the daemon (as the main task, the way the CLI does) and stop it after ``seconds``."""
    daemon = Daemon(prepare(settings), store)
    asyncio.get_running_loop().call_later(seconds, daemon.stop)
    await daemon.run()


def main() -> None:
    feeds = int(sys.argv[1]) if len(sys.argv) > 1 else 50
    stories = int(sys.argv[2]) if len(sys.argv) > 2 else 2
    window = float(sys.argv[3]) if len(sys.argv) > 3 else 180.0
    plan = schedule(feeds, stories, window)
    start = time.time()
    inbox = Receiver()
    with served(partial(build, plan=plan, start=start)) as base, tempfile.TemporaryDirectory() as tmp:
        settings = Settings.model_validate(
            {
                "database": str(Path(tmp) / "latency.db"),
                "fetch": {"allow_private_addresses": True},
                "extract": {"workers": 1},
                "feeds": [
                    {"name": f"Feed {f}", "url": f"{base}/f/{f}.xml", "interval": f"{INTERVAL}s"}
                    for f in range(feeds)
                ],
                "notify": [{"name": "hook", "url": inbox.url}],
                "alerts": {"burst_limit": 1000},
            }
        )
        store = Store(settings.database)
        try:
            asyncio.run(run_daemon(settings, store, start + LEAD + window + TAIL - time.time()))
        finally:
            store.close()
    inbox.server.shutdown()
    found = sorted(latencies(plan, start, inbox))
    p95 = found[min(len(found) - 1, int(0.95 * len(found)))] if found else float("nan")
    print(f"alert latency: {feeds} feeds every {INTERVAL} s, {len(plan)} launch reports over {window:.0f} s")
    median = statistics.median(found)
    print(f"  alerted {len(found)}/{len(plan)}; publication to delivery: median {median:.1f} s,")
    print(f"  p95 {p95:.1f} s (target <= 75 s), max {found[-1]:.1f} s")


if __name__ == "__main__":
    main()
