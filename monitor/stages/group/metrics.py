"""How well stories were grouped into events, against a labelled file (``monitor eval-events``).

Pure: (gold event, predicted event) per story in, figures out. Pairwise precision and recall
count pairs of stories put together; BCubed averages, per story, how much of its predicted
event is its real one and how much of its real event it was put with; a predicted event is
mixed when it holds stories of two or more real ones.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Hashable, Mapping
from dataclasses import dataclass
from typing import TypeVar


@dataclass(frozen=True, slots=True)
class GroupingFigures:
    stories: int  # stories grouped (flagged) with a gold event
    real_events: int
    predicted_events: int
    pairwise_precision: float
    pairwise_recall: float
    pairwise_f1: float
    bcubed_precision: float
    bcubed_recall: float
    bcubed_f1: float
    mixed_events: int  # predicted events holding stories of two or more real ones

    @property
    def mixed_share(self) -> float:
        return self.mixed_events / self.predicted_events if self.predicted_events else 0.0


K = TypeVar("K", bound=Hashable)


def _pairs(n: int) -> int:
    return n * (n - 1) // 2


def _f1(p: float, r: float) -> float:
    return 2 * p * r / (p + r) if p + r else 0.0


def score_grouping(gold: Mapping[K, str], predicted: Mapping[K, Hashable]) -> GroupingFigures:
    """Figures over the stories present in both mappings."""
    keys = [k for k in predicted if k in gold]
    cells = Counter((gold[k], predicted[k]) for k in keys)
    real = Counter(gold[k] for k in keys)
    made = Counter(predicted[k] for k in keys)
    together = sum(_pairs(n) for n in cells.values())
    made_pairs, real_pairs = sum(_pairs(n) for n in made.values()), sum(_pairs(n) for n in real.values())
    precision = together / made_pairs if made_pairs else 1.0
    recall = together / real_pairs if real_pairs else 1.0
    n = len(keys) or 1
    b_precision = sum(c * c / made[e] for (_, e), c in cells.items()) / n
    b_recall = sum(c * c / real[g] for (g, _), c in cells.items()) / n
    sources = Counter(e for (_, e) in cells)
    return GroupingFigures(
        stories=len(keys),
        real_events=len(real),
        predicted_events=len(made),
        pairwise_precision=precision,
        pairwise_recall=recall,
        pairwise_f1=_f1(precision, recall),
        bcubed_precision=b_precision,
        bcubed_recall=b_recall,
        bcubed_f1=_f1(b_precision, b_recall),
        mixed_events=sum(1 for count in sources.values() if count > 1),
    )
