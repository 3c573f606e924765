"""Reviewing the log: ``articles``, ``show``, ``search``, ``feeds``, ``stats``, ``export``,
``status``. Every one reads the database the daemon is writing (never writes) and prints a
table, or ``--json`` (and ``--csv`` where rows make sense) for scripts."""

from __future__ import annotations

import csv
import json
import sys
from collections.abc import Callable, Iterator
from dataclasses import asdict
from typing import Any, TypeVar

import click
from rich.text import Text

from ..clock import utcnow
from ..config import Settings
from ..errors import StoreError
from ..notify import plain
from ..stages.classify import classify
from ..stages.urls import redact_url
from ..store import Store
from ..store.review import (
    MARK_END,
    MARK_START,
    ArticleFilter,
    ArticleRow,
    article_detail,
    export_articles,
    health,
    list_articles,
    list_feeds,
    search_articles,
    stats,
)
from .common import EXIT_PROBLEMS, config_option, load_runtime, open_store, parse_since
from .output import Column, Format, chosen_format, console, csv_cell, echo_json, emit, format_options

F = TypeVar("F", bound=Callable[..., Any])

ARTICLE_COLUMNS = (
    Column("id", "id", justify="right"),
    Column("time", "time"),
    Column("feed", "feed", max_width=24),
    Column("language", "lang"),
    Column("topics", "topics", max_width=34),
    Column("event", "event", justify="right"),
    Column("title", "title", max_width=90),
)


def short(ts: str | None) -> str | None:
    """``2026-12-01T22:40:00Z`` -> ``2026-12-01 22:40`` for tables (JSON keeps the full form)."""
    return ts[:16].replace("T", " ") if ts else ts


def _filters(fn: F) -> F:
    for option in reversed(
        (
            click.option("--topic", default=None, help="Only stories this topic flagged."),
            click.option("--feed", default=None, help="Only stories from this feed (its name)."),
            click.option("--since", default=None, help="Only stories stored since: a period (7d) or a date."),
            click.option("--flagged", is_flag=True, help="Only stories some topic flagged."),
        )
    ):
        fn = option(fn)
    return fn


def _filter(
    topic: str | None, feed: str | None, since: str | None, flagged: bool, limit: int | None
) -> ArticleFilter:
    return ArticleFilter(topic=topic, feed=feed, since=parse_since(since), flagged=flagged, limit=limit)


def _record(row: ArticleRow, fmt: Format) -> dict[str, Any]:
    record = asdict(row)
    if row.text is None:
        record.pop("text")
    if fmt is Format.TABLE:
        record["time"] = short(row.time)
    return record


class _Reading:
    """The configured database, opened for one command and closed after it."""

    def __init__(self, config_file: str | None) -> None:
        self.runtime = load_runtime(config_file)
        self.store: Store | None = None

    def __enter__(self) -> Store:
        self.store = open_store(self.runtime)
        return self.store

    def __exit__(self, *exc: object) -> None:
        if self.store is not None:
            self.store.close()


def _known(reading: _Reading, feed: str | None, topic: str | None) -> None:
    """A misspelt filter is an error, not an empty answer."""
    if feed is not None and feed not in {f.name for f in reading.runtime.feeds}:
        raise click.UsageError(f"no feed named {feed!r} in the configuration")
    if topic is not None and topic not in {t.name for t in reading.runtime.topics}:
        names = ", ".join(t.name for t in reading.runtime.topics)
        raise click.UsageError(f"no topic named {topic!r} (topics: {names})")


@click.command()
@config_option
@_filters
@click.option("--limit", default=50, show_default=True)
@format_options()
def articles(
    config_file: str | None, topic: str | None, feed: str | None, since: str | None, flagged: bool, limit: int
) -> None:
    """List stored stories, newest first, with the topics that flagged them."""
    fmt = chosen_format()
    reading = _Reading(config_file)
    _known(reading, feed, topic)
    with reading as store:
        rows = list_articles(store.db, _filter(topic, feed, since, flagged, limit))
    emit((_record(r, fmt) for r in rows), ARTICLE_COLUMNS, fmt, empty="no stories match")


@click.command()
@config_option
@click.argument("article", type=int)
@click.option("--text", "full_text", is_flag=True, help="Print the whole stored text.")
@format_options(csv_ok=False)
def show(config_file: str | None, article: int, full_text: bool) -> None:
    """Show one story: metadata, each topic's score, the rules' evidence, its alerts."""
    reading = _Reading(config_file)
    with reading as store:
        detail = article_detail(store.db, article)
    if detail is None:
        raise click.ClickException(f"no article with id {article}")
    # Every configured topic's judgement now (stored matches are the flagging topics' at the time).
    now = classify(detail.row.title, detail.text, reading.runtime.topics, detail.row.language)
    if chosen_format() is Format.JSON:
        echo_json({**asdict(detail), "scores_now": {v.topic: round(v.score, 3) for v in now}})
        return
    row = detail.row
    out = console()
    out.print(Text(plain(row.title) or "(no title)", style="bold"))
    meta = [
        ("id", row.id),
        ("feed", row.feed),
        ("url", row.url),
        ("published", detail.published_at),
        ("stored", row.discovered_at),
        ("author", detail.author),
        ("language", row.language),
        (
            "extraction",
            row.extraction_status + (f" ({detail.extraction_detail})" if detail.extraction_detail else ""),
        ),
        ("event", f"{row.event}: {detail.event_title or ''}" if row.event else None),
        ("copy of", detail.duplicate_of),
        ("labels", ", ".join(f"{t}: {'yes' if v else 'no'}" for t, v in detail.labels.items()) or None),
    ]
    for key, value in meta:
        if value is not None:
            out.print(Text(f"{key:>10}  {plain(str(value))}"))
    scores = ", ".join(f"{v.topic} {v.score:.3f}{' (flags)' if v.flagged else ''}" for v in now)
    out.print(Text(f"{'scores now':>10}  {scores}"))
    if not detail.matches:
        out.print(Text("\nno topic flagged this story when it was stored"))
    for match in detail.matches:
        out.print(
            Text(f"\n{match.topic}: score {match.score:.3f} ({match.version or 'unversioned'})", style="bold")
        )
        for line in match.evidence:
            out.print(Text(f"  - {plain(line)}"))
    if detail.alerts:
        out.print(Text("\nalerts", style="bold"))
        for a in detail.alerts:
            when = a.sent_at or a.next_attempt_at or a.created_at
            line = f"  #{a.id} {a.kind} -> {a.channel}: {a.status} ({a.attempts} attempts) {short(when)}"
            if a.last_error and a.status != "sent":
                line += f" [{plain(a.last_error)[:200]}]"
            out.print(Text(line))
    text = detail.text if full_text else detail.text[:600] + ("…" if len(detail.text) > 600 else "")
    out.print(Text("\n" + text))


def _highlighted(snippet: str) -> Text:
    out = Text()
    # plain() keeps the markers (private-use characters), so the text is cleaned once, whole.
    for n, part in enumerate(plain(snippet).replace(MARK_END, MARK_START).split(MARK_START)):
        out.append(part, style="bold yellow" if n % 2 else None)
    return out


@click.command()
@config_option
@click.argument("query")
@_filters
@click.option("--limit", default=20, show_default=True)
@click.option("--raw", is_flag=True, help='QUERY is FTS5 syntax (OR, NEAR, prefix*, "a phrase").')
@format_options()
def search(
    config_file: str | None,
    query: str,
    topic: str | None,
    feed: str | None,
    since: str | None,
    flagged: bool,
    limit: int,
    raw: bool,
) -> None:
    """Full-text search of stored stories (every word must occur), best match first."""
    fmt = chosen_format()
    reading = _Reading(config_file)
    _known(reading, feed, topic)
    with reading as store:
        try:
            hits = search_articles(store.db, query, _filter(topic, feed, since, flagged, limit), raw=raw)
        except StoreError as exc:
            raise click.ClickException(str(exc)) from None
    if fmt is not Format.TABLE:
        records = []
        for hit in hits:
            record = _record(hit.row, fmt)
            record["snippet"] = hit.snippet.replace(MARK_START, "«").replace(MARK_END, "»")
            record["rank"] = round(hit.rank, 3)
            records.append(record)
        emit(records, (*ARTICLE_COLUMNS, Column("snippet", "snippet"), Column("rank", "rank")), fmt)
        return
    if not hits:
        click.echo(f"no stories match {query!r}")
        return
    out = console()
    for hit in hits:
        row = hit.row
        topics = " ".join(f"{t} {s:.2f}" for t, s in row.topics.items())
        head = f"#{row.id}  {short(row.time)}  {plain(row.feed)}" + (f"  [{topics}]" if topics else "")
        out.print(Text(head, style="dim"))
        out.print(Text(plain(row.title), style="bold"))
        out.print(_highlighted(hit.snippet))
        out.print()


FEED_COLUMNS = (
    Column("name", "feed", max_width=30),
    Column("last_polled_at", "last poll"),
    Column("last_status", "http", justify="right"),
    Column("last_new", "new", justify="right"),
    Column("articles", "stories", justify="right"),
    Column("flagged", "flagged", justify="right"),
    Column("consecutive_errors", "errors", justify="right"),
    Column("notice", "notice"),
    Column("next_poll_at", "next poll"),
    Column("last_error", "last error", max_width=70),
)


@click.command()
@config_option
@click.option("--failing", is_flag=True, help="Only feeds whose last poll failed.")
@format_options()
def feeds(config_file: str | None, failing: bool) -> None:
    """Every feed: last poll, HTTP status, new entries, errors, next poll. Failing feeds first."""
    fmt = chosen_format()
    reading = _Reading(config_file)
    configured = {f.name for f in reading.runtime.feeds}
    with reading as store:
        rows = [r for r in list_feeds(store.db) if r.name in configured and (r.failing or not failing)]
    records = []
    for row in rows:
        record = asdict(row)
        record["url"] = redact_url(row.url)
        record["failing"] = row.failing
        if fmt is Format.TABLE:
            for key in ("last_polled_at", "next_poll_at"):
                record[key] = short(record[key])
            if row.last_status is None and row.last_polled_at:
                record["last_status"] = "---"
        records.append(record)
    if fmt is Format.TABLE:
        polled = {r.name for r in rows}
        records += [
            {"name": name, "last_polled_at": "never"} for name in sorted(configured - polled) if not failing
        ]
    emit(
        records,
        FEED_COLUMNS,
        fmt,
        empty="no failing feeds" if failing else "no feeds",
        row_style=lambda r: "red" if r.get("failing") else None,
    )
    if fmt is Format.TABLE and rows:
        bad = sum(r.failing for r in rows)
        click.echo(
            f"{len(configured)} feeds, {bad} failing" + (" (in red)" if bad and sys.stdout.isatty() else "")
        )


@click.command(name="stats")
@config_option
@click.option(
    "--since", default="30d", show_default=True, help="A period (7d) or a date; 'all' for everything."
)
@format_options(csv_ok=False)
def stats_command(config_file: str | None, since: str) -> None:
    """Stories per topic, feed and day, and alert delivery per channel."""
    start = None if since == "all" else parse_since(since)
    with _Reading(config_file) as store:
        figures = stats(store.db, start)
    if chosen_format() is Format.JSON:
        echo_json(asdict(figures))
        return
    click.echo(
        f"since {short(figures.since) or 'the beginning'}: {figures.articles} stories, "
        f"{figures.flagged} flagged; extraction: "
        + ", ".join(f"{k} {v}" for k, v in figures.extraction.items())
    )
    topics = sorted({k for day in figures.days for k in day} - {"day", "articles", "flagged"})
    sections: list[tuple[str, list[dict[str, Any]], tuple[Column, ...]]] = [
        (
            "per topic",
            figures.topics,
            (
                Column("topic", "topic"),
                Column("stories", "stories", justify="right"),
                Column("events", "events", justify="right"),
                Column("alerts_sent", "alerts sent", justify="right"),
            ),
        ),
        (
            "per day",
            figures.days,
            (
                Column("day", "day"),
                Column("articles", "stories", justify="right"),
                Column("flagged", "flagged", justify="right"),
                *(Column(t, t, justify="right") for t in topics),
            ),
        ),
        (
            "per feed",
            figures.feeds,
            (
                Column("feed", "feed", max_width=40),
                Column("articles", "stories", justify="right"),
                Column("flagged", "flagged", justify="right"),
                Column("extracted", "full text", justify="right"),
            ),
        ),
        (
            "alert delivery",
            figures.alerts,
            (
                Column("channel", "channel"),
                Column("kind", "kind"),
                Column("sent", "sent", justify="right"),
                Column("pending", "pending", justify="right"),
                Column("failed", "failed", justify="right"),
            ),
        ),
    ]
    for title, records, columns in sections:
        click.echo("")
        emit(records, columns, Format.TABLE, title=title, empty=f"{title}: nothing yet")


@click.command()
@config_option
@_filters
@click.option("--format", "fmt", type=click.Choice(["csv", "jsonl"]), default="jsonl", show_default=True)
@click.option("--limit", default=None, type=int, help="At most this many stories (default: all).")
@click.option(
    "--output", "-o", type=click.File("w", encoding="utf-8"), default="-", help="File (default: stdout)."
)
def export(
    config_file: str | None,
    topic: str | None,
    feed: str | None,
    since: str | None,
    flagged: bool,
    fmt: str,
    limit: int | None,
    output: Any,
) -> None:
    """Export stored stories with their text, oldest first, as JSON lines or CSV."""
    columns = (
        "id",
        "time",
        "discovered_at",
        "feed",
        "title",
        "url",
        "language",
        "extraction_status",
        "event",
        "topics",
        "text",
    )
    reading = _Reading(config_file)
    _known(reading, feed, topic)
    with reading as store:
        rows: Iterator[ArticleRow] = export_articles(store.db, _filter(topic, feed, since, flagged, limit))
        if fmt == "csv":
            writer = csv.writer(output, lineterminator="\n")
            writer.writerow(columns)
            for row in rows:
                record = asdict(row)
                writer.writerow([csv_cell(record[c]) for c in columns])
        else:
            for row in rows:
                output.write(json.dumps(asdict(row), ensure_ascii=False) + "\n")


@click.command()
@config_option
@format_options(csv_ok=False)
def status(config_file: str | None) -> None:
    """Is the daemon doing its job? Exit 1 when no feed has been polled successfully for longer
    than health.stale_after (for systemd, Docker HEALTHCHECK and cron)."""
    reading = _Reading(config_file)
    with reading as store:
        state = health(store.db, utcnow(), reading.runtime.settings.health.stale_after)
    queue, trouble = _queue(reading.runtime.settings)
    healthy = state.healthy and trouble is None
    if chosen_format() is Format.JSON:
        echo_json({**asdict(state), "healthy": healthy} | ({"queue": queue} if queue else {}))
    else:
        click.echo(f"{'healthy' if healthy else 'UNHEALTHY'}: {trouble or state.reason}")
        click.echo(
            f"  last poll {short(state.last_poll_at) or 'never'}, "
            f"last successful poll {short(state.last_ok_at) or 'never'}"
        )
        noticed = ", ".join(f"{n} {kind}" for kind, n in sorted(state.feeds_noticed.items()))
        click.echo(
            f"  feeds: {state.feeds}, failing {state.feeds_failing}"
            + (f" (notices: {noticed})" if noticed else "")
        )
        a = state.alerts
        click.echo(
            f"  alerts: {a['pending']} pending, {a['sent']} sent, {a['failed']} failed"
            + (
                f"; oldest pending since {short(state.oldest_pending_alert)}"
                if state.oldest_pending_alert
                else ""
            )
        )
        n = state.notices
        if any(n.values()):
            click.echo(f"  notices: {n['pending']} pending, {n['sent']} sent, {n['failed']} failed")
        if queue:
            click.echo(
                f"  queue: {queue['depth']} tasks waiting, {queue['workers']} workers seen in 5 minutes, "
                f"{queue['redispatched']} tasks sent again"
                if "error" not in queue
                else f"  queue: {queue['error']}"
            )
    if not healthy:
        sys.exit(EXIT_PROBLEMS)


def _queue(settings: Settings) -> tuple[dict[str, Any] | None, str | None]:
    """With ``executor: celery``: the broker's figures, and what is wrong with them (the broker
    unreachable, or work waiting with no worker taking any)."""
    if settings.executor != "celery" or not settings.broker:
        return None, None
    from ..execute.remote import queue_stats

    try:
        stats = queue_stats(settings.broker)
    except Exception as exc:  # redis' errors
        error = f"broker {redact_url(settings.broker, guess=False)} unreachable: {exc}"
        return {"error": error}, error
    figures: dict[str, Any] = asdict(stats)
    if stats.depth and not stats.workers:
        return figures, f"{stats.depth} tasks waiting and no worker answered in 5 minutes"
    return figures, None
