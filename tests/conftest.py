from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
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


class Receiver:
    """An HTTP endpoint for apprise's json:// that answers ``status`` and keeps every post."""

    def __init__(self) -> None:
        self.posts: list[dict[str, Any]] = []
        self.status = 200
        self.delay = 0.0  # seconds before answering (a slow chat API)
        self.drip = 0.0  # seconds between bytes of the answer (defeats per-read timeouts)
        self.requests = 0  # posts received, answered or not
        self.reject: set[int] = set()  # the n-th posts (1-based) answered with 500, once each
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                receiver.requests += 1
                if receiver.requests in receiver.reject:
                    self.send_response(500)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                if receiver.drip:
                    answer = b"HTTP/1.1 200 OK\r\nContent-Length: 40\r\n\r\n" + b"{}".ljust(40)
                    try:
                        for byte in answer:
                            self.wfile.write(bytes([byte]))
                            self.wfile.flush()
                            time.sleep(receiver.drip)
                    except OSError:
                        pass
                    self.close_connection = True
                    return
                if receiver.delay:
                    time.sleep(receiver.delay)
                if receiver.status == 200:
                    receiver.posts.append(json.loads(body))
                self.send_response(receiver.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"json://127.0.0.1:{self.server.server_address[1]}/hook"


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.server.shutdown()
    r.server.server_close()


@contextmanager
def running_daemon(cfg: Path, env: dict[str, str], log_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    """`monitor run` on ``cfg`` in a subprocess, its log in ``log_path``; killed on the way out
    if the test has not stopped it."""
    with log_path.open("w") as log_file:
        proc = subprocess.Popen([*MONITOR, "run", "--config", str(cfg)], env=env, cwd=ROOT, stderr=log_file)
        try:
            yield proc
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
