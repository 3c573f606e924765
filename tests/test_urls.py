from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from monitor.stages.parse import entry_identity
from monitor.stages.urls import canonical_url


@pytest.mark.parametrize(
    ("raw", "canonical"),
    [
        ("HTTPS://Example.ORG/News/1?utm_source=x&id=3#comments", "https://example.org/News/1?id=3"),
        ("http://example.org:80/a", "http://example.org/a"),
        ("https://example.org:8443/a", "https://example.org:8443/a"),
        ("https://example.org", "https://example.org/"),
        ("https://example.org/a?fbclid=1&gclid=2&b=2&a=1", "https://example.org/a?b=2&a=1"),
        ("https://example.org./a", "https://example.org/a"),
        ("  https://example.org/a  ", "https://example.org/a"),
        ("not a url", "not a url"),
    ],
)
def test_canonical_url(raw: str, canonical: str) -> None:
    assert canonical_url(raw) == canonical


urls = st.builds(
    lambda host, path, q, frag: f"https://{host}.example/{path}?{q}#{frag}",
    st.from_regex(r"[A-Za-z0-9]{1,12}", fullmatch=True),
    st.from_regex(r"[a-z0-9/_-]{0,20}", fullmatch=True),
    st.from_regex(r"(utm_[a-z]{1,5}=[a-z0-9]{1,5}&)?[a-z]{1,5}=[a-z0-9]{0,5}", fullmatch=True),
    st.text(max_size=10),
)


@given(urls)
def test_canonical_url_is_idempotent_and_drops_fragment_and_tracking(url: str) -> None:
    once = canonical_url(url)
    assert canonical_url(once) == once
    assert "#" not in once and "utm_" not in once


@given(st.text(max_size=50), st.text(max_size=50))
def test_identity_without_guid_or_link_tells_entries_apart(title: str, other: str) -> None:
    if title != other:
        assert entry_identity(None, None, title, None) != entry_identity(None, None, other, None)


def test_identity_without_guid_or_link_is_pinned() -> None:
    """Stable across runs and versions (not Python's per-process hash): a change here would make
    every such entry of every feed look new once, and alert again."""
    when = datetime(2026, 11, 1, tzinfo=UTC)
    assert entry_identity(None, None, "Bulletin one", when) == "sha256:d0eb8d51e1ebe405afb4de71cf9db700"
    assert entry_identity(None, None, "Bulletin one", None) == "sha256:b0d290050e2dcd824f5250150cc57529"


def test_identity_prefers_guid_then_link() -> None:
    assert entry_identity("g", "https://x/", "t", None) == "g"
    assert entry_identity(None, "https://x/", "t", None) == "https://x/"


@pytest.mark.parametrize(
    ("url", "guess", "shown"),
    [
        # a search is not a secret: a log filter built from this must not mask "sanctions"
        (
            "https://www.gov.uk/search/news.atom?keywords=sanctions",
            False,
            "https://www.gov.uk/search/news.atom?keywords=sanctions",
        ),
        (
            "https://feeds.example/rss?token=feedtok3n&lang=en",
            False,
            "https://feeds.example/rss?token=****&lang=en",
        ),
        (
            "https://u:pw1234@x.example/feed?api_key=abc12",
            False,
            "https://u:****@x.example/feed?api_key=****",
        ),
        (
            "json://127.0.0.1:9/hooks/pathT0ken77?+X-Api-Key=abc",
            True,
            "json://127.0.0.1:9/hooks/****?+X-Api-Key=****",
        ),
        ("json://host/hook?method=POST", True, "json://host/hook?method=POST"),
    ],
)
def test_redacted_urls_mask_secrets_and_keep_the_rest(url: str, guess: bool, shown: str) -> None:
    from monitor.stages.urls import redact_url, secrets_in

    assert redact_url(url, guess=guess) == shown
    assert "sanctions" not in secrets_in(url, shown)
