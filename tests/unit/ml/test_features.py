"""The ML feature set: a 500-bar window's last row equals the whole series' row (what makes scan and
training/backtest agree), rows never change when later bars arrive, warm-up, scale-freedom, and hand-checked
values."""

from __future__ import annotations

import numpy as np
import pytest
import talib
from tests.unit.ml.synthetic import random_walk, window

from tsbot.adapters.bundled import bundled_series, read_bundled_rows
from tsbot.market.models import CandleFrame
from tsbot.market.validation import validate_rows
from tsbot.ml.features import (
    EXACT_WINDOW_BARS,
    FEATURE_DOCS,
    MIN_HISTORY_BARS,
    ML_FEATURES,
    feature_matrix,
    last_feature_rows,
)

COL = {name: k for k, name in enumerate(ML_FEATURES)}


@pytest.fixture(scope="module")
def btc() -> CandleFrame:
    item = next(s for s in bundled_series() if s.key.symbol == "BTC/USDT")
    return validate_rows(read_bundled_rows(item), item.key.timeframe).frame.tail(4_000)


def test_every_feature_is_documented_and_none_is_scale_bound() -> None:
    assert tuple(FEATURE_DOCS) == ML_FEATURES and len(set(ML_FEATURES)) == len(ML_FEATURES) == 27
    # long-memory indicators would break the window agreement (module docstring): none may creep in
    assert not {"ema_200", "ema_50", "rsi_28", "obv"} & set(ML_FEATURES)


@pytest.mark.parametrize("source", ["random_walk", "btc"])
def test_last_row_of_a_500_bar_window_equals_the_whole_series_row(source: str, btc: CandleFrame) -> None:
    frame = random_walk(3_000, seed=5) if source == "random_walk" else btc
    full = feature_matrix(frame)
    checked = 0
    for i in range(EXACT_WINDOW_BARS - 1, len(frame), 23):
        row = feature_matrix(window(frame, i, EXACT_WINDOW_BARS))[-1]
        for k, name in enumerate(ML_FEATURES):
            np.testing.assert_allclose(
                row[k], full[i, k], rtol=1e-9, atol=1e-12, err_msg=f"{name} at bar {i}"
            )
        checked += 1
    assert checked > 100
    assert np.isfinite(full[EXACT_WINDOW_BARS:]).mean() > 0.99


def test_ema_200_would_break_the_agreement(btc: CandleFrame) -> None:
    """Why EMA 200 is left out: its seed still weighs in after 300 bars (a 500-bar window vs the whole series)."""
    full = talib.EMA(btc.close, 200)
    i = 2_000
    part = talib.EMA(window(btc, i, EXACT_WINDOW_BARS).close, 200)
    assert abs(part[-1] / full[i] - 1) > 1e-6


def test_rows_never_change_when_later_bars_arrive(walk: CandleFrame) -> None:
    full = feature_matrix(walk)
    for cut in (1, 19, 150, 199, 200, 201, 777, 1_501, 2_999):
        part = feature_matrix(window(walk, cut - 1, cut))
        np.testing.assert_array_equal(part, full[:cut], err_msg=f"first {cut} bars")


def test_warm_up_ends_at_min_history_bars(walk: CandleFrame) -> None:
    x = feature_matrix(walk)
    assert x.shape == (len(walk), len(ML_FEATURES)) and x.dtype == np.float64
    complete = np.isfinite(x).all(axis=1)
    assert not complete[: MIN_HISTORY_BARS - 1].any()
    assert complete[MIN_HISTORY_BARS - 1]
    for name in ("close_sma_200", "high_200_ratio", "low_200_ratio"):
        assert np.isnan(x[MIN_HISTORY_BARS - 2, COL[name]]), name


def test_features_do_not_depend_on_the_price_or_volume_scale(walk: CandleFrame) -> None:
    scaled = CandleFrame(
        walk.open_time_ms, walk.open * 0.0037, walk.high * 0.0037, walk.low * 0.0037, walk.close * 0.0037,
        walk.volume * 250.0,
    )  # fmt: skip
    np.testing.assert_allclose(feature_matrix(scaled), feature_matrix(walk), rtol=1e-7, atol=1e-10)


def test_values_equal_hand_formulas(walk: CandleFrame) -> None:
    x = feature_matrix(walk)
    c, h, low, o, v = walk.close, walk.high, walk.low, walk.open, walk.volume
    i = 1_234
    closes = c[i - 19 : i + 1]
    sma_20 = closes.sum() / 20
    std_20 = np.sqrt(((closes - sma_20) ** 2).sum() / 20)
    expected = {
        "ret_1": c[i] / c[i - 1] - 1,
        "log_ret_1": np.log(c[i] / c[i - 1]),
        "momentum_10": c[i] / c[i - 10] - 1,
        "close_sma_20": c[i] / sma_20 - 1,
        "close_sma_200": c[i] / c[i - 199 : i + 1].mean() - 1,
        "bb_percent_b": (c[i] - (sma_20 - 2 * std_20)) / (4 * std_20),
        "bb_width": 4 * std_20 / sma_20,
        "range_ratio": (h[i] - low[i]) / c[i],
        "body_ratio": (c[i] - o[i]) / c[i],
        "volume_ratio": v[i] / v[i - 19 : i + 1].mean(),
        "high_200_ratio": c[i] / h[i - 199 : i + 1].max() - 1,
        "low_200_ratio": c[i] / low[i - 199 : i + 1].min() - 1,
    }
    rets = c[i - 19 : i + 1] / c[i - 20 : i] - 1
    expected["volatility_20"] = np.sqrt(((rets - rets.mean()) ** 2).mean())
    for name, value in expected.items():
        assert x[i, COL[name]] == pytest.approx(value, rel=1e-9, abs=1e-12), name
    assert np.nanmax(np.abs(x[:, COL["rsi_14"]])) <= 1 and np.nanmax(x[:, COL["adx"]]) <= 1
    assert np.nanmax(x[:, COL["high_200_ratio"]]) <= 0 <= np.nanmin(x[:, COL["low_200_ratio"]])
    assert np.nanmin(x[:, COL["support_atr"]]) >= 0 and np.nanmin(x[:, COL["resistance_atr"]]) >= 0


def test_zero_volume_average_gives_nan_not_infinity(walk: CandleFrame) -> None:
    quiet = CandleFrame(walk.open_time_ms, walk.open, walk.high, walk.low, walk.close, np.zeros(len(walk)))
    x = feature_matrix(quiet)
    assert np.isnan(x[:, COL["volume_ratio"]]).all()
    assert not np.isinf(x).any()


def test_last_rows_of_many_frames_equal_each_frames_last_row(walk: CandleFrame) -> None:
    ends = [0, 5, 150, 198, 199, 200, 201, 202, 650, 1_000, 2_999]
    frames = [window(walk, e, bars) for e in ends for bars in (1, 60, 200, 201, 500)]
    frames.append(CandleFrame.empty())
    rows = last_feature_rows(frames)
    assert rows.shape == (len(frames), len(ML_FEATURES))
    assert np.isnan(rows[-1]).all()
    for k, frame in enumerate(frames[:-1]):
        expected = feature_matrix(frame)[-1]
        np.testing.assert_array_equal(np.isnan(rows[k]), np.isnan(expected), err_msg=f"frame {k}")
        np.testing.assert_allclose(rows[k], expected, rtol=1e-9, atol=1e-12, err_msg=f"frame {k}")


def test_empty_and_tiny_frames() -> None:
    assert feature_matrix(CandleFrame.empty()).shape == (0, len(ML_FEATURES))
    one = feature_matrix(random_walk(1))
    assert one.shape == (1, len(ML_FEATURES))
    assert np.isnan(one[0, COL["ret_1"]]) and np.isfinite(one[0, COL["range_ratio"]])
