"""Backtest statistics on tiny hand-made equity curves and trade tables, every figure worked out by hand."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from tsbot.backtest.models import FILL_FIELDS, TRADE_FIELDS, BacktestConfig, BacktestResult, SymbolResult
from tsbot.backtest.stats import (
    bar_returns,
    bars_per_year,
    compute_stats,
    drawdown,
    equity_stats,
)
from tsbot.core.errors import DataError
from tsbot.market.models import CandleFrame, SeriesKey, Timeframe

H = Timeframe.H1.ms
D = Timeframe.D1.ms
T0 = 1_704_067_200_000  # 2024-01-01T00:00:00Z
BTC = SeriesKey("binance", "BTC/USDT", Timeframe.H1)


def _frame(times: np.ndarray, close: np.ndarray) -> CandleFrame:
    c = np.asarray(close, dtype=np.float64)
    return CandleFrame(np.asarray(times, dtype=np.int64), c, c * 1.01, c * 0.99, c, np.ones_like(c))


def _sleeve(key, times, close, equity, position=None, trades=None, fills=None) -> SymbolResult:
    return SymbolResult(
        key=key,
        candles=_frame(times, close),
        equity=np.asarray(equity, dtype=np.float64),
        trades=np.empty((0, len(TRADE_FIELDS))) if trades is None else trades,
        fills=_fills_for(position) if fills is None else fills,
    )


def _fills_for(position) -> np.ndarray:
    """Fills that move the held quantity to ``position[i]`` at bar ``i``."""
    rows = []
    held = 0.0
    for bar, want in enumerate(position or []):
        if want != held:
            delta = want - held
            row = np.zeros(len(FILL_FIELDS))
            row[FILL_FIELDS.index("bar")] = bar
            row[FILL_FIELDS.index("side")] = np.sign(delta)
            row[FILL_FIELDS.index("qty")] = abs(delta)
            rows.append(row)
            held = want
    return np.array(rows).reshape(-1, len(FILL_FIELDS))


def _result(equity, *, key=BTC, initial=100.0, times=None, **sleeve) -> BacktestResult:
    eq = np.asarray(equity, dtype=np.float64)
    t = T0 + np.arange(eq.size, dtype=np.int64) * key.timeframe.ms if times is None else np.asarray(times)
    close = sleeve.pop("close", np.full(eq.size, 100.0))
    s = _sleeve(key, t, close, eq, **sleeve)
    return BacktestResult([key], [s], t, eq, BacktestConfig(initial_equity=initial))


def _trade(symbol=0, side=1, pnl=0.0, r=math.nan, fees=0.0) -> list[float]:
    row = dict.fromkeys(TRADE_FIELDS, 0.0)
    row.update(
        symbol=symbol, side=side, pnl=pnl, r_multiple=r, fees=fees, entry_time_ms=T0, exit_time_ms=T0 + H
    )
    return [row[f] for f in TRADE_FIELDS]


def test_bars_per_year_by_market_and_timeframe() -> None:
    assert bars_per_year([BTC]) == pytest.approx(365.25 * 24)
    assert bars_per_year([SeriesKey("binance", "ETH/USDT", Timeframe.H4)]) == pytest.approx(365.25 * 6)
    assert bars_per_year([SeriesKey("alpaca", "AAPL", Timeframe.D1)]) == 252
    assert bars_per_year([SeriesKey("alpaca", "AAPL", Timeframe.H1)]) == pytest.approx(252 * 6.5)
    mixed = [SeriesKey("alpaca", "AAPL", Timeframe.H1), BTC]  # the grid is 24/7 once crypto is in
    assert bars_per_year(mixed) == pytest.approx(8766)
    with pytest.raises(DataError):
        bars_per_year([])


def test_drawdown_is_the_ratio_below_the_running_peak() -> None:
    dd = drawdown(np.array([100.0, 80.0, 120.0, 60.0, 0.0, 130.0]))
    np.testing.assert_allclose(dd, [0.0, 0.2, 0.0, 0.5, 1.0, 0.0])
    assert drawdown(np.empty(0)).shape == (0,)


def test_bar_returns_start_from_the_initial_equity_and_stop_at_zero() -> None:
    np.testing.assert_allclose(bar_returns(np.array([110.0, 99.0, 0.0, 0.0]), 100.0), [0.1, -0.1, -1.0, 0.0])


def test_sharpe_sortino_drawdown_and_calmar_of_a_three_bar_curve() -> None:
    # initial 100 -> 110 -> 99 -> 118.8 on daily crypto bars: returns +10 %, -10 %, +20 %
    eq = equity_stats(
        T0 + np.arange(3) * D,
        np.array([110.0, 99.0, 118.8]),
        initial_equity=100.0,
        bar_ms=D,
        bars_per_year=365.25,
    )
    mean = (0.1 - 0.1 + 0.2) / 3
    std = math.sqrt(((0.1 - mean) ** 2 + (-0.1 - mean) ** 2 + (0.2 - mean) ** 2) / 2)
    assert eq.sharpe == pytest.approx(mean / std * math.sqrt(365.25))
    downside = math.sqrt((0.1**2) / 3)  # only the -10 % bar is below the target 0, averaged over all 3 bars
    assert eq.sortino == pytest.approx(mean / downside * math.sqrt(365.25))
    assert eq.max_drawdown_ratio == pytest.approx(0.1)  # 110 -> 99
    assert eq.max_drawdown_duration_bars == 2  # peak at bar 0's close, back above at bar 2's close
    assert eq.max_drawdown_duration_days == pytest.approx(2.0)
    assert eq.total_return_ratio == pytest.approx(0.188)
    cagr = 1.188 ** (365.25 / 3) - 1  # 3 days of wall time
    assert eq.cagr_ratio == pytest.approx(cagr)
    assert eq.calmar == pytest.approx(cagr / 0.1)
    assert (eq.start_ms, eq.end_ms, eq.bars) == (T0, T0 + 3 * D, 3)


def test_risk_free_rate_is_compounded_down_to_one_bar() -> None:
    r = np.array([0.01, -0.005, 0.02, 0.0])
    equity = 100.0 * np.cumprod(1 + r)
    eq = equity_stats(
        T0 + np.arange(4) * D,
        equity,
        initial_equity=100.0,
        bar_ms=D,
        bars_per_year=365.25,
        risk_free_ratio=0.05,
    )
    rf = 1.05 ** (1 / 365.25) - 1
    assert eq.sharpe == pytest.approx((r.mean() - rf) / r.std(ddof=1) * math.sqrt(365.25))


def test_cagr_over_exactly_four_years_of_daily_bars() -> None:
    n = 1461  # 4 x 365.25 days
    equity = np.linspace(100.0, 200.0, n + 1)[1:]
    eq = equity_stats(T0 + np.arange(n) * D, equity, initial_equity=100.0, bar_ms=D, bars_per_year=365.25)
    assert eq.cagr_ratio == pytest.approx(2**0.25 - 1)  # 18.92 % a year doubles in four
    assert eq.max_drawdown_ratio == 0.0 and eq.calmar == math.inf


def test_longest_drawdown_counts_from_peak_to_recovery() -> None:
    # points 100 | 90 95 100 | 80 120 | 110: stretches of 3 (recovered), 2 (recovered) and 1 bar (open at the end)
    eq = equity_stats(
        T0 + np.arange(6) * H,
        np.array([90.0, 95, 100, 80, 120, 110]),
        initial_equity=100.0,
        bar_ms=H,
        bars_per_year=8766,
    )
    assert eq.max_drawdown_duration_bars == 3
    assert eq.max_drawdown_duration_days == pytest.approx(3 / 24)
    assert eq.max_drawdown_ratio == pytest.approx(0.2)  # 100 -> 80
    # an unrecovered stretch at the end counts up to the last bar: peak 120 at bar 0, still below after 3 bars
    eq = equity_stats(
        T0 + np.arange(4) * H,
        np.array([120.0, 110, 100, 105]),
        initial_equity=100.0,
        bar_ms=H,
        bars_per_year=8766,
    )
    assert eq.max_drawdown_duration_bars == 3
    assert eq.max_drawdown_ratio == pytest.approx(20 / 120)


def test_drawdown_days_use_wall_time_across_a_weekend() -> None:
    thu = 1_704_326_400_000  # 2024-01-04, a Thursday
    times = np.array([thu, thu + D, thu + 4 * D, thu + 5 * D])  # Thu, Fri, Mon, Tue
    eq = equity_stats(
        times, np.array([105.0, 100.0, 101.0, 106.0]), initial_equity=100.0, bar_ms=D, bars_per_year=252
    )
    assert eq.max_drawdown_duration_bars == 3  # Thursday's peak, recovered on Tuesday
    assert eq.max_drawdown_duration_days == pytest.approx(5.0)


def test_flat_one_bar_and_wiped_out_curves() -> None:
    flat = equity_stats(
        T0 + np.arange(5) * H, np.full(5, 100.0), initial_equity=100.0, bar_ms=H, bars_per_year=8766
    )
    assert (flat.sharpe, flat.sortino, flat.calmar, flat.cagr_ratio, flat.max_drawdown_ratio) == (
        0,
        0,
        0,
        0,
        0,
    )
    assert flat.max_drawdown_duration_bars == 0
    one = equity_stats(np.array([T0]), np.array([105.0]), initial_equity=100.0, bar_ms=H, bars_per_year=8766)
    assert one.sharpe == 0.0 and one.total_return_ratio == pytest.approx(0.05) and one.bars == 1
    gone = equity_stats(
        T0 + np.arange(3) * H, np.array([50.0, 0.0, 0.0]), initial_equity=100.0, bar_ms=H, bars_per_year=8766
    )
    assert gone.total_return_ratio == -1.0 and gone.cagr_ratio == -1.0 and gone.max_drawdown_ratio == 1.0
    assert gone.max_drawdown_duration_bars == 3
    # returns -50 %, -100 %, then 0 (nothing left): mean -0.5, sample std 0.5
    assert gone.sharpe == pytest.approx(-1.0 * math.sqrt(8766))
    with pytest.raises(DataError):
        equity_stats(
            np.empty(0, dtype=np.int64), np.empty(0), initial_equity=100.0, bar_ms=H, bars_per_year=1
        )
    with pytest.raises(DataError):
        equity_stats(np.array([T0]), np.array([np.nan]), initial_equity=100.0, bar_ms=H, bars_per_year=1)


def test_trade_figures_profit_factor_win_rate_expectancy() -> None:
    trades = np.array(
        [
            _trade(pnl=10, r=1.0),
            _trade(pnl=-5, r=-0.5),
            _trade(pnl=20),
            _trade(pnl=-5, r=-1.0),
            _trade(pnl=0, r=0.0),
        ]
    )
    fills = np.zeros((3, len(FILL_FIELDS)))
    fills[:, FILL_FIELDS.index("fee")] = [0.5, 0.25, 1.0]
    s = compute_stats(_result([100, 101, 102, 120], trades=trades, fills=fills))
    assert s.trades == 5
    assert s.profit_factor == pytest.approx(30 / 10)
    assert s.win_rate_ratio == pytest.approx(2 / 5)
    assert s.expectancy == pytest.approx(20 / 5)
    assert s.expectancy_r == pytest.approx(
        (1.0 - 0.5 - 1.0 + 0.0) / 4
    )  # the trade without a stop is left out
    assert s.avg_win == pytest.approx(15.0) and s.avg_loss == pytest.approx(-5.0)
    assert s.fees == pytest.approx(1.75)
    assert s.final_equity == 120 and s.initial_equity == 100 and s.total_return_ratio == pytest.approx(0.2)


def test_no_trades_and_no_losses() -> None:
    s = compute_stats(_result([100.0, 100.0]))
    assert s.trades == 0 and math.isnan(s.profit_factor) and math.isnan(s.win_rate_ratio)
    assert math.isnan(s.expectancy) and math.isnan(s.avg_win)
    d = s.to_dict()
    assert (
        d["profit_factor"] is None and d["trades"] == 0 and d["deflated_sharpe"] is None and d["trials"] == 1
    )
    json.dumps(d, allow_nan=False)
    s = compute_stats(_result([100.0, 110.0], trades=np.array([_trade(pnl=10)])))
    assert s.profit_factor == math.inf and s.to_dict()["profit_factor"] is None


def test_exposure_and_buy_and_hold_over_two_symbols_on_different_bars() -> None:
    eth = SeriesKey("binance", "ETH/USDT", Timeframe.H1)
    ta, tb = T0 + np.arange(4) * H, T0 + np.arange(2, 6) * H
    a = _sleeve(BTC, ta, [100.0, 90.0, 95.0, 110.0], np.full(4, 50.0), position=[0, 1, 0, 0])
    b = _sleeve(eth, tb, [50.0, 60.0, 55.0, 40.0], np.full(4, 50.0), position=[0, 0, 0, 2])
    t = T0 + np.arange(6) * H
    result = BacktestResult([BTC, eth], [a, b], t, np.full(6, 100.0), BacktestConfig(initial_equity=100.0))
    s = compute_stats(result)
    assert s.exposure_ratio == pytest.approx(2 / 6)  # BTC held at bar 1, ETH at bar 5
    assert s.buy_and_hold_return_ratio == pytest.approx((0.10 - 0.20) / 2)


def test_to_dict_rounds_to_ten_significant_digits_and_is_json_ready() -> None:
    d = compute_stats(_result([100.123456789123, 99.0, 101.0])).to_dict()
    assert d["final_equity"] == 101.0 and d["bars"] == 3 and isinstance(d["bars"], int)
    assert d["max_drawdown_ratio"] == 0.01122071516  # 1 - 99 / 100.123456789123 = 0.011220715156581...
    assert json.loads(json.dumps(d, allow_nan=False))["start_ms"] == T0


def test_deflated_sharpe_only_with_several_trials() -> None:
    rng = np.random.default_rng(5)
    equity = 100.0 * np.cumprod(1 + rng.normal(0.001, 0.01, 200))
    assert compute_stats(_result(equity)).deflated_sharpe is None
    assert compute_stats(_result(equity), trials_sharpe=[0.1]).deflated_sharpe is None
    s = compute_stats(_result(equity), trials_sharpe=[0.1, 0.05, 0.0, -0.02])
    assert s.trials == 4 and s.deflated_sharpe is not None and 0.0 <= s.deflated_sharpe <= 1.0
    many = compute_stats(_result(equity), trials_sharpe=[0.1, 0.05, 0.0, -0.02] * 25)
    assert many.deflated_sharpe < s.deflated_sharpe  # more configurations tried: less to believe
