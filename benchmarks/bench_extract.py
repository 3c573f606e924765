"""What one extraction costs, with each of the metadata choices the extractor has.

Every page of the corpus with a source (``../shared/corpus/html/*/source.html``) is extracted
ROUNDS times (default 3) each way, the ways taking turns by blocks of a few pages (``BLOCK``,
each from a collected heap, each way first in turn) so that the machine's drift falls on all of
them alike. Each way is printed as CPU seconds per pass and as a ratio to the first (what the
extractor did before 2026-12-03):

- ``trafilatura's metadata pass``: ``bare_extraction(with_metadata=True)``, which also reads
  the categories, tags, licence and site name;
- ``page_metadata``: the extractor now, when the feed entry lacks the title, author and date
  (the same three values: ``tests/test_parse_extract.py``);
- ``author only``: the extractor when the entry lacks only the author (1,094 of the 1,573
  entries of the corpus's real feeds lack one; most give a title and a date), the case of every
  entry of ``bench_first_poll``'s feeds;
- ``no metadata``: the extractor when the entry gives all three.

The text is the same every way (the same tests).

Usage: python -m benchmarks.bench_extract [ROUNDS] [PAGES] (PAGES: the first so many; default all)
"""

from __future__ import annotations

import gc
import sys
import time
from collections.abc import Callable

import trafilatura

from benchmarks.bench_poll import CORPUS_HTML
from monitor.records import PageField
from monitor.stages.extract import extract_article

BLOCK = 7  # pages a way extracts in a row


def whole_pass(page: bytes, url: str) -> object:
    """The extraction as it was: trafilatura's whole metadata pass."""
    return trafilatura.bare_extraction(
        page, url=url, with_metadata=True, include_comments=False, include_tables=False, favor_precision=False
    )


WAYS: dict[str, Callable[[bytes, str], object]] = {
    "trafilatura's metadata pass": whole_pass,
    "page_metadata": extract_article,
    "author only": lambda page, url: extract_article(page, url, metadata={PageField.AUTHOR}),
    "no metadata": lambda page, url: extract_article(page, url, metadata=()),
}


def main() -> None:
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    limit = int(sys.argv[2]) if len(sys.argv) > 2 else None
    pages = [p.read_bytes() for p in sorted(CORPUS_HTML.glob("*/source.html"))][:limit]
    if not pages:
        sys.exit(f"needs the corpus's article pages at {CORPUS_HTML}")
    for way in WAYS.values():  # trafilatura's first page loads its data
        way(pages[0], "https://example.org/a")
    spent = dict.fromkeys(WAYS, 0.0)
    names = list(WAYS)
    for _ in range(rounds):
        for block, first in enumerate(range(0, len(pages), BLOCK)):
            turn = block % len(names)
            for name in names[turn:] + names[:turn]:  # each way first in turn: no order favoured
                way = WAYS[name]
                gc.collect()  # untimed: each block starts from the same state
                started = time.process_time()
                for page in pages[first : first + BLOCK]:
                    way(page, "https://example.org/a")
                spent[name] += time.process_time() - started
    base = spent["trafilatura's metadata pass"]
    print(f"extraction of the corpus's {len(pages)} article pages, {rounds} rounds, CPU per pass:")
    for name, seconds in spent.items():
        print(f"  {name:28} {seconds / rounds:6.2f} s  {seconds / base:.2f}x")


if __name__ == "__main__":
    main()
