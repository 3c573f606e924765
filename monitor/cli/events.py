"""Events: ``events``, ``event``, ``group``, ``eval-events``, ``regroup``."""

from __future__ import annotations

import json
import sys
from dataclasses import asdict
from datetime import datetime
from pathlib import Path
from typing import Any, TextIO

import click

from ..clock import iso, utcnow
from ..config import models_dir
from ..notify import plain
from ..service.grouped import (
    EventsReport,
    cross_validate_events,
    evaluate_events,
    group_stories,
    train_weights,
)
from ..service.grouping import WEIGHTS_FILE, EventGrouping
from ..stages.evaluate import BadLine, error_record
from ..stages.facts.fuse import summary as fact_summary
from ..stages.group.stories import InputStory, parse_time, read_event_stories
from ..store import Store
from ..store.queries import event_detail, list_events
from .common import config_option, load_runtime, open_store, parse_since


def _day(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M") if value else "-"


@click.command()
@config_option
@click.option("--topic", default=None, help="Only events of this topic.")
@click.option("--since", default=None, help="Only events reported since: a period (7d) or a date.")
@click.option("--limit", default=50, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
def events(config_file: str | None, topic: str | None, since: str | None, limit: int, as_json: bool) -> None:
    """List events (flagged stories grouped by what happened), most recently reported first."""
    runtime = load_runtime(config_file)
    store = open_store(runtime)
    try:
        rows = list_events(store, topic, parse_since(since), limit)
    finally:
        store.close()
    for e in rows:
        if as_json:
            record: dict[str, Any] = asdict(e)
            record.update(first_seen=iso(e.first_seen), last_seen=iso(e.last_seen))
            click.echo(json.dumps(record, ensure_ascii=False))
            continue
        click.echo(
            f"{e.id:>6}  {e.topic:<15} {_day(e.first_seen)} .. {_day(e.last_seen)}  "
            f"{e.articles:>3} stories {e.outlets:>3} outlets  {plain(e.title)[:80]}"
        )
    if not rows and not as_json:
        click.echo("no events" + (f" of topic {topic}" if topic else ""))


@click.command()
@config_option
@click.argument("event_id", type=int)
@click.option("--json", "as_json", is_flag=True, help="The event and its stories as one JSON object.")
def event(config_file: str | None, event_id: int, as_json: bool) -> None:
    """Show one event: what its stories name, its outlets and its timeline of stories and alerts."""
    runtime = load_runtime(config_file)
    store = open_store(runtime)
    try:
        found = event_detail(store, event_id)
    finally:
        store.close()
    if found is None:
        raise click.ClickException(f"no event {event_id} in {runtime.settings.database}")
    summary, stories = found
    if as_json:
        record: dict[str, Any] = asdict(summary)
        record.update(
            first_seen=iso(summary.first_seen),
            last_seen=iso(summary.last_seen),
            stories=[asdict(s) for s in stories],
        )
        click.echo(json.dumps(record, ensure_ascii=False))
        return
    click.echo(f"event {summary.id}: {plain(summary.title)}")
    click.echo(f"  topic:    {summary.topic}")
    click.echo(f"  reported: {_day(summary.first_seen)} .. {_day(summary.last_seen)} UTC")
    click.echo(
        f"  stories:  {summary.articles} from {summary.outlets} outlets: {plain(', '.join(summary.sources))}"
    )
    if summary.facts:
        click.echo(f"  facts:    {plain(fact_summary(summary.facts))}")
    for key, values in summary.anchors.items():
        click.echo(f"  {key + ':':<9} {plain(', '.join(values))}")
    click.echo("  timeline:")
    for s in stories:
        copy = f" (copy of #{s.duplicate_of})" if s.duplicate_of else ""
        click.echo(f"    {s.time or '-'}  #{s.article_id}  [{plain(s.feed)}] {plain(s.title)[:90]}{copy}")
        for alert in s.alerts:
            click.echo(f"      alert: {plain(alert)}")


def _open_input(source: str) -> TextIO:
    if source == "-":
        return sys.stdin
    try:
        return Path(source).open(encoding="utf-8")
    except OSError as exc:
        raise click.BadParameter(f"cannot read {source}: {exc.strerror}", param_hint="FILE") from None


def _stories(source: str) -> tuple[list[InputStory], list[BadLine]]:
    stream = _open_input(source)
    try:
        read = list(read_event_stories(stream))
    finally:
        if stream is not sys.stdin:
            stream.close()
    return [s for s in read if isinstance(s, InputStory)], [b for b in read if isinstance(b, BadLine)]


@click.command()
@config_option
@click.option("--jsonl", "source", required=True, help="Stories, one JSON object per line, or - (stdin).")
def group(config_file: str | None, source: str) -> None:
    """Classify and group stories ({id, title, text, url, published, lang} per line, in arrival
    order) exactly as the daemon would, in a database of their own; one JSON line out per story."""
    runtime = load_runtime(config_file)
    stories, bad = _stories(source)
    for line in bad:
        click.echo(json.dumps(error_record(line), ensure_ascii=False))
    store = Store(":memory:", grouping=EventGrouping(runtime.settings))
    try:
        for grouped in group_stories(runtime, store, stories):
            click.echo(json.dumps(grouped.record(), ensure_ascii=False))
    finally:
        store.close()
    if bad:
        click.echo(f"{len(bad)} line(s) could not be read", err=True)


def _event_lines(path: Path) -> dict[str, dict[str, Any]]:
    """The events of the facts file beside a labelled file (``x.jsonl``: ``x-facts.jsonl``):
    event -> its line (``date``, ``topic``, ``actor``, ``facts``)."""
    events: dict[str, dict[str, Any]] = {}
    if not path.is_file():
        return events
    with path.open(encoding="utf-8") as lines:
        for raw in lines:
            try:
                obj = json.loads(raw)
            except ValueError:
                continue
            if isinstance(obj, dict) and isinstance(obj.get("event"), str):
                events[obj["event"]] = obj
    return events


def _event_dates(events: dict[str, dict[str, Any]]) -> dict[str, datetime]:
    dates: dict[str, datetime] = {}
    for name, obj in events.items():
        try:
            when = parse_time(obj.get("date"))
        except ValueError:
            continue
        if when is not None:
            dates[name] = when
    return dates


def _report(report: EventsReport) -> dict[str, Any]:
    f = report.figures
    return {
        "stories": report.stories,
        "flagged": report.flagged,
        "real_events": f.real_events,
        "predicted_events": f.predicted_events,
        "pairwise": {"precision": f.pairwise_precision, "recall": f.pairwise_recall, "f1": f.pairwise_f1},
        "bcubed": {"precision": f.bcubed_precision, "recall": f.bcubed_recall, "f1": f.bcubed_f1},
        "alerts_per_event": report.alerts_per_event,
        "alerts_per_event_with_updates": report.alerts_per_event_with_updates,
        "mixed_events": f.mixed_events,
        "mixed_share": f.mixed_share,
        "facts": {name: {"right": r, "judged": j, "share": r / j} for name, (r, j) in report.facts.items()},
    }


@click.command(name="eval-events")
@config_option
@click.argument("file", type=click.Path(dir_okay=False))
@click.option(
    "--facts",
    type=click.Path(dir_okay=False),
    default=None,
    help="Events and their dates (default: FILE's name with -facts, if it exists).",
)
@click.option(
    "--cv",
    "folds",
    type=click.IntRange(min=2),
    default=None,
    help="Cross-validate: each run of consecutive events grouped with weights learnt from the others.",
)
@click.option("--json", "as_json", is_flag=True, help="The figures as one JSON object.")
def eval_events(
    config_file: str | None, file: str, facts: str | None, folds: int | None, as_json: bool
) -> None:
    """Score event grouping on a labelled file (an `event` key per story): pairwise and BCubed
    precision, recall and F1 over the stories the classifier flags, alerts per real event, and
    the share of predicted events that mix two real ones."""
    runtime = load_runtime(config_file)
    labelled, dates, references = _labelled(file, facts)
    if folds is not None:
        report = cross_validate_events(
            runtime,
            labelled,
            dates,
            folds,
            lambda weights: Store(":memory:", grouping=EventGrouping(runtime.settings, weights)),
        )
    else:
        store = Store(":memory:", grouping=EventGrouping(runtime.settings))
        try:
            report = evaluate_events(runtime, store, labelled, dates, references)
        finally:
            store.close()
    if as_json:
        click.echo(json.dumps(_report(report)))
        return
    f = report.figures
    click.echo(
        f"{report.stories} stories of {report.real_events} real events; {report.flagged} flagged "
        f"({f.stories} grouped), {f.real_events} real events among them"
    )
    click.echo(f"predicted events:      {f.predicted_events}")
    click.echo(f"pairwise  P {f.pairwise_precision:.3f}  R {f.pairwise_recall:.3f}  F1 {f.pairwise_f1:.3f}")
    click.echo(f"BCubed    P {f.bcubed_precision:.3f}  R {f.bcubed_recall:.3f}  F1 {f.bcubed_f1:.3f}")
    click.echo(
        f"alerts per real event: {report.alerts_per_event:.2f} "
        f"({report.alerts_per_event_with_updates:.2f} with updates)"
    )
    click.echo(
        f"mixed events:          {f.mixed_events} of {f.predicted_events} ({100 * f.mixed_share:.1f} %)"
    )
    if report.facts:
        click.echo("facts right, per real event:")
        for name, (right, judged) in report.facts.items():
            click.echo(f"  {name:<15} {right}/{judged} = {right / judged:.2f}")


def _labelled(
    file: str, facts: str | None
) -> tuple[list[InputStory], dict[str, datetime], dict[str, dict[str, Any]]]:
    """A labelled file's stories (bad lines reported and skipped), its events' dates and lines."""
    stories, bad = _stories(file)
    for line in bad:
        click.echo(f"skipped: {line.error}", err=True)
    labelled = [s for s in stories if s.event is not None]
    if not labelled:
        raise click.ClickException(f"{file}: no story has an `event` key")
    path = Path(facts) if facts else Path(file).with_name(Path(file).stem + "-facts.jsonl")
    events = _event_lines(path)
    return labelled, _event_dates(events), events


@click.command(name="train-events")
@config_option
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--facts", type=click.Path(dir_okay=False), default=None, help="As for eval-events.")
@click.option(
    "--out",
    type=click.Path(dir_okay=False),
    default=None,
    help=f"Where to write the weights (default: {WEIGHTS_FILE} in the models folder).",
)
def train_events(config_file: str | None, file: str, facts: str | None, out: str | None) -> None:
    """Learn grouping's weights from stories labelled with their event (deterministic); the
    daemon reads them from the models folder on its next start."""
    runtime = load_runtime(config_file)
    labelled, dates, _ = _labelled(file, facts)
    try:
        weights = train_weights(runtime, labelled, dates)
    except ValueError as exc:
        raise click.ClickException(f"{file}: {exc}") from None
    folder = models_dir(runtime.settings)
    if out is None and folder is None:
        raise click.UsageError("no models folder for an in-memory database: give --out")
    path = Path(out) if out else Path(folder or ".") / WEIGHTS_FILE
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(weights.to_json(), encoding="utf-8")
        tmp.replace(path)
    except OSError as exc:
        raise click.ClickException(f"cannot write {path}: {exc.strerror}") from None
    click.echo(f"grouping weights learnt from {len(labelled)} stories written to {path}")
    for name, value in weights.coef.items():
        click.echo(f"  {name:<15} {value:+.3f}")
    click.echo(f"  {'(bias)':<15} {weights.bias:+.3f}")


@click.command()
@config_option
@click.option("--since", default=None, help="Stories found since: a period (7d) or a date; default: all.")
def regroup(config_file: str | None, since: str | None) -> None:
    """Group stored stories again (after a rule, model or grouping change); nothing is alerted
    again."""
    runtime = load_runtime(config_file)
    store = open_store(runtime)
    try:
        report = store.regroup(parse_since(since), utcnow())
    finally:
        store.close()
    click.echo(
        f"{report.stories} stories regrouped: {report.events_before} events before, "
        f"{report.events_after} now; nothing alerted"
    )
