"""The benchmark scripts still run and measure what they say they measure."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks.bench_classify import SIZE, general_news, mixed_news, rate, typical_news, worst_case
from monitor.stages.classify import classify, load_topics
from monitor.stages.language import detect_language


def test_worst_case_mix_is_five_kb_and_one_in_four_on_topic() -> None:
    topics = load_topics()
    docs = worst_case(8)
    assert all(len(text) == SIZE for _, text in docs)
    flagged = [any(v.flagged for v in classify(title, text, topics)) for title, text in docs]
    assert flagged == [i % 4 == 0 for i in range(8)]


def test_rate_is_documents_per_cpu_second_best_of_three() -> None:
    ticks = iter([0.0, 4.0, 10.0, 12.0, 20.0, 28.0])  # passes of 4 s, 2 s and 8 s
    seen: list[str] = []
    docs = [(f"t{i}", "x") for i in range(8)]
    measured = rate(docs, (), score=lambda title, text, topics: seen.append(title), clock=lambda: next(ticks))
    assert measured == 8 / 2.0
    assert seen == [title for title, _ in docs] * 4  # a warm-up pass, then every document per pass


def test_corpus_mixes_are_five_kb(corpus: Path) -> None:
    for docs in (general_news(20), typical_news(20), mixed_news(20)):
        if docs is None:
            pytest.skip("corpus pages absent")
        assert len(docs) == 20 and all(len(text) == SIZE for _, text in docs)


def test_the_mixed_news_mix_is_three_in_ten_not_english(corpus: Path) -> None:
    docs = mixed_news(100)
    if docs is None:
        pytest.skip("corpus absent")
    languages = [detect_language(title, text) for title, text in docs]
    assert 25 <= sum(lang != "en" for lang in languages) <= 35
    assert {"ko", "ja", "zh", "ar", "fa", "ru"} <= set(languages)


def test_the_events_benchmark_groups_what_it_stores(corpus: Path, tmp_path: Path) -> None:
    from benchmarks.bench_events import run

    if not (corpus / "events-dev.jsonl").is_file():
        pytest.skip("corpus absent")
    per_story, events, alerts = run(True, 1, tmp_path)
    plain, none, story_alerts = run(False, 1, tmp_path)
    assert 40 <= events < 100 and events <= alerts < 100  # 53 real events, one alert each (and updates)
    assert none == 0 and story_alerts == 296 and per_story > 0 and plain > 0


def test_the_benchmarks_page_server_answers_as_a_web_server_would() -> None:
    """The lean server the benchmarks poll: what the routes say, a 304 for the ETag it gave,
    a 404 for anything else, several requests on one connection."""
    import http.client
    import threading

    from benchmarks.page_server import serve
    from tests.loopback import Response, Site

    site = Site()
    site.routes["/a.html"] = Response(b"<p>one</p>", headers={"ETag": '"e1"', "Content-Type": "text/html"})
    site.routes["/b.xml"] = lambda request: Response(request.path.encode())
    ready, stop = threading.Event(), threading.Event()
    server = threading.Thread(target=serve, args=(site, ready.set, stop.wait), daemon=True)
    server.start()
    assert ready.wait(10)
    try:
        connection = http.client.HTTPConnection("127.0.0.1", site.server.server_address[1], timeout=10)
        answers = []
        asked = [("/a.html", {}), ("/a.html", {"If-None-Match": '"e1"'}), ("/b.xml", {}), ("/c", {})]
        for path, headers in asked:
            connection.request("GET", path, headers=headers)
            response = connection.getresponse()
            answers.append((response.status, response.read(), response.getheader("ETag")))
        connection.close()
    finally:
        stop.set()
        server.join(10)
        site.server.server_close()
    assert answers == [
        (200, b"<p>one</p>", '"e1"'),
        (304, b"", '"e1"'),
        (200, b"/b.xml", None),
        (404, b"not found", None),
    ]


def run_on_corpus_pages(corpus: Path, benchmark: str, *args: str) -> subprocess.CompletedProcess[str]:
    """A benchmark of the corpus's article pages run as ``make bench`` runs it, which must
    succeed (skipped where the pages are absent); its output as text."""
    if not (corpus / "html").is_dir():
        pytest.skip("corpus pages absent")
    done = subprocess.run(
        [sys.executable, "-m", f"benchmarks.{benchmark}", *args],
        cwd=Path(__file__).resolve().parent.parent,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    return done


@pytest.mark.slow
def test_the_first_poll_benchmark_brackets_each_round_with_floors(corpus: Path) -> None:
    """A tiny run: every round's poll stores every story and is compared with the floors
    measured before and after it; the median and the memory figures are printed."""
    import re

    done = run_on_corpus_pages(corpus, "bench_first_poll", "3", "2", "1", "2")
    rounds = re.findall(r"round (\d): .* floor ([\d.]+) CPU-s before, ([\d.]+) after: ([\d.]+)x", done.stdout)
    assert [r[0] for r in rounds] == ["1", "2"], done.stdout
    assert rounds[0][2] == rounds[1][1]  # the floor after one round is the one before the next
    assert re.search(r"first poll / floor: [\d.]+x, the median of 2 rounds", done.stdout), done.stdout
    assert re.search(r"\d+ MB proportional \(target: this < 300 MB", done.stdout), done.stdout


def test_the_extraction_benchmark_prices_each_way_against_the_whole_metadata_pass(corpus: Path) -> None:
    """A tiny run: a line for each way, each a ratio to trafilatura's whole metadata pass (1.00x
    by construction)."""
    import re

    done = run_on_corpus_pages(corpus, "bench_extract", "1", "4")
    assert "extraction of the corpus's 4 article pages, 1 rounds" in done.stdout, done.stdout
    lines = re.findall(r"^  (.+?) +([\d.]+) s +([\d.]+)x$", done.stdout, re.M)
    assert [way for way, _, _ in lines] == [
        "trafilatura's metadata pass",
        "page_metadata",
        "author only",
        "no metadata",
    ]
    assert lines[0][2] == "1.00" and all(float(seconds) > 0 for _, seconds, _ in lines), done.stdout
