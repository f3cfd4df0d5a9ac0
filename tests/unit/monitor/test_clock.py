"""The replay clock and the span a replay covers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tsbot.core.errors import DataError
from tsbot.market.models import SeriesKey, Timeframe
from tsbot.market.ports import SeriesInfo
from tsbot.monitor.clock import ReplayClock, replay_span

T0 = datetime(2022, 6, 1, tzinfo=UTC)


class Wall:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def test_replay_clock_runs_speed_times_faster_and_stops_at_the_end() -> None:
    wall = Wall()
    clock = ReplayClock(T0, T0 + timedelta(hours=2), 60, monotonic=wall)
    assert clock.now() == T0
    wall.t += 60  # one real minute = one replayed hour at 60x
    assert clock.now() == T0 + timedelta(hours=1)
    assert not clock.finished
    wall.t += 3_600
    assert clock.now() == T0 + timedelta(hours=2)
    assert clock.finished
    assert "60x" in clock.describe()


@pytest.mark.parametrize("speed", [0, -1])
def test_replay_clock_refuses_a_speed_that_is_not_positive(speed: float) -> None:
    with pytest.raises(ValueError, match="speed"):
        ReplayClock(T0, T0, speed)


def test_replay_clock_refuses_an_end_before_the_start() -> None:
    with pytest.raises(ValueError, match="ends before"):
        ReplayClock(T0, T0 - timedelta(seconds=1), 1)


def _info(symbol: str, tf: Timeframe, first: datetime, last: datetime) -> SeriesInfo:
    ms = lambda d: int(d.timestamp() * 1000)  # noqa: E731
    return SeriesInfo(SeriesKey("binance", symbol, tf), "crypto", 10, ms(first), ms(last))


def test_replay_span_starts_80_percent_through_the_common_history_and_ends_at_the_last_close() -> None:
    infos = [
        _info("BTC/USDT", Timeframe.H1, datetime(2021, 1, 1, tzinfo=UTC), datetime(2021, 1, 11, tzinfo=UTC)),
        _info("ETH/USDT", Timeframe.H1, datetime(2021, 1, 2, tzinfo=UTC), datetime(2021, 1, 10, tzinfo=UTC)),
    ]
    start, end = replay_span(infos)
    assert end == datetime(2021, 1, 11, 1, tzinfo=UTC)  # the last bar's close
    common = datetime(2021, 1, 2, tzinfo=UTC)
    exact = common + (end - common) * 0.8
    assert start == exact.replace(minute=0, second=0, microsecond=0)


def test_replay_span_of_an_empty_store_and_of_a_start_after_the_data_are_clear_errors() -> None:
    with pytest.raises(DataError, match="tsbot data import"):
        replay_span([])
    infos = [_info("BTC/USDT", Timeframe.H1, T0, T0 + timedelta(days=1))]
    with pytest.raises(DataError, match="after the last stored candle"):
        replay_span(infos, start_at=T0 + timedelta(days=30))
