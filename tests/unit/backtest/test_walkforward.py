"""Running strategies over a trading window, and walk-forward evaluation that reports only out-of-sample folds."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import numpy as np
import pytest

from tsbot.adapters.bundled import bundled_series, read_bundled_rows
from tsbot.backtest.models import TRADE_FIELDS, BacktestConfig
from tsbot.backtest.runner import SeriesData, run_strategy
from tsbot.backtest.strategies import build_strategy
from tsbot.backtest.walkforward import make_folds, walk_forward
from tsbot.config import TradingConfig
from tsbot.core.errors import DataError
from tsbot.core.time import from_ms
from tsbot.market.models import CandleFrame

ENTRY_T = TRADE_FIELDS.index("entry_time_ms")
EXIT_T = TRADE_FIELDS.index("exit_time_ms")
ENTRY_BAR = TRADE_FIELDS.index("entry_bar")
PNL = TRADE_FIELDS.index("pnl")


@pytest.fixture(scope="module")
def data() -> list[SeriesData]:
    out = []
    for s in bundled_series():
        if s.key.symbol in ("BTC/USDT", "ETH/USDT"):
            out.append(SeriesData(s.key, CandleFrame.from_rows(read_bundled_rows(s)).tail(4000)))
    return out


def test_only_bars_inside_the_window_are_traded(data: list[SeriesData]) -> None:
    strategy = build_strategy("sma_cross", TradingConfig())
    t = data[0].candles.open_time_ms
    start, end = int(t[1000]), int(t[3000])
    result = run_strategy(strategy, data, BacktestConfig(), start_ms=start, end_ms=end)
    trades = result.trades
    assert len(trades) > 5
    assert trades[:, ENTRY_T].min() >= start and trades[:, EXIT_T].max() <= end
    assert result.time_ms[0] == start and result.time_ms[-1] == end
    assert result.equity[-1] == pytest.approx(10_000 + trades[:, PNL].sum(), rel=1e-9)


def test_a_series_shorter_than_the_warm_up_is_refused_with_the_reason(data: list[SeriesData]) -> None:
    short = [SeriesData(d.key, d.candles.tail(150)) for d in data]
    with pytest.raises(
        DataError, match="150 bars up to the end of the period; fused needs 200 bars of warm-up"
    ):
        run_strategy(build_strategy("fused", TradingConfig()), short, BacktestConfig())
    notes: list[str] = []
    mixed = [short[0], data[1]]
    result = run_strategy(build_strategy("fused", TradingConfig()), mixed, BacktestConfig(), notes=notes)
    assert [k.symbol for k in result.keys] == [data[1].key.symbol]
    assert notes and data[0].key.symbol in notes[0]


def test_a_period_with_no_bars_is_refused_with_the_bars_the_series_has(data: list[SeriesData]) -> None:
    # bad input tried: a period after the last bar; a daily series and an empty one
    strategy = build_strategy("sma_cross", TradingConfig())
    t = data[0].candles.open_time_ms
    with pytest.raises(DataError) as raised:
        run_strategy(strategy, data[:1], BacktestConfig(), start_ms=int(t[-1]) + 3_600_000)
    first, last = (from_ms(int(t[i])).strftime("%Y-%m-%d %H:%M") for i in (0, -1))
    assert str(raised.value) == (
        f"nothing to backtest: BTC/USDT: no bars in the requested period; its bars open from {first} to {last} UTC"
    )
    day = 86_400_000
    daily = CandleFrame(*(np.arange(300, dtype=np.int64) * day, *[np.full(300, 100.0)] * 4, np.ones(300)))
    empty = daily.tail(0)
    series = [SeriesData(replace(data[0].key, symbol="SPY"), daily), SeriesData(data[1].key, empty)]
    with pytest.raises(DataError) as raised:
        run_strategy(strategy, series, BacktestConfig(), start_ms=400 * day)
    assert str(raised.value) == (
        "nothing to backtest: SPY: no bars in the requested period; its bars open from 1970-01-01 to 1970-10-27 UTC; "
        "ETH/USDT: no bars in the requested period; it has no bars"
    )


def test_folds_split_the_window_into_equal_segments_after_a_training_one() -> None:
    times = np.arange(60, dtype=np.int64) * 1000
    folds = make_folds(times, 5)
    assert [f.test_start_ms for f in folds] == [10_000, 20_000, 30_000, 40_000, 50_000]
    assert [f.test_end_ms for f in folds] == [19_000, 29_000, 39_000, 49_000, 59_000]
    assert all(f.train_start_ms == 0 for f in folds)
    with pytest.raises(DataError, match="needs at least 12 bars"):
        make_folds(times[:11], 5)


def test_walk_forward_reports_only_out_of_sample_folds_and_compounds(data: list[SeriesData]) -> None:
    strategy = build_strategy("swing", TradingConfig())
    seen: list[int] = []

    def trainer(train: Sequence[SeriesData]):  # type: ignore[no-untyped-def]
        last_close = max(int(d.candles.open_time_ms[-1]) + d.key.timeframe.ms for d in train)
        seen.append(last_close)
        return lambda item: np.full(len(item.candles), 0.5)

    wf = walk_forward(strategy, data, BacktestConfig(), folds=4, ml_trainer=trainer)
    assert len(wf.folds) == 4 and len(wf.fold_results) == 4
    # Each model only saw candles that had closed before its fold began.
    assert len(seen) == 4
    assert all(last <= f.test_start_ms for last, f in zip(seen, wf.folds, strict=True))
    assert all(
        f.test_start_ms - last <= data[0].key.timeframe.ms for last, f in zip(seen, wf.folds, strict=True)
    )
    res = wf.result
    assert res.time_ms[0] == wf.folds[0].test_start_ms  # the first segment is never reported
    assert res.time_ms[-1] == wf.folds[-1].test_end_ms
    # Fold k starts with the equity fold k-1 ended with.
    for prev, nxt in zip(wf.fold_results, wf.fold_results[1:], strict=False):
        assert nxt.config.initial_equity == pytest.approx(prev.equity[-1])
    trades = res.trades
    for s in res.symbols:
        if len(s.trades):
            bars = s.trades[:, ENTRY_BAR].astype(int)
            assert (s.candles.open_time_ms[bars] == s.trades[:, ENTRY_T]).all()
    total_pnl = trades[:, PNL].sum()
    assert res.equity[-1] == pytest.approx(10_000 + total_pnl, rel=1e-9)
