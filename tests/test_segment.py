"""Texts in scripts without spaces and in non-Latin scripts: sentences where a reader puts them,
terms found with particles and compounds attached, rules kept within one sentence."""

from __future__ import annotations

import pickle
import re

import pytest

from monitor.stages.classify import classify, compile_topic, load_topics, split_sentences
from monitor.stages.classify.segment import WordPattern, _fold, _fold_document, whole_words


def sentences(text: str) -> list[str]:
    return [text[start:end] for start, end in split_sentences(text)]


# A user's topic: a launch is a weapon and a launch verb in one sentence.
LAUNCH = compile_topic(
    "launch_watch",
    {
        "terms": {
            "weapon": [
                "导弹",
                "弾道ミサイル|ミサイル",
                "ICBM",
                "미사일",
                "ракет[аыу]?",
                "(?:ال)?صاروخ(?:ا|ين)?",
            ],
            "launch": ["发射", "発射(?:した)?", "발사(?:했다)?", "запусти(?:ла|ли|л)", "أطلق(?:ت)?"],
        },
        "rules": [{"name": "launch", "all": ["weapon", "launch"], "weight": 3}],
    },
)


def launch(title: str, text: str = "") -> tuple[float, tuple[str, ...]]:
    (verdict,) = classify(title, text, (LAUNCH,))
    return verdict.score, verdict.evidence


# Three sentences each; only the first reports a launch. The second names the weapon again
# without the verb, so a rule that straddled sentences would also fire there.
STORIES = {
    "zh": [
        "朝鲜周三上午向东部海域发射了一枚弹道导弹。",
        "韩国联合参谋本部说，导弹飞行了约八百公里。",
        "日本政府通过外交渠道提出了抗议。",
    ],
    "ja": [
        "北朝鮮は十日朝、日本海に向けて弾道ミサイルを発射した。",
        "防衛省によると、ミサイルは排他的経済水域の外に落下したとみられる。",
        "政府は北京の大使館を通じて抗議した。",
    ],
    "ko": [
        "북한이 오늘 오전 동해상으로 탄도미사일을 발사했다. ",
        "합동참모본부는 미사일이 약 800킬로미터를 비행했다고 밝혔다. ",
        "정부는 국가안전보장회의를 소집했다.",
    ],
    "ru": [
        "Северная Корея в среду запустила баллистическую ракету в сторону Японского моря. ",
        "Ракета пролетела около 800 километров, сообщили в Сеуле. ",
        "Япония заявила протест по дипломатическим каналам.",
    ],
    "ar": [
        "أطلقت كوريا الشمالية صاروخا باليستيا باتجاه بحر اليابان صباح الأربعاء. ",
        "وقالت هيئة الأركان المشتركة في سيول إن الصاروخ حلق نحو 800 كيلومتر. ",
        "هل تطلق بيونغ يانغ صاروخا آخر قبل نهاية الشهر؟ ",
        "لا أحد يعرف بعد.",
    ],
}


@pytest.mark.parametrize("lang", sorted(STORIES))
def test_sentences_are_where_a_reader_puts_them(lang: str) -> None:
    parts = STORIES[lang]
    assert sentences("".join(parts)) == [part.rstrip() for part in parts]


@pytest.mark.parametrize("lang", sorted(STORIES))
def test_a_user_topic_finds_the_launch_and_quotes_its_sentence(lang: str) -> None:
    parts = STORIES[lang]
    score, evidence = launch("", "".join(parts))
    assert score > 0.5
    assert evidence == (parts[0].rstrip(),)


@pytest.mark.parametrize("lang", sorted(STORIES))
def test_weapon_and_launch_in_different_sentences_do_not_fire(lang: str) -> None:
    """Sentences 2 and 3 name the weapon, not the launch (the Arabic question uses another
    form of the verb): apart from the first sentence, the rule has nothing to fire on."""
    assert launch("", "".join(STORIES[lang][1:])) == (0.0, ())


@pytest.mark.parametrize(
    ("one_sentence", "two_sentences"),
    [
        (
            "韩国军方说，朝鲜发射了一枚短程导弹，事先没有通知。",
            "韩国军方说，那是一枚短程导弹。朝鲜没有说明何时发射。",
        ),
        (
            "北朝鮮が弾道ミサイルを発射したと発表した。",
            "弾道ミサイルの実験場が見えた。北朝鮮は発射の時期を明かさない。",
        ),
        (
            "북한은 어제 미사일을 발사했다고 밝혔다.",
            "북한은 새 미사일을 공개했다. 발사 시기는 밝히지 않았다.",
        ),
        ("Армия КНДР запустила ракету утром.", "Армия КНДР показала ракету. Вчера она запустила спутник."),
        (
            "أطلقت كوريا الشمالية صاروخا صباح اليوم.",
            "عرضت كوريا الشمالية صاروخا جديدا. ثم أطلقت قمرا صناعيا.",
        ),
    ],
)
def test_a_rule_needs_both_vocabularies_in_the_same_sentence(one_sentence: str, two_sentences: str) -> None:
    assert launch("", one_sentence)[0] > 0.5
    assert len(split_sentences(two_sentences)) == 2
    assert launch("", two_sentences) == (0.0, ())


@pytest.mark.parametrize(
    "headline",
    [
        "朝鲜发射导弹",
        "北朝鮮が弾道ミサイルを発射",
        "北朝鮮がICBMを発射した",  # a Latin term between kana
        "북한, 동해상으로 탄도미사일 발사",  # compound: 탄도+미사일
        "북한이 미사일을 발사했다",  # particle attached: 미사일+을
    ],
)
def test_terms_match_inside_words_of_scripts_without_spaces(headline: str) -> None:
    assert launch(headline)[0] > 0.5


def test_half_width_katakana_is_a_script_without_spaces() -> None:
    topic = compile_topic("x", {"terms": {"w": ["ﾐｻｲﾙ"], "l": ["発射"]}, "rules": [{"all": ["w", "l"]}]})
    assert classify("北朝鮮がﾐｻｲﾙを発射", "", (topic,))[0].score > 0


@pytest.mark.parametrize(
    "headline",
    [
        "Теннисистка запустила ракетку в трибуны",  # ракетка is not ракета: a Cyrillic word goes on
        "كوريا الشمالية أطلقتها بصواريخها",  # Arabic words need boundaries too
        "ICBMs発射",  # the edge between M and s is Latin on both sides
    ],
)
def test_words_of_other_scripts_still_need_boundaries(headline: str) -> None:
    assert launch(headline)[0] == 0


def test_korean_particles_and_compounds() -> None:
    text = "북한이 동해상으로 탄도미사일을 쐈다. 군 당국은 미사일 발사를 규탄했다. 발사체는 바다에 떨어졌다."
    assert sentences(text) == [
        "북한이 동해상으로 탄도미사일을 쐈다.",
        "군 당국은 미사일 발사를 규탄했다.",
        "발사체는 바다에 떨어졌다.",
    ]
    score, evidence = launch("", text)
    assert evidence == ("군 당국은 미사일 발사를 규탄했다.",)  # 발사체 (projectile) is 발사+체, no 미사일
    assert score > 0.5


def test_builtin_topic_on_urdu_quotes_one_sentence() -> None:
    """Built-in vocabularies carry a few Urdu words; "۔" now ends the sentence they are in."""
    text = "شمالی کوریا نے آج صبح ایک بیلسٹک میزائل داغا۔ جاپان نے اس پر شدید احتجاج کیا۔"
    assert len(split_sentences(text)) == 2
    missile = next(v for v in classify("", text, load_topics()) if v.topic == "missile_launch")
    assert missile.evidence == ("شمالی کوریا نے آج صبح ایک بیلسٹک میزائل داغا۔",)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # English, as always: not after "U.S." before a small letter, nor inside "3.5".
        (
            "The U.S. military said the missile flew 3.5 minutes. It fell into the sea.",
            ["The U.S. military said the missile flew 3.5 minutes.", "It fell into the sea."],
        ),
        ('He said: "It flew." Then it fell.', ['He said: "It flew.', "Then it fell."]),
        ("Title line\nBody starts here", ["Title line", "Body starts here"]),
        # Capitals beyond A-Z.
        ("Le missile est tombé en mer. À Tokyo, le gouvernement a protesté.", None),
        ("Η Βόρεια Κορέα εκτόξευσε πύραυλο. Η Ιαπωνία διαμαρτυρήθηκε.", None),
        ("Пуск состоялся утром. Ёмкость баков не раскрывается.", None),
        (
            "Пуск состоялся в 6 ч. утра по местному времени.",
            ["Пуск состоялся в 6 ч. утра по местному времени."],
        ),
        # Caseless scripts after ". ": Hebrew, Devanagari.
        ("הטיל שוגר הבוקר. יפן מחתה.", None),
        ("मिसाइल का परीक्षण किया गया. जापान ने विरोध किया.", None),
        # CJK ends: runs, closing quotes, full-width full stop, no space needed.
        ("真的吗？！他问道。", ["真的吗？！", "他问道。"]),
        ("他说：“导弹已经发射。”随后离开了。", ["他说：“导弹已经发射。", "随后离开了。"]),
        (
            "「発射は成功した」と発表した。次の発射は未定だ．",
            ["「発射は成功した」と発表した。", "次の発射は未定だ．"],
        ),
        # Arabic question mark and Urdu full stop need the space, as "." does.
        ("هل أطلقت صاروخا؟ نعم.", ["هل أطلقت صاروخا؟", "نعم."]),
        ("میزائل داغا۔ جاپان نے احتجاج کیا۔", ["میزائل داغا۔", "جاپان نے احتجاج کیا۔"]),
        # A line break before a caseless letter is not a sentence end (hard-wrapped Chinese).
        ("朝鲜周三上午向东部海域\n发射了一枚弹道导弹。", ["朝鲜周三上午向东部海域\n发射了一枚弹道导弹。"]),
    ],
)
def test_sentence_ends(text: str, expected: list[str] | None) -> None:
    if expected is None:  # two sentences, at ". "
        expected = [text[: text.index(". ") + 1], text[text.index(". ") + 2 :]]
    assert sentences(text) == expected


def test_cjk_characters_are_found_wherever_they_are() -> None:
    """The document scan tells the regexes whether CJK word boundaries can matter."""
    assert _fold_document("Pyongyang said 북한 fired")[1]
    assert _fold_document("The rare 𠀀 character is outside the BMP")[1]
    assert _fold_document("ΣΊΓΜΑ µ 中") == (_fold("ΣΊΓΜΑ µ 中"), True)  # and folds as _fold does
    assert not _fold_document("“Rocket Man” — 😀 ﬁne: ΣΊΓΜΑ")[1]
    assert not _fold_document("plain ascii")[1]


def test_word_pattern_and_fast_path_share_one_definition() -> None:
    pattern = WordPattern(["ミサイル", "rocket"])
    for text, found in [
        ("弾道ミサイルを", True),
        ("rocket発射", True),
        ("rockets", False),
        ("xミサイル", True),
        ("ミサイルx", True),
        ("로켓rocket", True),
        ("rocket-launch", False),
        ("_rocket", False),
        ("2rocket", False),
        ("(rocket)", True),
    ]:
        assert (pattern.regex.search(text) is not None) is found, text
        hits = [(m.start(), m.end(), None) for m in re.finditer("ミサイル|rocket", text)]
        assert bool(whole_words(text, hits)) is found, text
    assert pickle.loads(pickle.dumps(pattern)) == pattern
    assert pickle.loads(pickle.dumps(pattern)).regex.pattern == pattern.regex.pattern


def test_abbreviations_do_not_end_a_sentence_and_a_missing_space_does() -> None:
    """News writes "U.S.", "N. Korea", "Gen." and "Nov. 17" mid-sentence, and web pages lose the
    space between paragraphs ("on Monday.The ..."): neither may cut or join a story's sentences."""

    def sentences(text: str) -> list[str]:
        return [text[a:b] for a, b in split_sentences(text)]

    assert sentences("The U.S. Treasury on Nov. 17 issued a licence. Oil rose.") == [
        "The U.S. Treasury on Nov. 17 issued a licence.",
        "Oil rose.",
    ]
    assert sentences("Gen. Kim said N. Korea fired. Japan protested.") == [
        "Gen. Kim said N. Korea fired.",
        "Japan protested.",
    ]
    assert sentences("It fired on Monday.The Joint Chiefs said so.") == [
        "It fired on Monday.",
        "The Joint Chiefs said so.",
    ]
    assert sentences("Russian President V. Putin spoke. Dr. Lee agreed.") == [
        "Russian President V. Putin spoke.",
        "Dr. Lee agreed.",
    ]
    assert sentences("Sanctions hit Acme Corp. The firm denied it.") == [
        "Sanctions hit Acme Corp.",
        "The firm denied it.",
    ]
