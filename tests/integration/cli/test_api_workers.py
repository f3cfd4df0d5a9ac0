"""``tsbot api --workers N`` on Linux: one ``SO_REUSEPORT`` socket per worker (:mod:`tsbot.apps.cli.api_workers`).

A real supervisor process serves a tiny app that answers its worker's pid: a burst of 40 connections opened at
once is spread over both workers (a shared socket gave one worker 44 of 50 in ``bench/api_load.py``); a worker
killed with SIGKILL is started again and the server goes on answering; SIGTERM stops the workers and the
supervisor exits 0; a supervisor killed with SIGKILL takes its workers with it. Bad inputs: an address already
taken (by a plain socket, and by another ``SO_REUSEPORT`` server), and an app that fails to start (exit 3)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from tsbot.apps.cli.api_workers import bind_sockets, spreads_connections

pytestmark = pytest.mark.skipif(not spreads_connections(), reason="per-worker sockets are used on Linux only")
ROOT = Path(__file__).resolve().parents[3]
START_TIMEOUT_S = 60.0


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _ask(port: int, sock: socket.socket | None = None) -> int:
    """The pid of the worker answering one GET (on ``sock`` when given, else on a new connection)."""
    conn = sock or socket.create_connection(("127.0.0.1", port), timeout=10)
    try:
        conn.sendall(b"GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        data = b""
        while chunk := conn.recv(4096):
            data += chunk
        return int(data.split(b"\r\n\r\n", 1)[1])
    finally:
        conn.close()


class Supervisor:
    def __init__(self, tmp_path: Path, workers: int, app: str | None = None) -> None:
        self.port = _free_port()
        self.log = tmp_path / f"supervisor-{self.port}.log"
        argv = [
            sys.executable,
            "-m",
            "tests.support.pid_app",
            str(self.port),
            str(workers),
            *([app] if app else []),
        ]
        with self.log.open("wb") as out:
            self.child = subprocess.Popen(argv, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)

    def pids(self, count: int) -> set[int]:
        """Ask until ``count`` distinct workers answered."""
        seen: set[int] = set()
        deadline = time.monotonic() + START_TIMEOUT_S
        while len(seen) < count:
            assert self.child.poll() is None, self.log.read_text()
            assert time.monotonic() < deadline, f"only {seen} answered:\n{self.log.read_text()}"
            try:
                seen.add(_ask(self.port))
            except (OSError, ValueError, IndexError):
                time.sleep(0.2)
        return seen

    def stop(self) -> int:
        if self.child.poll() is None:
            self.child.send_signal(signal.SIGTERM)
            return self.child.wait(60)
        return int(self.child.returncode)


@pytest.fixture
def supervisors(tmp_path: Path) -> Iterator[list[Supervisor]]:
    started: list[Supervisor] = []
    yield started
    for s in started:
        if s.child.poll() is None:
            s.child.kill()
            s.child.wait(10)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_connections_are_spread_crashed_workers_restarted_and_sigterm_stops_all(
    tmp_path: Path, supervisors: list[Supervisor]
) -> None:
    server = Supervisor(tmp_path, 2)
    supervisors.append(server)
    workers = server.pids(2)
    burst = [socket.create_connection(("127.0.0.1", server.port), timeout=10) for _ in range(40)]
    answered = Counter(_ask(server.port, sock) for sock in burst)
    assert set(answered) == workers
    assert max(answered.values()) <= 32, answered  # a fair coin gives more than 32 of 40 once in 50,000 runs

    victim = next(iter(workers))
    os.kill(victim, signal.SIGKILL)
    now = server.pids(2)
    assert victim not in now and len(now & workers) == 1  # the other worker went on; a new one took over
    assert "api.worker_restarted" in server.log.read_text()

    assert server.stop() == 0
    assert not any(_alive(pid) for pid in now)


def test_workers_end_with_a_supervisor_killed_outright(tmp_path: Path, supervisors: list[Supervisor]) -> None:
    """Bad input: SIGKILL to the supervisor, which then cannot stop its workers itself."""
    server = Supervisor(tmp_path, 2)
    supervisors.append(server)
    workers = server.pids(2)
    server.child.kill()
    server.child.wait(10)
    deadline = time.monotonic() + 30
    while any(_alive(pid) for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(_alive(pid) for pid in workers)
    with pytest.raises(OSError):
        _ask(server.port)  # nothing serves the port any more


def test_a_worker_whose_app_fails_to_start_stops_the_server(
    tmp_path: Path, supervisors: list[Supervisor]
) -> None:
    """Bad input: an app factory that raises."""
    server = Supervisor(tmp_path, 2, "tests.support.pid_app:broken")
    supervisors.append(server)
    assert server.child.wait(START_TIMEOUT_S) == 3
    assert "this app cannot start" in server.log.read_text()


def test_a_taken_address_is_refused_before_any_worker_starts() -> None:
    """Bad inputs: the port held by a plain listening socket, then by another SO_REUSEPORT server."""
    with socket.socket() as plain:
        plain.bind(("127.0.0.1", 0))
        plain.listen()
        with pytest.raises(OSError):
            bind_sockets("127.0.0.1", plain.getsockname()[1], 2)
    port = _free_port()
    group = bind_sockets("127.0.0.1", port, 2)
    try:
        with pytest.raises(OSError):
            bind_sockets("127.0.0.1", port, 2)  # would otherwise silently share the traffic
    finally:
        for sock in group:
            sock.close()
