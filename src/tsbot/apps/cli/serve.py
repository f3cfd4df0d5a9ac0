"""``tsbot serve``, ``tsbot scheduler``, ``tsbot worker`` and ``tsbot cycle``: tsbot always on.

- ``serve``: one process with the API, the web pages, the monitoring cycle's schedule and, when a token is
  configured, the Telegram bot. ``--replay`` drives the cycle from a replay clock over the stored (bundled) history.
- ``scheduler``: the schedule alone (cycles, notification dispatch, configuration reload).
- ``worker``: a Dramatiq worker for the cycle's per-series jobs and notification sends (``TSBOT_BROKER_URL``).
- ``cycle``: one cycle now, its summary printed.
"""

from __future__ import annotations

import asyncio
import json
import signal
import threading
from collections.abc import Mapping
from contextlib import AsyncExitStack
from datetime import datetime
from typing import Annotated, Any

import typer

from tsbot.apps.cli.common import console, err_console, run, settings_or_exit
from tsbot.config import Settings
from tsbot.core.errors import ConfigError, TsbotError
from tsbot.core.time import parse_utc
from tsbot.market.as_of import CandlesAsOf
from tsbot.monitor.clock import ReplayClock, replay_span
from tsbot.monitor.models import CycleSummary
from tsbot.wiring import Services

ReplayOpt = Annotated[
    bool, typer.Option("--replay", help="Drive the cycle from a replay clock over the stored history.")
]
SpeedOpt = Annotated[
    float, typer.Option("--speed", min=0.001, help="Replayed seconds per real second (60: an hour a minute).")
]
StartOpt = Annotated[
    str | None,
    typer.Option(
        "--start", help="ISO-8601 time (UTC) the replay starts at (default: 80% through the history)."
    ),
]
IntervalOpt = Annotated[
    float | None,
    typer.Option(
        "--interval", min=0.1, help="Seconds between cycles (default: settings monitor.interval_s)."
    ),
]


def _summary_line(summary: CycleSummary) -> str:
    when = f" as of {summary.as_of:%Y-%m-%d %H:%M} UTC" if summary.as_of else ""
    return (
        f"cycle{when}: {summary.monitored} monitored, {summary.updated} updated, {summary.errors} errors, "
        f"{summary.duration_s:.2f} s ({summary.mode})"
    )


async def _replay_clock(services: Services, speed: float, start: str | None) -> ReplayClock:
    """A replay clock over the stored series (the bundled data is imported first when the store is empty); from
    then on ``services.candles`` shows the store as of the clock."""
    infos = await services.candles.series()
    if not infos:
        from tsbot.apps.cli.data import import_bundled

        console.print("the candle store is empty: importing the bundled data first")
        await import_bundled(services.settings)
        infos = await services.candles.series()
    start_at, end_at = replay_span(infos, start_at=parse_utc(start) if start else None)
    clock = ReplayClock(start_at, end_at, speed)
    # every part of the process (pages, paper fills, on-demand signals) sees the store as of the replay clock
    services.candles = CandlesAsOf(services.candles, clock.now)  # type: ignore[assignment]
    services.clock = clock.now  # and checks what people do by hand (stock market hours) at its time
    return clock


def _actors_of(settings: Settings) -> Any:
    """Dramatiq actors to send jobs to when ``broker_url`` is set (None: everything runs in this process)."""
    if not settings.broker_url:
        return None
    from tsbot.apps.worker.actors import declare_actors
    from tsbot.apps.worker.broker import build_broker

    return declare_actors(build_broker(settings.broker_url))


class _AppPublisher:
    """Publishes to the event hub of a running API app (looked up at each publish: the app makes it at start)."""

    def __init__(self, app: Any) -> None:
        self._app = app

    async def publish(
        self, channel: str, data: Mapping[str, Any], *, user_id: str | None = None, symbol: str | None = None
    ) -> Any:
        from tsbot.apps.api.events import publish

        return await publish(self._app, channel, data, user_id=user_id, symbol=symbol)


async def _serve(
    settings: Settings,
    host: str,
    port: int,
    replay: bool,
    speed: float,
    start: str | None,
    interval: float | None,
    run_schedule: bool = True,
) -> None:
    import uvicorn

    from tsbot.apps.api.app import create_app
    from tsbot.apps.cli.serve_parts import ServeParts
    from tsbot.apps.worker.metrics import CycleMetrics
    from tsbot.apps.worker.schedule import Schedule
    from tsbot.wiring import open_services

    async with AsyncExitStack() as stack:
        services = await stack.enter_async_context(open_services(settings))
        clock = await _replay_clock(services, speed, start) if replay else None
        parts = ServeParts(services)
        app = create_app(services, routers=parts.routers)
        app.state.replay_clock = clock
        schedule = Schedule(
            services,
            clock=clock,
            actors=_actors_of(settings),
            publisher=_AppPublisher(app),
            interval_s=interval,
            metrics=CycleMetrics(app.state.metrics.registry),
            on_summary=lambda s: console.print(_summary_line(s), highlight=False),
        )
        app.state.schedule = schedule
        server = uvicorn.Server(
            uvicorn.Config(
                app,
                host=host,
                port=port,
                log_config=None,
                access_log=False,
                server_header=False,
                lifespan="on",
            )
        )
        serving = asyncio.create_task(server.serve(), name="tsbot-http")
        while not server.started and not serving.done():
            await asyncio.sleep(0.05)
        if serving.done():
            await serving  # the server could not start (port taken...): its error ends the command
            raise ConfigError(f"the web server could not listen on {host}:{port}")
        where = f"http://{host}:{port}"
        console.print(
            f"tsbot on {where} (dashboard {where}/dashboard, API {where}/api/v1/docs)", highlight=False
        )
        if clock is not None:
            console.print(clock.describe(), highlight=False)
        if run_schedule:
            schedule.start()
        await stack.enter_async_context(parts.running_bot())
        try:
            await serving
        finally:
            await schedule.close()


def serve_command(
    host: Annotated[
        str | None, typer.Option(help="Address to listen on (default: settings api.host).")
    ] = None,
    port: Annotated[
        int | None, typer.Option(min=1, max=65_535, help="Port to listen on (default: settings api.port).")
    ] = None,
    replay: ReplayOpt = False,
    speed: SpeedOpt = 60.0,
    start: StartOpt = None,
    interval: IntervalOpt = None,
    schedule: Annotated[
        bool,
        typer.Option(
            "--schedule/--no-schedule",
            help="Run the monitoring cycle here (--no-schedule: a separate `tsbot scheduler` runs it).",
        ),
    ] = True,
) -> None:
    """Run tsbot in one process: the API, the web dashboard, the monitoring cycle and the Telegram bot."""
    from tsbot.apps.logs import configure_logging

    settings = settings_or_exit()
    configure_logging(settings)
    run(
        _serve(settings, host or settings.api.host, port or settings.api.port, replay, speed, start, interval)
    )


async def _scheduler(
    settings: Settings, replay: bool, speed: float, start: str | None, interval: float | None
) -> None:
    from tsbot.adapters.events import RedisEventPublisher
    from tsbot.apps.worker.schedule import Schedule
    from tsbot.wiring import open_services

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with AsyncExitStack() as stack:
        services = await stack.enter_async_context(open_services(settings))
        clock = await _replay_clock(services, speed, start) if replay else None
        publisher = None
        if settings.redis_url:
            publisher = RedisEventPublisher(settings.redis_url)
            stack.push_async_callback(publisher.aclose)
        schedule = Schedule(
            services,
            clock=clock,
            actors=_actors_of(settings),
            publisher=publisher,
            interval_s=interval,
            on_summary=lambda s: console.print(_summary_line(s), highlight=False),
        )
        if clock is not None:
            console.print(clock.describe(), highlight=False)
        schedule.start()
        try:
            await stop.wait()
        finally:
            await schedule.close()


def scheduler_command(
    replay: ReplayOpt = False,
    speed: SpeedOpt = 60.0,
    start: StartOpt = None,
    interval: IntervalOpt = None,
) -> None:
    """Run the monitoring cycle's schedule (per-series jobs go to `tsbot worker`s when TSBOT_BROKER_URL is set)."""
    from tsbot.apps.logs import configure_logging

    settings = settings_or_exit()
    configure_logging(settings)
    run(_scheduler(settings, replay, speed, start, interval))


def worker_command(
    threads: Annotated[int, typer.Option(min=1, max=64, help="Worker threads (jobs run at once).")] = 4,
) -> None:
    """Run a Dramatiq worker for the cycle's per-series jobs and the notification sends (needs TSBOT_BROKER_URL)."""
    import dramatiq

    from tsbot.apps.logs import configure_logging
    from tsbot.apps.worker.actors import WorkerState, declare_actors
    from tsbot.apps.worker.broker import build_broker

    settings = settings_or_exit()
    configure_logging(settings)
    if not settings.broker_url:
        err_console.print(
            "[bold red]error:[/] no broker configured: set TSBOT_BROKER_URL (amqp://... or redis://...)",
            highlight=False,
        )
        raise typer.Exit(2)
    try:
        broker = build_broker(settings.broker_url)
    except TsbotError as exc:
        err_console.print(f"[bold red]error:[/] {exc}", highlight=False)
        raise typer.Exit(2) from None
    declare_actors(broker, WorkerState(settings))
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    worker = dramatiq.Worker(broker, worker_threads=threads)
    worker.start()
    console.print(f"tsbot worker: {threads} threads on {broker.__class__.__name__}", highlight=False)
    try:
        stop.wait()
    finally:
        worker.stop()
        broker.close()


def cycle_command(
    as_of: Annotated[
        str | None,
        typer.Option("--as-of", help="ISO-8601 time (UTC): the cycle as of then (a replay's step)."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
) -> None:
    """Run one monitoring cycle now and print its summary (on workers when TSBOT_BROKER_URL is set)."""
    settings = settings_or_exit()
    try:
        when: datetime | None = parse_utc(as_of) if as_of else None
    except TsbotError as exc:
        err_console.print(f"[bold red]error:[/] {exc}", highlight=False)
        raise typer.Exit(2) from None

    async def _cycle() -> CycleSummary:
        from tsbot.adapters.storage.cycles import SqlCycleStore
        from tsbot.apps.worker.fanout import DramatiqFanout
        from tsbot.apps.worker.runtime import build_cycle
        from tsbot.wiring import open_services

        async with open_services(settings) as services:
            actors = _actors_of(settings)
            fanout = None
            if actors is not None:
                fanout = DramatiqFanout(
                    actors, SqlCycleStore(services.db), timeout_s=settings.monitor.job_timeout_s
                )
            return await build_cycle(services, fanout=fanout).run(when)

    summary = run(_cycle())
    if as_json:
        console.print_json(json.dumps(summary.to_json()))
    else:
        console.print(_summary_line(summary), highlight=False)
        for line in summary.error_details:
            console.print(f"  [red]error[/] {line}", highlight=False)
