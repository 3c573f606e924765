"""The README is the manual: it must document every command and its examples must load."""

from __future__ import annotations

import re
import typing
from typing import Any

import click
import pytest
import yaml
from pydantic import BaseModel

from monitor.cli import cli
from monitor.config import Settings, parse_settings
from monitor.notify import build_channels
from monitor.stages.classify import load_topics
from tests.conftest import ROOT

README = (ROOT / "README.md").read_text(encoding="utf-8")


def yaml_blocks() -> list[str]:
    return re.findall(r"```yaml\n(.*?)```", README, flags=re.DOTALL)


def command_paths(group: click.Group, prefix: str = "monitor") -> list[str]:
    """Every command and subcommand, as typed: ``monitor alerts retry``."""
    paths = []
    for name, command in sorted(group.commands.items()):
        paths.append(f"{prefix} {name}")
        if isinstance(command, click.Group):
            paths += command_paths(command, f"{prefix} {name}")
    return paths


def command_table() -> set[str]:
    """The commands the README's "Command line" table has a row for."""
    section = README.split("## Command line", 1)[1].split("\n## ", 1)[0]
    return set(re.findall(r"^\| `(monitor(?: [a-z][a-z-]*)+)", section, flags=re.MULTILINE))


@pytest.mark.parametrize("path", command_paths(cli))
def test_every_command_is_documented(path: str) -> None:
    assert path in command_table()


def test_command_table_lists_only_real_commands() -> None:
    assert command_table() == set(command_paths(cli))


def test_quickstart_is_two_make_commands() -> None:
    quick = README.split("## Quickstart", 1)[1].split("```sh", 1)[1].split("```", 1)[0]
    assert [line.split("#")[0].strip() for line in quick.strip().splitlines()] == ["make run", "make test"]


def test_configuration_example_loads(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TG_TOKEN", "123:abc")
    monkeypatch.setenv("TG_CHAT", "42")
    monkeypatch.setenv("SMTP_USER", "monitor")
    monkeypatch.setenv("SMTP_PASSWORD", "pw")
    config_example = next(b for b in yaml_blocks() if b.startswith("database:"))
    settings = parse_settings(yaml.safe_load(config_example))
    assert settings.notify[0].topics == ["missile_launch"]
    channels = build_channels(settings.notify, ["missile_launch", "sanctions"], settings.timezone)
    assert [c.mode for c in channels] == ["instant", "digest", "instant"]
    assert [c.ops for c in channels] == [False, False, True]


def test_topics_example_compiles() -> None:
    example = next(b for b in yaml_blocks() if b.startswith("topics:"))
    topics = load_topics(yaml.safe_load(example)["topics"])
    assert [t.name for t in topics] == ["sanctions", "nuclear_test"]


def models(annotation: Any) -> list[type[BaseModel]]:
    """FetchSettings -> [FetchSettings]; list[FeedSpec | OpmlSpec] -> [FeedSpec, OpmlSpec]."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [m for arg in typing.get_args(annotation) for m in models(arg)]


def documented_keys() -> dict[str, set[str]]:
    """Keys of the README's configuration example, per section (every entry of a list)."""
    example = yaml.safe_load(next(b for b in yaml_blocks() if b.startswith("database:")))
    keys = {"": set(example)}
    for section, value in example.items():
        items = value if isinstance(value, list) else [value]
        keys[section] = {k for item in items if isinstance(item, dict) for k in item}
    return keys


CONFIG_KEYS = list(
    dict.fromkeys(
        [("", name) for name in Settings.model_fields]
        + [
            (name, sub)
            for name, field in Settings.model_fields.items()
            for model in models(field.annotation)
            for sub in model.model_fields
        ]
    )
)


@pytest.mark.parametrize(
    ("section", "key"), CONFIG_KEYS, ids=[f"{s}.{k}".lstrip(".") for s, k in CONFIG_KEYS]
)
def test_every_config_key_is_in_the_example(section: str, key: str) -> None:
    """Each key within its own section: ``extract.timeout`` is not satisfied by ``fetch.timeout``."""
    assert key in documented_keys()[section], f"{section or '(top level)'}: {key} missing from the example"
