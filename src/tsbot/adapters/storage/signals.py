"""SQL implementation of :class:`tsbot.signals.ports.SignalStore`."""

from __future__ import annotations

from bisect import bisect_left, insort
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Integer, String, and_, column, delete, select, values
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from tsbot.adapters.storage.candles import dialect_insert
from tsbot.adapters.storage.revisions import SIGNALS, bump_revision
from tsbot.adapters.storage.tables import UtcDateTime, signal_status_changes, signals
from tsbot.core.enums import Action
from tsbot.core.time import utc_now
from tsbot.market.models import SeriesKey, Timeframe
from tsbot.signals.models import Components, HeadlineRef, Signal, StatusChange

#: (exchange, symbol, timeframe value): one series as stored.
_Series = tuple[str, str, str]
#: (exchange, symbol, timeframe value, as_of): one stored signal row.
_RowKey = tuple[str, str, str, datetime]
#: (from_action value or None, to_action value): a status change as stored; None where there is none.
_Change = tuple[str | None, str] | None

#: Signal rows looked up per statement (4 bound parameters each, well under every backend's limit).
_LOOKUP_CHUNK = 1_000
#: Signal ids per ``IN`` list when deleting replaced status changes.
_DELETE_CHUNK = 5_000

_VALUE_COLUMNS = (
    "action",
    "score",
    "confidence",
    "price",
    "stop_loss",
    "take_profit",
    "components",
    "reasons",
    "headlines",
)


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


def _row_key(sig: Signal) -> _RowKey:
    return (sig.key.exchange, sig.key.symbol, sig.key.timeframe.value, sig.as_of)


def _chunks(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


@dataclass(slots=True)
class _Stored:
    """What the database held for one signal row before the batch: its id (None when new), its recorded status
    change, and the series' latest signal strictly before it (as_of and action value, None when there is none)."""

    signal_id: int | None = None
    recorded: _Change = None
    previous_at: datetime | None = None
    previous_action: str | None = None


@dataclass(slots=True)
class _Plan:
    """The writes that reproduce saving a batch's signals one at a time, in order.

    Attributes:
        changes: the status changes to return, in input order.
        rows: the signal rows to upsert, one per row key (the last signal given for it wins), in first-seen order.
        replaced: row keys whose status change stored before the batch must be deleted.
        inserts: per row key, the input position and status change whose row must be stored.
    """

    changes: list[StatusChange] = field(default_factory=list)
    rows: dict[_RowKey, Signal] = field(default_factory=dict)
    replaced: set[_RowKey] = field(default_factory=set)
    inserts: dict[_RowKey, tuple[int, StatusChange]] = field(default_factory=dict)


def _plan(items: Sequence[Signal], stored: dict[_RowKey, _Stored]) -> _Plan:
    """Replay the batch in order over the state read before it.

    Signal ``i``'s previous signal is the latest of its series strictly before its ``as_of`` among the rows stored
    before the batch and the signals ``0..i-1`` of the batch (a batch signal replaces the stored row at the same
    time), exactly as if each signal were saved in its own statement sequence.
    """
    plan = _Plan()
    written: dict[_Series, dict[datetime, str]] = {}  # actions the batch has written so far, per series
    written_at: dict[_Series, list[datetime]] = {}  # the same times, sorted
    recorded = {key: known.recorded for key, known in stored.items()}
    for index, sig in enumerate(items):
        key = _row_key(sig)
        series = key[:3]
        plan.rows[key] = sig
        actions = written.setdefault(series, {})
        times = written_at.setdefault(series, [])
        if sig.as_of not in actions:
            insort(times, sig.as_of)
        actions[sig.as_of] = sig.action.value
        known = stored[key]
        previous_at, previous = known.previous_at, known.previous_action
        before = bisect_left(times, sig.as_of)
        if before and (previous_at is None or times[before - 1] >= previous_at):
            previous = actions[times[before - 1]]  # a signal of this batch, or one it replaced
        wanted: _Change = None if previous == sig.action.value else (previous, sig.action.value)
        if recorded[key] == wanted:
            continue  # this change is stored already: a re-run reports nothing new
        if known.recorded is not None:
            plan.replaced.add(key)
        recorded[key] = wanted
        if wanted is None:
            plan.inserts.pop(key, None)
            continue
        change = StatusChange(
            sig.key, sig.as_of, Action(previous) if previous else None, sig.action, sig.score
        )
        plan.inserts[key] = (index, change)
        plan.changes.append(change)
    return plan


class SqlSignalStore:
    """Signals in ``signals``; one row in ``signal_status_changes`` for each signal whose action changed."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._insert = dialect_insert(engine)

    async def save(self, items: Sequence[Signal]) -> list[StatusChange]:
        """Store signals in one transaction; see :meth:`tsbot.signals.ports.SignalStore.save`.

        The result equals saving each signal on its own, in the given order: a signal's previous signal is the
        latest of its series strictly before its ``as_of``, which may be an earlier signal of the same batch. Only
        status changes that are new or differ from the one recorded are returned, in input order. A handful of
        statements serve the whole batch (one lookup per 1,000 rows, one upsert, one delete, one insert), and the
        revision of the stored signals (:data:`tsbot.adapters.storage.revisions.SIGNALS`) is raised by one in the
        same transaction.
        """
        if not items:
            return []
        now = utc_now()
        async with self._engine.begin() as conn:
            stored = await self._stored(conn, list(dict.fromkeys(_row_key(sig) for sig in items)))
            plan = _plan(items, stored)
            ids = await self._upsert(conn, list(plan.rows.values()), now)
            replaced = sorted(ids[key] for key in plan.replaced)
            for part in _chunks(replaced, _DELETE_CHUNK):
                await conn.execute(
                    delete(signal_status_changes).where(signal_status_changes.c.signal_id.in_(part))
                )
            inserts = sorted(plan.inserts.items(), key=lambda item: item[1][0])
            if inserts:
                await conn.execute(
                    signal_status_changes.insert(),
                    [
                        {
                            "signal_id": ids[key],
                            "exchange": change.key.exchange,
                            "symbol": change.key.symbol,
                            "timeframe": change.key.timeframe.value,
                            "changed_at": change.changed_at,
                            "from_action": change.from_action.value if change.from_action else None,
                            "to_action": change.to_action.value,
                            "score": change.score,
                            "recorded_at": now,
                        }
                        for key, (_, change) in inserts
                    ],
                )
            await bump_revision(conn, SIGNALS)
        return plan.changes

    async def _stored(self, conn: AsyncConnection, keys: list[_RowKey]) -> dict[_RowKey, _Stored]:
        """For each row key: the stored row's id and status change, and the series' previous signal before it."""
        found: dict[_RowKey, _Stored] = {}
        current, previous, change = signals.alias("cur"), signals.alias("prev"), signal_status_changes
        for part in _chunks(keys, _LOOKUP_CHUNK):
            wanted = (
                values(
                    column("n", Integer),
                    column("exchange", String),
                    column("symbol", String),
                    column("timeframe", String),
                    column("as_of", UtcDateTime()),
                    name="wanted",
                )
                .data([(n, *key) for n, key in enumerate(part)])
                .cte("wanted")
            )
            before = signals.alias("before")
            previous_id = (
                select(before.c.id)
                .where(
                    before.c.exchange == wanted.c.exchange,
                    before.c.symbol == wanted.c.symbol,
                    before.c.timeframe == wanted.c.timeframe,
                    before.c.as_of < wanted.c.as_of,
                )
                .order_by(before.c.as_of.desc())
                .limit(1)
                .scalar_subquery()
            )
            same_row = and_(
                current.c.exchange == wanted.c.exchange,
                current.c.symbol == wanted.c.symbol,
                current.c.timeframe == wanted.c.timeframe,
                current.c.as_of == wanted.c.as_of,
            )
            stmt = select(
                wanted.c.n,
                current.c.id,
                change.c.from_action,
                change.c.to_action,
                previous.c.as_of,
                previous.c.action,
            ).select_from(
                wanted.outerjoin(current, same_row)
                .outerjoin(change, change.c.signal_id == current.c.id)
                .outerjoin(previous, previous.c.id == previous_id)
            )
            for n, signal_id, from_action, to_action, previous_at, previous_action in await conn.execute(
                stmt
            ):
                found[part[n]] = _Stored(
                    signal_id=signal_id,
                    recorded=(from_action, to_action) if to_action is not None else None,
                    previous_at=previous_at,
                    previous_action=previous_action,
                )
        return found

    async def _upsert(self, conn: AsyncConnection, rows: list[Signal], now: datetime) -> dict[_RowKey, int]:
        """Insert new rows and replace the values of stored ones in one statement; the id of each row key."""
        stmt = self._insert(signals)
        stmt = stmt.on_conflict_do_update(
            index_elements=[signals.c.exchange, signals.c.symbol, signals.c.timeframe, signals.c.as_of],
            set_={name: stmt.excluded[name] for name in _VALUE_COLUMNS},
        ).returning(signals.c.id, signals.c.exchange, signals.c.symbol, signals.c.timeframe, signals.c.as_of)
        result = await conn.execute(
            stmt,
            [
                {
                    "exchange": sig.key.exchange,
                    "symbol": sig.key.symbol,
                    "timeframe": sig.key.timeframe.value,
                    "as_of": sig.as_of,
                    "created_at": now,
                    **_values(sig),
                }
                for sig in rows
            ],
        )
        return {
            (exchange, symbol, timeframe, as_of): int(signal_id)
            for signal_id, exchange, symbol, timeframe, as_of in result
        }

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
        found = {(c.key, c.changed_at): c for c in map(_change, rows)}
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
        return [_change(r) for r in rows]


def _change(r: Any) -> StatusChange:
    """The status change of a ``signal_status_changes`` row (a mapping)."""
    return StatusChange(
        SeriesKey(r["exchange"], r["symbol"], Timeframe(r["timeframe"])),
        r["changed_at"],
        Action(r["from_action"]) if r["from_action"] else None,
        Action(r["to_action"]),
        r["score"],
    )
