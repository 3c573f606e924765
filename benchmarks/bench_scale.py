"""The daemon with many feeds, all unchanged: its CPU share and how late polls start.

N feeds (default 10,000) at one interval (default 5 minutes) answer 304 from a loopback server in
a process of its own. A first pass stores each feed's entry and ETag (not measured); then every
feed's next poll is spread evenly over one interval, the state a daemon reaches after running a
while, and the daemon itself (scheduler, leases, polls, the database thread) runs for a window
(default 120 s). Measured over the window: the daemon process's CPU as a share of one core, and
the delay between each poll's due time and its start (``monitor_poll_start_delay_seconds``, the
metric operators watch). Issue 17's targets: < 25 % of one core, p95 delay < 10 s.
Usage: python -m benchmarks.bench_scale [FEEDS] [INTERVAL_SECONDS] [WINDOW_SECONDS]
"""

from __future__ import annotations

import asyncio
import hashlib
import sqlite3
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path

from benchmarks.bench_poll import served
from benchmarks.bench_repoll import cpu
from monitor.clock import iso
from monitor.config import Settings
from monitor.daemon import Daemon
from monitor.service import poll_once, prepare
from monitor.service.metrics import START_DELAY
from monitor.store import Store
from tests.loopback import Response, Site

WARM_UP = 10.0  # seconds for the daemon to start and schedule every feed before measuring


def one_entry_feeds(site: Site, feeds: int) -> None:
    for f in range(feeds):
        body = (
            "<?xml version='1.0'?><rss version='2.0'><channel><title>Feed {f}</title><item>"
            f"<title>Story of feed {f}</title><guid>urn:f{f}</guid>"
            "<description>The council met on Tuesday.</description></item></channel></rss>"
        ).encode()
        etag = f'"{hashlib.sha1(body).hexdigest()[:16]}"'
        site.routes[f"/f/{f}.xml"] = Response(body, headers={"ETag": etag})


def delays() -> tuple[float, list[tuple[float, float]]]:
    """Polls observed so far, and the cumulative count at each bucket's upper bound."""
    buckets: list[tuple[float, float]] = []
    count = 0.0
    for metric in START_DELAY.collect():
        for sample in metric.samples:
            if sample.name.endswith("_bucket"):
                buckets.append((float(sample.labels["le"]), sample.value))
            elif sample.name.endswith("_count"):
                count = sample.value
    return count, buckets


def quantile(q: float, before: list[tuple[float, float]], after: list[tuple[float, float]]) -> float:
    """The upper bound of the first bucket holding the q-quantile of the window's observations."""
    window = [(le, a - b) for (le, a), (_, b) in zip(after, before, strict=True)]
    total = window[-1][1]
    return next(le for le, n in window if n >= q * total)


async def run_daemon(
    settings: Settings, store: Store, window: float
) -> tuple[float, float, int, float, float]:
    """Run the daemon (as the main task, the way the CLI does) and measure it from another."""
    daemon = Daemon(prepare(settings), store)
    measured: list[tuple[float, float, int, float, float]] = []

    async def measure() -> None:
        await asyncio.sleep(WARM_UP)
        polls_before, before = delays()
        wall, used = time.perf_counter(), cpu()
        await asyncio.sleep(window)
        wall, used = time.perf_counter() - wall, cpu() - used
        polls_after, after = delays()
        polls = int(polls_after - polls_before)
        p50, p95 = quantile(0.5, before, after), quantile(0.95, before, after)
        measured.append((used / wall, wall, polls, p50, p95))
        daemon.stop()

    measuring = asyncio.get_running_loop().create_task(measure())
    await daemon.run()
    assert measuring.done() and measured, "the daemon stopped before the window ended"
    return measured[0]


def main() -> None:
    feeds = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000
    interval = int(sys.argv[2]) if len(sys.argv) > 2 else 300
    window = float(sys.argv[3]) if len(sys.argv) > 3 else 120.0
    with served(partial(one_entry_feeds, feeds=feeds)) as base, tempfile.TemporaryDirectory() as tmp:
        settings = Settings.model_validate(
            {
                "database": str(Path(tmp) / "scale.db"),
                "fetch": {"allow_private_addresses": True, "concurrency": 32},
                "extract": {"workers": 0},
                "feeds": [
                    {"name": f"Feed {f}", "url": f"{base}/f/{f}.xml", "interval": f"{interval}s"}
                    for f in range(feeds)
                ],
            }
        )
        store = Store(settings.database)
        try:
            started = time.perf_counter()
            asyncio.run(poll_once(prepare(settings), store))
            first = time.perf_counter() - started
            # Steady state: next polls spread evenly over one interval, from the warm-up's end.
            start = datetime.now(UTC) + timedelta(seconds=WARM_UP)
            with sqlite3.connect(settings.database) as db:
                db.executemany(
                    "UPDATE feeds SET next_poll_at = ? WHERE name = ?",
                    [
                        (iso(start + timedelta(seconds=interval * f / feeds)), f"Feed {f}")
                        for f in range(feeds)
                    ],
                )
            share, wall, polls, p50, p95 = asyncio.run(run_daemon(settings, store, window))
        finally:
            store.close()
    print(f"scale: {feeds:,} feeds every {interval} s, all unchanged, the daemon for {wall:.0f} s")
    print(f"  first pass (not measured): {first:.0f} s; polls in the window: {polls:,}")
    print(f"  CPU {100 * share:.1f} % of one core (target < 25 %)")
    print(f"  start delay after due: median <= {p50:g} s, p95 <= {p95:g} s (target < 10 s)")


if __name__ == "__main__":
    main()
