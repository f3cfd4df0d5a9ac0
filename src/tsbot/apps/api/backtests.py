"""Backtest jobs under ``/api/v1/backtests`` (``run_backtests``): submit, follow, read the result and the report.

``POST`` checks the request (strategy, parameters, stored symbols at the timeframe, the window) and answers 202 with
a ``queued`` job (:mod:`tsbot.backtest.jobs`). Without a job broker the API process runs it in the background
(:func:`~tsbot.backtest.jobs.run_backtest_job`: the engine and the report in a worker thread, at most
:data:`MAX_CONCURRENT_JOBS` at once); with ``settings.broker_url`` set it is sent to the ``tsbot worker`` processes
(actor ``tsbot.run_backtest``) and this process renews its heartbeat while it waits in the queue (a broker that
does not take it: the job is marked failed and the answer is 503). ``GET /{backtest_id}`` follows it through
``running`` to ``done`` or ``failed`` (with the reason); ``/result`` answers the JSON of ``tsbot backtest --json``
(409 until done), ``/report`` the HTML report as a download (``Content-Disposition: attachment``: the page inlines
plotly.js and opens offline; the API's own ``Content-Security-Policy`` forbids scripts on its answers).

A queued or running job whose heartbeat is older than :data:`~tsbot.backtest.jobs.STALE_AFTER_S` lost its runner
(the process stopped) and is marked failed, "interrupted by a restart", when an app starts and whenever jobs are
read. A job never stays ``running`` after its runner is gone.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Coroutine
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

import anyio
import dramatiq
import structlog
from fastapi import APIRouter, FastAPI, Path, Query, Request
from fastapi.responses import Response
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator, model_validator

from tsbot.accounts.models import Identity, Permission
from tsbot.adapters.job_queue import BACKTEST_QUEUE, RUN_BACKTEST, build_broker, send_job
from tsbot.adapters.storage.backtest_jobs import SqlBacktestJobStore
from tsbot.apps.api.auth import requires
from tsbot.apps.api.deps import ServicesDep
from tsbot.apps.api.errors import ApiError
from tsbot.apps.api.schemas import Page
from tsbot.backtest.data import choose_series
from tsbot.backtest.jobs import (
    HEARTBEAT_S,
    INTERRUPTED,
    BacktestJob,
    JobStatus,
    fail_stale,
    full_report,
    run_backtest_job,
)
from tsbot.backtest.strategies import STRATEGIES, build_strategy
from tsbot.core.errors import DataError, NotFoundError, TemporaryError, TsbotError
from tsbot.core.time import utc_now
from tsbot.market.models import Timeframe
from tsbot.wiring import Services

#: Backtests one API process runs at the same time (each in a worker thread) when no job broker is configured.
MAX_CONCURRENT_JOBS = 2

_log = structlog.get_logger("tsbot.api.backtests")


class _Runner:
    """The background work of one app: jobs run here (asyncio tasks, :data:`MAX_CONCURRENT_JOBS` running at once;
    a job waiting for its turn keeps its heartbeat), or jobs sent to the workers and kept alive while queued."""

    def __init__(self) -> None:
        self.tasks: set[asyncio.Task[None]] = set()
        self.slots = asyncio.Semaphore(MAX_CONCURRENT_JOBS)
        self._broker: dramatiq.Broker | None = None
        self._broker_lock = threading.Lock()

    def _start(self, work: Coroutine[Any, Any, None], name: str) -> None:
        task = asyncio.create_task(work, name=name)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    def spawn(self, services: Services, job_id: str) -> None:
        """Run the job in this process."""
        self._start(self._run(services, job_id), f"backtest-{job_id}")

    async def _run(self, services: Services, job_id: str) -> None:
        store = SqlBacktestJobStore(services.db)
        while True:
            try:
                await asyncio.wait_for(self.slots.acquire(), HEARTBEAT_S)
                break
            except TimeoutError:
                await store.heartbeat(job_id, utc_now())
            except asyncio.CancelledError:
                await store.fail(job_id, INTERRUPTED, utc_now())
                raise
        try:
            await run_backtest_job(store, services, job_id)
        except Exception:  # run_backtest_job records failures; this guards the task from dying unseen
            _log.exception("backtest.runner_failed", backtest_id=job_id)
        finally:
            self.slots.release()

    async def send(self, services: Services, job_id: str) -> None:
        """Send the job to the workers (``settings.broker_url``) and renew its heartbeat while it stays queued.

        Raises:
            TemporaryError: the broker did not take it (the job is marked failed).
        """
        store = SqlBacktestJobStore(services.db)
        url = services.settings.broker_url
        try:
            await anyio.to_thread.run_sync(self._send, url, job_id)
        except Exception as exc:  # any broker failure: the job cannot run
            _log.warning(
                "backtest.queue_failed", backtest_id=job_id, error=type(exc).__name__, message=str(exc)
            )
            await store.fail(job_id, f"the job queue did not take the job ({type(exc).__name__})", utc_now())
            raise TemporaryError("the job queue did not answer; submit the backtest again") from exc
        self._start(_keep_queued(store, job_id), f"backtest-queued-{job_id}")

    def _send(self, url: str, job_id: str) -> None:
        with self._broker_lock:
            if self._broker is None:
                self._broker = build_broker(url)
            broker = self._broker
        send_job(broker, BACKTEST_QUEUE, RUN_BACKTEST, job_id)

    async def stop(self) -> None:
        """Cancel the jobs under way here (they are marked failed; jobs sent to workers are left to them), wait for
        them, and close the broker connection."""
        for task in list(self.tasks):
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        if self._broker is not None:
            broker, self._broker = self._broker, None
            await anyio.to_thread.run_sync(broker.close)


async def _keep_queued(store: SqlBacktestJobStore, job_id: str) -> None:
    """Renew the heartbeat of a job sent to the workers while it waits in the queue (a worker renews it once it
    runs); a failing database is logged and tried again at the next beat."""
    while True:
        await anyio.sleep(HEARTBEAT_S)
        try:
            job = await store.get(job_id)
            if job is None or job.status is not JobStatus.QUEUED:
                return
            await store.heartbeat(job_id, utc_now())
        except Exception as exc:  # the next beat tries again; the job is failed only once it is stale
            _log.warning("backtest.heartbeat_failed", backtest_id=job_id, error=type(exc).__name__)


def _runner(app: FastAPI) -> _Runner:
    runner: _Runner | None = getattr(app.state, "backtest_runner", None)
    if runner is None:
        runner = app.state.backtest_runner = _Runner()
    return runner


async def _fail_stale(services: Services) -> int:
    return await fail_stale(SqlBacktestJobStore(services.db))


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    """At start, jobs whose runner is gone are marked failed; at shutdown, jobs under way here are cancelled."""
    services: Services | None = getattr(app.state, "services", None)
    if services is not None and (stale := await _fail_stale(services)):
        _log.warning("backtest.interrupted_jobs_failed", jobs=stale)
    try:
        yield
    finally:
        await _runner(app).stop()


# --- routes ------------------------------------------------------------------------------------------------------

router = APIRouter(prefix="/api/v1/backtests", tags=["backtests"], lifespan=_lifespan)


class BacktestIn(BaseModel):
    """A backtest to run: a built-in strategy over stored candles, trading bars opening in ``[start, end]``."""

    strategy: str = Field(min_length=1, max_length=32, description=f"one of: {', '.join(STRATEGIES)}")
    symbols: list[str] = Field(
        min_length=1, max_length=20, description="stored symbols (BTC/USDT, btcusdt, BTC)"
    )
    timeframe: Timeframe
    start: AwareDatetime = Field(description="first bar traded (earlier bars only warm up)")
    end: AwareDatetime = Field(description="last bar traded; later bars are never read")
    fill: Literal["open", "close"] = Field(
        "open", description="market fills at the next bar's open (default) or the signal bar's close"
    )
    params: dict[Annotated[str, Field(max_length=32)], Annotated[float, Field(allow_inf_nan=False)]] = Field(
        default_factory=dict,
        max_length=20,
        description="strategy parameters by name (see the strategy's help)",
    )

    @field_validator("start", "end")
    @classmethod
    def _utc(cls, value: datetime) -> datetime:
        try:
            return value.astimezone(UTC)
        except (OverflowError, ValueError):
            raise ValueError("time is out of range") from None

    @field_validator("symbols")
    @classmethod
    def _symbols(cls, value: list[str]) -> list[str]:
        if any(not 1 <= len(s.strip()) <= 32 or not s.isprintable() for s in value):
            raise ValueError("each symbol must be 1 to 32 printable characters")
        return [s.strip() for s in value]

    @model_validator(mode="after")
    def _window(self) -> BacktestIn:
        if self.end <= self.start:
            raise ValueError("end must be after start")
        return self


class BacktestOut(BaseModel):
    """A backtest job: what was asked, and where it stands."""

    model_config = ConfigDict(from_attributes=True)

    id: str
    status: JobStatus
    strategy: str
    request: dict[str, Any] = Field(
        description="symbols, timeframe, start, end, fill and params as submitted"
    )
    progress_ratio: float = Field(ge=0, le=1, description="share of the work done")
    stage: str = Field(description="the step under way (loading candles, backtesting, writing the report...)")
    error: str | None = Field(description="why the job failed")
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None


class BacktestResultOut(BaseModel):
    """``tsbot backtest --json``: trades, statistics, broker configuration, refused entries, strategy, notes."""

    model_config = ConfigDict(extra="allow")

    trades: list[dict[str, Any]]
    stats: dict[str, Any]
    config: dict[str, Any]
    rejected: dict[str, int]


_IdPath = Path(min_length=1, max_length=36, description="the backtest job id")
_NOT_FOUND = {404: {"description": "no such backtest of yours"}}
_NOT_DONE = {409: {"description": "the backtest is not done (queued, running or failed)"}}


@router.post(
    "",
    status_code=202,
    summary="Submit a backtest",
    responses={422: {"description": "unknown strategy, parameter or symbol, or no candles at the timeframe"}},
)
async def submit(
    body: BacktestIn,
    request: Request,
    services: ServicesDep,
    identity: Identity = requires(Permission.RUN_BACKTESTS),
) -> BacktestOut:
    """Checked at once, run in the background; follow it with ``GET /api/v1/backtests/{backtest_id}``."""
    settings = services.settings
    try:
        strategy = build_strategy(body.strategy, settings.trading, body.params)
        await choose_series(services.candles, body.symbols, body.timeframe, settings.trading)
    except (TsbotError, ValueError) as exc:
        raise DataError(str(exc)) from None
    req = body.model_dump(mode="json", exclude={"strategy"}) | {"params": dict(strategy.params)}
    job = await SqlBacktestJobStore(services.db).create(identity.user.id, strategy.name, req, utc_now())
    if settings.broker_url:
        await _runner(request.app).send(services, job.id)
    else:
        _runner(request.app).spawn(services, job.id)
    _log.info("backtest.queued", backtest_id=job.id, user_id=identity.user.id, strategy=strategy.name)
    return BacktestOut.model_validate(job)


@router.get("", summary="My backtests")
async def list_backtests(
    services: ServicesDep,
    limit: int = Query(50, ge=1, le=500),
    offset: int = Query(0, ge=0),
    identity: Identity = requires(Permission.RUN_BACKTESTS),
) -> Page[BacktestOut]:
    """Newest first."""
    await _fail_stale(services)
    jobs, total = await SqlBacktestJobStore(services.db).page(identity.user.id, limit=limit, offset=offset)
    items = [BacktestOut.model_validate(j) for j in jobs]
    return Page[BacktestOut](items=items, total=total, limit=limit, offset=offset)


@router.get("/{backtest_id}", summary="One backtest: status and progress", responses=_NOT_FOUND)
async def get_backtest(
    services: ServicesDep,
    backtest_id: str = _IdPath,
    identity: Identity = requires(Permission.RUN_BACKTESTS),
) -> BacktestOut:
    """Status ``queued``, ``running``, ``done`` or ``failed`` (with ``error``), and the progress."""
    await _fail_stale(services)
    return BacktestOut.model_validate(await _mine(services, backtest_id, identity))


@router.get(
    "/{backtest_id}/result",
    summary="The result of a done backtest",
    response_model=BacktestResultOut,
    responses={**_NOT_FOUND, **_NOT_DONE},
)
async def get_result(
    services: ServicesDep,
    backtest_id: str = _IdPath,
    identity: Identity = requires(Permission.RUN_BACKTESTS),
) -> Response:
    """Trades and statistics, as ``tsbot backtest --json`` prints them."""
    job = await _done(services, backtest_id, identity)
    text = await SqlBacktestJobStore(services.db).result(job.id)
    return Response(text or "{}", media_type="application/json")


@router.get(
    "/{backtest_id}/report",
    summary="The HTML report of a done backtest",
    response_class=Response,
    responses={
        200: {"content": {"text/html": {}}, "description": "the report page"},
        **_NOT_FOUND,
        **_NOT_DONE,
    },
)
async def get_report(
    services: ServicesDep,
    backtest_id: str = _IdPath,
    identity: Identity = requires(Permission.RUN_BACKTESTS),
) -> Response:
    """One self-contained page (plotly.js inlined), sent as a file to save and open."""
    job = await _done(services, backtest_id, identity)
    page = await SqlBacktestJobStore(services.db).report(job.id) or ""
    page = await anyio.to_thread.run_sync(full_report, page)
    return Response(
        page,
        media_type="text/html; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="backtest-{job.id}.html"'},
    )


async def _mine(services: Services, backtest_id: str, identity: Identity) -> BacktestJob:
    job = await SqlBacktestJobStore(services.db).get(backtest_id, owner_id=identity.user.id)
    if job is None:
        raise NotFoundError(f"no backtest {backtest_id!r}")
    return job


async def _done(services: Services, backtest_id: str, identity: Identity) -> BacktestJob:
    job = await _mine(services, backtest_id, identity)
    if job.status is not JobStatus.DONE:
        why = f": {job.error}" if job.error else ""
        raise ApiError(409, f"backtest {backtest_id} is {job.status.value}{why}", error_type="not_done")
    return job
