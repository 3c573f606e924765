"""One spelling per word, whatever the script: what the classifier reads in place of the text.

Two steps, both deterministic and cheap on text that needs neither:

- ``clean`` changes what is quoted, and only in ways a reader does not see as a change: the
  compatibility forms of letters and digits become the ordinary ones (NFKC on full-width Latin,
  half-width katakana, compatibility ideographs, Arabic presentation forms); Arabic-script marks
  (harakat, Quranic annotation) and tatweel are removed, as are soft hyphens and zero-width
  spaces, which split a word without showing. Punctuation is kept as written: NFKC would turn
  "！" into "!" and "…" into "...", and sentences end differently at each.
- ``FOLD`` maps single characters to single characters, so offsets stay valid; the classifier
  applies it with the lower-casing, to the text it searches and to the patterns alike (see
  ``segment._fold``), and quotes stay in the writer's characters: Arabic and Persian letter
  variants (ي ی ى, ك ک, أ إ آ ٱ, ۀ) and Arabic-Indic digits become one, and traditional Chinese
  characters become simplified (OpenCC's character table, ``opencc-python-reimplemented``), so
  飛彈 and 飞弹 are the same word.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from importlib import resources

# Letters and digits with a compatibility decomposition that news text really carries:
# full-width Latin letters and digits, half-width katakana and Hangul, compatibility
# ideographs, Arabic presentation forms.
_COMPATIBLE_CLASS = (
    "[\uff10-\uff19\uff21-\uff3a\uff41-\uff5a\uff66-\uffdc\uf900-\ufaff\ufb50-\ufdff\ufe70-\ufefc]"
)
_COMPATIBLE = re.compile(_COMPATIBLE_CLASS + "+")
_COMPATIBLE_ONE = re.compile(_COMPATIBLE_CLASS)  # searching for one is twice as fast as for a run
# Marks and fillers that change no word: Arabic harakat and superscript alef, Quranic
# annotation signs, tatweel; soft hyphen, zero-width space, word joiner, byte-order mark.
_INVISIBLE = re.compile(
    "[\u064b-\u065f\u0670\u06d6-\u06dc\u06df-\u06e8\u06ea-\u06ed\u0640\u00ad\u200b\u2060\ufeff]"
)

ARABIC_FOLD = {
    "ی": "ي",  # Farsi yeh
    "ى": "ي",  # alef maksura
    "ک": "ك",  # keheh
    "أ": "ا",
    "إ": "ا",
    "آ": "ا",
    "ٱ": "ا",
    "ۀ": "ه",  # heh with yeh above
    "ە": "ه",
    **{chr(0x0660 + d): str(d) for d in range(10)},  # Arabic-Indic digits
    **{chr(0x06F0 + d): str(d) for d in range(10)},  # extended (Persian, Urdu) digits
}


def clean(text: str) -> str:
    """``text`` with compatibility letters made ordinary and invisible marks removed."""
    if text.isascii():
        return text
    if _COMPATIBLE_ONE.search(text):
        text = _COMPATIBLE.sub(lambda m: unicodedata.normalize("NFKC", m[0]), text)
    if _INVISIBLE.search(text):
        text = _INVISIBLE.sub("", text)
    return text


@functools.cache
def chinese_fold() -> dict[str, str]:
    """Traditional -> simplified, character by character: the first simplified form OpenCC
    gives each traditional character (its phrase tables, which pick among several, are not
    needed to match a word written either way)."""
    table = resources.files("opencc").joinpath("dictionary", "TSCharacters.txt").read_text(encoding="utf-8")
    fold = {}
    for line in table.splitlines():
        source, _, targets = line.partition("\t")
        target = targets.split(" ")[0] if targets else ""
        if len(source) == 1 and len(target) == 1 and source != target:
            fold[source] = target
    return fold


@functools.cache
def fold_table() -> dict[int, str]:
    """The fold as a ``str.translate`` table, chains resolved (a target that is itself folded
    is followed to its end, so that folding twice changes nothing)."""
    fold = {**chinese_fold(), **ARABIC_FOLD}
    table = {}
    for source, target in fold.items():
        seen = {source}
        while target in fold and target not in seen:
            seen.add(target)
            target = fold[target]
        table[ord(source)] = target
    return table
