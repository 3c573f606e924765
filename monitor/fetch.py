"""HTTP fetching: the only module that opens sockets.

One shared pair of httpx clients with connection pooling. Feed URLs the user configured are
"trusted"; article links found in feeds, and every redirect, go through the guarded client,
whose network backend resolves the host itself and connects only to an address it has checked,
so a DNS answer that changes between check and connect cannot slip through.

Every request has a whole-request deadline and a byte cap enforced while streaming (on the
decompressed body, so a gzip bomb is cut off too). Failures come back as a FetchResult with
``error`` set, never as an exception.
"""

from __future__ import annotations

import asyncio
import email.utils
import ipaddress
import logging
import socket
import time
from collections.abc import Awaitable, Callable, Iterable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urljoin, urlsplit

import httpcore
import httpx

from .config import FetchSettings
from .errors import (
    BlockedAddressError,
    DeadlineError,
    FetchError,
    InvalidURLError,
    RedirectLimitError,
    ResponseTooLargeError,
)
from .records import FeedErrorKind, FetchResult
from .stages.urls import redact_url

log = logging.getLogger(__name__)

FEED_ACCEPT = (
    "application/rss+xml, application/atom+xml, application/rdf+xml, application/xml;q=0.9, "
    "text/xml;q=0.9, */*;q=0.1"
)
PAGE_ACCEPT = "text/html, application/xhtml+xml;q=0.9, */*;q=0.1"
_REDIRECTS = (301, 302, 303, 307, 308)
_PERMANENT = (301, 308)
MAX_RETRY_AFTER = 24 * 3600.0


_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
_NAT64_LOCAL = ipaddress.IPv6Network("64:ff9b:1::/48")


def address_is_blocked(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """True for loopback, private, link-local, multicast, reserved and other non-public space."""
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.is_site_local or ip in _NAT64_LOCAL:  # fec0::/10 is "global" to Python, not to us
            return True
        embedded = ip.ipv4_mapped or ip.sixtofour or (ip.teredo[1] if ip.teredo else None)
        if embedded is None and ip in _NAT64:  # 64:ff9b::a.b.c.d reaches a.b.c.d
            embedded = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
        if embedded is not None and address_is_blocked(embedded):
            return True
    return (
        not ip.is_global
        or ip.is_loopback
        or ip.is_private
        or ip.is_link_local
        or ip.is_multicast
        or ip.is_reserved
        or ip.is_unspecified
    )


def check_scheme(url: str) -> None:
    scheme = urlsplit(url).scheme.lower()
    if scheme not in ("http", "https"):
        raise BlockedAddressError(f"refused scheme {scheme or '(none)'!r}: only http(s)", url=url)


Resolver = Callable[[str, int], Awaitable[list[str]]]
"""host, port -> the addresses it resolves to."""


async def system_resolver(host: str, port: int) -> list[str]:
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise httpcore.ConnectError(f"cannot resolve {host}: {exc.strerror}") from None
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


async def public_addresses(host: str, port: int, resolve: Resolver = system_resolver) -> list[str]:
    """Resolve ``host`` and return its addresses, or raise BlockedAddressError if any of them is
    not public (a name that resolves to one public and one private address is refused)."""
    try:
        addresses = [str(ipaddress.ip_address(host.strip("[]").split("%", 1)[0]))]
    except ValueError:
        addresses = await resolve(host, port)
    for address in addresses:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
        if address_is_blocked(ip):
            raise BlockedAddressError(f"refused {host}: resolves to non-public address {ip}", url=host)
    if not addresses:
        raise httpcore.ConnectError(f"cannot resolve {host}")
    return addresses


class GuardedBackend(httpcore.AsyncNetworkBackend):
    """Resolves the host, refuses blocked addresses, then connects to the checked address."""

    def __init__(self, inner: httpcore.AsyncNetworkBackend) -> None:
        self._inner = inner

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        addresses = await public_addresses(host, port)
        return await self._inner.connect_tcp(
            addresses[0],
            port,
            timeout=timeout,
            local_address=local_address,
            socket_options=socket_options,
        )

    async def connect_unix_socket(self, *args: Any, **kwargs: Any) -> httpcore.AsyncNetworkStream:
        raise BlockedAddressError("refused: unix sockets", url="")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


class GuardedTransport(httpx.AsyncBaseTransport):
    """The guard in front of an injected transport (the test seam): every request's host is
    resolved and checked before the inner transport sees it. The default transport is guarded
    at the socket instead, which also pins the dialled address to the checked one."""

    def __init__(self, inner: httpx.AsyncBaseTransport, resolve: Resolver = system_resolver) -> None:
        self._inner = inner
        self._resolve = resolve

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        try:
            await public_addresses(
                url.host, url.port or (443 if url.scheme == "https" else 80), self._resolve
            )
        except httpcore.ConnectError as exc:
            raise httpx.ConnectError(str(exc), request=request) from None
        return await self._inner.handle_async_request(request)

    async def aclose(self) -> None:
        """The inner transport belongs to the trusted client, which closes it."""


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Retry-After as seconds (delta-seconds or an HTTP date), capped at a day."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return min(float(value), MAX_RETRY_AFTER)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    delta = (when - (now or datetime.now(UTC))).total_seconds()
    return min(max(delta, 0.0), MAX_RETRY_AFTER)


class Fetcher:
    """Owns the HTTP clients. Use as an async context manager; share one across all polls."""

    def __init__(
        self,
        settings: FetchSettings,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        resolver: Resolver = system_resolver,
    ):
        """``transport`` (with ``resolver``, for names) replaces the network: tests serve a
        loopback site through it. Neither switches the address guard off: links and redirects
        still go through the guard, which only ``fetch.allow_private_addresses`` disables."""
        self.settings = settings
        limits = httpx.Limits(max_connections=settings.concurrency * 2, max_keepalive_connections=64)
        timeout = httpx.Timeout(settings.timeout)
        common: dict[str, Any] = {
            "timeout": timeout,
            "follow_redirects": False,
            "headers": {"User-Agent": settings.user_agent},
            "trust_env": False,
        }
        self._trusted = httpx.AsyncClient(
            transport=transport or httpx.AsyncHTTPTransport(limits=limits), **common
        )
        guarded: httpx.AsyncBaseTransport
        if settings.allow_private_addresses:
            self._guarded = self._trusted
            return
        if transport is not None:
            guarded = GuardedTransport(transport, resolver)
        else:
            default = httpx.AsyncHTTPTransport(limits=limits)
            pool = default._pool  # httpx exposes no public hook for the network backend
            pool._network_backend = GuardedBackend(pool._network_backend)
            guarded = default
        self._guarded = httpx.AsyncClient(transport=guarded, **common)

    async def __aenter__(self) -> Fetcher:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._trusted.aclose()
        if self._guarded is not self._trusted:
            await self._guarded.aclose()

    async def fetch_feed(
        self, url: str, *, etag: str | None = None, last_modified: str | None = None, trusted: bool = True
    ) -> FetchResult:
        """Conditional GET of a feed. ``trusted``: the URL is one the user wrote in the
        configuration (its redirects never are); a URL learnt from a permanent redirect is not."""
        headers = {"Accept": FEED_ACCEPT}
        if etag:
            headers["If-None-Match"] = etag
        if last_modified:
            headers["If-Modified-Since"] = last_modified
        return await self._fetch(url, headers, self.settings.max_feed_bytes, trusted=trusted)

    async def fetch_page(self, url: str) -> FetchResult:
        """GET an article link found in a feed: untrusted, so the address guard applies."""
        return await self._fetch(url, {"Accept": PAGE_ACCEPT}, self.settings.max_page_bytes, trusted=False)

    async def _fetch(self, url: str, headers: dict[str, str], cap: int, *, trusted: bool) -> FetchResult:
        started = time.monotonic()
        try:
            async with asyncio.timeout(self.settings.timeout):
                return await self._request(url, headers, cap, trusted=trusted, started=started)
        except TimeoutError:
            error: FetchError = DeadlineError(f"deadline of {self.settings.timeout:g}s exceeded", url=url)
        except FetchError as exc:
            error = exc
        log.debug("fetch %s failed: %s", redact_url(url, guess=False), error)
        return FetchResult(
            url=url,
            final_url=error.url,
            status=None,
            error=str(error),
            error_kind=error_kind(error),
            elapsed=time.monotonic() - started,
        )

    async def _request(
        self, url: str, headers: dict[str, str], cap: int, *, trusted: bool, started: float
    ) -> FetchResult:
        current, hops, permanent = url, 0, True
        while True:
            check_scheme(current)
            client = self._trusted if trusted and hops == 0 else self._guarded
            try:
                async with client.stream("GET", current, headers=headers) as resp:
                    location = resp.headers.get("Location")
                    if resp.status_code in _REDIRECTS and location:
                        hops += 1
                        if hops > self.settings.max_redirects:
                            raise RedirectLimitError(
                                f"more than {self.settings.max_redirects} redirects", url=current
                            )
                        permanent = permanent and resp.status_code in _PERMANENT
                        current = urljoin(str(resp.url), location.strip())
                        continue
                    # Read even a 304's (empty) body: a response left unread closes its
                    # connection, and every re-poll of the host would pay a new handshake.
                    content = await _read_capped(resp, cap, current)
                    status = resp.status_code
                    ok = 200 <= status < 300 or status == 304
                    return FetchResult(
                        url=url,
                        final_url=current,
                        status=status,
                        content=content,
                        content_type=resp.headers.get("Content-Type"),
                        etag=resp.headers.get("ETag"),
                        last_modified=resp.headers.get("Last-Modified"),
                        permanent_redirect=current if hops and permanent else None,
                        retry_after=parse_retry_after(resp.headers.get("Retry-After"))
                        if status in (429, 503)
                        else None,
                        error=None if ok else f"HTTP {status}",
                        error_kind=None if ok else FeedErrorKind.HTTP_STATUS,
                        elapsed=time.monotonic() - started,
                    )
            except BlockedAddressError as exc:  # raised by GuardedBackend, passes through httpx
                raise BlockedAddressError(str(exc), url=current) from None
            except httpx.TimeoutException:
                raise DeadlineError(f"timed out after {self.settings.timeout:g}s", url=current) from None
            except httpx.HTTPError as exc:
                raise FetchError(_describe(exc), url=current) from None
            except (httpx.InvalidURL, UnicodeError, ValueError) as exc:  # not HTTPError subclasses
                raise InvalidURLError(f"invalid URL: {exc}", url=current) from None


async def _read_capped(resp: httpx.Response, cap: int, url: str) -> bytes:
    declared = resp.headers.get("Content-Length")
    if declared and declared.isdigit() and int(declared) > cap:
        raise ResponseTooLargeError(f"response of {int(declared)} bytes exceeds cap of {cap}", url=url)
    chunks: list[bytes] = []
    size = 0
    async for chunk in resp.aiter_bytes():
        size += len(chunk)
        if size > cap:
            raise ResponseTooLargeError(f"response exceeds cap of {cap} bytes", url=url)
        chunks.append(chunk)
    return b"".join(chunks)


_KINDS: tuple[tuple[type[FetchError], FeedErrorKind], ...] = (
    (BlockedAddressError, FeedErrorKind.BLOCKED),
    (DeadlineError, FeedErrorKind.TIMEOUT),
    (ResponseTooLargeError, FeedErrorKind.TOO_LARGE),
    (RedirectLimitError, FeedErrorKind.REDIRECTS),
    (InvalidURLError, FeedErrorKind.INVALID_URL),
)


def error_kind(error: FetchError) -> FeedErrorKind:
    """The status label of a fetch failure; anything unnamed is a connection problem."""
    for cls, kind in _KINDS:
        if isinstance(error, cls):
            return kind
    return FeedErrorKind.CONNECTION


def _describe(exc: httpx.HTTPError) -> str:
    text = str(exc) or type(exc).__name__
    kind = {
        httpx.ConnectError: "connection failed",
        httpx.RemoteProtocolError: "protocol error",
        httpx.DecodingError: "cannot decode body",
    }
    for cls, label in kind.items():
        if isinstance(exc, cls):
            return f"{label}: {text}"
    return text
