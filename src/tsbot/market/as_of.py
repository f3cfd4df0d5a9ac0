"""A view of a candle store as of a moving time (:class:`CandlesAsOf`): what ``tsbot serve --replay`` gives every
part of the process, so the pages, the paper broker's fills and on-demand signals never see a bar from the replay
clock's future."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from datetime import datetime

from tsbot.core.time import to_ms
from tsbot.market.models import CandleFrame, SeriesKey
from tsbot.market.ports import CandleStore, SeriesInfo, UpsertResult


class CandlesAsOf:
    """``store`` cut at ``now()``: a series shows only the bars closed by then (open time + timeframe <= now, UTC).

    Writes go to the store unchanged. :meth:`series` leaves out series whose first bar closes later, and for a
    series cut by ``now`` gives the last bar and the count from the timeframe's grid (exact where no bar is missing;
    otherwise the last open time may name a missing bar and the count is capped by the stored one).
    """

    def __init__(self, store: CandleStore, now: Callable[[], datetime]) -> None:
        self.store = store
        self._now = now

    def _end(self, key: SeriesKey, end_ms: int | None) -> int:
        cut = to_ms(self._now()) - key.timeframe.ms
        return cut if end_ms is None else min(end_ms, cut)

    async def upsert(self, key: SeriesKey, asset_class: str, frame: CandleFrame) -> UpsertResult:
        return await self.store.upsert(key, asset_class, frame)

    async def load(
        self, key: SeriesKey, *, end_ms: int | None = None, limit: int | None = None
    ) -> CandleFrame:
        return await self.store.load(key, end_ms=self._end(key, end_ms), limit=limit)

    async def load_many(
        self, keys: Sequence[SeriesKey], *, end_ms: Mapping[SeriesKey, int] | None = None, limit: int
    ) -> dict[SeriesKey, CandleFrame]:
        ends = {k: self._end(k, None if end_ms is None else end_ms.get(k)) for k in keys}
        return await self.store.load_many(keys, end_ms=ends, limit=limit)

    async def series(self) -> list[SeriesInfo]:
        out = []
        for info in await self.store.series():
            cut = self._end(info.key, None)
            if info.first_open_ms > cut:
                continue
            if info.last_open_ms > cut:
                bars = (
                    cut - info.first_open_ms
                ) // info.key.timeframe.ms + 1  # upper bound where bars are missing
                info = replace(info, last_open_ms=cut - (cut - info.first_open_ms) % info.key.timeframe.ms,
                               count=min(info.count, bars))  # fmt: skip
            out.append(info)
        return out

    async def last_open_ms(self, key: SeriesKey) -> int | None:
        frame = await self.load(key, limit=1)
        return int(frame.open_time_ms[-1]) if len(frame) else None
