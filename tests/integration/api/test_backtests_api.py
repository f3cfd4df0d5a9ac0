"""Backtest jobs over the API (SQLite and PostgreSQL): a small ``sma_cross`` backtest over 400 stored hourly candles
runs in the background to ``done`` and serves the same JSON as ``tsbot backtest --json`` and the HTML report; bad
requests get 422, other users 404, and a job whose runner is gone or crashed is marked failed, never left running.
"""

from __future__ import annotations

import asyncio
import json
import math
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from tests.integration.api.conftest import Api, Caller, Serve, closed_port, sign_in
from tests.integration.api.test_api_errors import assert_error

from tsbot.accounts.models import Role
from tsbot.adapters.storage.backtest_jobs import SqlBacktestJobStore
from tsbot.backtest.export import RESERVED_KEYS
from tsbot.backtest.jobs import INTERRUPTED, STALE_AFTER_S, JobStatus, run_backtest_job
from tsbot.market.models import CandleFrame, SeriesKey, Timeframe
from tsbot.wiring import Services

URL = "/api/v1/backtests"
START = datetime(2024, 1, 1, tzinfo=UTC)
BARS = 400
#: Seconds a small backtest may take to finish (the engine's first run in a fresh process compiles it).
DONE_WITHIN_S = 180.0


async def store_candles(services: Services, symbol: str = "BTC/USDT", bars: int = BARS) -> None:
    """Hourly bars of ``symbol`` on binance from :data:`START`: a sine wave around 100, so SMAs cross often."""
    t0 = int(START.timestamp() * 1000)
    closes = [100 + 10 * math.sin(i / 12) + i * 0.01 for i in range(bars)]
    rows = [(t0 + i * Timeframe.H1.ms, c, c * 1.01, c * 0.99, c, 10.0) for i, c in enumerate(closes)]
    key = SeriesKey("binance", symbol, Timeframe.H1)
    await services.candles.upsert(key, "crypto", CandleFrame.from_rows(rows))


def request_body(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "strategy": "sma_cross",
        "symbols": ["BTC/USDT"],
        "timeframe": "1h",
        "start": (START + timedelta(hours=50)).isoformat(),
        "end": (START + timedelta(hours=BARS - 1)).isoformat(),
        "params": {"fast": 5, "slow": 20},
    }
    body.update(changes)
    return body


async def wait_finished(api: Api, caller: Caller, backtest_id: str) -> dict[str, Any]:
    """Poll the job until it is done or failed; fails the test after :data:`DONE_WITHIN_S`."""
    deadline = time.monotonic() + DONE_WITHIN_S
    seen: list[str] = []
    while time.monotonic() < deadline:
        answer = await api.client.get(f"{URL}/{backtest_id}", headers=caller.headers)
        assert answer.status_code == 200, answer.text
        job: dict[str, Any] = answer.json()
        seen.append(job["status"])
        if job["status"] in ("done", "failed"):
            return job
        await asyncio.sleep(0.1)
    raise AssertionError(
        f"backtest {backtest_id} not finished within {DONE_WITHIN_S} s; statuses {seen[-5:]}"
    )


async def owned_objects(api: Api, caller: Caller) -> dict[str, str]:
    """A queued backtest job of ``caller`` (made in the store: no run needed to address it)."""
    store = SqlBacktestJobStore(api.app.state.services.db)
    job = await store.create(caller.user.id, "sma_cross", request_body(fill="open"), datetime.now(UTC))
    return {"backtest_id": job.id}


async def test_backtest_runs_to_done_with_result_and_report(serve: Serve, services: Services) -> None:
    await store_candles(services)
    async with serve() as api:
        trader = await sign_in(api)
        answer = await api.client.post(URL, json=request_body(fill="close"), headers=trader.headers)
        assert answer.status_code == 202, answer.text
        queued = answer.json()
        assert queued["status"] == "queued" and queued["strategy"] == "sma_cross"
        assert queued["request"]["params"] == {"fast": 5.0, "slow": 20.0, "allow_short": 0.0}
        job = await wait_finished(api, trader, queued["id"])
        assert job["status"] == "done", job
        assert job["progress_ratio"] == 1.0 and job["error"] is None and job["finished_at"] is not None

        result = await api.client.get(f"{URL}/{job['id']}/result", headers=trader.headers)
        report = await api.client.get(f"{URL}/{job['id']}/report", headers=trader.headers)
        listed = await api.client.get(URL, headers=trader.headers)
    assert result.status_code == 200 and result.headers["content-type"] == "application/json"
    body = result.json()
    assert set(RESERVED_KEYS) <= set(body) and body["strategy"]["strategy"] == "sma_cross"
    assert body["trades"], "a sine wave with fast=5 / slow=20 crosses: trades expected"
    first = body["trades"][0]
    assert first["symbol"] == "BTC/USDT" and first["timeframe"] == "1h" and first["entry_at"].endswith("Z")
    assert first["entry_at"] >= "2024-01-03T02:00:00Z"  # never before the start of the window
    assert body["config"]["fill"] == "close"
    assert body["stats"]["trades"] == len(body["trades"])
    assert report.status_code == 200 and report.headers["content-type"].startswith("text/html")
    assert "attachment" in report.headers["content-disposition"]
    page = report.text
    assert page.startswith("<!DOCTYPE html>") and "sma_cross on BTC/USDT 1h" in page
    assert "tsbot: plotly.js" not in page and len(page) > 1_000_000  # plotly.js put back inline
    stored = await SqlBacktestJobStore(services.db).report(job["id"])
    assert stored is not None and "tsbot: plotly.js" in stored and len(stored) < len(page) - 1_000_000
    assert listed.json()["total"] == 1 and listed.json()["items"][0]["id"] == job["id"]


async def test_bad_requests_get_422(serve: Serve, services: Services) -> None:
    """Bad input: unknown strategy, unknown symbol, unknown timeframe, a stored symbol at a timeframe it lacks,
    end before start, naive times, a parameter the strategy lacks, fast >= slow, NaN and out-of-range values,
    no symbols, and a body that is not JSON."""
    await store_candles(services)
    bad = [
        request_body(strategy="no_such_strategy"),
        request_body(symbols=["DOGE/XYZ"]),
        request_body(timeframe="7m"),
        request_body(timeframe="4h"),
        request_body(end=request_body()["start"], start=request_body()["end"]),
        request_body(start="2024-01-02T00:00:00", end="2024-01-10T00:00:00"),
        request_body(params={"fast": 5, "slow": 20, "bogus": 1}),
        request_body(params={"fast": 30, "slow": 20}),
        request_body(symbols=[]),
        request_body(symbols=["x" * 40]),
        request_body(start="0001-01-01T00:00:00+14:00"),
    ]
    async with serve() as api:
        trader = await sign_in(api)
        for body in bad:
            answer = await api.client.post(URL, json=body, headers=trader.headers)
            assert answer.status_code == 422, (body, answer.text)
        for number in ("NaN", "1e999", "-Infinity"):
            raw = json.dumps(request_body()).replace('"fast": 5', f'"fast": {number}')
            answer = await api.client.post(
                URL, content=raw, headers={**trader.headers, "content-type": "application/json"}
            )
            assert_error(answer, 422, "validation_error")
        text = await api.client.post(
            URL, content="run it", headers={**trader.headers, "content-type": "text/plain"}
        )
        assert text.status_code == 415
        listed = await api.client.get(URL, headers=trader.headers)
    assert listed.json()["total"] == 0  # no job was created for any of them


async def test_failed_job_gives_the_reason_and_409_on_result(serve: Serve, services: Services) -> None:
    """Bad input: a window after the last stored candle (accepted, then the run finds nothing to trade)."""
    await store_candles(services)
    later = {"start": "2030-01-01T00:00:00Z", "end": "2030-02-01T00:00:00Z"}
    async with serve() as api:
        trader = await sign_in(api)
        answer = await api.client.post(URL, json=request_body(**later), headers=trader.headers)
        assert answer.status_code == 202, answer.text
        job = await wait_finished(api, trader, answer.json()["id"])
        result = await api.client.get(f"{URL}/{job['id']}/result", headers=trader.headers)
        report = await api.client.get(f"{URL}/{job['id']}/report", headers=trader.headers)
    assert job["status"] == "failed" and "nothing to backtest" in job["error"], job
    assert "no bars in the requested period" in assert_error(result, 409, "not_done")["message"]
    assert_error(report, 409, "not_done")


async def test_result_is_409_while_queued(serve: Serve) -> None:
    async with serve() as api:
        trader = await sign_in(api)
        ids = await owned_objects(api, trader)
        answer = await api.client.get(f"{URL}/{ids['backtest_id']}/result", headers=trader.headers)
    assert "is queued" in assert_error(answer, 409, "not_done")["message"]


async def test_who_may_call(serve: Serve) -> None:
    """Bad input: no token, a viewer (no run_backtests), another trader's job, an unknown id, ids with NUL and
    other characters no id holds (PostgreSQL refuses NUL in text: never a 5xx)."""
    async with serve() as api:
        owner = await sign_in(api)
        other = await sign_in(api)
        viewer = await sign_in(api, Role.VIEWER)
        job_id = (await owned_objects(api, owner))["backtest_id"]
        assert_error(await api.client.get(URL), 401, "unauthorized")
        assert_error(await api.client.post(URL, json=request_body()), 401, "unauthorized")
        assert_error(await api.client.get(URL, headers=viewer.headers), 403, "forbidden")
        assert_error(
            await api.client.post(URL, json=request_body(), headers=viewer.headers), 403, "forbidden"
        )
        for suffix in ("", "/result", "/report"):
            assert_error(
                await api.client.get(f"{URL}/{job_id}{suffix}", headers=other.headers), 404, "not_found"
            )
        for bad_id in ("no-such-job", "0" * 32, "%F0%9F%9A%80", job_id.upper()):
            assert_error(await api.client.get(f"{URL}/{bad_id}", headers=owner.headers), 404, "not_found")
        nul = await api.client.get(f"{URL}/a%00b", headers=owner.headers)
        assert_error(nul, 422, "validation_error")  # a NUL in the path is refused app-wide
        mine = await api.client.get(URL, headers=owner.headers)
        theirs = await api.client.get(URL, headers=other.headers)
    assert mine.json()["total"] == 1 and theirs.json() == {"items": [], "total": 0, "limit": 50, "offset": 0}


async def test_job_whose_runner_died_is_failed_when_an_app_starts(serve: Serve, services: Services) -> None:
    """A job left running (and one left queued) by a process that stopped: heartbeats older than the limit."""
    store = SqlBacktestJobStore(services.db)
    async with serve() as api:
        owner = await sign_in(api)
    old = datetime.now(UTC) - timedelta(seconds=STALE_AFTER_S + 60)
    running = await store.create(owner.user.id, "sma_cross", request_body(fill="open"), old)
    assert await store.start(running.id, old)
    queued = await store.create(owner.user.id, "sma_cross", request_body(fill="open"), old)
    fresh = await store.create(owner.user.id, "sma_cross", request_body(fill="open"), datetime.now(UTC))
    async with serve() as api:
        assert (await store.get(running.id)) is not None
        states = {job_id: await store.get(job_id) for job_id in (running.id, queued.id, fresh.id)}
        answer = await api.client.get(f"{URL}/{running.id}", headers=owner.headers)
    assert states[running.id].status is JobStatus.FAILED and states[running.id].error == INTERRUPTED  # type: ignore[union-attr]
    assert states[queued.id].status is JobStatus.FAILED  # type: ignore[union-attr]
    assert states[fresh.id].status is JobStatus.QUEUED  # type: ignore[union-attr]
    assert answer.json()["status"] == "failed" and answer.json()["error"] == "interrupted by a restart"


async def test_a_crashing_job_is_marked_failed(serve: Serve, services: Services) -> None:
    """Bad input: a stored job whose request lacks its fields (the runner raises KeyError inside)."""
    store = SqlBacktestJobStore(services.db)
    async with serve() as api:
        owner = await sign_in(api)
    job = await store.create(owner.user.id, "sma_cross", {"symbols": ["BTC/USDT"]}, datetime.now(UTC))
    await run_backtest_job(store, services, job.id)
    failed = await store.get(job.id)
    assert failed is not None and failed.status is JobStatus.FAILED
    assert failed.error is not None and failed.error.startswith("internal error: KeyError")
    await run_backtest_job(store, services, job.id)  # a finished job is not run again
    assert (await store.get(job.id)) == failed


async def test_a_job_past_its_time_limit_is_stopped_and_marked_failed(
    serve: Serve, services: Services
) -> None:
    """Bad input: a time limit of 0 s (what a worker's one-hour limit does to a backtest that runs longer)."""
    await store_candles(services)
    store = SqlBacktestJobStore(services.db)
    async with serve() as api:
        owner = await sign_in(api)
    job = await store.create(owner.user.id, "sma_cross", request_body(fill="open"), datetime.now(UTC))
    await run_backtest_job(store, services, job.id, time_limit_s=0)
    stopped = await store.get(job.id)
    assert stopped is not None and stopped.status is JobStatus.FAILED and stopped.finished_at is not None
    assert stopped.error == "stopped: the backtest ran past its time limit of 0 s"
    assert await store.result(job.id) is None


async def test_a_broker_that_does_not_answer_gets_503_and_the_job_is_failed(
    serve: Serve, services: Services
) -> None:
    """Bad input: ``broker_url`` naming a Redis port nobody listens on (the job cannot reach any worker)."""
    await store_candles(services)
    async with serve(broker_url=f"redis://127.0.0.1:{closed_port()}/0") as api:
        trader = await sign_in(api)
        answer = await api.client.post(URL, json=request_body(), headers=trader.headers)
        listed = await api.client.get(URL, headers=trader.headers)
    assert_error(answer, 503, "temporarily_unavailable")
    [job] = listed.json()["items"]
    assert job["status"] == "failed" and job["error"].startswith("the job queue did not take the job")
