"""Topics: ``classify``, ``eval``, ``reclassify``."""

from __future__ import annotations

import asyncio
import json
import sys
from datetime import timedelta
from pathlib import Path
from typing import TextIO

import click

from ..clock import utcnow
from ..config import parse_duration
from ..errors import InstanceLockedError
from ..notify import plain
from ..records import DeliveryResult
from ..service import deliver_once
from ..service import reclassify as run_reclassify
from ..stages.classify import Topic
from ..stages.classify import classify as classify_text
from ..stages.evaluate import (
    BadLine,
    Judged,
    Story,
    TopicFigures,
    error_record,
    evaluate,
    judge,
    read_stories,
    reading_language,
    verdict_record,
)
from ..stages.language import detect_language
from ..store.lock import InstanceLock
from .common import config_option, load_runtime, load_topics_for, open_store


def _read_document(source: str) -> tuple[str, str]:
    """(title, text) of a .txt (first line is the headline), an .html page, or - (stdin)."""
    if source == "-":
        raw = sys.stdin.buffer.read()
        name = ""
    else:
        try:
            raw = Path(source).read_bytes()
        except OSError as exc:
            raise click.BadParameter(f"cannot read {source}: {exc.strerror}", param_hint="SOURCE") from None
        name = source.lower()
    looks_html = name.endswith((".html", ".htm")) or raw.lstrip()[:1] == b"<"
    if looks_html:
        from ..stages.extract import extract_article  # trafilatura: only the commands that extract load it

        extracted = extract_article(raw)
        return extracted.title or "", extracted.text
    head, _, body = raw.decode("utf-8", errors="replace").strip().partition("\n")
    return head.strip(), body.strip()


@click.command()
@config_option
@click.argument("source", required=False)
@click.option(
    "--jsonl",
    "jsonl",
    type=click.File("r", encoding="utf-8"),
    help="Classify every line of a JSON Lines file (- for stdin): {id, title, text} in, one result out.",
)
def classify(config_file: str | None, source: str | None, jsonl: TextIO | None) -> None:
    """Score a document (FILE.txt, FILE.html or -) or a JSONL batch against the topics."""
    if (source is None) == (jsonl is None):
        raise click.UsageError("give either a SOURCE file (or -) or --jsonl FILE")
    topics = load_topics_for(config_file)
    if jsonl is not None:
        for item in read_stories(jsonl):
            if isinstance(item, BadLine):
                record = error_record(item)
            else:
                record = verdict_record(
                    item, classify_text(item.title, item.text, topics, reading_language(item))
                )
            click.echo(json.dumps(record, ensure_ascii=False))
        return
    assert source is not None
    title, text = _read_document(source)
    click.echo(f"title: {plain(title) or '(none)'}")
    for v in classify_text(title, text, topics, detect_language(title, text)):
        click.echo(f"{v.topic:<20} {v.score:5.2f}  {'FLAGGED' if v.flagged else '-'}")
        for quote in v.evidence:
            click.echo(f"    > {plain(quote)}")


@click.command(name="eval")
@config_option
@click.argument("labelled", type=click.File("r", encoding="utf-8"))
@click.option("--show", default=15, show_default=True, help="False positives/negatives listed per topic.")
@click.option(
    "--cv",
    "folds",
    type=click.IntRange(2, 20),
    default=None,
    help="Cross-validate: train each topic's model on K-1 folds and judge it on the K-th, with folds "
    "grouped by source; compare with the rules alone and keywords.",
)
@click.option("--json", "as_json", is_flag=True, help="With --cv: the figures as JSON.")
def eval_command(
    config_file: str | None, labelled: TextIO, show: int, folds: int | None, as_json: bool
) -> None:
    """Precision, recall and F1 per topic on labelled stories ({id, title, text, <topic>: 0/1})."""
    topics = load_topics_for(config_file)
    stories: list[Story] = []
    bad: list[BadLine] = []
    for item in read_stories(labelled, [t.name for t in topics]):
        if isinstance(item, BadLine):
            bad.append(item)
        else:
            stories.append(item)
    for b in bad:
        click.echo(f"skipped {b.error}", err=True)
    if folds is not None:
        _cross_validate(topics, stories, folds, show, as_json)
        return
    ambiguous = sum(1 for s in stories if s.ambiguous)
    runs = [("all stories", False), ("without ambiguous", True)] if ambiguous else [("all stories", False)]
    judged = judge(stories, topics)
    figures = {}
    for label, skip in runs:
        figures[label] = evaluate(judged, topics, skip_ambiguous=skip)
        click.echo(f"{label} ({len(stories) - (ambiguous if skip else 0)}):")
        click.echo(f"  {'topic':<20} {'precision':>9} {'recall':>7} {'F1':>6}   tp   fp   fn")
        for f in figures[label]:
            if f.tp + f.fn == 0:  # nothing to find: recall and F1 would read 1.000
                rates = (
                    f"{'-':>9} {'-':>7} {'-':>6}" if f.fp == 0 else f"{f.precision:9.3f} {'-':>7} {'-':>6}"
                )
                note = "  no story is labelled positive for this topic"
                click.echo(f"  {f.topic:<20} {rates} {f.tp:4d} {f.fp:4d} {f.fn:4d}{note}")
                continue
            rates = f"{f.precision:9.3f} {f.recall:7.3f} {f.f1:6.3f}"
            click.echo(f"  {f.topic:<20} {rates} {f.tp:4d} {f.fp:4d} {f.fn:4d}")
    _per_language(judged, topics)
    for f in figures["all stories"]:
        for kind, misses in (("false positives", f.false_positives), ("false negatives", f.false_negatives)):
            if not misses or show <= 0:
                continue
            click.echo(f"\n{f.topic}: {kind} ({len(misses)}, showing {min(show, len(misses))})")
            for m in misses[:show]:
                click.echo(f"  [{m.id}] {m.score:.2f} {plain(m.title)[:120]}")
                for quote in m.evidence[:2]:
                    click.echo(f"      > {plain(quote)[:160]}")


def _per_language(judged: Judged, topics: tuple[Topic, ...]) -> None:
    """P / R per topic for each language the stories name (without ambiguous stories), with
    the positives each figure rests on (a language with five positives moves 0.2 per story),
    and all languages but English pooled. "-" where a figure has nothing to count."""
    languages = sorted({s.language for s, _ in judged if s.language})
    if len(languages) < 2:
        return
    click.echo("per language, without ambiguous (positives: precision / recall):")
    click.echo(f"  {'lang':<6} {'stories':>7}  " + "  ".join(f"{t.name:<22}" for t in topics))

    def cell(f: TopicFigures) -> str:
        p = f"{f.precision:.3f}" if f.tp + f.fp else "  -  "
        r = f"{f.recall:.3f}" if f.tp + f.fn else "  -  "
        return f"{f.tp + f.fn:3d}: {p} / {r}    "

    groups = {lang: [(s, v) for s, v in judged if s.language == lang] for lang in languages}
    groups["not en"] = [(s, v) for s, v in judged if s.language and s.language != "en"]
    for name, subset in groups.items():
        figures = evaluate(subset, topics, skip_ambiguous=True)
        count = sum(1 for s, _ in subset if not s.ambiguous)
        click.echo(f"  {name:<6} {count:7d}  " + "  ".join(cell(f) for f in figures))


def _cross_validate(
    topics: tuple[Topic, ...], stories: list[Story], folds: int, show: int, as_json: bool
) -> None:
    from ..service.train import evaluate_cv  # scikit-learn: loaded only here

    results = evaluate_cv(topics, stories, folds)
    if as_json:
        click.echo(json.dumps([r.as_json() for r in results], indent=2))
        return
    for r in results:
        click.echo(f"{r.topic}: {r.stories} stories, {r.folds} folds grouped by source (cross-validated)")
        click.echo(f"  {'stories':<18} {'method':<9} {'precision':>9} {'recall':>7} {'F1':>6}   tp   fp   fn")
        for subset, methods in r.figures.items():
            for method, c in methods.items():
                rates = f"{c.precision:9.3f} {c.recall:7.3f} {c.f1:6.3f}"
                click.echo(f"  {subset:<18} {method:<9} {rates} {c.tp:4d} {c.fp:4d} {c.fn:4d}")
        click.echo("  per language, without ambiguous (P / R):")
        for lang, methods in r.languages.items():
            cells = "  ".join(f"{m} {c.precision:.3f} / {c.recall:.3f}" for m, c in methods.items())
            positives = methods["model"].tp + methods["model"].fn
            click.echo(f"    {lang:<4} {positives:4d} positive  {cells}")
        for p in r.misses[: max(show, 0)]:
            kind = "fp" if p.flagged else "fn"
            click.echo(f"  {kind} [{p.example.id}] {p.probability:.2f} {plain(p.example.title)[:110]}")


@click.command()
@config_option
@click.option("--since", default=None, help="Only articles discovered within this period (e.g. 30d).")
@click.option("--topic", "topics", multiple=True, help="Only this topic; repeatable.")
@click.option(
    "--alert", is_flag=True, help="Queue and send alerts for newly flagged stories within alerts.max_age."
)
@click.option("--dry-run", is_flag=True, help="Report what would change; write nothing.")
def reclassify(
    config_file: str | None, since: str | None, topics: tuple[str, ...], alert: bool, dry_run: bool
) -> None:
    """Re-score stored articles with the current topic definitions and report what changed."""
    if dry_run and alert:
        raise click.UsageError("--dry-run writes nothing, so it cannot --alert")
    runtime = load_runtime(config_file)
    unknown = [t for t in topics if t not in {x.name for x in runtime.topics}]
    if unknown:
        raise click.UsageError(f"no enabled topic named {unknown[0]!r}")
    try:
        cutoff = utcnow() - timedelta(seconds=parse_duration(since)) if since else None
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--since") from None
    store = open_store(runtime)
    try:
        report = run_reclassify(
            runtime, store, since=cutoff, topic_names=topics or None, alert=alert, dry_run=dry_run
        )
        deliveries: list[DeliveryResult] = []
        handed_over = None
        if alert and report.alerts_queued:
            lock = InstanceLock(runtime.settings.database, "monitor reclassify --alert")
            try:
                with lock:
                    deliveries = asyncio.run(deliver_once(runtime, store))
            except InstanceLockedError as exc:  # the running daemon sends what was queued
                handed_over = exc.holder
    finally:
        store.close()
    for label, items in (("newly flagged", report.newly_flagged), ("no longer flagged", report.unflagged)):
        for r in items:
            before = f"{r.before:.2f}" if r.before is not None else "-"
            click.echo(
                f"{label}: [{r.article_id}] {r.topic} {before} -> {r.after.score:.2f}  {plain(r.title)[:100]}"
            )
    if dry_run:
        click.echo(
            f"dry run, nothing written: {report.articles} articles re-scored: "
            f"{len(report.newly_flagged)} would be newly flagged, {len(report.unflagged)} no longer "
            f"flagged, {report.rescored} scores updated"
        )
        return
    click.echo(
        f"{report.articles} articles re-scored: {len(report.newly_flagged)} newly flagged, "
        f"{len(report.unflagged)} no longer flagged, {report.rescored} scores updated; "
        f"{report.alerts_queued} alerts queued, {sum(d.ok for d in deliveries)} sent"
        + (f"; the running monitor ({handed_over}) delivers them" if handed_over else "")
    )
