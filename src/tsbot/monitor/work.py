"""The per-series work of a monitoring cycle, the same in-process and on a Dramatiq worker.

For a batch of series, :meth:`SeriesWork.run`:

1. skips the series this cycle already has an outcome for (a job delivered again after its worker died);
2. computes and stores their signals as of the cycle's time (one batch; when the batch fails, each series alone, so
   one failing series never takes the others down);
3. reads back the status changes stored at each new signal's time, so a change whose work died after storing it is
   still reported once;
4. queues a ``signal_changed`` notification for every user watching the symbol (the outbox drops a notification it
   already holds: the key is series, signal time and new action);
5. publishes the changes to live clients, and records each series' outcome for the cycle.

Every step is idempotent, so running the same batch twice stores, notifies and records each change exactly once.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

import structlog

from tsbot.core.errors import NoDataBeforeError
from tsbot.core.time import utc_now
from tsbot.market.models import SeriesKey
from tsbot.market.ports import SeriesInfo
from tsbot.monitor.models import OutcomeStatus, SeriesOutcome
from tsbot.monitor.ports import ChangePublisher, ChangeReader, CycleStore, NotificationQueue, Watchers
from tsbot.notify.models import NotificationRequest, NotificationType
from tsbot.signals.models import Signal, StatusChange
from tsbot.signals.service import ScanResult, ScanService

_log = structlog.get_logger("tsbot.monitor")

#: Reasons shown for a failed series are cut to this many characters.
_REASON_CHARS = 300


def change_key(change: StatusChange) -> str:
    """The deduplication key of a status change's notifications: ``signal:<exchange>:<symbol>:<timeframe>:<signal
    time ISO 8601 UTC>:<new action>``."""
    k = change.key
    return f"signal:{k.exchange}:{k.symbol}:{k.timeframe.value}:{change.changed_at.isoformat()}:{change.to_action}"


def change_context(change: StatusChange, signal: Signal | None) -> dict[str, Any]:
    """Template values of a ``signal_changed`` notification: symbol, exchange, timeframe, from/to action, score,
    signal time (ISO 8601 UTC) and, with the signal, confidence, price, stop-loss, take-profits and the top three
    reasons."""
    context: dict[str, Any] = {
        "symbol": change.key.symbol,
        "exchange": change.key.exchange,
        "timeframe": change.key.timeframe.value,
        "from_action": change.from_action.value if change.from_action else "none",
        "to_action": change.to_action.value,
        "action": change.to_action.value,
        "score": round(change.score, 4),
        "as_of": change.changed_at.isoformat(),
    }
    if signal is not None:
        context.update(
            confidence=round(signal.confidence, 4),
            price=signal.price,
            stop_loss=signal.stop_loss,
            take_profit=list(signal.take_profit),
            reasons=list(signal.reasons[:3]),
        )
    return context


def _reason(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text[:_REASON_CHARS]


class SeriesWork:
    """Computes, stores, notifies and records a batch of series for one cycle (see the module docstring).
    ``on_queued`` is called (without waiting) each time new notifications were queued."""

    def __init__(
        self,
        scan: ScanService,
        changes: ChangeReader,
        cycles: CycleStore,
        *,
        watchers: Watchers | None = None,
        notifications: NotificationQueue | None = None,
        publisher: ChangePublisher | None = None,
        on_queued: Callable[[], None] | None = None,
    ) -> None:
        self._scan = scan
        self._changes = changes
        self._cycles = cycles
        self._watchers = watchers
        self._notifications = notifications
        self._publisher = publisher
        self._on_queued = on_queued

    async def run(
        self, cycle_id: str, infos: Sequence[SeriesInfo], as_of: datetime | None
    ) -> list[SeriesOutcome]:
        """Do the work for the series ``infos`` (as the cycle listed them) in cycle ``cycle_id`` as of ``as_of``
        (None: the latest stored candles) and return every series' outcome (already recorded ones as recorded)."""
        keys = [info.key for info in infos]
        done = {o.key: o for o in await self._cycles.results(cycle_id, keys)}
        chosen = [info for info in infos if info.key not in done]
        if not chosen:
            return [done[k] for k in keys]
        todo = [info.key for info in chosen]
        outcomes: dict[SeriesKey, SeriesOutcome] = {}
        results = await self._compute(chosen, as_of, outcomes)
        signals = {s.key: s for r in results for s in r.signals}
        for r in results:
            for skipped in r.skipped:
                outcomes[skipped.key] = SeriesOutcome(
                    skipped.key, OutcomeStatus.SKIPPED, reason=skipped.reason
                )
        stored = await self._changes.changes_at([(s.key, s.as_of) for s in signals.values()])
        by_key: dict[SeriesKey, list[StatusChange]] = {}
        for change in stored:
            by_key.setdefault(change.key, []).append(change)
        for key in signals:
            outcomes[key] = SeriesOutcome(key, OutcomeStatus.OK, tuple(by_key.get(key, ())))
        await self._notify(stored, signals)
        if self._publisher is not None and stored:
            await self._publisher.publish_changes(stored)
        await self._cycles.record(cycle_id, [outcomes[k] for k in todo if k in outcomes])
        return [done.get(k) or outcomes[k] for k in keys if k in done or k in outcomes]

    async def _compute(
        self,
        chosen: list[SeriesInfo],
        as_of: datetime | None,
        outcomes: dict[SeriesKey, SeriesOutcome],
    ) -> list[ScanResult]:
        """Scan the batch at once; when that fails, each series alone (the failures become ``error`` outcomes, and
        series with no closed candle by ``as_of`` ``skipped`` ones)."""
        if not chosen:
            return []
        try:
            return [await self._scan.scan_series(chosen, as_of=as_of)]
        except NoDataBeforeError as exc:  # every series of the batch starts after as_of
            for info in chosen:
                outcomes[info.key] = SeriesOutcome(info.key, OutcomeStatus.SKIPPED, reason=_reason(exc))
            return []
        except Exception as exc:  # noqa: BLE001 - one bad series must not stop the others: retried one by one
            if len(chosen) == 1:
                self._failed(chosen[0], exc, outcomes)
                return []
        results: list[ScanResult] = []
        for info in chosen:
            try:
                results.append(await self._scan.scan_series([info], as_of=as_of))
            except NoDataBeforeError as exc:
                outcomes[info.key] = SeriesOutcome(info.key, OutcomeStatus.SKIPPED, reason=_reason(exc))
            except Exception as exc:  # noqa: BLE001 - recorded as this series' error; the cycle goes on
                self._failed(info, exc, outcomes)
        return results

    @staticmethod
    def _failed(info: SeriesInfo, exc: BaseException, outcomes: dict[SeriesKey, SeriesOutcome]) -> None:
        outcomes[info.key] = SeriesOutcome(info.key, OutcomeStatus.ERROR, reason=_reason(exc))
        _log.warning("monitor.series_failed", series=str(info.key), error=_reason(exc))

    async def _notify(self, changes: Sequence[StatusChange], signals: dict[SeriesKey, Signal]) -> None:
        """Queue ``signal_changed`` notifications for the watchers of each changed symbol."""
        if not changes or self._watchers is None or self._notifications is None:
            return
        watching = await self._watchers.watchers(sorted({c.key.symbol for c in changes}))
        requests = [
            NotificationRequest(
                user_id=user_id,
                type=NotificationType.SIGNAL_CHANGED,
                dedup_key=change_key(change),
                context=change_context(change, signals.get(change.key)),
            )
            for change in changes
            for user_id in watching.get(change.key.symbol, ())
        ]
        if requests and await self._notifications.enqueue(requests, now=utc_now()) and self._on_queued:
            self._on_queued()  # e.g. start sending now, while the cycle finishes
