"""Classifier figures per fold, folds grouped by source, on ../shared/corpus/labelled-dev.jsonl.

The built-in topics fit no parameter to the data, so each fold is scored as held-out with the same
rules; grouping by source (a repository, a site) keeps one outlet's stories in one fold, and the
spread across folds shows how much the figures depend on where the news came from. The rules were
written by people who had read this sample: these are not figures on unseen news.

    python -m benchmarks.eval_folds [FOLDS]
"""

from __future__ import annotations

import json
import statistics
import sys
from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from monitor.stages.classify import load_topics
from monitor.stages.evaluate import Story, evaluate, read_stories

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus" / "labelled-dev.jsonl"
TOPICS = ("missile_launch", "sanctions")


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


def fold_figures(records: list[dict[str, Any]], folds: int) -> dict[str, list[tuple[float, float]]]:
    """topic -> (precision, recall) of each fold, ambiguous stories left out."""
    topics = load_topics()
    assignment = group_folds((source_group(r["source"]) for r in records), folds)
    per_fold: dict[int, list[str]] = defaultdict(list)
    for r in records:
        per_fold[assignment[source_group(r["source"])]].append(json.dumps(r))
    out: dict[str, list[tuple[float, float]]] = {t: [] for t in TOPICS}
    for fold in range(folds):
        stories = [s for s in read_stories(per_fold[fold], TOPICS) if isinstance(s, Story)]
        for f in evaluate(stories, topics, skip_ambiguous=True):
            out[f.topic].append((f.precision, f.recall))
    return out


def main() -> None:
    folds = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    if not CORPUS.exists():
        print(f"skipped: {CORPUS} absent")
        return
    records = [json.loads(line) for line in CORPUS.read_text(encoding="utf-8").splitlines() if line.strip()]
    for label, subset in (
        ("English", [r for r in records if r.get("lang") == "en"]),
        ("other languages", [r for r in records if r.get("lang") != "en"]),
    ):
        print(f"{label}: {len(subset)} stories, {folds} folds grouped by source, ambiguous left out")
        for topic, pairs in fold_figures(subset, folds).items():
            p, r = [x for x, _ in pairs], [y for _, y in pairs]
            print(
                f"  {topic:<15} P {statistics.mean(p):.3f} ({min(p):.3f}-{max(p):.3f})  "
                f"R {statistics.mean(r):.3f} ({min(r):.3f}-{max(r):.3f})"
            )


if __name__ == "__main__":
    main()
