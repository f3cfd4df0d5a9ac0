"""The monitoring cycle over in-memory stores: outcomes, failure isolation, idempotent re-runs, alerts, summary."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import numpy as np
import pytest

from tsbot.adapters.memory import FrameCandleStore, MemoryHeadlineStore, MemorySignalStore
from tsbot.config import TradingConfig
from tsbot.market.models import CandleFrame, SeriesKey, Timeframe
from tsbot.market.ports import SeriesInfo
from tsbot.monitor.cycle import MonitoringCycle, batches
from tsbot.monitor.fanout import InProcessFanout
from tsbot.monitor.models import CycleSummary, OutcomeStatus, SeriesOutcome
from tsbot.monitor.work import SeriesWork, change_key
from tsbot.notify.models import NotificationRequest, NotificationType
from tsbot.signals.alerts import AlertCondition, PriceAlert
from tsbot.signals.service import ScanResult, ScanService

H = 3_600_000
START_MS = int(datetime(2022, 1, 1, tzinfo=UTC).timestamp() * 1000)
SYMBOLS = ("BTC/USDT", "ETH/USDT", "SOL/USDT")
KEYS = [SeriesKey("binance", s, Timeframe.H1) for s in SYMBOLS]
AS_OF = datetime.fromtimestamp((START_MS + 400 * H) / 1000, UTC)


def _frame(seed: int, bars: int = 600) -> CandleFrame:
    rng = np.random.default_rng(seed)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, bars)))
    open_ = np.concatenate([[close[0]], close[:-1]])
    rows = np.column_stack(
        [
            START_MS + np.arange(bars) * H,
            open_,
            np.maximum(open_, close) * 1.002,
            np.minimum(open_, close) * 0.998,
            close,
            np.full(bars, 10.0),
        ]
    )
    return CandleFrame.from_rows(rows)


class MemoryCycles:
    def __init__(self) -> None:
        self.runs: dict[str, tuple[CycleSummary, int]] = {}
        self.outcomes: dict[str, dict[SeriesKey, SeriesOutcome]] = {}
        self.finished: list[CycleSummary] = []

    async def start(self, summary: CycleSummary, series: int) -> None:
        self.runs[summary.cycle_id] = (summary, series)

    async def record(self, cycle_id: str, outcomes: Sequence[SeriesOutcome]) -> None:
        mine = self.outcomes.setdefault(cycle_id, {})
        for o in outcomes:
            mine.setdefault(o.key, o)

    async def results(self, cycle_id: str, keys: Sequence[SeriesKey] | None = None) -> list[SeriesOutcome]:
        mine = self.outcomes.get(cycle_id, {})
        return [o for k, o in mine.items() if keys is None or k in keys]

    async def count(self, cycle_id: str) -> int:
        return len(self.outcomes.get(cycle_id, {}))

    async def finish(self, summary: CycleSummary) -> None:
        self.finished.append(summary)


class Outbox:
    def __init__(self) -> None:
        self.keys: dict[tuple[str, str], NotificationRequest] = {}

    async def enqueue(self, requests: Sequence[Any], *, now: datetime) -> int:
        new = 0
        for r in requests:
            if (r.user_id, r.dedup_key) not in self.keys:
                self.keys[(r.user_id, r.dedup_key)] = r
                new += 1
        return new


class Watchers:
    async def watchers(self, symbols: Sequence[str]) -> dict[str, list[str]]:
        return {s: ["alice"] for s in symbols if s == "BTC/USDT"}


class Published:
    def __init__(self) -> None:
        self.changes: list[Any] = []

    async def publish_changes(self, changes: Sequence[Any]) -> None:
        self.changes.extend(changes)


class FailingScan(ScanService):
    """A scan that fails whenever its batch holds ``bad`` (a series whose data breaks the engine)."""

    bad = "ETH/USDT"

    async def scan_series(
        self, chosen: Sequence[SeriesInfo], *, as_of: datetime | None = None, store: bool = True
    ) -> ScanResult:
        if any(i.key.symbol == self.bad for i in chosen):
            raise RuntimeError("corrupt candles for ETH/USDT")
        return await super().scan_series(chosen, as_of=as_of, store=store)


class Alerts:
    def __init__(self) -> None:
        self.alerts = [
            PriceAlert(
                id="a1",
                user_id="bob",
                symbol="BTC/USDT",
                condition=AlertCondition.ABOVE,
                price=Decimal("1"),
                note="",
                repeat=False,
                active=True,
                created_at=AS_OF,
            )
        ]
        self.saved: list[PriceAlert] = []

    async def active_for(self, symbols: Sequence[str]) -> list[PriceAlert]:
        return [a for a in self.alerts if a.symbol in symbols and a.active]

    async def save_state(self, alerts: Sequence[PriceAlert]) -> None:
        self.saved.extend(alerts)


def _parts(scan_class: type[ScanService] = ScanService) -> dict[str, Any]:
    candles = FrameCandleStore({k: ("crypto", _frame(i)) for i, k in enumerate(KEYS)})
    signals = MemorySignalStore()
    scan = scan_class(candles, MemoryHeadlineStore(), signals, TradingConfig())
    cycles, outbox, published = MemoryCycles(), Outbox(), Published()
    work = SeriesWork(scan, signals, cycles, watchers=Watchers(), notifications=outbox, publisher=published)
    return {
        "candles": candles,
        "signals": signals,
        "scan": scan,
        "cycles": cycles,
        "outbox": outbox,
        "published": published,
        "work": work,
    }


async def test_a_cycle_stores_signals_notifies_watchers_and_sums_up() -> None:
    p = _parts()
    alerts = Alerts()
    cycle = MonitoringCycle(
        p["scan"],
        p["candles"],
        p["cycles"],
        InProcessFanout(p["work"]),
        alerts=alerts,
        notifications=p["outbox"],
    )
    summary = await cycle.run(AS_OF)
    assert (summary.monitored, summary.updated, summary.errors) == (3, 3, 0)  # first signals are changes
    assert {c.key for c in p["published"].changes} == set(KEYS)
    signal_notes = [r for r in p["outbox"].keys.values() if r.type is NotificationType.SIGNAL_CHANGED]
    assert [r.user_id for r in signal_notes] == ["alice"]  # only BTC is watched
    assert signal_notes[0].context["symbol"] == "BTC/USDT" and "reasons" in signal_notes[0].context
    assert summary.alerts_triggered == 1 and alerts.saved and not alerts.saved[0].active
    alert_notes = [r for r in p["outbox"].keys.values() if r.type is NotificationType.PRICE_ALERT]
    assert alert_notes[0].user_id == "bob" and alert_notes[0].context["level"] == "1"
    assert p["cycles"].finished == [summary]
    assert summary.to_json()["monitored"] == 3 and summary.duration_s > 0


async def test_one_failing_series_is_an_error_and_the_others_go_on() -> None:
    """Bad input: a series whose scan raises (corrupt data)."""
    p = _parts(FailingScan)
    cycle = MonitoringCycle(p["scan"], p["candles"], p["cycles"], InProcessFanout(p["work"]))
    summary = await cycle.run(AS_OF)
    assert (summary.monitored, summary.errors) == (2, 1)
    [detail] = summary.error_details
    assert detail.startswith(str(KEYS[1])) and detail.endswith("corrupt candles for ETH/USDT")


async def test_work_done_twice_stores_notifies_and_records_each_change_once() -> None:
    """A job delivered again (its worker died after storing): nothing is stored or notified twice."""
    p = _parts()
    work: SeriesWork = p["work"]
    infos = await p["candles"].series()
    first = await work.run("c1", infos, AS_OF)
    again = await work.run("c1", infos, AS_OF)
    assert first == again and all(o.status is OutcomeStatus.OK for o in first)
    # a new cycle at the same time (the work died before recording its outcome): the stored changes are read back
    retried = await work.run("c2", infos, AS_OF)
    assert [o.changes for o in retried] == [o.changes for o in first]
    assert len(p["outbox"].keys) == 1  # alice's BTC notification, once
    only = next(iter(p["outbox"].keys.values()))
    assert only.dedup_key == change_key(first[0].changes[0])


async def test_a_series_that_never_reports_back_is_an_error_of_the_cycle() -> None:
    p = _parts()

    class Silent:
        mode = "workers"

        async def run(self, cycle_id: str, groups: Any, as_of: Any) -> list[SeriesOutcome]:
            infos = [i for g in groups for i in g]
            return [
                SeriesOutcome(i.key, OutcomeStatus.ERROR, reason="no result from the workers") for i in infos
            ]

    summary = await MonitoringCycle(p["scan"], p["candles"], p["cycles"], Silent()).run(AS_OF)
    assert summary.errors == 3 and summary.monitored == 0 and summary.mode == "workers"


@pytest.mark.parametrize(("size", "expected"), [(2, [2, 2, 1]), (10, [5]), (0, [1, 1, 1, 1, 1])])
def test_batches_split_keys_in_order(size: int, expected: list[int]) -> None:
    infos = [SeriesInfo(SeriesKey("x", f"S{i}/USDT", Timeframe.H1), "crypto", 1, 0, 0) for i in range(5)]
    groups = batches(infos, size)
    assert [len(g) for g in groups] == expected
    assert [i for g in groups for i in g] == infos
