"""Serve an ASGI app with several uvicorn worker processes, each accepting on its own socket (``SO_REUSEPORT``).

Why not uvicorn's own ``workers``: there, every worker accepts from one shared listening socket, and the worker
that wakes first takes every connection waiting. A burst of keep-alive connections (a dashboard's clients, a load
balancer opening its pool) then sticks mostly to one worker: 44 of 50 connections measured by
``bench/api_load.py``, whose requests then waited behind each other while the other worker idled (p99 131 ms
against 73 ms when spread). Here each worker has its own socket bound to the same address with ``SO_REUSEPORT``,
and Linux spreads new connections over the sockets by a hash of their addresses (20 / 30 of 50 measured).

Supervision (:func:`serve`): the sockets are bound first, here, so a taken address fails at once with
:class:`OSError` (also when another ``SO_REUSEPORT`` server holds it: a probe bind without the option comes
first). Each worker is a spawned process running ``uvicorn.Server(config).run(sockets=[its socket])`` in its own
process group, so a terminal's Ctrl-C reaches only the supervisor, which then stops every worker once, gracefully
(SIGTERM: uvicorn finishes the requests in flight and runs the app's shutdown). A supervisor killed outright
(SIGKILL) takes its workers with it: each asked Linux for SIGTERM when its parent dies. A worker that exits while the
server runs is started again on its socket, at most :data:`MAX_RESTARTS` times per :data:`RESTART_WINDOW_S`; a
worker whose app fails to start stops the whole server with uvicorn's exit status 3. A hung worker is not
detected (uvicorn's supervisor pings its workers; this one only watches them exit).

Elsewhere than Linux (``SO_REUSEPORT`` there does not spread connections) or with one worker, :func:`serve` is
``uvicorn.run``.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import multiprocessing
import os
import signal
import socket
import sys
import time
from collections import deque
from multiprocessing.connection import wait
from multiprocessing.process import BaseProcess
from types import FrameType
from typing import Any, Final

import structlog

#: uvicorn's exit status for an app that failed to start.
STARTUP_FAILURE: Final = 3
#: Restarts of crashed workers allowed per :data:`RESTART_WINDOW_S` before the server gives up (exit 1).
MAX_RESTARTS: Final = 5
RESTART_WINDOW_S: Final = 60.0
#: Seconds stopping workers get to finish before they are killed.
STOP_TIMEOUT_S: Final = 30.0
#: Pending connections per worker socket (uvicorn's default backlog).
BACKLOG: Final = 2048
#: ``prctl`` option: the signal a process gets when its parent dies (Linux).
_PR_SET_PDEATHSIG: Final = 1

_log = structlog.get_logger("tsbot.api.workers")


def spreads_connections() -> bool:
    """True where per-worker ``SO_REUSEPORT`` sockets share out new connections (Linux)."""
    return sys.platform.startswith("linux") and hasattr(socket, "SO_REUSEPORT")


def bind_sockets(host: str, port: int, count: int) -> list[socket.socket]:
    """``count`` listening TCP sockets on ``host:port`` in one ``SO_REUSEPORT`` group.

    Raises:
        OSError: the address is taken (by anything, another ``SO_REUSEPORT`` group included) or cannot be bound.
    """
    family, _, _, _, address = socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )[0]
    with socket.socket(family, socket.SOCK_STREAM) as probe:  # without SO_REUSEPORT: fails if anyone listens
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        probe.bind(address)
    sockets: list[socket.socket] = []
    try:
        for _ in range(count):
            sock = socket.socket(family, socket.SOCK_STREAM)
            sockets.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            sock.bind(address)
            sock.listen(BACKLOG)
    except OSError:
        for sock in sockets:
            sock.close()
        raise
    return sockets


def _end_with_parent(supervisor: int) -> None:
    """Have Linux send this process SIGTERM when the supervisor dies, even by SIGKILL (``PR_SET_PDEATHSIG``), so no
    worker is left serving the port on its own; exit at once if the supervisor is already gone."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    except (OSError, AttributeError):  # no prctl: the supervisor's own SIGTERM is the only stop
        return
    if os.getppid() != supervisor:
        sys.exit(0)


def _work(app: str, options: dict[str, Any], sock: socket.socket, supervisor: int) -> None:
    """A worker process: serve ``app`` on ``sock`` until SIGTERM / SIGINT (spawned: module level, picklable)."""
    import uvicorn

    os.setpgrp()  # a terminal's Ctrl-C goes to the supervisor only; it stops the workers once
    _end_with_parent(supervisor)
    server = uvicorn.Server(uvicorn.Config(app, **options))
    try:
        server.run(sockets=[sock])
    except Exception:
        if server.started:
            raise
        _log.exception("api.worker_app_failed", app=app)  # loading or building the app raised
    if not server.started:
        sys.exit(STARTUP_FAILURE)


class _Supervisor:
    def __init__(self, app: str, options: dict[str, Any], sockets: list[socket.socket]) -> None:
        self._app, self._options, self._sockets = app, options, sockets
        self._context = multiprocessing.get_context("spawn")
        self._workers: list[BaseProcess] = []
        self._restarts: deque[float] = deque()
        self._stop_signal: int | None = None

    def _start(self, index: int) -> BaseProcess:
        process = self._context.Process(
            target=_work,
            args=(self._app, self._options, self._sockets[index], os.getpid()),
            name=f"tsbot-api-worker-{index}",
        )
        process.start()
        return process

    def _on_signal(self, signum: int, _frame: FrameType | None) -> None:
        self._stop_signal = signum

    def run(self) -> int:
        previous = {s: signal.signal(s, self._on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
        try:
            self._workers = [self._start(i) for i in range(len(self._sockets))]
            _log.info("api.workers_started", workers=len(self._workers), pids=[p.pid for p in self._workers])
            status = self._watch()
            self._stop()
            return status
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)

    def _watch(self) -> int:
        """Until a stop signal (0) or a failure (its exit status): restart workers that exit."""
        while self._stop_signal is None:
            wait([p.sentinel for p in self._workers], timeout=0.5)
            for index, process in enumerate(self._workers):
                if process.is_alive() or self._stop_signal is not None:
                    continue
                code = process.exitcode
                if code == STARTUP_FAILURE:
                    _log.error("api.worker_failed_to_start", worker=index)
                    return STARTUP_FAILURE
                now = time.monotonic()
                while self._restarts and now - self._restarts[0] > RESTART_WINDOW_S:
                    self._restarts.popleft()
                if len(self._restarts) >= MAX_RESTARTS:
                    _log.error(
                        "api.workers_keep_exiting", restarts=len(self._restarts), window_s=RESTART_WINDOW_S
                    )
                    return 1
                self._restarts.append(now)
                _log.warning("api.worker_restarted", worker=index, exit_code=code)
                self._workers[index] = self._start(index)
        return 0

    def _stop(self) -> None:
        for process in self._workers:
            if process.is_alive() and process.pid is not None:
                os.kill(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT_S
        for process in self._workers:
            process.join(max(0.0, deadline - time.monotonic()))
            if process.is_alive():
                _log.error("api.worker_killed", pid=process.pid, after_s=STOP_TIMEOUT_S)
                process.kill()
                process.join(5)
        for sock in self._sockets:
            sock.close()


def serve(app: str, *, host: str, port: int, workers: int, options: dict[str, Any]) -> int:
    """Serve ``app`` (an import string; ``options`` are :class:`uvicorn.Config` keywords other than host, port
    and workers) with ``workers`` processes on ``host:port`` until SIGINT / SIGTERM (see the module docstring).

    Returns the exit status: 0 after a stop signal, 3 when a worker's app failed to start, 1 when workers kept
    exiting.

    Raises:
        OSError: the address is taken or cannot be bound.
    """
    if workers <= 1 or not spreads_connections():
        import uvicorn

        uvicorn.run(app, host=host, port=port, workers=workers, **options)
        return 0
    return _Supervisor(app, options, bind_sockets(host, port, workers)).run()
