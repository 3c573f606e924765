"""Anchors: what a story is about, in terms that read the same in every language.

Event grouping compares stories by their words (``sketch``) and, across languages where words
cannot meet, by anchors: the places named (states, blocs and organisations, as ISO-like codes),
the class of missile, a named missile family and number (hwasong-18), the sanctions action
(lift, extend, or else impose) and the identifiers an action is known by (resolution 2397, the
17th package). Names of places come from CLDR through babel, in every language listed in
``LOCALES``, plus the extra names of ``anchors.yaml``; nothing is downloaded.

Matching is deliberately plain, so it holds in languages nobody here reads: a name in a script
written without spaces (Han, kana, Hangul) matches anywhere; an all-capitals short name (US,
EU, МБР) matches as written; any other name matches words that start with it, allowing up to
five letters of inflection or derivation (Russia: Russian, России; Korea: Korean, Koreas).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, timezone
from importlib import resources
from typing import Any

import ahocorasick_rs
from babel import Locale, UnknownLocaleError

from ..classify.segment import is_cjk, split_sentences
from ..classify.topics import _yaml

# The languages whose CLDR place names are read: those monitor has vocabularies for, and the
# other languages news in the corpus and in common feeds is written in.
_LOCALE_TAGS = """en ar bg bn cs da de el es et fa fi fr he hi hr hu hy id is it ja ka kk ko lt lv ms nl
no pl pt ro ru sk sl sq sr sv th tl tr uk ur vi zh zh_Hant"""
LOCALES = tuple(_LOCALE_TAGS.split())
MAX_INFLECTION = 5  # letters a word may add to a name it starts with
SHORT_INFLECTION = 3  # ... to a name shorter than six letters (Iran: Iranian; Mali: not malicious)
ACRONYM = re.compile(r"^[^\W\d_a-zà-ÿа-я]{0,1}[\w.\-&]{0,5}$")
_WORD = re.compile(r"[^\W\d_]+")
_VOWELS = frozenset("aeiouyàáâãäåèéêëìíîïòóôõöùúûüýаеёиоуыэюяіїєъьйαεηιουωάέήίόύώ")


@dataclass(frozen=True, slots=True)
class Anchors:
    """A story's anchors. ``places``, ``weapons``, ``families`` and ``identifiers``: everything
    its headline and lead name; the ``head_`` sets: what its headline names (its first sentence
    when it has none), which is what the story reports, the missiles before the part of it that
    recalls an earlier launch ("fires missiles days after an ICBM test", as ``reported`` cuts
    it). Conflicts are judged on those, agreement on everything."""

    places: frozenset[str] = frozenset()
    head_places: frozenset[str] = frozenset()
    subject: str | None = None  # the place the headline names first: who fired, who decided
    weapons: frozenset[str] = frozenset()
    head_weapons: frozenset[str] = frozenset()
    families: frozenset[str] = frozenset()
    head_families: frozenset[str] = frozenset()
    identifiers: frozenset[str] = frozenset()
    head_identifiers: frozenset[str] = frozenset()
    action: str = "impose"  # the sanctions action the headline reports: lift, extend, else impose
    day: int | None = None  # the first day of the month the headline or lead names
    struck: frozenset[str] = frozenset()  # cities a strike hits, as written (``struck``)
    launched: datetime | None = None  # when the launch was fired, as written (UTC), to the minute
    launch_day: date | None = None  # the day it was fired (UTC+9), with or without the time


def _is_acronym(name: str) -> bool:
    letters = [c for c in name if c.isalpha()]
    return 0 < len(letters) <= 5 and all(c.isupper() for c in letters) and len(name) <= 7


def _stem(word: str) -> str:
    return word[:-1] if len(word) >= 5 and word[-1] in _VOWELS else word


class Dictionary:
    """Names -> a value (a place code, a weapon class, an action), matched as the module says."""

    def __init__(self, names: Iterable[tuple[str, str]]) -> None:
        spaceless: dict[str, str] = {}
        acronyms: dict[str, str] = {}
        self._words: dict[str, list[tuple[tuple[str, ...], str]]] = {}
        for name, value in names:
            name = name.strip()
            if not name:
                continue
            if any(is_cjk(c) for c in name):
                spaceless.setdefault(name.casefold(), value)
            elif _is_acronym(name):
                acronyms.setdefault(name, value)
            else:
                words = tuple(_stem(w) for w in _WORD.findall(name.casefold()))
                if words and (len(words[0]) >= 3 or len(words) > 1):
                    self._words.setdefault(words[0], []).append((words, value))
        self._spaceless_values = list(spaceless.values())
        self._spaceless = ahocorasick_rs.AhoCorasick(list(spaceless)) if spaceless else None
        self._acronyms = (
            re.compile(
                r"(?<![\w.\-])("
                + "|".join(re.escape(a) for a in sorted(acronyms, key=len, reverse=True))
                + r")(?![\w\-])"
            )
            if acronyms
            else None
        )
        self._acronym_values = acronyms

    def find(self, text: str) -> set[str]:
        return set(self.positions(text))

    def positions(self, text: str) -> dict[str, int]:
        """Each value named in ``text`` -> where it is first named."""
        found: dict[str, int] = {}

        def add(value: str, at: int) -> None:
            if at < found.get(value, len(text) + 1):
                found[value] = at

        if self._acronyms is not None:
            for m in self._acronyms.finditer(text):
                add(self._acronym_values[m.group(1)], m.start())
        folded = text.casefold()
        if self._spaceless is not None:
            for i, start, _ in self._spaceless.find_matches_as_indexes(folded, overlapping=True):
                add(self._spaceless_values[i], start)
        matches = list(_WORD.finditer(folded))
        words = [m.group(0) for m in matches]
        for i, word in enumerate(words):
            for k in range(max(min(3, len(word)), len(word) - MAX_INFLECTION), len(word) + 1):
                for name, value in self._words.get(word[:k], ()):
                    if _starts(words, i, name):
                        add(value, matches[i].start())
        return found


def _inflects(word: str, name: str) -> bool:
    """``word`` is ``name`` with a few letters of inflection or derivation."""
    extra = len(word) - len(name)
    return word.startswith(name) and extra <= (MAX_INFLECTION if len(name) >= 6 else SHORT_INFLECTION)


def _starts(words: list[str], i: int, name: tuple[str, ...]) -> bool:
    if i + len(name) > len(words):
        return False
    return all(_inflects(words[i + j], part) for j, part in enumerate(name))


@dataclass(frozen=True, slots=True)
class Gazetteer:
    aliases: tuple[tuple[str, str], ...]  # extra place names, every language
    weapons: Dictionary
    actions: Dictionary
    families: re.Pattern[str]
    family_names: tuple[str, ...]
    identifiers: re.Pattern[str]
    conflicts: frozenset[frozenset[str]]  # weapon classes two reports of one launch cannot both give
    dates: re.Pattern[str]  # a day of the month, in group 1 or 2 or 3
    weekdays: Dictionary  # weekday names -> "0" (Monday) .. "6"

    def clash(self, ours: Iterable[str], theirs: Iterable[str]) -> bool:
        """Whether two sets of weapon classes cannot describe one launch."""
        a, b = set(ours), set(theirs)
        return not a & b and any(frozenset((x, y)) in self.conflicts for x in a for y in b)


def _cldr_places(tag: str) -> Iterable[tuple[str, str]]:
    try:
        territories = Locale.parse(tag).territories
    except (UnknownLocaleError, ValueError):
        return
    for code, name in territories.items():
        if code.isalpha() and code not in ("ZZ", "QO", "EZ"):
            yield name, code


@functools.cache
def _data() -> dict[str, Any]:
    text = resources.files(__package__).joinpath("anchors.yaml").read_text(encoding="utf-8")
    data: dict[str, Any] = _yaml(text)
    return data


@functools.cache
def gazetteer() -> Gazetteer:
    """The anchors' dictionaries but places, built once per process."""
    data = _data()
    families = data["families"]
    numbered = "|".join(f"(?P<{key}>{pattern})" for key, pattern in families.items())
    ids = data["identifiers"]
    return Gazetteer(
        aliases=tuple((n, c) for c, names in data["places"].items() for n in names),
        weapons=Dictionary((n, c) for c, names in data["weapons"].items() for n in names),
        actions=Dictionary((n, c) for c, names in data["actions"].items() for n in names),
        families=re.compile(rf"(?<!\w)(?:{numbered})[\s\-–]?(\d{{1,2}})(?!\d)", re.IGNORECASE),
        family_names=tuple(families),
        identifiers=re.compile(
            rf"(?:(?<!\w)(?:{ids['before_number']})\s*(?:no\.?|nr\.?|№|number|第)?\s*(\d{{2,5}})(?!\d))"
            rf"|(?:(?<!\d)(\d{{1,3}})(?:st|nd|rd|th|-?[йяего]{{1,3}}|\.|°|º|ª|e|ème|차)?\s?"
            rf"(?:\w+\s){{0,2}}(?:{ids['after_ordinal']}))",
            re.IGNORECASE,
        ),
        conflicts=frozenset(frozenset(pair) for pair in data["conflicts"]),
        weekdays=Dictionary((name, str(n)) for n, names in enumerate(data["weekdays"]) for name in names),
        dates=re.compile(
            rf"(?<!\w)(?:{'|'.join(sorted(data['months'], key=len, reverse=True))})\.?\s+(\d{{1,2}})(?!\d)"
            rf"|(?<!\d)(\d{{1,2}})(?:st|nd|rd|th|\.|er|º)?\s+(?:of\s+|de\s+)?"
            rf"(?:{'|'.join(sorted(data['months'], key=len, reverse=True))})(?!\w)"
            r"|(?<!\d)(\d{1,2})\s?(?:日|일)",
            re.IGNORECASE,
        ),
    )


@functools.cache
def places(language: str | None) -> Dictionary:
    """Place names as news in ``language`` writes them: CLDR's in English and in that language,
    and every language's extra names. Only the story's own language: a word of one language is
    too often a country's name in another."""
    tags = ["en"]
    if language and language != "en":
        tags.append(language if language in LOCALES else language.split("-")[0])
    if language in ("zh", "zh-hant", "zh-tw", "zh-hk"):
        tags.append("zh_Hant")
    return Dictionary([*gazetteer().aliases, *(name for tag in tags for name in _cldr_places(tag))])


def lead_of(text: str, limit: int = 400) -> str:
    """The first ``limit`` characters of a story's body, cut at a word."""
    if len(text) <= limit:
        return text
    cut = text.rfind(" ", 0, limit)
    return text[: cut if cut > limit // 2 else limit]


# "Seoul:", "SEOUL (AP) —", "Pakistan:": where it was written or who spoke, not the subject.
_DATELINE = re.compile(r"^[^:—–\n]{1,30}?(?:\([^)]{1,20}\))?\s*(?::|—|–|\s-)\s+")
_SENTENCE_END = re.compile(r"(?<=[.!?。！？])\s|[。！？]")


def missiles(text: str) -> frozenset[str]:
    """The named missiles with their number in ``text``: hwasong-18, kn-23."""
    g = gazetteer()
    found = set()
    for m in g.families.finditer(text):
        name = next(key for key in g.family_names if m.group(key))
        found.add(f"{name}-{int(m.group(m.lastindex or 0))}")
    return frozenset(found)


# An earlier launch a sentence recalls ("two days after testing an ICBM", "more than the SLBM
# fired last month"); Latin script only. What a sentence names after one of these is not what it
# reports.
_AGO = r"ago|last (?:week|month|year)"
BACK_REFERENCE = re.compile(
    rf"\b(?:after|since|following|than|{_AGO}|earlier this|previous\w*|"
    r"in (?:january|february|march|april|may|june|july|august|september|october|november|december))\b",
    re.IGNORECASE,
)
# A sentence that says when before now ("two weeks ago a KN-11 was fired") is about the past.
RECALL = re.compile(rf"\b(?:{_AGO}|previously)\b", re.IGNORECASE)


def reported(sentence: str) -> str:
    """The part of a sentence before it recalls an earlier launch (``BACK_REFERENCE``)."""
    back = BACK_REFERENCE.search(sentence)
    return sentence[: back.start()] if back else sentence


def headline(title: str, lead: str = "") -> str:
    """What a story says in its headline (its first sentence when it has none), dateline off."""
    return _DATELINE.sub("", title.strip() or _SENTENCE_END.split(lead.strip(), maxsplit=1)[0])


# A day named after these, in its sentence, is another occurrence's: what the news answers.
_RECALLED_DAY = re.compile(r"\b(?:over|after|following|since|in response to|in retaliation for)\b", re.I)
_EARLIER = re.compile(r"(?:先月|前月|昨年|去年|上月|지난달|지난해|작년|last month|last year)\s*$", re.I)


def day_named(title: str, lead: str, when: date | None) -> int | None:
    """The day of the month a story says its news happened on: the first date it gives (not one
    of last month or last year), else the latest weekday it names on or before the day after
    ``when`` (its publication date)."""
    g = gazetteer()
    both = f"{title}\n{lead}"
    for m in g.dates.finditer(both):
        if _EARLIER.search(both, max(0, m.start() - 12), m.start()):
            continue  # "先月24日", "지난달 24일": a day of last month, recalled
        clause = both[max(both.rfind(".", 0, m.start()), both.rfind("\n", 0, m.start()), 0) : m.start()]
        if _RECALLED_DAY.search(clause):
            continue  # "sanctions on Monday over its nuclear test on September 3"
        for d in m.groups():
            if d and 0 < int(d) < 32:
                return int(d)
    if when is None:
        return None
    named = g.weekdays.positions(both)
    if not named:
        return None
    weekday = int(min(named, key=lambda w: named[w]))
    # Up to a day after publication: a report dated in UTC is often a day behind the local date
    # of an event in East Asia ("on Thursday" in a story stamped Wednesday 23:00 UTC).
    latest = when + timedelta(days=1)
    return (latest - timedelta(days=(latest.weekday() - weekday) % 7)).day


# Where a strike lands: a name (Latin script) right after a strike word, or after one and "on",
# "at" or "against" ("missiles hit Odesa", "a strike on the city of Kharkiv"). Two strikes of one
# war a day apart name the same attacker and country, and rarely the same city.
_STRUCK = re.compile(
    r"\b(?:(?:strikes?|attacks?|missiles?|rockets?|drones?|barrages?|fired|fires|fire|launched|launches|"
    r"bombardment|shelling)\s+(?:[\w'-]+\s+){0,2}?(?:on|at|against)|hit|hits|hitting|struck|pounded|pounds|"
    r"targeted|targeting|targets)\s+(?:the\s+)?(?:(?:city|port|town|region|capital)\s+of\s+)?"
    r"([A-Z][a-z]+(?:[ -][A-Z][a-z]+)?)"
)
_WATERS = frozenset(("sea", "ocean", "gulf", "strait", "bay", "coast", "waters", "peninsula"))  # not a city


@functools.cache
def _calendar() -> frozenset[str]:
    """Month and weekday names (``anchors.yaml``): "on Monday" names a day, not a city."""
    data = _data()
    return frozenset([*data["months"], *(name for names in data["weekdays"] for name in names)])


@functools.cache
def _countries() -> tuple[str, ...]:
    """CLDR's English names of countries and territories, lower case, as stems that their
    adjectives share (ukrain: Ukraine, Ukrainian; israe: Israel, Israeli)."""
    names = (n.casefold() for code, n in Locale.parse("en").territories.items() if code.isalpha())
    return tuple({n if len(n) <= 4 else n[:-1] for n in names})


# When a launch was fired, as Japanese and Korean reports state it in their first lines
# ("18日午前8時24分ごろ…発射", "18일 오전 8시 24분께…발사"): both countries keep one time,
# UTC+9. English reports seldom say which zone their "8:24 a.m." is in, so they are not read.
_UTC9 = timezone(timedelta(hours=9))
_LAUNCH_VERBS = {"ja": "発射", "ko": "발사"}
_TIMES_OF_DAY = {
    "ja": re.compile(r"(午前|午後)\s*(\d{1,2})時(?:\s*(\d{1,2})分)?"),
    "ko": re.compile(r"(오전|오후)\s*(\d{1,2})시(?:\s*(\d{1,2})분)?"),
}
# With the month when given (a report may recall a launch of months before); not a count of
# days ("5日ぶり", "3日間", "5일 만에", "3일 전에"; "사흘" has no digit): "5日ぶりに発射" gives no date.
_LOCAL_DATES = {
    "ja": re.compile(r"(?:(\d{1,2})月)?(\d{1,2})日(?!ぶり|間|連続|後|前|以内|目|余り|ほど)"),
    "ko": re.compile(
        r"(?:(\d{1,2})월\s*)?(\d{1,2})일(?!\s*(?:만|간|동안|연속|째|후|전|이내)(?:에|부터|까지|의|간)?(?![가-힣]))"
    ),
}
_AFTERNOON = ("午後", "오후")
# A time of day this close after the date is the launch's ("18日、北朝鮮が同日午後5時22分ごろ").
_TIME_REACH = 16
# With no time after the date, these between the date and the verb put the launch on the day
# before: "13일 북한은 전날 발사한" (on the 13th, the North said the missile it fired the day before).
_DAY_BEFORE = {"ja": re.compile(r"前日|昨日|きのう|前夜"), "ko": re.compile(r"전날|전일|어제")}


def local_date(month: str | None, day: str, when: date) -> date | None:
    """The date a report written about ``when`` (its publication date, in UTC) means by "18日"
    or "12月18日": of the months (or, with the month, the years) around ``when``, the one that
    puts the date nearest to it ("1日" in a story of 31 December is 1 January, "12月31日" in one
    of 2 January is last year's)."""
    candidates = []
    if month:
        candidates = [(when.year + k, int(month), int(day)) for k in (-1, 0, 1)]
    else:
        for k in (-1, 0, 1):
            year, mon = divmod(when.year * 12 + when.month - 1 + k, 12)
            candidates.append((year, mon + 1, int(day)))
    dates = []
    for y, m, d in candidates:
        try:
            dates.append(date(y, m, d))
        except ValueError:
            continue
    return min(dates, key=lambda d: abs((d - when).days), default=None)


@dataclass(frozen=True, slots=True)
class LaunchDate:
    """When a Japanese or Korean report says its launch was fired: the local day (UTC+9), and
    the moment (UTC) when the report gives the time of day."""

    day: date
    moment: datetime | None


def launch_date(text: str, language: str | None, when: date | None) -> LaunchDate | None:
    """The launch a Japanese or Korean story reports, from the first sentence that dates a
    launch: the last date before the sentence's last launch verb ("17일 밤 … 발사한 데 이어 18일
    오전 8시 24분께 또 … 발사했다": the 18th), at the time of day that starts within
    ``_TIME_REACH`` characters after it, or in a later launch sentence of the same date; without
    one, the day before when "前日", "전날" ... stand between the date and the verb. A later
    sentence of another date is not read: "18日には…発射" after the story's own launch recalls
    another. None without a date: a report of yesterday's launch gives the time alone as often
    as one of today's."""
    verb = _LAUNCH_VERBS.get(language or "")
    if verb is None or when is None or verb not in text:
        return None
    found: LaunchDate | None = None
    for start, end in split_sentences(text):
        dated = _dated_launch(text[start:end], verb, language or "", when)
        if dated is None:
            continue
        if found is None:
            found = dated
        elif dated.day != found.day:
            continue
        if dated.moment is not None:  # the first dated sentence, or a later one of its day
            return dated
    return found


def _dated_launch(sentence: str, verb: str, language: str, when: date) -> LaunchDate | None:
    """The date (and time of day) a sentence gives its launch: ``launch_date`` for one sentence."""
    end = sentence.rfind(verb)
    dates = [
        d
        for d in _LOCAL_DATES[language].finditer(sentence, 0, max(end, 0))
        if not _EARLIER.search(sentence, max(0, d.start() - 12), d.start())
    ]
    if not dates:
        return None
    month, dom = dates[-1].groups()
    day = local_date(month, dom, when)
    if day is None:
        return None
    found = _TIMES_OF_DAY[language].search(sentence, dates[-1].end(), end)
    if found is None or found.start() > dates[-1].end() + _TIME_REACH:
        before = _DAY_BEFORE[language].search(sentence, dates[-1].end(), end)
        return LaunchDate(day - timedelta(days=1) if before else day, None)
    half, hour, minute = found.groups()
    hours, minutes = int(hour) % 12 + (12 if half in _AFTERNOON else 0), int(minute or 0)
    at = time(hours, minutes) if minutes < 60 else time(hours)
    return LaunchDate(day, datetime.combine(day, at, _UTC9).astimezone(UTC))


def struck(text: str) -> frozenset[str]:
    """The cities ``text`` says a strike hits (lower case): names after a strike word that are
    neither a country, a nationality, a sea, a day nor a month."""
    out = set()
    for m in _STRUCK.finditer(text):
        name = m.group(1).casefold()
        if name.split()[0] in _calendar() or name.startswith(_countries()) or _WATERS & set(name.split()):
            continue
        out.add(name)
    return frozenset(out)


def _first(where: dict[str, int]) -> str | None:
    """The place named first (ties by code)."""
    return min(where, key=lambda p: (where[p], p)) if where else None


def subject(title: str, lead: str, language: str | None = None) -> str | None:
    """The place the headline names first (``Anchors.subject``): who fired, who decided."""
    return _first(places(language).positions(headline(title, lead)))


def anchors(title: str, lead: str, language: str | None = None, when: date | None = None) -> Anchors:
    """The anchors of a story from its headline and lead (``lead_of`` its text); ``when``, its
    publication date, reads "on Monday" as a day of the month."""
    g = gazetteer()
    head = headline(title, lead)
    news = reported(head)  # "fires missiles after failed satellite launch": the missiles
    both = f"{title}\n{lead}"

    def identifiers(text: str) -> frozenset[str]:
        return frozenset(str(int(a or b)) for a, b in g.identifiers.findall(text))

    named = places(language)
    where = named.positions(head)
    head_places = frozenset(where)
    actions = g.actions.find(head)
    fired = launch_date(both, language, when)
    return Anchors(
        places=head_places | named.find(lead),
        head_places=head_places,
        subject=_first(where),
        weapons=frozenset(g.weapons.find(both)),
        head_weapons=frozenset(g.weapons.find(news)),
        families=missiles(both),
        head_families=missiles(news),
        identifiers=identifiers(both),
        head_identifiers=identifiers(head),
        day=day_named(title, lead, when),
        struck=struck(both),
        launched=fired.moment if fired else None,
        launch_day=fired.day if fired else None,
        action="lift" if "lift" in actions else "extend" if "extend" in actions else "impose",
    )
