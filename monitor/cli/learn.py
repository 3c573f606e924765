"""Teaching the classifier: ``label`` (the analyst's verdict) and ``train`` (model files)."""

from __future__ import annotations

from pathlib import Path
from typing import TextIO

import click

from ..clock import utcnow
from ..config import models_dir
from ..errors import StoreError
from ..notify import plain
from ..stages.evaluate import BadLine, Story, read_stories
from .common import config_option, load_runtime, open_store


@click.command()
@config_option
@click.argument("article", type=int)
@click.option("--topic", required=True, help="The topic the verdict is about.")
@click.option(
    "--yes/--no", "verdict", default=None, help="It is (--yes) or is not (--no) a story of the topic."
)
@click.option("--note", default=None, help="Why, for whoever reads the labels later.")
def label(config_file: str | None, article: int, topic: str, verdict: bool | None, note: str | None) -> None:
    """Record whether stored ARTICLE (its id, as alerts show it) is a story of --topic.

    `monitor train --with-labels` learns from these; training never changes them."""
    if verdict is None:
        raise click.UsageError("say --yes or --no")
    runtime = load_runtime(config_file)
    if topic not in {t.name for t in runtime.topics}:
        raise click.UsageError(f"no enabled topic named {topic!r}")
    store = open_store(runtime)
    try:
        record = store.add_label(article, topic, verdict, utcnow(), note)
    except StoreError as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        store.close()
    click.echo(
        f"labelled [{article}] {plain(record.title)[:100]!s}: "
        f"{'is' if verdict else 'is not'} {topic}; `monitor train --with-labels` to learn from it"
    )


@click.command()
@config_option
@click.argument("labelled", required=False, type=click.File("r", encoding="utf-8"))
@click.option("--with-labels", is_flag=True, help="Also learn from the labels recorded with `monitor label`.")
@click.option("--topic", "topics", multiple=True, help="Only this topic; repeatable.")
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Folder for the model files [default: the configuration's models folder].",
)
def train(
    config_file: str | None,
    labelled: TextIO | None,
    with_labels: bool,
    topics: tuple[str, ...],
    out: Path | None,
) -> None:
    """Train each topic's model from LABELLED stories (JSON Lines: id, title, text, source, lang,
    ambiguous, and 0/1 per topic) and/or the analyst's labels. Deterministic: the same data
    make the same files. Then `monitor reclassify` applies them to stored stories."""
    if labelled is None and not with_labels:
        raise click.UsageError("give a LABELLED file, --with-labels, or both")
    runtime = load_runtime(config_file)
    chosen = [t for t in runtime.topics if not topics or t.name in topics]
    unknown = sorted(set(topics) - {t.name for t in runtime.topics})
    if unknown:
        raise click.UsageError(f"no enabled topic named {unknown[0]!r}")
    stories: list[Story] = []
    if labelled is not None:
        for item in read_stories(labelled, [t.name for t in chosen]):
            if isinstance(item, BadLine):
                click.echo(f"skipped {item.error}", err=True)
            else:
                stories.append(item)
    labels = []
    if with_labels:
        store = open_store(runtime)
        try:
            labels = store.labels()
        finally:
            store.close()
    target = out or models_dir(runtime.settings)
    if target is None:
        raise click.UsageError("no models folder: give --out (the database is in memory)")
    from ..service.train import train as run_train  # scikit-learn: loaded only here

    name = Path(labelled.name).name if labelled is not None else "labels"
    for result in run_train(chosen, stories, labels, target, data_name=name):
        if result.path is None:
            click.echo(f"{result.topic:<20} skipped: {result.reason} ({result.positives} positive stories)")
        else:
            click.echo(
                f"{result.topic:<20} {result.stories} stories ({result.positives} positive, "
                f"{result.labels} from labels), threshold {result.threshold:.2f} -> {result.path}"
            )
