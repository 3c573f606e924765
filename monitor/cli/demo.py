"""``monitor demo``: an offline end-to-end run on the bundled seed articles.

Serves a feed built from ``seeds/*.txt`` (first line: headline, rest: body) and one HTML page
per article on a loopback port, polls it once into a temporary database, and shows what was
flagged and the alert text that would be sent.
"""

from __future__ import annotations

import asyncio
import html
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import click

from ..config import Settings, config_path, load_settings
from ..errors import ConfigError, MonitorError
from ..notify import plain, render
from ..records import Alert, PollReport
from ..service import poll_once, prepare
from ..store.queries import flagged_previews
from .common import config_failure, config_option, open_database

SEEDS_DIR = Path(__file__).resolve().parents[1] / "seeds"  # package data: there after `pip install .`


def default_seeds_dir() -> Path:
    """The seed articles shipped in the package (``seeds/`` in a checkout links to them)."""
    return SEEDS_DIR


def load_seeds(folder: Path) -> list[tuple[str, str]]:
    """(headline, body) of every ``*.txt`` seed, in name order."""
    seeds = []
    for path in sorted(folder.glob("*.txt")):
        head, _, body = path.read_text(encoding="utf-8").strip().partition("\n")
        seeds.append((head.strip(), body.strip()))
    return seeds


def build_site(seeds: list[tuple[str, str]], base: str, now: datetime) -> dict[str, tuple[str, bytes]]:
    """path -> (content type, body): an RSS feed and one article page per seed."""
    site: dict[str, tuple[str, bytes]] = {}
    items = []
    for i, (title, body) in enumerate(seeds):
        path = f"/articles/{i}.html"
        paragraphs = "".join(
            f"<p>{html.escape(' '.join(p.split()))}</p>" for p in body.split("\n\n") if p.strip()
        )
        page = (
            f"<!doctype html><html lang='en'><head><title>{html.escape(title)}</title></head><body>"
            f"<nav><a href='/'>Home</a></nav><article><h1>{html.escape(title)}</h1>{paragraphs}</article>"
            "<footer>Demo site served by monitor demo</footer></body></html>"
        )
        site[path] = ("text/html; charset=utf-8", page.encode())
        lead = html.escape(" ".join(body.split())[:280])
        items.append(
            f"<item><title>{html.escape(title)}</title><link>{base}{path}</link>"
            f"<guid>{base}{path}</guid><pubDate>{format_datetime(now)}</pubDate>"
            f"<description>{lead}</description></item>"
        )
    feed = (
        "<?xml version='1.0' encoding='utf-8'?><rss version='2.0'><channel><title>Demo wire</title>"
        f"<link>{base}/</link><description>Seed articles</description>{''.join(items)}</channel></rss>"
    )
    site["/feed.xml"] = ("application/rss+xml; charset=utf-8", feed.encode())
    return site


@contextmanager
def serve(site: dict[str, tuple[str, bytes]]) -> Iterator[str]:
    """Serve ``site`` on 127.0.0.1 (a free port) in a thread; yields the base URL."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            found = site.get(self.path)
            if found is None:
                self.send_error(404)
                return
            ctype, body = found
            self.send_response(200)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@dataclass(frozen=True, slots=True)
class DemoResult:
    reports: list[PollReport]
    flagged: list[tuple[Alert, str, str]]  # (alert as it would be queued, title, body)
    stored: int


def run_demo(seeds_dir: Path, database: Path, topics: dict[str, Any] | None = None) -> DemoResult:
    """Serve the seeds on loopback, poll them once into ``database``, render would-be alerts.
    ``topics`` are the configuration's topic settings, so edits can be tried on the seeds."""
    seeds = load_seeds(seeds_dir)
    if not seeds:
        raise FileNotFoundError(f"no seed articles (*.txt) in {seeds_dir}")
    with serve_lazy(seeds, datetime.now(UTC)) as base:
        settings = Settings.model_validate(
            {
                "database": str(database),
                "fetch": {"allow_private_addresses": True, "timeout": "10s"},
                "extract": {"workers": 0},
                "feeds": [{"name": "Demo wire", "url": f"{base}/feed.xml"}],
                "topics": topics or {},
            }
        )
        runtime = prepare(settings)
        store = open_database(settings)
        try:
            reports, _ = asyncio.run(poll_once(runtime, store))
            flagged = [
                (alert, *render(alert, topic_labels=runtime.topic_labels))
                for alert in flagged_previews(store)
            ]
            stored = store.count("articles")
        finally:
            store.close()
    return DemoResult(reports=reports, flagged=flagged, stored=stored)


@contextmanager
def serve_lazy(seeds: list[tuple[str, str]], now: datetime) -> Iterator[str]:
    """Serve a site whose links need the port, which is known only once the server is bound."""
    site: dict[str, tuple[str, bytes]] = {}
    with serve(site) as base:
        site.update(build_site(seeds, base, now))
        yield base


@click.command()
@config_option
@click.option(
    "--seeds",
    "seeds_dir",
    type=click.Path(file_okay=False, exists=True, path_type=Path),
    default=None,
    help="Folder of seed articles (*.txt: headline, then body). Default: the bundled seeds/.",
)
def demo(config_file: str | None, seeds_dir: Path | None) -> None:
    """Offline end-to-end run: serve the seed articles on loopback, poll, show what is flagged.

    Uses the configuration's topics when there is a configuration file (feeds, channels and the
    database are the demo's own)."""
    path = config_path(config_file)
    topics = None
    if config_file is not None or path.exists():
        try:
            topics = load_settings(path).topics
        except ConfigError as exc:
            config_failure(exc)
    with tempfile.TemporaryDirectory(prefix="monitor-demo-") as tmp:
        try:
            result = run_demo(seeds_dir or default_seeds_dir(), Path(tmp) / "demo.db", topics)
        except (FileNotFoundError, MonitorError) as exc:
            raise click.ClickException(str(exc)) from None
    for r in result.reports:
        click.echo(f"polled {r.feed}: HTTP {r.status}, {r.new} new articles, {r.flagged} flagged")
    click.echo(f"{result.stored} articles stored, {len(result.flagged)} flagged\n")
    for alert, title, body in result.flagged:
        scores = ", ".join(f"{v.topic} ({v.score:.2f})" for v in alert.matches)
        click.echo(f"FLAGGED: {plain(alert.title)}\n  topics: {scores}")
        click.echo("  alert that would be sent:")
        click.echo(f"    title: {title}")
        for line in body.splitlines():
            click.echo(f"    | {line}")
        click.echo("")
