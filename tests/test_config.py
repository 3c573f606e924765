from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from monitor.config import load_settings, parse_duration, parse_settings, parse_size, resolve_feeds
from monitor.errors import ConfigError


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("30s", 30),
        ("15m", 900),
        ("2h", 7200),
        ("1d", 86400),
        ("1w", 604800),
        (45, 45),
        ("1.5h", 5400),
        ("250ms", 0.25),
    ],
)
def test_durations(text: object, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("bad", ["", "soon", "15 minutes", "-5m", "0s", True, "m15"])
def test_bad_durations(bad: object) -> None:
    with pytest.raises(ValueError, match="duration"):
        parse_duration(bad)


@pytest.mark.parametrize(
    ("text", "size"),
    [("512KB", 512 * 1024), ("10MB", 10 * 1024**2), ("1GiB", 1024**3), (2048, 2048), ("100B", 100)],
)
def test_sizes(text: object, size: int) -> None:
    assert parse_size(text) == size


@given(st.integers(min_value=1, max_value=10**6), st.sampled_from(["s", "m", "h", "d", "w"]))
def test_duration_round_trip(n: int, unit: str) -> None:
    factor = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}[unit]
    assert parse_duration(f"{n}{unit}") == n * factor


def test_defaults_and_env_expansion(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MON_TOKEN", "s3cret")
    settings = parse_settings({"notify": [{"url": "json://host/${MON_TOKEN}/x"}]})
    assert settings.notify[0].url == "json://host/s3cret/x"
    assert settings.fetch.timeout == 20 and settings.alerts.max_age == 2 * 86400
    assert "s3cret" not in repr(settings.notify[0])  # the URL is kept out of reprs and tracebacks


def test_every_problem_is_reported_with_its_key() -> None:
    with pytest.raises(ConfigError) as info:
        parse_settings(
            {"fetch": {"timeout": "x", "bogus": 1}, "schedule": {"default_interval": "1q"}, "extra": 1}
        )
    problems = info.value.problems
    assert "fetch.timeout: expected a duration such as 30s, 15m, 2h or 1d, got 'x'" in problems
    assert "fetch.bogus: unknown key" in problems
    assert "extra: unknown key; did you mean 'extract'?" in problems
    assert any(p.startswith("schedule.default_interval:") for p in problems)


def test_invalid_yaml_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("feeds:\n  - url: [unclosed\n")
    with pytest.raises(ConfigError, match=r"line \d+: invalid YAML"):
        load_settings(path)


def test_relative_paths_are_relative_to_the_config_file(tmp_path: Path) -> None:
    (tmp_path / "subs.opml").write_text(
        "<opml version='2.0'><body><outline text='Folder'>"
        "<outline text='Wire A' xmlUrl='https://a.example/rss'/>"
        "<outline title='Wire B' xmlUrl='https://b.example/atom'/>"
        "<outline text='Wire A' xmlUrl='https://a2.example/rss'/>"
        "</outline></body></opml>"
    )
    path = tmp_path / "c.yaml"
    path.write_text(
        "database: data/m.db\nfeeds:\n  - opml: subs.opml\n    interval: 5m\n  - url: https://c.example/\n"
    )
    settings = load_settings(path)
    assert settings.database == str(tmp_path / "data" / "m.db")
    feeds = resolve_feeds(settings)
    assert [(f.name, f.url, f.interval) for f in feeds] == [
        ("Wire A", "https://a.example/rss", 300),
        ("Wire B", "https://b.example/atom", 300),
        ("Wire A (2)", "https://a2.example/rss", 300),
        ("c.example", "https://c.example/", 900),
    ]


def test_duplicate_feed_names_and_missing_opml() -> None:
    settings = parse_settings(
        {
            "feeds": [
                {"name": "X", "url": "https://a.example/"},
                {"name": "X", "url": "https://b.example/"},
                {"opml": "/nonexistent/subs.opml"},
            ]
        }
    )
    with pytest.raises(ConfigError) as info:
        resolve_feeds(settings)
    assert "feeds[1].name: 'X' is used by another feed" in info.value.problems
    assert any(p.startswith("feeds[2].opml: cannot read") for p in info.value.problems)


def test_unknown_timezone() -> None:
    with pytest.raises(ConfigError, match="timezone: unknown time zone"):
        parse_settings({"timezone": "Mars/Olympus"})


@given(st.integers(min_value=1, max_value=10**6), st.sampled_from(["B", "KB", "MB", "GB", "KiB", "MiB"]))
def test_size_round_trip(n: int, unit: str) -> None:
    factor = {"B": 1, "KB": 1024, "MB": 1024**2, "GB": 1024**3, "KiB": 1024, "MiB": 1024**2}[unit]
    assert parse_size(f"{n}{unit}") == n * factor
    assert parse_size(f"{n} {unit.lower()}") == n * factor


def test_a_misspelt_feed_key_gives_one_message_with_a_suggestion() -> None:
    raw = {
        "feeds": [{"url": "https://example.org/rss", "intervall": "5m"}, {"opml": "x.opml", "intervl": "1h"}]
    }
    with pytest.raises(ConfigError) as caught:
        parse_settings(raw)
    assert caught.value.problems == [
        "feeds[0].intervall: unknown key; did you mean 'interval'?",
        "feeds[1].intervl: unknown key; did you mean 'interval'?",
    ]


def test_unknown_keys_elsewhere_get_suggestions_only_when_close() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_settings({"fetch": {"timout": "3s"}, "notify": [{"url": "json://x", "topcs": []}], "colour": 1})
    assert set(caught.value.problems) == {
        "fetch.timout: unknown key; did you mean 'timeout'?",
        "notify[0].topcs: unknown key; did you mean 'topics'?",
        "colour: unknown key",
    }


def test_monitor_database_replaces_the_database_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = tmp_path / "etc" / "config.yaml"
    cfg.parent.mkdir()
    cfg.write_text("database: monitor.db\n")
    assert load_settings(cfg).database == str(cfg.parent / "monitor.db")
    monkeypatch.setenv("MONITOR_DATABASE", str(tmp_path / "state" / "monitor.db"))
    assert load_settings(cfg).database == str(tmp_path / "state" / "monitor.db")


def test_diagnose_reports_settings_topics_channels_and_database_together(tmp_path: Path) -> None:
    from monitor.service.runtime import diagnose

    cfg = tmp_path / "config.yaml"
    cfg.write_text(
        "database: missing/folder/m.db\n"
        "fetch: {timout: 3s}\n"
        "notify: [{url: 'nosuch://secret-token-9'}]\n"
        "topics: {sanctions: {enabled: maybe}}\n"
    )
    runtime, problems = diagnose(cfg)
    assert runtime is None
    assert problems[0] == "fetch.timout: unknown key; did you mean 'timeout'?"
    assert "topics.sanctions.enabled: expected true or false" in problems
    assert any(
        p.startswith("notify[0].url: not a usable apprise URL: Unparseable URL nosuch://") for p in problems
    )
    assert any(p.startswith("database: folder ") and "does not exist" in p for p in problems)
    assert "secret-token-9" not in " ".join(problems)
    good = tmp_path / "good.yaml"
    good.write_text("database: m.db\n")
    runtime, problems = diagnose(good)
    assert runtime is not None and problems == []
