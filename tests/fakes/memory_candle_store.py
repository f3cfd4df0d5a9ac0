"""An in-memory :class:`tsbot.market.ports.CandleStore` for unit tests."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from tsbot.market.models import CandleFrame, SeriesKey
from tsbot.market.ports import SeriesInfo, UpsertResult


class MemoryCandleStore:
    """Candles in dicts keyed by series and open time (ms, UTC). Same contract as the database store.

    ``upserts`` records every call as ``(key, number of bars offered)`` so tests can see what was written.
    """

    def __init__(self) -> None:
        self._bars: dict[SeriesKey, dict[int, tuple[float, float, float, float, float]]] = {}
        self._asset_class: dict[SeriesKey, str] = {}
        self.upserts: list[tuple[SeriesKey, int]] = []

    async def upsert(self, key: SeriesKey, asset_class: str, frame: CandleFrame) -> UpsertResult:
        """Insert bars not yet stored; existing open times keep their first values."""
        self.upserts.append((key, len(frame)))
        bars = self._bars.setdefault(key, {})
        self._asset_class.setdefault(key, asset_class)
        inserted = 0
        for i in range(len(frame)):
            t = int(frame.open_time_ms[i])
            if t in bars:
                continue
            bars[t] = (
                float(frame.open[i]),
                float(frame.high[i]),
                float(frame.low[i]),
                float(frame.close[i]),
                float(frame.volume[i]),
            )
            inserted += 1
        return UpsertResult(inserted=inserted, unchanged=len(frame) - inserted)

    async def load(
        self, key: SeriesKey, *, end_ms: int | None = None, limit: int | None = None
    ) -> CandleFrame:
        """Bars oldest first, open time <= ``end_ms`` when given, the last ``limit`` of them."""
        bars = self._bars.get(key, {})
        times = sorted(t for t in bars if end_ms is None or t <= end_ms)
        if limit is not None:
            times = times[-limit:] if limit > 0 else []
        if not times:
            return CandleFrame.empty()
        rows = np.array([(t, *bars[t]) for t in times], dtype=np.float64)
        return CandleFrame.from_rows(rows)

    async def load_many(
        self, keys: Sequence[SeriesKey], *, end_ms: Mapping[SeriesKey, int] | None = None, limit: int
    ) -> dict[SeriesKey, CandleFrame]:
        """:meth:`load` per key."""
        return {
            k: await self.load(k, end_ms=None if end_ms is None else end_ms.get(k), limit=limit) for k in keys
        }

    async def series(self) -> list[SeriesInfo]:
        """Every series with at least one bar, sorted by key text."""
        out = []
        for key, bars in self._bars.items():
            if bars:
                out.append(SeriesInfo(key, self._asset_class[key], len(bars), min(bars), max(bars)))
        return sorted(out, key=lambda s: str(s.key))

    async def last_open_ms(self, key: SeriesKey) -> int | None:
        """Newest open time of a series, or None."""
        bars = self._bars.get(key)
        return max(bars) if bars else None
