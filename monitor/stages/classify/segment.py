"""Text as the classifier reads it, in any script: case folding, word boundaries, sentences.

Whole words. A vocabulary matches where no letter, digit, "_" or "-" ([\\w-]) touches the match
on either side, except at an edge where the character on either side belongs to a script
written without spaces between words: Han, Hiragana, Katakana (with its half-width forms) or
Hangul (Korean spaces words but attaches particles and compounds: 미사일을, 탄도미사일). ``wrap``
writes that definition as a regex, ``whole_words`` checks it on the fast path; both read the
one table of those scripts here (``CJK_RANGES``), so they cannot drift apart.

Sentences end at ".", "!", "?", "؟" or "۔" followed (after an optional closing quote or
bracket) by space and then a capital of any cased script, a letter of a caseless script or a
digit 0-9 (optionally after an opening quote or bracket); at "。", "｡", "！", "？" or "．" (no
space needed); at a blank line; and at a line break followed by a capital of any cased script,
"•" or "-" (not by a caseless letter: hard-wrapped Chinese would split at every line). English
text splits as it always did.

Folding (``_fold``): lower case as the regex engine's IGNORECASE sees it, and the one-to-one
character folds of ``normalise`` (Arabic-script letter variants, traditional Chinese), applied
alike to the text searched and to the patterns; offsets do not move.
"""

from __future__ import annotations

import bisect
import functools
import logging
import re

# The regex engine's table of letters that IGNORECASE treats as one; _fold must agree with it.
import re._casefix as _casefix
from collections.abc import Sequence
from typing import TypeVar

from .normalise import fold_table

log = logging.getLogger(__name__)

T = TypeVar("T")


# The scripts whose words need no boundary (see the module docstring), by Unicode block; marks,
# iteration marks and the prolonged sound mark that belong to them included.
CJK_RANGES = (
    ("\u1100", "\u11ff"),  # Hangul Jamo
    ("\u2e80", "\u2fdf"),  # CJK and Kangxi radicals
    ("\u3005", "\u3007"),  # 々 〆 〇
    ("\u3021", "\u302f"),  # Hangzhou numerals, ideographic and Hangul tone marks
    ("\u3031", "\u3035"),  # kana repeat marks
    ("\u3038", "\u303c"),  # Han numerals and marks
    ("\u3041", "\u30ff"),  # Hiragana, Katakana (with ー and ・)
    ("\u3131", "\u318e"),  # Hangul compatibility jamo
    ("\u31f0", "\u31ff"),  # Katakana phonetic extensions
    ("\u3400", "\u4dbf"),  # CJK unified ideographs extension A
    ("\u4e00", "\u9fff"),  # CJK unified ideographs
    ("\ua960", "\ua97f"),  # Hangul jamo extended-A
    ("\uac00", "\ud7ff"),  # Hangul syllables, Hangul jamo extended-B
    ("\uf900", "\ufaff"),  # CJK compatibility ideographs
    ("\uff66", "\uff9f"),  # half-width Katakana
    ("\uffa0", "\uffdc"),  # half-width Hangul
    ("\U0001aff0", "\U0001b16f"),  # Kana extended-B, supplement, extended-A, small kana
    ("\U00020000", "\U0003ffff"),  # supplementary and tertiary ideographic planes
)
_CJK_STARTS = [a for a, _ in CJK_RANGES]
_CJK_ENDS = [b for _, b in CJK_RANGES]
_CJK_BMP = "".join(f"{a}-{b}" for a, b in CJK_RANGES if b <= "\uffff")
_CJK_ASTRAL = "".join(f"{a}-{b}" for a, b in CJK_RANGES if a > "\uffff")
_CJK_ASTRAL_CHAR = re.compile(f"[{_CJK_ASTRAL}]")
# Case-sensitive inside IGNORECASE regexes: these scripts have no case, and a case-insensitive
# class this size takes the regex compiler ~70,000 case mappings.
_CJK = f"(?-i:[{_CJK_BMP}{_CJK_ASTRAL}])"


def is_cjk(c: str) -> bool:
    """Whether the character belongs to CJK_RANGES."""
    i = bisect.bisect_right(_CJK_STARTS, c) - 1
    return i >= 0 and c <= _CJK_ENDS[i]


def _equivalents() -> dict[int, str]:
    """Lower-case letters that IGNORECASE treats as one ("σ" and "ς", "s" and "ſ", "µ" and
    "μ" ...), each mapped to one representative of its group."""
    groups: list[set[int]] = []
    for code, others in _casefix._EXTRA_CASES.items():
        group = {code, *others}
        for other in [g for g in groups if g & group]:
            group |= other
            groups.remove(other)
        groups.append(group)
    return {c: chr(min(group)) for group in groups for c in group if c != min(group)}


_EQUIVALENT = _equivalents()
_EQUIVALENT_CLASS = "".join(re.escape(chr(c)) for c in sorted(_EQUIVALENT))


# Where every key of the fold table lives (a test checks it): the case equivalents, the Arabic
# block, CJK_RANGES.
_ARABIC_BLOCK = "\u0600-\u06ff"


class _Folding:
    """The fold's translate table (case equivalents and ``normalise.fold_table``) and the
    regexes that find what needs folding. The keys are split by plane: a class of BMP
    characters compiles to a bitmap the regex engine tests in one step, while one with astral
    characters becomes a list it walks for every character of the text (2 ms a page)."""

    def __init__(self) -> None:
        self.table = {**_EQUIVALENT, **fold_table()}
        bmp = "".join(re.escape(chr(c)) for c in sorted(self.table) if c < 0x10000)
        astral = "".join(re.escape(chr(c)) for c in sorted(self.table) if c >= 0x10000)
        self.bmp_keys = re.compile(f"[{bmp}]")
        self.astral_keys = re.compile(f"[{astral}]") if astral else None
        # In one scan of a document: the blocks where keys and the CJK characters of the BMP
        # live (rare in most text; a second scan would cost as much as the first).
        self.blocks = re.compile(f"[{_EQUIVALENT_CLASS}{_ARABIC_BLOCK}{_CJK_BMP}]")
        self.cjk = re.compile(f"[{_CJK_BMP}]")

    def replace(self, match: re.Match[str]) -> str:
        return self.table[ord(match[0])]

    def apply(self, lowered: str, astral: bool) -> str:
        """``lowered`` folded; ``astral``: whether it has characters outside the BMP."""
        if self.bmp_keys.search(lowered):
            lowered = self.bmp_keys.sub(self.replace, lowered)
        if astral and self.astral_keys is not None and self.astral_keys.search(lowered):
            lowered = self.astral_keys.sub(self.replace, lowered)
        return lowered


@functools.cache
def _folding() -> _Folding:
    """Built on first use (~15 ms: the regex compiler walks every code point of a range)."""
    return _Folding()


def _has_astral(text: str) -> bool:
    return len(text.encode("utf-16-le", "surrogatepass")) != 2 * len(text)


def _fold(text: str) -> str:
    """Lower case as the regex engine's IGNORECASE sees it (str.lower() turns "İ" into "i" and a
    combining dot, the engine into "i", and keeps letters apart that the engine treats as one),
    then the character folds of ``normalise``."""
    lowered = text.lower().replace("i\u0307", "i")
    return _folding().apply(lowered, not lowered.isascii() and _has_astral(lowered))


def _fold_document(text: str) -> tuple[str, bool]:
    """``_fold(text)``, and whether the text has a character of CJK_RANGES (folding neither
    makes nor unmakes one)."""
    lowered = text.lower().replace("i\u0307", "i")
    folding = _folding()
    astral = _has_astral(lowered)
    cjk = False
    if folding.blocks.search(lowered):
        cjk = folding.cjk.search(lowered) is not None
        lowered = folding.apply(lowered, astral)
    elif astral:
        lowered = folding.apply(lowered, astral)
    if not cjk and astral:
        cjk = _CJK_ASTRAL_CHAR.search(lowered) is not None  # the text has astral characters
    return lowered, cjk


def wrap(patterns: Sequence[str], cjk: bool = True) -> str:
    """One regex matching any of ``patterns`` as a whole word (see the module docstring). With
    ``cjk=False``, the plain boundaries only: the same matches in text with no CJK character."""
    alternation = "|".join(f"(?:{p})" for p in patterns)
    if not cjk:
        return rf"(?<![\w-])(?:{alternation})(?![\w-])"
    # Before: not a non-CJK [\w-] followed by a non-CJK first character. After: not a non-CJK
    # [\w-] preceded by a non-CJK last character.
    return rf"(?<![\w-](?<!{_CJK})(?!{_CJK}))(?:{alternation})(?![\w-](?<!{_CJK})(?<!{_CJK}.))"


class WordPattern:
    """Patterns compiled as whole words: ``regex`` is the definition (``wrap``); ``plain`` has
    the plain boundaries and is what text without CJK characters gets (``for_text``). Both are
    compiled on first use: a topic has hundreds of patterns, a language reads a few of them,
    and ``regex`` costs ~6 ms (the CJK class is large). Picklable: recompiled when used."""

    __slots__ = ("_plain", "_regex", "flags", "patterns")

    def __init__(self, patterns: Sequence[str], flags: int = 0) -> None:
        self.patterns = tuple(patterns)
        self.flags = flags
        self._plain: re.Pattern[str] | None = None
        self._regex: re.Pattern[str] | None = None

    @property
    def plain(self) -> re.Pattern[str]:
        if self._plain is None:
            self._plain = re.compile(wrap(self.patterns, cjk=False), self.flags)
        return self._plain

    @property
    def regex(self) -> re.Pattern[str]:
        if self._regex is None:
            self._regex = re.compile(wrap(self.patterns), self.flags)
        return self._regex

    def for_text(self, cjk: bool) -> re.Pattern[str]:
        """The regex for a text; ``cjk`` tells whether it has a character of CJK_RANGES."""
        return self.regex if cjk else self.plain

    def __reduce__(self) -> tuple[type[WordPattern], tuple[tuple[str, ...], int]]:
        return WordPattern, (self.patterns, self.flags)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, WordPattern):
            return NotImplemented
        return (self.patterns, self.flags) == (other.patterns, other.flags)

    def __hash__(self) -> int:
        return hash((self.patterns, self.flags))

    def __repr__(self) -> str:
        return f"WordPattern({self.patterns!r}, {self.flags!r})"


def _joined(outside: str, inside: str) -> bool:
    """Whether ``outside``, the character beside a match, continues the word whose edge
    character is ``inside``: a [\\w-] character, unless either is of a CJK_RANGES script."""
    return (
        (outside.isalnum() or outside == "_" or outside == "-")
        and not (outside >= "\u1100" and is_cjk(outside))
        and not (inside >= "\u1100" and is_cjk(inside))
    )


def whole_words(text: str, hits: list[tuple[int, int, T]]) -> list[tuple[int, int, T]]:
    """The hits ``(start, stop, value)`` where ``text[start:stop]`` stands as a whole word, as
    ``wrap`` defines it (\\w is ``str.isalnum()`` or "_"). Most hits of a string search fail
    here ("use" in "house")."""
    # ``_joined`` written out: this runs for every hit of every document, and a Python call costs
    # more than the checks.
    size = len(text)
    words = []
    for hit in hits:
        start, stop, _ = hit
        if start:
            c = text[start - 1]
            if (c.isalnum() or c == "_" or c == "-") and not (c >= "\u1100" and is_cjk(c)):
                c = text[start]
                if not (c >= "\u1100" and is_cjk(c)):
                    continue
        if stop < size:
            c = text[stop]
            if (c.isalnum() or c == "_" or c == "-") and not (c >= "\u1100" and is_cjk(c)):
                c = text[stop - 1]
                if not (c >= "\u1100" and is_cjk(c)):
                    continue
        words.append(hit)
    return words


_WORD_RUN = re.compile(r"\w*")


def stem_words(text: str, hits: list[tuple[int, int, int, T]], cjk: bool) -> list[tuple[int, int, T]]:
    """The hits ``(start, stop, sentence end, value)`` of a stem (a ``stem\\w*`` pattern) that
    open a word where ``wrap``'s regex would match, the word going on to any length within the
    sentence: the start is a word boundary, and some end at or after ``stop`` is one (the regex's
    ``\\w*`` gives back characters until its lookahead holds). ``cjk``: whether the text has
    a character of CJK_RANGES (without one, only the end of the word can be a boundary)."""
    words = []
    for start, stop, end, value in hits:
        if start and _joined(text[start - 1], text[start]):
            continue
        run_end = _WORD_RUN.match(text, stop, end).end()  # type: ignore[union-attr]
        ok = run_end == end or text[run_end] != "-"
        if not ok and cjk:  # or an end inside the run, next to a CJK character
            ok = is_cjk(text[run_end - 1]) or any(
                is_cjk(text[t]) or is_cjk(text[t - 1]) for t in range(stop, run_end)
            )
        if ok:
            words.append((start, stop, value))
    return words


# Sentence ends, written to start with one character class (the regex engine then skips ahead
# to candidates). After ".!?؟۔" and space, an ASCII capital or digit settles it; a non-ASCII
# character is captured (``letter``) and checked in Python (a capital or a caseless letter?), as
# is one after a line break (``line``: a capital?). ``cjk`` is the run of CJK sentence ends.
_SENTENCE_END = re.compile(
    r"[.!?؟۔。｡！？．\n]"
    r"(?:(?<=[.!?؟۔])[\"'”’)]?\s+(?=[\"'“‘(\[]?(?:[A-Z0-9]|(?P<letter>[^\x00-\x7f])))"
    r"|(?<=[a-z][a-z][.!?])(?=[A-Z][a-z])"
    r"|(?<=[。｡！？．])(?P<cjk>[。｡！？．]*)[」』”’）)\"']*\s*"
    r"|(?<=\n)(?:\s*\n|(?=[A-Z•\-]|(?P<line>[^\x00-\x7f]))))"
)


def _capital(c: str) -> bool:
    return c.isupper() or c.istitle()  # "ǅ"


# Words whose "." does not end a sentence: titles and months that news abbreviates before a name
# or a date. Company suffixes (Corp., Inc.) are left out: they end sentences as often as not.
ABBREVIATIONS = (
    "Mr", "Mrs", "Ms", "Dr", "Prof", "Gen", "Lt", "Col", "Maj", "Capt", "Sgt", "Adm", "Sen", "Rep",
    "Gov", "Amb", "St", "No", "Jan", "Feb", "Aug", "Sept", "Sep", "Oct", "Nov", "Dec",
)  # fmt: skip
_TITLE = re.compile(rf"(?<!\w)(?:{'|'.join(ABBREVIATIONS)})\Z")


def _abbreviation(text: str, dot: int) -> bool:
    """Whether the "." at ``dot`` closes an abbreviation rather than a sentence: a capital
    standing alone (initials; "U.S.", "U.N.", "N. Korea") or a title or month ("Gen.", "Nov.")."""
    if text[max(0, dot - 5) : dot].islower():  # no capital: neither (most sentence ends)
        return False
    if dot and _capital(text[dot - 1]) and (dot < 2 or not (text[dot - 2].isalnum() or text[dot - 2] == "_")):
        return True
    return _TITLE.search(text, max(0, dot - 5), dot) is not None


def split_sentences(text: str) -> list[tuple[int, int]]:
    """(start, end) offsets of the sentences of ``text``."""
    spans, start, pos = [], 0, 0
    while True:
        for match in _SENTENCE_END.finditer(text, pos):
            first, kind = match.start(), match.lastgroup
            if kind == "cjk":
                end = match.end(kind)
            elif text[first] == "." and _abbreviation(text, first):
                pos = first + 1
                break
            else:
                if kind is not None:
                    c = match[kind]
                    if not c.isalpha() or (c.islower() if kind == "letter" else not _capital(c)):
                        pos = first + 1  # not a sentence end: search on from the next character
                        break
                end = first if text[first] == "\n" else first + 1  # keep the "."
            if end > start:
                spans.append((start, end))
            start = match.end()
        else:
            break
    if start < len(text):
        spans.append((start, len(text)))
    return spans
