"""The feature set: technical indicators over one candle series, computed with TA-Lib.

Every feature is a float64 array of shape ``(n,)`` aligned with the input bars (index ``i`` uses bars ``0..i`` only,
so no value looks ahead). The first ``warmup`` values of a feature are NaN; :data:`FEATURES` documents each feature's
formula, unit and warm-up length in bars.

TA-Lib's EMA (and so MACD and RSI's Wilder smoothing) is seeded with the simple mean of its first ``period`` values
(TA-Lib documentation, "unstable period"); values therefore depend on where the series starts. tsbot always computes
from a fixed-length window ending at the signal bar, so a value at time t depends only on bars before t.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import talib

from tsbot.market.models import CandleFrame

#: Period of the rolling window for support, resistance, return volatility and the volume average (bars).
LEVEL_WINDOW = 20


@dataclass(frozen=True, slots=True)
class FeatureSpec:
    """Documentation of one feature: ``formula`` in words, ``unit``, and ``warmup`` (leading NaN bars)."""

    formula: str
    unit: str
    warmup: int


FEATURES: dict[str, FeatureSpec] = {
    "returns": FeatureSpec("close[i] / close[i-1] - 1", "ratio", 1),
    "volatility": FeatureSpec(
        "population std of `returns` over 20 bars (TA-Lib STDDEV)", "ratio per bar", 20
    ),
    "sma_20": FeatureSpec("simple mean of close over 20 bars", "quote currency", 19),
    "ema_20": FeatureSpec("EMA of close, alpha = 2/21, seeded by SMA(20)", "quote currency", 19),
    "sma_50": FeatureSpec("simple mean of close over 50 bars", "quote currency", 49),
    "ema_50": FeatureSpec("EMA of close, alpha = 2/51, seeded by SMA(50)", "quote currency", 49),
    "sma_200": FeatureSpec("simple mean of close over 200 bars", "quote currency", 199),
    "ema_200": FeatureSpec("EMA of close, alpha = 2/201, seeded by SMA(200)", "quote currency", 199),
    "macd": FeatureSpec("EMA(12) - EMA(26) of close (Appel)", "quote currency", 33),
    "macd_signal": FeatureSpec("EMA(9) of macd", "quote currency", 33),
    "macd_hist": FeatureSpec("macd - macd_signal", "quote currency", 33),
    "rsi_14": FeatureSpec("Wilder's RSI over 14 bars: 100 - 100 / (1 + avg gain / avg loss)", "0..100", 14),
    "rsi_28": FeatureSpec("Wilder's RSI over 28 bars", "0..100", 28),
    "bb_middle": FeatureSpec("SMA(20) of close (Bollinger)", "quote currency", 19),
    "bb_upper": FeatureSpec("bb_middle + 2 population std of close over 20 bars", "quote currency", 19),
    "bb_lower": FeatureSpec("bb_middle - 2 population std of close over 20 bars", "quote currency", 19),
    "bb_width": FeatureSpec("(bb_upper - bb_lower) / bb_middle", "ratio", 19),
    "atr": FeatureSpec("Wilder's average true range over 14 bars", "quote currency", 14),
    "volume_ma": FeatureSpec("simple mean of volume over 20 bars", "base units", 19),
    "volume_ratio": FeatureSpec("volume / volume_ma", "ratio", 19),
    "obv": FeatureSpec(
        "on-balance volume (Granville): cumulative volume signed by the close's change", "base units", 0
    ),
    "support": FeatureSpec("lowest low of the last 20 bars including this one", "quote currency", 19),
    "resistance": FeatureSpec("highest high of the last 20 bars including this one", "quote currency", 19),
    "log_returns": FeatureSpec("ln(close[i] / close[i-1])", "log ratio", 1),
    "market_condition_strength": FeatureSpec("ADX(14) / 100 (Wilder's trend strength)", "0..1", 27),
    "market_condition_volatility": FeatureSpec("atr / close", "ratio", 14),
    "price_momentum": FeatureSpec("close[i] / close[i-10] - 1 (TA-Lib ROCR - 1)", "ratio", 10),
}

#: Feature names in a fixed order (the column order of :func:`feature_matrix`).
FEATURE_NAMES: tuple[str, ...] = tuple(FEATURES)


def compute_features(frame: CandleFrame) -> dict[str, np.ndarray]:
    """All features of :data:`FEATURES` for one series.

    Args:
        frame: candles oldest first.

    Returns:
        A dict name -> float64 array of shape ``(len(frame),)``; NaN during each feature's warm-up (and everywhere
        when the series is shorter than it).
    """
    o, h, low, c, v = frame.open, frame.high, frame.low, frame.close, frame.volume
    n = len(frame)
    out: dict[str, np.ndarray] = {}
    if n == 0:
        return {name: np.empty(0) for name in FEATURE_NAMES}
    del o
    returns = np.full(n, np.nan)
    log_returns = np.full(n, np.nan)
    if n > 1:
        with np.errstate(divide="ignore", invalid="ignore"):
            returns[1:] = c[1:] / c[:-1] - 1.0
            log_returns[1:] = np.log(c[1:] / c[:-1])
    out["returns"] = returns
    out["volatility"] = talib.STDDEV(returns, LEVEL_WINDOW, 1.0) if n > LEVEL_WINDOW else np.full(n, np.nan)
    for period in (20, 50, 200):
        out[f"sma_{period}"] = talib.SMA(c, period)
        out[f"ema_{period}"] = talib.EMA(c, period)
    macd, macd_signal, macd_hist = talib.MACD(c, 12, 26, 9)
    out["macd"], out["macd_signal"], out["macd_hist"] = macd, macd_signal, macd_hist
    out["rsi_14"] = talib.RSI(c, 14)
    out["rsi_28"] = talib.RSI(c, 28)
    upper, middle, lower = talib.BBANDS(c, 20, 2.0, 2.0)
    out["bb_middle"], out["bb_upper"], out["bb_lower"] = middle, upper, lower
    with np.errstate(divide="ignore", invalid="ignore"):
        out["bb_width"] = (upper - lower) / middle
    atr = talib.ATR(h, low, c, 14)
    out["atr"] = atr
    volume_ma = talib.SMA(v, LEVEL_WINDOW)
    out["volume_ma"] = volume_ma
    with np.errstate(divide="ignore", invalid="ignore"):
        out["volume_ratio"] = np.where(volume_ma > 0, v / volume_ma, np.nan)
    out["obv"] = talib.OBV(c, v)
    out["support"] = talib.MIN(low, LEVEL_WINDOW)
    out["resistance"] = talib.MAX(h, LEVEL_WINDOW)
    out["log_returns"] = log_returns
    out["market_condition_strength"] = talib.ADX(h, low, c, 14) / 100.0
    with np.errstate(divide="ignore", invalid="ignore"):
        out["market_condition_volatility"] = atr / c
    out["price_momentum"] = talib.ROCR(c, 10) - 1.0
    return out


def feature_matrix(frame: CandleFrame) -> np.ndarray:
    """The features as a float64 matrix of shape ``(len(frame), len(FEATURE_NAMES))``, columns in
    :data:`FEATURE_NAMES` order."""
    feats = compute_features(frame)
    return (
        np.column_stack([feats[name] for name in FEATURE_NAMES])
        if len(frame)
        else np.empty((0, len(FEATURES)))
    )
