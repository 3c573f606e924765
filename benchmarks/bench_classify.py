"""Classifier throughput on one core, for ~5 KB articles (target: >= 1,000 articles/s).

Articles are built from the bundled seed and project-written filler, so the benchmark runs
anywhere. Prints articles/s and the mean time per article; run: make bench
"""

from __future__ import annotations

import random
import statistics
import time
from pathlib import Path

from monitor.classify import classify, load_topics

ROOT = Path(__file__).resolve().parent.parent
FILLER = [
    "The finance minister said growth would slow next year as exports weakened.",
    "Officials met in the capital on Tuesday to discuss the agenda for the summit.",
    "Analysts expect the central bank to keep interest rates on hold this month.",
    "The company reported higher quarterly profits, helped by strong demand in Asia.",
    "Protesters gathered outside parliament as lawmakers debated the new budget.",
    "Rescue teams continued to search for survivors after the flooding.",
    "The council approved plans for a new bridge across the river.",
    "Talks on the trade agreement are expected to resume after the holidays.",
]


def articles(n: int, size: int = 5000) -> list[tuple[str, str]]:
    rng = random.Random(42)
    seed = next((ROOT / "seeds").glob("*.txt")).read_text(encoding="utf-8")
    seed_sentences = seed.replace("\n", " ").split(". ")
    out = []
    for i in range(n):
        parts: list[str] = []
        while sum(len(p) + 1 for p in parts) < size:
            pool = seed_sentences if i % 4 == 0 else FILLER
            parts.append(rng.choice(pool).strip().rstrip(".") + ".")
        out.append((f"Story {i}: " + rng.choice(FILLER), " ".join(parts)[:size]))
    return out


def main() -> None:
    topics = load_topics()
    docs = articles(2000)
    classify(*docs[0], topics)  # warm up regex caches
    rates = []
    for _ in range(3):
        start = time.process_time()
        for title, text in docs:
            classify(title, text, topics)
        rates.append(len(docs) / (time.process_time() - start))
    mean_kb = statistics.mean(len(t) for _, t in docs) / 1000
    best = max(rates)
    print(f"classify: {len(docs)} articles of {mean_kb:.1f} KB, {len(topics)} topics, one core")
    print(
        f"  best of 3: {best:,.0f} articles/s ({1000 / best:.2f} ms/article); runs: "
        + ", ".join(f"{r:,.0f}" for r in rates)
    )


if __name__ == "__main__":
    main()
