"""Benchmark: the monitoring cycle for 100 and 1,000 symbols, in this process and on 2 Dramatiq workers, and the
time from a stored status change to the notifier's send call.

The symbols are windows of real bundled Binance 1h bars (as in ``bench/scan.py``), re-timed onto one common hour
axis so every cycle computes each symbol as of the same hour. Each symbol is watched by one of 50 traders (in-app
notifications). For each size and mode, one warm-up cycle is run (imports, first queries) and then ``--cycles``
cycles at the following hours, timed end to end (candles read, signals computed and stored, status changes stored,
notifications queued, price alerts, summary stored): the median is reported. The latency is measured from each
status change's ``recorded_at`` to the start of the first send attempt of its notification, over all timed cycles
(in this process the schedule dispatches right after a cycle; on workers the job that stored changes asks for a
dispatch at once).

Workers need PostgreSQL and RabbitMQ (``--pg`` / ``--amqp``; skipped with a note when either does not answer). The
PostgreSQL database made for each size is dropped at the end.

Goal: 1,000 symbols in under 5 s (no network: the candles are stored); p95 latency under 1 s.

Run: ``python bench/cycle.py [--symbols 100 1000] [--cycles 3] [--no-workers]``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import datetime
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.progress import Progress
from rich.table import Table
from sqlalchemy import func, select

sys.path.insert(0, str(Path(__file__).resolve().parent))
from scan import build_universe  # noqa: E402

from tsbot.accounts.models import OPERATOR, Role  # noqa: E402
from tsbot.adapters.storage.tables import signal_status_changes  # noqa: E402
from tsbot.adapters.storage.tables_notify import notification_attempts, notification_deliveries, notifications  # noqa: E402
from tsbot.adapters.storage.watch import SqlWatchlistStore  # noqa: E402
from tsbot.config import Settings, load_settings  # noqa: E402
from tsbot.core.time import from_ms, utc_now  # noqa: E402
from tsbot.market.models import CandleFrame, Timeframe  # noqa: E402
from tsbot.wiring import Services, open_services  # noqa: E402

console = Console()


def _quiet_logs() -> None:
    """Only warnings and errors: the per-notification log lines would flood the report."""
    import logging

    import structlog

    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))


H_MS = Timeframe.H1.ms
BARS = 600
TRADERS = 50
END_MS = 1_700_000_000_000 // H_MS * H_MS  # the common axis's last bar (2023-11-14 22:00 UTC)


def _answers(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


async def _seed(services: Services, n_symbols: int) -> list[str]:
    """Store ``n_symbols`` re-timed windows and 50 traders watching them; the symbols."""
    universe = build_universe(n_symbols, BARS)
    axis = END_MS - (BARS - 1) * H_MS + np.arange(BARS, dtype=np.int64) * H_MS
    for key, frame in universe.items():
        retimed = CandleFrame(axis, frame.open, frame.high, frame.low, frame.close, frame.volume)
        await services.candles.upsert(key, "crypto", retimed)
    accounts = services.accounts()
    watch = SqlWatchlistStore(services.db)
    symbols = sorted(k.symbol for k in universe)
    for t in range(TRADERS):
        user = await accounts.create_user(
            OPERATOR, f"t{t}-{uuid.uuid4().hex[:6]}@example.com", "bench pass 12345!", Role.TRADER
        )
        for sym in symbols[t::TRADERS]:
            await watch.add(user.id, sym)
    return symbols


async def _latencies(services: Services, since: datetime) -> list[float]:
    """Seconds from each status change recorded since ``since`` to its notification's first send attempt."""
    c, n, d, a = signal_status_changes, notifications, notification_deliveries, notification_attempts
    async with services.db.connect() as conn:
        changes = (
            await conn.execute(
                select(c.c.symbol, c.c.changed_at, c.c.recorded_at).where(c.c.recorded_at >= since)
            )
        ).all()
        sends = (
            await conn.execute(
                select(n.c.data, a.c.started_at)
                .join(d, d.c.notification_id == n.c.id)
                .join(a, a.c.delivery_id == d.c.id)
                .where(a.c.number == 1, n.c.created_at >= since)
            )
        ).all()
    recorded = {(sym, at.isoformat()): rec for sym, at, rec in changes}
    out = []
    for data, started in sends:
        rec = recorded.get((data.get("symbol"), data.get("as_of")))
        if rec is not None:
            out.append((started - rec).total_seconds())
    return out


async def _all_sent(services: Services, timeout_s: float = 120) -> None:
    """Wait until no notification waits to be sent (the warm-up's backlog is out of the way)."""
    d = notification_deliveries
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        async with services.db.connect() as conn:
            waiting = (
                await conn.execute(
                    select(func.count()).select_from(d).where(d.c.state.in_(("pending", "sending")))
                )
            ).scalar_one()
        if not waiting:
            return
        await asyncio.sleep(0.2)


async def _run_mode(
    services: Services, hours: list[datetime], mode: str, amqp: str
) -> tuple[list[float], list[float], int]:
    from tsbot.apps.worker.schedule import Schedule

    actors = None
    if mode == "workers":
        from tsbot.apps.worker.actors import declare_actors
        from tsbot.apps.worker.broker import build_broker

        actors = declare_actors(build_broker(amqp))
    durations: list[float] = []
    changes = 0
    since = utc_now()

    class Clock:
        def __init__(self) -> None:
            self.at = hours[0]

        def now(self) -> datetime:
            return self.at

    clock = Clock()
    schedule = Schedule(services, clock=clock, actors=actors)
    for i, when in enumerate(hours):
        clock.at = when
        summary = await schedule.run_cycle()
        assert summary is not None and summary.errors == 0, summary and summary.error_details
        if i == 0:  # the warm-up cycle is not counted, nor the sends of its first signals
            await _all_sent(services)
            since = utc_now()
            continue
        durations.append(summary.duration_s)  # the cycle itself; the sends after it are in the latency
        changes += summary.updated
    await _all_sent(services)  # the last sends
    return durations, await _latencies(services, since), changes


def _start_workers(env: dict[str, str], logs: Path) -> list[subprocess.Popen[bytes]]:
    exe = str(Path(sys.executable).with_name("tsbot"))
    procs = []
    for i in range(2):
        out = (logs / f"worker-{i}.log").open("wb")
        procs.append(
            subprocess.Popen([exe, "worker", "--threads", "2"], env=env, stdout=out, stderr=subprocess.STDOUT)
        )
    deadline = time.monotonic() + 120
    for i, _ in enumerate(procs):
        while "tsbot worker:" not in (logs / f"worker-{i}.log").read_text(errors="replace"):
            if time.monotonic() > deadline:
                raise SystemExit(f"worker {i} did not start: see {logs}")
            time.sleep(0.2)
    return procs


def _pg_admin(pg: str, sql: str) -> None:
    """Run one statement outside a transaction on the server of ``pg`` (CREATE / DROP DATABASE)."""
    import asyncpg
    from sqlalchemy.engine import make_url

    async def _run() -> None:
        conn = await asyncpg.connect(
            make_url(pg).set(drivername="postgresql").render_as_string(hide_password=False)
        )
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(_run())


def _create_pg_database(pg: str) -> str:
    """A new database ``tsbot_bench_<random>`` on the server of ``pg``; its URL."""
    from sqlalchemy.engine import make_url

    name = f"tsbot_bench_{uuid.uuid4().hex[:8]}"
    _pg_admin(pg, f'CREATE DATABASE "{name}"')
    return make_url(pg).set(database=name).render_as_string(hide_password=False)


def _drop_pg_database(pg: str, url: str) -> None:
    """Drop the benchmark's database ``url`` (made by :func:`_create_pg_database`)."""
    from sqlalchemy.engine import make_url

    _pg_admin(pg, f'DROP DATABASE IF EXISTS "{make_url(url).database}" WITH (FORCE)')


async def _bench(
    n: int,
    url: str,
    settings: Settings,
    hours: list[datetime],
    modes: list[str],
    args: argparse.Namespace,
    tmp: Path,
    rows: list[tuple],
) -> None:
    async with open_services(settings) as services:
        with Progress(console=console, transient=True) as progress:
            progress.add_task(f"storing {n} symbols x {BARS} bars", total=None)
            await _seed(services, n)
        procs: list[subprocess.Popen[bytes]] = []
        try:
            for j, mode in enumerate(modes):
                if mode == "workers":
                    env = {k: v for k, v in os.environ.items() if not k.startswith("TSBOT_")}
                    env.update(
                        TSBOT_DATABASE_URL=url,
                        TSBOT_BROKER_URL=args.amqp,
                        TSBOT_DATA_DIR=str(tmp),
                        TSBOT_LOG_LEVEL="WARNING",
                    )
                    procs = _start_workers(env, tmp)
                span = hours[j * (args.cycles + 1) : (j + 1) * (args.cycles + 1)]
                durations, latencies, changes = await _run_mode(
                    services, span, mode if mode == "in_process" else "workers", args.amqp
                )
                p95 = float(np.percentile(latencies, 95)) if latencies else float("nan")
                rows.append((n, mode, statistics.median(durations), changes, len(latencies), p95))
                console.print(
                    f"{n} symbols {mode}: {statistics.median(durations):.2f} s/cycle, p95 {p95:.3f} s",
                    highlight=False,
                )
        finally:
            for proc in procs:
                proc.terminate()
                proc.wait(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--symbols", type=int, nargs="+", default=[100, 1000])
    parser.add_argument(
        "--cycles", type=int, default=3, help="timed cycles per size and mode (after a warm-up)"
    )
    parser.add_argument("--no-workers", action="store_true", help="in-process only")
    parser.add_argument("--pg", default="postgresql+asyncpg://postgres@127.0.0.1:5432/test")
    parser.add_argument("--amqp", default="amqp://guest:guest@127.0.0.1:5672/")
    args = parser.parse_args()
    _quiet_logs()
    with_workers = not args.no_workers and _answers("127.0.0.1", 5432) and _answers("127.0.0.1", 5672)
    if not args.no_workers and not with_workers:
        console.print("[yellow]PostgreSQL or RabbitMQ does not answer: in-process only[/]")
    rows = []
    tmp = Path(tempfile.mkdtemp(prefix="tsbot-bench-cycle-"))
    for n in args.symbols:
        url = (
            _create_pg_database(args.pg)
            if with_workers
            else f"sqlite+aiosqlite:///{tmp / f'cycle-{n}.sqlite'}"
        )
        settings = load_settings(database_url=url, data_dir=tmp, broker_url=args.amqp if with_workers else "")
        hours = [
            from_ms(END_MS - (2 * args.cycles + 2 - i) * H_MS + H_MS) for i in range(2 * args.cycles + 2)
        ]
        modes = ["in_process", "workers"] if with_workers else ["in_process"]

        try:
            asyncio.run(_bench(n, url, settings, hours, modes, args, tmp, rows))
        finally:
            if with_workers:
                _drop_pg_database(args.pg, url)
    table = Table(title="monitoring cycle (median of timed cycles)")
    for col in (
        "symbols",
        "mode",
        "s / cycle",
        "symbols / s",
        "vs 5 s goal (1,000)",
        "changes",
        "notified",
        "p95 change->send s",
    ):
        table.add_column(col, justify="right")
    for n, mode, secs, changes, notified, p95 in rows:
        goal = f"{5.0 * n / 1000 / secs:.2f}x" if secs else "-"
        table.add_row(
            str(n), mode, f"{secs:.2f}", f"{n / secs:,.0f}", goal, str(changes), str(notified), f"{p95:.3f}"
        )
    console.print(table)
    console.print(
        "goal: 1,000 symbols in under 5 s per cycle; p95 from stored change to send under 1 s",
        highlight=False,
    )


if __name__ == "__main__":
    main()
