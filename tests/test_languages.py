"""Languages: per-language vocabulary files, script normalisation, language detection."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from monitor.errors import TopicError
from monitor.stages.classify import Topic, classify, compile_topic
from monitor.stages.classify.normalise import clean, fold_table
from monitor.stages.classify.topics import add_language
from monitor.stages.language import detect_language
from tests.conftest import MONITOR, ROOT, write_config

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
    result = subprocess.run(
        [*MONITOR, "eval", str(labelled), "--config", str(write_config(tmp_path))],
        capture_output=True,
        text=True,
        env=cli_env,
        cwd=ROOT,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    table = result.stdout.split("per language", 1)[1]
    rows = {line.split()[0]: line.split() for line in table.splitlines()[2:] if line.strip()}
    assert set(rows) == {"de", "en", "not"}
    assert rows["de"][1:5] == ["2", "1:", "1.000", "/"] and rows["de"][5] == "1.000"
    assert rows["not"][2] == "2"  # "not en": the German stories alone
