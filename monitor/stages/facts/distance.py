"""Heights and distances a launch report gives: apogee and range, in kilometres. Pure.

A report writes a distance as a number and a unit ("about 600 km", "約400キロ", "3천7백㎞",
"621 miles (1,000 kilometers)"), and says what it measures with a word beside it: before the
number in most languages ("an altitude of 50 km", "flew about 600 km"), after it where the verb
comes last ("約900キロ飛行し", "450㎞를 날아갔다", "910여㎞ 높이로"). Each distance takes the
nearest such word on either side, without reaching past another distance; distances that say
where something is ("about 200 km west of Okushiri", "北海道の西約200キロ") or what a missile
could do ("a range of 15,000 km", "射程1300キロ", "capable of") are no flight's apogee or range:
"range" and 射程 name a capability, not a flight, and are no measurement word here.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from ..classify.segment import is_cjk
from .words import alternation


class Measure(StrEnum):
    APOGEE = "apogee_km"
    RANGE = "range_km"


_DIGITS = r"\d{1,3}(?:[,\u00a0\u202f ]\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?"
# Korean writes large numbers with 만 (10,000), 천 (1,000) and 백 (100): 3천7백, 1천, 1만2천.
_KOREAN = r"(?:\d+만\s?)?(?:\d+천\s?)?(?:\d+백)?"
_NUMBER = rf"(?P<number>(?:(?:{_DIGITS})\s?[-–~〜～]\s?)?(?:{_DIGITS}|{_KOREAN}))"
_UNIT = (
    r"(?P<unit>km|kilomet(?:er|re)s?|キロ(?:メートル)?|㎞|킬로미터|킬로|公里|千米|км|километр\w*|"
    r"кілометр\w*|Kilometer\w*|kilómetros?|quilômetros?|chilometri|miles?)"
)
_DISTANCE = re.compile(rf"(?<![0-9A-Za-z.,]){_NUMBER}\s?(?:여|余|多)?\s?{_UNIT}(?![a-zA-Z])", re.IGNORECASE)
_KOREAN_PART = re.compile(r"(\d+)(만|천|백)")
_KOREAN_VALUE = {"만": 10_000, "천": 1_000, "백": 100}

# Words that say a distance is a height (an apogee) or a flight's length.
_WORDS = {
    Measure.APOGEE: (
        "apogee", "altitude", "altitudes", "height", "high", "peak", "rose", "climbed", "soared",
        "高度", "最高高度", "最大高度",
        "고도", "정점고도", "높이", "高", "высот", "висот", "Höhe", "Flughöhe", "altura", "altezza",
    ),
    Measure.RANGE: (
        "flew", "flown", "flying", "flight distance", "flying distance", "flight of", "traveled",
        "travelled", "traveling", "travelling", "covered", "covering", "distance", "flight range",
        "飛行距離", "飛距離", "飛翔距離", "飛行", "飛翔", "飛ん", "飛び", "비행거리", "비행 거리", "비행",
        "날아",
        "飞行距离", "飞行", "пролетел", "пролетела", "пролетели", "пролетіла", "дальност",
        "дальніст", "flog", "Flugstrecke", "volé", "parcouru", "voló", "recorrió", "volou",
        "percorso", "volato",
    ),
}  # fmt: skip
# Before a distance: a direction or "off" (where it landed), or a capability.
_WHERE_BEFORE = re.compile(
    r"(?:[西東南北]|서쪽|동쪽|남쪽|북쪽|서방|동방|沖|off|from|range of up to|capable of|could \w+|can \w+|"
    r"designed to \w+)\s?(?:約|およそ|약|대략|约|大约|about|around|some|approximately|nearly|около|"
    r"примерно|etwa|environ|unos|cerca de)?\s?$",
    re.IGNORECASE,
)
# After one: where it is ("200 km off Hokkaido", "west of", "from the coast", "앞바다").
_WHERE_AFTER = re.compile(
    r"^\s?(?:\([^)]*\)\s?)?(?:off\b|away\b|from\b|(?:north|south|east|west)(?:-?\w+)? of\b|"
    r"(?:to the )?(?:north|south|east|west)\w* of\b|앞바다|떨어진|離れ|沖)",
    re.IGNORECASE,
)
_CUES = {measure: alternation(words) for measure, words in _WORDS.items()}
# Where a word comes after its number: in Japanese, Korean and Chinese; in English, "50 km high".
_AFTER_TOO = {"high", "altitude", "height"}
_CONVERSION = re.compile(r"\s?\(\s?(?:about |around |some |approximately )?")
_CLAUSE = re.compile(r"[,，、;；。:：!?！？]")  # a number's own commas are inside its match
BEFORE = 40  # how far before a distance its word may stand
AFTER = 12  # and after it (verb-final languages)


@dataclass(frozen=True, slots=True)
class Distance:
    measure: Measure
    km: int
    start: int  # where the number stands in the sentence


def _korean(number: str) -> float | None:
    parts = _KOREAN_PART.findall(number)
    if not parts:
        return None
    return float(sum(int(n) * _KOREAN_VALUE[unit] for n, unit in parts))


def kilometres(number: str, unit: str) -> float | None:
    """A written distance in km: the larger end of "4,500-4,600", miles converted."""
    number = re.split(r"\s?[-–~〜～]\s?", number.strip())[-1]
    value = _korean(number)
    if value is None:
        try:
            value = float(re.sub(r"[,\s]", "", number))
        except ValueError:
            return None
    return round(value * 1.609 if unit.lower().startswith("mile") else value, 1)


def _gap(sentence: str, start: int, end: int) -> int | None:
    """Characters between a distance and a word, or None when a comma or a sentence mark
    stands between them (the word belongs to another clause)."""
    return None if _CLAUSE.search(sentence, start, end) else end - start


def distances(sentence: str) -> Iterable[Distance]:
    """Each apogee or range the sentence gives, in order."""
    found: list[re.Match[str]] = []
    for m in _DISTANCE.finditer(sentence):
        if not m.group("number").strip():
            continue
        if found and _CONVERSION.fullmatch(sentence, found[-1].end(), m.start()):
            continue  # "621 miles (1,000 km)": the same distance again
        found.append(m)
    if not found:
        return
    cues = [
        (c.start(), c.end(), kind, is_cjk(c.group(0)[0]) or c.group(0).lower() in _AFTER_TOO)
        for kind, pattern in _CUES.items()
        for c in pattern.finditer(sentence)
    ]

    def gap(i: int, start: int, end: int, after_too: bool) -> int | None:
        """How far the word at start:end stands from distance i (None: out of its reach)."""
        m = found[i]
        low = max(m.start() - BEFORE, found[i - 1].end() if i else 0)
        high = min(m.end() + AFTER, found[i + 1].start() if i + 1 < len(found) else len(sentence))
        if low <= start and end <= m.start():
            return _gap(sentence, end, m.start())
        if after_too and m.end() <= start and end <= high:
            return _gap(sentence, m.end(), start)
        return None

    for i, m in enumerate(found):
        km = kilometres(m.group("number"), m.group("unit"))
        if km is None or not 10 <= km <= 20_000:
            continue
        before, after = sentence[max(0, m.start() - 20) : m.start()], sentence[m.end() : m.end() + 30]
        if _WHERE_BEFORE.search(before) or _WHERE_AFTER.search(after):
            continue
        best: tuple[int, Measure] | None = None
        for start, end, measure, after_too in cues:
            own = gap(i, start, end, after_too)
            if own is None:
                continue
            # A word as near (or nearer) to the neighbouring distance is that one's.
            taken = any(
                (other := gap(j, start, end, after_too)) is not None and other <= own
                for j in (i - 1, i + 1)
                if 0 <= j < len(found)
            )
            score = own + (1000 if taken else 0)
            if best is None or score < best[0]:
                best = (score, measure)
        if best is not None:
            yield Distance(best[1], round(km), m.start())
