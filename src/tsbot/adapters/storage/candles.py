"""SQL implementation of :class:`tsbot.market.ports.CandleStore`."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from sqlalchemy import func, select, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from tsbot.adapters.storage.tables import candles, instruments
from tsbot.market.models import CandleFrame, SeriesKey, Timeframe
from tsbot.market.ports import SeriesInfo, UpsertResult

_CHUNK = 5_000
#: An end time later than any bar (ms): "up to the last stored bar".
_NO_END = 2**62

#: PostgreSQL: the last ``:limit`` bars up to ``:end`` of each of ``:symbols``, one row per symbol: the symbol, then
#: arrays of open times, open, high, low, close and volume, oldest first. The lateral subquery walks the primary
#: key backwards from ``:end`` and stops after ``:limit`` rows, whatever the length of the stored history.
_PG_LAST_BARS = text(
    f"""
    SELECT s.symbol,
           array_agg(c.open_time_ms ORDER BY c.open_time_ms), array_agg(c.open ORDER BY c.open_time_ms),
           array_agg(c.high ORDER BY c.open_time_ms), array_agg(c.low ORDER BY c.open_time_ms),
           array_agg(c.close ORDER BY c.open_time_ms), array_agg(c.volume ORDER BY c.open_time_ms)
    FROM unnest(CAST(:symbols AS text[])) AS s(symbol)
    CROSS JOIN LATERAL (
        SELECT open_time_ms, open, high, low, close, volume FROM {candles.name}
        WHERE exchange = :exchange AND symbol = s.symbol AND timeframe = :timeframe AND open_time_ms <= :end
        ORDER BY open_time_ms DESC LIMIT :limit
    ) AS c
    GROUP BY s.symbol
    """
)


def dialect_insert(engine: AsyncEngine):  # type: ignore[no-untyped-def]
    """The INSERT construct of the engine's dialect (both support ON CONFLICT DO NOTHING / DO UPDATE)."""
    return pg_insert if engine.dialect.name == "postgresql" else sqlite_insert


class SqlCandleStore:
    """Candles in the ``candles`` table, keyed by (exchange, symbol, timeframe, open_time_ms)."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._insert = dialect_insert(engine)

    async def upsert(self, key: SeriesKey, asset_class: str, frame: CandleFrame) -> UpsertResult:
        """Insert bars not stored yet; bars already stored at the same open time are kept unchanged."""
        where = _series_filter(key)
        async with self._engine.begin() as conn:
            await conn.execute(
                self._insert(instruments)
                .values(exchange=key.exchange, symbol=key.symbol, asset_class=asset_class)
                .on_conflict_do_nothing()
            )
            before = (
                await conn.execute(select(func.count()).select_from(candles).where(*where))
            ).scalar_one()
            rows = [
                {
                    "exchange": key.exchange,
                    "symbol": key.symbol,
                    "timeframe": key.timeframe.value,
                    "open_time_ms": t,
                    "open": o,
                    "high": h,
                    "low": lo,
                    "close": c,
                    "volume": v,
                }
                for t, o, h, lo, c, v in zip(
                    frame.open_time_ms.tolist(),
                    frame.open.tolist(),
                    frame.high.tolist(),
                    frame.low.tolist(),
                    frame.close.tolist(),
                    frame.volume.tolist(),
                    strict=True,
                )
            ]
            stmt = self._insert(candles).on_conflict_do_nothing()
            for start in range(0, len(rows), _CHUNK):
                await conn.execute(stmt, rows[start : start + _CHUNK])
            after = (await conn.execute(select(func.count()).select_from(candles).where(*where))).scalar_one()
        inserted = int(after - before)
        return UpsertResult(inserted=inserted, unchanged=len(rows) - inserted)

    async def load(
        self, key: SeriesKey, *, end_ms: int | None = None, limit: int | None = None
    ) -> CandleFrame:
        """Bars oldest first, with ``open_time_ms <= end_ms`` when given, the last ``limit`` of them."""
        cols = (
            candles.c.open_time_ms,
            candles.c.open,
            candles.c.high,
            candles.c.low,
            candles.c.close,
            candles.c.volume,
        )
        stmt = select(*cols).where(*_series_filter(key))
        if end_ms is not None:
            stmt = stmt.where(candles.c.open_time_ms <= end_ms)
        if limit is not None:
            stmt = stmt.order_by(candles.c.open_time_ms.desc()).limit(limit)
        else:
            stmt = stmt.order_by(candles.c.open_time_ms)
        async with self._engine.connect() as conn:
            rows = (await conn.execute(stmt)).all()
        if not rows:
            return CandleFrame.empty()
        # Plain tuples: numpy reads SQLAlchemy Row objects item by item, about 50x slower.
        arr = np.array([tuple(row) for row in rows], dtype=np.float64)
        if limit is not None:
            arr = arr[::-1]
        return CandleFrame.from_rows(arr)

    async def load_many(
        self, keys: Sequence[SeriesKey], *, end_ms: Mapping[SeriesKey, int] | None = None, limit: int
    ) -> dict[SeriesKey, CandleFrame]:
        """The last ``limit`` bars of each series up to its end (``end_ms[key]``, an open time in ms UTC, included;
        a key missing from it, or no mapping: the last stored bar), oldest first; an empty frame for a series with
        no bar. One query per distinct end time, exchange, timeframe and 500 symbols.

        On PostgreSQL each series comes back as one row of arrays (an index scan per symbol, newest first, cut at
        ``limit``), so the driver decodes the prices in C and no Python object is made per bar; on SQLite a window
        function ranks each series' bars and they come back one row per bar."""
        groups: dict[tuple[int | None, str, str], list[SeriesKey]] = {}
        for key in keys:
            end = None if end_ms is None else end_ms.get(key)
            groups.setdefault((end, key.exchange, key.timeframe.value), []).append(key)
        arrays: dict[tuple[str, str, str], np.ndarray] = {}
        pg = self._engine.dialect.name == "postgresql"
        async with self._engine.connect() as conn:
            for (end, exchange, timeframe), members in groups.items():
                symbols = sorted({k.symbol for k in members})
                for start in range(0, len(symbols), 500):
                    chunk = symbols[start : start + 500]
                    if pg:
                        params = {"exchange": exchange, "timeframe": timeframe, "symbols": chunk, "limit": limit,
                                  "end": _NO_END if end is None else end}  # fmt: skip
                        for row in await conn.execute(_PG_LAST_BARS, params):
                            arrays[(exchange, row[0], timeframe)] = np.array(row[1:], dtype=np.float64).T
                    else:
                        await self._load_rows(conn, exchange, timeframe, chunk, end, limit, arrays)
        out: dict[SeriesKey, CandleFrame] = {}
        for key in keys:
            arr = arrays.get((key.exchange, key.symbol, key.timeframe.value))
            out[key] = CandleFrame.empty() if arr is None else CandleFrame.from_rows(arr)
        return out

    @staticmethod
    async def _load_rows(
        conn: AsyncConnection,
        exchange: str,
        timeframe: str,
        symbols: list[str],
        end: int | None,
        limit: int,
        arrays: dict[tuple[str, str, str], np.ndarray],
    ) -> None:
        """SQLite: the last ``limit`` bars of ``symbols`` up to ``end``, one row per bar (a plain IN on the symbol
        column keeps the primary-key index in use), into ``arrays`` as ``(n, 6)`` oldest first."""
        rank = (
            func.row_number()
            .over(partition_by=candles.c.symbol, order_by=candles.c.open_time_ms.desc())
            .label("rank")
        )
        inner = select(*candles.c, rank).where(
            candles.c.exchange == exchange, candles.c.timeframe == timeframe, candles.c.symbol.in_(symbols)
        )
        if end is not None:
            inner = inner.where(candles.c.open_time_ms <= end)
        sub = inner.subquery()
        stmt = select(
            sub.c.symbol, sub.c.open_time_ms, sub.c.open, sub.c.high, sub.c.low, sub.c.close, sub.c.volume
        ).where(sub.c.rank <= limit)
        rows: dict[str, list[tuple]] = {}  # type: ignore[type-arg]
        for row in await conn.execute(stmt):
            rows.setdefault(row[0], []).append(tuple(row[1:]))
        for symbol, bars in rows.items():
            arr = np.array(bars, dtype=np.float64)
            arrays[(exchange, symbol, timeframe)] = arr[np.argsort(arr[:, 0], kind="stable")]

    async def series(self) -> list[SeriesInfo]:
        """Every stored series with bar count and first / last open time, ordered by exchange, symbol, timeframe."""
        stmt = (
            select(
                candles.c.exchange,
                candles.c.symbol,
                candles.c.timeframe,
                instruments.c.asset_class,
                func.count(),
                func.min(candles.c.open_time_ms),
                func.max(candles.c.open_time_ms),
            )
            .join(
                instruments,
                (instruments.c.exchange == candles.c.exchange) & (instruments.c.symbol == candles.c.symbol),
            )
            .group_by(candles.c.exchange, candles.c.symbol, candles.c.timeframe, instruments.c.asset_class)
            .order_by(candles.c.exchange, candles.c.symbol, candles.c.timeframe)
        )
        async with self._engine.connect() as conn:
            rows = (await conn.execute(stmt)).all()
        return [
            SeriesInfo(SeriesKey(ex, sym, Timeframe(tf)), ac, int(n), int(first), int(last))
            for ex, sym, tf, ac, n, first, last in rows
        ]

    async def last_open_ms(self, key: SeriesKey) -> int | None:
        """Open time (ms UTC) of the newest stored bar of the series, or None."""
        stmt = select(func.max(candles.c.open_time_ms)).where(*_series_filter(key))
        async with self._engine.connect() as conn:
            value = (await conn.execute(stmt)).scalar_one_or_none()
        return None if value is None else int(value)


def _series_filter(key: SeriesKey) -> tuple:  # type: ignore[type-arg]
    return (
        candles.c.exchange == key.exchange,
        candles.c.symbol == key.symbol,
        candles.c.timeframe == key.timeframe.value,
    )
