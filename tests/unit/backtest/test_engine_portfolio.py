"""Backtest engine: several series on equal sleeves, added into one portfolio equity curve."""

from __future__ import annotations

import numpy as np
import pytest
from tests.unit.backtest.engine_bars import KEY, T0, H, bars, config, plan

from tsbot.backtest import kernel
from tsbot.backtest.engine import compile_kernels, run_backtest, run_series
from tsbot.backtest.models import TRADE_FIELDS, OrderPlan, SymbolResult
from tsbot.core.errors import DataError
from tsbot.market.models import SeriesKey, Timeframe

ETH = SeriesKey("binance", "ETH/USDT", Timeframe.H1)
SOL = SeriesKey("binance", "SOL/USDT", Timeframe.H1)


def test_two_series_on_different_time_axes_carry_their_equity_forward() -> None:
    # A trades hours 0-3, B hours 2-5; each sleeve starts with 5,000
    a = bars([(100, 101, 99, 100), (100, 111, 99, 110), (110, 121, 109, 120), (120, 131, 119, 130)])
    b = bars([(200, 201, 199, 200), (200, 201, 199, 200), (200, 221, 199, 220), (220, 241, 219, 240)],
             times=T0 + H * np.arange(2, 6))  # fmt: skip
    result = run_backtest([(KEY, a, plan(4, {0: 1})), (ETH, b, plan(4, {0: 1}))], config())
    # A: 50 units from 100 -> 5,000 / 5,500 / 6,000 / 6,500; B: 25 units from 200 (its bar 1) -> 5,000 /
    # 5,000 / 5,500 / 6,000. Before its first bar B counts 5,000; after its last bar A stays at 6,500.
    np.testing.assert_array_equal(result.time_ms, T0 + H * np.arange(6))
    np.testing.assert_allclose(result.equity, [10_000, 10_500, 11_000, 11_500, 12_000, 12_500])
    np.testing.assert_allclose(result.symbols[0].equity, [5_000, 5_500, 6_000, 6_500])
    np.testing.assert_allclose(result.symbols[1].equity, [5_000, 5_000, 5_500, 6_000])
    assert result.keys == [KEY, ETH]
    t = result.trades
    np.testing.assert_array_equal(t[:, TRADE_FIELDS.index("symbol")], [0, 1])
    assert t[:, TRADE_FIELDS.index("pnl")] == pytest.approx([1_500, 1_000])
    assert result.equity[-1] == pytest.approx(10_000 + t[:, TRADE_FIELDS.index("pnl")].sum())


def test_plan_functions_and_a_mix_of_shared_and_other_time_axes() -> None:
    # A and B share hours 0-3 (summed by the kernel), C trades hours 2-5; plans are made when their series runs
    rows = [(100, 101, 99, 100), (100, 111, 99, 110), (110, 121, 109, 120), (120, 131, 119, 130)]
    c_rows = [(200, 201, 199, 200), (200, 201, 199, 200), (200, 221, 199, 220), (220, 241, 219, 240)]
    made: list[str] = []

    def lazy(name: str, signals: dict[int, int]):
        def make() -> OrderPlan:
            made.append(name)
            return plan(4, signals)

        return make

    cfg = config(initial_equity=15_000)
    result = run_backtest(
        [
            (KEY, bars(rows), lazy("a", {0: 1})),
            (SOL, bars(rows), plan(4)),
            (ETH, bars(c_rows, times=T0 + H * np.arange(2, 6)), lazy("c", {0: 1})),
        ],
        cfg,
    )
    assert made == ["a", "c"]
    np.testing.assert_array_equal(result.time_ms, T0 + H * np.arange(6))
    # A: 5,000 -> 6,500 over hours 0-3; B flat at 5,000; C: 5,000 before hour 2, then 5,000 / 5,500 / 6,000
    np.testing.assert_allclose(result.equity, [15_000, 15_500, 16_000, 16_500, 17_000, 17_500])
    np.testing.assert_allclose(result.symbols[0].position, [0, 50, 50, 0])
    assert not result.symbols[1].position.any()


def test_a_plan_function_that_fails_stops_the_run_with_its_error() -> None:
    def broken() -> OrderPlan:
        raise DataError("features missing for bar 3")

    rows = [(100, 101, 99, 100), (100, 101, 99, 100)]
    with pytest.raises(DataError, match="features missing"):
        run_backtest([(KEY, bars(rows), plan(2)), (ETH, bars(rows), broken)], config())


def test_series_on_the_same_axis_add_bar_by_bar() -> None:
    rows = [(100, 101, 99, 100), (100, 101, 99, 100), (100, 111, 99, 110)]
    result = run_backtest([(KEY, bars(rows), plan(3, {0: 1})), (ETH, bars(rows), plan(3))], config())
    np.testing.assert_allclose(result.equity, [10_000, 10_000, 10_500])
    assert result.symbols[1].key == ETH and len(result.symbols[1].trades) == 0


def test_run_series_takes_its_own_initial_equity_and_symbol_index() -> None:
    rows = [(100, 101, 99, 100), (100, 101, 99, 100), (100, 111, 99, 110)]
    r = run_series(bars(rows), plan(3, {0: 1}), config(), initial_equity=1_000, symbol_index=3, key=ETH)
    assert r.key == ETH and r.equity[-1] == pytest.approx(1_100)
    assert r.trades[0, 0] == 3 and np.all(r.fills[:, 0] == 3)


def test_nothing_to_backtest() -> None:
    with pytest.raises(DataError, match="no series"):
        run_backtest([], config())


def test_one_compiled_specialisation_serves_every_call() -> None:
    compile_kernels()
    rows = [(100, 101, 99, 100), (100, 101, 99, 100), (100, 111, 99, 110)]
    # plan arrays in other dtypes than the kernel's (lists, int64, float32) are converted at the boundary
    loose = OrderPlan.market([1, 0, 0], [0, 0, 1], stop_loss=np.full(3, 50, dtype=np.float32))
    assert trades_pnl(run_series(bars(rows), loose, config())) == pytest.approx([1_000])
    assert len(kernel.simulate.signatures) == 1


def trades_pnl(r: SymbolResult) -> list[float]:
    return r.trades[:, TRADE_FIELDS.index("pnl")].tolist()
