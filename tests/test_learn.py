"""Learned scoring: features, model files, training, cross-validation, and the analyst's labels,
end to end through the CLI on a real database."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import numpy as np
import pytest

from monitor.errors import ModelError
from monitor.stages.classify import BUILTIN_TOPICS, load_topics
from monitor.stages.classify.features import lead_text, text_features
from monitor.stages.classify.learn import group_folds, source_group
from monitor.stages.classify.model import load_model, model_document, write_model
from tests.conftest import write_config
from tests.loopback import Response, Site, rss, story
from tests.test_cli import monitor

# A user topic: dock workers' strikes. Its rule fires on any "strike" near a port, so lightning
# and air strikes at ports are the false positives a model has to learn away.
PORT_STRIKE = {
    "label": "Port strike",
    "terms": {"strike": ["strikes?|striking|walkout"], "port": ["ports?|docks?|harbou?r|terminals?"]},
    "rules": [{"name": "strike_at_port", "all": ["strike", "port"], "weight": 5}],
}
PLACES = ["Rotterdam", "Antwerp", "Hamburg", "Felixstowe", "Le Havre", "Genoa", "Valencia", "Gdansk"]


def labelled_stories() -> list[dict[str, object]]:
    """Stories written for this test, from eight made-up outlets: labour strikes at ports are
    the topic; air strikes near ports and strikes elsewhere are not."""
    out: list[dict[str, object]] = []
    for i, place in enumerate(PLACES * 2):
        outlet = f"https://outlet{i % 8}.example/news/{i}"
        out.append(
            {
                "id": f"pos-{i}",
                "title": f"Dock workers strike at the port of {place}",
                "text": f"Union members at {place} walked out on day {i} over pay; cranes stood idle "
                "and ships queued outside the harbour as the walkout continued.",
                "source": outlet,
                "lang": "en",
                "port_strike": 1,
            }
        )
        out.append(
            {
                "id": f"neg-{i}",
                "title": f"Air strike hits fuel depot near the port of {place}",
                "text": f"Jets bombed the depot on day {i}; the harbour master said the terminals "
                "were damaged and fires burned through the night after the strikes.",
                "source": outlet,
                "lang": "en",
                "port_strike": 0,
            }
        )
        out.append(
            {
                "id": f"other-{i}",
                "title": f"Council approves budget for {place} parks",
                "text": "Councillors voted for new benches and trees.",
                "source": outlet,
                "lang": "en",
                "port_strike": 0,
            }
        )
    return out


def write_jsonl(path: Path, records: list[dict[str, object]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


def test_features_are_deterministic_and_need_no_tokeniser() -> None:
    lead = lead_text(
        "북한, 동해상으로 탄도미사일 발사", "합동참모본부는 북한이 오늘 오전 탄도미사일을 발사했다고 밝혔다."
    )
    a, b = text_features(lead), text_features(lead)
    assert np.array_equal(a.indices, b.indices) and np.array_equal(a.values, b.values)
    assert len(a.indices) > 50  # character n-grams of Korean, with no word splitting
    other = text_features(lead_text("Council approves budget", "The council met."))
    assert set(a.indices.tolist()) != set(other.indices.tolist())


def test_group_folds_never_split_a_source() -> None:
    assert source_group("https://www.bbc.co.uk/news/world-1") == "bbc.co.uk"
    assert source_group("expected.txt (title: source.html <title>) https://apnews.com/a/b") == "apnews.com"
    assert source_group("loki86/ksr_zadanie1V2:reut2-001.sgm") == "loki86/ksr_zadanie1V2"
    groups = [source_group(f"https://www.site{i % 7}.example/a/{i}") for i in range(100)]
    assignment = group_folds(groups, 5)
    assert set(assignment) == {f"site{k}.example" for k in range(7)}
    sizes = [sum(1 for g in groups if assignment[g] == f) for f in range(5)]
    assert max(sizes) - min(sizes) <= 15 and min(sizes) > 0


def test_built_in_topics_ship_models_trained_on_their_current_rules() -> None:
    """A rule edited without retraining would leave the shipped model reading rules it never saw."""
    topics = {t.name: t for t in load_topics()}
    for name in BUILTIN_TOPICS:
        model = topics[name].model
        assert model is not None, f"monitor/models/{name}.json is missing"
        assert model.rules_version == topics[name].rules_version, (
            f"{name}: rules changed since its model was trained; run "
            "`monitor train ../shared/corpus/labelled-dev.jsonl --out monitor/models`"
        )
        assert 0 < model.threshold < 1


def test_a_damaged_or_foreign_model_file_is_refused_by_name(tmp_path: Path) -> None:
    document = model_document(
        topic="port_strike",
        bits=16,
        intercept=-1.0,
        weights=np.linspace(-1, 1, 1 << 16),
        threshold=0.4,
        rules_version="abc",
        info={},
    )
    path = tmp_path / "port_strike.json"
    write_model(document, path)
    model = load_model(path)
    assert model.threshold == 0.4 and model.topic == "port_strike" and model.origin == str(path)
    assert abs(float(model.weights[-1]) - 1.0) < 1e-3

    edited = {**document, "threshold": 0.1}
    path.write_text(json.dumps(edited))
    with pytest.raises(ModelError, match=r"port_strike\.json: sha256"):
        load_model(path)
    path.write_text("not json")
    with pytest.raises(ModelError, match="invalid JSON"):
        load_model(path)
    path.write_text(json.dumps({**document, "format": "pickle"}))
    with pytest.raises(ModelError, match="format"):
        load_model(path)


def test_a_broken_model_in_the_models_folder_is_a_config_error_naming_it(
    tmp_path: Path, cli_env: dict[str, str]
) -> None:
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "sanctions.json").write_text("{}")
    cfg = write_config(tmp_path)
    checked = monitor("check", "--config", str(cfg), env=cli_env)
    assert checked.returncode == 1
    assert "models/sanctions.json: format: expected 'monitor-model/1'" in checked.stdout
    polled = monitor("poll", "--config", str(cfg), env=cli_env)
    assert polled.returncode == 2 and "sanctions.json" in polled.stderr


def test_train_is_deterministic_and_eval_cv_reports_grouped_figures(
    tmp_path: Path, cli_env: dict[str, str]
) -> None:
    data = write_jsonl(tmp_path / "labelled.jsonl", labelled_stories())
    cfg = write_config(tmp_path, topics={"port_strike": PORT_STRIKE})
    runs = []
    for out in ("a", "b"):
        result = monitor(
            "train",
            str(data),
            "--topic",
            "port_strike",
            "--out",
            str(tmp_path / out),
            "--config",
            str(cfg),
            env=cli_env,
        )
        assert result.returncode == 0, result.stderr
        assert "port_strike" in result.stdout and "threshold" in result.stdout
        runs.append((tmp_path / out / "port_strike.json").read_bytes())
    assert runs[0] == runs[1]
    assert json.loads(runs[0])["info"]["stories"] == 48

    result = monitor("eval", str(data), "--cv", "4", "--json", "--config", str(cfg), env=cli_env)
    assert result.returncode == 0, result.stderr
    [figures] = [r for r in json.loads(result.stdout) if r["topic"] == "port_strike"]
    model = figures["figures"]["all stories"]["model"]
    rules = figures["figures"]["all stories"]["rules"]
    assert rules["precision"] == pytest.approx(0.5)  # the rule fires on every strike at a port
    assert model["precision"] > rules["precision"] and model["recall"] >= 0.9
    assert figures["languages"]["en"]["model"]["tp"] == model["tp"]
    assert set(figures["languages"]["en"]) == {"model", "rules"}  # keywords: built-in topics only


def test_label_train_reclassify_turns_a_false_positive_into_a_negative(
    tmp_path: Path, site: Site, cli_env: dict[str, str]
) -> None:
    """End to end: a story the topic wrongly flags is labelled by the analyst, the model is
    retrained with the label, and reclassify unflags it in the database."""
    site.routes["/feed.xml"] = Response(
        rss(
            [
                story(
                    1,
                    site,
                    title="Dock workers and port operator strike a deal at Rotterdam",
                    text="Union members and the port operator signed a pay deal on Friday, averting "
                    "a walkout; cranes kept working and ships sailed on time.",
                )
            ]
        )
    )
    cfg = write_config(
        tmp_path, feeds=[{"name": "Wire", "url": site.url("/feed.xml")}], topics={"port_strike": PORT_STRIKE}
    )
    assert monitor("poll", "--config", str(cfg), env=cli_env).returncode == 0
    db = tmp_path / "monitor.db"

    def flagged() -> list[str]:
        with sqlite3.connect(db) as conn:
            return [r[0] for r in conn.execute("SELECT topic FROM matches WHERE topic = 'port_strike'")]

    assert flagged() == ["port_strike"]  # the rule alone: a false positive
    with sqlite3.connect(db) as conn:
        (article_id,) = conn.execute("SELECT id FROM articles").fetchone()

    data = write_jsonl(tmp_path / "labelled.jsonl", labelled_stories())
    trained = monitor("train", str(data), "--config", str(cfg), "--topic", "port_strike", env=cli_env)
    assert trained.returncode == 0, trained.stderr
    assert (tmp_path / "models" / "port_strike.json").is_file()  # beside the database by default
    monitor("reclassify", "--config", str(cfg), env=cli_env)
    assert flagged() == ["port_strike"], "the labelled file alone has no deal struck at a port"

    labelled = monitor(
        "label", str(article_id), "--topic", "port_strike", "--no", "--config", str(cfg), env=cli_env
    )
    assert labelled.returncode == 0, labelled.stderr
    again = monitor(
        "train", str(data), "--with-labels", "--topic", "port_strike", "--config", str(cfg), env=cli_env
    )
    assert "1 from labels" in again.stdout, again.stdout + again.stderr
    result = monitor("reclassify", "--config", str(cfg), env=cli_env)
    assert f"no longer flagged: [{article_id}] port_strike" in result.stdout, result.stdout + result.stderr
    assert flagged() == []
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT article, topic, label FROM labels").fetchall() == [
            (article_id, "port_strike", 0)
        ]


def test_label_rejects_an_unknown_article_or_topic(tmp_path: Path, cli_env: dict[str, str]) -> None:
    cfg = write_config(tmp_path)
    missing = monitor("label", "999", "--topic", "sanctions", "--yes", "--config", str(cfg), env=cli_env)
    assert missing.returncode == 1 and "no article with id 999" in missing.stderr
    unknown = monitor("label", "1", "--topic", "weather", "--yes", "--config", str(cfg), env=cli_env)
    assert unknown.returncode == 2 and "no enabled topic named 'weather'" in unknown.stderr


def test_a_topic_defined_only_in_yaml_still_flags_through_poll(
    tmp_path: Path, site: Site, cli_env: dict[str, str]
) -> None:
    site.routes["/feed.xml"] = Response(
        rss([story(1, site, title="Dock workers strike at the port", text="Union members walked out.")])
    )
    cfg = write_config(
        tmp_path, feeds=[{"name": "Wire", "url": site.url("/feed.xml")}], topics={"port_strike": PORT_STRIKE}
    )
    result = monitor("poll", "--config", str(cfg), env=cli_env)
    assert result.returncode == 0, result.stderr
    with sqlite3.connect(tmp_path / "monitor.db") as conn:
        rows = conn.execute("SELECT topic, score FROM matches").fetchall()
    assert [topic for topic, _ in rows] == ["port_strike"]
    topics = {t.name: t for t in load_topics({"port_strike": PORT_STRIKE})}
    assert topics["port_strike"].model is None and topics["sanctions"].model is not None
    checked = monitor("check", "--config", str(cfg), env=cli_env).stdout
    assert "topic port_strike: rules alone, flag at 0.5" in checked
    model = "monitor/models/sanctions.json for en (the rules alone elsewhere)"
    assert f"topic sanctions: rules and model {model}" in checked


def test_topics_with_models_score_alike_after_pickling() -> None:
    """Topics travel to worker processes: the model (dense weights) goes with them."""
    import pickle

    from monitor.stages.classify import classify

    topics = load_topics()
    loaded = pickle.loads(pickle.dumps(topics))
    seed = next((Path(__file__).parent.parent / "seeds").glob("*.txt")).read_text(encoding="utf-8")
    title, _, body = seed.partition("\n")
    assert classify(title, body, loaded) == classify(title, body, topics)
    assert all(t.model is not None for t in loaded)


def test_train_skips_a_topic_its_data_cannot_teach(tmp_path: Path, cli_env: dict[str, str]) -> None:
    """Too few positives, or none the rules find: the topic keeps its rules, and says why."""
    few = [r for r in labelled_stories() if r["port_strike"] == 0] + labelled_stories()[:3]
    data = write_jsonl(tmp_path / "few.jsonl", few)
    cfg = write_config(tmp_path, topics={"port_strike": PORT_STRIKE})
    result = monitor("train", str(data), "--topic", "port_strike", "--config", str(cfg), env=cli_env)
    assert result.returncode == 0, result.stderr
    assert "port_strike          skipped: needs at least 5 positive" in result.stdout
    unseen = [
        {**r, "title": "Dockers stop work", "text": "Union members walked out."} if r["port_strike"] else r
        for r in labelled_stories()
    ]
    data = write_jsonl(tmp_path / "unseen.jsonl", unseen)
    result = monitor("train", str(data), "--topic", "port_strike", "--config", str(cfg), env=cli_env)
    assert result.returncode == 0, result.stderr
    assert (
        "skipped: port_strike: training needs positive and negative stories the rules find" in result.stdout
    )
    assert not (tmp_path / "models" / "port_strike.json").exists()
