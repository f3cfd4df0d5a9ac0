"""``tsbot api`` as a user runs it: a real uvicorn subprocess on a free port, polled until /health answers, then
stopped with SIGTERM."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

EXE = str(Path(sys.executable).with_name("tsbot"))
START_TIMEOUT_S = 90.0


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Server:
    """A ``tsbot api`` child process and its combined output file."""

    def __init__(self, args: list[str], env: dict[str, str], log: Path) -> None:
        self.log = log
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        with log.open("wb") as out:
            self.child = subprocess.Popen(
                [EXE, "api", "--port", str(self.port), *args], env=env, stdout=out, stderr=subprocess.STDOUT
            )

    def wait_healthy(self) -> httpx.Response:
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            if self.child.poll() is not None:
                pytest.fail(f"tsbot api exited with {self.child.returncode}:\n{self.log.read_text()}")
            try:
                answer = httpx.get(f"{self.base}/api/v1/health", timeout=2)
                if answer.status_code == 200:
                    return answer
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(
                    f"tsbot api did not answer /health within {START_TIMEOUT_S} s:\n{self.log.read_text()}"
                )
            time.sleep(0.2)

    def stop(self) -> int:
        if self.child.poll() is None:
            self.child.send_signal(signal.SIGTERM)
            try:
                return self.child.wait(30)
            except subprocess.TimeoutExpired:
                self.child.kill()
                self.child.wait(10)
                pytest.fail(f"tsbot api did not stop on SIGTERM:\n{self.log.read_text()}")
        return int(self.child.returncode)


@pytest.fixture
def run_api(database_url: str, tmp_path: Path) -> Iterator[type[Server]]:
    """Start ``tsbot api`` on the test's database (a fresh SQLite file or PostgreSQL); stopped afterwards."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TSBOT_")}
    env |= {"TSBOT_DATABASE_URL": database_url, "TSBOT_DATA_DIR": str(tmp_path), "TSBOT_LOG_LEVEL": "INFO"}
    started: list[Server] = []

    def start(*args: str) -> Server:
        server = Server(list(args), env, tmp_path / f"api-{len(started)}.log")
        started.append(server)
        return server

    yield start  # type: ignore[misc]
    for server in started:
        server.stop()


def json_lines(text: str) -> list[dict[str, object]]:
    out = []
    for line in text.splitlines():
        if line.startswith("{"):
            out.append(json.loads(line))
    return out


def test_tsbot_api_serves_and_stops_cleanly(run_api: type[Server]) -> None:
    server = run_api()
    health = server.wait_healthy()
    assert health.json() == {"status": "ok"}
    assert health.headers["x-content-type-options"] == "nosniff" and "server" not in health.headers
    ready = httpx.get(f"{server.base}/api/v1/ready", headers={"x-request-id": "cli-ready-1"}, timeout=10)
    assert ready.status_code == 200, ready.text
    assert ready.json()["checks"]["database"]["status"] == "ok"  # migrated before serving
    assert ready.headers["x-request-id"] == "cli-ready-1" and ready.headers["x-ratelimit-limit"] == "1000"
    missing = httpx.get(f"{server.base}/api/v1/nope", timeout=10)
    assert missing.status_code == 404 and missing.json()["type"] == "not_found"
    assert httpx.get(f"{server.base}/api/v1/docs", timeout=10).status_code == 200
    # uvicorn shuts down gracefully, then re-raises SIGTERM so the exit status says how it ended.
    assert server.stop() in (0, -signal.SIGTERM)
    logs = json_lines(server.log.read_text())
    assert any(entry.get("event") == "Application shutdown complete." for entry in logs)
    access = [entry for entry in logs if entry.get("event") == "http.request"]
    assert {"path": "/api/v1/ready", "request_id": "cli-ready-1", "status": 200}.items() <= access[-3].items()
    assert any(entry.get("logger") == "uvicorn.error" for entry in logs)  # uvicorn's lines are JSON too


@pytest.mark.slow
def test_tsbot_api_with_two_workers(run_api: type[Server]) -> None:
    server = run_api("--workers", "2")
    server.wait_healthy()
    with httpx.Client(base_url=server.base, timeout=10) as client:
        answers = [client.get("/api/v1/health") for _ in range(20)]
    assert {a.status_code for a in answers} == {200}
    assert server.stop() in (0, -signal.SIGTERM)
    text = server.log.read_text()
    assert text.count("Application startup complete.") == 2
    assert text.count("Application shutdown complete.") == 2


def test_tsbot_api_refuses_bad_settings(tmp_path: Path) -> None:
    """Bad input: an API port of 0 in the environment."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TSBOT_")}
    env |= {"TSBOT_DATA_DIR": str(tmp_path), "TSBOT_API__PORT": "0"}
    done = subprocess.run([EXE, "api"], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert "api.port" in done.stderr
