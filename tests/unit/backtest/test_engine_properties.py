"""Backtest engine invariants on random plans over random-walk candles (hypothesis): equity is never NaN,
every position is closed by the end, and the books balance (final equity = initial + the sum of trade P&L)."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from tests.unit.backtest.engine_bars import random_candles, random_plan

from tsbot.backtest.engine import run_series
from tsbot.backtest.models import FILL_FIELDS, TRADE_FIELDS, BacktestConfig, FillAt, Sizing

PNL = TRADE_FIELDS.index("pnl")
QTY = TRADE_FIELDS.index("qty")
EXITS = TRADE_FIELDS.index("exits")
ENTRY_BAR = TRADE_FIELDS.index("entry_bar")
F_QTY = FILL_FIELDS.index("qty")
F_ENTRY = FILL_FIELDS.index("is_entry")


@settings(max_examples=150, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(2, 60),
    levels=st.integers(0, 3),
    fill=st.sampled_from(list(FillAt)),
    leverage=st.sampled_from([1.0, 2.0, 10.0, 50.0]),
    sizing=st.sampled_from(list(Sizing)),
    fraction=st.floats(0.1, 1.0),
    stop_first=st.booleans(),
    allow_short=st.booleans(),
    breakeven=st.booleans(),
    skip_zero=st.booleans(),
    max_hold=st.integers(0, 5),
    expiry=st.integers(1, 5),
    fees=st.tuples(st.floats(0, 20), st.floats(0, 20), st.floats(0, 30)),
)
def test_books_balance_on_random_plans(
    seed: int, n: int, levels: int, fill: FillAt, leverage: float, sizing: Sizing, fraction: float,
    stop_first: bool, allow_short: bool, breakeven: bool, skip_zero: bool, max_hold: int, expiry: int,
    fees: tuple[float, float, float],
) -> None:  # fmt: skip
    rng = np.random.default_rng(seed)
    candles = random_candles(rng, n)
    config = BacktestConfig(
        initial_equity=10_000.0, fill=fill, taker_fee_bps=fees[0], maker_fee_bps=fees[1],
        slippage_bps=fees[2],
        leverage=leverage, maintenance_margin_ratio=0.4 / leverage, sizing=sizing, fraction_ratio=fraction,
        stop_first=stop_first, allow_short=allow_short, entry_expiry_bars=expiry, max_hold_bars=max_hold,
        breakeven_after_first_target=breakeven, skip_zero_volume=skip_zero,
    )  # fmt: skip
    r = run_series(candles, random_plan(rng, candles, levels), config)
    assert not np.isnan(r.equity).any() and not np.isnan(r.position).any()
    assert r.position[-1] == 0
    pnl = r.trades[:, PNL].sum()
    np.testing.assert_allclose(r.equity[-1], 10_000 + pnl, rtol=1e-9, atol=1e-9 * 10_000)
    # every trade has one entry fill and `exits` exit fills whose quantities add up to its quantity
    exits = r.fills[r.fills[:, F_ENTRY] == 0]
    assert len(exits) == r.trades[:, EXITS].sum() and len(r.fills) == len(r.trades) + len(exits)
    starts = np.r_[0, np.cumsum(r.trades[:, EXITS])].astype(int)
    for i, trade in enumerate(r.trades):
        np.testing.assert_allclose(exits[starts[i] : starts[i + 1], F_QTY].sum(), trade[QTY], rtol=1e-9)
    assert np.all(np.diff(r.trades[:, ENTRY_BAR]) >= 0)
