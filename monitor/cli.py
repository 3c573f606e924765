"""The ``monitor`` command line. Only parses arguments, calls one library function, renders.

Exit codes: 0 success; 1 ``check`` found problems, or a command failed at run time;
2 configuration error (or a usage error).
"""

from __future__ import annotations

import asyncio
import json
import logging
import sys
import tempfile
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any, TextIO, TypeVar

import click

from . import __version__
from .classify import Topic, load_topics
from .classify import classify as classify_text
from .config import config_path, load_settings, parse_duration
from .errors import ConfigError, MonitorError, StoreError
from .evaluate import BadLine, Story, error_record, evaluate, read_stories, verdict_record
from .extract import extract_article
from .fetch import Fetcher
from .notify import plain, send_test
from .pipeline import Pipeline, Runtime, poll_once, prepare, utcnow
from .pipeline import reclassify as run_reclassify
from .records import DeliveryResult
from .store import Store

F = TypeVar("F", bound=Callable[..., Any])
log = logging.getLogger("monitor")

EXIT_PROBLEMS = 1
EXIT_CONFIG = 2


def _inherit_config(ctx: click.Context, _param: click.Parameter, value: str | None) -> str | None:
    """``monitor --config X run`` and ``monitor run --config X`` both work."""
    return value if value is not None else (ctx.obj or {}).get("config_file")


def config_option(fn: F) -> F:
    return click.option(
        "--config",
        "config_file",
        type=click.Path(dir_okay=False),
        default=None,
        callback=_inherit_config,
        help="Configuration file (default: $MONITOR_CONFIG, else config.yaml).",
    )(fn)


def _setup_logging(level: str) -> None:
    logging.basicConfig(
        level=getattr(logging, level.upper()),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    # httpx logs every request URL at INFO; apprise can be chatty. Ours say what matters.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    logging.getLogger("trafilatura").setLevel(logging.ERROR)


def _config_failure(exc: ConfigError) -> None:
    where = f"{exc.source}: " if exc.source else ""
    click.echo(f"monitor: configuration error in {where.rstrip(': ') or 'configuration'}:", err=True)
    for problem in exc.problems:
        click.echo(f"  - {problem}", err=True)
    sys.exit(EXIT_CONFIG)


def _load_runtime(config_file: str | None) -> Runtime:
    try:
        return prepare(load_settings(config_path(config_file)))
    except ConfigError as exc:
        if exc.source is None:
            exc.source = str(config_path(config_file))
        _config_failure(exc)
        raise  # unreachable


def _open_store(runtime: Runtime) -> Store:
    try:
        return Store(runtime.settings.database)
    except StoreError as exc:
        raise click.ClickException(str(exc)) from None


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="monitor")
@click.option(
    "--log-level",
    type=click.Choice(["debug", "info", "warning", "error"], case_sensitive=False),
    default="info",
    show_default=True,
)
@click.option(
    "--config",
    "config_file",
    type=click.Path(dir_okay=False),
    default=None,
    help="Configuration file for the command (it may also follow the command).",
)
@click.pass_context
def cli(ctx: click.Context, log_level: str, config_file: str | None) -> None:
    """News monitor: polls feeds, flags missile-launch and sanctions stories, alerts you."""
    ctx.obj = {"config_file": config_file}
    _setup_logging(log_level)


@cli.command()
@config_option
def run(config_file: str | None) -> None:
    """Run the daemon in the foreground until SIGTERM or Ctrl-C."""
    from .daemon import Daemon

    runtime = _load_runtime(config_file)
    store = _open_store(runtime)
    try:
        asyncio.run(Daemon(runtime, store).run())
    finally:
        store.close()


@cli.command()
@config_option
@click.option("--feed", "feeds", multiple=True, help="Poll only this feed (by name); repeatable.")
def poll(config_file: str | None, feeds: tuple[str, ...]) -> None:
    """Poll every feed (or --feed NAME) once, deliver due alerts, print a summary."""
    runtime = _load_runtime(config_file)
    unknown = [f for f in feeds if f not in {x.name for x in runtime.feeds}]
    if unknown:
        raise click.UsageError(f"no feed named {unknown[0]!r} in the configuration")
    store = _open_store(runtime)
    try:
        reports, deliveries = asyncio.run(poll_once(runtime, store, feeds or None))
    finally:
        store.close()
    width = max((len(r.feed) for r in reports), default=4)
    for r in reports:
        status = "304" if r.not_modified else (str(r.status) if r.status else "---")
        line = f"{plain(r.feed):<{width}}  {status:>3}  new {r.new:>3}  flagged {r.flagged:>3}"
        line += f"  {r.duration:6.2f}s"
        if r.error:
            line += f"  error: {plain(r.error)[:200]}"
        click.echo(line)
    failed = sum(1 for r in reports if r.error and r.new == 0)
    click.echo(
        f"{len(reports)} feeds polled, {failed} failed, {sum(r.new for r in reports)} new articles, "
        f"{sum(r.flagged for r in reports)} flagged; "
        f"{sum(d.ok for d in deliveries)} alerts sent, {sum(not d.ok for d in deliveries)} failed"
    )


@cli.command()
@config_option
def check(config_file: str | None) -> None:
    """Validate the configuration; print every problem with its key. Exit 1 if any."""
    path = config_path(config_file)
    try:
        runtime = prepare(load_settings(path))
    except ConfigError as exc:
        click.echo(f"{path}: {len(exc.problems)} problem(s)")
        for problem in exc.problems:
            click.echo(f"  - {problem}")
        sys.exit(EXIT_PROBLEMS)
    click.echo(
        f"{path}: ok ({len(runtime.feeds)} feeds, {len(runtime.topics)} topics: "
        f"{', '.join(t.name for t in runtime.topics)}; {len(runtime.channels)} channels)"
    )
    for channel in runtime.channels:
        click.echo(f"  channel {channel.name}: {channel.display}")


@cli.command()
@config_option
@click.option(
    "--seeds",
    "seeds_dir",
    type=click.Path(file_okay=False, exists=True, path_type=Path),
    default=None,
    help="Folder of seed articles (*.txt: headline, then body). Default: the bundled seeds/.",
)
def demo(config_file: str | None, seeds_dir: Path | None) -> None:
    """Offline end-to-end run: serve the seed articles on loopback, poll, show what is flagged.

    Uses the configuration's topics when there is a configuration file (feeds, channels and the
    database are the demo's own)."""
    from .demo import default_seeds_dir, run_demo

    path = config_path(config_file)
    topics = None
    if config_file is not None or path.exists():
        try:
            topics = load_settings(path).topics
        except ConfigError as exc:
            _config_failure(exc)
    with tempfile.TemporaryDirectory(prefix="monitor-demo-") as tmp:
        try:
            result = run_demo(seeds_dir or default_seeds_dir(), Path(tmp) / "demo.db", topics)
        except (FileNotFoundError, MonitorError) as exc:
            raise click.ClickException(str(exc)) from None
    for r in result.reports:
        click.echo(f"polled {r.feed}: HTTP {r.status}, {r.new} new articles, {r.flagged} flagged")
    click.echo(f"{result.stored} articles stored, {len(result.flagged)} flagged\n")
    for alert, title, body in result.flagged:
        scores = ", ".join(f"{v.topic} ({v.score:.2f})" for v in alert.matches)
        click.echo(f"FLAGGED: {plain(alert.title)}\n  topics: {scores}")
        click.echo("  alert that would be sent:")
        click.echo(f"    title: {title}")
        for line in body.splitlines():
            click.echo(f"    | {line}")
        click.echo("")


def _load_topics(config_file: str | None) -> tuple[Topic, ...]:
    """Topics from the configuration; the built-ins when no config file exists and none was named."""
    path = config_path(config_file)
    if config_file is None and not path.exists():
        return load_topics()
    return _load_runtime(config_file).topics


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
        extracted = extract_article(raw)
        return extracted.title or "", extracted.text
    head, _, body = raw.decode("utf-8", errors="replace").strip().partition("\n")
    return head.strip(), body.strip()


@cli.command()
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
    topics = _load_topics(config_file)
    if jsonl is not None:
        for item in read_stories(jsonl):
            if isinstance(item, BadLine):
                record = error_record(item)
            else:
                record = verdict_record(item, classify_text(item.title, item.text, topics))
            click.echo(json.dumps(record, ensure_ascii=False))
        return
    assert source is not None
    title, text = _read_document(source)
    click.echo(f"title: {plain(title) or '(none)'}")
    for v in classify_text(title, text, topics):
        click.echo(f"{v.topic:<20} {v.score:5.2f}  {'FLAGGED' if v.flagged else '-'}")
        for quote in v.evidence:
            click.echo(f"    > {plain(quote)}")


@cli.command(name="eval")
@config_option
@click.argument("labelled", type=click.File("r", encoding="utf-8"))
@click.option("--show", default=15, show_default=True, help="False positives/negatives listed per topic.")
def eval_command(config_file: str | None, labelled: TextIO, show: int) -> None:
    """Precision, recall and F1 per topic on labelled stories ({id, title, text, <topic>: 0/1})."""
    topics = _load_topics(config_file)
    stories: list[Story] = []
    bad: list[BadLine] = []
    for item in read_stories(labelled, [t.name for t in topics]):
        if isinstance(item, BadLine):
            bad.append(item)
        else:
            stories.append(item)
    for b in bad:
        click.echo(f"skipped {b.error}", err=True)
    ambiguous = sum(1 for s in stories if s.ambiguous)
    runs = [("all stories", False), ("without ambiguous", True)] if ambiguous else [("all stories", False)]
    figures = {}
    for label, skip in runs:
        figures[label] = evaluate(stories, topics, skip_ambiguous=skip)
        click.echo(f"{label} ({len(stories) - (ambiguous if skip else 0)}):")
        click.echo(f"  {'topic':<20} {'precision':>9} {'recall':>7} {'F1':>6}   tp   fp   fn")
        for f in figures[label]:
            rates = f"{f.precision:9.3f} {f.recall:7.3f} {f.f1:6.3f}"
            click.echo(f"  {f.topic:<20} {rates} {f.tp:4d} {f.fp:4d} {f.fn:4d}")
    for f in figures["all stories"]:
        for kind, misses in (("false positives", f.false_positives), ("false negatives", f.false_negatives)):
            if not misses or show <= 0:
                continue
            click.echo(f"\n{f.topic}: {kind} ({len(misses)}, showing {min(show, len(misses))})")
            for m in misses[:show]:
                click.echo(f"  [{m.id}] {m.score:.2f} {plain(m.title)[:120]}")
                for quote in m.evidence[:2]:
                    click.echo(f"      > {plain(quote)[:160]}")


@cli.command()
@config_option
@click.option("--since", default=None, help="Only articles discovered within this period (e.g. 30d).")
@click.option("--topic", "topics", multiple=True, help="Only this topic; repeatable.")
@click.option(
    "--alert", is_flag=True, help="Queue and send alerts for newly flagged stories within alerts.max_age."
)
def reclassify(config_file: str | None, since: str | None, topics: tuple[str, ...], alert: bool) -> None:
    """Re-score stored articles with the current topic definitions and report what changed."""
    runtime = _load_runtime(config_file)
    unknown = [t for t in topics if t not in {x.name for x in runtime.topics}]
    if unknown:
        raise click.UsageError(f"no enabled topic named {unknown[0]!r}")
    try:
        cutoff = utcnow() - timedelta(seconds=parse_duration(since)) if since else None
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--since") from None
    store = _open_store(runtime)
    try:
        report = run_reclassify(runtime, store, since=cutoff, topic_names=topics or None, alert=alert)
        deliveries: list[DeliveryResult] = []
        if alert and report.alerts_queued:
            deliveries = asyncio.run(_deliver(runtime, store))
    finally:
        store.close()
    for label, items in (("newly flagged", report.newly_flagged), ("no longer flagged", report.unflagged)):
        for r in items:
            before = f"{r.before:.2f}" if r.before is not None else "-"
            click.echo(
                f"{label}: [{r.article_id}] {r.topic} {before} -> {r.after.score:.2f}  {plain(r.title)[:100]}"
            )
    click.echo(
        f"{report.articles} articles re-scored: {len(report.newly_flagged)} newly flagged, "
        f"{len(report.unflagged)} no longer flagged, {report.rescored} scores updated; "
        f"{report.alerts_queued} alerts queued, {sum(d.ok for d in deliveries)} sent"
    )


async def _deliver(runtime: Runtime, store: Store) -> list[DeliveryResult]:
    async with Fetcher(runtime.settings.fetch) as fetcher:
        pipeline = Pipeline(runtime, store, fetcher)
        try:
            return await pipeline.deliver()
        finally:
            pipeline.close()


@cli.command(name="notify-test")
@config_option
@click.option("--channel", "names", multiple=True, help="Only this channel (by name); repeatable.")
def notify_test(config_file: str | None, names: tuple[str, ...]) -> None:
    """Send a test message to each channel and report the result per channel (exit 1 if any failed)."""
    runtime = _load_runtime(config_file)
    channels = [c for c in runtime.channels if not names or c.name in names]
    unknown = set(names) - {c.name for c in runtime.channels}
    if unknown:
        raise click.UsageError(f"no channel named {sorted(unknown)[0]!r}")
    if not channels:
        raise click.ClickException("no notification channels are configured (notify: in the config)")

    async def run_all() -> list[str | None]:
        now = utcnow()
        return [await send_test(c, now) for c in channels]

    failed = 0
    for channel, error in zip(channels, asyncio.run(run_all()), strict=True):
        if error is None:
            click.echo(f"ok      {channel.name}  ({channel.display})")
        else:
            failed += 1
            click.echo(f"FAILED  {channel.name}  ({channel.display}): {plain(error)}")
    if failed:
        sys.exit(EXIT_PROBLEMS)


@cli.group(invoke_without_command=True)
@config_option
@click.option("--status", type=click.Choice(["pending", "sent", "failed"]), default=None)
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
@click.option("--limit", default=50, show_default=True)
@click.pass_context
def alerts(
    ctx: click.Context, config_file: str | None, status: str | None, as_json: bool, limit: int
) -> None:
    """List alerts with their delivery status (newest first). `monitor alerts retry` requeues failed ones."""
    ctx.obj = {**(ctx.obj or {}), "config_file": config_file}
    if ctx.invoked_subcommand is not None:
        return
    runtime = _load_runtime(config_file)
    store = _open_store(runtime)
    try:
        rows = store.list_alerts(status, limit)
    finally:
        store.close()
    for row in rows:
        if as_json:
            click.echo(json.dumps(row, ensure_ascii=False))
            continue
        when = row["sent_at"] or row["next_attempt_at"] or row["created_at"]
        line = f"{row['id']:>6}  {row['status']:<7} {row['attempts']:>2}x  {when}  {plain(row['channel'])}  "
        line += plain(row["title"] or "")[:80]
        if row["last_error"] and row["status"] != "sent":
            line += f"  [{plain(row['last_error'])[:120]}]"
        click.echo(line)
    if not rows and not as_json:
        click.echo("no alerts" + (f" with status {status}" if status else ""))


@alerts.command(name="retry")
@config_option
@click.option("--channel", default=None, help="Only this channel's failed alerts.")
def alerts_retry(config_file: str | None, channel: str | None) -> None:
    """Requeue failed alerts for delivery (with a fresh set of attempts)."""
    runtime = _load_runtime(config_file)
    store = _open_store(runtime)
    try:
        count = store.retry_failed(channel, utcnow())
    finally:
        store.close()
    click.echo(f"{count} failed alert(s) requeued; the daemon (or the next `monitor poll`) delivers them")


def main() -> None:
    cli(prog_name="monitor")
