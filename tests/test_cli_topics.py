"""monitor classify / eval / reclassify, as users run them."""

from __future__ import annotations

import json
import os
import sqlite3
from pathlib import Path

from tests.conftest import ROOT, write_config
from tests.loopback import Response, Site, rss, story
from tests.test_cli import monitor


def test_classify_a_text_file(cli_env: dict[str, str], tmp_path: Path) -> None:
    seed = next((ROOT / "seeds").glob("*.txt"))
    result = monitor("classify", str(seed), env=cli_env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("title: North Korea launches ballistic missiles")
    assert any(line.startswith("missile_launch") and "FLAGGED" in line for line in lines)
    assert any("launch of two ballistic missiles" in line for line in lines)


def test_classify_html_from_stdin(cli_env: dict[str, str], tmp_path: Path) -> None:
    import subprocess

    from tests.conftest import MONITOR

    page = (
        "<html><head><title>Launch</title></head><body><article><h1>Missile launch</h1>"
        + "".join(
            f"<p>Sentence {i}: North Korea fired a ballistic missile into the sea on Monday.</p>"
            for i in range(4)
        )
        + "</article></body></html>"
    )
    result = subprocess.run(
        [*MONITOR, "classify", "-"], input=page, capture_output=True, text=True, env=cli_env, cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr
    assert "FLAGGED" in result.stdout


def test_classify_jsonl_keeps_order_and_reports_bad_lines(cli_env: dict[str, str], tmp_path: Path) -> None:
    src = tmp_path / "in.jsonl"
    src.write_text(
        json.dumps({"id": "a", "title": "North Korea fires ballistic missile into sea", "text": ""})
        + "\n"
        + "{not json\n"
        + json.dumps({"id": "c", "title": 5, "text": "x"})
        + "\n"
        + "\n"
        + json.dumps({"id": "d", "title": "Council approves budget", "text": "Parks get more money."})
        + "\n"
    )
    result = monitor("classify", "--jsonl", str(src), env=cli_env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    out = [json.loads(line) for line in result.stdout.splitlines()]
    assert [o["id"] for o in out] == ["a", 2, "c", "d"]
    assert out[0]["flagged"] == ["missile_launch"] and out[0]["evidence"]["missile_launch"]
    assert set(out[0]["scores"]) == {"missile_launch", "sanctions"}
    assert "invalid JSON" in out[1]["error"] and "must be strings" in out[2]["error"]
    assert out[3]["flagged"] == []


def test_eval_prints_figures_and_misses(cli_env: dict[str, str], tmp_path: Path) -> None:
    src = tmp_path / "labelled.jsonl"
    rows = [
        {
            "id": 1,
            "title": "North Korea fires ballistic missile into sea",
            "text": "",
            "missile_launch": 1,
            "sanctions": 0,
        },
        {"id": 2, "title": "Council approves budget", "text": "", "missile_launch": 0, "sanctions": 0},
        {"id": 3, "title": "Analysts discuss deterrence", "text": "", "missile_launch": 1, "sanctions": 0},
    ]
    src.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    result = monitor("eval", str(src), env=cli_env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    line = next(x for x in result.stdout.splitlines() if x.strip().startswith("missile_launch"))
    assert line.split()[1:4] == ["1.000", "0.500", "0.667"]
    assert "missile_launch: false negatives (1" in result.stdout and "[3]" in result.stdout


def test_new_topic_in_config_flags_stories_through_poll_and_reclassify(
    tmp_path: Path, site: Site, cli_env: dict[str, str]
) -> None:
    """A topic defined only in config.yaml flags new stories in `monitor poll`; after editing it,
    `monitor reclassify` re-scores what is stored and reports the change."""
    nuke = "North Korea conducted its seventh underground nuclear test on Sunday, seismologists said."
    site.routes["/feed.xml"] = Response(
        rss([story(1, site, title="Nuclear test detected", text=nuke), story(2, site)])
    )
    topic: dict[str, object] = {
        "label": "Nuclear test",
        "terms": {"nuclear": ["nuclear tests?", "nuclear detonation"], "did": ["conducted", "detected"]},
        "rules": [{"name": "test_event", "all": ["nuclear", "did"], "weight": 3}],
    }
    cfg = write_config(
        tmp_path, feeds=[{"name": "Wire", "url": site.url("/feed.xml")}], topics={"nuclear_test": topic}
    )
    assert monitor("poll", "--config", str(cfg), env=cli_env).returncode == 0
    db = tmp_path / "monitor.db"
    conn = sqlite3.connect(db)
    assert conn.execute(
        "SELECT a.guid, m.topic FROM matches m JOIN articles a ON a.id = m.article"
    ).fetchall() == [("urn:test:1", "nuclear_test")]
    conn.close()

    topic["threshold"] = 0.99  # now the story no longer qualifies
    cfg = write_config(
        tmp_path, feeds=[{"name": "Wire", "url": site.url("/feed.xml")}], topics={"nuclear_test": topic}
    )
    result = monitor("reclassify", "--config", str(cfg), "--topic", "nuclear_test", env=cli_env)
    assert result.returncode == 0, result.stderr
    assert "1 no longer flagged" in result.stdout and "2 articles re-scored" in result.stdout
    conn = sqlite3.connect(db)
    assert conn.execute("SELECT count(*) FROM matches").fetchone()[0] == 0
    conn.close()


def test_reclassify_alert_queues_only_fresh_newly_flagged(
    tmp_path: Path, site: Site, cli_env: dict[str, str]
) -> None:
    site.routes["/feed.xml"] = Response(
        rss([story(1, site, title="Navy drill off the coast", text="Ships drilled.")])
    )
    base = {
        "feeds": [{"name": "Wire", "url": site.url("/feed.xml")}],
        "notify": [{"name": "hook", "url": "json://127.0.0.1:9/x"}],
    }
    cfg = write_config(tmp_path, **base)
    monitor("poll", "--config", str(cfg), env=cli_env)
    drills = {"terms": {"d": ["drill(?:ed|s)?"]}, "rules": [{"all": ["d"], "weight": 5}]}
    cfg = write_config(tmp_path, **base, topics={"naval_drill": drills})
    quiet = monitor("reclassify", "--config", str(cfg), env=cli_env)
    assert "1 newly flagged" in quiet.stdout and "0 alerts queued" in quiet.stdout
    conn = sqlite3.connect(tmp_path / "monitor.db")
    conn.execute("DELETE FROM matches")
    conn.commit()
    conn.close()
    loud = monitor("reclassify", "--config", str(cfg), "--alert", env=cli_env)
    assert "1 alerts queued" in loud.stdout, loud.stdout + loud.stderr


def test_reclassify_alert_beside_a_running_monitor_hands_delivery_to_it(
    tmp_path: Path, site: Site, cli_env: dict[str, str]
) -> None:
    """With the database's instance lock held (a daemon), `reclassify --alert` queues the alerts
    and leaves sending to the holder rather than sweeping the outbox beside it."""
    from monitor.store.lock import InstanceLock

    site.routes["/feed.xml"] = Response(
        rss([story(1, site, title="Navy drill off the coast", text="Ships drilled.")])
    )
    base = {
        "feeds": [{"name": "Wire", "url": site.url("/feed.xml")}],
        "notify": [{"name": "hook", "url": "json://127.0.0.1:9/x"}],
    }
    monitor("poll", "--config", str(write_config(tmp_path, **base)), env=cli_env)
    drills = {"terms": {"d": ["drill(?:ed|s)?"]}, "rules": [{"all": ["d"], "weight": 5}]}
    cfg = write_config(tmp_path, **base, topics={"naval_drill": drills})
    with InstanceLock(str(tmp_path / "monitor.db"), "monitor run"):
        result = monitor("reclassify", "--config", str(cfg), "--alert", env=cli_env)
    assert result.returncode == 0, result.stderr
    assert "1 alerts queued, 0 sent" in result.stdout
    assert f"the running monitor (pid {os.getpid()} (`monitor run`" in result.stdout
    conn = sqlite3.connect(tmp_path / "monitor.db")
    assert conn.execute("SELECT status, attempts FROM alerts").fetchall() == [("pending", 0)]
    conn.close()


def test_reclassify_dry_run_writes_nothing_and_a_removed_topic_loses_its_matches(
    tmp_path: Path, site: Site, cli_env: dict[str, str]
) -> None:
    nuke = "North Korea conducted its seventh underground nuclear test on Sunday, seismologists said."
    site.routes["/feed.xml"] = Response(rss([story(1, site, title="Nuclear test detected", text=nuke)]))
    topic: dict[str, object] = {
        "terms": {"nuclear": ["nuclear tests?"], "did": ["conducted"]},
        "rules": [{"name": "test_event", "all": ["nuclear", "did"], "weight": 3}],
    }
    feeds = [{"name": "Wire", "url": site.url("/feed.xml")}]
    cfg = write_config(tmp_path, feeds=feeds, topics={"nuclear_test": topic})
    assert monitor("poll", "--config", str(cfg), env=cli_env).returncode == 0
    db = tmp_path / "monitor.db"

    def matches() -> list[tuple[str, ...]]:
        conn = sqlite3.connect(db)
        try:
            return conn.execute("SELECT topic FROM matches").fetchall()
        finally:
            conn.close()

    assert matches() == [("nuclear_test",)]
    cfg = write_config(tmp_path, feeds=feeds, topics={})  # the topic is removed
    dry = monitor("reclassify", "--config", str(cfg), "--dry-run", env=cli_env)
    assert dry.returncode == 0, dry.stderr
    assert "dry run, nothing written" in dry.stdout and "1 no longer flagged" in dry.stdout
    assert matches() == [("nuclear_test",)]
    both = monitor("reclassify", "--config", str(cfg), "--dry-run", "--alert", env=cli_env)
    assert both.returncode == 2 and "cannot --alert" in both.stderr
    real = monitor("reclassify", "--config", str(cfg), env=cli_env)
    assert real.returncode == 0 and "1 no longer flagged" in real.stdout
    assert "no longer flagged: [1] nuclear_test" in real.stdout
    assert matches() == []


def test_eval_says_when_no_story_is_labelled_positive(cli_env: dict[str, str], tmp_path: Path) -> None:
    labelled = tmp_path / "negatives.jsonl"
    labelled.write_text(
        json.dumps(
            {"id": "1", "title": "Council approves budget", "text": "The council met.", "sanctions": 0}
        )
        + "\n"
    )
    result = monitor("eval", str(labelled), "--show", "0", env=cli_env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    line = next(row for row in result.stdout.splitlines() if row.strip().startswith("sanctions"))
    assert "no story is labelled positive for this topic" in line and "1.000" not in line
