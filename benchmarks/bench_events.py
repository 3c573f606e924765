"""What grouping adds to storing a flagged story: the daemon's commit (article, matches, outbox
row) with event grouping and without it, in one run, on the same stories.

The stories are those of ``../shared/corpus/events-dev.jsonl`` (296 real reports of 53 events,
16 languages), replayed in arrival order ROUNDS times, each round shifted by a month so it
forms new events, all flagged. Reports the time per story both ways, their ratio, and the
latency grouping adds before a new event's alert is queued.
Usage: python -m benchmarks.bench_events [ROUNDS]
"""

from __future__ import annotations

import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from monitor.config import Settings
from monitor.records import Article, ExtractionStatus, Feed, NewArticle, Verdict
from monitor.service.grouping import EventGrouping
from monitor.stages.group.stories import InputStory, in_arrival_order, read_event_stories
from monitor.store import Store

START = datetime(2020, 1, 1, tzinfo=UTC)  # for a story without a date (none in events-dev)
CORPUS = Path(__file__).resolve().parents[1].parent / "shared" / "corpus" / "events-dev.jsonl"


def stories() -> list[InputStory]:
    with CORPUS.open(encoding="utf-8") as lines:
        read = [s for s in read_event_stories(lines) if isinstance(s, InputStory)]
    return in_arrival_order(read, {})


def articles(feed_id: int, rounds: int) -> list[NewArticle]:
    out = []
    for r in range(rounds):
        for s in stories():
            when = (s.published or START) + timedelta(days=31 * r)
            topic = s.topic or "missile_launch"
            out.append(
                NewArticle(
                    article=Article(
                        feed_id=feed_id,
                        feed_name=s.outlet,
                        url=None,
                        guid=f"{r}:{s.line}",
                        title=s.title,
                        summary="",
                        text=s.text,
                        author=None,
                        language=s.language,
                        published_at=when,
                        discovered_at=when,
                        extraction_status=ExtractionStatus.OK,
                        verdicts=(Verdict(topic=topic, score=0.9, flagged=True),),
                    ),
                    channels=("bench",),
                )
            )
    return out


def run(grouped: bool, rounds: int, folder: Path) -> tuple[float, int, int]:
    settings = Settings.model_validate({"database": str(folder / f"{grouped}.db")})
    store = Store(settings.database, grouping=EventGrouping(settings) if grouped else None)
    (feed,) = store.sync_feeds([Feed(name="bench", url="https://bench.invalid/", interval=60)], START)
    batch = articles(feed.id, rounds)
    start = time.perf_counter()
    for new in batch:
        store.commit_articles([new], new.article.discovered_at)
    elapsed = time.perf_counter() - start
    events, alerts = store.count("events"), store.count("alerts")
    store.close()
    return elapsed / len(batch), events, alerts


def main() -> None:
    if not CORPUS.is_file():
        sys.exit(f"no corpus at {CORPUS}")
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    with tempfile.TemporaryDirectory() as tmp:
        plain, _, plain_alerts = run(False, rounds, Path(tmp))
        grouped, events, alerts = run(True, rounds, Path(tmp))
    n = rounds * 296
    print(f"events: {n} flagged stories ({rounds} x events-dev), one commit each")
    print(f"  without grouping: {1000 * plain:.2f} ms/story, {plain_alerts} alerts")
    print(f"  with grouping:    {1000 * grouped:.2f} ms/story, {alerts} alerts for {events} events")
    added = 1000 * (grouped - plain)
    print(f"  ratio {grouped / plain:.1f}x; grouping adds {added:.2f} ms before an alert is queued")


if __name__ == "__main__":
    main()
