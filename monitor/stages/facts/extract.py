"""Facts from one story, in English whatever its language: who fired what, how many, when and
who says so; who sanctioned whom, how, and with what measures. Pure: text in, facts out.

Rules and gazetteers only (``facts.yaml`` beside this file and the anchors of event grouping:
places from CLDR, missile classes, named missiles); nothing is downloaded. Facts are read from
the headline and the first sentences, where a report states its news; each keeps the sentence
it came from.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from datetime import date, timedelta
from importlib import resources
from typing import Any

from babel import Locale

from ..classify.topics import _yaml
from ..group.anchors import (
    RECALL,
    Dictionary,
    anchors,
    day_named,
    gazetteer,
    headline,
    lead_of,
    missiles,
    places,
    reported,
    subject,
)
from .distance import distances
from .words import alternation

LEAD_SENTENCES = 3
MAX_GROUPS = 3
_SENTENCE = re.compile(r"(?<=[.!?])\s+(?=\S)|(?<=[。！？])")

# Missile classes as the CNS/NTI database names them.
CLASS_NAMES = {
    "icbm": "ICBM",
    "srbm": "SRBM",
    "slbm": "SLBM",
    "cruise": "cruise",
    "satellite": "SLV",
    "rocket_artillery": "SRBM",
    "ballistic": "ballistic",
}
_INTERMEDIATE = re.compile(r"IRBM|intermediate|中距離|중거리|中程|средней дальности|середньої", re.IGNORECASE)
_SEMI_MEDIUM = re.compile(r"MRBM|medium-range|medium range|준중거리|準中距離|准中程", re.IGNORECASE)
_HYPERSONIC = re.compile(r"hypersonic|극초음속|極超音速|高超音速|гиперзвук|гіперзвук", re.IGNORECASE)
_FIRE = re.compile(
    r"\b(?:fire[sd]?|firing|launch(?:es|ed)?|test-fire[sd]?|strikes?|struck|hits?|attack(?:s|ed)?)\b"
    r"|発射|발사|发射|запусти|выпусти|нанес|атакова|запустила|abgefeuert|tiré|lanzó|lançou|lanciato",
    re.IGNORECASE,
)
_THREATEN = re.compile(
    r"\b(?:threaten\w*|warn\w* of|could impose|may impose|consider\w* sanctions)\b|угрожа|警告|경고",
    re.IGNORECASE,
)
PLACE_NAMES = {
    "US": "United States",
    "GB": "United Kingdom",
    "EU": "European Union",
    "UN": "United Nations",
    "KP": "North Korea",
    "KR": "South Korea",
    "G7": "G7",
    "ICC": "International Criminal Court",
}


@dataclass(frozen=True, slots=True)
class Fact:
    """One fact and the sentence it was read from. ``weight``: how much it counts when an
    event's reports are fused (a count read from "a missile" is half a stated number: reports
    say "a missile" before anyone has counted)."""

    value: str | int
    quote: str
    weight: float = 1.0


@dataclass(frozen=True, slots=True)
class _Tables:
    numbers: dict[str, int]
    counted: re.Pattern[str]
    counters: re.Pattern[str]
    reporters: Dictionary
    bodies: Dictionary
    body_authority: dict[str, str]
    own_government: dict[str, str]
    measures: Dictionary
    sanction_verbs: Dictionary
    seas: Dictionary
    eez: Dictionary
    sites: Dictionary
    site_latlon: dict[str, tuple[float, float]]
    target_words: Dictionary
    numbered_classes: dict[str, str]
    outcomes: dict[str, re.Pattern[str]]
    forces: Dictionary
    sea_names: re.Pattern[str]
    named_missiles: re.Pattern[str]  # one alternation, group n for the n-th of named_order
    named_order: tuple[str, ...]
    named_classes: dict[str, str]


# Words between a number and what it counts: "two more short-range ballistic missiles", "an
# intermediate range ballistic missile", "a new type of intercontinental ballistic missile",
# "a submarine-launched ballistic missile", "three test missiles", "another Hwasong-15 ICBM".
_COUNT_WORDS = (
    r"more|new|new type of|suspected|unidentified|unknown|ballistic|cruise|test|intercontinental|"
    r"intermediate|medium|short|long|range|hypersonic|possible|apparent|additional|further|"
    r"strategic|tactical|\w+-\w+(?:-\w+)?"
)
# What a singular noun is part of when it counts nothing: "a missile test", "a missile programme".
_COMPOUND = (
    r"tests?|launch(?:es|er|ers)?|program(?:me)?s?|base|site|defen[cs]e|system|threat|unit|technology|alert"
)


@functools.cache
def _tables() -> _Tables:
    data: dict[str, Any] = _yaml(
        resources.files(__package__).joinpath("facts.yaml").read_text(encoding="utf-8")
    )
    numbers = {str(word).casefold(): int(n) for n, words in data["numbers"].items() for word in words}
    words = "|".join(sorted((re.escape(w) for w in numbers), key=len, reverse=True))
    counted = "|".join(sorted((re.escape(w) for w in data["counted"]), key=len, reverse=True))
    counters = "|".join(re.escape(c) for c in data["counters"])
    return _Tables(
        numbers=numbers,
        counted=re.compile(
            rf"(?<![\w-])(\d{{1,2}}|{words})(?:\s+(?:{_COUNT_WORDS}))*"
            rf"\s+(?:{counted})(?![\w-]|\s+(?:{_COMPOUND})\b)",
            re.IGNORECASE,
        ),
        counters=re.compile(
            rf"(\d{{1,2}}|[一二两兩三四五六七八九十]|[한두세네]|다섯|여섯|일곱|여덟|아홉|열)\s?(?:{counters})"
        ),
        reporters=Dictionary((n, c) for c, names in data["reporters"].items() for n in names),
        bodies=Dictionary((n, c) for c, names in data["authority_bodies"].items() for n in names),
        body_authority=dict(data["body_authority"]),
        own_government=dict(data["own_government"]),
        measures=Dictionary((n, c) for c, names in data["measures"].items() for n in names),
        sanction_verbs=Dictionary((n, "verb") for n in data["sanction_verbs"]),
        target_words=Dictionary((n, "target") for n in data["target_words"]),
        seas=Dictionary((n, c) for c, names in data["seas"].items() for n in names),
        eez=Dictionary((n, c) for c, names in data["eez"].items() for n in names),
        sites=Dictionary((n, site) for site, spec in data["sites"].items() for n in spec["names"]),
        forces=Dictionary((n, code) for code, names in data["forces"].items() for n in names),
        sea_names=re.compile(
            "|".join(sorted((re.escape(n) for names in data["seas"].values() for n in names), key=len)[::-1]),
            re.IGNORECASE,
        ),
        outcomes={kind: alternation(names, whole=True) for kind, names in data["outcomes"].items()},
        numbered_classes=dict(data["missile_classes"]["numbered"]),
        named_missiles=re.compile(
            "|".join(
                rf"(?P<n{i}>(?<![\w-])(?:{pattern}))"
                for i, (_, pattern) in enumerate(data["missile_classes"]["named"].values())
            ),
            re.IGNORECASE,
        ),
        named_order=tuple(data["missile_classes"]["named"]),
        named_classes={name: cls for name, (cls, _) in data["missile_classes"]["named"].items()},
        site_latlon={
            site: (float(spec["latlon"][0]), float(spec["latlon"][1])) for site, spec in data["sites"].items()
        },
    )


def site_latlon(site: str) -> tuple[float, float] | None:
    """A launch site's coordinates from the gazetteer."""
    return _tables().site_latlon.get(site)


def place_name(code: str) -> str:
    """A place code of the anchors in English: KP -> North Korea."""
    return PLACE_NAMES.get(code) or Locale.parse("en").territories.get(code, code)


def _sentences(title: str, text: str, limit: int = LEAD_SENTENCES) -> list[str]:
    lead = [s.strip() for s in _SENTENCE.split(lead_of(text, 600)) if s.strip()][:limit]
    return [title.strip(), *lead] if title.strip() else lead


def _first(sentences: list[str], find: Any) -> tuple[Any, str] | None:
    """The first sentence in which ``find`` finds something: (what, the sentence)."""
    for sentence in sentences:
        found = find(sentence)
        if found:
            return found, sentence
    return None


# Indefinite articles: "a missile" is one, but said before the missiles are counted.
ARTICLES = frozenset({"a", "an", "un", "une", "ein", "eine", "einen", "uno", "una", "um", "uma"})


def _count(sentence: str, articles: bool = False) -> int | None:
    """The number of missiles a sentence states; with ``articles``, also "a missile" (one)."""
    t = _tables()
    for m in t.counted.finditer(sentence):
        word = m.group(1).casefold()
        if word in ARTICLES and not articles:
            continue
        return int(word) if word.isdigit() else t.numbers.get(word)
    counter = t.counters.search(sentence)
    if counter:
        word = counter.group(1)
        return int(word) if word.isdigit() else t.numbers.get(word.casefold())
    return None


def _date(title: str, text: str, published: date | None) -> date | None:
    """The day a story says its news happened (its first date or weekday), in whichever month
    puts it nearest its publication date; else that date."""
    if published is None:
        return None
    day = day_named(title, lead_of(text), published)
    if day is None:
        return published
    candidates = []
    for shift in (-1, 0, 1):
        month = (published.replace(day=15) + timedelta(days=30 * shift)).replace(day=1)
        try:
            candidates.append(month.replace(day=day))
        except ValueError:
            continue
    return min(candidates, key=lambda d: abs((d - published).days), default=published)


# Who fires is not who reports it ("the South Korean Joint Chiefs of Staff said", "韓国軍は…
# 発表"), not what is fired at ("a strike on Kyiv", "удар по Киеву"), and not a sea named after
# a country (日本海, the Sea of Japan).
_REPORTING = re.compile(
    r"[^.。\n,]{0,30}?(?:military|militaries|army|Joint Chiefs|JCS|defen[cs]e ministry|Defense Ministry|"
    r"government|officials|coast guard|合同参謀本部|軍|防衛省|政府|합참|합동참모본부|군|국방부|정부)"
    r"[^.。\n]{0,40}?(?:said|says|stated|detected|reported|announced|confirmed|発表|明らか|밝혔|탐지|포착)",
    re.IGNORECASE,
)
# "Kyiv residents shelter as missiles strike": a place whose people or homes a sentence is
# about is where the strike landed, not who fired.
_VICTIMS = re.compile(
    r"[\w'’-]+(?:\s[A-Z][\w'’-]+)?\s+(?:residents|civilians|citizens|children|families|homes|hospitals?)\b"
)
_BY = re.compile(
    r"\b(?:fired|launched|test-fired|test-launched|hit|struck|attacked|targeted)\s+by\s+", re.IGNORECASE
)
_TARGETED = re.compile(
    r"(?:\b(?:on|at|against|toward|towards|into|по|на|против|проти)\s+(?:the\s+)?)$", re.IGNORECASE
)


def _acting_places(sentence: str, named: Dictionary) -> dict[str, int]:
    """The places and forces a sentence names that could have fired: not a reporter, a target or
    a sea."""
    t = _tables()
    masked = sentence
    for sea in t.sea_names.finditer(sentence):  # keep offsets: blank the sea's name out
        masked = masked[: sea.start()] + " " * (sea.end() - sea.start()) + masked[sea.end() :]
    found = {**named.positions(masked), **t.forces.positions(masked)}
    return {
        place: at
        for place, at in found.items()
        if not _REPORTING.match(masked, at)
        and not _TARGETED.search(masked, max(0, at - 12), at)
        and not _VICTIMS.match(masked, at)
    }


def _actor(sentences: list[str], language: str | None, headline: bool = False) -> tuple[str, str] | None:
    """The place named last before the first launch verb of a sentence (who fired; in a
    headline, the last in the verb's clause, else the headline's first), else the first place
    the headline names; neither a reporter, a target nor a sea (``_acting_places``).
    ``headline``: whether the first sentence is a headline."""
    named = places(language)
    for n, sentence in enumerate(sentences):
        passive = _BY.search(sentence)  # "a missile fired by North Korea"
        if passive:
            after = {p: at for p, at in _acting_places(sentence, named).items() if at >= passive.end()}
            if after:
                return min(after, key=lambda p: after[p]), sentence
        verb = _FIRE.search(sentence)
        found = _acting_places(sentence, named) if verb else {}
        before = {p: at for p, at in found.items() if verb and at < verb.start()}
        if before and verb:
            # The place nearest the verb; in a headline whose verb's clause names none, the
            # headline's subject, which its clauses share ("Iran holds talks with Pakistan,
            # strikes Balochistan").
            start = sentence.rfind(", ", 0, verb.start()) if n == 0 and headline else -1
            own = {p: at for p, at in before.items() if at > start}
            actor = max(own, key=lambda p: own[p]) if own else min(before, key=lambda p: before[p])
            return actor, sentence
    for sentence in sentences[:1]:
        found = _acting_places(sentence, named)
        if found:
            return min(found, key=lambda p: found[p]), sentence
    return None


def launch_actor(title: str, text: str, language: str | None) -> str | None:
    """Who fired, as a place code ("KP"), read as ``launch_facts`` reads its ``actor``."""
    found = _actor(_sentences(title, text), language, bool(title.strip()))
    return found[0] if found else None


def _landing(sentences: list[str]) -> Fact | None:
    """Where the missiles came down: the sea, and inside or outside Japan's EEZ."""
    t = _tables()
    sea = _first(sentences, t.seas.positions)
    eez = _first(sentences, t.eez.positions)
    parts = [min(found, key=lambda v: found[v]) for found, _ in (x for x in (sea, eez) if x)]
    if not parts:
        return None
    return Fact(", ".join(parts), (sea or eez or ({}, ""))[1])


def _named(sentence: str) -> tuple[str, str | None] | None:
    """The missile a sentence names (a numbered family first: Hwasong-15, KN-23; else a system
    known by name: Nodong, Iskander) and the class it belongs to, if the tables know it."""
    t = _tables()
    if RECALL.search(sentence):
        return None
    numbered = sorted(missiles(headline(sentence)))
    if numbered:
        family = numbered[0]
        name = family.upper() if family.startswith("kn-") else family[:1].upper() + family[1:]
        return name, t.numbered_classes.get(family)
    found = t.named_missiles.search(sentence)  # the first named, in one pass
    if found and found.lastgroup:
        name = t.named_order[int(found.lastgroup[1:])]
        return name, t.named_classes[name]
    return None


def _stated_class(sentence: str) -> str | None:
    """The most specific missile class a sentence states for the launch it reports: the first
    one named, leaving out those after "after", "since", "following" (an earlier launch)."""
    found = gazetteer().weapons.positions(reported(sentence))
    specific = {c: at for c, at in found.items() if c != "ballistic"}
    if not specific:
        return None
    first = min(specific, key=lambda c: specific[c])
    if first == "medium":
        if _SEMI_MEDIUM.search(sentence):
            return "MRBM"
        return "IRBM" if _INTERMEDIATE.search(sentence) else "MRBM"
    return CLASS_NAMES.get(first, first.upper())


def _weapon(sentences: list[str]) -> tuple[Fact | None, Fact | None]:
    """The named missile and the missile class: the class of the named missile when the tables
    know it, else the first specific class stated, else "hypersonic" or "ballistic"."""
    named = _first(sentences, _named)
    weapon = Fact(named[0][0], named[1]) if named else None
    if named and named[0][1]:
        return weapon, Fact(named[0][1], named[1])
    stated = _first(sentences, _stated_class)
    if stated:
        return weapon, Fact(stated[0], stated[1])
    vague = _first(sentences, gazetteer().weapons.find)
    if vague:
        name = "hypersonic" if _HYPERSONIC.search(vague[1]) else "ballistic"
        return weapon, Fact(name, vague[1])
    return weapon, None


# What a sentence must be about for its "failed" or "successful" to be the launch's: a launch,
# a test or a rocket, not just a missile (an intercepted missile that "exploded over Israel"
# is no failed launch; nor is a bomb).
_LAUNCHED = re.compile(
    r"launch|test|rocket|satellite|lift-?off|발사|로켓|위성|発射|打ち上げ|ロケット|衛星|发射|發射|试射|試射|火箭|"
    r"卫星|衛星|запуск|пуск|испытан|ракета-носител|спутник|Start|Rakete|lancement|fusée|lanzamiento|cohete",
    re.IGNORECASE,
)
NEAR = 100  # characters between a failure and the launch it is said of
_INTERCEPTED = re.compile(r"intercept|shot down|요격|迎撃|拦截|攔截|перехват|збит", re.IGNORECASE)
# Doubt about success is not success ("it was not clear whether the launch was successful").
_DOUBT = re.compile(r"whether|if it|not (?:immediately )?clear|unclear|unknown", re.IGNORECASE)


def _outcome(sentence: str) -> str | None:
    """What the sentence says of how this launch ended: "failure" (it, or one of its missiles,
    failed or exploded), "success" (said, not doubted), or None."""
    sentence = reported(sentence)  # not "after its failed satellite launch"
    if not _LAUNCHED.search(sentence) or _INTERCEPTED.search(sentence):
        return None
    outcomes = _tables().outcomes
    for failed in outcomes["failure"].finditer(sentence):  # said of a launch, not of a bomb beside it
        if _LAUNCHED.search(sentence, max(0, failed.start() - NEAR), failed.end() + NEAR):
            return "failure"
    success = outcomes["success"].search(sentence)
    if success is None or _DOUBT.search(sentence, max(0, success.start() - 40), success.start()):
        return None
    return "success"


def launch_facts(title: str, text: str, language: str | None, published: date | None) -> dict[str, Fact]:
    """``actor``, ``date``, ``count``, ``weapon_class``, ``weapon``, ``site``, ``landing``,
    ``apogee_km``, ``range_km``, ``outcome``, ``reported_by``."""
    sentences = _sentences(title, text)
    facts: dict[str, Fact] = {}
    actor = _actor(sentences, language, bool(title.strip()))
    if actor:
        facts["actor"] = Fact(place_name(actor[0]), actor[1])
    when = _date(title, text, published)
    if when:
        facts["date"] = Fact(when.isoformat(), sentences[0] if sentences else "")
    count = _first(sentences, _count)
    if count:
        facts["count"] = Fact(count[0], count[1])
    else:
        count = _first(sentences, lambda s: _count(s, articles=True))
        if count:
            facts["count"] = Fact(count[0], count[1], weight=0.5)
    weapon, weapon_class = _weapon(sentences)
    if weapon:
        facts["weapon"] = weapon
    if weapon_class:
        facts["weapon_class"] = weapon_class
        if weapon_class.value == "SLV" and "count" not in facts:  # one rocket carries a satellite
            facts["count"] = Fact(1, weapon_class.quote)
    later = sentences + _sentences("", text[len(lead_of(text, 600)) : 2500], 8)
    landing = _landing(later)
    if landing:
        facts["landing"] = landing
    t = _tables()
    site = _first(later, t.sites.positions)
    if site:
        found, sentence = site
        name = min(found, key=lambda v: found[v])
        facts["site"] = Fact(name, sentence)
    for sentence in later:
        for distance in distances(sentence):
            facts.setdefault(distance.measure.value, Fact(distance.km, sentence))
    outcome = _first(later, _outcome)
    if outcome:
        facts["outcome"] = Fact(outcome[0], outcome[1])
    elif "range_km" in facts or "landing" in facts:  # it flew and came down where it was sent
        flown = facts.get("range_km") or facts["landing"]
        facts["outcome"] = Fact("success", flown.quote, weight=0.5)
    reporters = _first(sentences, _tables().reporters.positions)
    if reporters:
        found, sentence = reporters
        facts["reported_by"] = Fact(", ".join(sorted(found, key=lambda r: found[r])), sentence)
    return facts


def _acting(sentences: list[str], named: Dictionary, verbs: Dictionary) -> tuple[str, str] | None:
    """The place named last before the first sanctions verb of a sentence."""
    for sentence in sentences:
        found_verbs = verbs.positions(sentence)
        found = named.positions(sentence)
        if found_verbs and found:
            verb = min(found_verbs.values())
            before = {p: at for p, at in found.items() if at < verb}
            if before:
                return max(before, key=lambda p: before[p]), sentence
    return None


def _target(sentences: list[str], named: Dictionary, authority: str | None) -> tuple[str, str] | None:
    """The place named first after "against", "on", "против", "に対する" ..., else the first
    place other than the authority."""
    words = _tables().target_words
    for sentence in sentences:
        found = {p: at for p, at in named.positions(sentence).items() if p != authority}
        marks = words.positions(sentence)
        if found and marks:
            start = min(marks.values())
            after = {p: at for p, at in found.items() if at > start}
            if after:
                return min(after, key=lambda p: after[p]), sentence
    for sentence in sentences:
        found = {p: at for p, at in named.positions(sentence).items() if p != authority}
        if found:
            return min(found, key=lambda p: found[p]), sentence
    return None


_NAME = re.compile(
    r"(?:[A-Z][\w'’.&-]*|[А-ЯЁ][\w-]*)(?:\s+(?:of|and|&|de|la)?\s*(?:[A-Z][\w'’.&-]*|[А-ЯЁ][\w-]*)){0,4}"
)
_TARGET_CUE = re.compile(
    r"\b(?:on|against|targeting|targets|including|such as|designat\w*|sanction\w*|blacklist\w*|added)\s+"
    r"|(?:против|в отношении)\s+",
    re.IGNORECASE,
)
_NOT_A_TARGET = re.compile(
    r"^(?:The|A|An|This|That|These|Those|It|Its|In|On|At|For|By|With|Sanctions?|Council|Commission|"
    r"Treasury|Office|Department|Ministry|Government|President|Prime|Foreign|Secretary|Security|"
    r"Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday|January|February|March|April|May|"
    r"June|July|August|September|October|November|December|OFAC|EU|UN|US|UK|G7|UNSCR|Resolution|Article|"
    r"Chapter|Deal|Western|Union|Act|Order|Law|Package|Agreement|Statement|New York)\b"
)
# Whole names that are never a target: news agencies and outlets, legislatures, month
# abbreviations, "U.S" cut at its last dot.
_NEVER_A_TARGET = re.compile(
    r"(?:U\.S|U\.N|AFP|AP|Reuters|Bloomberg|Yonhap|Kyodo|TASS|Xinhua|CNN|BBC|NHK|Interfax|RIA Novosti|"
    r"Senate|Congress|Capitol Hill|Parliament|House|Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sept?|Oct|Nov|Dec)"
)


def _targets(sentences: list[str], named: Dictionary) -> list[tuple[str, str]]:
    """Named persons, companies, banks and vessels a sanctions story names after "on",
    "against", "targeting", "including" ...: capitalised names that are not places, bodies,
    days or months (Latin and Cyrillic script)."""
    found: list[tuple[str, str]] = []
    if sentences and sum(w[:1].isupper() for w in sentences[0].split()) > len(sentences[0].split()) / 2:
        sentences = sentences[1:]  # A Headline In Title Case: every word looks like a name
    for sentence in sentences:
        for cue in _TARGET_CUE.finditer(sentence):
            window = sentence[cue.end() : cue.end() + 160]
            for m in _NAME.finditer(window):
                name = re.sub(r"['’]s$", "", m.group(0).strip(" .,'’")).strip(" .,'’")  # Potanin's
                if len(name) < 3 or _NOT_A_TARGET.match(name) or _NEVER_A_TARGET.fullmatch(name):
                    continue
                if named.find(name):
                    continue
                if name not in (n for n, _ in found):
                    found.append((name, sentence))
            if found:
                break
    return found[:5]


# Who a sanctions action names as a group when it names no one ("four more Russian banks",
# "19 entities", "3団体と4人", "9間美國軍工企業"): a count or a nationality, then what they are.
_NATIONALITY = r"Russian|North Korean|Iranian|Chinese|Belarusian|Syrian|Venezuelan|Myanmar|US|U\.S\.|American"
_GROUP_TARGET = re.compile(
    rf"(?<![\w-])(?:(?P<n>\d{{1,4}}|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve)\s+)?"
    rf"(?:(?:more|additional|new|other|selected)\s+)?(?:(?P<of>{_NATIONALITY})\s+)?"
    r"(?:defen[cs]e\s+|state-owned\s+|shipping\s+|trading\s+)?"
    r"(?P<what>banks|financial institutions|entities|individuals|companies|firms|persons|officials|vessels|"
    r"tankers|oligarchs|businessmen)\b",
    re.IGNORECASE,
)
_CJK_GROUP = re.compile(
    r"(\d{1,4})\s?(?:つの)?(?:(団体|機関|개\s?기관|개\s?단체)|(人|명)|(行)"
    r"|(?:間|家|个|個)[^\d，。、]{0,6}?(?:企业|企業|公司|实体|實體|机构|機構))"
)
_CJK_GROUP_NAMES = ("companies", "entities", "individuals", "banks")  # by the group that matched


def _groups(sentences: list[str]) -> list[tuple[str, str]]:
    """Target groups a sanctions story gives with their count or nationality, in English."""
    found: list[tuple[str, str]] = []
    for sentence in sentences:
        for m in _GROUP_TARGET.finditer(sentence):
            if m.group("n") or m.group("of"):
                words = (m.group("n"), m.group("of"), m.group("what").lower())
                found.append((" ".join(w for w in words if w), sentence))
        for m in _CJK_GROUP.finditer(sentence):
            kind = next((i for i in (2, 3, 4) if m.group(i)), 1) - 1
            found.append((f"{m.group(1)} {_CJK_GROUP_NAMES[kind]}", sentence))
        if found:
            break
    first: dict[str, str] = {}  # each group once, with the first sentence that gives it
    for name, sentence in found:
        first.setdefault(name, sentence)
    return list(first.items())[:MAX_GROUPS]


def _authority(
    sentences: list[str], named: Dictionary, language: str | None, subject: str | None
) -> tuple[tuple[str, str] | None, str | None, str]:
    """Who imposes: the sanctioning body named first (and its sentence), and the authority as a
    place code with the sentence that says so. A body that names its country decides ("OFAC" is
    the United States), else the place named last before the first sanctions verb, else the
    headline's subject."""
    t = _tables()
    head = sentences[0] if sentences else ""
    bodies = _first(sentences, t.bodies.positions)
    detail: tuple[str, str] | None = None
    if bodies:
        found, sentence = bodies
        body = min(found, key=lambda b: found[b])
        detail = (body, sentence)
        # Whose body: the one named, the place just before it ("China's Foreign Ministry"), or,
        # for a government in its own language (政府 in Japanese), that country's.
        near = {p: at for p, at in named.positions(sentence).items() if 0 <= found[body] - at <= 20}
        if body in t.body_authority:
            return detail, t.body_authority[body], sentence
        if near:
            return detail, max(near, key=lambda p: near[p]), sentence
        if body == "Government of Japan" and language in t.own_government:
            return detail, t.own_government[language], sentence
    acting = _acting(sentences, named, t.sanction_verbs) or ((subject, head) if subject else None)
    if acting:
        return detail, acting[0], acting[1]
    return detail, None, head


def sanctions_authority(title: str, text: str, language: str | None) -> str | None:
    """Who imposes, as a place code ("EU", "US"), read as ``sanctions_facts`` reads its
    ``authority``."""
    sentences = _sentences(title, text)
    return _authority(sentences, places(language), language, subject(title, lead_of(text), language))[1]


def sanctions_facts(title: str, text: str, language: str | None, published: date | None) -> dict[str, Fact]:
    """``authority`` (and ``authority_detail``), ``action``, ``target_country``, ``targets``
    (named, else the groups counted), ``measures``, ``date``."""
    sentences = _sentences(title, text)
    facts: dict[str, Fact] = {}
    named = places(language)
    head = sentences[0] if sentences else ""
    story = anchors(title, lead_of(text), language, published)
    body, authority, sentence = _authority(sentences, named, language, story.subject)
    if body is not None:
        facts["authority_detail"] = Fact(body[0], body[1])
    if authority is not None:
        facts["authority"] = Fact(place_name(authority), sentence)
    action = "threaten" if _THREATEN.search(head) else story.action
    facts["action"] = Fact(action, head)
    target = _target(sentences, named, authority)
    if target:
        facts["target_country"] = Fact(place_name(target[0]), target[1])
    targets = _targets(sentences, named) or _groups(sentences)
    if targets:
        facts["targets"] = Fact(", ".join(name for name, _ in targets), targets[0][1])
    measures = _tables().measures
    found = sorted({m for s in sentences for m in measures.find(s)})
    if found:
        facts["measures"] = Fact(", ".join(found), next(s for s in sentences if measures.find(s)))
    when = _date(title, text, published)
    if when:
        facts["date"] = Fact(when.isoformat(), head)
    return facts


def story_facts(
    topic: str, title: str, text: str, language: str | None, published: date | None
) -> dict[str, Fact]:
    """The facts of a story flagged for ``topic`` (none for a topic without extraction)."""
    if topic == "missile_launch":
        return launch_facts(title, text, language, published)
    if topic == "sanctions":
        return sanctions_facts(title, text, language, published)
    return {}
