from __future__ import annotations

import itertools
import json
import multiprocessing
import os
import pickle
import re
import subprocess
import sys
from concurrent.futures import ProcessPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.errors import TopicError
from monitor.records import Verdict
from monitor.stages.classify import classify, compile_topic, load_topics, split_sentences
from monitor.stages.classify.score import _Doc
from monitor.stages.classify.segment import ABBREVIATIONS
from monitor.stages.classify.topics import for_language
from tests.conftest import ROOT

# These tests are about the rules: the built-in topics without their trained models
# (tests/test_learn.py covers the models).
RULES_ONLY: dict[str, dict[str, Any]] = {"missile_launch": {"model": False}, "sanctions": {"model": False}}
TOPICS = load_topics(RULES_ONLY)


def verdict(title: str, text: str = "", topic: str = "missile_launch"):  # type: ignore[no-untyped-def]
    return {v.topic: v for v in classify(title, text, TOPICS)}[topic]


def test_seed_article_is_a_missile_launch() -> None:
    seed = next((ROOT / "seeds").glob("*.txt")).read_text(encoding="utf-8")
    title, _, body = seed.partition("\n")
    v = verdict(title, body)
    assert v.flagged and v.score >= 0.8
    assert any("launch of two ballistic missiles" in q for q in v.evidence)


def test_title_only_is_enough_for_a_clear_headline() -> None:
    assert verdict("North Korea fires ballistic missile into sea, Japan says").flagged


def test_plain_news_is_not_flagged() -> None:
    v = verdict("Council approves new budget for parks", "The city council voted to approve the budget.")
    assert not v.flagged and v.score == 0 and v.evidence == ()


def test_topic_can_be_disabled_retuned_and_added() -> None:
    topics = load_topics(
        {
            "sanctions": {"enabled": False},
            "missile_launch": {"threshold": 0.99},
            "nuclear_test": {
                "terms": {
                    "nuke": ["nuclear tests?", "nuclear detonation"],
                    "did": ["conducted", "carried out"],
                },
                "rules": [{"all": ["nuke", "did"], "weight": 5}],
            },
        }
    )
    assert [t.name for t in topics] == ["missile_launch", "nuclear_test"]
    assert topics[0].threshold == 0.99
    (ml, nt) = classify("North Korea conducted a nuclear test", "", topics)
    assert nt.flagged and not ml.flagged


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"sanctions": {"treshold": 0.5}}, "topics.sanctions.treshold: unknown key"),
        ({"sanctions": {"threshold": "high"}}, "topics.sanctions.threshold: expected a number"),
        ({"x": {"terms": {"a": ["("]}, "rules": [{"all": ["a"]}]}}, "topics.x.terms.a[0]: invalid pattern"),
        (
            {"x": {"terms": {"a": ["b"]}, "rules": [{"all": ["z"]}]}},
            "topics.x.rules[0].all: no vocabulary named 'z'",
        ),
        (
            {"x": {"terms": {"a": ["b"]}, "rules": [{"all": ["a"], "when": 1}]}},
            "topics.x.rules[0].when: unknown key",
        ),
        ({"Bad-Name": {}}, "topics.Bad-Name: a topic name"),
    ],
)
def test_bad_topic_definitions_name_the_key(override: dict[str, Any], message: str) -> None:
    with pytest.raises(TopicError) as info:
        load_topics(override)
    assert any(p.startswith(message) for p in info.value.problems), info.value.problems


# No deadline: a language's reading of the topics compiles on first use, inside an example;
# speed is the benchmarks' business.
@settings(max_examples=200, deadline=None)
@given(st.text(max_size=300), st.text(max_size=2000), st.sampled_from([None, "en", "ko", "zh", "ar", "pt"]))
def test_classifier_never_raises_and_scores_are_in_range(title: str, text: str, language: str | None) -> None:
    assert all(0.0 <= v.score <= 1.0 for v in classify(title, text, TOPICS, language))


def test_scores_do_not_depend_on_the_process() -> None:
    """Deterministic across processes (hash seeds differ), so a worker scores as the daemon does
    and a re-run of eval gives the same figures; the seed article's rules score is pinned, and
    the model's feature hashing does not depend on the process either."""
    code = (
        "from pathlib import Path; from monitor.stages.classify import classify, load_topics; "
        "t, _, b = next(Path('seeds').glob('*.txt')).read_text(encoding='utf-8').partition('\\n'); "
        f"print([(v.topic, v.score, v.evidence) for v in classify(t, b, load_topics({RULES_ONLY!r}))]); "
        "print([(v.topic, v.score) for v in classify(t, b, load_topics())])"
    )
    outputs = {
        subprocess.run(
            [sys.executable, "-c", code],
            capture_output=True,
            text=True,
            cwd=ROOT,
            check=True,
            env={**os.environ, "PYTHONHASHSEED": seed},
        ).stdout
        for seed in ("1", "2", "3")
    }
    assert len(outputs) == 1
    assert "('missile_launch', 0.8771," in outputs.pop()


def test_topic_version_changes_with_definition() -> None:
    base = {t.name: t.version for t in TOPICS}
    changed = {
        t.name: t.version
        for t in load_topics({**RULES_ONLY, "sanctions": {"model": False, "threshold": 0.9}})
    }
    assert base["missile_launch"] == changed["missile_launch"]
    assert base["sanctions"] != changed["sanctions"]


# Hard cases, in the project's own words. Each line is a story the built-in topics must get right.
LAUNCHES = [
    ("North Korea test-fired a projectile into the East Sea, Seoul says", ""),
    ("Pyongyang fires two short-range rockets off its east coast", ""),
    ("North Korea launches Hwasong-18 ICBM, Japan lodges protest", ""),
    ("Military says KN-23 missiles were fired from a train near the border", ""),
    (
        "Iron Dome intercepts rocket fired from Gaza",
        "Sirens sounded in Sderot as the rocket was intercepted.",
    ),
    ("Russia strikes Kyiv with hypersonic missiles overnight", ""),
    # No headline: the lead alone carries the story.
    ("", "The North fired a short-range ballistic missile into the sea early on Thursday, the South said."),
    ("", "North Korea conducted another ballistic missile test on Sunday, its third this month."),
    ("", "The navy carried out a successful flight trial of a new anti-ship cruise missile."),
    # Strikes and interceptions in a war.
    ("", "Air defences downed four missiles over the city overnight, the governor said."),
    ("", "The military intercepted 20 missiles over the capital on Sunday."),
    ("", "The capital's air defence downs 4 missiles, the mayor said."),
    ("", "Militants unleashed a barrage of rockets at the northern city early on Saturday."),
    # Multiple rocket launchers and artillery rockets in tests and drills.
    ("", "The army held a live-fire drill with multiple rocket launchers on Tuesday."),
]
NOT_LAUNCHES = [
    ("North Korea could launch a missile within weeks, analysts warn", ""),
    ("Talks stall on Pyongyang's missile programme", "Negotiators met again in Geneva on Tuesday."),
    ("Poland agrees to buy Patriot missile defence systems", "The contract covers two batteries."),
    ("SpaceX launches 23 Starlink satellites on Falcon 9 rocket", ""),
    ("Apple launches new iPhone with faster chip", ""),
    ("Trump calls Kim 'Rocket Man' in UN speech", ""),
    ("A missile could be fired from the site next week, officials say", ""),
    (
        "Trägerrakete verfehlt die Umlaufbahn",
        "Der Raketenstart des privaten Anbieters ist fehlgeschlagen, der Satellit ging verloren.",
    ),
    # A launch that has not happened: imagery of preparations, a hint, a fear.
    ("", "Commercial satellite imagery shows North Korea moving missiles to a launch pad, analysts said."),
    ("", "The leader dismissed hints at a missile test, saying he expected a gift instead."),
    ("", "There are fears that the North could fire another missile this weekend."),
    # Real estate: a decommissioned silo for sale.
    ("", "A decommissioned missile silo built to launch nuclear warheads has hit the market for $500,000."),
]
SANCTIONS = [
    ("Treasury blacklisted three shipping firms for evading sanctions on Iran", ""),
    ("EU agrees asset freeze on Russian oligarchs in new sanctions package", ""),
    ("UN Security Council tightens North Korea sanctions after launch", ""),
    ("G7 moves to ban Russian oil imports", "The ban on Russian crude takes effect next month."),
    (
        "Superyacht reportedly owned by Russian oligarch is seized in Fiji",
        "Officials said the vessel belongs to a Kremlin-linked billionaire.",
    ),
    # Sanctions that are never "imposed" (no headline: the lead alone).
    ("", "The bloc's General Court annulled sanctions on a former minister, ruling the listing unjustified."),
    ("", "The Treasury's sanctions office issued a general license allowing transactions for six months."),
    ("", "Washington granted a sanctions waiver allowing the country to keep importing electricity."),
    ("", "The Foreign Ministry said it had banned entry to 300 Americans, including lawmakers."),
    ("", "G7 finance ministers agreed to lower the price cap on seaborne crude to $45 a barrel."),
    ("", "The government banned imports of goods from its neighbour in response to the crackdown."),
    ("", "The bloc froze the assets of 25 officials accused of rigging the election."),
    ("", "The Treasury Department targeted a network of front companies supplying the military."),
    ("", "Washington blacklisted 12 companies accused of supplying drone parts to the army."),
    ("", "The president signed an executive order sanctioning judges of an international tribunal."),
    # Cyber and deportation sanctions: hackers and deportees are whom they are imposed on, not a
    # sign that sanctions are background (both words once marked a background clause).
    ("U.S. sanctions North Korean hackers behind crypto heists", "The U.S. Treasury imposed sanctions "
     "on Tuesday on three North Korean nationals it said laundered cryptocurrency stolen by the "
     "Lazarus hacking group to fund Pyongyang's weapons programs."),
    ("EU sanctions Russian military hackers over cyberattacks on Germany", "The European Union "
     "imposed sanctions on Monday on six Russian military intelligence officers accused of hacking "
     "the German parliament and other cyberattacks."),
    ("U.S. imposes visa sanctions on Ghana for refusing deportees", "The United States imposed visa "
     "sanctions on Ghana on Friday for refusing to accept its citizens deported from the United "
     "States, the Department of Homeland Security said."),
    # Defying one country's sanctions is evasion, which is sanctions news (UN ones: background).
    ("", "The U.S. Treasury imposed sanctions on Tuesday on 10 tankers it said shipped Iranian oil "
     "to China in defiance of U.S. sanctions."),
]  # fmt: skip
NOT_SANCTIONS = [
    (
        "FIFA sanctions club over crowd trouble",
        "The club was fined and must play two matches behind closed doors.",
    ),
    ("Regulator fines bank for mis-selling loans", "The watchdog imposed a penalty of 2 million."),
    ("Ministry sanctions loans worth Rs 500 crore for roads", ""),
    ("Council approves new budget for parks", ""),
    # Welfare-benefit sanctions.
    ("", "Benefit claimants who miss a Jobcentre appointment face sanctions that cut their payments."),
    ("", "The DWP said sanctions were applied to fewer jobseekers on Universal Credit last year."),
    # "Sanction" meaning approval.
    ("", "Banks sanctioned more than 1.5 lakh loans worth Rs 4,000 crore during the campaign."),
    ("", "The state government accorded sanction for prosecution of the two officers."),
    # Sport, a court's own sanctions, a domestic price cap, a veterinary import ban.
    ("", "The athletics federation banned the sprinter for four years, the latest sanction on the team."),
    ("", "The judge imposed sanctions on the lawyers for filing frivolous motions."),
    ("", "The judge lifted sanctions on the lawyers after they apologised to the court."),
    ("", "Ofgem lowered the energy price cap for households from October."),
    ("", "The ministry halted imports of poultry from Denmark after an outbreak of bird flu."),
    # Sanctions as the background of other news: a launch or a programme "in defiance of" them.
    ("North Korea fires long-range rocket", "North Korea launched a long-range rocket on Wednesday "
     "in defiance of UN sanctions, South Korea's military said."),
    ("Kim inspects missile factory", "North Korea is expanding its missile programs in defiance of "
     "U.N. Security Council sanctions, state media said on Friday."),
]  # fmt: skip


@pytest.mark.parametrize(("title", "text"), LAUNCHES)
def test_launch_stories_are_flagged(title: str, text: str) -> None:
    assert verdict(title, text).flagged


@pytest.mark.parametrize(("title", "text"), NOT_LAUNCHES)
def test_hypotheticals_procurement_space_and_products_are_not_launches(title: str, text: str) -> None:
    assert not verdict(title, text).flagged


@pytest.mark.parametrize(("title", "text"), SANCTIONS)
def test_sanctions_stories_are_flagged(title: str, text: str) -> None:
    assert verdict(title, text, "sanctions").flagged


@pytest.mark.parametrize(("title", "text"), NOT_SANCTIONS)
def test_sport_regulator_and_approval_senses_are_not_sanctions(title: str, text: str) -> None:
    assert not verdict(title, text, "sanctions").flagged


def test_eval_on_the_labelled_corpus(corpus: Path) -> None:
    """Quality floor on the dev sample's English stories: fails when a rule change makes things
    worse. The built-in rules are written in English; the other nine languages of the sample
    are measured, not gated, until the topics carry their vocabulary (issue 13)."""
    from monitor.stages.evaluate import Story, evaluate, read_stories

    with (corpus / "labelled-dev.jsonl").open(encoding="utf-8") as lines:
        english = [line for line in lines if json.loads(line).get("lang", "en") == "en"]
    assert len(english) > 1000
    stories = [s for s in read_stories(english, ["missile_launch", "sanctions"]) if isinstance(s, Story)]
    figures = {f.topic: f for f in evaluate(stories, TOPICS, skip_ambiguous=True)}
    assert figures["missile_launch"].precision >= 0.93 and figures["missile_launch"].recall >= 0.93
    assert figures["sanctions"].precision >= 0.93 and figures["sanctions"].recall >= 0.93


# Not after the "." of an abbreviation: a capital standing alone ("U.S.", "N. Korea") or a title.
_NOT_ABBREVIATION = "".join(rf"(?<!\b{a}\.)" for a in ABBREVIATIONS)
# English: where the splitter always cut, except after abbreviations; and "Monday.The".
_ENGLISH_END = re.compile(
    rf"(?<=[.!?])(?<!\b[A-Z]\.){_NOT_ABBREVIATION}[\"'”’)]?\s+(?=[\"'“‘(\[]?[A-Z0-9])"
    r"|(?<=[a-z][a-z][.!?])(?=[A-Z][a-z])|\n\s*\n|\n(?=[A-Z•\-])"
)
# Any script: a capital of a cased script or a letter of a caseless one may start a sentence
# after ".!?؟۔" and space, a capital after a line break; "。｡！？．" end one without space.
_SCRIPTS_ALPHABET = [*"ab A.!?\"')(\n•-1”“", *"。｡！？．؟۔」』）«_²٣", "\u3000", "\u00a0"]
_SCRIPTS_ALPHABET += [*"中文ー한ДдЯяÉéǅΣςاب"]
_LETTER = "".join(re.escape(c) for c in _SCRIPTS_ALPHABET if c.isalpha() and not c.islower())
_CAPITAL = "".join(re.escape(c) for c in _SCRIPTS_ALPHABET if c.isalpha() and (c.isupper() or c.istitle()))
_SCRIPTS_END = re.compile(
    rf"(?<=[.!?؟۔])(?<!\b[{_CAPITAL}]\.){_NOT_ABBREVIATION}[\"'”’)]?\s+(?=[\"'“‘(\[]?[0-9{_LETTER}])"
    r"|(?<=[a-z][a-z][.!?])(?=[A-Z][a-z])"
    r"|(?<=[。｡！？．])(?![。｡！？．])[」』”’）)\"']*\s*"
    r"|\n\s*\n"
    rf"|\n(?=[•\-{_CAPITAL}])"
)


def _reference_split(text: str, definition: re.Pattern[str] = _SCRIPTS_END) -> list[tuple[int, int]]:
    spans, start = [], 0
    for match in definition.finditer(text):
        if match.start() > start:
            spans.append((start, match.start()))
        start = match.end()
    if start < len(text):
        spans.append((start, len(text)))
    return spans


@settings(max_examples=300)
@given(st.text(alphabet=st.sampled_from(list("ab A.!?\"')(\n•-1”“")), max_size=80))
def test_sentence_splitter_cuts_english_where_it_always_did(text: str) -> None:
    """The fast splitter (a leading character class) cuts exactly where the plain definition
    (a look-behind on the punctuation) does."""
    assert split_sentences(text) == _reference_split(text, _ENGLISH_END)


@settings(max_examples=500)
@given(st.text(alphabet=st.sampled_from(_SCRIPTS_ALPHABET), max_size=80))
def test_sentence_splitter_matches_its_reference_definition_in_any_script(text: str) -> None:
    """The same, with CJK, Cyrillic, Greek, Arabic and Latin letters of both cases, caseless
    letters, full-width and Arabic punctuation, non-letters that are word characters (_, ²,
    Arabic-Indic digits) and Unicode spaces."""
    assert split_sentences(text) == _reference_split(text)


_TOKENS = [
    *"  \n.-_,'(",
    *["\n\n", ". ", "? ", "ü", "😀", "İ", "i\u0307", "ß", "ﬁ"],
    *["missile", "Missiles", "rocket", "launched", "fired", "test-fired", "ICBM", "KN-23", "Hwasong-15"],
    *["shot down", "could launch", "plans to fire", "satellite", "sale", "house", "use", "used", "app"],
    *["sanctions", "Sanctioned", "asset freeze", "U.S.", "UN", "un", "EU", "Treasury", "blacklisted"],
    *["oil", "imports", "ban", "Russia", "Iran", "North Korea", "new", "on", "lifted", "ракету", "Raketen"],
    *[
        "İstanbul",
        "ISTANBUL",
        "ıstanbul",
        "ΠΥΡΑΥΛΟΣ",
        "πύραυλος",
        "πυραυλοσ",
        "Straße",
        "STRASSE",
        "ſanctions",
    ],
    # Scripts without spaces (particles and compounds attached), and others.
    *["导弹", "发射", "朝鲜", "ミサイル", "弾道", "を", "が", "発射", "した", "北朝鮮", "ﾐｻｲﾙ", "ー", "𠀀"],
    *["미사일", "탄도", "을", "발사", "했다", "。", "、", "！", "？", "．", "\u3000", "「", "」"],
    *["ракета", "Ракеты", "запустили", "КНДР", "صاروخ", "الصاروخ", "أطلقت", "؟", "۔", "Ёж", "٣"],
    *["H3", "h-3", "H-3", "РФ", "рф", "Рф", "3"],
]
# A user's topic with letters that lower() and the regex engine's IGNORECASE treat differently.
_EXOTIC = compile_topic(
    "exotic",
    {
        "terms": {
            # Regexes with only short literals, searched where their hints are: "h3", "рф".
            "places": ["İstanbul", "(?-i:UN) envoy", "stra(?:ß|ss)e", "h-?3", "(?-i:РФ)\\w?"],
            "greek": ["πύραυλο[ςσι]", "ΠΥΡΑΥΛΟΣ"],
            "words": ["sanctions?", "ab\\w+"],
        },
        "rules": [{"all": ["places", "greek", "words"]}],
    },
)
# A user's topic in scripts without spaces and others: exact strings ("ミサイル"), regexes with
# a prefilter literal ("ракет\w*"), without one ("发射", "\w発射"), case-sensitive ones.
_SCRIPTS = compile_topic(
    "scripts",
    {
        "terms": {
            "weapon": ["导弹", "ミサイル", "미사일", "ракет\\w*", "(?:ال)?صاروخ", "ﾐｻｲﾙ", "𠀀"],
            "launch": ["发射", "発射(?:した)?", "발사(?:했다)?", "запустил\\w*", "أطلق\\w*"],
            "loose": ["\\w発射", "[^\\s]{1,2}ミサイル", "(?-i:ICBM)", "(?-i:КНДР)", "弾道\\w{0,3}"],
        },
        "rules": [{"all": ["weapon", "launch"]}, {"all": ["loose"], "none": ["weapon"]}],
    },
)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.sampled_from(_TOKENS), max_size=60).map("".join),
    st.lists(st.sampled_from(_TOKENS), max_size=8),
)
def test_fast_matching_agrees_with_the_vocabulary_regexes(text: str, title_tokens: list[str]) -> None:
    """The literal automaton, word-boundary checks and prefilters are an optimisation: every
    vocabulary must match exactly the sentences its plain case-insensitive regex matches (with
    the CJK word boundaries; texts without CJK characters get the cheaper regex without them)."""
    doc = _Doc("".join(title_tokens), text)
    readings = [for_language(t, language) for t in TOPICS for language in (None, "ko", "ar")]
    for topic in (*TOPICS, *readings, _EXOTIC, _SCRIPTS):
        for name, vocabulary in topic.terms.items():
            expected = {
                i
                for i, (start, end) in enumerate(doc.spans)
                if vocabulary.pattern.regex.search(doc.text, start, end)
            }
            assert doc.sentences_matching(topic, vocabulary) == expected, (topic.name, name)
            fresh = _Doc("".join(title_tokens), text)  # sentence_has without the cache above
            assert {
                i for i in range(len(fresh.spans)) if fresh.sentence_has(topic, vocabulary, i)
            } == expected


@settings(max_examples=150, deadline=None)
@given(st.lists(st.sampled_from(_TOKENS), max_size=60).map("".join))
def test_one_search_for_several_topics_reads_as_each_alone(text: str) -> None:
    """``classify`` searches an article once for all its topics (a merged automaton): each
    topic must find in it exactly what its own automaton finds, strings it shares with the
    others and strings only they have included."""
    for group in ((*TOPICS, _EXOTIC, _SCRIPTS), tuple(for_language(t, "ko") for t in TOPICS)):
        together = _Doc("", text)
        together.search(group)
        for topic in group:
            alone = _Doc("", text)
            assert topic.automaton is not None
            assert together.lowered is None or id(topic.automaton) in together._hits  # one search
            assert together.view(topic)._found == alone.view(topic)._found, topic.name


@settings(max_examples=150, deadline=None)
@given(st.lists(st.sampled_from(_TOKENS), max_size=60).map("".join))
def test_a_story_no_rule_can_flag_is_read_no_further(text: str) -> None:
    """A topic's positive rules each need some vocabularies found by the automaton
    (``Topic.needs``); where none has all of its, the story scores 0 without being split into
    sentences, exactly as the full reading would score it."""
    # Readings as they are (a built-in topic itself would be read again through for_language,
    # whose cached reading keeps its needs).
    readings = [
        replace(for_language(t, language), variant_specs={}) for t in TOPICS for language in ("ko", "en")
    ]
    topics = (*readings, _EXOTIC, _SCRIPTS)
    assert all(t.needs for t in topics)
    gated = classify("", text, topics)
    assert gated == classify("", text, tuple(replace(t, needs=None) for t in topics))


def test_the_shortcut_changes_no_verdict_on_real_news(corpus: Path) -> None:
    """The same on real stories, in every language of the corpus (one in four, read in their
    language: the readings differ by their words)."""
    with (corpus / "labelled-dev.jsonl").open(encoding="utf-8") as lines:
        rows = [json.loads(line) for i, line in enumerate(lines) if i % 4 == 0]
    gated = 0
    for row in rows:
        readings = tuple(replace(for_language(t, row.get("lang")), variant_specs={}) for t in TOPICS)
        expected = classify(row["title"], row["text"], tuple(replace(r, needs=None) for r in readings))
        assert classify(row["title"], row["text"], readings) == expected, row["id"]
        doc = _Doc(row["title"], row["text"])
        gated += sum(not doc.view(r).possible for r in readings if r.needs is not None)
    assert gated > len(rows) // 4  # the shortcut was taken, on many stories


def test_off_topic_news_is_not_split_into_sentences() -> None:
    doc = _Doc("Council approves budget", "The council will meet on Monday. It can use the hall. " * 20)
    assert classify(doc.title, doc.body, TOPICS) == tuple(
        Verdict(topic=t.name, score=0.0, flagged=False, version=t.version) for t in TOPICS
    )
    doc.search(TOPICS)
    assert all(doc.hits(t.automaton)[0] for t in TOPICS if t.automaton)  # "will", "can", "use" ...
    assert all(not doc.view(t).possible for t in TOPICS)
    assert doc._spans is None


def _samples() -> list[tuple[str, str]]:
    seed = next((ROOT / "seeds").glob("*.txt")).read_text(encoding="utf-8")
    title, _, body = seed.partition("\n")
    exotic = ("İSTANBUL talks", "The UN envoy in İstanbul spoke of πύραυλος tests and new sanctions.")
    japanese = ("北朝鮮が弾道ミサイルを発射", "防衛省によると、ミサイルは日本海に落下した。政府は抗議した。")
    return [(title, body), exotic, japanese, *LAUNCHES, *NOT_LAUNCHES, *SANCTIONS, *NOT_SANCTIONS]


def test_compiled_topics_survive_pickling() -> None:
    """A compiled topic names its vocabularies by index, not by id(): a copy classifies alike."""
    topics = (*TOPICS, _EXOTIC, _SCRIPTS)
    loaded = pickle.loads(pickle.dumps(topics))
    assert loaded == topics
    verdicts = [classify(title, text, topics) for title, text in _samples()]
    assert [classify(title, text, loaded) for title, text in _samples()] == verdicts
    assert {v.topic for vs in verdicts for v in vs if v.score > 0} == {
        "missile_launch",
        "sanctions",
        "exotic",
        "scripts",
    }


def test_compiled_topics_classify_alike_in_a_worker_process() -> None:
    """What the pipeline will do: send the compiled topics to a fresh (spawned) interpreter."""
    topics = (*TOPICS, _EXOTIC, _SCRIPTS)
    samples = _samples()
    titles, texts = [t for t, _ in samples], [x for _, x in samples]
    with ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn")) as pool:
        remote = list(pool.map(classify, titles, texts, itertools.repeat(topics, len(samples))))
    assert remote == [classify(title, text, topics) for title, text in samples]
    assert remote == [classify(title, text, topics) for title, text in samples]


def test_a_match_counts_only_within_its_sentence() -> None:
    """Vocabularies are matched sentence by sentence: a match that runs on into the next sentence
    counts for neither. Here a pattern with no literal, searched without a prefilter."""
    topic = compile_topic("x", {"terms": {"a": ["\\w\\w\\. [A-Z]\\w"]}, "rules": [{"all": ["a"]}]})
    vocabulary = topic.terms["a"]
    assert [g.literals for g in vocabulary.groups] == [None]
    doc = _Doc("", "It was on. To be fair.")
    assert len(doc.spans) == 2
    assert doc.sentences_matching(topic, vocabulary) == set()
    assert not any(doc.sentence_has(topic, vocabulary, i) for i in range(2))
    assert classify("", "It was on. To be fair.", (topic,))[0].score == 0


def test_one_alternative_without_a_literal_does_not_unfilter_the_others() -> None:
    """A pattern is split at its top-level "|": alternatives with a required literal keep their
    prefilter beside one without, and the split changes no result."""
    from monitor.stages.classify.matcher import _alternatives

    assert _alternatives("a|b(c|d)|[|]x|\\|y") == ["a", "b(c|d)", "[|]x", "\\|y"]
    assert _alternatives("(?i)a|b") == ["(?i)a|b"]  # global flags: kept whole
    assert _alternatives("(a)|\\1") == ["(a)|\\1"]  # a group reference: kept whole
    topic = compile_topic(
        "x", {"terms": {"a": ["launch\\w*ing|h-?\\d+|(?-i:UN) vote"]}, "rules": [{"all": ["a"]}]}
    )
    groups = {(g.lowered, g.literals is not None): g for g in topic.terms["a"].groups}
    assert set(groups) == {(True, True), (True, False), (False, True)}
    assert groups[True, True].literals == ("launch",)
    for text, found in [
        ("They were launching it.", True),
        ("The H-3 flew.", True),
        ("The UN vote passed.", True),
        ("The un vote passed.", False),
        ("They launched it.", False),
    ]:
        assert (classify("", text, (topic,))[0].score > 0) is found, text


def test_a_prefilter_literal_is_weighed_without_its_spaces() -> None:
    """The literal " at " is in most sentences, as "at" is: a regex's prefilter is the rarer set of words
    every match holds (Arabic "حذر ... من ..." had " من ", "from", in every sentence)."""
    topic = compile_topic(
        "x", {"terms": {"a": ["(?:hit|fire)\\w* at \\w+ targets"]}, "rules": [{"all": ["a"]}]}
    )
    (group,) = topic.terms["a"].groups
    assert group.literals == (" targets",)
    topic = compile_topic("x", {"terms": {"a": ["(?:hit|fire)\\w* at \\w+"]}, "rules": [{"all": ["a"]}]})
    (group,) = topic.terms["a"].groups
    assert group.literals == ("fire", "hit")
    for text, found in [("They fired at ships.", True), ("They looked at ships.", False)]:
        assert (classify("", text, (topic,))[0].score > 0) is found, text


def test_regexes_with_only_short_literals_run_where_those_are() -> None:
    """A regex whose literals are too short for the automaton but hold a digit or a hyphen ("h3",
    "g7") gets them as hints: it runs only in the sentences holding one, with the same results.
    Two letters ("un") are in most sentences: no hint."""
    topic = compile_topic("x", {"terms": {"a": ["h-?3|(?-i:G7)\\w?|(?-i:UN)"]}, "rules": [{"all": ["a"]}]})
    vocabulary = topic.terms["a"]
    assert sorted(g.hints or () for g in vocabulary.groups) == [(), ("g7",), ("h-3", "h3")]
    assert vocabulary.unfiltered == vocabulary.groups
    doc = _Doc("", "The H3 rocket flew. It was on time. The G7 met. A g7x run.")
    assert doc.holding(("g7",)) == {2, 3}
    assert doc.sentences_matching(topic, vocabulary) == {0, 2}
    assert [doc.sentence_has(topic, vocabulary, i) for i in range(4)] == [True, False, True, False]
