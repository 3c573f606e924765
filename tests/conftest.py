from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.loopback import Site

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT.parent / "shared" / "corpus"


@pytest.fixture
def site() -> Iterator[Site]:
    s = Site().start()
    yield s
    s.stop()


@pytest.fixture
def corpus() -> Path:
    if not CORPUS.is_dir():
        pytest.skip("../shared/corpus is absent")
    return CORPUS


def write_config(tmp_path: Path, **data: Any) -> Path:
    """A config.yaml for tests: loopback allowed, in-thread extraction, fast timeouts."""
    cfg: dict[str, Any] = {
        "database": str(tmp_path / "monitor.db"),
        "fetch": {"allow_private_addresses": True, "timeout": "5s"},
        "extract": {"workers": 0},
        "schedule": {"default_interval": "15m", "jitter": "0s"},
    }
    for key, value in data.items():
        if isinstance(value, dict) and isinstance(cfg.get(key), dict):
            cfg[key] = {**cfg[key], **value}
        else:
            cfg[key] = value
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return path


@pytest.fixture
def cli_env() -> dict[str, str]:
    """Environment for subprocess runs of the monitor CLI."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MONITOR_")}
    env["PYTHONUNBUFFERED"] = "1"
    return env


MONITOR = [sys.executable, "-m", "monitor"]
