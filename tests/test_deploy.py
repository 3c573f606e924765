"""The deployment files as written: the systemd units' and the image's commands run here, their
paths agree with each other, and `systemd-analyze verify` (where present) finds nothing else."""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.conftest import MONITOR, ROOT

DEPLOY = ROOT / "deploy"


def unit(name: str) -> dict[str, list[str]]:
    """A systemd unit's keys (a key may repeat), comments left out."""
    keys: dict[str, list[str]] = {}
    for line in (DEPLOY / name).read_text().splitlines():
        line = line.strip()
        if line and not line.startswith(("#", "[")) and "=" in line:
            key, value = line.split("=", 1)
            keys.setdefault(key, []).append(value)
    return keys


def dockerfile() -> list[tuple[str, str]]:
    text = (DEPLOY / "Dockerfile").read_text().replace("\\\n", " ")
    lines = [line for line in text.splitlines() if line.strip() and not line.startswith("#")]
    return [(line.split(None, 1)[0], line.split(None, 1)[1]) for line in lines]


def run_monitor(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*MONITOR, *args], capture_output=True, text=True, env=env, cwd=ROOT, timeout=120)


def service_args(command: str, tmp_path: Path) -> list[str]:
    """An ExecStart line's monitor arguments, with the installed config replaced by the repo's."""
    argv = shlex.split(command)
    assert argv[0] == "/opt/monitor/.venv/bin/monitor"
    return [str(ROOT / "config.yaml") if a == "/etc/monitor/config.yaml" else a for a in argv[1:]]


def test_the_unit_keeps_the_database_in_its_state_directory(tmp_path: Path, cli_env: dict[str, str]) -> None:
    keys = unit("monitor.service")
    (state,) = keys["StateDirectory"]
    (env,) = [e for e in keys["Environment"] if e.startswith("MONITOR_DATABASE=")]
    database = env.split("=", 1)[1]
    assert Path(database).parent == Path("/var/lib") / state == Path(keys["WorkingDirectory"][0])
    assert keys["ProtectSystem"] == ["strict"]  # the state directory is the one writable place
    assert keys["ExecReload"] == ["/bin/kill -HUP $MAINPID"]
    assert "useradd --system" in (DEPLOY / "monitor.service").read_text()  # the user is documented
    (start,) = keys["ExecStart"]
    args = service_args(start, tmp_path)
    assert args[-1] == "run"
    helped = run_monitor([*args, "--help"], cli_env)
    assert helped.returncode == 0, helped.stderr
    # The shipped config under the unit's environment: valid, and its database in the state folder.
    env_vars = {**cli_env, "MONITOR_DATABASE": str(tmp_path / "monitor.db")}
    checked = run_monitor([*args[:-1], "check"], env_vars)
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_the_status_timer_runs_monitor_status(tmp_path: Path, cli_env: dict[str, str]) -> None:
    keys = unit("monitor-status.service")
    assert keys["Type"] == ["oneshot"]
    assert keys["Environment"] == unit("monitor.service")["Environment"]
    args = service_args(keys["ExecStart"][0], tmp_path)
    assert args[-1] == "status"
    result = run_monitor(args, {**cli_env, "MONITOR_DATABASE": str(tmp_path / "monitor.db")})
    assert result.returncode == 1 and "no feed has been polled" in result.stdout  # nothing polled yet
    assert unit("monitor-status.timer")["OnUnitActiveSec"]


def test_systemd_analyze_finds_nothing_but_the_missing_install(tmp_path: Path) -> None:
    if shutil.which("systemd-analyze") is None:
        pytest.skip("systemd-analyze is not installed")
    names = ["monitor.service", "monitor-status.service", "monitor-status.timer"]
    result = subprocess.run(
        ["systemd-analyze", "verify", *(str(DEPLOY / n) for n in names)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    complaints = [
        line
        for line in (result.stdout + result.stderr).splitlines()
        if line.strip() and "/opt/monitor/.venv/bin/monitor is not executable" not in line
    ]
    assert complaints == []


def test_the_image_runs_its_healthcheck_and_command(tmp_path: Path, cli_env: dict[str, str]) -> None:
    steps = dockerfile()
    env = {}
    for kind, rest in steps:
        if kind == "ENV":
            env.update(dict(re.findall(r"(\w+)=(\S+)", rest)))
        if kind == "COPY":
            *sources, _ = rest.split()
            assert all((ROOT / s).exists() for s in sources), rest
    volume = next(rest for kind, rest in steps if kind == "VOLUME")
    assert Path(env["MONITOR_DATABASE"]).parent.as_posix() in volume
    healthcheck = next(rest for kind, rest in steps if kind == "HEALTHCHECK")
    assert healthcheck.endswith('CMD ["monitor", "status"]')
    assert next(rest for kind, rest in steps if kind == "CMD") == '["run"]'
    # The image's configuration is the repo's config.yaml, its database on the volume.
    local = {
        **cli_env,
        "MONITOR_CONFIG": str(ROOT / "config.yaml"),
        "MONITOR_DATABASE": str(tmp_path / "m.db"),
    }
    status = run_monitor(["status"], local)
    assert status.returncode == 1 and status.stdout.startswith("UNHEALTHY")
    assert (tmp_path / "m.db").exists()  # MONITOR_DATABASE, not the config's relative path


def test_compose_runs_as_written_with_the_example_environment() -> None:
    compose = yaml.safe_load((DEPLOY / "docker-compose.yml").read_text())
    service = compose["services"]["monitor"]
    assert service["build"]["dockerfile"] == "deploy/Dockerfile"
    assert (DEPLOY / service["build"]["context"] / service["build"]["dockerfile"]).exists()
    (env_file,) = service["env_file"]
    assert env_file["required"] is False  # runs before anyone wrote monitor.env
    example = (DEPLOY / "monitor.env.example").read_text()
    defined = set(re.findall(r"^(\w+)=", example, flags=re.MULTILINE))
    wanted = set(re.findall(r"\$\{(\w+)\}", (ROOT / "config.yaml").read_text()))
    readme = (ROOT / "README.md").read_text()
    wanted |= set(re.findall(r"\$\{(\w+)\}", readme.split("## Configuration", 1)[1].split("\n## ", 1)[0]))
    assert wanted - {"VAR"} <= defined, wanted - defined  # "${VAR}" is the syntax, explained
    if (
        shutil.which("docker")
        and subprocess.run(["docker", "compose", "version"], capture_output=True).returncode == 0
    ):
        checked = subprocess.run(
            ["docker", "compose", "-f", str(DEPLOY / "docker-compose.yml"), "config", "-q"],
            capture_output=True,
            text=True,
        )
        assert checked.returncode == 0, checked.stderr


@pytest.mark.slow
def test_the_wheel_carries_its_data_and_the_demo_runs_from_it(
    tmp_path: Path, cli_env: dict[str, str]
) -> None:
    """`pip install .` gets every data file the code loads: the demo runs from the built wheel
    alone (no checkout beside it), and the YAML and JSON files are in it."""
    import sys
    import zipfile

    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path / "dist"), str(ROOT)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert built.returncode == 0, built.stderr[-2000:]
    (wheel,) = (tmp_path / "dist").glob("monitor-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for data in (
        "monitor/seeds/000_9f277d962f0197da.txt",
        "monitor/stages/facts/facts.yaml",
        "monitor/stages/group/anchors.yaml",
        "monitor/stages/group/weights.json",
        "monitor/store/datasette.yaml",
        "monitor/models/missile_launch.json",
        "monitor/topics/missile_launch.yaml",
    ):
        assert data in names, data
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    demo = subprocess.run(
        [sys.executable, "-m", "monitor", "demo"],
        capture_output=True,
        text=True,
        env={**cli_env, "PYTHONPATH": str(site)},
        cwd=elsewhere,
        timeout=300,
    )
    assert demo.returncode == 0, demo.stderr[-2000:]
    assert "North Korea launches ballistic missiles" in demo.stdout
    probe = subprocess.run(
        [sys.executable, "-c", "import monitor; print(monitor.__file__)"],
        capture_output=True,
        text=True,
        env={**cli_env, "PYTHONPATH": str(site)},
        cwd=elsewhere,
    )
    assert probe.stdout.startswith(str(site))  # the wheel's copy ran, not the checkout


def test_the_celery_compose_file_is_the_shipped_config_on_workers(
    tmp_path: Path, cli_env: dict[str, str]
) -> None:
    """deploy/docker-compose.celery.yml: Redis, one hub and workers on one configuration, which is
    config.yaml plus `executor` and `broker` (so it cannot drift from it) and passes `check`."""
    compose = yaml.safe_load((DEPLOY / "docker-compose.celery.yml").read_text())
    services = compose["services"]
    assert set(services) == {"redis", "hub", "worker"}
    assert services["worker"]["command"] == ["worker"] and "command" not in services["hub"]
    mounted = "./config.celery.yaml:/etc/monitor/config.yaml:ro"
    assert mounted in services["hub"]["volumes"] and mounted in services["worker"]["volumes"]
    assert "monitor-data:/data" not in services["worker"]["volumes"]  # workers never see the database
    celery = yaml.safe_load((DEPLOY / "config.celery.yaml").read_text())
    shipped = yaml.safe_load((ROOT / "config.yaml").read_text())
    assert {k: v for k, v in celery.items() if k not in ("executor", "broker")} == shipped
    assert celery["executor"] == "celery" and celery["broker"].startswith("redis://redis:")
    checked = run_monitor(
        ["check", "--config", str(DEPLOY / "config.celery.yaml")],
        {**cli_env, "MONITOR_DATABASE": str(tmp_path / "m.db")},
    )
    assert checked.returncode == 0, checked.stdout
