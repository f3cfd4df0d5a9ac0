"""Backtest jobs: a backtest a user asked for, run in the background by whichever process takes it (the API process
that accepted it, or a ``tsbot worker`` when a job broker is configured).

A job is stored ``queued`` with the JSON object it was submitted with (``symbols``, ``timeframe``, ``start``, ``end``,
``fill``, ``params``); :func:`run_backtest_job` moves it to ``running`` and then to ``done`` (the result JSON of
``tsbot backtest --json`` and the HTML report) or ``failed`` (the reason). The store's state changes are conditional
(:class:`BacktestJobStore`), so two runners never both run a job.

A runner renews its job's heartbeat every :data:`HEARTBEAT_S` seconds; a queued or running job whose heartbeat is
older than :data:`STALE_AFTER_S` lost its runner (the process stopped) and is marked failed, :data:`INTERRUPTED`
(:func:`fail_stale`). A job never stays ``running`` after its runner is gone.

The report is stored with plotly.js (3.5 MB) replaced by :data:`PLOTLY_MARK`; :func:`full_report` puts it back.
"""

from __future__ import annotations

import asyncio
import functools
import json
import tempfile
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any, Protocol

import anyio
import structlog

from tsbot.backtest.data import choose_series, load_series
from tsbot.backtest.models import BacktestConfig, BacktestResult, FillAt
from tsbot.backtest.runner import run_strategy
from tsbot.backtest.stats import compute_stats
from tsbot.backtest.strategies import build_strategy
from tsbot.config import Settings
from tsbot.core.errors import TsbotError
from tsbot.core.time import to_ms, utc_now
from tsbot.market.models import Timeframe
from tsbot.market.ports import CandleStore
from tsbot.ml.scoring import MlScorer
from tsbot.sentiment.ports import HeadlineStore

#: Seconds between two heartbeats of a job's runner.
HEARTBEAT_S = 15.0
#: A queued or running job whose heartbeat is older than this many seconds has lost its runner.
STALE_AFTER_S = 120.0
#: The reason given to a job whose runner stopped (or was cancelled) before the end.
INTERRUPTED = "interrupted by a restart"
#: What stands for plotly.js in a stored report.
PLOTLY_MARK = "/*tsbot: plotly.js is put back here when the report is served*/"

_log = structlog.get_logger("tsbot.backtest.jobs")


class JobStatus(StrEnum):
    """Where a job stands. ``DONE`` and ``FAILED`` are final."""

    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class BacktestJob:
    """One backtest job, without its (large) result and report.

    ``request`` is the JSON object the job was submitted with; ``progress_ratio`` in [0, 1] with ``stage`` naming
    the step under way; ``error`` the reason of a failure. Times are aware UTC.
    """

    id: str
    owner_id: str
    status: JobStatus
    strategy: str
    request: dict[str, Any]
    progress_ratio: float
    stage: str
    error: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    heartbeat_at: datetime


class BacktestJobStore(Protocol):
    """Where jobs live (``tsbot.adapters.storage.backtest_jobs.SqlBacktestJobStore``). State changes are
    conditional: each answers False when the job is not in a state it may leave. Times are aware UTC."""

    async def get(self, job_id: str, *, owner_id: str | None = None) -> BacktestJob | None:
        """The job, or None (also when it belongs to someone other than ``owner_id`` when given)."""
        ...

    async def start(self, job_id: str, now: datetime) -> bool:
        """``queued`` -> ``running``."""
        ...

    async def progress(self, job_id: str, ratio: float, stage: str, now: datetime) -> bool:
        """Progress (``ratio`` in [0, 1]) and stage of a running job; renews its heartbeat."""
        ...

    async def heartbeat(self, job_id: str, now: datetime) -> bool:
        """Renew the heartbeat of a queued or running job."""
        ...

    async def finish(self, job_id: str, result: str, report: str, now: datetime) -> bool:
        """``running`` -> ``done`` with the result JSON text and the report HTML."""
        ...

    async def fail(self, job_id: str, error: str, now: datetime) -> bool:
        """``queued`` or ``running`` -> ``failed`` with ``error``."""
        ...

    async def fail_stale(self, before: datetime, error: str, now: datetime) -> int:
        """Mark failed every queued or running job whose heartbeat is older than ``before``; how many."""
        ...


class JobInputs(Protocol):
    """What a job reads: the settings (``trading``, ``ml``), the stored candles and headlines, and the active ML
    model. :class:`tsbot.wiring.Services` is one."""

    @property
    def settings(self) -> Settings: ...

    @property
    def candles(self) -> CandleStore: ...

    @property
    def headlines(self) -> HeadlineStore: ...

    async def active_model(self) -> MlScorer | None:
        """The scorer of the active model, or None when none is active."""
        ...


async def run_backtest_job(
    store: BacktestJobStore, inputs: JobInputs, job_id: str, *, time_limit_s: float | None = None
) -> None:
    """Run the queued job ``job_id`` to its end: ``done`` with its result and report, or ``failed`` with the
    reason. Does nothing when the job is not queued (another runner took it, or it is finished).

    Errors are recorded, not raised; a run past ``time_limit_s`` seconds (None: no limit) is stopped and marked
    failed with the limit named; a cancelled run is marked failed (:data:`INTERRUPTED`) and the cancellation goes
    on. The engine runs in a worker thread, which a stop abandons (a thread cannot be stopped).
    """
    if not await store.start(job_id, utc_now()):
        _log.info("backtest.not_run", backtest_id=job_id, reason="not queued: taken, finished or unknown")
        return
    log = _log.bind(backtest_id=job_id)
    beats = asyncio.create_task(_heartbeat(store, job_id))
    limit = asyncio.timeout(time_limit_s)
    try:
        job = await store.get(job_id)
        assert job is not None
        async with limit:
            result, report = await _execute(inputs, store, job)
    except asyncio.CancelledError:
        await store.fail(job_id, INTERRUPTED, utc_now())
        raise
    except Exception as exc:
        if isinstance(exc, TimeoutError) and limit.expired():
            reason = f"stopped: the backtest ran past its time limit of {time_limit_s:g} s"
        elif isinstance(exc, TsbotError):
            reason = str(exc)
        else:
            reason = f"internal error: {type(exc).__name__}: {exc}"
        log.warning("backtest.failed", reason=reason, exc_info=not isinstance(exc, TsbotError | TimeoutError))
        await store.fail(job_id, reason or type(exc).__name__, utc_now())
        return
    finally:
        beats.cancel()
    await store.finish(job_id, result, report, utc_now())
    log.info("backtest.done")


async def fail_stale(store: BacktestJobStore) -> int:
    """Mark failed (:data:`INTERRUPTED`) the queued and running jobs whose heartbeat is older than
    :data:`STALE_AFTER_S`; how many."""
    now = utc_now()
    return await store.fail_stale(now - timedelta(seconds=STALE_AFTER_S), INTERRUPTED, now)


async def _heartbeat(store: BacktestJobStore, job_id: str) -> None:
    while True:
        await anyio.sleep(HEARTBEAT_S)
        await store.heartbeat(job_id, utc_now())


async def _execute(inputs: JobInputs, store: BacktestJobStore, job: BacktestJob) -> tuple[str, str]:
    """The result JSON text and the report HTML (plotly.js left out) of ``job``."""
    from tsbot.backtest.ml import MlHooks

    settings, req = inputs.settings, job.request
    strategy = build_strategy(job.strategy, settings.trading, req["params"])
    timeframe = Timeframe(req["timeframe"])
    start_ms, end_ms = to_ms(datetime.fromisoformat(req["start"])), to_ms(datetime.fromisoformat(req["end"]))
    infos = await choose_series(inputs.candles, req["symbols"], timeframe, settings.trading)
    await store.progress(job.id, 0.1, "loading candles", utc_now())
    headlines = inputs.headlines if strategy.uses_sentiment else None
    data = await load_series(inputs.candles, headlines, infos, settings.trading, end_ms=end_ms)
    notes: list[str] = []
    if strategy.uses_ml:
        hooks = MlHooks(settings.ml, await inputs.active_model())
        data = await anyio.to_thread.run_sync(hooks.with_active_model, data, abandon_on_cancel=True)
        notes.extend(hooks.notes)
    await store.progress(job.id, 0.3, "backtesting", utc_now())
    config = BacktestConfig(fill=FillAt.CLOSE if req["fill"] == "close" else FillAt.NEXT_OPEN)
    run = functools.partial(
        run_strategy, strategy, data, config, start_ms=start_ms, end_ms=end_ms, notes=notes
    )
    # Abandoned on cancel (a thread cannot be stopped): a shutdown need not wait for the engine.
    result = await anyio.to_thread.run_sync(run, abandon_on_cancel=True)
    await store.progress(job.id, 0.7, "writing the report", utc_now())
    title = f"{strategy.name} on {', '.join(k.symbol for k in result.keys)} {timeframe.value}"
    extra = {"strategy": strategy.describe(), "notes": notes}
    return await anyio.to_thread.run_sync(_outputs, result, title, extra, abandon_on_cancel=True)


@functools.cache
def _plotly_js() -> str:
    from plotly.offline import get_plotlyjs

    return str(get_plotlyjs())


def full_report(page: str) -> str:
    """A stored report ``page`` with plotly.js put back in place of :data:`PLOTLY_MARK` (one self-contained page,
    3.5 MB more). CPU-bound: run it in a worker thread from async code."""
    return page.replace(PLOTLY_MARK, _plotly_js(), 1)


def _outputs(result: BacktestResult, title: str, extra: dict[str, Any]) -> tuple[str, str]:
    """The result as JSON text (``tsbot backtest --json``) and the report page with plotly.js replaced by
    :data:`PLOTLY_MARK` (3.5 MB less to store per job)."""
    from tsbot.backtest.export import result_to_json
    from tsbot.backtest.report import write_report

    stats = compute_stats(result)
    with tempfile.TemporaryDirectory(prefix="tsbot-report-") as folder:
        path = write_report(result, stats, Path(folder) / "report.html", title=title)
        page = path.read_text(encoding="utf-8")
    text = json.dumps(result_to_json(result, stats, extra=extra), allow_nan=False)
    return text, page.replace(_plotly_js(), PLOTLY_MARK, 1)
