"""URL canonicalisation: one spelling per article, so duplicates collapse to one row."""

from __future__ import annotations

import re
from collections.abc import Iterable
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit, urlunsplit

# Parameters that identify the campaign or click, never the document.
TRACKING_PARAMS = frozenset(
    {
        "fbclid",
        "gclid",
        "dclid",
        "gbraid",
        "wbraid",
        "msclkid",
        "mc_cid",
        "mc_eid",
        "igshid",
        "yclid",
        "_hsenc",
        "_hsmi",
        "mkt_tok",
        "cmpid",
        "ocid",
        "ns_mchannel",
        "ns_source",
        "ns_campaign",
        "ns_linkname",
        "ns_fee",
        "ito",
        "at_medium",
        "at_campaign",
        "smid",
        "sr_share",
        "spm",
        "rss",
        "ref",
        "ref_src",
        "xtor",
        "taid",
        "cid",
    }
)
TRACKING_PREFIXES = ("utm_", "pk_", "mtm_", "at_", "ns_")
_DEFAULT_PORTS = {"http": 80, "https": 443}


def _is_tracking(key: str) -> bool:
    key = key.lower()
    return key in TRACKING_PARAMS or key.startswith(TRACKING_PREFIXES)


def canonical_url(url: str) -> str:
    """Lower-case scheme and host, drop default ports, fragments and tracking parameters.

    Path and the order of the remaining query parameters are kept: servers may treat them
    as case- and order-sensitive. Returns the input stripped if it is not an absolute URL.
    """
    url = url.strip()
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return url
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").rstrip(".")
    if not scheme or not host:
        return url
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    netloc = host if port is None or _DEFAULT_PORTS.get(scheme) == port else f"{host}:{port}"
    if parts.username or parts.password:
        userinfo = parts.username or ""
        if parts.password:
            userinfo += f":{parts.password}"
        netloc = f"{userinfo}@{netloc}"
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if not _is_tracking(k)]
    path = parts.path or "/"
    return urlunsplit((scheme, netloc, path, urlencode(query, doseq=True), ""))


# Query keys whose values are settings, safe to show (apprise's own options among them).
_HARMLESS_KEYS = frozenset(
    {"method", "format", "overflow", "retry", "wait", "optional", "rto", "cto", "verify", "mode", "to", "cc"}
)
# A key that is one of these words, or ends in one after "_" or "-" (api_key, access_token):
# ``keywords`` or ``passage`` are not secrets.
_SECRET_KEY = re.compile(
    r"(?:^|[_-])(?:token|key|apikey|secret|password|passwd|pass|auth|signature|sig|session|sessionid|sid)$"
)
MASK = "****"


def _looks_secret(segment: str) -> bool:
    """A path segment that may be a credential: long, or carrying digits (``hooks`` is not,
    ``T0KEN8x`` is)."""
    return len(segment) >= 8 or any(c.isdigit() for c in segment)


def _query_pairs(query: str) -> list[tuple[str, str]]:
    """Key-value pairs as written: apprise's ``+Header=value`` keeps its ``+``."""
    return [(k, v) for k, _, v in (item.partition("=") for item in query.split("&") if item)]


def redact_url(url: str, *, guess: bool = True) -> str:
    """``url`` with whatever may be a secret masked: a password, header values (apprise's
    ``+Header=``) and values of keys named like secrets (``token``, ``api_key`` ...); with
    ``guess`` (channel URLs, whose services hide tokens in paths), also path segments and query
    values that look like tokens. Feed URLs use ``guess=False``: ``?keywords=sanctions`` is a
    search, not a secret. Scheme, user and host stay, so the URL is still recognisable."""
    parts = urlsplit(url)
    try:
        host = parts.hostname or ""
        netloc = (f"[{host}]" if ":" in host else host) + (f":{parts.port}" if parts.port is not None else "")
    except ValueError:  # not host:port (a token with a colon, as in tgram://): mask it whole
        netloc = MASK
    if parts.username is not None and netloc != MASK:
        netloc = parts.username + (f":{MASK}" if parts.password is not None else "") + "@" + netloc
    path = "/".join(MASK if guess and _looks_secret(s) else s for s in parts.path.split("/"))
    query = []
    for key, value in _query_pairs(parts.query):
        name = unquote(key).lower().lstrip("+-:")
        header = unquote(key)[:1] in "+-:"
        hinted = _SECRET_KEY.search(name) is not None
        secret = header or (name not in _HARMLESS_KEYS and (hinted or (guess and _looks_secret(value))))
        query.append(f"{key}={MASK if secret and value else value}")
    return urlunsplit((parts.scheme, netloc, path, "&".join(query), ""))


def secrets_in(url: str, shown: str) -> tuple[str, ...]:
    """The parts of ``url`` (at least 4 characters long) that ``shown`` does not show: what to
    scrub from anything derived from the URL, such as a service's error message."""
    parts = urlsplit(url)
    candidates = [parts.netloc, *parts.netloc.replace("@", ":").split(":"), *parts.path.split("/")]
    for key, value in _query_pairs(parts.query):
        candidates += [key, value]
    found = {c for c in candidates if len(c) >= 4 and c not in shown}
    return tuple(sorted(found, key=len, reverse=True))


def query_base(url: str) -> str:
    """The URL without its query and fragment: the page, whatever its parameters."""
    return url.split("#", 1)[0].split("?", 1)[0]


def without_params(url: str, keys: Iterable[str]) -> str:
    """``url`` without the query parameters named in ``keys`` (the others keep their order)."""
    drop = set(keys)
    if not drop or "?" not in url:
        return url
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k not in drop]
    return urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode(query, doseq=True), ""))


def volatile_params(
    url: str, title: str, stored: Iterable[tuple[str, str]], known: Iterable[str] = ()
) -> frozenset[str] | None:
    """The query parameters that make ``url`` differ from a story this feed already stored under
    the same headline at the same page (``?session=...`` that changes every poll), or None when
    no stored story is that page. An empty set: the same link once the known volatile
    parameters are dropped."""
    known = set(known)
    base, mine = query_base(url), _params(url, known)
    for other_url, other_title in stored:
        if other_title != title or query_base(other_url) != base:
            continue
        theirs = _params(other_url, known)
        if theirs.keys() == mine.keys():
            return frozenset(k for k in mine if mine[k] != theirs[k])
    return None


def _params(url: str, drop: set[str]) -> dict[str, str]:
    return {k: v for k, v in parse_qsl(urlsplit(url).query, keep_blank_values=True) if k not in drop}
