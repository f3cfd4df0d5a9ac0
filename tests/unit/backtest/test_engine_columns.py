"""Plan columns a strategy leaves constant (``OrderPlan.market``'s shared views) reach the kernel as one value;
the results are those of the same plan written out bar by bar. The shared views themselves are cached and
recognised."""

from __future__ import annotations

import numpy as np
import pytest
from tests.unit.backtest.engine_bars import random_candles

from tsbot.backtest.engine import run_series
from tsbot.backtest.models import (
    BacktestConfig,
    FillAt,
    OrderPlan,
    constant_column,
    constant_head,
    writable_constant,
)


def written_out(plan: OrderPlan) -> OrderPlan:
    """The same plan with every column a fresh array of its own."""
    return OrderPlan(*(np.array(getattr(plan, f)) for f in OrderPlan.__dataclass_fields__))


@pytest.mark.parametrize("fill", list(FillAt))
@pytest.mark.parametrize("allow_short", [False, True])
def test_shared_constant_columns_give_the_results_of_columns_written_out(
    fill: FillAt, allow_short: bool
) -> None:
    rng = np.random.default_rng(3)
    candles = random_candles(rng, 500)  # NaN bars and zero volumes included
    entry = rng.choice(np.array([-1, 0, 0, 0, 0, 0, 1], dtype=np.int8), 500)
    plan = OrderPlan.market(entry, rng.random(500) < 0.05)
    config = BacktestConfig(
        fill=fill, allow_short=allow_short, taker_fee_bps=10, slippage_bps=2, leverage=2.0
    )
    shared, own = run_series(candles, plan, config), run_series(candles, written_out(plan), config)
    assert len(shared.trades) > 10
    np.testing.assert_array_equal(shared.equity, own.equity)
    np.testing.assert_array_equal(shared.trades, own.trades)
    np.testing.assert_array_equal(shared.fills, own.fills)


def test_a_constant_column_is_one_cached_read_only_view_with_a_writable_twin() -> None:
    a = constant_column(np.nan, np.float64, 777)
    assert a is constant_column(float("nan"), np.float64, 777)  # any NaN object, the same view
    assert not a.flags.writeable and np.isnan(a).all()
    twin = writable_constant(a)
    assert twin is not None and twin.flags.writeable and np.shares_memory(twin, a) and twin.shape == (777,)
    head = constant_head(a[10:20])  # a slice of a shared view is still recognised
    assert head is not None and head.shape == (1,) and np.isnan(head[0])


def test_growing_the_shared_buffer_leaves_earlier_views_valid() -> None:
    small = constant_column(7, np.int8, 5)
    big = constant_column(7, np.int8, 100_000)  # larger than the buffer: a new one
    assert (small == 7).all() and (big == 7).all() and big.shape == (100_000,)
    assert constant_head(big) is not None


def test_an_array_of_its_own_is_no_constant() -> None:
    assert writable_constant(np.full(5, np.nan)) is None
    assert constant_head(np.full(5, np.nan)) is None
    assert (
        constant_head(constant_column(np.nan, np.float64, 0)) is None
    )  # empty: nothing to stand for every bar


def test_plan_columns_starting_at_any_byte_give_the_same_results() -> None:
    """The kernel reads ``entry`` and ``exit`` 8 bars at a time; a window of a longer plan starts anywhere."""
    rng = np.random.default_rng(8)
    candles = random_candles(rng, 403)
    entry = rng.choice(np.array([-1, 0, 0, 0, 1], dtype=np.int8), 410)
    exit_ = rng.random(410) < 0.05
    config = BacktestConfig(fill=FillAt.NEXT_OPEN, taker_fee_bps=10)
    reference = run_series(candles, OrderPlan.market(entry[:403].copy(), exit_[:403].copy()), config)
    assert len(reference.trades) > 10
    for offset in range(1, 8):
        e, x = np.empty(410 + offset, dtype=np.int8), np.empty(410 + offset, dtype=np.bool_)
        e[offset:], x[offset:] = entry, exit_  # the window starts ``offset`` bytes into its buffer
        window = OrderPlan.market(e[offset : offset + 403], x[offset : offset + 403])
        assert window.entry.ctypes.data % 8 != 0 or window.exit.ctypes.data % 8 != 0
        shifted = run_series(candles, window, config)
        np.testing.assert_array_equal(shifted.equity, reference.equity)
        np.testing.assert_array_equal(shifted.fills, reference.fills)
