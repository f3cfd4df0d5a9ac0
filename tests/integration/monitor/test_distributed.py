"""The cycle over every bundled series fanned out to two ``tsbot worker`` processes on RabbitMQ and PostgreSQL:
the same signals as computed in this process, and with one worker killed (SIGKILL) mid-cycle every series still
gets exactly one outcome, every status change is stored once and every watcher's notification is queued once."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from monitor_data import replay_times, watcher
from sqlalchemy import func, select

from tsbot.adapters.bundled import bundled_series, read_bundled_rows
from tsbot.adapters.storage.cycles import SqlCycleStore
from tsbot.apps.worker.actors import declare_actors
from tsbot.apps.worker.broker import build_broker
from tsbot.apps.worker.fanout import DramatiqFanout
from tsbot.apps.worker.runtime import build_cycle
from tsbot.config import load_settings
from tsbot.market.service import import_candles
from tsbot.monitor.models import OutcomeStatus
from tsbot.wiring import open_services

AMQP_URL = os.environ.get("TSBOT_TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/")
EXE = str(Path(sys.executable).with_name("tsbot"))
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")

pytestmark = pytest.mark.slow


def _rabbitmq_answers() -> bool:
    host, port = "127.0.0.1", 5672
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


@pytest.fixture
def pg_url(pg_database_url: str | None, database_url: str) -> str:
    if pg_database_url is None or not database_url.startswith("postgresql"):
        pytest.skip("the distributed cycle runs on PostgreSQL (several processes write at once)")
    if not _rabbitmq_answers():
        if IN_CI:
            pytest.fail("RabbitMQ at 127.0.0.1:5672 is required in CI")
        pytest.skip("no RabbitMQ answers at 127.0.0.1:5672")
    return database_url


def _start_worker(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    out = log.open("wb")
    return subprocess.Popen(
        [EXE, "worker", "--threads", "2"],
        env=env,
        stdout=out,
        stderr=subprocess.STDOUT,
    )


def _wait_ready(log: Path, proc: subprocess.Popen[bytes], timeout_s: float = 90) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if "tsbot worker:" in log.read_text(errors="replace"):
            return
        if proc.poll() is not None:
            raise AssertionError(f"worker exited: {log.read_text(errors='replace')[-2000:]}")
        time.sleep(0.2)
    raise AssertionError("worker did not start in time")


@pytest.fixture
def workers(pg_url: str, tmp_path: Path) -> Iterator[list[subprocess.Popen[bytes]]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TSBOT_")}
    env.update(
        TSBOT_DATABASE_URL=pg_url,
        TSBOT_BROKER_URL=AMQP_URL,
        TSBOT_DATA_DIR=str(tmp_path),
        TSBOT_LOG_LEVEL="WARNING",
        PYTHONUNBUFFERED="1",
    )
    broker = build_broker(AMQP_URL)
    declare_actors(broker)
    broker.flush_all()  # no job of an earlier run waits in the queues
    broker.close()
    procs = [_start_worker(env, tmp_path / f"worker-{i}.log") for i in range(2)]
    try:
        for i, proc in enumerate(procs):
            _wait_ready(tmp_path / f"worker-{i}.log", proc)
        yield procs
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()


async def test_two_workers_one_killed_mid_cycle_give_the_in_process_signals_exactly_once(
    pg_url: str, tmp_path: Path, workers: list[subprocess.Popen[bytes]]
) -> None:
    settings = load_settings(database_url=pg_url, data_dir=tmp_path, broker_url=AMQP_URL)
    broker = build_broker(AMQP_URL)
    actors = declare_actors(broker)
    try:
        async with open_services(settings) as services:
            for item in bundled_series():
                await import_candles(
                    services.candles, item.key, item.asset_class.value, read_bundled_rows(item)
                )
            crypto = [s.key.symbol for s in bundled_series() if s.asset_class.value == "crypto"]
            watched = {
                crypto[0]: await watcher(services, crypto[0]),
                crypto[1]: await watcher(services, crypto[1]),
            }
            times = await replay_times(services, 4)
            cycles = SqlCycleStore(services.db)
            fanout = DramatiqFanout(actors, cycles, timeout_s=120)

            async def kill_first_worker_mid_cycle() -> None:
                while True:
                    recent = await cycles.recent(limit=1)
                    if recent and 0 < await cycles.count(recent[0]["id"]) < recent[0]["series"]:
                        workers[0].send_signal(signal.SIGKILL)
                        return
                    await asyncio.sleep(0.005)

            killer = asyncio.create_task(kill_first_worker_mid_cycle())
            summaries = []
            for when in times:
                summaries.append(await build_cycle(services, fanout=fanout, batch_size=1).run(when))
            await asyncio.wait_for(killer, 1)
            assert workers[0].wait(timeout=10) == -signal.SIGKILL
            assert workers[1].poll() is None

            series = len(bundled_series())
            for summary in summaries:
                assert summary.errors == 0, summary.error_details
                assert summary.monitored + summary.skipped == series
                outcomes = await cycles.results(summary.cycle_id)
                assert len(outcomes) == series  # exactly one outcome per series
                assert all(o.status is not OutcomeStatus.ERROR for o in outcomes)

            # the same signals as computed here, in-process, as of the last cycle
            scan = services.scan_service()
            here = await scan.scan_series(await services.candles.series(), as_of=times[-1], store=False)
            assert len(here.signals) == summaries[-1].monitored
            for sig in here.signals:
                stored = await services.signals.latest(sig.key)
                assert stored is not None and stored.as_of == sig.as_of
                assert (stored.action, round(stored.score, 9)) == (sig.action, round(sig.score, 9))

            # every status change stored once, every watcher notified once per change of their symbol
            from tsbot.adapters.storage.tables import signal_status_changes
            from tsbot.adapters.storage.tables_notify import notifications

            t = signal_status_changes
            async with services.db.connect() as conn:
                dupes = (
                    await conn.execute(
                        select(t.c.symbol, t.c.timeframe, t.c.changed_at)
                        .group_by(t.c.symbol, t.c.timeframe, t.c.changed_at)
                        .having(func.count() > 1)
                    )
                ).all()
                notes = dict(
                    (
                        await conn.execute(
                            select(notifications.c.user_id, func.count()).group_by(notifications.c.user_id)
                        )
                    ).all()
                )
            assert dupes == []
            changes = [c for s in summaries for c in s.changes]
            for symbol, user_id in watched.items():
                assert notes.get(user_id, 0) == sum(1 for c in changes if c.key.symbol == symbol)
    finally:
        broker.close()
