"""Training and honest evaluation of the topic models (scikit-learn; only ``monitor train`` and
``monitor eval --cv`` import this module, never the daemon).

A model is an L2-regularised logistic regression over ``topic_features``. Its threshold is the
one that maximises F1 on out-of-fold probabilities of the training stories (an inner
cross-validation), so no story ever sets the threshold it is judged by. Cross-validation folds
are grouped by source: every story of one outlet or collection sits in one fold, so a model is
always judged on outlets it has not read.

Deterministic: the same stories in the same order make the same model file.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import numpy as np
import numpy.typing as npt
from scipy import sparse
from sklearn.linear_model import LogisticRegression

from .features import BITS, RULE_SCORE_SCALE, Features, score_slot
from .model import model_document
from .score import topic_features
from .topics import Topic

C = 4.0  # inverse regularisation strength; see docs/decisions.md for how it was chosen
INNER_FOLDS = 4
MIN_LANGUAGE_POSITIVES = 30  # positive examples a language needs for the model to judge it
STACK_C = 100.0  # the second regression has two weights: barely regularised
LABEL_WEIGHT = 5.0


@dataclass(frozen=True, slots=True)
class Example:
    """One labelled story as the trainer sees it."""

    id: Any
    title: str
    text: str
    label: int
    group: str  # its source, for grouped folds
    language: str = ""  # as labelled, for reports
    ambiguous: bool = False
    weight: float = 1.0  # an analyst's label on their own feeds counts LABEL_WEIGHT times
    reading: str | None = None  # the language the daemon reads it in (``detect_language``)


def source_group(source: str) -> str:
    """The outlet or collection a story came from: a URL's host, a repository, a folder."""
    for word in source.split():
        if "://" in word:
            return (urlsplit(word).hostname or word).removeprefix("www.")
    head = source.split(":", 1)[0] if ":" in source else source.split("/", 1)[0]
    return head or "(none)"


def group_folds(groups: Iterable[str], folds: int) -> dict[str, int]:
    """Each group to one fold, largest groups first onto the smallest fold (balanced sizes)."""
    sizes: dict[str, int] = defaultdict(int)
    for group in groups:
        sizes[group] += 1
    load = [0] * folds
    assignment = {}
    for group in sorted(sizes, key=lambda g: (-sizes[g], g)):
        fold = load.index(min(load))
        assignment[group] = fold
        load[fold] += sizes[group]
    return assignment


def matrix(rows: Sequence[Features], bits: int = BITS) -> sparse.csr_matrix:
    """Stack feature vectors into a sparse matrix (duplicate slots add up, as in ``probability``)."""
    indptr = np.cumsum([0] + [len(r.indices) for r in rows])
    indices = np.concatenate([r.indices for r in rows]) if rows else np.zeros(0, dtype=np.int64)
    values = np.concatenate([r.values for r in rows]) if rows else np.zeros(0, dtype=np.float32)
    m = sparse.csr_matrix((values, indices, indptr), shape=(len(rows), 1 << bits), dtype=np.float64)
    m.sum_duplicates()
    return m


def _fit(
    x: sparse.csr_matrix, y: npt.NDArray[np.int_], weights: npt.NDArray[np.float64] | None = None
) -> LogisticRegression:
    model = LogisticRegression(C=C, solver="liblinear", max_iter=1000)
    model.fit(x, y, sample_weight=weights)
    return model


def _probabilities(model: LogisticRegression, x: sparse.csr_matrix) -> npt.NDArray[np.float64]:
    out: npt.NDArray[np.float64] = model.predict_proba(x)[:, 1]
    return out


def best_threshold(probabilities: npt.NDArray[np.float64], labels: npt.NDArray[np.int_]) -> float:
    """The threshold with the best F1 on these probabilities; ties go to the middle of the
    widest run of equally good thresholds, so the choice does not sit on the edge of one story."""
    candidates = np.round(np.arange(0.05, 0.951, 0.01), 2)
    scores = []
    for t in candidates:
        flagged = probabilities >= t
        tp = int(np.sum(flagged & (labels == 1)))
        fp = int(np.sum(flagged & (labels == 0)))
        fn = int(np.sum(~flagged & (labels == 1)))
        scores.append(2 * tp / (2 * tp + fp + fn) if tp else 0.0)
    best = max(scores)
    top = [i for i, s in enumerate(scores) if s >= best - 1e-9]
    runs: list[list[int]] = []
    for i in top:
        if runs and runs[-1][-1] == i - 1:
            runs[-1].append(i)
        else:
            runs.append([i])
    widest = max(runs, key=len)
    return float(candidates[widest[len(widest) // 2]])


@dataclass(frozen=True, slots=True)
class Trained:
    coefficients: npt.NDArray[np.float64]
    intercept: float
    threshold: float


@dataclass(frozen=True, slots=True)
class Data:
    """Training stories as the learner sees them: features, the rules' scores, labels, sources
    and weights, row for row."""

    x: sparse.csr_matrix
    rule_scores: npt.NDArray[np.float64]
    y: npt.NDArray[np.int_]
    groups: list[str]
    weights: npt.NDArray[np.float64]

    def rows(self, index: npt.NDArray[np.int_]) -> Data:
        chosen = index.tolist()
        return Data(
            self.x[index],
            self.rule_scores[index],
            self.y[index],
            [self.groups[i] for i in chosen],
            self.weights[index],
        )


def _logit(p: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    p = np.clip(p, 1e-6, 1 - 1e-6)
    out: npt.NDArray[np.float64] = np.log(p / (1 - p))
    return out


def fit_topic(data: Data) -> Trained:
    """A model and its threshold from one grouped cross-validation of the training stories.

    1. Each inner fold trains a model on the other folds' sources and scores its own stories.
    2. On those out-of-fold scores, a second, two-weight regression decides how far to trust
       the first against the rules' score: fitted on stories the first model had not seen, it
       does not share its over-confidence in n-grams that happen to separate the training set
       (stacking). The threshold is the one with the best F1 on the same out-of-fold scores.
    3. The model shipped is the average of the fold models, with the second regression folded
       into its weights (both are linear, so the result is one linear model)."""
    y, weights = data.y, data.weights
    assignment = group_folds(data.groups, INNER_FOLDS)
    fold_of = np.array([assignment[g] for g in data.groups])
    out = np.zeros(len(y))
    coefficients: list[npt.NDArray[np.float64]] = []
    intercepts: list[float] = []
    for fold in range(INNER_FOLDS):
        test = fold_of == fold
        train = ~test
        if not test.any() or len(set(y[train].tolist())) < 2:
            continue
        model = _fit(data.x[train], y[train], weights[train])
        out[test] = _probabilities(model, data.x[test])
        coefficients.append(model.coef_[0].astype(np.float64))
        intercepts.append(float(model.intercept_[0]))
    if len(coefficients) < INNER_FOLDS:  # too few sources to hold each out: one model as it is
        model = _fit(data.x, y, weights)
        return Trained(model.coef_[0].astype(np.float64), float(model.intercept_[0]), 0.5)
    stack_x = np.column_stack([_logit(out), data.rule_scores])
    stack = LogisticRegression(C=STACK_C, solver="lbfgs", max_iter=1000)
    stack.fit(stack_x, y, sample_weight=weights)
    trust, rules = stack.coef_[0]
    threshold = best_threshold(stack.predict_proba(stack_x)[:, 1], y)
    folded = np.mean(coefficients, axis=0) * trust
    folded[score_slot()] += rules / RULE_SCORE_SCALE  # the slot holds the score times the scale
    return Trained(folded, float(np.mean(intercepts)) * trust + float(stack.intercept_[0]), threshold)


def features_for(examples: Sequence[Example], topic: Topic) -> tuple[Data, list[int]]:
    """The candidates among the examples (a positive rule found evidence: the only stories the
    model scores), as training data, and their positions in ``examples``."""
    rows: list[tuple[Features, float]] = []
    kept: list[int] = []
    for i, e in enumerate(examples):
        row = topic_features(e.title, e.text, topic, language=e.reading)
        if row is not None:
            rows.append(row)
            kept.append(i)
    data = Data(
        matrix([f for f, _ in rows]),
        np.array([score for _, score in rows], dtype=np.float64),
        np.array([examples[i].label for i in kept], dtype=np.int_),
        [examples[i].group for i in kept],
        np.array([examples[i].weight for i in kept], dtype=np.float64),
    )
    return data, kept


def model_languages(examples: Sequence[Example]) -> tuple[str, ...]:
    """The languages a model learns and judges: those with MIN_LANGUAGE_POSITIVES unambiguous
    positive examples, or else the one with the most. A language with a handful of stories
    teaches its n-grams nothing and pulls the threshold away from the others; its stories are
    judged by the rules alone. Empty (every language) when the examples' language is unknown."""
    counts = Counter(e.reading or "" for e in examples if e.label and not e.ambiguous)
    if not counts:
        return ()
    chosen = [lang for lang, n in counts.items() if n >= MIN_LANGUAGE_POSITIVES]
    if not chosen:
        chosen = [min(counts, key=lambda lang: (-counts[lang], lang))]
    return () if "" in chosen else tuple(sorted(chosen))


def _judged(example: Example, languages: tuple[str, ...]) -> bool:
    return not languages or example.reading in languages


def train_document(examples: Sequence[Example], topic: Topic, info: dict[str, Any]) -> dict[str, Any]:
    """The model file's document for ``topic`` trained on ``examples`` of the languages it will
    judge (``model_languages``); ambiguous ones are left out: the labellers disagreed on them,
    so they teach noise."""
    languages = model_languages(examples)
    usable = [e for e in examples if not e.ambiguous and _judged(e, languages)]
    data, kept = features_for(usable, topic)
    if len(set(data.y.tolist())) < 2:
        raise ValueError(f"{topic.name}: training needs positive and negative stories the rules find")
    trained = fit_topic(data)
    info = {
        **info,
        "stories": len(usable),
        "positives": sum(e.label for e in usable),
        "candidates": len(kept),
        "candidate_positives": int(data.y.sum()),
        "regularisation_C": C,
    }
    return model_document(
        topic=topic.name,
        bits=BITS,
        intercept=trained.intercept,
        weights=trained.coefficients,
        threshold=trained.threshold,
        rules_version=topic.rules_version,
        info=info,
        languages=languages,
    )


@dataclass(frozen=True, slots=True)
class Prediction:
    """A story's cross-validated verdict: scored by a model trained without its source."""

    example: Example
    probability: float
    flagged: bool
    rules_flagged: bool


def cross_validate(examples: Sequence[Example], topic: Topic, folds: int) -> list[Prediction]:
    """Out-of-fold predictions for every story: per outer fold, a model (with its own inner
    threshold and languages) trained on the other folds' unambiguous stories; a story in a
    language that model does not judge gets the rules' verdict, as in the daemon."""
    data, kept = features_for(examples, topic)
    # Folds over every story's source, so they are the same whatever the rules find.
    assignment = group_folds([e.group for e in examples], folds)
    fold_of = np.array([assignment[examples[i].group] for i in kept], dtype=np.int_)
    clear = np.array([not examples[i].ambiguous for i in kept], dtype=bool)
    probability = [0.0] * len(examples)  # a story no rule finds is never flagged
    flagged = [False] * len(examples)
    rules_flagged = [False] * len(examples)  # the rules alone, for comparison
    for j, rule_score in enumerate(data.rule_scores.tolist()):
        rules_flagged[kept[j]] = rule_score >= topic.threshold
    for fold in range(folds):
        languages = model_languages([e for e in examples if assignment[e.group] != fold])
        judged = np.array([_judged(examples[i], languages) for i in kept], dtype=bool)
        test = np.flatnonzero(fold_of == fold)
        train = np.flatnonzero((fold_of != fold) & clear & judged)
        if not len(test) or len(set(data.y[train].tolist())) < 2:
            continue
        trained = fit_topic(data.rows(train))
        z = data.x[test] @ trained.coefficients + trained.intercept
        for j, p in zip(test.tolist(), (1.0 / (1.0 + np.exp(-z))).tolist(), strict=True):
            if judged[j]:
                probability[kept[j]] = float(p)
                flagged[kept[j]] = bool(p >= trained.threshold)
            else:
                probability[kept[j]] = float(data.rule_scores[j])
                flagged[kept[j]] = rules_flagged[kept[j]]
    return [Prediction(e, probability[i], flagged[i], rules_flagged[i]) for i, e in enumerate(examples)]
