"""Monitoring cycle runs and their per-series results in ``cycle_runs`` / ``cycle_results``
(:class:`tsbot.monitor.ports.CycleStore`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import func, select, tuple_, update
from sqlalchemy.ext.asyncio import AsyncEngine

from tsbot.adapters.storage.candles import dialect_insert
from tsbot.adapters.storage.tables_monitor import cycle_results, cycle_runs
from tsbot.core.time import utc_now
from tsbot.market.models import SeriesKey, Timeframe
from tsbot.monitor.models import CycleSummary, OutcomeStatus, SeriesOutcome, change_from_json


class SqlCycleStore:
    """Cycle runs and outcomes; an outcome already stored for a (cycle, series) is kept (first write wins)."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._insert = dialect_insert(engine)

    async def start(self, summary: CycleSummary, series: int) -> None:
        async with self._engine.begin() as conn:
            await conn.execute(
                cycle_runs.insert().values(
                    id=summary.cycle_id,
                    started_at=summary.started_at,
                    as_of=summary.as_of,
                    mode=summary.mode,
                    series=series,
                )
            )

    async def record(self, cycle_id: str, outcomes: Sequence[SeriesOutcome]) -> None:
        if not outcomes:
            return
        now = utc_now()
        rows = [
            {
                "cycle_id": cycle_id,
                "exchange": o.key.exchange,
                "symbol": o.key.symbol,
                "timeframe": o.key.timeframe.value,
                "status": o.status.value,
                "changes": o.changes_json(),
                "reason": o.reason,
                "finished_at": now,
            }
            for o in outcomes
        ]
        stmt = self._insert(cycle_results).values(rows).on_conflict_do_nothing()
        async with self._engine.begin() as conn:
            await conn.execute(stmt)

    async def results(self, cycle_id: str, keys: Sequence[SeriesKey] | None = None) -> list[SeriesOutcome]:
        t = cycle_results
        stmt = select(t).where(t.c.cycle_id == cycle_id).order_by(t.c.id)
        if keys is not None:
            if not keys:
                return []
            stmt = stmt.where(
                tuple_(t.c.exchange, t.c.symbol, t.c.timeframe).in_(
                    [(k.exchange, k.symbol, k.timeframe.value) for k in keys]
                )
            )
        async with self._engine.connect() as conn:
            rows = (await conn.execute(stmt)).mappings().all()
        return [_outcome(r) for r in rows]

    async def count(self, cycle_id: str) -> int:
        stmt = select(func.count()).select_from(cycle_results).where(cycle_results.c.cycle_id == cycle_id)
        async with self._engine.connect() as conn:
            return int((await conn.execute(stmt)).scalar_one())

    async def finish(self, summary: CycleSummary) -> None:
        async with self._engine.begin() as conn:
            await conn.execute(
                update(cycle_runs)
                .where(cycle_runs.c.id == summary.cycle_id)
                .values(
                    finished_at=utc_now(),
                    monitored=summary.monitored,
                    updated=summary.updated,
                    errors=summary.errors,
                    duration_s=summary.duration_s,
                    details=summary.to_json(),
                )
            )

    async def recent(self, limit: int = 20) -> list[dict[str, Any]]:
        """The newest cycle runs, newest first: id, started/finished time, as-of time, mode, series, monitored,
        updated, errors, duration_s."""
        t = cycle_runs
        stmt = select(t).order_by(t.c.started_at.desc()).limit(limit)
        async with self._engine.connect() as conn:
            rows = (await conn.execute(stmt)).mappings().all()
        return [{k: v for k, v in r.items() if k != "details"} for r in rows]


def _outcome(r: Any) -> SeriesOutcome:
    key = SeriesKey(r["exchange"], r["symbol"], Timeframe(r["timeframe"]))
    return SeriesOutcome(
        key,
        OutcomeStatus(r["status"]),
        tuple(change_from_json(c) for c in r["changes"] or ()),
        r["reason"],
    )
