"""HTTP fetching: the only module that opens sockets.

One shared pair of aiohttp sessions with connection pooling (aiohttp: a tenth of httpx's CPU per
request, which is most of a re-poll's cost; issue 17). Feed URLs the user configured are
"trusted"; article links found in feeds, and every redirect, go through the guarded session,
whose resolver checks every address a name resolves to and hands aiohttp only those checked
addresses to dial, so a DNS answer that changes between check and connect cannot slip through.
Hosts written as addresses never reach a resolver: they are checked before the request.

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
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from urllib.parse import urljoin, urlsplit

import aiohttp
from aiohappyeyeballs import SocketFactoryType
from aiohttp.abc import AbstractResolver, ResolveResult

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
DNS_CACHE = 60  # seconds a checked DNS answer is reused


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
        raise FetchError(f"connection failed: cannot resolve {host}: {exc.strerror}", url=host) from None
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def literal_address(host: str) -> str | None:
    """The address a host written as one stands for (``[::1]``, ``10.0.0.1``), or None for a name.
    Numeric spellings other than the dotted quad (``2130706433``, ``0177.0.0.1``, ``127.1``) are
    refused: the system would read them as addresses, and no news site writes its host that way."""
    bare = host.strip("[]").split("%", 1)[0]
    try:
        return str(ipaddress.ip_address(bare))
    except ValueError:
        pass
    if bare and bare.rstrip(".").replace(".", "").isdigit():
        raise InvalidURLError(f"invalid URL: numeric host {host!r} is not an IP address", url=host)
    return None


def refuse_blocked(host: str, addresses: list[str]) -> None:
    """Raise BlockedAddressError if any address ``host`` stands for is not public."""
    for address in addresses:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
        if address_is_blocked(ip):
            raise BlockedAddressError(f"refused {host}: resolves to non-public address {ip}", url=host)


async def public_addresses(host: str, port: int, resolve: Resolver = system_resolver) -> list[str]:
    """Resolve ``host`` and return its addresses, or raise BlockedAddressError if any of them is
    not public (a name that resolves to one public and one private address is refused)."""
    literal = literal_address(host)
    addresses = [literal] if literal else await resolve(host, port)
    refuse_blocked(host, addresses)
    if not addresses:
        raise FetchError(f"connection failed: cannot resolve {host}", url=host)
    return addresses


class PlainResolver(AbstractResolver):
    """The trusted session's resolver: ``resolve`` (the system's, or a test's), no check."""

    def __init__(self, resolve: Resolver = system_resolver) -> None:
        self._resolve = resolve

    async def resolve(self, host: str, port: int = 0, family: int = socket.AF_INET) -> list[ResolveResult]:
        addresses = await self._resolve(host, port)
        if not addresses:
            raise FetchError(f"connection failed: cannot resolve {host}", url=host)
        return [_result(host, address, port) for address in addresses]

    async def close(self) -> None:
        """Nothing to release: lookups run on the event loop's executor."""


class GuardedResolver(PlainResolver):
    """The guarded session's resolver: every address checked, and the checked ones dialled."""

    async def resolve(self, host: str, port: int = 0, family: int = socket.AF_INET) -> list[ResolveResult]:
        addresses = await public_addresses(host, port, self._resolve)
        return [_result(host, address, port) for address in addresses]


def _result(host: str, address: str, port: int) -> ResolveResult:
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    return {
        "hostname": host,
        "host": address,
        "port": port,
        "family": family,
        "proto": 0,
        "flags": socket.AI_NUMERICHOST,
    }


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
    """Owns the HTTP sessions. Use as an async context manager; share one across all polls. The
    sessions are opened on first use, inside the event loop that uses them."""

    def __init__(
        self,
        settings: FetchSettings,
        *,
        resolver: Resolver = system_resolver,
        socket_factory: SocketFactoryType | None = None,
    ):
        """``resolver`` and ``socket_factory`` replace DNS and the network: tests answer names
        without a DNS server and refuse to dial anything but loopback. Neither switches the
        address guard off: links and redirects still go through it, which only
        ``fetch.allow_private_addresses`` disables."""
        self.settings = settings
        self._resolver = resolver
        self._socket_factory = socket_factory
        self._trusted: aiohttp.ClientSession | None = None
        self._guarded: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> Fetcher:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        for session in {id(s): s for s in (self._trusted, self._guarded) if s is not None}.values():
            await session.close()
        self._trusted = self._guarded = None

    def _session(self, resolver: AbstractResolver) -> aiohttp.ClientSession:
        settings = self.settings
        connector = aiohttp.TCPConnector(
            # A pool sized to the concurrency: every request in flight has a connection, and
            # idle ones are kept for the next poll of the same host.
            limit=settings.concurrency * 2,
            limit_per_host=0,
            resolver=resolver,
            ttl_dns_cache=DNS_CACHE,
            socket_factory=self._socket_factory,
        )
        return aiohttp.ClientSession(
            connector=connector,
            timeout=aiohttp.ClientTimeout(total=None, sock_connect=settings.timeout),
            headers={"User-Agent": settings.user_agent},
            trust_env=False,
            auto_decompress=True,
        )

    def _client(self, trusted: bool) -> aiohttp.ClientSession:
        if trusted or self.settings.allow_private_addresses:
            if self._trusted is None:
                self._trusted = self._session(PlainResolver(self._resolver))
            return self._trusted
        if self._guarded is None:
            self._guarded = self._session(GuardedResolver(self._resolver))
        return self._guarded

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
            first = trusted and hops == 0
            try:
                if not (first or self.settings.allow_private_addresses):
                    _check_literal(current)
                async with self._client(first).get(current, headers=headers, allow_redirects=False) as resp:
                    location = resp.headers.get("Location")
                    if resp.status in _REDIRECTS and location:
                        hops += 1
                        if hops > self.settings.max_redirects:
                            raise RedirectLimitError(
                                f"more than {self.settings.max_redirects} redirects", url=current
                            )
                        permanent = permanent and resp.status in _PERMANENT
                        current = urljoin(current, location.strip())
                        continue
                    # Read even a 304's (empty) body: a response left unread closes its
                    # connection, and every re-poll of the host would pay a new handshake.
                    content = await _read_capped(resp, cap, current)
                    status = resp.status
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
            except FetchError as exc:  # raised by the guard, inside or before aiohttp
                raise type(exc)(str(exc), url=current) from None
            except aiohttp.ServerTimeoutError:
                raise DeadlineError(f"timed out after {self.settings.timeout:g}s", url=current) from None
            except aiohttp.InvalidURL as exc:
                raise InvalidURLError(f"invalid URL: {exc}", url=current) from None
            except aiohttp.ClientError as exc:
                raise FetchError(_describe(exc), url=current) from None
            except (UnicodeError, ValueError) as exc:  # yarl's verdict on a malformed URL
                raise InvalidURLError(f"invalid URL: {exc}", url=current) from None


def _check_literal(url: str) -> None:
    """A host written as an address is dialled without a lookup, so the guard checks it here."""
    host = urlsplit(url).hostname or ""
    literal = literal_address(host)
    if literal is not None:
        refuse_blocked(host, [literal])


async def _read_capped(resp: aiohttp.ClientResponse, cap: int, url: str) -> bytes:
    declared = resp.headers.get("Content-Length")
    if declared and declared.isdigit() and int(declared) > cap:
        raise ResponseTooLargeError(f"response of {int(declared)} bytes exceeds cap of {cap}", url=url)
    chunks: list[bytes] = []
    size = 0
    async for chunk in resp.content.iter_any():
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


def _describe(exc: aiohttp.ClientError) -> str:
    text = str(exc) or type(exc).__name__
    if isinstance(exc, aiohttp.ClientConnectorError):
        return f"connection failed: {text}"
    if isinstance(exc, aiohttp.ClientPayloadError):
        return f"cannot decode body: {text}"
    if isinstance(exc, aiohttp.ClientResponseError | aiohttp.ServerDisconnectedError):
        return f"protocol error: {text}"
    return text
