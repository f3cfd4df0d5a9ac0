"""Backtest engine: stop-loss, take-profits, trailing stop, break-even, liquidation and risk sizing, each on a
tiny hand-made series with the expected numbers worked out by hand. Entries are market orders filled at the
open of bar 1 (100) unless a test says otherwise, with no fees, so a full-size position is 100 units."""

from __future__ import annotations

import numpy as np
import pytest
from tests.unit.backtest.engine_bars import bars, config, flat, plan, trades

from tsbot.backtest.engine import run_series
from tsbot.backtest.models import EntryKind, ExitReason, FillAt, Sizing


def test_three_take_profits_close_their_splits_of_the_initial_quantity() -> None:
    rows = [
        (100, 101, 99, 100),
        (100, 112, 99, 111),
        (111, 125, 109, 124),
        (124, 135, 123, 134),
        (134, 135, 133, 134),
    ]
    p = plan(5, {0: 1}, stop={0: 90}, targets={0: [110, 120, 130]}, split=[0.5, 0.3, 0.2])
    r = run_series(bars(rows), p, config(maker_fee_bps=2))
    [t] = trades(r)
    # 50 @ 110 in the entry bar itself (filled at its open), 30 @ 120, the last 20 @ 130
    np.testing.assert_allclose(r.fills[:, 5], [100, 50, 30, 20])
    np.testing.assert_allclose(r.fills[:, 4], [100, 110, 120, 130])
    np.testing.assert_allclose(r.fills[:, 8], [-1, 2, 2, 2])
    fees = 0.0002 * (50 * 110 + 30 * 120 + 20 * 130)  # maker on take-profits
    assert t["exits"] == 3 and t["exit_bar"] == 3 and t["exit_reason"] == ExitReason.TAKE_PROFIT
    assert t["exit_price"] == pytest.approx((50 * 110 + 30 * 120 + 20 * 130) / 100)
    assert t["fees"] == pytest.approx(fees)
    assert t["pnl"] == pytest.approx(50 * 10 + 30 * 20 + 20 * 30 - fees)
    assert t["r_multiple"] == pytest.approx(t["pnl"] / (100 * 10))
    # after the first target: cash 50*100 + 500 - fee, 50 units still held, marked at 111
    assert r.equity[1] == pytest.approx(5_000 + 500 - 0.0002 * 5_500 + 50 * 111)
    np.testing.assert_allclose(r.position, [0, 50, 20, 0, 0])


def test_a_gap_through_a_take_profit_fills_at_the_better_open() -> None:
    rows = [(100, 101, 99, 100), (100, 101, 99, 100), (115, 116, 114, 115), (115, 116, 114, 115)]
    r = run_series(bars(rows), plan(4, {0: 1}, targets={0: [110]}), config())
    [t] = trades(r)
    assert t["exit_bar"] == 2 and t["exit_price"] == 115 and t["exit_reason"] == ExitReason.TAKE_PROFIT


@pytest.mark.parametrize(
    ("stop_first", "pnl", "exits", "exit_price"), [(True, -500, 1, 95), (False, 0, 2, 100)]
)
def test_bar_touching_stop_and_target(stop_first: bool, pnl: float, exits: int, exit_price: float) -> None:
    rows = [(100, 101, 99, 100), (100, 101, 99, 100), (100, 106, 94, 100), (100, 101, 99, 100)]
    p = plan(4, {0: 1}, stop={0: 95}, targets={0: [105, 110]}, split=[0.5, 0.5])
    r = run_series(bars(rows), p, config(stop_first=stop_first))
    [t] = trades(r)
    assert t["exit_bar"] == 2 and t["exit_reason"] == ExitReason.STOP_LOSS
    assert (
        t["exits"] == exits
        and t["pnl"] == pytest.approx(pnl)
        and t["exit_price"] == pytest.approx(exit_price)
    )
    assert t["r_multiple"] == pytest.approx(pnl / (100 * 5))


def test_stop_loss_fills_at_the_stop_with_slippage_and_taker_fee() -> None:
    rows = [(100, 101, 99, 100), (100, 101, 99, 100), (99, 100, 94, 96), (96, 97, 95, 96)]
    r = run_series(bars(rows), plan(4, {0: 1}, stop={0: 95}), config(slippage_bps=10, taker_fee_bps=10))
    [t] = trades(r)
    qty = 10_000 / (100.1 * 1.001)
    assert t["exit_price"] == pytest.approx(95 * 0.999) and t["exit_reason"] == ExitReason.STOP_LOSS
    assert r.equity[-1] == pytest.approx(qty * 95 * 0.999 * 0.999, rel=1e-12)


def test_trailing_stop_moves_only_from_the_next_bar() -> None:
    # bar 1: trail = 100 - 5 = 95 (from the entry price); its own high (108) is not used until bar 2, so its
    # low (97) does not stop it out. Bar 2: trail = 108 - 5 = 103, low 102 -> out at 103.
    rows = [(100, 101, 99, 100), (100, 108, 97, 107), (106, 107, 102, 103), (103, 104, 102, 103)]
    r = run_series(bars(rows), plan(4, {0: 1}, trail={0: 5}), config())
    [t] = trades(r)
    assert t["exit_bar"] == 2 and t["exit_price"] == 103 and t["exit_reason"] == ExitReason.TRAILING_STOP
    assert t["pnl"] == pytest.approx(300)


def test_short_trailing_stop_follows_the_lowest_low() -> None:
    rows = [(100, 101, 99, 100), (100, 101, 90, 92), (92, 96, 91, 95), (95, 96, 94, 95)]
    r = run_series(bars(rows), plan(4, {0: -1}, stop={0: 110}, trail={0: 5}), config())
    [t] = trades(r)  # bar 2: trail = 90 + 5 = 95, tighter than the stop at 110; high 96 reaches it
    assert t["exit_bar"] == 2 and t["exit_price"] == 95 and t["exit_reason"] == ExitReason.TRAILING_STOP
    assert t["pnl"] == pytest.approx(100 * 5)


def test_breakeven_after_the_first_target() -> None:
    rows = [(100, 101, 99, 100), (100, 111, 99, 109), (109, 112, 99, 101), (101, 102, 100, 101)]
    p = plan(4, {0: 1}, stop={0: 90}, targets={0: [110, 130]}, split=[0.5, 0.5])
    r = run_series(bars(rows), p, config(breakeven_after_first_target=True))
    [t] = trades(r)  # 50 @ 110 on bar 1; the stop moves to 100; bar 2's low (99) takes the rest at 100
    assert t["exit_bar"] == 2 and t["exits"] == 2 and t["exit_reason"] == ExitReason.STOP_LOSS
    assert t["pnl"] == pytest.approx(50 * 10)
    r = run_series(bars(rows), p, config())
    [t] = trades(r)  # without it the stop stays at 90 and the rest is closed at the end of the data
    assert t["exit_reason"] == ExitReason.END_OF_DATA and t["pnl"] == pytest.approx(50 * 10 + 50 * 1)


def test_leveraged_long_is_liquidated_and_loses_its_margin() -> None:
    # 10x: qty = 10,000 / (100 * 0.1) = 1,000; liquidation at 100 * (1 - 0.1 + 0.005) = 90.5
    rows = [(100, 101, 99, 100), (100, 101, 99, 100), (99, 100, 90, 95), (95, 96, 94, 95), *flat(2, 95)]
    r = run_series(bars(rows), plan(6, {0: 1, 3: 1}), config(leverage=10, maintenance_margin_ratio=0.005))
    [t] = trades(r)
    assert t["qty"] == pytest.approx(1_000) and t["exit_reason"] == ExitReason.LIQUIDATION
    assert t["exit_price"] == pytest.approx(90.5) and t["exit_bar"] == 2
    assert t["pnl"] == pytest.approx(-10_000) and t["return_ratio"] == pytest.approx(-1)
    assert r.fills[-1, 6] == pytest.approx(10_000 + 1_000 * (90.5 - 100))  # what was left of the margin
    assert r.equity[1] == pytest.approx(10_000) and r.equity[-1] == pytest.approx(0, abs=1e-9)
    assert r.rejected == {"no equity left to size the position": 1}


def test_a_stop_nearer_than_the_liquidation_price_is_hit_first() -> None:
    rows = [(100, 101, 99, 100), (100, 101, 99, 100), (99, 100, 90, 95), (95, 96, 94, 95)]
    r = run_series(bars(rows), plan(4, {0: 1}, stop={0: 95}), config(leverage=10))
    [t] = trades(r)
    assert t["exit_reason"] == ExitReason.STOP_LOSS and t["pnl"] == pytest.approx(1_000 * (95 - 100))


def test_short_liquidation_price_is_mirrored() -> None:
    # 5x, maintenance 1 %: 100 * (1 + 0.2 - 0.01) = 119
    rows = [(100, 101, 99, 100), (100, 101, 99, 100), (101, 120, 100, 110), (110, 111, 109, 110)]
    r = run_series(bars(rows), plan(4, {0: -1}), config(leverage=5, maintenance_margin_ratio=0.01))
    [t] = trades(r)
    assert t["exit_reason"] == ExitReason.LIQUIDATION and t["exit_price"] == pytest.approx(119)
    assert r.equity[-1] == pytest.approx(0, abs=1e-9)


def test_unleveraged_long_is_never_liquidated() -> None:
    rows = [(100, 101, 99, 100), (100, 101, 99, 100), (50, 50, 0.01, 1), (1, 2, 1, 1)]
    r = run_series(bars(rows), plan(4, {0: 1}), config())
    assert trades(r)[0]["exit_reason"] == ExitReason.END_OF_DATA and r.equity[-1] == pytest.approx(100)


def test_risk_sizing_loses_the_risk_share_at_the_stop() -> None:
    rows = [(100, 101, 99, 100), (100, 101, 99, 100), (99, 100, 94, 96), (96, 97, 95, 96)]
    r = run_series(
        bars(rows), plan(4, {0: 1}, stop={0: 95}), config(sizing=Sizing.RISK, risk_per_trade_ratio=0.01)
    )
    [t] = trades(r)  # qty = 0.01 * 10,000 / (100 - 95) = 20
    assert (
        t["qty"] == pytest.approx(20)
        and t["pnl"] == pytest.approx(-100)
        and t["r_multiple"] == pytest.approx(-1)
    )


def test_risk_sizing_is_capped_by_the_fixed_fraction() -> None:
    rows = [(100, 101, 99.995, 100)] * 2 + [(100, 101, 99.5, 100)] * 2
    r = run_series(
        bars(rows), plan(4, {0: 1}, stop={0: 99.99}), config(sizing=Sizing.RISK, fraction_ratio=0.5)
    )
    assert trades(r)[0]["qty"] == pytest.approx(50)  # 0.01 * 10,000 / 0.01 = 10,000 > 0.5 * 10,000 / 100


def test_nan_stop_means_no_stop() -> None:
    rows = [(100, 101, 99, 100), (100, 101, 99, 100), (60, 61, 40, 50), (50, 51, 49, 50)]
    r = run_series(bars(rows), plan(4, {0: 1}, stop={0: np.nan}), config())
    [t] = trades(r)
    assert t["exit_reason"] == ExitReason.END_OF_DATA and t["pnl"] == pytest.approx(-5_000)
    assert np.isnan(t["r_multiple"])


def test_an_entry_filled_inside_a_bar_meets_its_stop_in_that_bar() -> None:
    # stop entry at 105 with a stop-loss at 100: bar 1 trades 99-106, so both could have happened; pessimistic
    rows = [(100, 101, 99, 100), (101, 106, 99, 103), (103, 104, 102, 103)]
    p = plan(3, {0: 1}, kind={0: EntryKind.STOP}, price={0: 105}, stop={0: 100})
    [t] = trades(run_series(bars(rows), p, config()))
    assert t["entry_bar"] == t["exit_bar"] == 1 and t["exit_reason"] == ExitReason.STOP_LOSS
    assert t["pnl"] == pytest.approx(10_000 / 105 * (100 - 105))


def test_an_entry_filled_inside_a_bar_meets_its_targets_from_the_next_bar() -> None:
    rows = [(100, 101, 99, 100), (97, 100, 94, 99), (99, 100, 98, 99.5), (99, 100, 98, 99)]
    p = plan(4, {0: 1}, kind={0: EntryKind.LIMIT}, price={0: 95}, targets={0: [99.5]})
    [t] = trades(run_series(bars(rows), p, config()))
    assert t["entry_bar"] == 1 and t["exit_bar"] == 2 and t["exit_price"] == 99.5


def test_an_entry_at_the_close_meets_a_gap_at_the_next_open() -> None:
    rows = [(100, 101, 99, 100), (90, 91, 89, 90), (90, 91, 89, 90)]
    [t] = trades(run_series(bars(rows), plan(3, {0: 1}, stop={0: 95}), config(fill=FillAt.CLOSE)))
    assert t["entry_bar"] == 0 and t["exit_bar"] == 1 and t["exit_price"] == 90
    assert t["exit_reason"] == ExitReason.STOP_LOSS
