"""Learning grouping's weights from labelled events (``monitor train-events``, ``eval-events
--cv``). Pure: stories in arrival order with their real event in, ``Weights`` out.

Every story is compared, as the daemon would compare it, with every open event of its topic
that no veto rules out; the events are the real ones so far (each story is put in its real
event afterwards), and a pair is positive when the event is the story's. A logistic regression
(scikit-learn) over ``FEATURES`` learns from those pairs. Copies are left out: the shingles
decide them before any weight is read.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from .cluster import FEATURES, Grouper, Tuning, Weights
from .sketch import Sketch


@dataclass(frozen=True, slots=True)
class Labelled:
    """A story of a labelled file, sketched, with its topic and real event."""

    sketch: Sketch
    topic: str
    event: str


def training_pairs(
    stories: Iterable[Labelled], tuning: Tuning | None = None
) -> tuple[list[dict[str, float]], list[int]]:
    """(features, same event?) for every story against every open event it could join."""
    grouper = Grouper(tuning)
    ids: dict[str, int] = {}
    real: dict[int, str] = {}
    features: list[dict[str, float]] = []
    labels: list[int] = []
    for story in stories:
        if grouper.copy_of(story.sketch) is None:
            vector = grouper.vector(story.sketch.terms)
            for event in grouper.candidates(story.sketch, [story.topic]):
                found = grouper.features(story.sketch, vector, event)
                if isinstance(found, dict):
                    features.append(found)
                    labels.append(int(real[event.id] == story.event))
        event_id = ids.setdefault(story.event, len(ids) + 1)
        real[event_id] = story.event
        grouper.add(story.sketch, event_id, story.topic)
    return features, labels


def fit(stories: Iterable[Labelled], tuning: Tuning | None = None) -> Weights:
    """Weights learnt from the pairs of ``stories`` (in arrival order). Deterministic."""
    features, labels = training_pairs(stories, tuning)
    if len(set(labels)) < 2:
        raise ValueError("grouping needs stories that join an event and stories that do not to learn from")
    from sklearn.linear_model import LogisticRegression  # 40 MB: imported when learning only

    x = np.array([[f[name] for name in FEATURES] for f in features])
    model = LogisticRegression(C=1.0, max_iter=2000)
    model.fit(x, np.array(labels))
    return Weights(
        bias=round(float(model.intercept_[0]), 4),
        coef={name: round(float(c), 4) for name, c in zip(FEATURES, model.coef_[0], strict=True)},
    )
