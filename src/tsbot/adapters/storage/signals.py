"""SQL implementation of :class:`tsbot.signals.ports.SignalStore`."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from tsbot.adapters.storage.candles import dialect_insert
from tsbot.adapters.storage.tables import signal_status_changes, signals
from tsbot.core.enums import Action
from tsbot.core.time import utc_now
from tsbot.market.models import SeriesKey, Timeframe
from tsbot.signals.models import Components, HeadlineRef, Signal, StatusChange


def _values(sig: Signal) -> dict[str, Any]:
    return {
        "action": sig.action.value,
        "score": sig.score,
        "confidence": sig.confidence,
        "price": sig.price,
        "stop_loss": sig.stop_loss,
        "take_profit": list(sig.take_profit),
        "components": sig.components.to_dict(),
        "reasons": list(sig.reasons),
        "headlines": [h.to_dict() for h in sig.headlines],
    }


def _series(key: SeriesKey) -> tuple:  # type: ignore[type-arg]
    return (
        signals.c.exchange == key.exchange,
        signals.c.symbol == key.symbol,
        signals.c.timeframe == key.timeframe.value,
    )


class SqlSignalStore:
    """Signals in ``signals``; one row in ``signal_status_changes`` for each signal whose action changed."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._insert = dialect_insert(engine)

    async def save(self, items: Sequence[Signal]) -> list[StatusChange]:
        changes: list[StatusChange] = []
        now = utc_now()
        async with self._engine.begin() as conn:
            for sig in items:
                change = await self._save_one(conn, sig, now)
                if change is not None:
                    changes.append(change)
        return changes

    async def _save_one(self, conn: AsyncConnection, sig: Signal, now: Any) -> StatusChange | None:
        key = sig.key
        existing = (
            await conn.execute(select(signals.c.id).where(*_series(key), signals.c.as_of == sig.as_of))
        ).scalar_one_or_none()
        if existing is None:
            result = await conn.execute(
                signals.insert().values(
                    exchange=key.exchange,
                    symbol=key.symbol,
                    timeframe=key.timeframe.value,
                    as_of=sig.as_of,
                    created_at=now,
                    **_values(sig),
                )
            )
            signal_id = int(result.inserted_primary_key[0])  # type: ignore[index]
        else:
            signal_id = int(existing)
            await conn.execute(update(signals).where(signals.c.id == signal_id).values(**_values(sig)))
        previous = (
            await conn.execute(
                select(signals.c.action)
                .where(*_series(key), signals.c.as_of < sig.as_of)
                .order_by(signals.c.as_of.desc())
                .limit(1)
            )
        ).scalar_one_or_none()
        from_action = Action(previous) if previous is not None else None
        recorded = (
            await conn.execute(
                select(signal_status_changes.c.from_action, signal_status_changes.c.to_action).where(
                    signal_status_changes.c.signal_id == signal_id
                )
            )
        ).first()
        wanted = (
            None
            if from_action == sig.action
            else (from_action.value if from_action else None, sig.action.value)
        )
        if recorded is not None and tuple(recorded) == wanted:
            return None  # this change is stored already: a re-run reports nothing new
        await conn.execute(
            delete(signal_status_changes).where(signal_status_changes.c.signal_id == signal_id)
        )
        if wanted is None:
            return None
        await conn.execute(
            signal_status_changes.insert().values(
                signal_id=signal_id,
                exchange=key.exchange,
                symbol=key.symbol,
                timeframe=key.timeframe.value,
                changed_at=sig.as_of,
                from_action=from_action.value if from_action else None,
                to_action=sig.action.value,
                score=sig.score,
                recorded_at=now,
            )
        )
        return StatusChange(key, sig.as_of, from_action, sig.action, sig.score)

    async def latest(self, key: SeriesKey) -> Signal | None:
        stmt = select(signals).where(*_series(key)).order_by(signals.c.as_of.desc()).limit(1)
        async with self._engine.connect() as conn:
            row = (await conn.execute(stmt)).mappings().first()
        if row is None:
            return None
        comps = row["components"]
        return Signal(
            key=key,
            as_of=row["as_of"],
            action=Action(row["action"]),
            score=row["score"],
            confidence=row["confidence"],
            price=row["price"],
            stop_loss=row["stop_loss"],
            take_profit=list(row["take_profit"]),
            components=Components(comps.get("technical", 0.0), comps.get("sentiment"), comps.get("ml")),
            reasons=list(row["reasons"]),
            headlines=[HeadlineRef.from_dict(h) for h in row["headlines"] or ()],
        )

    async def changes_at(self, wanted: Sequence[tuple[SeriesKey, datetime]]) -> list[StatusChange]:
        """The stored status change of each (series, signal time) pair that has one, in ``wanted``'s order."""
        if not wanted:
            return []
        t = signal_status_changes
        stmt = select(t).where(
            t.c.symbol.in_(sorted({k.symbol for k, _ in wanted})),
            t.c.changed_at.in_(sorted({at for _, at in wanted})),
        )
        async with self._engine.connect() as conn:
            rows = (await conn.execute(stmt)).mappings().all()
        found = {
            (SeriesKey(r["exchange"], r["symbol"], Timeframe(r["timeframe"])), r["changed_at"]): StatusChange(
                SeriesKey(r["exchange"], r["symbol"], Timeframe(r["timeframe"])),
                r["changed_at"],
                Action(r["from_action"]) if r["from_action"] else None,
                Action(r["to_action"]),
                r["score"],
            )
            for r in rows
        }
        return [found[pair] for pair in wanted if pair in found]

    async def status_changes(self, key: SeriesKey | None = None, *, limit: int = 100) -> list[StatusChange]:
        t = signal_status_changes
        stmt = select(t).order_by(t.c.changed_at.desc(), t.c.id.desc()).limit(limit)
        if key is not None:
            stmt = stmt.where(
                t.c.exchange == key.exchange, t.c.symbol == key.symbol, t.c.timeframe == key.timeframe.value
            )
        async with self._engine.connect() as conn:
            rows = (await conn.execute(stmt)).mappings().all()
        return [
            StatusChange(
                SeriesKey(r["exchange"], r["symbol"], Timeframe(r["timeframe"])),
                r["changed_at"],
                Action(r["from_action"]) if r["from_action"] else None,
                Action(r["to_action"]),
                r["score"],
            )
            for r in rows
        ]
