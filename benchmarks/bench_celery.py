"""executor: celery on this machine: articles/s with 1 and 2 workers (the scaling ratio), the
hub's own CPU per result, and feeds per worker-core at a 5-minute interval, so that a user can
size a cluster (README: "Scaling out").

A real redis-server on loopback, `monitor worker --concurrency 1` processes, the hub (this
process) running `poll_once` as `monitor poll` does; feeds and pages served from a process of
their own (benchmarks.bench_poll). Ratios are measured in one run.
The pages are the corpus's real article pages when ../shared/corpus is there, else synthetic
pages of PARAGRAPHS paragraphs.
Usage: python -m benchmarks.bench_celery [FEEDS] [ENTRIES] [PARAGRAPHS]
"""

from __future__ import annotations

import asyncio
import os
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path

import redis
import yaml

from benchmarks.bench_poll import CORPUS_HTML, build_site, corpus_site, served
from monitor.config import load_settings
from monitor.execute.tasks import celery_app
from monitor.service import poll_once, prepare
from monitor.service.grouping import EventGrouping
from monitor.store import Store

INTERVAL = 300.0  # seconds: the feeds-per-core figure is for a 5-minute interval
TARGET_SCALING = 1.7
TARGET_HUB = 0.15  # of a core per 100 results/s


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def redis_server(folder: Path) -> Iterator[str]:
    port = free_port()
    exe = shutil.which("redis-server")
    assert exe is not None
    proc = subprocess.Popen(
        [exe, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        cwd=folder,
        stdout=subprocess.DEVNULL,
    )
    url = f"redis://127.0.0.1:{port}/0"
    client = redis.Redis.from_url(url)
    for _ in range(200):
        try:
            client.ping()
            break
        except redis.ConnectionError:
            time.sleep(0.05)
    try:
        yield url
    finally:
        proc.terminate()
        proc.wait()


@contextmanager
def workers(config: Path, count: int, folder: Path) -> Iterator[None]:
    procs = []
    for i in range(count):
        log = folder / f"worker{i}.log"
        with log.open("w") as out:
            procs.append(
                subprocess.Popen(
                    [sys.executable, "-m", "monitor", "-q", "worker", "--config", str(config), "-c", "1"],
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            )
    try:
        # Ready when every worker answers a ping (Celery's control channel).
        app = celery_app(load_settings(config))
        deadline = time.monotonic() + 60
        while len(app.control.ping(timeout=0.5) or []) < count and time.monotonic() < deadline:
            time.sleep(0.2)
        yield
    finally:
        for proc in procs:
            os.killpg(proc.pid, signal.SIGTERM)
        for proc in procs:
            proc.wait()


def cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def run(base: str, broker: str, feeds: int, count: int, folder: Path) -> tuple[float, float, int, float]:
    """(first-pass seconds, hub CPU seconds, articles, all-304 pass seconds) with ``count`` workers.
    The hub is warmed up first on one more feed, as a daemon is after its first poll: its
    one-time imports and connections are not part of the cost per result."""
    config = folder / f"config-{count}.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "database": str(folder / f"bench-{count}.db"),
                "executor": "celery",
                "broker": broker,
                "fetch": {"allow_private_addresses": True, "concurrency": 32},
                "celery": {"per_host": 64},  # one loopback host serves every feed here
                "feeds": [{"name": f"Feed {f}", "url": f"{base}/f/{f}.xml"} for f in range(feeds + 1)],
            }
        )
    )
    runtime = prepare(load_settings(config))
    store = Store(runtime.settings.database, grouping=EventGrouping(runtime.settings))
    try:
        measured = [f"Feed {f}" for f in range(feeds)]
        with workers(config, count, folder):
            asyncio.run(poll_once(runtime, store, [f"Feed {feeds}"]))  # the warm-up
            start, used = time.perf_counter(), cpu()
            reports, _ = asyncio.run(poll_once(runtime, store, measured))
            first, hub = time.perf_counter() - start, cpu() - used
            start = time.perf_counter()
            asyncio.run(poll_once(runtime, store, measured))
            second = time.perf_counter() - start
    finally:
        store.close()
    return first, hub, sum(r.new for r in reports), second


def main() -> None:
    feeds = int(sys.argv[1]) if len(sys.argv) > 1 else 40
    entries = int(sys.argv[2]) if len(sys.argv) > 2 else 25
    paragraphs = int(sys.argv[3]) if len(sys.argv) > 3 else 200
    if shutil.which("redis-server") is None:
        print("celery: skipped (redis-server is not installed; apt-get install redis-server)")
        return
    real = CORPUS_HTML.is_dir()
    if real:
        site = partial(corpus_site, feeds=feeds + 1, entries=entries)
    else:
        site = partial(build_site, feeds=feeds + 1, entries=entries, paragraphs=paragraphs)
    with tempfile.TemporaryDirectory() as tmp, served(site) as base, redis_server(Path(tmp)) as broker:
        one = run(base, broker, feeds, 1, Path(tmp))
        two = run(base, broker, feeds, 2, Path(tmp))
    rate1, rate2 = one[2] / one[0], two[2] / two[0]
    hub_share = two[1] / two[2] * 100  # core-seconds per result, times 100 results/s
    per_article = one[0] / one[2]  # one worker core's seconds per article
    per_304 = one[3] / feeds  # ... per unchanged feed
    pages = "real article pages of the corpus" if real else f"synthetic pages of {paragraphs} paragraphs"
    print(
        f"celery: {feeds} feeds x {entries} entries ({pages}) on loopback, "
        f"workers of one process each, {os.cpu_count()} cores"
    )
    print(f"  1 worker:  {one[2]} articles in {one[0]:.1f} s = {rate1:.1f} articles/s")
    print(f"  2 workers: {two[2]} articles in {two[0]:.1f} s = {rate2:.1f} articles/s")
    print(f"  scaling, 2 workers / 1: {rate2 / rate1:.2f}x (target >= {TARGET_SCALING}x)")
    print(
        f"  hub CPU: {two[1] / two[2] * 1000:.2f} ms per result = {hub_share:.1%} of a core per "
        f"100 results/s (target < {TARGET_HUB:.0%})"
    )
    print(
        f"  feeds per worker core at a {INTERVAL / 60:.0f}-minute interval: "
        f"{INTERVAL / per_304:,.0f} all unchanged (304), {INTERVAL / (per_304 + per_article):,.0f} with one "
        f"new story each poll"
    )


if __name__ == "__main__":
    main()
