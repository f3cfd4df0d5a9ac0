"""A candle store seen as of a moving time: no bar from the future in loads, listings or last open times."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np

from tsbot.adapters.memory import FrameCandleStore
from tsbot.market.as_of import CandlesAsOf
from tsbot.market.models import CandleFrame, SeriesKey, Timeframe

H = 3_600_000
T0 = int(datetime(2022, 6, 1, tzinfo=UTC).timestamp() * 1000)
BTC = SeriesKey("binance", "BTC/USDT", Timeframe.H1)
LATE = SeriesKey("binance", "NEW/USDT", Timeframe.H1)


def _frame(start: int, bars: int) -> CandleFrame:
    t = start + np.arange(bars) * H
    p = 100.0 + np.arange(bars)
    return CandleFrame.from_rows(np.column_stack([t, p, p + 1, p - 1, p, np.ones(bars)]))


class Now:
    def __init__(self, ms: int) -> None:
        self.ms = ms

    def __call__(self) -> datetime:
        return datetime.fromtimestamp(self.ms / 1000, UTC)


async def test_loads_and_listings_stop_at_the_last_bar_closed_by_now() -> None:
    store = FrameCandleStore({BTC: ("crypto", _frame(T0, 100)), LATE: ("crypto", _frame(T0 + 50 * H, 10))})
    now = Now(T0 + 10 * H + 30 * 60_000)  # 10:30: bars opened 00:00 ... 09:00 have closed
    view = CandlesAsOf(store, now)
    frame = await view.load(BTC)
    assert len(frame) == 10 and int(frame.open_time_ms[-1]) == T0 + 9 * H
    assert len(await view.load(BTC, end_ms=T0 + 4 * H)) == 5  # an earlier end still wins
    many = await view.load_many([BTC, LATE], limit=3)
    assert [int(t) for t in many[BTC].open_time_ms] == [T0 + 7 * H, T0 + 8 * H, T0 + 9 * H]
    assert len(many[LATE]) == 0
    [info] = await view.series()  # NEW/USDT's first bar closes later: not listed yet
    assert (info.key, info.count, info.last_open_ms) == (BTC, 10, T0 + 9 * H)
    assert await view.last_open_ms(BTC) == T0 + 9 * H
    now.ms += 60 * H  # the clock moves on: the late series appears
    assert {i.key for i in await view.series()} == {BTC, LATE}
    assert await view.last_open_ms(BTC) == T0 + 69 * H
