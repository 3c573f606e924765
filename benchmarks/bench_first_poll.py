"""A first poll of real pages against the machine's limit, and the memory of the whole process tree.

FEEDS feeds of ENTRIES stories each (default 200 x 10), whose pages are the corpus's real article
pages (50-150 KB of markup) taken in turn, served on loopback by a process of its own. The poll
runs as ``monitor poll`` would, with ``extract.workers`` (default 2) extraction processes.

- Its wall time is compared with the single-process floor: the CPU time of parsing every feed
  and extracting every page in one process, one after the other (measured after the poll, in this
  process). On two cores the physical limit is 0.5x. Issue 17's target: <= 0.6x (goal 0.5x).
- The peak memory of the whole tree (this process, the forkserver and every extraction worker;
  the page server left out) is the largest sum of their resident sizes, sampled every 250 ms
  (sampling more often took CPU from the poll), with the proportional sum (a page shared by n
  processes counted 1/n in each) beside it. Issue 17's target: < 300 MB (goal 200 MB), on the
  proportional sum: each page counted once, as the kernel charges a service (docs/decisions.md).

Usage: python -m benchmarks.bench_first_poll [FEEDS] [ENTRIES] [WORKERS]
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import sys
import threading
import time
from functools import partial
from pathlib import Path

from benchmarks.bench_poll import CORPUS_HTML, corpus_site, polled, served
from monitor.service import poll_once
from monitor.stages.parse import parse_feed
from tests.loopback import Response, Site

PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")


def descendants(root: int) -> list[int]:
    """Every process below ``root`` (from /proc: each process's parent)."""
    children: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stat = Path(entry.path, "stat").read_text()
        except OSError:
            continue
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(parent, []).append(int(entry.name))
    found, queue = [], [root]
    while queue:
        for child in children.get(queue.pop(), []):
            found.append(child)
            queue.append(child)
    return found


def page_server() -> set[int]:
    """The loopback page server's process (``bench_poll.served``), left out of the measure; not
    multiprocessing's resource tracker, which starting it started and which the daemon has too."""
    servers = {child.pid for child in multiprocessing.active_children() if child.pid is not None}
    return servers | {d for pid in servers for d in descendants(pid)}


def resident_mb(pid: int) -> float:
    """Resident size: pages shared with other processes count in each of them."""
    try:
        return int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE_SIZE / 2**20
    except (OSError, IndexError, ValueError):
        return 0.0  # the process ended between the listing and the read


def proportional_mb(pid: int) -> float:
    """Proportional size: a page shared by n processes counts 1/n in each (what the tree costs)."""
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1]) / 1024
    except (OSError, IndexError, ValueError):
        pass
    return 0.0


class TreeMemory:
    """Samples the resident size of this process and its descendants (but ``exclude``)."""

    def __init__(self, exclude: set[int]) -> None:
        self.exclude = exclude
        self.peak = 0.0
        self.peak_processes = 0
        self.peak_proportional = 0.0
        self.peak_parts: list[float] = []  # at the proportional peak: this process's, then the others'
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        me = os.getpid()
        while not self._stop.wait(0.25):
            pids = [me] + [p for p in descendants(me) if p not in self.exclude]
            total = sum(resident_mb(p) for p in pids)
            if total > self.peak:
                self.peak, self.peak_processes = total, len(pids)
            parts = [proportional_mb(p) for p in pids]
            if sum(parts) > self.peak_proportional:
                self.peak_proportional = sum(parts)
                self.peak_parts = parts[:1] + sorted(parts[1:], reverse=True)

    def __enter__(self) -> TreeMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def floor(feeds: int, entries: int) -> float:
    """CPU seconds to parse every feed and extract every page of the site, in one process (run
    after the poll: the daemon's process does not hold extraction, and neither may this one)."""
    from monitor.stages.extract import extract_article

    site = Site()  # routes only: never started
    corpus_site(site, feeds, entries)
    extract_article(b"<html><body><article><p>warm up</p></article></body></html>", "http://x/")
    started = time.process_time()
    for path, route in site.routes.items():
        assert isinstance(route, Response)
        if path.startswith("/f/"):
            parse_feed(route.body, url=f"http://127.0.0.1{path}")
        else:
            extract_article(route.body, f"http://127.0.0.1{path}")
    return time.process_time() - started


def others_mb(sizes: list[float]) -> str:
    return " + ".join(f"{mb:.0f}" for mb in sizes) + " MB" if sizes else "none"


def main() -> None:
    feeds = int(sys.argv[1]) if len(sys.argv) > 1 else 200
    entries = int(sys.argv[2]) if len(sys.argv) > 2 else 10
    workers = int(sys.argv[3]) if len(sys.argv) > 3 else 2
    if not CORPUS_HTML.is_dir():
        sys.exit(f"needs the corpus's article pages at {CORPUS_HTML}")
    site = partial(corpus_site, feeds=feeds, entries=entries)
    with (
        served(site) as base,
        polled(base, feeds, workers=workers) as (runtime, store),
        TreeMemory(exclude=page_server()) as memory,
    ):
        started, own = time.perf_counter(), time.process_time()
        reports, _ = asyncio.run(poll_once(runtime, store))
        wall, own = time.perf_counter() - started, time.process_time() - own
    new = sum(r.new for r in reports)
    assert new == feeds * entries, f"{new} new stories, expected {feeds * entries}"
    cpu = floor(feeds, entries)
    print(f"first poll: {feeds} feeds x {entries} real article pages, {workers} extraction workers")
    print(f"  {wall:.1f} s wall = {new / wall:.0f} articles/s; single-process floor {cpu:.1f} CPU-s")
    print(f"  first poll / floor: {wall / cpu:.2f}x (target <= 0.6x, goal 0.5x on 2 cores)")
    print(f"  the polling process's own CPU (fetching, classifying, storing): {own:.1f} s")
    print(
        f"  peak memory of the process tree: {memory.peak:.0f} MB resident in {memory.peak_processes} "
        f"processes, {memory.peak_proportional:.0f} MB proportional (target: this < 300 MB, goal 200 MB)"
    )
    daemon, *others = memory.peak_parts or [0.0]
    print(f"  at the proportional peak: the polling process {daemon:.0f} MB, the others {others_mb(others)}")


if __name__ == "__main__":
    main()
