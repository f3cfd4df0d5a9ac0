"""The feature set: every documented feature exists, warm-ups match the documentation, values are causal, and a
few features equal independent computations."""

from __future__ import annotations

import numpy as np
import pytest

from tsbot.adapters.bundled import bundled_series, read_bundled_rows
from tsbot.indicators.features import FEATURE_NAMES, FEATURES, compute_features, feature_matrix
from tsbot.market.validation import validate_rows

EXPECTED = [
    "returns", "volatility", "sma_20", "ema_20", "sma_50", "ema_50", "sma_200", "ema_200", "macd", "macd_signal",
    "macd_hist", "rsi_14", "rsi_28", "bb_middle", "bb_upper", "bb_lower", "bb_width", "atr", "volume_ma",
    "volume_ratio", "obv", "support", "resistance", "log_returns", "market_condition_strength",
    "market_condition_volatility", "price_momentum",
]  # fmt: skip


@pytest.fixture(scope="module")
def btc():  # type: ignore[no-untyped-def]
    item = next(s for s in bundled_series() if s.key.symbol == "BTC/USDT")
    return validate_rows(read_bundled_rows(item), item.key.timeframe).frame.tail(1500)


def test_the_feature_set_is_complete_and_documented() -> None:
    assert list(FEATURE_NAMES) == EXPECTED
    for spec in FEATURES.values():
        assert spec.formula and spec.unit and spec.warmup >= 0


def test_warmup_lengths_match_the_documentation(btc) -> None:  # type: ignore[no-untyped-def]
    feats = compute_features(btc)
    for name, values in feats.items():
        assert values.shape == (len(btc),)
        first_valid = int(np.flatnonzero(~np.isnan(values))[0])
        assert first_valid == FEATURES[name].warmup, name


def test_values_at_t_use_only_bars_up_to_t(btc) -> None:  # type: ignore[no-untyped-def]
    full = compute_features(btc)
    for cut in (400, 911, 1499):
        part = compute_features(btc.tail(len(btc)).until(int(btc.open_time_ms[cut - 1])))
        for name in FEATURE_NAMES:
            np.testing.assert_array_equal(part[name], full[name][:cut], err_msg=name)


def test_some_features_equal_independent_formulas(btc) -> None:  # type: ignore[no-untyped-def]
    f = compute_features(btc)
    c, v = btc.close, btc.volume
    np.testing.assert_allclose(f["sma_20"][19:], np.convolve(c, np.ones(20) / 20, mode="valid"), rtol=1e-10)
    np.testing.assert_allclose(f["returns"][1:], c[1:] / c[:-1] - 1, rtol=1e-12)
    np.testing.assert_allclose(f["log_returns"][1:], np.log(c[1:] / c[:-1]), rtol=1e-12)
    np.testing.assert_allclose(
        f["support"][19:], np.lib.stride_tricks.sliding_window_view(btc.low, 20).min(1)
    )
    np.testing.assert_allclose(f["volume_ratio"][19:], v[19:] / f["volume_ma"][19:], rtol=1e-12)
    np.testing.assert_allclose(f["bb_width"][19:], (f["bb_upper"] - f["bb_lower"])[19:] / f["bb_middle"][19:])
    assert np.nanmax(f["rsi_14"]) <= 100 and np.nanmin(f["rsi_14"]) >= 0
    assert np.nanmax(f["market_condition_strength"]) <= 1


def test_short_and_empty_series(btc) -> None:  # type: ignore[no-untyped-def]
    short = compute_features(btc.tail(30))
    assert np.isnan(short["ema_200"]).all() and not np.isnan(short["sma_20"][-1])
    assert feature_matrix(btc.tail(0)).shape == (0, len(FEATURE_NAMES))
    assert feature_matrix(btc.tail(300)).shape == (300, len(FEATURE_NAMES))
