"""Backtest engine on bad or awkward input: refused entries, bars that did not trade, gaps in time, and plans
or settings that do not fit (clear errors)."""

from __future__ import annotations

import numpy as np
import pytest
from tests.unit.backtest.engine_bars import T0, H, bars, config, flat, plan, trades

from tsbot.backtest.engine import run_series
from tsbot.backtest.models import BacktestConfig, EntryKind, ExitReason, OrderPlan
from tsbot.core.errors import ConfigError, DataError


def test_stop_loss_on_the_wrong_side_is_refused_and_counted() -> None:
    r = run_series(bars(flat(4)), plan(4, {0: 1}, stop={0: 101}), config())
    assert len(r.trades) == 0 and len(r.fills) == 0
    assert r.rejected == {"stop-loss on the wrong side of the fill price": 1}
    np.testing.assert_array_equal(r.equity, np.full(4, 10_000.0))
    np.testing.assert_array_equal(r.position, np.zeros(4))


def test_the_stop_is_checked_against_the_actual_fill() -> None:
    # the stop (98) was below the signal bar's close (100) but the next bar opened at 97
    rows = [(100, 101, 99, 100), (97, 98, 96, 97), (97, 98, 96, 97)]
    r = run_series(bars(rows), plan(3, {0: 1}, stop={0: 98}), config())
    assert len(r.trades) == 0 and r.rejected == {"stop-loss on the wrong side of the fill price": 1}
    r = run_series(bars(rows), plan(3, {0: -1}, stop={0: 98}), config())  # a short with that stop is fine
    assert trades(r)[0]["side"] == -1 and r.rejected == {}


def test_take_profit_on_the_wrong_side_is_refused() -> None:
    r = run_series(bars(flat(4)), plan(4, {0: -1}, targets={0: [102]}), config())
    assert len(r.trades) == 0 and r.rejected == {"take-profit on the wrong side of the fill price": 1}


@pytest.mark.parametrize("price", [np.nan, -5.0, 0.0])
def test_limit_entry_without_a_positive_price_is_refused(price: float) -> None:
    p = plan(4, {0: 1}, kind={0: EntryKind.LIMIT}, price={0: price})
    r = run_series(bars(flat(4)), p, config())
    assert len(r.trades) == 0 and r.rejected == {"limit/stop entry without a positive price": 1}


def test_shorts_are_ignored_when_not_allowed() -> None:
    r = run_series(bars(flat(4)), plan(4, {0: -1}), config(allow_short=False))
    assert len(r.trades) == 0 and r.rejected == {}


def test_zero_volume_bars_fill_nothing() -> None:
    rows = [
        (100, 101, 99, 100, 5),
        (90, 91, 80, 90, 0),  # no volume: the entry waits, and a stop at 85 would not be hit here
        (95, 96, 94, 95, 5),  # the entry fills at this open
        (95, 96, 70, 96, 0),  # no volume again: the stop is not hit
        (96, 97, 95, 97, 5),
    ]
    r = run_series(bars(rows), plan(5, {0: 1}, stop={0: 85}), config())
    [t] = trades(r)
    assert t["entry_bar"] == 2 and t["entry_price"] == 95 and t["exit_reason"] == ExitReason.END_OF_DATA
    qty = 10_000 / 95
    np.testing.assert_allclose(r.equity, [10_000, 10_000, 10_000, 10_000 + qty, 10_000 + 2 * qty])


def test_nan_price_bars_fill_nothing_and_equity_is_carried() -> None:
    nan = np.nan
    rows = [(100, 101, 99, 100), (100, 101, 99, 100), (nan, nan, nan, nan), (110, 111, 109, 110)]
    r = run_series(bars(rows), plan(4, {0: 1, 1: 0}, [2], stop={0: 50}), config())
    [t] = trades(r)  # the exit raised at the NaN bar waits for the next bar that traded
    assert t["exit_bar"] == 3 and t["exit_price"] == 110 and t["exit_reason"] == ExitReason.SIGNAL
    np.testing.assert_allclose(r.equity, [10_000, 10_000, 10_000, 11_000])


def test_zero_volume_bars_trade_when_told_to() -> None:
    rows = [(100, 101, 99, 100, 5), (90, 91, 80, 90, 0), (95, 96, 94, 95, 5)]
    r = run_series(bars(rows), plan(3, {0: 1}), config(skip_zero_volume=False))
    assert trades(r)[0]["entry_bar"] == 1 and trades(r)[0]["entry_price"] == 90


def test_a_stop_gapped_through_across_missing_bars_fills_at_the_open() -> None:
    rows = [(100, 101, 99, 100), (100, 101, 99, 100), (100, 101, 99, 100), (90, 92, 89, 91), (91, 92, 90, 91)]
    times = [T0, T0 + H, T0 + 2 * H, T0 + 10 * H, T0 + 11 * H]  # seven hours missing before bar 3
    r = run_series(bars(rows, times), plan(5, {0: 1}, stop={0: 95}), config(slippage_bps=10))
    [t] = trades(r)
    assert t["exit_bar"] == 3 and t["exit_time_ms"] == T0 + 10 * H
    assert t["exit_price"] == pytest.approx(90 * 0.999) and t["exit_reason"] == ExitReason.STOP_LOSS


def test_plan_and_candles_of_different_lengths() -> None:
    with pytest.raises(DataError, match="4 rows but the candles have 5 bars"):
        run_series(bars(flat(5)), plan(4, {0: 1}), config())


def test_take_profit_split_must_sum_to_one() -> None:
    p = plan(4, {0: 1}, targets={0: [105, 110]}, split=[0.5, 0.4])
    with pytest.raises(DataError, match="take_profit_split"):
        run_series(bars(flat(4)), p, config())


def test_take_profit_must_have_one_row_per_bar() -> None:
    p = OrderPlan.market(np.zeros(4, dtype=np.int8))
    tp = np.full((3, 1), 110.0)
    bad = OrderPlan(
        p.entry, p.exit, p.entry_kind, p.entry_price, p.stop_loss, tp, np.ones(1), p.trailing_stop
    )
    with pytest.raises(DataError, match="take_profit has shape"):
        run_series(bars(flat(4)), bad, config())


def test_invalid_plan_values_name_the_bar() -> None:
    with pytest.raises(DataError, match="at bar 2: entry must be -1, 0 or"):
        run_series(bars(flat(4)), plan(4, {2: 3}), config())
    with pytest.raises(DataError, match="at bar 1: entry_kind"):
        run_series(bars(flat(4)), plan(4, {1: 1}, kind={1: 7}), config())
    with pytest.raises(DataError, match="trailing_stop"):
        run_series(bars(flat(4)), plan(4, {1: 1}, trail={1: -2}), config())


@pytest.mark.parametrize(
    ("field", "value"),
    [("leverage", 0.5), ("fraction_ratio", 0.0), ("fraction_ratio", 1.5), ("taker_fee_bps", -1.0),
     ("maintenance_margin_ratio", 0.2), ("entry_expiry_bars", 0), ("max_hold_bars", -1),
     ("initial_equity", 0.0)],
)  # fmt: skip
def test_settings_out_of_range(field: str, value: float) -> None:
    settings = {"leverage": 10.0} if field == "maintenance_margin_ratio" else {}
    settings[field] = value
    with pytest.raises(ConfigError, match=field):
        run_series(bars(flat(3)), plan(3), BacktestConfig(**settings))
