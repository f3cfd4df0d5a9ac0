"""The monitoring cycle (:class:`MonitoringCycle`): one pass over the watchlist.

Each run, in order:

1. new candles for the watchlist (a :class:`~tsbot.monitor.ports.CandleRefresher`: ccxt / Alpaca; none on a replay
   clock, whose candles are all stored and cut at the clock's time) and new headlines and posts;
2. the series split into batches and handed to a :class:`~tsbot.monitor.ports.Fanout` (this process, or Dramatiq
   workers), which computes and stores signals, stores status changes, queues their notifications and pushes them
   to live clients (:mod:`tsbot.monitor.work`);
3. price alerts checked against each symbol's last closed candle, fired ones stored and notified;
4. users' paper bots run on the new closed bars, providers' signals and approval decisions
   (:class:`~tsbot.monitor.bot_runner.BotRunner`); on the wall clock, live exchange accounts are reconciled with their
   venues and their bots run too (:mod:`tsbot.monitor.live_accounts`; a difference only reported is an error line);
5. the day's equity snapshot of every portfolio with an account written
   (:class:`~tsbot.monitor.snapshots.SnapshotWriter`; the cycle's UTC day, replaced by each later cycle of that day);
6. the summary ``{monitored, updated, errors, duration_s}`` stored, logged and returned.

A failing symbol, source, bot account or portfolio is counted in ``errors`` with its reason and never stops the cycle.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Sequence
from datetime import datetime

import structlog

from tsbot.core.time import from_ms, to_ms, utc_now
from tsbot.market.models import SeriesKey
from tsbot.market.ports import CandleStore, SeriesInfo
from tsbot.monitor.bot_runner import BotRunner
from tsbot.monitor.models import CycleSummary, OutcomeStatus
from tsbot.monitor.ports import CandleRefresher, CycleStore, Fanout, NewsRefresher, NotificationQueue
from tsbot.monitor.snapshots import SnapshotWriter
from tsbot.notify.models import NotificationRequest, NotificationType
from tsbot.signals.alerts import AlertTrigger, PriceAlertStore, PriceQuote, check_alerts
from tsbot.signals.service import ScanService

_log = structlog.get_logger("tsbot.monitor")

#: Series per job handed to the fan-out (per-symbol work, grouped so a job's fixed cost is shared).
DEFAULT_BATCH_SIZE = 25


def batches(infos: Sequence[SeriesInfo], size: int) -> list[list[SeriesInfo]]:
    """``infos`` in consecutive groups of at most ``size`` (>= 1)."""
    size = max(1, size)
    return [list(infos[i : i + size]) for i in range(0, len(infos), size)]


def alert_context(trigger: AlertTrigger) -> dict[str, object]:
    """Template values of a ``price_alert`` notification."""
    alert = trigger.alert
    return {
        "symbol": alert.symbol,
        "condition": str(alert.condition),
        "level": str(alert.price),
        "price": str(trigger.quote.price),
        "at": trigger.quote.at.isoformat(),
        "note": alert.note,
        "message": trigger.message,
    }


class MonitoringCycle:
    """Runs cycles over the watchlist (see the module docstring)."""

    def __init__(
        self,
        scan: ScanService,
        candles: CandleStore,
        cycles: CycleStore,
        fanout: Fanout,
        *,
        alerts: PriceAlertStore | None = None,
        notifications: NotificationQueue | None = None,
        candle_refresher: CandleRefresher | None = None,
        news_refresher: NewsRefresher | None = None,
        batch_size: int = DEFAULT_BATCH_SIZE,
        on_summary: Callable[[CycleSummary], None] | None = None,
        bots: BotRunner | None = None,
        snapshots: SnapshotWriter | None = None,
    ) -> None:
        self._scan = scan
        self._candles = candles
        self._cycles = cycles
        self._fanout = fanout
        self._alerts = alerts
        self._notifications = notifications
        self._candle_refresher = candle_refresher
        self._news_refresher = news_refresher
        self._batch_size = batch_size
        self._on_summary = on_summary
        self._bots = bots
        self._snapshots = snapshots

    async def run(
        self, as_of: datetime | None = None, *, symbols: Sequence[str] | None = None
    ) -> CycleSummary:
        """One cycle as of ``as_of`` (the replay clock's time; None: the latest stored candles) over ``symbols``
        (default: the configured watchlist, else every stored series).

        Raises:
            tsbot.core.errors.EmptyStoreError: the candle store is empty (nothing to monitor).
            tsbot.core.errors.UnknownSymbolError: a requested symbol is not stored.
        """
        started = time.perf_counter()
        summary = CycleSummary(uuid.uuid4().hex, utc_now(), as_of, self._fanout.mode)
        infos = await self._scan.watchlist(symbols, None)
        keys = [info.key for info in infos]
        await self._cycles.start(summary, len(keys))
        await self._refresh(keys, summary)
        outcomes = await self._fanout.run(summary.cycle_id, batches(infos, self._batch_size), as_of)
        for outcome in outcomes:
            if outcome.status is OutcomeStatus.OK:
                summary.monitored += 1
                summary.updated += len(outcome.changes)
                summary.changes.extend(outcome.changes)
            elif outcome.status is OutcomeStatus.SKIPPED:
                summary.skipped += 1
            else:
                summary.add_error(f"{outcome.key}: {outcome.reason}")
        await self._check_alerts(infos, as_of, summary)
        await self._run_bots(as_of, summary)
        await self._write_snapshots(as_of, summary)
        summary.duration_s = time.perf_counter() - started
        await self._cycles.finish(summary)
        _log.info("monitor.cycle", **summary.to_json())
        if self._on_summary is not None:
            self._on_summary(summary)
        return summary

    async def _run_bots(self, as_of: datetime | None, summary: CycleSummary) -> None:
        """Users' paper bots on what arrived; their failures are counted and the cycle goes on."""
        if self._bots is None:
            return
        try:
            ran = await self._bots.run(as_of)
        except Exception as exc:  # noqa: BLE001 - the bots failing must not lose the cycle's summary
            summary.add_error(f"bots: {exc or type(exc).__name__}")
            return
        summary.bots, summary.bot_fills = ran.bots, ran.fills
        for line in ran.errors:
            summary.add_error(f"bots: {line}")
        for line in ran.reconcile:  # a difference with a venue that could only be reported
            summary.add_error(f"reconcile: {line}")

    async def _write_snapshots(self, as_of: datetime | None, summary: CycleSummary) -> None:
        """The day's equity snapshot of every portfolio; a portfolio failing is counted and the others written."""
        if self._snapshots is None:
            return
        try:
            wrote = await self._snapshots.run(as_of)
        except Exception as exc:  # noqa: BLE001 - the snapshots failing must not lose the cycle's summary
            summary.add_error(f"snapshots: {exc or type(exc).__name__}")
            return
        summary.snapshots = wrote.written
        for line in wrote.errors:
            summary.add_error(f"snapshots: {line}")

    async def _refresh(self, keys: list[SeriesKey], summary: CycleSummary) -> None:
        """New candles and headlines; each failure is counted and the cycle goes on."""
        now = utc_now()
        if self._candle_refresher is not None:
            try:
                failed = await self._candle_refresher.refresh(keys, now)
            except Exception as exc:  # noqa: BLE001 - a dead exchange must not stop the cycle
                failed = {k: str(exc) or type(exc).__name__ for k in keys[:1]}
            for key, reason in failed.items():
                summary.add_error(f"{key} candles: {reason}")
        if self._news_refresher is not None:
            try:
                for line in await self._news_refresher.refresh(now):
                    summary.add_error(f"news: {line}")
            except Exception as exc:  # noqa: BLE001 - a dead news source must not stop the cycle
                summary.add_error(f"news: {exc or type(exc).__name__}")

    async def _check_alerts(
        self, infos: list[SeriesInfo], as_of: datetime | None, summary: CycleSummary
    ) -> None:
        """Check the active price alerts of the watched symbols against each symbol's last closed candle."""
        if self._alerts is None or not infos:
            return
        try:
            alerts = await self._alerts.active_for(sorted({i.key.symbol for i in infos}))
            if not alerts:
                return
            wanted = {a.symbol for a in alerts}
            # one series per symbol: the shortest timeframe has the freshest close
            chosen: dict[str, SeriesInfo] = {}
            for info in sorted(infos, key=lambda i: i.key.timeframe.ms):
                if info.key.symbol in wanted:
                    chosen.setdefault(info.key.symbol, info)
            ends = None
            if as_of is not None:
                ends = {i.key: to_ms(as_of) - i.key.timeframe.ms for i in chosen.values()}
            frames = await self._candles.load_many([i.key for i in chosen.values()], end_ms=ends, limit=1)
            changed = []
            requests: list[NotificationRequest] = []
            for symbol, info in chosen.items():
                frame = frames.get(info.key)
                if frame is None or not len(frame):
                    continue
                close_at = from_ms(int(frame.open_time_ms[-1]) + info.key.timeframe.ms)
                quote = PriceQuote.of_candle(
                    symbol, close_at, frame.open[-1], frame.high[-1], frame.low[-1], frame.close[-1]
                )
                check = check_alerts([a for a in alerts if a.symbol == symbol], quote)
                changed.extend(check.updated)
                for trigger in check.triggered:
                    summary.alerts_triggered += 1
                    requests.append(
                        NotificationRequest(
                            user_id=trigger.alert.user_id,
                            type=NotificationType.PRICE_ALERT,
                            dedup_key=f"alert:{trigger.alert.id}:{trigger.quote.at.isoformat()}",
                            context=alert_context(trigger),
                        )
                    )
            if changed:
                await self._alerts.save_state(changed)
            if requests and self._notifications is not None:
                summary.notifications += await self._notifications.enqueue(requests, now=utc_now())
        except Exception as exc:  # noqa: BLE001 - alerts failing must not lose the cycle's summary
            summary.add_error(f"price alerts: {exc or type(exc).__name__}")
            _log.warning("monitor.alerts_failed", error=str(exc))
