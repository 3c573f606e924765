"""``monitor serve``: the database in Datasette, with metadata written for this schema."""

from __future__ import annotations

import ipaddress
import tempfile
from importlib import resources
from pathlib import Path
from typing import Any

import click
import yaml

from .common import config_option, load_runtime, open_store

LOOPBACK = ("127.0.0.1", "::1", "localhost")


def datasette_metadata(database: str) -> dict[str, Any]:
    """The shipped metadata with its database key renamed to the file's stem (Datasette names
    a database after its file)."""
    text = resources.files("monitor.store").joinpath("datasette.yaml").read_text(encoding="utf-8")
    metadata: dict[str, Any] = yaml.safe_load(text)
    metadata["databases"] = {Path(database).stem: metadata["databases"]["monitor"]}
    return metadata


def _public(host: str) -> bool:
    if host in LOOPBACK:
        return False
    try:
        return not ipaddress.ip_address(host).is_loopback
    except ValueError:
        return True


@click.command()
@config_option
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind (loopback by default).")
@click.option("--port", default=8001, show_default=True, type=click.IntRange(0, 65535))
def serve(config_file: str | None, host: str, port: int) -> None:
    """Browse and search the database in Datasette, read-only, while the daemon writes it:
    canned queries (latest flagged stories, a day of one topic, feeds in error, failed alerts,
    events), facets and full-text search."""
    from datasette.cli import cli as datasette

    runtime = load_runtime(config_file)
    open_store(runtime).close()  # create or migrate it first: Datasette shows the schema it finds
    database = runtime.settings.database
    if _public(host):
        click.echo(
            f"monitor serve: listening on {host}, not loopback: anyone who can reach this port reads "
            "every stored story (put it behind a reverse proxy with authentication)",
            err=True,
        )
    with tempfile.TemporaryDirectory(prefix="monitor-serve-") as folder:
        metadata = Path(folder) / "metadata.yaml"
        metadata.write_text(yaml.safe_dump(datasette_metadata(database), sort_keys=False), encoding="utf-8")
        args = [
            "serve",
            database,
            "--metadata",
            str(metadata),
            "--host",
            host,
            "--port",
            str(port),
            "--setting",
            "allow_download",
            "off",  # browsing yes; the whole database file over HTTP, no
            "--setting",
            "sql_time_limit_ms",
            "3000",
        ]
        datasette.main(args=args, prog_name="monitor serve", standalone_mode=True)
