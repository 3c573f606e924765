"""A programmable HTTP server on loopback: the "internet" the tests poll.

Routes map a path to a Response; every request is recorded (path and headers) so tests can
assert what the daemon asked for. Supports conditional GET, delays, slow drip and endless bodies.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from html import escape
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Response:
    body: bytes = b""
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # seconds before answering
    drip: float = 0.0  # seconds between body bytes (slow-drip server)
    endless: bool = False  # stream forever


@dataclass
class Request:
    path: str
    headers: dict[str, str]
    client: tuple[str, int] = ("", 0)  # the client's address and port: one port, one connection


class Site:
    def __init__(self) -> None:
        self.routes: dict[str, Response | Callable[[Request], Response]] = {}
        self.requests: list[Request] = []
        self._lock = threading.Lock()
        site = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                host, port = self.client_address[:2]
                req = Request(
                    self.path, {k.lower(): v for k, v in self.headers.items()}, (str(host), int(port))
                )
                with site._lock:
                    site.requests.append(req)
                route = site.routes.get(self.path)
                if route is None:
                    resp = Response(b"not found", 404)
                elif callable(route):
                    resp = route(req)
                else:
                    resp = route
                etag = resp.headers.get("ETag")
                if etag and req.headers.get("if-none-match") == etag and resp.status == 200:
                    resp = Response(b"", 304, {"ETag": etag})
                if resp.delay:
                    time.sleep(resp.delay)
                try:
                    self.send_response(resp.status)
                    for k, v in resp.headers.items():
                        self.send_header(k, v)
                    if resp.endless:
                        self.send_header("Content-Type", "application/rss+xml")
                        self.end_headers()
                        while True:
                            self.wfile.write(b"<x>" * 10000)
                    if resp.status != 304:
                        self.send_header("Content-Length", str(len(resp.body)))
                    self.end_headers()
                    if resp.drip:
                        for i in range(len(resp.body)):
                            self.wfile.write(resp.body[i : i + 1])
                            self.wfile.flush()
                            time.sleep(resp.drip)
                    elif resp.status != 304:
                        self.wfile.write(resp.body)
                except (BrokenPipeError, ConnectionResetError):
                    pass

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def url(self, path: str) -> str:
        return self.base + path

    def hits(self, path: str) -> list[Request]:
        with self._lock:
            return [r for r in self.requests if r.path == path]

    def start(self) -> Site:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def rss(items: list[dict[str, Any]], title: str = "Test wire") -> bytes:
    """An RSS 2.0 document; each item: title, link, guid, description, published (datetime)."""
    parts = []
    for it in items:
        pub = it.get("published") or datetime.now(UTC)
        guid = f"<guid>{escape(it['guid'])}</guid>" if it.get("guid") else ""
        link = f"<link>{escape(it['link'])}</link>" if it.get("link") else ""
        parts.append(
            f"<item><title>{escape(it.get('title', ''))}</title>{link}{guid}"
            f"<pubDate>{format_datetime(pub)}</pubDate>"
            f"<description>{escape(it.get('description', ''))}</description></item>"
        )
    return (
        f"<?xml version='1.0' encoding='utf-8'?><rss version='2.0'><channel><title>{escape(title)}</title>"
        f"<link>http://example.org/</link><description>d</description>{''.join(parts)}</channel></rss>"
    ).encode()


def article_page(title: str, paragraphs: list[str]) -> bytes:
    body = "".join(f"<p>{escape(p)}</p>" for p in paragraphs)
    return (
        f"<!doctype html><html lang='en'><head><title>{escape(title)}</title></head><body>"
        f"<nav><a href='/'>Home</a> <a href='/world'>World</a></nav>"
        f"<article><h1>{escape(title)}</h1>{body}</article>"
        f"<footer>Copyright Test News. All rights reserved.</footer></body></html>"
    ).encode()


FILLER = (
    "Officials said the situation was being monitored closely and that further details would be "
    "released later in the day after consultations with allies in the region and elsewhere."
)


def story(i: int, site: Site, *, title: str | None = None, text: str | None = None) -> dict[str, Any]:
    """Register article page /a/{i}.html on ``site`` and return its feed item."""
    title = title or f"Local council approves budget number {i}"
    paragraphs = [text or f"The council met on Tuesday to discuss item {i} of the agenda.", FILLER, FILLER]
    site.routes[f"/a/{i}.html"] = Response(
        article_page(title, paragraphs), headers={"Content-Type": "text/html"}
    )
    return {
        "title": title,
        "link": site.url(f"/a/{i}.html"),
        "guid": f"urn:test:{i}",
        "description": f"Summary of story {i}.",
    }


class Receiver:
    """An HTTP endpoint for apprise's json:// that answers ``status`` and keeps every post."""

    def __init__(self) -> None:
        self.posts: list[dict[str, Any]] = []
        self.arrivals: list[float] = []  # when each kept post arrived (time.time()), as posts
        self.status = 200
        self.delay = 0.0  # seconds before answering (a slow chat API)
        self.drip = 0.0  # seconds between bytes of the answer (defeats per-read timeouts)
        self.requests = 0  # posts received, answered or not
        self.reject: set[int] = set()  # the n-th posts (1-based) answered with 500, once each
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                receiver.requests += 1
                if receiver.requests in receiver.reject:
                    self.send_response(500)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                if receiver.drip:
                    answer = b"HTTP/1.1 200 OK\r\nContent-Length: 40\r\n\r\n" + b"{}".ljust(40)
                    try:
                        for byte in answer:
                            self.wfile.write(bytes([byte]))
                            self.wfile.flush()
                            time.sleep(receiver.drip)
                    except OSError:
                        pass
                    self.close_connection = True
                    return
                if receiver.delay:
                    time.sleep(receiver.delay)
                if receiver.status == 200:
                    receiver.arrivals.append(time.time())
                    receiver.posts.append(json.loads(body))
                self.send_response(receiver.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"json://127.0.0.1:{self.server.server_address[1]}/hook"
