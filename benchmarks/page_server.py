"""A lean HTTP/1.1 server for the benchmarks: a ``Site``'s routes, served from memory on asyncio.

The benchmarks measure the poller, and the server shares the machine's two cores with it. The
tests' server (``tests.loopback``: ``http.server``, a thread per connection, e-mail header
parsing) spent 2.4-2.7 CPU-s serving a first poll's 2,200 requests, about 1.3 s of the poll's
30 s on two busy cores; issue 17 measured with nginx on loopback, which costs next to nothing.
This one answers a request in tens of microseconds: what the routes return, a 304 for a
matching ``If-None-Match``, keep-alive connections. No delays, drips or endless bodies: those
are the tests' business.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from http import HTTPStatus

from tests.loopback import Request, Response, Site

NOT_FOUND = Response(b"not found", 404)


def _head(status: int, headers: dict[str, str], length: int | None) -> bytes:
    lines = [f"HTTP/1.1 {status} {HTTPStatus(status).phrase}"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    if length is not None:
        lines.append(f"Content-Length: {length}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


class _Connection(asyncio.Protocol):
    def __init__(self, site: Site) -> None:
        self.site = site
        self.buffer = b""
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while b"\r\n\r\n" in self.buffer:  # requests carry no body: GET only
            raw, self.buffer = self.buffer.split(b"\r\n\r\n", 1)
            if not self._answer(raw):
                return

    def _answer(self, raw: bytes) -> bool:
        assert self.transport is not None
        first, *lines = raw.decode("latin-1").split("\r\n")
        path = first.split(" ")[1] if first.count(" ") >= 2 else "/"
        headers = {}
        for line in lines:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        route = self.site.routes.get(path, NOT_FOUND)
        response = route(Request(path, headers)) if callable(route) else route
        etag = response.headers.get("ETag")
        if response.status == 200 and etag and headers.get("if-none-match") == etag:
            self.transport.write(_head(304, {"ETag": etag}, None))
        else:
            self.transport.write(_head(response.status, response.headers, len(response.body)) + response.body)
        if headers.get("connection", "").lower() == "close":
            self.transport.close()
            return False
        return True


def serve(site: Site, ready: Callable[[], None], stop: Callable[[], object]) -> None:
    """Serve ``site``'s routes at ``site.base`` (on the socket its unstarted server listens on);
    call ``ready()`` once accepting, and return when ``stop()`` (called in a thread) returns."""

    unserved = [
        path
        for path, r in site.routes.items()
        if isinstance(r, Response) and (r.delay or r.drip or r.endless)
    ]
    if unserved:
        raise ValueError(f"the benchmarks' server has no delays, drips or endless bodies: {unserved[:3]}")

    async def main() -> None:
        loop = asyncio.get_running_loop()
        server = await loop.create_server(lambda: _Connection(site), sock=site.server.socket)
        ready()
        await asyncio.to_thread(stop)
        server.close()

    asyncio.run(main())
