"""Topic definitions: the built-in YAML files, user overrides, validation and compilation.

A definition is a mapping (see "Topics" in README.md); ``compile_topic`` checks it and turns it
into a ``Topic``, naming the key of every problem it finds. ``load_topics`` applies
``config.yaml``'s overrides to the built-in topics (``monitor/topics/*.yaml``) and adds the
user's own.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import re
from dataclasses import dataclass, field, replace
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from ...errors import ConfigError, ModelError, TopicError
from .matcher import Automaton, Vocabulary, build_automaton, compile_vocabulary
from .model import Model, builtin_model, load_model
from .segment import wrap

log = logging.getLogger(__name__)

BUILTIN_TOPICS = ("missile_launch", "sanctions")
TOPIC_KEYS = {
    "label",
    "description",
    "enabled",
    "threshold",
    "scale",
    "title_weight",
    "lead_sentences",
    "late_weight",
    "terms",
    "rules",
    "model",
    "model_threshold",
}
# What the rules' reading of a story depends on: a model trained on one reading is stale when
# one of these changes (``rules_version``).
READING_KEYS = ("terms", "rules", "scale", "title_weight", "lead_sentences", "late_weight")
RULE_KEYS = {"name", "all", "none", "weight", "in", "max_hits"}


@dataclass(frozen=True, slots=True)
class Rule:
    name: str
    all: tuple[str, ...]
    none: tuple[str, ...]
    weight: float
    where: str  # "any" | "title" | "text"
    max_hits: int


@dataclass(frozen=True, slots=True)
class Topic:
    name: str
    label: str
    threshold: float
    scale: float
    title_weight: float
    lead_sentences: int
    late_weight: float
    terms: dict[str, Vocabulary]
    rules: tuple[Rule, ...]
    version: str
    enabled: bool = True
    automaton: Automaton | None = None  # over every vocabulary's exact strings and literals
    # Per positive rule, the vocabularies (by index) of which the automaton must find a string
    # (an exact one, a stem, a regex's literal) for the rule to fire; None when some positive
    # rule needs none of them (its vocabularies have regexes without literals). ``score`` skips
    # the rest of the reading of a story where no rule can fire (``rule_needs``).
    needs: tuple[frozenset[int], ...] | None = None
    rules_version: str = ""
    use_model: bool = True
    model: Model | None = None
    model_threshold: float = 0.5  # with a model: the probability at which a story is flagged
    # A built-in topic's readings, compiled on first use (``for_language``): per language with
    # its own vocabulary file, the base vocabularies and that language's words; under "*" every
    # language's words (an article of unknown language). The topic itself reads the base alone
    # (English, and a language without a file). Empty for a user's topic.
    variant_specs: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def languages(self) -> tuple[str, ...]:
        """The languages with their own words in this topic."""
        return tuple(sorted(k for k in self.variant_specs if k != "*"))


def _merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """Override keys replace the base's; ``terms`` merge per vocabulary; ``rules`` merge by name."""
    merged = dict(base)
    for key, value in override.items():
        if key == "terms" and isinstance(value, dict) and isinstance(base.get("terms"), dict):
            merged["terms"] = {**base["terms"], **value}
        elif key == "rules" and isinstance(value, list) and isinstance(base.get("rules"), list):
            by_name = {r.get("name"): r for r in base["rules"] if isinstance(r, dict)}
            extra = []
            for rule in value:
                if isinstance(rule, dict) and rule.get("name") in by_name:
                    by_name[rule["name"]] = rule
                else:
                    extra.append(rule)
            merged["rules"] = list(by_name.values()) + extra
        else:
            merged[key] = value
    return merged


def _number(spec: dict[str, Any], key: str, where: str, default: float, lo: float, hi: float) -> float:
    value = spec.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or not lo <= value <= hi:
        raise TopicError(f"{where}.{key}: expected a number from {lo:g} to {hi:g}, got {value!r}")
    return float(value)


@functools.lru_cache(maxsize=16384)
def _pattern_error(pattern: str) -> str | None:
    """Why ``pattern`` is no valid regex as it is used (inside a group), or None. Cached: each
    language's reading checks the English patterns again, more than ``re``'s own cache holds."""
    try:
        re.compile(wrap([pattern], cjk=False))
    except re.error as exc:
        return str(exc)
    return None


def _compile_terms(raw: object, where: str) -> dict[str, Vocabulary]:
    if not isinstance(raw, dict) or not raw:
        raise TopicError(f"{where}.terms: expected a mapping of vocabulary name -> list of patterns")
    terms: dict[str, Vocabulary] = {}
    for name, patterns in raw.items():
        if isinstance(patterns, str):
            patterns = [patterns]
        if not isinstance(patterns, list) or not patterns or not all(isinstance(p, str) for p in patterns):
            raise TopicError(f"{where}.terms.{name}: expected a list of patterns (strings)")
        for i, pattern in enumerate(patterns):
            error = _pattern_error(pattern)
            if error is not None:
                raise TopicError(f"{where}.terms.{name}[{i}]: invalid pattern {pattern!r}: {error}")
        terms[str(name)] = compile_vocabulary(patterns, len(terms))
    return terms


def _compile_rules(raw: object, terms: dict[str, Vocabulary], where: str) -> tuple[Rule, ...]:
    if not isinstance(raw, list) or not raw:
        raise TopicError(f"{where}.rules: expected a list of rules")
    rules = []
    for i, spec in enumerate(raw):
        here = f"{where}.rules[{i}]"
        if not isinstance(spec, dict):
            raise TopicError(f"{here}: expected a mapping")
        unknown = sorted(set(spec) - RULE_KEYS)
        if unknown:
            raise TopicError(f"{here}.{unknown[0]}: unknown key (allowed: {', '.join(sorted(RULE_KEYS))})")
        names: dict[str, tuple[str, ...]] = {}
        for key in ("all", "none"):
            value = spec.get(key, [])
            value = [value] if isinstance(value, str) else value
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise TopicError(f"{here}.{key}: expected a list of vocabulary names")
            for name in value:
                if name not in terms:
                    raise TopicError(f"{here}.{key}: no vocabulary named {name!r} in terms")
            names[key] = tuple(value)
        if not names["all"]:
            raise TopicError(f"{here}.all: a rule needs at least one vocabulary")
        where_ = spec.get("in", "any")
        if where_ not in ("any", "title", "text"):
            raise TopicError(f"{here}.in: expected any, title or text, got {where_!r}")
        rules.append(
            Rule(
                name=str(spec.get("name") or f"rule{i}"),
                all=names["all"],
                none=names["none"],
                weight=_number(spec, "weight", here, 1.0, -100, 100),
                where=where_,
                max_hits=int(_number(spec, "max_hits", here, 3, 1, 100)),
            )
        )
    return tuple(rules)


def rule_needs(terms: dict[str, Vocabulary], rules: tuple[Rule, ...]) -> tuple[frozenset[int], ...] | None:
    """``Topic.needs``: for each positive rule, its vocabularies that can match only where the
    automaton finds one of their strings (a vocabulary with a regex group without literals can
    match anywhere)."""
    anywhere = {v.index for v in terms.values() if v.unfiltered}
    needs = []
    for rule in rules:
        if rule.weight > 0:
            need = frozenset(terms[name].index for name in rule.all) - anywhere
            if not need:
                return None
            needs.append(need)
    return tuple(needs)


def compile_topic(
    name: str, spec: object, where: str | None = None, identity: dict[str, Any] | None = None
) -> Topic:
    """Validate and compile one topic definition; errors name the key that is wrong. Its
    versions are hashes of ``identity`` when given (a built-in topic: the definition with every
    language's words, of which ``spec`` is one reading), else of ``spec``."""
    where = where or f"topics.{name}"
    if not isinstance(spec, dict):
        raise TopicError(f"{where}: expected a mapping")
    unknown = sorted(set(spec) - TOPIC_KEYS)
    if unknown:
        raise TopicError(f"{where}.{unknown[0]}: unknown key (allowed: {', '.join(sorted(TOPIC_KEYS))})")
    terms = _compile_terms(spec.get("terms"), where)
    rules = _compile_rules(spec.get("rules"), terms, where)
    enabled = spec.get("enabled", True)
    if not isinstance(enabled, bool):
        raise TopicError(f"{where}.enabled: expected true or false")
    use_model = spec.get("model", True)
    if not isinstance(use_model, bool):
        raise TopicError(f"{where}.model: expected true (use a trained model when there is one) or false")
    if "model_threshold" in spec:
        _number(spec, "model_threshold", where, 0.5, 0.001, 0.999)
    whole = identity if identity is not None else spec
    canonical = json.dumps(
        {k: v for k, v in whole.items() if k not in ("enabled", "model", "model_threshold")},
        sort_keys=True,
        default=str,
    )
    reading = json.dumps({k: whole.get(k) for k in READING_KEYS}, sort_keys=True, default=str)
    return Topic(
        name=name,
        label=str(spec.get("label") or name.replace("_", " ").capitalize()),
        threshold=_number(spec, "threshold", where, 0.5, 0, 1),
        scale=_number(spec, "scale", where, 3.0, 0.01, 1000),
        title_weight=_number(spec, "title_weight", where, 1.5, 0, 100),
        lead_sentences=int(_number(spec, "lead_sentences", where, 3, 0, 1000)),
        late_weight=_number(spec, "late_weight", where, 1.0, 0, 100),
        terms=terms,
        rules=rules,
        version=hashlib.sha256(canonical.encode()).hexdigest()[:12],
        enabled=enabled,
        automaton=build_automaton(list(terms.values())),
        needs=rule_needs(terms, rules),
        rules_version=hashlib.sha256(reading.encode()).hexdigest()[:12],
        use_model=use_model,
    )


def attach_model(topic: Topic, model: Model, threshold: float | None = None) -> Topic:
    """The topic scored by ``model`` (flagging at ``threshold``, by default the model's own).
    Its version changes with the model, so ``reclassify`` sees what a new model changed."""
    if model.topic != topic.name:
        raise ModelError(f"topics.{topic.name}: the model was trained for topic {model.topic!r}")
    if model.rules_version != topic.rules_version:
        log.warning(
            "topics.%s: the rules changed since its model was trained; run `monitor train` to retrain",
            topic.name,
        )
    threshold = model.threshold if threshold is None else threshold
    version = hashlib.sha256(f"{topic.version}:{model.digest}:{threshold}".encode()).hexdigest()[:12]
    return replace(topic, model=model, model_threshold=threshold, version=version)


def _with_model(topic: Topic, spec: dict[str, Any], models_dir: Path | None) -> Topic:
    """A trained model for the topic: ``<models_dir>/<name>.json`` first, then the package's."""
    if not topic.use_model:
        return topic
    path = models_dir / f"{topic.name}.json" if models_dir is not None else None
    if path is not None and path.is_file():
        model: Model | None = load_model(path)
    elif topic.name in BUILTIN_TOPICS:
        model = builtin_model(topic.name)
    else:
        model = None
    if model is None:
        return topic
    threshold = spec.get("model_threshold")
    return attach_model(topic, model, float(threshold) if threshold is not None else None)


def _yaml(text: str) -> Any:
    """YAML parsed with libyaml when PyYAML has it (ten times faster on the vocabulary files)."""
    return yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))  # noqa: S506 (safe loaders)


@functools.cache
def _language_files(name: str) -> list[tuple[str, Any]]:
    """The per-language vocabulary files of a built-in topic, ``monitor/topics/<name>/<lang>.yaml``,
    in name order: (their path as written in errors, their parsed content)."""
    folder = resources.files("monitor").joinpath("topics", name)
    if not folder.is_dir():
        return []
    files = sorted((f for f in folder.iterdir() if f.name.endswith(".yaml")), key=lambda f: f.name)
    return [(f"monitor/topics/{name}/{f.name}", _yaml(f.read_text(encoding="utf-8"))) for f in files]


def add_language(spec: dict[str, Any], where: str, extra: object) -> dict[str, Any]:
    """``spec`` with one language's vocabulary (``{language: xx, terms: {vocabulary: [patterns]}}``)
    added: each list extends the base vocabulary of that name, which must exist, so that a
    language file supplies words and never changes the rules that read them."""
    if not isinstance(extra, dict) or not isinstance(extra.get("terms"), dict):
        raise TopicError(f"{where}: expected a mapping with terms: {{vocabulary: [patterns]}}")
    unknown = sorted(set(extra) - {"language", "terms"})
    if unknown:
        raise TopicError(f"{where}: {unknown[0]}: unknown key (allowed: language, terms)")
    language = extra.get("language")
    if not isinstance(language, str) or not re.fullmatch(r"[a-z]{2,3}", language):
        raise TopicError(f"{where}: language: expected an ISO 639 code such as ko, got {language!r}")
    terms = dict(spec.get("terms") or {})
    for vocabulary, patterns in extra["terms"].items():
        if vocabulary not in terms:
            raise TopicError(f"{where}: terms.{vocabulary}: the topic has no vocabulary of that name")
        if isinstance(patterns, str):
            patterns = [patterns]
        if not isinstance(patterns, list) or not all(isinstance(p, str) for p in patterns):
            raise TopicError(f"{where}: terms.{vocabulary}: expected a list of patterns (strings)")
        base = terms[vocabulary]
        terms[vocabulary] = [*([base] if isinstance(base, str) else base), *patterns]
    return {**spec, "terms": terms}


def _builtin_base(name: str) -> dict[str, Any]:
    text = resources.files("monitor").joinpath("topics", f"{name}.yaml").read_text(encoding="utf-8")
    data: dict[str, Any] = _yaml(text)
    assert isinstance(data, dict)
    return data


def builtin_definition(name: str) -> dict[str, Any]:
    """The definition of a built-in topic: ``monitor/topics/<name>.yaml`` with the vocabularies
    of every ``monitor/topics/<name>/<lang>.yaml`` added (how an article of unknown language is
    read)."""
    data = _builtin_base(name)
    for where, extra in _language_files(name):
        data = add_language(data, where, extra)
    return data


def _variant_specs(name: str, override: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """A built-in topic's definition per language and with every language's words (``"*"``;
    see ``Topic.variant_specs``), each with the user's overrides applied."""
    base = _builtin_base(name)
    specs = {}
    for where, extra in _language_files(name):
        spec = add_language(base, where, extra)  # validates the file, its language included
        specs[str(extra["language"])] = _merge(spec, override)
    specs["*"] = _merge(builtin_definition(name), override)
    return specs


# (topic name, topic version, language or "*") -> the topic as it reads that language; and the
# compiled readings they share (one per language file). Bounded: a reload (new rules or model)
# makes new versions, and the old ones are dropped.
_VARIANTS: dict[tuple[str, str, str], Topic] = {}
_READINGS: dict[tuple[str, str, str], Topic] = {}
MAX_VARIANTS = 256


def for_language(topic: Topic, language: str | None) -> Topic:
    """``topic`` as it reads an article in ``language``: the base vocabularies and that
    language's words, so that a word of one language never matches in another (Persian تحریم,
    sanctions, is Arabic تحريم, a religious prohibition; German "will" is English "will"). An
    article of unknown language is read with every language's words; one in a language without
    its own file (English among them), with the base vocabularies alone: the topic itself. Each
    reading is compiled once, on first use (0.1-0.3 s). A model that does not judge the
    language (``Model.judges``) is left out: the rules alone decide."""
    if not topic.variant_specs and (not language or topic.model is None):
        return topic
    cache_key = (topic.name, topic.version, language or "*")
    variant = _VARIANTS.get(cache_key)
    if variant is None:
        variant = topic
        key = language or "*"
        if key in topic.variant_specs:
            reading = _READINGS.get((topic.name, topic.version, key))
            if reading is None:
                compiled = compile_topic(topic.name, topic.variant_specs[key])
                reading = replace(
                    topic,
                    terms=compiled.terms,
                    rules=compiled.rules,
                    automaton=compiled.automaton,
                    needs=compiled.needs,
                    variant_specs={},
                )
                if len(_READINGS) >= MAX_VARIANTS:
                    _READINGS.clear()
                _READINGS[(topic.name, topic.version, key)] = reading
            variant = reading
        if topic.model is not None and not topic.model.judges(language or None):
            variant = replace(variant, model=None)
        if len(_VARIANTS) >= MAX_VARIANTS:
            _VARIANTS.clear()
        _VARIANTS[cache_key] = variant
    return variant


def load_topics(
    overrides: dict[str, dict[str, Any]] | None = None, models_dir: Path | None = None
) -> tuple[Topic, ...]:
    """The built-in topics with ``config.yaml`` overrides applied, plus user-defined topics,
    each with its trained model when there is one (``models_dir``, then the package's).

    Raises TopicError listing every problem (each with its key path).
    """
    overrides = overrides or {}
    problems: list[str] = []
    topics: list[Topic] = []
    names = list(BUILTIN_TOPICS) + [n for n in overrides if n not in BUILTIN_TOPICS]
    for name in names:
        override = overrides.get(name) or {}
        if not isinstance(override, dict):
            problems.append(f"topics.{name}: expected a mapping")
            continue
        try:
            if not re.fullmatch(r"[a-z][a-z0-9_]*", name):
                raise TopicError(f"topics.{name}: a topic name is lower-case letters, digits and _")
            if name in BUILTIN_TOPICS:
                # Compiled: the base reading. Versioned: the definition with every language.
                spec = _merge(_builtin_base(name), override)
                variants = _variant_specs(name, override)
                topic = compile_topic(name, spec, identity=variants["*"])
                topic = replace(topic, variant_specs=variants)
            else:
                spec = override
                topic = compile_topic(name, spec)
            if topic.enabled:
                topic = _with_model(topic, spec, models_dir)
        except ConfigError as exc:
            problems.extend(exc.problems)
            continue
        if topic.enabled:
            topics.append(topic)
    if problems:
        raise TopicError(problems)
    return tuple(topics)
