"""The compiled SMA crossover signals give TA-Lib's crossings bit for bit (one series and rows of a panel),
including the series that trip up a fast path: NaN at the start or inside, ties of the two means, too few bars."""

from __future__ import annotations

import numpy as np
import pytest
import talib

from tsbot.backtest.array_kernels import PUBLISH_EVERY, count_nonzero_rows, sma_crossings
from tsbot.backtest.strategies.base import crosses
from tsbot.backtest.strategies.reference import sma_cross_signals, sma_cross_stream
from tsbot.core.errors import ConfigError


def talib_signals(close: np.ndarray, fast: int, slow: int) -> tuple[np.ndarray, np.ndarray]:
    """The reference: TA-Lib's two means and :func:`crosses`."""
    return crosses(talib.SMA(close, fast), talib.SMA(close, slow))


def walk(rng: np.random.Generator, shape: int | tuple[int, int]) -> np.ndarray:
    return 100.0 * np.exp(np.cumsum(rng.normal(0.0, 0.01, shape), axis=-1))


def test_random_walks_with_nan_runs_and_ties_match_talib() -> None:
    rng = np.random.default_rng(11)
    for case in range(300):
        n = int(rng.integers(1, 600))
        x = walk(rng, n)
        if case % 3 == 0:
            x[: rng.integers(0, n + 1)] = np.nan  # NaN at the start (maybe all of it)
        if case % 5 == 0:
            x[rng.integers(0, n)] = np.nan  # a NaN inside stays in TA-Lib's running sum
        if case % 7 == 0:
            x = np.round(x)  # whole prices: the two means are often exactly equal
        fast, slow = int(rng.integers(2, 40)), int(rng.integers(2, 90))
        up, down = sma_cross_signals(x, fast, slow)
        ref_up, ref_down = talib_signals(x, fast, slow)
        np.testing.assert_array_equal(up, ref_up, err_msg=f"case {case}")
        np.testing.assert_array_equal(down, ref_down, err_msg=f"case {case}")


def test_means_that_become_equal_cross_once_and_their_tie_is_no_cross() -> None:
    x = np.full(200, 100.0)
    x[100:] = 101.0  # the fast mean gets to 101 first (one cross up), then both stay at 101: ties, no cross
    up, down = sma_cross_signals(x, 3, 7)
    ref_up, ref_down = talib_signals(x, 3, 7)
    np.testing.assert_array_equal(up, ref_up)
    np.testing.assert_array_equal(down, ref_down)
    assert up.sum() == 1 and not down.any()


def test_fewer_bars_than_the_slow_period_and_an_empty_series_have_no_signal() -> None:
    for n in (0, 1, 5, 49, 50):
        up, down = sma_cross_signals(walk(np.random.default_rng(n), n), 10, 50)
        assert up.shape == down.shape == (n,) and not up.any() and not down.any()


def test_fast_period_longer_than_slow_is_still_talib() -> None:
    x = walk(np.random.default_rng(3), 2_000)
    up, down = sma_cross_signals(x, 30, 5)
    ref_up, ref_down = talib_signals(x, 30, 5)
    np.testing.assert_array_equal(up, ref_up)
    np.testing.assert_array_equal(down, ref_down)
    assert up.any() and down.any()


def test_panel_rows_match_one_series_each_whatever_their_nan_starts() -> None:
    rng = np.random.default_rng(5)
    for m in (1, 3, 4, 9):  # groups of four and the rows left over
        x = walk(rng, (m, 700))
        x[m // 2, :40] = np.nan  # a row that starts with NaN leaves its group of four
        up, down = sma_cross_signals(x, 10, 50)
        assert up.shape == down.shape == (m, 700)
        for r in range(m):
            ref_up, ref_down = talib_signals(x[r], 10, 50)
            np.testing.assert_array_equal(up[r], ref_up, err_msg=f"m={m} row {r}")
            np.testing.assert_array_equal(down[r], ref_down, err_msg=f"m={m} row {r}")


def test_a_panel_without_bars_has_no_signal() -> None:
    up, down = sma_cross_signals(np.empty((5, 0)), 10, 50)
    assert up.shape == down.shape == (5, 0)


@pytest.mark.parametrize(("fast", "slow"), [(1, 50), (10, 100_001), (0, 5)])
def test_a_period_outside_talib_range_is_a_config_error(fast: int, slow: int) -> None:
    with pytest.raises(ConfigError, match="period"):
        sma_cross_signals(np.ones(100), fast, slow)


def test_three_dimensional_prices_are_refused() -> None:
    with pytest.raises(ValueError, match=r"\(n,\) or \(m, n\)"):
        sma_cross_signals(np.ones((2, 3, 4)), 2, 3)


def test_crossings_that_publish_their_progress_are_the_same_bits_and_end_at_n() -> None:
    rng = np.random.default_rng(5)
    for n in (0, 1, 49, 50, 51, PUBLISH_EVERY, 3 * PUBLISH_EVERY + 17):
        x = walk(rng, n)
        if n > 20:
            x[:13] = np.nan
        ready = np.zeros(1, dtype=np.int64)
        up, down = np.empty(n, dtype=np.bool_), np.empty(n, dtype=np.bool_)
        sma_crossings(x, 10, 50, up, down, ready)
        ref_up, ref_down = talib_signals(x, 10, 50)
        np.testing.assert_array_equal(up, ref_up, err_msg=f"n={n}")
        np.testing.assert_array_equal(down, ref_down, err_msg=f"n={n}")
        assert int(ready[0]) == n


def test_sma_cross_stream_checks_its_periods_and_shape() -> None:
    with pytest.raises(ConfigError, match="period"):
        sma_cross_stream(np.ones(100), 1, 50)
    with pytest.raises(ValueError, match=r"shape \(n,\)"):
        sma_cross_stream(np.ones((2, 100)), 10, 50)


def test_count_nonzero_rows_counts_each_row() -> None:
    a = np.random.default_rng(1).choice(np.array([-1, 0, 0, 1], dtype=np.int8), (6, 333))
    out = np.empty(6, dtype=np.int64)
    count_nonzero_rows(a, out)
    np.testing.assert_array_equal(out, np.count_nonzero(a, axis=1))
