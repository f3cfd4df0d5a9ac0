"""Read views of stored signals for the API: filtered pages, counts over a period, the newest signal of each series
as of a time, and the scan state of each series. The signals themselves are written by
:class:`tsbot.adapters.storage.signals.SqlSignalStore`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from tsbot.adapters.storage.tables import signal_status_changes, signals
from tsbot.core.enums import Action
from tsbot.market.models import SeriesKey, Timeframe
from tsbot.signals.models import Components, HeadlineRef, Signal


@dataclass(frozen=True, slots=True)
class SignalFilter:
    """Which stored signals a query covers; every field None (or empty) means "any".

    Attributes:
        symbols: unified symbols (``BTC/USDT``); an empty tuple matches nothing.
        exchange: venue id.
        timeframe: series timeframe.
        action: BUY, SELL or HOLD.
        since, until: ``since <= as_of <= until`` (UTC).
    """

    symbols: tuple[str, ...] | None = None
    exchange: str | None = None
    timeframe: Timeframe | None = None
    action: Action | None = None
    since: datetime | None = None
    until: datetime | None = None

    def where(self) -> list[ColumnElement[bool]]:
        """The SQL conditions on ``signals``."""
        t = signals
        out: list[ColumnElement[bool]] = []
        if self.symbols is not None:
            out.append(t.c.symbol.in_(list(self.symbols)))
        if self.exchange is not None:
            out.append(t.c.exchange == self.exchange)
        if self.timeframe is not None:
            out.append(t.c.timeframe == self.timeframe.value)
        if self.action is not None:
            out.append(t.c.action == self.action.value)
        if self.since is not None:
            out.append(t.c.as_of >= self.since)
        if self.until is not None:
            out.append(t.c.as_of <= self.until)
        return out


@dataclass(frozen=True, slots=True)
class StoredSignal:
    """A stored signal with its row id and the time it was stored (UTC: when the scan ran)."""

    id: int
    signal: Signal
    created_at: datetime


@dataclass(slots=True)
class SignalCounts:
    """Signals per action over a period: ``by_action`` maps BUY / SELL / HOLD to counts (all three present),
    ``by_symbol`` maps each symbol to its own such map; ``status_changes`` counts the action changes recorded in
    the period; ``first_as_of`` / ``last_as_of`` bound the signals counted (None when there are none)."""

    total: int = 0
    by_action: dict[str, int] = field(default_factory=dict)
    by_symbol: dict[str, dict[str, int]] = field(default_factory=dict)
    status_changes: int = 0
    first_as_of: datetime | None = None
    last_as_of: datetime | None = None


@dataclass(frozen=True, slots=True)
class SeriesScanState:
    """What is stored of one series' signals: the newest ``as_of`` (close of the last bar used), when the newest
    was stored (``scanned_at``, the last scan that covered the series) and how many signals it has."""

    key: SeriesKey
    last_as_of: datetime
    scanned_at: datetime
    signals: int


def _signal(r: Mapping[str, Any]) -> Signal:
    comps = r["components"] or {}
    return Signal(
        key=SeriesKey(r["exchange"], r["symbol"], Timeframe(r["timeframe"])),
        as_of=r["as_of"],
        action=Action(r["action"]),
        score=float(r["score"]),
        confidence=float(r["confidence"]),
        price=float(r["price"]),
        stop_loss=None if r["stop_loss"] is None else float(r["stop_loss"]),
        take_profit=[float(v) for v in r["take_profit"] or ()],
        components=Components(float(comps.get("technical") or 0.0), comps.get("sentiment"), comps.get("ml")),
        reasons=[str(v) for v in r["reasons"] or ()],
        headlines=[HeadlineRef.from_dict(h) for h in r["headlines"] or ()],
    )


def _stored(r: Mapping[str, Any]) -> StoredSignal:
    return StoredSignal(int(r["id"]), _signal(r), r["created_at"])


class SqlSignalQueries:
    """Queries over ``signals`` and ``signal_status_changes`` (read only)."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def page(
        self, where: SignalFilter, *, limit: int = 50, offset: int = 0
    ) -> tuple[list[StoredSignal], int]:
        """One page of matching signals, newest ``as_of`` first, and how many match in all (counted by the database
        only when the page is full or empty past the first: a page with room left ends the matches)."""
        t = signals
        cond = where.where()
        stmt = select(t).where(*cond).order_by(t.c.as_of.desc(), t.c.id.desc()).limit(limit).offset(offset)
        async with self._engine.connect() as conn:
            rows = (await conn.execute(stmt)).mappings().all()
            if len(rows) < limit and (rows or offset == 0):
                total = offset + len(rows)
            else:
                total = (await conn.execute(select(func.count()).select_from(t).where(*cond))).scalar_one()
        return [_stored(r) for r in rows], int(total)

    async def counts(self, where: SignalFilter) -> SignalCounts:
        """Counts of the matching signals by action and by symbol, and the status changes in the same period
        (and symbols, exchange, timeframe)."""
        t = signals
        cond = where.where()
        stmt = (
            select(t.c.symbol, t.c.action, func.count(), func.min(t.c.as_of), func.max(t.c.as_of))
            .where(*cond)
            .group_by(t.c.symbol, t.c.action)
        )
        c = signal_status_changes
        changes = [
            *((c.c.symbol.in_(list(where.symbols)),) if where.symbols is not None else ()),
            *((c.c.exchange == where.exchange,) if where.exchange is not None else ()),
            *((c.c.timeframe == where.timeframe.value,) if where.timeframe is not None else ()),
            *((c.c.to_action == where.action.value,) if where.action is not None else ()),
            *((c.c.changed_at >= where.since,) if where.since is not None else ()),
            *((c.c.changed_at <= where.until,) if where.until is not None else ()),
        ]
        async with self._engine.connect() as conn:
            rows = (await conn.execute(stmt)).all()
            n_changes = (await conn.execute(select(func.count()).select_from(c).where(*changes))).scalar_one()
        out = SignalCounts(by_action={a.value: 0 for a in Action}, status_changes=int(n_changes))
        for symbol, action, n, first, last in rows:
            out.total += int(n)
            out.by_action[action] = out.by_action.get(action, 0) + int(n)
            per = out.by_symbol.setdefault(symbol, {a.value: 0 for a in Action})
            per[action] = per.get(action, 0) + int(n)
            first, last = _aware(first), _aware(last)
            out.first_as_of = first if out.first_as_of is None else min(first, out.first_as_of)
            out.last_as_of = last if out.last_as_of is None else max(last, out.last_as_of)
        out.by_symbol = dict(sorted(out.by_symbol.items()))
        return out

    async def newest_per_series(
        self, where: SignalFilter, *, limit: int = 500, offset: int = 0
    ) -> tuple[list[StoredSignal], int]:
        """The newest matching signal of each series (so ``until`` gives the signals as known at that time),
        ordered by symbol, exchange, timeframe; one page of them and how many series match."""
        t = signals
        newest = (
            select(t.c.exchange, t.c.symbol, t.c.timeframe, func.max(t.c.as_of).label("as_of"))
            .where(*where.where())
            .group_by(t.c.exchange, t.c.symbol, t.c.timeframe)
            .subquery()
        )
        joined = and_(
            t.c.exchange == newest.c.exchange,
            t.c.symbol == newest.c.symbol,
            t.c.timeframe == newest.c.timeframe,
            t.c.as_of == newest.c.as_of,
        )
        stmt = (
            select(t)
            .join(newest, joined)
            .order_by(t.c.symbol, t.c.exchange, t.c.timeframe)
            .limit(limit)
            .offset(offset)
        )
        async with self._engine.connect() as conn:
            rows = (await conn.execute(stmt)).mappings().all()
            total = (await conn.execute(select(func.count()).select_from(newest))).scalar_one()
        return [_stored(r) for r in rows], int(total)

    async def scan_states(self) -> list[SeriesScanState]:
        """The scan state of every series with stored signals, ordered by exchange, symbol, timeframe."""
        t = signals
        stmt = (
            select(
                t.c.exchange,
                t.c.symbol,
                t.c.timeframe,
                func.max(t.c.as_of),
                func.max(t.c.created_at),
                func.count(),
            )
            .group_by(t.c.exchange, t.c.symbol, t.c.timeframe)
            .order_by(t.c.exchange, t.c.symbol, t.c.timeframe)
        )
        async with self._engine.connect() as conn:
            rows = (await conn.execute(stmt)).all()
        return [
            SeriesScanState(SeriesKey(ex, sym, Timeframe(tf)), _aware(last), _aware(scanned), int(n))
            for ex, sym, tf, last, scanned, n in rows
        ]


def _aware(value: Any) -> datetime:
    """An aggregate's time as aware UTC, whatever form the driver gave it in (text or naive on SQLite)."""
    when = datetime.fromisoformat(value) if isinstance(value, str) else value
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)
