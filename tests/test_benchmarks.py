"""The benchmark scripts still run and measure what they say they measure."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks.bench_classify import SIZE, general_news, rate, typical_news, worst_case
from monitor.stages.classify import classify, load_topics


def test_worst_case_mix_is_five_kb_and_one_in_four_on_topic() -> None:
    topics = load_topics()
    docs = worst_case(8)
    assert all(len(text) == SIZE for _, text in docs)
    flagged = [any(v.flagged for v in classify(title, text, topics)) for title, text in docs]
    assert flagged == [i % 4 == 0 for i in range(8)]
    assert rate(docs, topics) > 0


def test_corpus_mixes_are_five_kb(corpus: Path) -> None:
    for docs in (general_news(20), typical_news(20)):
        if docs is None:
            pytest.skip("corpus pages absent")
        assert len(docs) == 20 and all(len(text) == SIZE for _, text in docs)
