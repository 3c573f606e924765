"""How review commands print: a table on a terminal (rich), JSON lines or CSV for scripts.

Every cell is feed text until proven otherwise: it goes through ``plain`` (control and bidi
characters removed) and into rich as ``Text``, never as markup, so a headline reading
"[link=...]" is shown as written.
"""

from __future__ import annotations

import csv
import json
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, TypeVar

import click
from rich.console import Console, JustifyMethod
from rich.table import Table
from rich.text import Text

from ..notify import plain

F = TypeVar("F", bound=Callable[..., Any])


class Format(StrEnum):
    TABLE = "table"
    JSON = "json"
    CSV = "csv"


def format_options(*, csv_ok: bool = True) -> Callable[[F], F]:
    """``--json`` (and ``--csv``), mutually exclusive; the command reads its choice with
    ``chosen_format()``."""

    def decorate(fn: F) -> F:
        def pick(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
            if value:
                chosen = ctx.meta.get("monitor.format")
                if chosen not in (None, _param.name):
                    raise click.UsageError("choose one of --json and --csv")
                ctx.meta["monitor.format"] = _param.name

        options = [
            click.option(
                "--json", "json", is_flag=True, expose_value=False, callback=pick, help="JSON for scripts."
            )
        ]
        if csv_ok:
            options.append(
                click.option("--csv", "csv", is_flag=True, expose_value=False, callback=pick, help="CSV.")
            )
        for option in options:
            fn = option(fn)
        return fn

    return decorate


def chosen_format() -> Format:
    return Format(click.get_current_context().meta.get("monitor.format") or "table")


@dataclass(frozen=True, slots=True)
class Column:
    key: str
    header: str
    justify: JustifyMethod = "left"
    max_width: int | None = None


def console() -> Console:
    """Colours on a terminal; plain text, wide enough for a log line, when piped."""
    tty = sys.stdout.isatty()
    return Console(highlight=False, soft_wrap=False, width=None if tty else 200, no_color=not tty)


def cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.3f}"
    if isinstance(value, dict):
        return " ".join(f"{k} {cell(v)}" for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return ", ".join(cell(v) for v in value)
    return plain(str(value))


def table(
    records: Sequence[dict[str, Any]],
    columns: Sequence[Column],
    *,
    title: str | None = None,
    row_style: Callable[[dict[str, Any]], str | None] | None = None,
) -> Table:
    grid = Table(title=title, title_justify="left", header_style="bold", expand=False)
    for c in columns:
        grid.add_column(c.header, justify=c.justify, max_width=c.max_width, overflow="ellipsis", no_wrap=True)
    for record in records:
        grid.add_row(
            *(Text(cell(record.get(c.key))) for c in columns), style=row_style(record) if row_style else None
        )
    return grid


def emit(
    records: Iterable[dict[str, Any]],
    columns: Sequence[Column],
    fmt: Format,
    *,
    title: str | None = None,
    empty: str = "nothing to show",
    row_style: Callable[[dict[str, Any]], str | None] | None = None,
) -> int:
    """Print records in the chosen format; returns how many. JSON: one object per line."""
    if fmt is Format.JSON:
        n = 0
        for n, record in enumerate(records, 1):  # noqa: B007 - the count is the result
            click.echo(json.dumps(record, ensure_ascii=False, default=str))
        return n
    if fmt is Format.CSV:
        writer = csv.writer(sys.stdout, lineterminator="\n")
        writer.writerow([c.key for c in columns])
        n = 0
        for n, record in enumerate(records, 1):  # noqa: B007
            writer.writerow([csv_cell(record.get(c.key)) for c in columns])
        return n
    rows = list(records)
    if not rows:
        click.echo(empty)
        return 0
    console().print(table(rows, columns, title=title, row_style=row_style))
    return len(rows)


def csv_cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, (dict, list, tuple)):
        return json.dumps(value, ensure_ascii=False)
    if not isinstance(value, str):
        return str(value)
    text = value
    # A cell starting with = + - @ is a formula to a spreadsheet: feed text must not run there.
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def echo_json(value: Any) -> None:
    click.echo(json.dumps(value, ensure_ascii=False, default=str, indent=2))
