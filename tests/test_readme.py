"""The README is the manual: it must document every command and its examples must load."""

from __future__ import annotations

import re

import pytest
import yaml

from monitor.classify import load_topics
from monitor.cli import cli
from monitor.config import parse_settings
from monitor.notify import build_channels
from tests.conftest import ROOT

README = (ROOT / "README.md").read_text(encoding="utf-8")


def yaml_blocks() -> list[str]:
    return re.findall(r"```yaml\n(.*?)```", README, flags=re.DOTALL)


@pytest.mark.parametrize("command", sorted(cli.commands))
def test_every_command_is_documented(command: str) -> None:
    assert f"`monitor {command}" in README


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
    assert [c.mode for c in channels] == ["instant", "digest"]


def test_topics_example_compiles() -> None:
    example = next(b for b in yaml_blocks() if b.startswith("topics:"))
    topics = load_topics(yaml.safe_load(example)["topics"])
    assert [t.name for t in topics] == ["sanctions", "nuclear_test"]


def test_every_config_key_is_documented() -> None:
    from monitor.config import Settings

    for name, field in Settings.model_fields.items():
        assert f"{name}:" in README, name
        model = field.annotation
        for sub in getattr(model, "model_fields", {}):
            assert f"  {sub}:" in README, f"{name}.{sub}"
