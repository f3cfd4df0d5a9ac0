"""Backtest jobs on a ``tsbot worker`` process (PostgreSQL, the Dramatiq broker on the local Redis): the API with
``broker_url`` set queues the job instead of running it, a real worker process runs it (``tsbot.run_backtest``),
and the result is the one the API computes in process; a message that comes again for a job already run (its first
worker died after taking it) or for no job runs nothing."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import redis
from tests.integration.api.conftest import IN_CI, Serve, sign_in
from tests.integration.api.test_backtests_api import URL, request_body, store_candles, wait_finished

from tsbot.adapters.job_queue import BACKTEST_QUEUE, RUN_BACKTEST, send_job
from tsbot.adapters.storage.backtest_jobs import SqlBacktestJobStore
from tsbot.apps.api import backtests
from tsbot.apps.worker.actors import declare_actors
from tsbot.apps.worker.broker import build_broker
from tsbot.backtest.jobs import JobStatus
from tsbot.wiring import Services

#: A Redis database of its own, so that no other test's workers take these messages (nor these workers theirs).
BROKER_URL = os.environ.get("TSBOT_TEST_BACKTEST_BROKER_URL", "redis://127.0.0.1:6379/11")
EXE = str(Path(sys.executable).with_name("tsbot"))
#: Seconds a worker may take to run a small backtest (its first run compiles the engine).
RUN_WITHIN_S = 180.0

pytestmark = pytest.mark.slow


@dataclass
class Worker:
    """A running ``tsbot worker`` and its log (one JSON object per line)."""

    proc: subprocess.Popen[bytes]
    log: Path

    def events(self, name: str) -> list[dict[str, Any]]:
        lines = self.log.read_text(errors="replace").splitlines()
        found = [json.loads(line) for line in lines if line.startswith("{")]
        return [e for e in found if e.get("event") == name]

    async def wait_for(self, text: str, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if text in self.log.read_text(errors="replace"):
                return
            if self.proc.poll() is not None:
                raise AssertionError(f"worker exited: {self.log.read_text(errors='replace')[-2000:]}")
            await asyncio.sleep(0.2)
        raise AssertionError(f"no {text!r} in the worker's log within {timeout_s} s")


def _flush_queues() -> None:
    broker = build_broker(BROKER_URL)
    declare_actors(broker)
    broker.flush_all()
    broker.close()


@pytest.fixture
def broker_url() -> Iterator[str]:
    """:data:`BROKER_URL`, its queues emptied before and after; skips without Redis (fails in CI)."""
    client = redis.Redis.from_url(BROKER_URL, socket_connect_timeout=2)
    try:
        client.ping()
    except redis.RedisError as exc:
        if IN_CI:
            pytest.fail(f"Redis at {BROKER_URL} is required in CI: {exc}")
        pytest.skip(f"no Redis answers at {BROKER_URL} ({exc})")
    finally:
        client.close()
    _flush_queues()  # no message of an earlier run waits in the queues
    try:
        yield BROKER_URL
    finally:
        _flush_queues()


@pytest.fixture
def pg_url(database_url: str, broker_url: str) -> str:
    if not database_url.startswith("postgresql"):
        pytest.skip("a worker process and the API share the database: PostgreSQL only")
    return database_url


@pytest.fixture
def worker(pg_url: str, tmp_path: Path) -> Iterator[Worker]:
    """One ``tsbot worker`` (2 threads) on the test's database and :data:`BROKER_URL`, started and ready."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TSBOT_")}
    env.update(
        TSBOT_DATABASE_URL=pg_url,
        TSBOT_BROKER_URL=BROKER_URL,
        TSBOT_DATA_DIR=str(tmp_path),
        TSBOT_LOG_LEVEL="INFO",
        PYTHONUNBUFFERED="1",
    )
    log = tmp_path / "worker.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [EXE, "worker", "--threads", "2"], env=env, stdout=out, stderr=subprocess.STDOUT
        )
    running = Worker(proc, log)
    try:
        deadline = time.monotonic() + 90
        while "tsbot worker:" not in log.read_text(errors="replace"):
            assert proc.poll() is None, f"worker exited: {log.read_text(errors='replace')[-2000:]}"
            assert time.monotonic() < deadline, "the worker did not start within 90 s"
            time.sleep(0.2)
        yield running
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()


async def test_the_api_queues_backtests_that_a_worker_runs_to_the_in_process_result(
    serve: Serve, services: Services, worker: Worker
) -> None:
    await store_candles(services)
    body = request_body(fill="close")
    async with serve() as here:  # no broker: run in the API process
        trader = await sign_in(here)
        submitted = await here.client.post(URL, json=body, headers=trader.headers)
        local = await wait_finished(here, trader, submitted.json()["id"])
        expected = await here.client.get(f"{URL}/{local['id']}/result", headers=trader.headers)
    async with serve(broker_url=BROKER_URL) as api:
        answer = await api.client.post(URL, json=body, headers=trader.headers)
        assert answer.status_code == 202, answer.text
        job_id = answer.json()["id"]
        # nothing runs here: the only task keeps the queued job's heartbeat until a worker takes it
        assert [t.get_name() for t in api.app.state.backtest_runner.tasks] == [f"backtest-queued-{job_id}"]
        job = await wait_finished(api, trader, job_id)
        result = await api.client.get(f"{URL}/{job_id}/result", headers=trader.headers)
        report = await api.client.get(f"{URL}/{job_id}/report", headers=trader.headers)
    assert local["status"] == "done" and job["status"] == "done", job
    assert [e["backtest_id"] for e in worker.events("backtest.done")] == [job_id]
    assert result.json() == expected.json()  # the same trades and statistics as the run in the API process
    assert report.status_code == 200 and "sma_cross on BTC/USDT 1h" in report.text


async def test_a_message_that_comes_again_or_names_no_job_runs_nothing(
    serve: Serve, services: Services, worker: Worker
) -> None:
    """Bad input: a second message for a job already done (what a broker sends when the first worker died after
    taking the job), and a message for a job id that names no job."""
    await store_candles(services)
    store = SqlBacktestJobStore(services.db)
    async with serve() as api:
        owner = await sign_in(api)
    job = await store.create(owner.user.id, "sma_cross", request_body(fill="open"), datetime.now(UTC))
    broker = build_broker(BROKER_URL)
    try:
        send_job(broker, BACKTEST_QUEUE, RUN_BACKTEST, job.id)
        await worker.wait_for(f'"backtest_id": "{job.id}"', RUN_WITHIN_S)  # backtest.done or .failed
        done = await store.get(job.id)
        report = await store.report(job.id)
        assert done is not None and done.status is JobStatus.DONE, done
        send_job(broker, BACKTEST_QUEUE, RUN_BACKTEST, job.id)
        send_job(broker, BACKTEST_QUEUE, RUN_BACKTEST, "f" * 32)
        deadline = time.monotonic() + 30
        while len(worker.events("backtest.not_run")) < 2:
            assert time.monotonic() < deadline, "the worker did not take both messages within 30 s"
            await asyncio.sleep(0.2)
    finally:
        broker.close()
    assert sorted(e["backtest_id"] for e in worker.events("backtest.not_run")) == sorted([job.id, "f" * 32])
    assert await store.get(job.id) == done and await store.report(job.id) == report
    assert len(worker.events("backtest.done")) == 1


async def test_a_queued_job_keeps_its_heartbeat_until_the_api_stops_and_is_then_left_to_the_workers(
    serve: Serve, services: Services, broker_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No worker runs: the job waits in the queue while the API renews its heartbeat (every 0.1 s here), so the
    stale-job check leaves it queued; once the API stops, the job is left queued for the workers (not failed)."""
    monkeypatch.setattr(backtests, "HEARTBEAT_S", 0.1)
    await store_candles(services)
    store = SqlBacktestJobStore(services.db)
    async with serve(broker_url=broker_url) as api:
        trader = await sign_in(api)
        answer = await api.client.post(URL, json=request_body(), headers=trader.headers)
        assert answer.status_code == 202, answer.text
        queued = await store.get(answer.json()["id"])
        assert queued is not None
        await asyncio.sleep(0.5)
        beaten = await store.get(queued.id)
    assert beaten is not None and beaten.status is JobStatus.QUEUED
    assert beaten.heartbeat_at > queued.heartbeat_at
    assert api.app.state.backtest_runner.tasks == set()
    await asyncio.sleep(0.3)
    assert await store.get(queued.id) == beaten  # left alone after the stop: no beat, not failed
