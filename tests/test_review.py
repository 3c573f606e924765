"""Review commands on a database filled by real polls (one feed failing, one channel failing):
`articles`, `show`, `search`, `feeds`, `stats`, `export`, `status`, `alerts`, as tables and JSON."""

from __future__ import annotations

import csv
import io
import json
import re
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import MONITOR, ROOT, Receiver, write_config
from tests.loopback import Response, Site, rss, story

LAUNCH = (
    "North Korea fired two ballistic missiles into the East Sea on Tuesday morning, South Korea's "
    "Joint Chiefs of Staff said, the latest in a series of launches that violate UN resolutions."
)
LAUNCH_2 = (
    "Japan's defence ministry said a North Korean ballistic missile launched on Tuesday fell outside "
    "its exclusive economic zone after flying about 350 km."
)
# Feed text that would be markup to rich and a formula to a spreadsheet.
HOSTILE_TITLE = '=HYPERLINK("http://evil.example") [bold red]council[/bold red] budget'


@dataclass
class Filled:
    cfg: Path
    db: Path
    env: dict[str, str]
    chat: Receiver
    pager: Receiver


def run(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*MONITOR, *args], capture_output=True, text=True, env=env, timeout=120, cwd=ROOT)


@pytest.fixture(scope="module")
def filled(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Filled]:
    tmp = tmp_path_factory.mktemp("review")
    site = Site().start()
    chat, pager = Receiver(), Receiver()
    pager.status = 500
    site.routes["/wire.xml"] = Response(
        rss(
            [
                story(1, site, title="North Korea fires two ballistic missiles into East Sea", text=LAUNCH),
                story(2, site, title="Japan says North Korean missile fell outside its EEZ", text=LAUNCH_2),
                story(3, site, title=HOSTILE_TITLE),
            ]
        )
    )
    cfg = write_config(
        tmp,
        feeds=[
            {"name": "Wire", "url": site.url("/wire.xml")},
            {"name": "Broken", "url": site.url("/gone.xml")},
        ],
        notify=[{"name": "chat", "url": chat.url}, {"name": "pager", "url": pager.url}],
        alerts={"max_attempts": 1},
    )
    env = {k: v for k, v in __import__("os").environ.items() if not k.startswith("MONITOR_")}
    env |= {"PYTHONUNBUFFERED": "1", "MONITOR_CONFIG": str(cfg), "COLUMNS": "250"}
    polled = run("poll", env=env)
    assert polled.returncode == 0, polled.stderr
    try:
        yield Filled(cfg=cfg, db=tmp / "monitor.db", env=env, chat=chat, pager=pager)
    finally:
        site.stop()
        for r in (chat, pager):
            r.server.shutdown()
            r.server.server_close()


def json_lines(result: subprocess.CompletedProcess[str]) -> list[dict[str, Any]]:
    assert result.returncode == 0, result.stderr
    return [json.loads(line) for line in result.stdout.splitlines() if line.strip()]


def test_articles_lists_every_story_with_its_topics(filled: Filled) -> None:
    rows = json_lines(run("articles", "--json", env=filled.env))
    assert len(rows) == 3
    by_title = {r["title"]: r for r in rows}
    launch = by_title["North Korea fires two ballistic missiles into East Sea"]
    assert "missile_launch" in launch["topics"] and launch["feed"] == "Wire"
    assert by_title[HOSTILE_TITLE]["topics"] == {}
    assert [r["id"] for r in rows] == sorted((r["id"] for r in rows), reverse=True)  # newest first

    flagged = json_lines(run("articles", "--flagged", "--json", env=filled.env))
    assert {r["title"] for r in flagged} == {t for t, r in by_title.items() if r["topics"]}
    assert len(flagged) == 2
    assert json_lines(run("articles", "--topic", "sanctions", "--json", env=filled.env)) == []
    assert json_lines(run("articles", "--feed", "Broken", "--json", env=filled.env)) == []
    assert len(json_lines(run("articles", "--since", "1h", "--limit", "1", "--json", env=filled.env))) == 1

    table = run("articles", env=filled.env)
    assert table.returncode == 0
    assert "North Korea fires two ballistic missiles" in table.stdout
    assert "[bold red]council[/bold red]" in table.stdout  # shown as written, never as markup
    assert "missile_launch" in table.stdout

    unknown = run("articles", "--feed", "Nope", env=filled.env)
    assert unknown.returncode == 2 and "no feed named 'Nope'" in unknown.stderr
    unknown = run("articles", "--topic", "weather", env=filled.env)
    assert unknown.returncode == 2 and "no topic named 'weather'" in unknown.stderr


def _launch_id(filled: Filled) -> int:
    rows = json_lines(run("articles", "--topic", "missile_launch", "--json", env=filled.env))
    return int(min(int(str(r["id"])) for r in rows))


def test_show_gives_scores_evidence_and_alert_delivery(filled: Filled) -> None:
    article = _launch_id(filled)
    detail = json.loads(run("show", str(article), "--json", env=filled.env).stdout)
    assert detail["row"]["id"] == article
    (match,) = [m for m in detail["matches"] if m["topic"] == "missile_launch"]
    assert match["score"] > 0.5 and match["evidence"]
    states = {a["channel"]: a["status"] for a in detail["alerts"]}
    assert states == {"chat": "sent", "pager": "failed"}
    (failed,) = [a for a in detail["alerts"] if a["channel"] == "pager"]
    assert "500" in failed["last_error"]
    assert " - WARNING - " not in failed["last_error"]  # the reason, not a log line
    assert detail["scores_now"]["missile_launch"] > 0.5 and "sanctions" in detail["scores_now"]

    table = run("show", str(article), env=filled.env)
    assert table.returncode == 0
    assert "missile_launch: score" in table.stdout and "scores now" in table.stdout
    assert "pager: failed" in table.stdout and "chat: sent" in table.stdout
    assert any(line.strip().startswith("- ") for line in table.stdout.splitlines())  # evidence quotes

    missing = run("show", "99999", env=filled.env)
    assert missing.returncode == 1 and "no article with id 99999" in missing.stderr


def test_search_ranks_and_highlights(filled: Filled) -> None:
    hits = json_lines(run("search", "ballistic missiles", "--json", env=filled.env))
    assert {h["title"] for h in hits} == {
        "North Korea fires two ballistic missiles into East Sea",
        "Japan says North Korean missile fell outside its EEZ",
    }
    assert hits[0]["title"] == "North Korea fires two ballistic missiles into East Sea"  # in its headline
    assert "«ballistic»" in str(hits[0]["snippet"])
    assert json_lines(run("search", "budget", "--topic", "missile_launch", "--json", env=filled.env)) == []
    # FTS5 operators in plain words are words, not syntax; with --raw they are syntax.
    (hit,) = json_lines(run("search", 'council" AND (budget', "--json", env=filled.env))
    assert hit["title"] == HOSTILE_TITLE
    either = json_lines(run("search", "--raw", "EEZ OR council", "--json", env=filled.env))
    assert len(either) == 2
    bad = run("search", "--raw", "AND AND", env=filled.env)
    assert bad.returncode == 1 and "invalid search" in bad.stderr
    table = run("search", "exclusive economic", env=filled.env)
    assert table.returncode == 0 and "Japan says North Korean missile" in table.stdout
    assert "exclusive economic zone" in table.stdout


def test_feeds_puts_failing_feeds_first(filled: Filled) -> None:
    rows = json_lines(run("feeds", "--json", env=filled.env))
    assert [r["name"] for r in rows] == ["Broken", "Wire"]
    broken, wire = rows
    assert broken["failing"] and broken["last_status"] == 404 and broken["consecutive_errors"] == 1
    assert "HTTP 404" in str(broken["last_error"]) and broken["last_ok_at"] is None
    assert wire["last_status"] == 200 and wire["last_new"] == 3 and wire["articles"] == 3
    assert wire["flagged"] == 2 and not wire["failing"] and wire["next_poll_at"]
    table = run("feeds", env=filled.env)
    assert table.returncode == 0 and "2 feeds, 1 failing" in table.stdout
    lines = table.stdout.splitlines()
    assert next(i for i, line in enumerate(lines) if "Broken" in line) < next(
        i for i, line in enumerate(lines) if "Wire" in line
    )
    only = json_lines(run("feeds", "--failing", "--json", env=filled.env))
    assert [r["name"] for r in only] == ["Broken"]
    as_csv = run("feeds", "--csv", env=filled.env)
    assert next(iter(csv.DictReader(io.StringIO(as_csv.stdout))))["name"] == "Broken"


def test_stats_counts_topics_feeds_days_and_delivery(filled: Filled) -> None:
    figures = json.loads(run("stats", "--json", env=filled.env).stdout)
    assert figures["articles"] == 3 and figures["flagged"] == 2
    (topic,) = figures["topics"]
    assert topic["topic"] == "missile_launch" and topic["stories"] == 2 and topic["alerts_sent"] >= 1
    assert {f["feed"]: f["articles"] for f in figures["feeds"]} == {"Wire": 3, "Broken": 0}
    (day,) = figures["days"]
    assert day["articles"] == 3 and day["missile_launch"] == 2
    delivery = {(a["channel"], a["kind"]): a for a in figures["alerts"]}
    chat = sum(a["sent"] for (c, _), a in delivery.items() if c == "chat")
    pager = sum(a["failed"] for (c, _), a in delivery.items() if c == "pager")
    assert chat == pager >= 1  # the same alerts: sent on one channel, failed on the other
    table = run("stats", env=filled.env)
    assert (
        table.returncode == 0 and "3 stories, 2 flagged" in table.stdout and "alert delivery" in table.stdout
    )


def test_export_writes_every_story_with_text(filled: Filled, tmp_path: Path) -> None:
    lines = json_lines(run("export", "--format", "jsonl", env=filled.env))
    assert len(lines) == 3 and all(r["text"] for r in lines)
    assert [r["id"] for r in lines] == sorted(r["id"] for r in lines)  # oldest first
    out = tmp_path / "stories.csv"
    result = run("export", "--format", "csv", "--flagged", "-o", str(out), env=filled.env)
    assert result.returncode == 0, result.stderr
    rows = list(csv.DictReader(io.StringIO(out.read_text(encoding="utf-8"))))
    assert len(rows) == 2 and all("ballistic" in r["text"] for r in rows)
    everything = list(csv.DictReader(io.StringIO(run("export", "--format", "csv", env=filled.env).stdout)))
    (hostile,) = [r for r in everything if "council" in r["title"]]
    assert hostile["title"] == "'" + HOSTILE_TITLE  # never a formula in a spreadsheet


def test_status_is_healthy_after_a_poll_and_not_when_stale(filled: Filled, tmp_path: Path) -> None:
    ok = run("status", env=filled.env)
    assert ok.returncode == 0, ok.stdout
    assert ok.stdout.startswith("healthy") and "failing 1" in ok.stdout and "1 failed" in ok.stdout
    state = json.loads(run("status", "--json", env=filled.env).stdout)
    assert state["healthy"] and state["feeds"] == 2 and state["feeds_failing"] == 1
    assert state["alerts"]["failed"] >= 1 and state["alerts"]["sent"] >= 1

    stale_db = tmp_path / "monitor.db"
    shutil.copy(filled.db, stale_db)
    conn = sqlite3.connect(stale_db)
    conn.execute("UPDATE feeds SET last_ok_at = '2026-01-01T00:00:00Z', created_at = '2026-01-01T00:00:00Z'")
    conn.commit()
    conn.close()
    cfg = write_config(tmp_path, feeds=[{"name": "Wire", "url": "http://127.0.0.1:9/x"}])
    stale = run("status", "--config", str(cfg), env=filled.env)
    assert stale.returncode == 1 and stale.stdout.startswith("UNHEALTHY")
    assert "no successful poll since 2026-01-01T00:00:00Z" in stale.stdout

    (tmp_path / "empty").mkdir()
    empty = write_config(tmp_path / "empty")
    never = run("status", "--config", str(empty), env=filled.env)
    assert never.returncode == 1 and "no feed has been polled" in never.stdout


def test_alerts_filter_by_channel_and_show_topics(filled: Filled) -> None:
    pager = json_lines(run("alerts", "--channel", "pager", "--json", env=filled.env))
    assert pager and {a["channel"] for a in pager} == {"pager"} and {a["status"] for a in pager} == {"failed"}
    assert all("missile_launch" in a["topics"] for a in pager)
    table = run("alerts", "--channel", "chat", env=filled.env)
    assert table.returncode == 0 and "missile_launch" in table.stdout and "pager" not in table.stdout
    assert "channel" in table.stdout.splitlines()[0] or "channel" in table.stdout  # a header
    unknown = run("alerts", "--channel", "nope", env=filled.env)
    assert unknown.returncode == 2 and "no channel named 'nope'" in unknown.stderr
    retry = run("alerts", "retry", "--channel", "nope", env=filled.env)
    assert retry.returncode == 2 and "no channel named 'nope'" in retry.stderr


def readme_shell_examples() -> list[str]:
    """Every `monitor ...` line of the README's sh blocks (the quickstart's make lines aside)."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    lines = []
    for block in re.findall(r"```sh\n(.*?)```", readme, flags=re.DOTALL):
        for line in block.splitlines():
            command = line.split("  #", 1)[0].strip()
            if command.startswith("monitor "):
                lines.append(command)
    return lines


def test_the_readme_examples_run_as_written(filled: Filled, tmp_path: Path) -> None:
    """After the quickstart, on a database with stories: each example exits 0. The only
    liberty: `show 1234` names a story that exists here."""
    examples = readme_shell_examples()
    assert len(examples) >= 9
    corpus = ROOT.parent / "shared" / "corpus" / "labelled-dev.jsonl"
    if corpus.exists():  # a small labelled file for the `eval`/`train` examples
        stories = [json.loads(line) for line in corpus.read_text(encoding="utf-8").splitlines()]
        sample = [s for s in stories if s.get("lang", "en") == "en"][:400]
        (tmp_path / "labelled.jsonl").write_text("".join(json.dumps(s) + "\n" for s in sample))
    else:
        examples = [e for e in examples if "labelled.jsonl" not in e]
    env = {**filled.env, "PATH": f"{Path(sys.executable).parent}:{filled.env.get('PATH', '')}"}
    story = _launch_id(filled)
    for example in examples:
        command = example.replace("monitor show 1234", f"monitor show {story}")
        result = subprocess.run(
            ["bash", "-c", command], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=600
        )
        assert result.returncode == 0, (example, result.stdout[-1000:], result.stderr[-2000:])
        assert "needs attention" not in result.stdout
    assert (tmp_path / "flagged.csv").read_text(encoding="utf-8").count("\n") >= 3  # header + 2 stories


def test_alerts_show_when_a_pending_digest_goes_out(tmp_path: Path, site: Site, receiver: Receiver) -> None:
    from datetime import UTC, datetime, timedelta

    site.routes["/wire.xml"] = Response(
        rss([story(1, site, title="North Korea fires two ballistic missiles into East Sea", text=LAUNCH)])
    )
    cfg = write_config(
        tmp_path,
        feeds=[{"name": "Wire", "url": site.url("/wire.xml")}],
        notify=[{"name": "morning", "url": receiver.url, "mode": "digest", "schedule": "0 8 * * *"}],
    )
    env = {k: v for k, v in __import__("os").environ.items() if not k.startswith("MONITOR_")}
    env["MONITOR_CONFIG"] = str(cfg)
    assert run("poll", env=env).returncode == 0
    (alert,) = json_lines(run("alerts", "--json", env=env))
    assert alert["status"] == "pending" and receiver.posts == []
    created = datetime.fromisoformat(alert["created_at"].replace("Z", "+00:00"))
    due = datetime.fromisoformat(alert["due_at"].replace("Z", "+00:00"))
    assert due.hour == 8 and due.minute == 0 and created < due <= created + timedelta(days=1)
    assert due.tzinfo is not None and due.utcoffset() == UTC.utcoffset(None)
    table = run("alerts", env=env)
    assert due.strftime("%Y-%m-%d 08:00") in table.stdout
