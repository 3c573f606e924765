"""A topic's learned model: logistic regression over hashed features, stored as plain JSON.

A model file holds the coefficients (float16, base64), the intercept, the feature
settings, the threshold chosen by cross-validation, the languages it judges, what it was trained
on and its cross-validated figures, and a SHA-256 of all of that. Loading parses JSON and checks every
field: nothing in a model file can run code (no pickle), and a damaged file is refused with a
message naming it, never half-used.

The built-in topics ship their model in the package (``monitor/models/<topic>.json``); ``monitor
train`` writes new ones. ``probability`` is the score a topic with a model gives.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import math
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from ...errors import ModelError
from .features import CHAR_NGRAMS, LEAD_CHARS, RULE_SCORE_SCALE, Features

FORMAT = "monitor-model/1"
# The coefficients, one per slot: little-endian float16 (enough for a linear model's weights),
# base64 in the JSON. 2**16 slots make a 175 KB file.
WEIGHTS_ENCODING = "float16-le-base64"
# The feature settings a model was trained with; a file made with other settings is refused,
# because the daemon would compute different features than the weights expect.
FEATURE_SETTINGS = {
    "char_ngrams": list(CHAR_NGRAMS),
    "lead_chars": LEAD_CHARS,
    "rule_score_scale": RULE_SCORE_SCALE,
    "word_ngrams": [1, 2],
}


@dataclass(frozen=True, slots=True, eq=False)
class Model:
    topic: str
    bits: int
    intercept: float
    weights: npt.NDArray[np.float32] = field(repr=False)  # dense, 2**bits slots
    threshold: float  # the probability at which a story is flagged, chosen by cross-validation
    rules_version: str  # the topic's rules it was trained with
    digest: str  # SHA-256 of the file's content
    origin: str  # where it was loaded from, for `monitor check`
    info: dict[str, Any] = field(default_factory=dict, repr=False)  # training data and figures
    # The languages it judges (those it had enough examples of); the rules alone judge the
    # others. Empty: every language.
    languages: tuple[str, ...] = ()

    def judges(self, language: str | None) -> bool:
        """Whether the model scores an article in ``language`` (an unknown one: yes)."""
        return not self.languages or language is None or language in self.languages

    def probability(self, features: Features) -> float:
        z = self.intercept + float(np.dot(self.weights[features.indices], features.values))
        z = max(-50.0, min(50.0, z))
        return round(1.0 / (1.0 + math.exp(-z)), 4)


def _digest(body: dict[str, Any]) -> str:
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def model_document(
    *,
    topic: str,
    bits: int,
    intercept: float,
    weights: npt.NDArray[np.floating[Any]],
    threshold: float,
    rules_version: str,
    info: dict[str, Any],
    languages: tuple[str, ...] = (),
) -> dict[str, Any]:
    """The JSON document of a model: deterministic for the same inputs (sorted keys, rounded
    coefficients, no timestamps), so a retrain on the same data makes the same file."""
    dense = np.zeros(1 << bits, dtype="<f2")
    dense[: len(weights)] = weights
    body = {
        "format": FORMAT,
        "topic": topic,
        "features": {**FEATURE_SETTINGS, "bits": bits},
        "intercept": round(float(intercept), 6),
        "threshold": round(float(threshold), 4),
        "rules_version": rules_version,
        "weights": {"encoding": WEIGHTS_ENCODING, "data": base64.b64encode(dense.tobytes()).decode()},
        "info": info,
    }
    if languages:
        body["languages"] = sorted(languages)
    return {**body, "sha256": _digest(body)}


def write_model(document: dict[str, Any], path: Path) -> None:
    """Write a model file atomically (a crash leaves the old file or the new, never half)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(document, sort_keys=True, ensure_ascii=False) + "\n", encoding="utf-8")
    tmp.replace(path)


def parse_model(data: object, where: str) -> Model:
    """A Model from a parsed JSON document; ModelError names the file and the field at fault."""

    def bad(message: str) -> ModelError:
        return ModelError(f"{where}: {message}")

    if not isinstance(data, dict):
        raise bad("expected a JSON object")
    if data.get("format") != FORMAT:
        raise bad(f"format: expected {FORMAT!r}, got {data.get('format')!r} (retrain with monitor train)")
    body = {k: v for k, v in data.items() if k != "sha256"}
    if data.get("sha256") != _digest(body):
        raise bad("sha256: the content does not match its checksum (damaged or edited file)")
    settings = data.get("features")
    if not isinstance(settings, dict) or {k: settings.get(k) for k in FEATURE_SETTINGS} != FEATURE_SETTINGS:
        raise bad(f"features: made with other feature settings than this version's {FEATURE_SETTINGS}")
    bits = settings.get("bits")
    if not isinstance(bits, int) or not 10 <= bits <= 24:
        raise bad(f"features.bits: expected an integer from 10 to 24, got {bits!r}")
    weights = data.get("weights")
    if not isinstance(weights, dict) or weights.get("encoding") != WEIGHTS_ENCODING:
        raise bad(f"weights: expected an object with encoding {WEIGHTS_ENCODING!r} and data")
    try:
        raw = base64.b64decode(str(weights.get("data")), validate=True)
    except (binascii.Error, ValueError):
        raise bad("weights.data: not base64") from None
    if len(raw) != 2 << bits:
        raise bad(f"weights.data: expected {1 << bits} float16 values, got {len(raw) // 2}")
    dense = np.frombuffer(raw, dtype="<f2").astype(np.float32)
    if not np.all(np.isfinite(dense)):
        raise bad("weights.data: not all finite")
    intercept, threshold = data.get("intercept"), data.get("threshold")
    if isinstance(intercept, bool) or not isinstance(intercept, int | float) or not math.isfinite(intercept):
        raise bad(f"intercept: expected a number, got {intercept!r}")
    if isinstance(threshold, bool) or not isinstance(threshold, int | float) or not 0 < threshold < 1:
        raise bad(f"threshold: expected a number between 0 and 1, got {threshold!r}")
    topic, rules_version = data.get("topic"), data.get("rules_version")
    if not isinstance(topic, str) or not isinstance(rules_version, str):
        raise bad("topic and rules_version: expected strings")
    info = data.get("info")
    languages = data.get("languages", [])
    if not isinstance(languages, list) or not all(isinstance(x, str) and x.isalpha() for x in languages):
        raise bad(f"languages: expected a list of language codes, got {languages!r}")
    return Model(
        topic=topic,
        bits=bits,
        intercept=float(intercept),
        weights=dense,
        threshold=float(threshold),
        rules_version=rules_version,
        digest=str(data["sha256"]),
        origin=where,
        info=info if isinstance(info, dict) else {},
        languages=tuple(languages),
    )


def load_model(path: Path) -> Model:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ModelError(f"{path}: cannot read model: {exc.strerror}") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ModelError(f"{path}: invalid JSON at line {exc.lineno}: {exc.msg}") from None
    return parse_model(data, str(path))


def builtin_model(name: str) -> Model | None:
    """The model shipped in the package for a built-in topic, if there is one."""
    resource = resources.files("monitor").joinpath("models", f"{name}.json")
    if not resource.is_file():
        return None
    return parse_model(json.loads(resource.read_text(encoding="utf-8")), f"monitor/models/{name}.json")
