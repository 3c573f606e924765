"""The public API: a sorted ``__all__`` whose every name resolves, loaded lazily."""

from __future__ import annotations

import subprocess
import sys

import monitor


def test_all_is_sorted_and_every_name_resolves() -> None:
    assert monitor.__all__ == sorted(monitor.__all__)
    assert set(monitor.__all__) == set(monitor._EXPORTS) | {"__version__"}
    for name in monitor.__all__:
        assert getattr(monitor, name) is not None, name
    assert monitor.classify.__module__.startswith("monitor.")


def test_an_unknown_name_is_an_attribute_error() -> None:
    try:
        getattr(monitor, "nothing_here")  # noqa: B009
    except AttributeError as exc:
        assert "nothing_here" in str(exc)
    else:
        raise AssertionError("no AttributeError")


def test_importing_a_stage_does_not_load_the_application() -> None:
    """An extraction worker imports one stage, not apprise, aiohttp or the scheduler."""
    code = (
        "import sys, monitor.stages.extract; "
        "heavy = ('apprise', 'aiohttp', 'apscheduler', 'monitor.service'); "
        "print(sorted(m for m in heavy if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
