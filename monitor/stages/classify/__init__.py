"""Article -> verdicts, one per topic. Topics are data (YAML), not code.

A topic names vocabularies (``terms``: lists of regular expressions) and ``rules`` that fire
on a sentence when all of their vocabularies match in it and none of their ``none``
vocabularies do. Each firing rule adds its weight (negative weights subtract); repeated hits
of one rule count with diminishing returns, a hit in the headline counts ``title_weight``
times. The total becomes a score in [0, 1) as ``1 - exp(-total / scale)``; the story is flagged
when the score reaches ``threshold``. The sentences that contributed most are the evidence.
A topic with a trained model re-scores the stories its rules find: the model's probability
becomes the score and ``model_threshold`` (by default the model's own) flags.

Text in any script: terms in Han, kana and Hangul match with no space around them (Korean
particles and compounds attached), and sentences also end at "。", "！", "？", "؟", "۔" ...
(``segment``). Compiled topics are picklable, for worker processes.

Deterministic: no randomness, no clock, no state between calls.

Modules, each depending only on those before it:

- ``segment``: text as the classifier reads it: case folding, sentences, word boundaries;
- ``matcher``: vocabularies compiled for speed (exact strings, prefilter literals, one
  Aho-Corasick automaton per topic), exactly equivalent to their regexes;
- ``topics``: topic definitions: built-in YAML, overrides, validation, compilation;
- ``features``: what a topic's model reads (hashed n-grams of the lead, the rules' reading);
- ``model``: a trained model as plain JSON data, loaded and checked;
- ``score``: an article scored against the compiled topics (by the rules, and by the topic's
  model for the stories the rules find);
- ``learn``: training and cross-validation (scikit-learn; imported only by ``monitor train`` and
  ``monitor eval --cv``, never by this package's ``__init__``).
"""

from __future__ import annotations

from .matcher import Vocabulary
from .score import classify
from .segment import split_sentences
from .topics import BUILTIN_TOPICS, Rule, Topic, builtin_definition, compile_topic, load_topics

__all__ = [
    "BUILTIN_TOPICS",
    "Rule",
    "Topic",
    "Vocabulary",
    "builtin_definition",
    "classify",
    "compile_topic",
    "load_topics",
    "split_sentences",
]
