"""The monitoring cycle in this process on the real database (SQLite and PostgreSQL): signals and status changes
stored, the watcher notified once, runs and per-series results recorded, failures isolated."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from monitor_data import import_crypto, replay_times, watcher
from sqlalchemy import func, select

from tsbot.adapters.storage.cycles import SqlCycleStore
from tsbot.adapters.storage.tables_monitor import cycle_results, cycle_runs
from tsbot.apps.worker.runtime import build_cycle
from tsbot.market.ports import SeriesInfo
from tsbot.monitor.fanout import InProcessFanout
from tsbot.monitor.models import OutcomeStatus
from tsbot.monitor.work import SeriesWork
from tsbot.signals.service import ScanResult, ScanService
from tsbot.wiring import Services


async def _notifications_of(services: Services, user_id: str) -> int:
    from tsbot.adapters.storage.tables_notify import notifications

    async with services.db.connect() as conn:
        stmt = select(func.count()).select_from(notifications).where(notifications.c.user_id == user_id)
        return int((await conn.execute(stmt)).scalar_one())


async def test_cycles_over_a_replayed_hour_store_changes_and_notify_the_watcher_once(
    services: Services,
) -> None:
    symbols = await import_crypto(services)
    alice = await watcher(services, symbols[0])
    times = await replay_times(services, 6)
    summaries = [await build_cycle(services).run(t) for t in times]
    assert all(s.monitored == 3 and s.errors == 0 for s in summaries)
    assert summaries[0].updated == 3  # a series' first signal is a change
    changes = [c for s in summaries for c in s.changes]
    stored = await services.signals.status_changes(limit=1_000)
    assert sorted((c.key.symbol, c.changed_at) for c in changes) == sorted(
        (c.key.symbol, c.changed_at) for c in stored
    )
    alice_changes = sum(1 for c in changes if c.key.symbol == symbols[0])
    assert await _notifications_of(services, alice) == alice_changes
    # the same hour again: nothing new is stored or notified
    again = await build_cycle(services).run(times[-1])
    assert again.updated == sum(len([c for c in s.changes if c.changed_at == times[-1]]) for s in summaries)
    assert await _notifications_of(services, alice) == alice_changes
    async with services.db.connect() as conn:
        runs = (await conn.execute(select(cycle_runs.c.monitored, cycle_runs.c.errors))).all()
        results = (await conn.execute(select(func.count()).select_from(cycle_results))).scalar_one()
    assert len(runs) == 7 and all(tuple(r) == (3, 0) for r in runs)
    assert results == 7 * 3
    recent = await SqlCycleStore(services.db).recent(limit=2)
    assert recent[0]["monitored"] == 3 and recent[0]["duration_s"] > 0


class BrokenSeriesScan(ScanService):
    """Bad input: one series whose computation raises (a corrupt series), whatever batch it is in."""

    bad = ""

    async def scan_series(
        self, chosen: Sequence[SeriesInfo], *, as_of: datetime | None = None, store: bool = True
    ) -> ScanResult:
        if any(i.key.symbol == self.bad for i in chosen):
            raise ValueError(f"corrupt candles in {self.bad}")
        return await super().scan_series(chosen, as_of=as_of, store=store)


async def test_a_failing_series_is_recorded_as_an_error_and_the_others_are_stored(services: Services) -> None:
    symbols = await import_crypto(services)
    [when] = await replay_times(services, 1)
    BrokenSeriesScan.bad = symbols[1]
    scan = BrokenSeriesScan(services.candles, services.headlines, services.signals, services.settings.trading)
    work = SeriesWork(scan, services.signals, SqlCycleStore(services.db))
    summary = await build_cycle(services, fanout=InProcessFanout(work)).run(when)
    assert (summary.monitored, summary.errors) == (2, 1)
    assert symbols[1] in summary.error_details[0] and "corrupt candles" in summary.error_details[0]
    outcomes = await SqlCycleStore(services.db).results(summary.cycle_id)
    by_symbol = {o.key.symbol: o for o in outcomes}
    assert by_symbol[symbols[1]].status is OutcomeStatus.ERROR
    assert by_symbol[symbols[0]].status is OutcomeStatus.OK and by_symbol[symbols[0]].changes
