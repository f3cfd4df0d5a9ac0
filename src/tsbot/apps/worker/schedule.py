"""The schedule table of a process that runs the monitoring cycle (``tsbot serve`` or ``tsbot scheduler``).

APScheduler (3, asyncio) runs three jobs:

========================  ==========================  =========================================================
job                       every                       does
========================  ==========================  =========================================================
``monitor.cycle``         ``monitor.interval_s``      one :class:`~tsbot.monitor.cycle.MonitoringCycle` run
``notify.dispatch``       :data:`DISPATCH_S`          due notifications sent (here, or by a worker)
``config.reload``         ``monitor.reload_config_s`` configuration files and stored admin changes re-read
========================  ==========================  =========================================================

A job never overlaps itself (a late run is merged into the next), and a failing run is logged, never fatal. On a
replay clock each cycle runs as of the clock's time.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime

import structlog
from apscheduler.schedulers.asyncio import AsyncIOScheduler

from tsbot.adapters.events import EventPublisher
from tsbot.adapters.storage.cycles import SqlCycleStore
from tsbot.apps.worker.actors import Actors
from tsbot.apps.worker.fanout import DramatiqFanout
from tsbot.apps.worker.metrics import CycleMetrics
from tsbot.apps.worker.refreshers import CollectorNewsRefresher, ExchangeCandleRefresher
from tsbot.apps.worker.runtime import LiveSettings, build_cycle
from tsbot.core.time import utc_now
from tsbot.monitor.clock import Clock
from tsbot.monitor.models import CycleSummary
from tsbot.wiring import Services

_log = structlog.get_logger("tsbot.monitor")

#: Seconds between two notification dispatches.
DISPATCH_S = 2.0


class Schedule:
    """Runs the cycle, the notification dispatch and the configuration reload on a timer.

    Parameters
    ----------
    services:
        The process's services (their ``settings`` are replaced when the configuration changes).
    clock:
        A replay clock (cycles as of its time), or None for the latest candles.
    actors:
        Dramatiq actors when ``settings.broker_url`` is set: per-series work and sends go to workers.
    publisher:
        Where live events go (the API's event hub in ``tsbot serve``; Redis in ``tsbot scheduler``).
    interval_s:
        Seconds between cycles (default ``monitor.interval_s``).
    metrics:
        Cycle metrics to update (None: none).
    on_summary:
        Called with each cycle's summary (tests, the command line's output).
    """

    def __init__(
        self,
        services: Services,
        *,
        clock: Clock | None = None,
        actors: Actors | None = None,
        publisher: EventPublisher | None = None,
        interval_s: float | None = None,
        metrics: CycleMetrics | None = None,
        on_summary: Callable[[CycleSummary], None] | None = None,
        live: LiveSettings | None = None,
    ) -> None:
        self.services = services
        self.clock = clock
        self._actors = actors
        self._publisher = publisher
        self._interval_s = interval_s
        self._metrics = metrics
        self._on_summary = on_summary
        self._live = live or LiveSettings(services)
        self._candles: ExchangeCandleRefresher | None = None
        self._news: CollectorNewsRefresher | None = None
        self._scheduler = AsyncIOScheduler(timezone="UTC")
        # a cycle longer than the interval makes APScheduler skip (merge) the next run and say so each time: that is
        # the intended behaviour, and the cycle's own log line gives its duration
        logging.getLogger("apscheduler.scheduler").setLevel(logging.ERROR)
        self.last: CycleSummary | None = None
        self._sending: asyncio.Task[None] | None = None
        self._send_again = False

    @property
    def interval_s(self) -> float:
        """Seconds between two cycles."""
        return self._interval_s or self.services.settings.monitor.interval_s

    async def run_cycle(self) -> CycleSummary | None:
        """One cycle now (as of the replay clock's time when replaying); None when it failed as a whole (logged)."""
        settings = self.services.settings
        fanout = None
        if self._actors is not None:
            fanout = DramatiqFanout(
                self._actors, SqlCycleStore(self.services.db), timeout_s=settings.monitor.job_timeout_s
            )
        as_of: datetime | None = self.clock.now() if self.clock is not None else None
        await self._refreshers()
        try:
            cycle = build_cycle(
                self.services, fanout=fanout, publisher=self._publisher, on_queued=self._send_soon,
                candle_refresher=self._candles, news_refresher=self._news,
            )  # fmt: skip
            summary = await cycle.run(as_of)
        except Exception as exc:  # noqa: BLE001 - the next cycle may succeed (a store being filled, a restart)
            _log.error("monitor.cycle_failed", error=type(exc).__name__, message=str(exc))
            return None
        self.last = summary
        if self._actors is None and summary.notifications:
            self._send_soon()  # the price alerts it fired
        if self._metrics is not None:
            self._metrics.observe(summary)
        if self._on_summary is not None:
            self._on_summary(summary)
        return summary

    async def _refreshers(self) -> None:
        """On the live clock, the candle and news refreshers the settings ask for (kept between cycles)."""
        monitor = self.services.settings.monitor
        live = self.clock is None
        if live and monitor.fetch_candles:
            if self._candles is None:
                self._candles = ExchangeCandleRefresher(lambda: self.services.settings, self.services.candles)
        elif self._candles is not None:
            await self._candles.close()
            self._candles = None
        if not (live and monitor.news_interval_s > 0):
            self._news = None
        elif self._news is None:
            self._news = CollectorNewsRefresher(
                lambda: self.services.settings, self.services.headlines, interval_s=monitor.news_interval_s
            )
        else:
            self._news.interval_s = monitor.news_interval_s

    async def close(self) -> None:
        """Stop the jobs and close the exchanges' clients."""
        self.stop()
        if self._candles is not None:
            await self._candles.close()
            self._candles = None

    async def dispatch(self) -> None:
        """Send the notifications that are due (or ask a worker to)."""
        try:
            if self._actors is not None:
                self._actors.dispatch_notifications.send()
            else:
                await self.services.notifications(self._publisher).drain()
        except Exception as exc:  # noqa: BLE001 - a failed dispatch is retried at the next tick
            _log.warning("notify.dispatch_failed", error=type(exc).__name__, message=str(exc))

    def _send_soon(self) -> None:
        """Start sending what was just queued, in the background, unless a send is running already (a status
        change then reaches its watchers while the cycle goes on; workers are asked by their own jobs)."""
        if self._actors is not None:
            return
        if self._sending is not None and not self._sending.done():
            self._send_again = True  # queued after the running send looked: it goes round once more
            return
        self._sending = asyncio.get_running_loop().create_task(self._send_rounds(), name="tsbot-notify-soon")

    async def _send_rounds(self) -> None:
        while True:
            self._send_again = False
            await self.dispatch()
            if not self._send_again:
                return

    async def settle(self) -> None:
        """Wait for a background send started by :meth:`_send_soon` (tests, shutdown)."""
        if self._sending is not None:
            await self._sending

    async def reload_config(self) -> None:
        """Re-read the configuration; a new cycle interval takes effect at once."""
        before = self.interval_s
        if await self._live.reload() and self.interval_s != before and self._scheduler.running:
            self._scheduler.reschedule_job("monitor.cycle", trigger="interval", seconds=self.interval_s)

    def start(self) -> None:
        """Start the jobs (the first cycle at once). Call from a running event loop."""
        settings = self.services.settings
        common = {"max_instances": 1, "coalesce": True, "misfire_grace_time": None}
        self._scheduler.add_job(
            self.run_cycle, "interval", seconds=self.interval_s, id="monitor.cycle",
            next_run_time=utc_now(), **common,
        )  # fmt: skip
        self._scheduler.add_job(self.dispatch, "interval", seconds=DISPATCH_S, id="notify.dispatch", **common)
        self._scheduler.add_job(
            self.reload_config,
            "interval",
            seconds=settings.monitor.reload_config_s,
            id="config.reload",
            **common,
        )
        self._scheduler.start()

    def stop(self) -> None:
        """Stop the jobs (a running one finishes in the background)."""
        if self._scheduler.running:
            self._scheduler.shutdown(wait=False)
