"""Classifier throughput on one core for ~5 KB articles (target: >= 1,000 articles/s).

Three mixes, measured in one run so their ratios are meaningful on a noisy machine:
- general news: the main text of the real article pages in ../shared/corpus/html/aeb-*
  (technology, business, sport, politics), each padded to 5 KB with the next pages' text;
- labelled news: real stories from ../shared/corpus/labelled-dev.jsonl, dense in topic words
  (10 % on-topic, many hard negatives), each padded to 5 KB with further stories from the file
  (both corpus mixes are skipped if the corpus is absent);
- labelled news, 30 % not English: the same, with three stories in ten drawn from the file's
  Korean, Japanese, Chinese, Russian, Arabic, Persian, Spanish, German and French stories, each
  padded with stories of its own language (about half of those are on-topic: the dense case);
- general news, 30 % not English: the general-news pages, with three articles in ten made of
  the file's off-topic stories in those nine languages (ordinary news, as most of a feed is);
- worst case: synthetic 5 KB articles in which every sentence of one article in four is taken
  from the seed launch report, so nearly every rule fires on nearly every sentence.
Each article is read as the daemon reads it: its language identified first (fastText, part of
the measured cost), then classified with that language's vocabularies.
Run: make bench
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable
from pathlib import Path

from monitor.stages.classify import Topic, classify, load_topics
from monitor.stages.language import detect_language

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT.parent / "shared" / "corpus" / "labelled-dev.jsonl"
PAGES = ROOT.parent / "shared" / "corpus" / "html"
SIZE = 5000
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


def worst_case(n: int) -> list[tuple[str, str]]:
    rng = random.Random(42)
    seed = next((ROOT / "seeds").glob("*.txt")).read_text(encoding="utf-8")
    seed_sentences = seed.replace("\n", " ").split(". ")
    out = []
    for i in range(n):
        parts: list[str] = []
        while sum(len(p) + 1 for p in parts) < SIZE:
            pool = seed_sentences if i % 4 == 0 else FILLER
            parts.append(rng.choice(pool).strip().rstrip(".") + ".")
        out.append((f"Story {i}: " + rng.choice(FILLER), " ".join(parts)[:SIZE]))
    return out


def padded(texts: list[tuple[str, str]], n: int, step: int) -> list[tuple[str, str]]:
    out = []
    for i in range(n):
        title, text = texts[i % len(texts)]
        j = i
        while len(text) < SIZE:
            j += step
            text += "\n\n" + texts[j % len(texts)][1]
        out.append((title, text[:SIZE]))
    return out


def general_news(n: int) -> list[tuple[str, str]] | None:
    pages = sorted(PAGES.glob("aeb-*/expected.txt"))
    if not pages:
        return None
    texts = [p.read_text(encoding="utf-8") for p in pages]
    return padded([(t.split("\n", 1)[0], t) for t in texts if t.strip()], n, 1)


def typical_news(n: int) -> list[tuple[str, str]] | None:
    if not CORPUS.exists():
        return None
    with CORPUS.open(encoding="utf-8") as lines:
        rows = [json.loads(line) for line in lines]
    return padded([(r["title"], r["text"]) for r in rows if r.get("lang") == "en"], n, 7)


OTHER_LANGUAGES = ("ko", "ja", "zh", "ru", "ar", "fa", "es", "de", "fr")


def mixed_news(n: int, *, ordinary: bool = False) -> list[tuple[str, str]] | None:
    """Three stories in ten not in English (OTHER_LANGUAGES in turn), seven in English: the
    labelled mix, or (``ordinary``) general news with off-topic stories in the other languages."""
    english = general_news(n) if ordinary else typical_news(n)
    if english is None or not CORPUS.exists():
        return None
    with CORPUS.open(encoding="utf-8") as lines:
        rows = [json.loads(line) for line in lines]
    if ordinary:
        rows = [r for r in rows if not r.get("missile_launch") and not r.get("sanctions")]
    other = {
        lang: padded([(r["title"], r["text"]) for r in rows if r.get("lang") == lang], n, 3)
        for lang in OTHER_LANGUAGES
    }
    out, k = [], 0
    for i in range(n):
        if i % 10 < 3:
            out.append(other[OTHER_LANGUAGES[k % len(OTHER_LANGUAGES)]][k // len(OTHER_LANGUAGES)])
            k += 1
        else:
            out.append(english[i])
    return out


def read(title: str, text: str, topics: tuple[Topic, ...]) -> object:
    """What the daemon does with an article's text: identify its language, then classify."""
    return classify(title, text, topics, detect_language(title, text))


def rate(
    docs: list[tuple[str, str]],
    topics: tuple[Topic, ...],
    *,
    score: Callable[[str, str, tuple[Topic, ...]], object] = read,
    clock: Callable[[], float] = time.process_time,
    runs: int = 3,
) -> float:
    """Documents per CPU second, best of ``runs`` passes after one warm-up pass (which compiles
    each language's reading of the topics once, as a long-running daemon has)."""
    for title, text in docs:
        score(title, text, topics)
    best = 0.0
    for _ in range(runs):
        start = clock()
        for title, text in docs:
            score(title, text, topics)
        best = max(best, len(docs) / (clock() - start))
    return best


def main() -> None:
    topics = load_topics()
    print(f"classify, one core, {len(topics)} topics, articles of {SIZE / 1000:.0f} KB (best of 3 runs)")
    for label, docs in (
        ("general news (article pages' main text)", general_news(2000)),
        ("labelled news (labelled-dev stories, dense in topic words)", typical_news(2000)),
        ("labelled news, 30 % not English (nine languages)", mixed_news(2000)),
        (
            "general news, 30 % not English (off-topic stories in nine languages)",
            mixed_news(2000, ordinary=True),
        ),
    ):
        if docs is None:
            print(f"  {label}: skipped (../shared/corpus absent)")
        else:
            r = rate(docs, topics)
            print(f"  {label}: {r:,.0f} articles/s ({1000 / r:.2f} ms/article)")
    r = rate(worst_case(1000), topics)
    label = "worst case (1 in 4 articles on-topic in every sentence)"
    print(f"  {label}: {r:,.0f} articles/s ({1000 / r:.2f} ms/article)")


if __name__ == "__main__":
    main()
