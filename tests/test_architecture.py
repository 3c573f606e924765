"""The layout is the architecture: no module imports from a layer above its own, stages do no
I/O, and the service and delivery layers see storage only through its ports."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT

PACKAGE = ROOT / "monitor"

# Lowest first. A module may import from its own layer and the layers below.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("monitor.errors", "monitor.records", "monitor.clock"),
    ("monitor.config",),
    ("monitor.stages",),
    ("monitor.fetch", "monitor.store"),
    ("monitor.notify",),
    ("monitor.execute",),
    ("monitor.service",),
    ("monitor.daemon",),
    ("monitor.cli", "monitor.__main__"),
)
IO_LIBRARIES = {
    "aiohttp",
    "httpx",
    "httpcore",
    "socket",
    "sqlite3",
    "sqlite_utils",
    "apprise",
    "asyncio",
    "subprocess",
}


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path, name: str | None = None) -> set[str]:
    """Absolute names of everything a module imports (relative imports resolved)."""
    name = name or module_name(path)
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                target = f"{base}.{node.module}" if node.module else base
                found.add(target)
                found.update(f"{target}.{alias.name}" for alias in node.names)
            elif node.module:
                found.add(node.module)
    return found


def layer(name: str) -> int | None:
    for level, prefixes in enumerate(LAYERS):
        if any(name == p or name.startswith(p + ".") for p in prefixes):
            return level
    return None


MODULES = sorted(p for p in PACKAGE.rglob("*.py") if module_name(p) != "monitor")


def test_every_module_has_a_layer() -> None:
    assert MODULES
    assert [module_name(p) for p in MODULES if layer(module_name(p)) is None] == []


@pytest.mark.parametrize("path", MODULES, ids=module_name)
def test_no_module_imports_from_a_layer_above(path: Path) -> None:
    own = layer(module_name(path))
    assert own is not None
    upward = sorted(name for name in imports(path) if (level := layer(name)) is not None and level > own)
    assert upward == []


def test_stages_do_no_io() -> None:
    for path in (PACKAGE / "stages").rglob("*.py"):
        used = {name.split(".")[0] for name in imports(path)}
        assert not used & IO_LIBRARIES, (path, used & IO_LIBRARIES)
        assert not {n for n in imports(path) if n.startswith(("monitor.fetch", "monitor.store"))}, path


@pytest.mark.parametrize("package", ["notify", "service", "execute", "daemon"])
def test_service_and_delivery_see_storage_only_through_ports(package: str) -> None:
    paths = [PACKAGE / f"{package}.py"] if (PACKAGE / f"{package}.py").exists() else []
    paths += list((PACKAGE / package).rglob("*.py")) if (PACKAGE / package).is_dir() else []
    assert paths
    for path in paths:
        store = {n for n in imports(path) if n.startswith("monitor.store")}
        assert store <= {"monitor.store.ports"} | {
            n for n in store if n.startswith("monitor.store.ports.")
        }, (
            path,
            store,
        )


def test_the_checker_sees_an_upward_import(tmp_path: Path) -> None:
    """The rules above are only as good as the import reader: upward imports, relative or
    absolute, must be seen."""
    fake = tmp_path / "fake.py"
    fake.write_text("from ..service.poll import Poller\nimport monitor.store.sqlite\nfrom . import parse\n")
    found = imports(fake, "monitor.stages.fake")
    assert {"monitor.service.poll", "monitor.store.sqlite", "monitor.stages.parse"} <= found
    assert layer("monitor.service.poll") == 6 and layer("monitor.stages.fake") == 2


def test_the_daemon_leaves_heavy_libraries_to_the_processes_that_need_them() -> None:
    """The daemon's process holds the CLI and the daemon, not extraction (trafilatura, lxml: in
    the workers), training (scikit-learn, SciPy), datasketch or the Redis client (scale-out only):
    together over 100 MB that a small server would carry for nothing."""
    heavy = ["trafilatura", "lxml", "sklearn", "scipy", "datasketch", "redis", "celery"]
    code = (
        "import sys, monitor.cli, monitor.daemon, monitor.stages.group.cluster, monitor.stages.group.sketch\n"
        f"print(sorted(m for m in {heavy!r} if m in sys.modules))"
    )
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert loaded.stdout.strip() == "[]", loaded.stdout
