"""tsbot's Dramatiq actors and the per-process state they run with.

- ``tsbot.scan_series(cycle_id, series, as_of)``: one batch of a cycle's per-series work
  (:class:`tsbot.monitor.work.SeriesWork`); queues ``tsbot.dispatch_notifications`` when it queued any;
- ``tsbot.dispatch_notifications()``: sends the notifications that are due, with retries and backoff kept in the
  outbox (a send that fails is retried by a later dispatch, not by Dramatiq).
- ``tsbot.run_backtest(job_id)``: runs one stored backtest job that the API queued
  (:func:`tsbot.backtest.jobs.run_backtest_job`, at most :data:`BACKTEST_TIME_LIMIT_S` seconds). Never retried: the
  job records its own failure, and a message delivered again (its first worker died) finds the job no longer
  queued and does nothing; the API marks such a job failed once its heartbeat is stale.

Each worker process opens its services once, on the event loop of Dramatiq's AsyncIO middleware, and closes them at
shutdown. Live events (status changes, in-app notifications) go to the API processes over Redis when
``settings.redis_url`` is set.
"""

from __future__ import annotations

import asyncio
from contextlib import AsyncExitStack
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import dramatiq
import structlog
from dramatiq.asyncio import get_event_loop_thread

from tsbot.adapters.events import RedisEventPublisher
from tsbot.adapters.job_queue import RUN_BACKTEST
from tsbot.adapters.storage.backtest_jobs import SqlBacktestJobStore
from tsbot.apps.worker.broker import BACKTEST_QUEUE, CYCLE_QUEUE, NOTIFY_QUEUE
from tsbot.apps.worker.runtime import build_work
from tsbot.backtest.jobs import run_backtest_job
from tsbot.config import Settings
from tsbot.market.models import SeriesKey, Timeframe
from tsbot.market.ports import SeriesInfo
from tsbot.wiring import Services, open_services

_log = structlog.get_logger("tsbot.worker")

#: Milliseconds one batch may run before Dramatiq gives up on it.
JOB_TIME_LIMIT_MS = 300_000
#: Seconds one backtest job may run before it is stopped and marked failed.
BACKTEST_TIME_LIMIT_S = 3_600.0


def info_to_json(info: SeriesInfo) -> list[str | int]:
    """A series as the cycle listed it, as a message argument: ``[exchange, symbol, timeframe, asset class, bar
    count, first open ms, last open ms]`` (the worker needs no look-up of its own)."""
    k = info.key
    return [
        k.exchange,
        k.symbol,
        k.timeframe.value,
        info.asset_class,
        info.count,
        info.first_open_ms,
        info.last_open_ms,
    ]


def info_from_json(raw: list[str | int]) -> SeriesInfo:
    """The series of :func:`info_to_json`'s list."""
    exchange, symbol, timeframe, asset_class, count, first, last = raw
    key = SeriesKey(str(exchange), str(symbol), Timeframe(str(timeframe)))
    return SeriesInfo(key, str(asset_class), int(count), int(first), int(last))


class WorkerState:
    """What a worker process's actors share: the settings, and the services opened on first use."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._stack: AsyncExitStack | None = None
        self._services: Services | None = None
        self._publisher: RedisEventPublisher | None = None
        self._lock = asyncio.Lock()

    async def services(self) -> Services:
        """The process's services (the database is not migrated here: ``tsbot scheduler`` / ``serve`` do it)."""
        async with self._lock:
            if self._services is None:
                stack = AsyncExitStack()
                self._services = await stack.enter_async_context(open_services(self.settings, migrate=False))
                if self.settings.redis_url:
                    self._publisher = RedisEventPublisher(self.settings.redis_url)
                    stack.push_async_callback(self._publisher.aclose)
                self._stack = stack
            return self._services

    @property
    def publisher(self) -> RedisEventPublisher | None:
        """Where live events go (None without ``redis_url``)."""
        return self._publisher

    async def aclose(self) -> None:
        """Close what :meth:`services` opened."""
        if self._stack is not None:
            await self._stack.aclose()
            self._stack = self._services = self._publisher = None


class _CloseServices(dramatiq.Middleware):
    """Closes the worker process's services before its event loop stops."""

    def __init__(self, state: WorkerState) -> None:
        self._state = state

    def before_worker_shutdown(self, broker: dramatiq.Broker, worker: dramatiq.Worker) -> None:
        loop_thread = get_event_loop_thread()
        if loop_thread is not None:
            loop_thread.run_coroutine(self._state.aclose())


@dataclass(frozen=True, slots=True)
class Actors:
    """The declared actors (send messages with ``actors.scan_series.send(...)``)."""

    scan_series: dramatiq.Actor[Any, Any]
    dispatch_notifications: dramatiq.Actor[Any, Any]
    run_backtest: dramatiq.Actor[Any, Any]


def declare_actors(broker: dramatiq.Broker, state: WorkerState | None = None) -> Actors:
    """Declare tsbot's actors on ``broker``. A process that only sends messages (the scheduler) passes no
    ``state``; a worker passes its :class:`WorkerState` (closed at shutdown)."""
    if state is not None:
        broker.add_middleware(_CloseServices(state))

    async def scan_series(cycle_id: str, series: list[list[str | int]], as_of: str | None) -> int:
        assert state is not None, "actors run only in a worker"
        services = await state.services()
        when = datetime.fromisoformat(as_of) if as_of else None
        outcomes = await build_work(services, state.publisher).run(
            cycle_id, [info_from_json(s) for s in series], when
        )
        changes = sum(len(o.changes) for o in outcomes)
        if changes:
            dispatch.send()
        return changes

    async def dispatch_notifications() -> int:
        assert state is not None, "actors run only in a worker"
        services = await state.services()
        summary = await services.notifications(state.publisher).drain()
        _log.info("notify.dispatched", summary=str(summary))
        return 0

    async def run_backtest(job_id: str) -> None:
        assert state is not None, "actors run only in a worker"
        services = await state.services()
        store = SqlBacktestJobStore(services.db)
        await run_backtest_job(store, services, job_id, time_limit_s=BACKTEST_TIME_LIMIT_S)

    scan = dramatiq.actor(
        scan_series,
        broker=broker,
        actor_name="tsbot.scan_series",
        queue_name=CYCLE_QUEUE,
        max_retries=3,
        min_backoff=500,
        max_backoff=5_000,
        time_limit=JOB_TIME_LIMIT_MS,
    )
    dispatch = dramatiq.actor(
        dispatch_notifications,
        broker=broker,
        actor_name="tsbot.dispatch_notifications",
        queue_name=NOTIFY_QUEUE,
        max_retries=0,
        time_limit=JOB_TIME_LIMIT_MS,
    )
    backtest = dramatiq.actor(
        run_backtest,
        broker=broker,
        actor_name=RUN_BACKTEST,
        queue_name=BACKTEST_QUEUE,
        max_retries=0,
        # Dramatiq's own limit only backs up the job's: the job stops itself and records why first.
        time_limit=int((BACKTEST_TIME_LIMIT_S + 60) * 1000),
    )
    return Actors(scan, dispatch, backtest)
