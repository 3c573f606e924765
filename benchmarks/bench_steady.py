"""The daemon left running: its memory over time, and its CPU, with 1,000 feeds.

FEEDS feeds (default 1,000) polled every 60 s from a loopback server in a process of its own; all
of them unchanged except, for the first two thirds of the run, one feed every PERIOD seconds
(default 10), which publishes a story whose page is one of the corpus's real article pages (or a
synthetic one without the corpus), so the extraction workers keep working; then nothing new, as
between a daemon's bursts of news. The daemon (scheduler, polls, extraction workers, the database
thread, alert delivery to nowhere) runs in this process for SECONDS (default 600). Every 5 s the
whole tree (this process, the forkserver, the workers; the page server left out) is sampled.

Printed: the tree's memory after the first extraction, at the end of the busy part and at the end
of the idle part (resident and proportional), the slope over the second half of the busy part
and over the idle part once the workers have had ``extract.idle_timeout`` to exit (least squares,
MB per hour), and the CPU of the daemon's own process as a share of one core. Issue 17's
targets: < 200 MB and not growing.
Usage: python -m benchmarks.bench_steady [FEEDS] [SECONDS] [PERIOD]
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
import time
from datetime import UTC, datetime
from email.utils import format_datetime
from functools import partial
from html import escape
from pathlib import Path

from benchmarks.bench_first_poll import descendants, page_server, proportional_mb, resident_mb
from benchmarks.bench_poll import CORPUS_HTML, PARAGRAPH, served
from monitor.config import Settings
from monitor.daemon import Daemon
from monitor.service import prepare
from monitor.store import Store
from tests.loopback import Request, Response, Site

INTERVAL = 60
SAMPLE = 5.0  # seconds between samples of the tree


def pages() -> list[bytes]:
    real = sorted(CORPUS_HTML.glob("*/source.html"))
    if real:
        return [p.read_bytes() for p in real]
    body = "".join(f"<p>{escape(PARAGRAPH)} Paragraph {k}.</p>" for k in range(40))
    return [f"<html><body><article><h1>Story</h1>{body}</article></body></html>".encode()]


def build(site: Site, feeds: int, period: float, start: float, turns: int) -> None:
    """Feed f holds one story until its turn comes (every ``period`` s, feeds in turn), then one
    more each turn, for ``turns`` turns."""
    corpus = pages()
    last = turns

    def feed(f: int, _req: Request) -> Response:
        turns = min(int((time.time() - start) / period), last)
        mine = [t for t in range(turns) if t % feeds == f]
        items = [("s", f"Story of feed {f}")] + [(str(t), f"Report {t} of feed {f}") for t in mine]
        body = "".join(
            f"<item><title>{escape(title)}</title><link>{site.base}/p/{f}/{key}.html</link>"
            f"<guid>urn:f{f}:{key}</guid><pubDate>{format_datetime(datetime.now(UTC))}</pubDate></item>"
            for key, title in items
        )
        channel = f"<channel><title>Feed {f}</title>{body}</channel>"
        xml = f"<?xml version='1.0'?><rss version='2.0'>{channel}</rss>".encode()
        return Response(xml, headers={"ETag": f'"{f}-{len(items)}"'})

    def page(req: Request) -> Response:
        return Response(corpus[hash(req.path) % len(corpus)], headers={"Content-Type": "text/html"})

    for f in range(feeds):
        site.routes[f"/f/{f}.xml"] = partial(feed, f)
        site.routes[f"/p/{f}/s.html"] = page
    for t in range(turns):
        site.routes[f"/p/{t % feeds}/{t}.html"] = page


def roles(me: int, pids: list[int]) -> dict[int, str]:
    """Each process of the tree by what it is: the daemon, the forkserver, a worker, the tracker."""
    named = {me: "daemon"}
    for pid in pids:
        try:
            command = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
            parent = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        if "resource_tracker" in command:
            named[pid] = "tracker"
        elif "forkserver" in command:
            named[pid] = "forkserver" if parent == me else "worker"
    return named


def by_role(sizes: dict[int, float], named: dict[int, str]) -> str:
    totals: dict[str, list[float]] = {}
    for pid, mb in sizes.items():
        totals.setdefault(named.get(pid, "other"), []).append(mb)
    return ", ".join(
        f"{role} {' + '.join(f'{mb:.0f}' for mb in sorted(v))}" for role, v in sorted(totals.items())
    )


def slope(samples: list[tuple[float, float]]) -> float:
    """Least-squares slope of (seconds, MB), in MB per hour."""
    n = len(samples)
    mean_t = sum(t for t, _ in samples) / n
    mean_m = sum(m for _, m in samples) / n
    var = sum((t - mean_t) ** 2 for t, _ in samples)
    return 3600 * sum((t - mean_t) * (m - mean_m) for t, m in samples) / var if var else 0.0


async def run(settings: Settings, store: Store, seconds: float, server: set[int]) -> list[tuple[float, ...]]:
    daemon = Daemon(prepare(settings), store)
    samples: list[tuple[float, ...]] = []

    async def sample() -> None:
        me, began, cpu = os.getpid(), time.monotonic(), time.process_time()
        sizes: dict[int, float] = {}
        while time.monotonic() - began < seconds:
            await asyncio.sleep(SAMPLE)
            pids = [me] + [p for p in descendants(me) if p not in server]
            sizes = {p: resident_mb(p) for p in pids}
            if len(pids) > 1 and all(s[4] == 1 for s in samples):  # the workers' first sample
                when = time.monotonic() - began
                print(f"  at {when:.0f} s, resident MB: {by_role(sizes, roles(me, pids))}")
            samples.append(
                (
                    time.monotonic() - began,
                    sum(sizes.values()),
                    sum(proportional_mb(p) for p in pids),
                    time.process_time() - cpu,
                    len(pids),
                )
            )
        print(f"  at the end, resident MB: {by_role(sizes, roles(me, list(sizes)))}")
        daemon.stop()

    sampling = asyncio.get_running_loop().create_task(sample())
    await daemon.run()
    assert sampling.done()
    return samples


def main() -> None:
    feeds = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    seconds = float(sys.argv[2]) if len(sys.argv) > 2 else 600.0
    period = float(sys.argv[3]) if len(sys.argv) > 3 else 10.0
    start = time.time()
    busy = seconds * 2 / 3
    routes = partial(build, feeds=feeds, period=period, start=start, turns=int(busy / period))
    with served(routes) as base, tempfile.TemporaryDirectory() as tmp:
        server = page_server()
        settings = Settings.model_validate(
            {
                "database": str(Path(tmp) / "steady.db"),
                "fetch": {"allow_private_addresses": True},
                "feeds": [
                    {"name": f"Feed {f}", "url": f"{base}/f/{f}.xml", "interval": f"{INTERVAL}s"}
                    for f in range(feeds)
                ],
            }
        )
        store = Store(settings.database)
        try:
            samples = asyncio.run(run(settings, store, seconds, server))
        finally:
            store.close()
    first = next(s for s in samples if s[4] > 1)  # the first sample with extraction workers
    busy_end = [s for s in samples if s[0] <= busy][-1]
    last = samples[-1]
    settled = busy + settings.extract.idle_timeout + INTERVAL  # the workers have had time to exit
    half = [s for s in samples if busy / 2 <= s[0] <= busy]
    idle = [s for s in samples if s[0] >= settled]
    print(
        f"steady state: {feeds:,} feeds every {INTERVAL} s, a new page every {period:g} s for "
        f"{busy:.0f} s, then none; {seconds:.0f} s"
    )
    print(
        f"  tree after its first extraction: {first[1]:.0f} MB resident, {first[2]:.0f} MB proportional; "
        f"after the busy part: {busy_end[1]:.0f} / {busy_end[2]:.0f} MB in {busy_end[4]:.0f} processes"
    )
    print(
        f"  idle, at the end: {last[1]:.0f} MB resident, {last[2]:.0f} MB proportional in {last[4]:.0f} "
        "processes (target < 200 MB)"
    )
    for label, part in (("second half of the busy part", half), ("idle part", idle)):
        if len(part) < 3:
            print(f"  slope over the {label}: too few samples (run longer)")
            continue
        print(
            f"  slope over the {label}: {slope([(s[0], s[1]) for s in part]):+.1f} MB/h resident, "
            f"{slope([(s[0], s[2]) for s in part]):+.1f} MB/h proportional (target: not growing)"
        )
    print(f"  the daemon's own process: {100 * last[3] / last[0]:.1f} % of one core")


if __name__ == "__main__":
    main()
