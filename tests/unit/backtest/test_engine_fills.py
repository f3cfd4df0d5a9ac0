"""Backtest engine: when and at what price orders fill, and what cash that leaves, on tiny hand-made series.

Every expected number is worked out by hand from the rules in :mod:`tsbot.backtest.engine`.
"""

from __future__ import annotations

import numpy as np
import pytest
from tests.unit.backtest.engine_bars import T0, H, bars, config, flat, plan, trades

from tsbot.backtest.engine import run_series
from tsbot.backtest.models import EntryKind, ExitReason, FillAt

ROWS = [
    (100, 101, 99, 100),
    (102, 104, 101, 103),
    (104, 106, 103, 105),
    (110, 111, 108, 109),
    (109, 110, 108, 109),
]
FEES = {"taker_fee_bps": 10, "slippage_bps": 10}  # 0.1 % taker fee, 0.1 % slippage


def test_long_round_trip_with_fees_and_slippage() -> None:
    r = run_series(bars(ROWS), plan(5, {0: 1}, [2]), config(**FEES))
    buy = 102 * 1.001  # open of bar 1 plus slippage
    sell = 110 * 0.999  # open of bar 3 minus slippage
    qty = 10_000 / (buy * (1 + 0.001))  # the fee fits in the budget
    final = qty * sell * (1 - 0.001)
    [t] = trades(r)
    assert t["side"] == 1 and t["entry_bar"] == 1 and t["exit_bar"] == 3 and t["bars_held"] == 2
    assert t["entry_time_ms"] == T0 + H and t["exit_time_ms"] == T0 + 3 * H
    assert t["entry_price"] == pytest.approx(buy, rel=1e-12)
    assert t["exit_price"] == pytest.approx(sell, rel=1e-12)
    assert t["qty"] == pytest.approx(qty, rel=1e-12)
    assert t["fees"] == pytest.approx(qty * buy * 0.001 + qty * sell * 0.001, rel=1e-12)
    assert t["pnl"] == pytest.approx(final - 10_000, rel=1e-12)
    assert t["return_ratio"] == pytest.approx((final - 10_000) / (qty * buy), rel=1e-12)
    assert np.isnan(t["r_multiple"]) and t["exit_reason"] == ExitReason.SIGNAL and t["exits"] == 1
    # cash is 0 after the entry, so equity is the position marked at each close
    np.testing.assert_allclose(r.equity, [10_000, qty * 103, qty * 105, final, final], rtol=1e-12)
    np.testing.assert_allclose(r.position, [0, qty, qty, 0, 0], rtol=1e-12)
    assert r.fills.shape == (2, 9)
    np.testing.assert_allclose(r.fills[:, 3], [1, -1])  # buy then sell


def test_short_round_trip_with_fees_and_slippage() -> None:
    r = run_series(bars(ROWS), plan(5, {0: -1}, [2]), config(**FEES))
    sell = 102 * 0.999
    buy = 110 * 1.001
    qty = 10_000 / (sell * 1.001)
    # cash back = margin + P&L - fee = qty*sell + qty*(sell - buy) - qty*buy*0.001
    final = qty * (2 * sell - buy * 1.001)
    [t] = trades(r)
    assert (
        t["side"] == -1 and t["entry_price"] == pytest.approx(sell) and t["exit_price"] == pytest.approx(buy)
    )
    assert r.equity[-1] == pytest.approx(final, rel=1e-12)
    assert t["pnl"] == pytest.approx(final - 10_000, rel=1e-12)
    assert r.equity[1] == pytest.approx(qty * sell + qty * (sell - 103), rel=1e-12)
    np.testing.assert_allclose(r.position[:3], [0, -qty, -qty], rtol=1e-12)


def test_close_fill_trades_at_the_signal_bars_close() -> None:
    r = run_series(bars(ROWS), plan(5, {0: 1}, [2]), config(fill=FillAt.CLOSE))
    [t] = trades(r)
    assert (t["entry_bar"], t["entry_price"], t["exit_bar"], t["exit_price"]) == (0, 100, 2, 105)
    assert t["qty"] == 100 and t["pnl"] == 500
    np.testing.assert_allclose(r.equity, [10_000, 10_300, 10_500, 10_500, 10_500])


def test_the_last_bars_signal_has_no_next_open() -> None:
    r = run_series(bars(ROWS), plan(5, {4: 1}), config())
    assert len(r.trades) == 0 and len(r.fills) == 0
    np.testing.assert_array_equal(r.equity, np.full(5, 10_000.0))


def test_limit_entry_fills_at_the_better_open_on_a_gap() -> None:
    rows = [(100, 101, 99, 100), (99, 100, 96, 97), (93, 94, 92, 93), (95, 96, 94, 95)]
    p = plan(4, {0: 1}, kind={0: EntryKind.LIMIT}, price={0: 95})
    r = run_series(bars(rows), p, config(taker_fee_bps=10, maker_fee_bps=2))
    qty = 10_000 / (93 * 1.0002)  # maker fee on a limit fill
    [t] = trades(r)
    assert t["entry_bar"] == 2 and t["entry_price"] == 93
    assert t["qty"] == pytest.approx(qty, rel=1e-12)
    assert t["exit_reason"] == ExitReason.END_OF_DATA and t["exit_price"] == 95
    assert t["fees"] == pytest.approx(qty * 93 * 0.0002 + qty * 95 * 0.001, rel=1e-12)
    assert r.equity[-1] == pytest.approx(qty * 95 * 0.999, rel=1e-12)


def test_limit_entry_touched_inside_a_bar_fills_at_its_price() -> None:
    rows = [(100, 101, 99, 100), (97, 98, 94, 96), (96, 97, 95, 96)]
    r = run_series(
        bars(rows), plan(3, {0: 1}, kind={0: EntryKind.LIMIT}, price={0: 95}), config(slippage_bps=50)
    )
    [t] = trades(r)
    assert t["entry_bar"] == 1 and t["entry_price"] == 95  # no slippage on a limit fill
    assert t["qty"] == pytest.approx(10_000 / 95)


@pytest.mark.parametrize(
    ("bar2", "fill"), [((104, 107, 103, 106), 105 * 1.001), ((108, 109, 107, 108), 108 * 1.001)]
)
def test_stop_entry_fills_once_traded_through_plus_slippage(bar2: tuple[float, ...], fill: float) -> None:
    rows = [(100, 101, 99, 100), (101, 104, 100, 103), bar2, (108, 109, 107, 108)]
    p = plan(4, {0: 1}, kind={0: EntryKind.STOP}, price={0: 105})
    r = run_series(bars(rows), p, config(taker_fee_bps=10, slippage_bps=10))
    [t] = trades(r)
    assert t["entry_bar"] == 2 and t["entry_price"] == pytest.approx(fill, rel=1e-12)
    assert t["qty"] == pytest.approx(10_000 / (fill * 1.001), rel=1e-12)


def test_short_stop_entry_fills_on_the_way_down() -> None:
    rows = [(100, 101, 99, 100), (99, 100, 94, 95), (95, 96, 94, 95)]
    r = run_series(bars(rows), plan(3, {0: -1}, kind={0: EntryKind.STOP}, price={0: 96}), config())
    [t] = trades(r)
    assert t["side"] == -1 and t["entry_bar"] == 1 and t["entry_price"] == 96
    assert t["pnl"] == pytest.approx(10_000 / 96 * (96 - 95))


def test_pending_entry_expires_and_is_counted() -> None:
    rows = [(100, 101, 99, 100), (99, 100, 91, 95), (95, 96, 91, 95), (92, 93, 89, 90), (90, 91, 89, 90)]
    p = plan(5, {0: 1}, kind={0: EntryKind.LIMIT}, price={0: 90})
    r = run_series(bars(rows), p, config(entry_expiry_bars=2))
    assert len(r.trades) == 0
    assert r.rejected == {"entry expired before it filled": 1}
    # with one more bar of life it fills at bar 3
    r = run_series(bars(rows), p, config(entry_expiry_bars=3))
    assert trades(r)[0]["entry_bar"] == 3 and r.rejected == {}


def test_a_newer_entry_signal_replaces_the_pending_one() -> None:
    rows = [(100, 101, 99, 100), (99, 100, 95, 96), (96, 97, 85, 90), (90, 91, 89, 90)]
    p = plan(4, {0: 1, 1: 1}, kind={0: EntryKind.LIMIT, 1: EntryKind.LIMIT}, price={0: 90, 1: 80})
    r = run_series(bars(rows), p, config())
    assert (
        len(r.trades) == 0
    )  # bar 2 reached 85: the first order (90) would have filled, the second (80) did not
    assert r.rejected == {}


def test_reversal_closes_and_opens_at_the_same_price() -> None:
    rows = [(100, 101, 99, 100), (100, 102, 99, 101), (101, 106, 100, 105), (110, 111, 104, 106),
            (106, 107, 104, 105)]  # fmt: skip
    r = run_series(bars(rows), plan(5, {0: 1, 2: -1}), config())
    first, second = trades(r)
    assert first["side"] == 1 and first["exit_reason"] == ExitReason.REVERSAL and first["exit_price"] == 110
    assert first["pnl"] == pytest.approx(100 * 10)
    # the short is sized on the equity after the close: 11,000 / 110 = 100
    assert second["side"] == -1 and second["entry_bar"] == 3 and second["entry_price"] == 110
    assert second["qty"] == pytest.approx(100) and second["exit_reason"] == ExitReason.END_OF_DATA
    assert second["pnl"] == pytest.approx(100 * (110 - 105))
    assert r.equity[-1] == pytest.approx(11_500)
    np.testing.assert_allclose(r.fills[:, 1], [1, 3, 3, 4])  # bars of the four fills


@pytest.mark.parametrize(
    ("fill", "entry_bar", "exit_bar", "exit_price"),
    [(FillAt.NEXT_OPEN, 1, 3, 103), (FillAt.CLOSE, 0, 2, 102)],
)
def test_max_hold_closes_after_that_many_bars(
    fill: FillAt, entry_bar: int, exit_bar: int, exit_price: float
) -> None:
    rows = [(100, 101, 99, 100), (100, 102, 99, 101), (101, 103, 100, 102), (103, 104, 102, 103),
            (103, 104, 102, 103), (103, 104, 102, 103)]  # fmt: skip
    r = run_series(bars(rows), plan(6, {0: 1}), config(fill=fill, max_hold_bars=2))
    [t] = trades(r)
    assert (t["entry_bar"], t["exit_bar"], t["bars_held"]) == (entry_bar, exit_bar, 2)
    assert t["exit_reason"] == ExitReason.MAX_HOLD and t["exit_price"] == exit_price


def test_end_of_data_closes_the_position_with_a_taker_fee() -> None:
    rows = [*flat(2), (100, 121, 99, 120)]
    r = run_series(bars(rows), plan(3, {0: 1}), config(taker_fee_bps=10))
    qty = 10_000 / (100 * 1.001)
    [t] = trades(r)
    assert t["exit_reason"] == ExitReason.END_OF_DATA and t["exit_bar"] == 2 and t["exit_price"] == 120
    assert t["fees"] == pytest.approx(qty * 100 * 0.001 + qty * 120 * 0.001, rel=1e-12)
    assert r.position[-1] == 0 and r.position[1] == pytest.approx(qty)
    assert r.equity[-1] == pytest.approx(qty * 120 * 0.999, rel=1e-12)
    assert r.equity[-1] == pytest.approx(10_000 + t["pnl"], rel=1e-12)
