"""Benchmark: the platform API under load, authenticated ``GET /api/v1/signals`` beside a bare FastAPI endpoint.

Setup: a fresh PostgreSQL database (``tsbot_bench_<random>``, dropped at the end) gets ``tsbot data import`` (the
bundled data), then the scan of ``tsbot scan``, run in process at the newest bar and at ``--history`` hours before,
so that stored signals fill more than a page; a ``trader`` made with ``tsbot user create`` signs in over HTTP. The
request rate limit is raised to its maximum (``TSBOT_API__REQUESTS_PER_HOUR``). Pages of signals are cached per worker
as ``tsbot api`` does (exact: see :mod:`tsbot.apps.api.signal_pages`); ``--page-cache-entries 0`` measures every
page read from the database.

Servers, one at a time, ``--workers`` uvicorn workers each (uvloop, httptools), run exactly as ``tsbot api`` runs
them (:func:`tsbot.apps.cli.api_workers.serve`: on Linux each worker accepts on its own ``SO_REUSEPORT`` socket):
tsbot's app (JSON logs at INFO, an access line per request, into a file), then the baseline, a bare FastAPI app
answering a small constant list (:func:`bare_app`). This script serves them (``--serve``) rather than ``tsbot api``
so that the baseline is served the same way.

Load: ``--drivers`` processes (1) hold ``--connections`` keep-alive HTTP/1.1 connections in all, each sending the
next GET once the previous body is read (closed loop, no pipelining). Answers completing in the ``--duration``
window after ``--warmup`` count; latency runs from writing the request to reading the body's last byte. The client
is a minimal loop over asyncio streams on uvloop reading ``Content-Length`` bodies (neither server answers
chunked): on a 2-core machine it drove the bare app about twice as fast as aiohttp, whose CPU the server loses.
The cores are shared by the load, the servers, PostgreSQL and whatever else runs: the output gives the core count
and the load average before each measurement.

Goal: at least 1,000 requests/s with p99 under 100 ms for ``GET /api/v1/signals`` at 50 connections.

Run: ``python bench/api_load.py [--duration 30] [--connections 50] [--workers 2] [--drivers 1] [--path P]
[--database-url URL] [--page-cache-entries N] [--quick]``.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from array import array
from collections import Counter
from dataclasses import dataclass, field
from datetime import timedelta
from functools import partial
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from rich.console import Console
from rich.table import Table
from sqlalchemy.engine import make_url

from tsbot.apps.cli.api import APP_FACTORY, UVICORN_OPTIONS

GOAL_RPS = 1_000.0
GOAL_P99_MS = 100.0
ADMIN_URL = os.environ.get("TSBOT_TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test")
TSBOT = str(Path(sys.executable).with_name("tsbot"))
BARE_PATH = "/api/v1/bare"
BARE_APP = "api_load:bare_app"
START_TIMEOUT_S = 180.0
HOST = "127.0.0.1"
REQUESTS_PER_HOUR = "10000000"  # the largest value api.requests_per_hour accepts
console = Console()


class SetupError(Exception):
    """The benchmark could not be set up (database, seeding, a server or the signed-in route)."""


def bare_app() -> Any:
    """The baseline: a FastAPI app whose one route, ``GET /api/v1/bare``, answers a constant list of three small
    objects (172 bytes of JSON). A factory, so that each uvicorn worker builds its own; uvicorn's own lines (not
    an access log) are written to stderr, as tsbot's are, so that :meth:`Server.wait` sees each worker start."""
    import logging

    from fastapi import FastAPI

    logging.basicConfig(level=logging.INFO, format="%(message)s")
    payload = [{"id": i, "symbol": "BTC/USDT", "action": "HOLD", "score": 0.1} for i in range(3)]
    app = FastAPI()

    @app.get(BARE_PATH)
    async def bare() -> list[dict[str, Any]]:
        return payload

    return app


@dataclass
class Tally:
    """What one load process counted in its window [``begin``, ``end``) (``perf_counter`` s): each answer's latency
    in ms, and answers by status (0: no answer)."""

    begin: float
    end: float
    latencies_ms: array = field(default_factory=lambda: array("d"))  # type: ignore[type-arg]
    statuses: Counter[int] = field(default_factory=Counter)

    def record(self, status: int, sent: float, done: float) -> None:
        if self.begin <= done < self.end:
            self.latencies_ms.append((done - sent) * 1e3)
            self.statuses[status] += 1


async def _load(target: str, headers: dict[str, str], connections: int, tally: Tally) -> None:
    """``connections`` keep-alive connections to ``target``, each sending ``GET`` again as soon as the answer's
    ``Content-Length`` body has been read, until ``tally.end``."""
    url = httpx.URL(target)
    lines = [f"GET {url.raw_path.decode()} HTTP/1.1", f"Host: {url.host}:{url.port}"]
    request = "\r\n".join([*lines, *(f"{k}: {v}" for k, v in headers.items()), "", ""]).encode()
    clock = time.perf_counter

    async def connection() -> None:
        while (sent := clock()) < tally.end:
            writer = None
            try:
                reader, writer = await asyncio.open_connection(url.host, url.port)
                while (sent := clock()) < tally.end:
                    writer.write(request)
                    head = (await reader.readuntil(b"\r\n\r\n")).lower()
                    at = head.index(b"\r\ncontent-length:") + 17  # ValueError when chunked
                    await reader.readexactly(int(head[at : head.index(b"\r\n", at)]))
                    tally.record(int(head[9:12]), sent, clock())
            except (OSError, ValueError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
                tally.record(0, sent, clock())
                await asyncio.sleep(0.01)
            finally:
                if writer is not None:
                    writer.close()

    await asyncio.gather(*(connection() for _ in range(connections)))


def drive(url: str, headers: dict[str, str], start: float, begin: float, end: float, share: int) -> Tally:
    """One load process's part of the load: ``share`` connections to ``url`` from ``start``, counting the answers
    completed from ``begin`` to ``end`` (wall-clock times, s)."""
    import uvloop

    offset = time.time() - time.perf_counter()  # perf_counter: the machine's CLOCK_MONOTONIC on Linux
    tally = Tally(begin - offset, end - offset)

    async def run() -> None:
        await asyncio.sleep(max(0.0, start - time.time()))
        await _load(url, headers, share, tally)

    uvloop.run(run())
    return tally


@dataclass(frozen=True)
class Result:
    """A measured server: requests/s, latencies in ms, answers that were not 200 by status."""

    rps: float
    p50: float
    p95: float
    p99: float
    max: float
    errors: dict[int, int]


def measure(url: str, headers: dict[str, str], args: argparse.Namespace) -> Result:
    """Load ``url`` from ``args.drivers`` spawned processes sharing ``args.connections`` connections."""
    per, extra = divmod(args.connections, args.drivers)
    start = time.time() + 2.0  # time for the processes to start and import their client
    shares = [per + (i < extra) for i in range(args.drivers)]
    with multiprocessing.get_context("spawn").Pool(args.drivers) as pool:
        window = (start, start + args.warmup, start + args.warmup + args.duration)
        tallies = pool.map(partial(drive, url, headers, *window), shares)
    latencies = sorted(v for t in tallies for v in t.latencies_ms)
    statuses: Counter[int] = sum((t.statuses for t in tallies), Counter())
    if len(latencies) < 100:
        raise SetupError(f"only {len(latencies)} answers from {url} in {args.duration:g} s: {dict(statuses)}")
    p = statistics.quantiles(latencies, n=100, method="inclusive")
    errors = {status: n for status, n in statuses.items() if status != 200}
    return Result(len(latencies) / args.duration, p[49], p[94], p[98], latencies[-1], errors)


class Server:
    """``python bench/api_load.py --serve APP`` on a free port, its output in ``log``; stopped with SIGTERM."""

    def __init__(self, app: str, workers: int, env: dict[str, str], log: Path) -> None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = int(probe.getsockname()[1])
        self.base, self.log, self.workers = f"http://127.0.0.1:{port}", log, workers
        argv = [sys.executable, str(Path(__file__).resolve()), "--serve", app, "--port", str(port)]
        with log.open("wb") as out:
            self.child = subprocess.Popen([*argv, "--workers", str(workers)], env=env, stdout=out, stderr=out)

    def wait(self) -> None:
        """Until every worker has started: the first one answers while the others still import and start, which
        would take their CPU from the measurement. Raises SetupError when the server exits or is too slow."""
        deadline = time.monotonic() + START_TIMEOUT_S
        while self.child.poll() is None and time.monotonic() < deadline:
            if self.log.read_text().count("Application startup complete.") >= self.workers:
                return
            time.sleep(0.2)
        raise SetupError(f"server exited or did not start in time:\n{self.log.read_text()[-3000:]}")

    def stop(self) -> None:
        if self.child.poll() is None:
            self.child.send_signal(signal.SIGTERM)
            try:
                self.child.wait(30)
            except subprocess.TimeoutExpired:
                self.child.kill()
                self.child.wait(10)


async def _admin(sql: str) -> None:
    conn = await asyncpg.connect(make_url(ADMIN_URL).set(drivername="postgresql").render_as_string(False))
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def create_database() -> tuple[str, str]:
    """A new empty database on the server of ``TSBOT_TEST_POSTGRES_URL`` (default 127.0.0.1:5432): name, URL."""
    name = f"tsbot_bench_{secrets.token_hex(5)}"
    try:
        asyncio.run(_admin(f'CREATE DATABASE "{name}"'))
    except Exception as exc:  # asyncpg's errors and OSError: no server, refused, no rights
        where = make_url(ADMIN_URL).render_as_string()
        raise SetupError(f"cannot create a database at {where}: {exc}") from exc
    return name, make_url(ADMIN_URL).set(database=name).render_as_string(hide_password=False)


def cli(args: list[str], env: dict[str, str], stdin: str | None = None) -> None:
    done = subprocess.run([TSBOT, *args], env=env, input=stdin, capture_output=True, text=True, timeout=600)
    if done.returncode != 0:
        raise SetupError(f"tsbot {' '.join(args)} exited with {done.returncode}:\n{done.stderr[-3000:]}")


async def _scans(env: dict[str, str], hours: int) -> int:
    """Store the scan at the newest bar and at each of the ``hours`` hours before it; signals stored."""
    from tsbot.config import load_settings
    from tsbot.wiring import open_services

    settings = load_settings(database_url=env["TSBOT_DATABASE_URL"], data_dir=Path(env["TSBOT_DATA_DIR"]))
    async with open_services(settings) as services:
        scan = services.scan_service()
        newest = (await scan.scan(None, store=True)).signals
        last = max(s.as_of for s in newest)
        older = [await scan.scan(None, as_of=last - timedelta(hours=k)) for k in range(1, hours + 1)]
    return len(newest) + sum(len(r.signals) for r in older)


def seed(env: dict[str, str], history: int, email: str, password: str) -> int:
    """Migrate (as ``tsbot api`` does), import the bundled data, store the scans, create the trader; the number
    of signals stored."""
    cli(["db", "upgrade"], env)
    cli(["data", "import", "--quiet"], env)
    try:
        stored = asyncio.run(_scans(env, history))
    except Exception as exc:  # any failure of the scan leaves nothing to measure
        raise SetupError(f"scan failed: {exc!r}") from exc
    cli(["user", "create", email, "--role", "trader", "--password-stdin"], env, stdin=password + "\n")
    return stored


def probe(url: str, headers: dict[str, str]) -> str:
    """One GET of ``url``, which must answer 200: the body's size, and its items when it is a page."""
    answer = httpx.get(url, headers=headers, timeout=30)
    if answer.status_code != 200:
        raise SetupError(f"GET {url} answered {answer.status_code}: {answer.text[:300]} (see --path)")
    body = answer.json()
    items = f", {len(body['items'])} of {body.get('total')} items" if "items" in body else ""
    return f"{len(answer.content):,} bytes{items}"


def report(rows: dict[str, Result], args: argparse.Namespace) -> None:
    table = Table(
        title=f"{args.connections} connections, {args.duration:g} s, uvicorn {args.workers} workers"
    )
    for column in ("", "req/s", "p50 ms", "p95 ms", "p99 ms", "max ms", "not 200"):
        table.add_column(column, justify="right" if column else "left")
    for name, r in rows.items():
        errors = f"[red]{sum(r.errors.values()):,}[/]" if r.errors else "0"
        table.add_row(name, f"{r.rps:,.0f}", *(f"{v:.1f}" for v in (r.p50, r.p95, r.p99, r.max)), errors)
    tsbot, bare = rows.values()
    ratios = (tsbot.rps / bare.rps, tsbot.p50 / bare.p50, tsbot.p95 / bare.p95, tsbot.p99 / bare.p99)
    table.add_row("tsbot / bare", *(f"x {v:.2f}" for v in ratios), "", "", style="bold")
    console.print(table)
    met = tsbot.rps >= GOAL_RPS and tsbot.p99 < GOAL_P99_MS
    console.print(
        f"goal: at least {GOAL_RPS:,.0f} requests/s with p99 under {GOAL_P99_MS:.0f} ms: "
        f"{'[green]met[/]' if met else '[red]not met[/]'} ({tsbot.rps:,.0f} requests/s, p99 {tsbot.p99:.1f} ms)",
        highlight=False,
    )
    for name, r in rows.items():
        if r.errors:
            console.print(f"[yellow]{name}: not 200 by status (0: no answer): {r.errors}[/]", highlight=False)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    add = parser.add_argument
    add("--duration", type=float, default=30.0, help="counted seconds per server")
    add("--warmup", type=float, default=3.0, help="uncounted seconds before them")
    add("--connections", type=int, default=50, help="concurrent keep-alive connections")
    add("--workers", type=int, default=2, help="uvicorn worker processes per server")
    add("--drivers", type=int, default=1, help="load-generating processes")
    add("--path", default="/api/v1/signals", help="signed-in GET route of tsbot to measure")
    add("--history", type=int, default=12, help="hourly scans stored before the newest one")
    add(
        "--page-cache-entries",
        type=int,
        help="tsbot's api.page_cache_entries (default: the setting's own; 0 measures every page read afresh)",
    )
    add("--database-url", help="seed and use this database, never dropped (default: a fresh one)")
    add("--quick", action="store_true", help="smoke run: 5 s after 1 s warm-up, 3 hours of history")
    add("--serve", help=argparse.SUPPRESS)  # this process serves the app factory SERVE
    add("--port", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.quick:
        args.duration, args.warmup, args.history = 5.0, 1.0, min(args.history, 3)
    if not 1 <= args.drivers <= args.connections or args.workers < 1 or args.duration <= 0:
        parser.error("need connections >= drivers >= 1, workers >= 1 and a positive duration")
    return args


def run(args: argparse.Namespace, folder: Path, servers: list[Server], url: str) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TSBOT_")}
    env |= {
        "TSBOT_DATABASE_URL": url,
        "TSBOT_DATA_DIR": str(folder),
        "TSBOT_API__REQUESTS_PER_HOUR": REQUESTS_PER_HOUR,
        **(
            {}
            if args.page_cache_entries is None
            else {"TSBOT_API__PAGE_CACHE_ENTRIES": str(args.page_cache_entries)}
        ),
        "TSBOT_SECURITY__JWT_SECRET": secrets.token_hex(32),  # one secret for every worker
    }
    email, password = f"bench-{secrets.token_hex(4)}@example.com", "Bench-1-" + secrets.token_urlsafe(18)
    began = time.perf_counter()
    stored = seed(env, args.history, email, password)
    console.print(f"seeded in {time.perf_counter() - began:.0f} s: bundled data, {stored} signals, a trader")
    console.print(
        f"{os.cpu_count()} cores, shared by the server's {args.workers} workers, {args.drivers} load process(es), "
        "PostgreSQL and whatever else runs on this machine",
        highlight=False,
    )
    rows: dict[str, Result] = {}
    for name, app, path in (
        ("tsbot", APP_FACTORY, args.path),
        ("bare FastAPI", BARE_APP, BARE_PATH),
    ):
        server = Server(app, args.workers, env, folder / f"{app.split(':')[0]}.log")
        servers.append(server)
        server.wait()
        headers: dict[str, str] = {}
        if app == APP_FACTORY:
            login = {"email": email, "password": password}
            answer = httpx.post(f"{server.base}/api/v1/auth/login", json=login, timeout=30)
            if answer.status_code != 200:
                raise SetupError(f"sign-in answered {answer.status_code}: {answer.text[:500]}")
            headers["Authorization"] = f"Bearer {answer.json()['access_token']}"
        console.print(
            f"{name}: GET {path} ({probe(server.base + path, headers)}); load average before "
            + "{:.2f} {:.2f} {:.2f}".format(*os.getloadavg()),
            highlight=False,
        )
        rows[name] = measure(server.base + path, headers, args)
        server.stop()
    report(rows, args)


def main() -> int:
    args = parse_args()
    if args.serve:  # a server process, as ``tsbot api`` runs its workers
        from tsbot.apps.cli.api_workers import serve

        return serve(args.serve, host=HOST, port=args.port, workers=args.workers, options=UVICORN_OPTIONS)
    servers: list[Server] = []
    created: str | None = None
    try:
        with tempfile.TemporaryDirectory(prefix="tsbot-bench-") as folder:
            try:
                url = args.database_url
                if url is None:
                    created, url = create_database()
                    console.print(f"database {created} created (dropped at the end)", highlight=False)
                run(args, Path(folder), servers, url)
            finally:
                for server in servers:
                    server.stop()
    except SetupError as exc:
        console.print(f"[bold red]setup failed:[/] {exc}", highlight=False)
        return 1
    finally:
        if created is not None:
            asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{created}" WITH (FORCE)'))
    return 0


if __name__ == "__main__":
    sys.exit(main())
