"""Languages: per-language vocabulary files, script normalisation, language detection."""

from __future__ import annotations

from typing import Any

import pytest

from monitor.errors import TopicError
from monitor.stages.classify.topics import add_language

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
