"""The ML feature set: scale-free transforms of one candle series, computed with TA-Lib (and numpy).

Every feature is a ratio, a bounded oscillator or a distance in ATRs, so one model serves symbols of any price
level. Row ``i`` of :func:`feature_matrix` uses bars ``0..i`` only (no look-ahead).

Point-in-time agreement. ``tsbot scan`` sees a window of ``lookback_bars`` (500) bars ending at the signal bar,
while training and backtests compute features over the whole series. The two agree because every feature here has
short memory: rolling windows (SMA, MIN, MAX, standard deviation) see exactly the same bars in both, and the
recursive ones (RSI 7/14, ATR 14, ADX 14, DI 14, MACD 12/26/9, EMA 20) forget their seed geometrically: after
``W`` bars a seed's weight is ``(1 - alpha) ** W``, e.g. RSI 14 ``(13/14) ** 470 ~ 1e-15`` and EMA 20
``(19/21) ** 480 ~ 1e-21``. Row ``i`` of the whole series equals the last row of a 500-bar window ending at ``i``
to 1e-9 relative (1e-12 absolute near zero) for every ``i >= 499``: see ``tests/unit/ml/test_features.py``.
Left out for that reason (their seed still weighs too much after 500 bars): EMA 200 (``(199/201) ** 300`` ~ 5 %),
EMA 50 (``(49/51) ** 450 ~ 1.5e-8``), RSI 28 (``(27/28) ** 470 ~ 4e-8``) and OBV (a cumulative sum).

The Bollinger standard deviation of prices uses a two-pass numpy formula over each window rather than TA-Lib's
running sums of ``x`` and ``x**2``, which cancel badly when the standard deviation is small against the price and
whose rounding error depends on the distance from the start of the array. For returns (mean near 0) TA-Lib's
STDDEV agrees with the two-pass value to about 1e-13 and is used.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import talib
from numpy.lib.stride_tricks import sliding_window_view

from tsbot.market.models import CandleFrame

#: Column order of :func:`feature_matrix`, with each feature's formula (``c`` close, ``h`` high, ``l`` low,
#: ``o`` open, ``v`` volume; windows in bars; standard deviations are population ones).
FEATURE_DOCS: dict[str, str] = {
    "ret_1": "c[i] / c[i-1] - 1",
    "log_ret_1": "ln(c[i] / c[i-1])",
    "momentum_5": "c[i] / c[i-5] - 1",
    "momentum_10": "c[i] / c[i-10] - 1",
    "momentum_20": "c[i] / c[i-20] - 1",
    "volatility_20": "std of ret_1 over 20 bars (TA-Lib STDDEV)",
    "volatility_ratio": "std of ret_1 over 20 bars / std of ret_1 over 100 bars",
    "close_sma_20": "c / SMA(c, 20) - 1",
    "close_sma_50": "c / SMA(c, 50) - 1",
    "close_sma_200": "c / SMA(c, 200) - 1",
    "close_ema_20": "c / EMA(c, 20) - 1 (TA-Lib EMA, seeded by SMA(20))",
    "macd_ratio": "MACD(12, 26, 9) line / c (Appel)",
    "macd_hist_ratio": "MACD histogram (line - signal) / c",
    "rsi_7": "(RSI(7) - 50) / 50, Wilder's RSI scaled to -1..1",
    "rsi_14": "(RSI(14) - 50) / 50",
    "bb_percent_b": "(c - lower) / (upper - lower), Bollinger bands SMA(20) +- 2 std(c, 20)",
    "bb_width": "4 std(c, 20) / SMA(c, 20)",
    "atr_ratio": "ATR(14) / c (Wilder's average true range)",
    "range_ratio": "(h - l) / c of this bar",
    "body_ratio": "(c - o) / c of this bar",
    "volume_ratio": "v / SMA(v, 20) (NaN where the average is 0)",
    "adx": "ADX(14) / 100 (Wilder's trend strength, 0..1)",
    "di_spread": "(+DI(14) - -DI(14)) / 100 (Wilder's directional indicators, -1..1)",
    "support_atr": "(c - min(l, 20 bars)) / ATR(14): distance above the 20-bar support in ATRs",
    "resistance_atr": "(max(h, 20 bars) - c) / ATR(14): distance below the 20-bar resistance in ATRs",
    "high_200_ratio": "c / max(h, 200 bars) - 1 (drawdown from the 200-bar high, <= 0)",
    "low_200_ratio": "c / min(l, 200 bars) - 1 (rise above the 200-bar low, >= 0)",
}

#: Feature names in column order.
ML_FEATURES: tuple[str, ...] = tuple(FEATURE_DOCS)

#: Bars needed before every feature is defined: row ``MIN_HISTORY_BARS - 1`` is the first without a warm-up NaN
#: (the 200-bar SMA, high and low). Rows before it hold NaN in some columns.
MIN_HISTORY_BARS = 200

#: Window length from which a window's last feature row equals the whole series' row (see the module docstring).
EXACT_WINDOW_BARS = 500

_COL = {name: k for k, name in enumerate(ML_FEATURES)}


def _rolling_std(x: np.ndarray, window: int) -> np.ndarray:
    """Population standard deviation of ``x`` over the last ``window`` values (NaN where fewer exist or any is NaN).

    Two-pass per window (mean first), so the value depends on the window's values only, not on their position in
    the array.
    """
    n = x.shape[0]
    out = np.full(n, np.nan)
    if n >= window:
        out[window - 1 :] = sliding_window_view(x, window).std(axis=1)
    return out


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """``num / den`` with NaN where ``den`` is 0 or NaN."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(den != 0, num / den, np.nan)


def feature_matrix(frame: CandleFrame) -> np.ndarray:
    """The ML features of every bar of one series.

    Args:
        frame: candles oldest first (float64 prices and volume).

    Returns:
        float64 array of shape ``(len(frame), len(ML_FEATURES))``, columns in :data:`ML_FEATURES` order. Row ``i``
        depends on bars ``0..i`` only. Rows before ``MIN_HISTORY_BARS - 1`` hold NaN in the features still warming
        up; a zero price or a zero volume average gives NaN in the features dividing by it.
    """
    n = len(frame)
    out = np.full((n, len(ML_FEATURES)), np.nan)
    if n == 0:
        return out
    o = np.ascontiguousarray(frame.open, dtype=np.float64)
    h = np.ascontiguousarray(frame.high, dtype=np.float64)
    low = np.ascontiguousarray(frame.low, dtype=np.float64)
    c = np.ascontiguousarray(frame.close, dtype=np.float64)
    v = np.ascontiguousarray(frame.volume, dtype=np.float64)

    def put(name: str, values: np.ndarray) -> None:
        out[:, _COL[name]] = values

    ret = np.full(n, np.nan)
    log_ret = np.full(n, np.nan)
    if n > 1:
        growth = _ratio(c[1:], c[:-1])
        ret[1:] = growth - 1.0
        with np.errstate(divide="ignore", invalid="ignore"):
            log_ret[1:] = np.log(growth)
    put("ret_1", ret)
    put("log_ret_1", log_ret)
    for lag in (5, 10, 20):
        put(f"momentum_{lag}", talib.ROCR(c, lag) - 1.0)
    vol_20 = talib.STDDEV(ret, 20, 1.0)
    put("volatility_20", vol_20)
    put("volatility_ratio", _ratio(vol_20, talib.STDDEV(ret, 100, 1.0)))

    sma_20 = talib.SMA(c, 20)
    put("close_sma_20", _ratio(c, sma_20) - 1.0)
    put("close_sma_50", _ratio(c, talib.SMA(c, 50)) - 1.0)
    put("close_sma_200", _ratio(c, talib.SMA(c, 200)) - 1.0)
    put("close_ema_20", _ratio(c, talib.EMA(c, 20)) - 1.0)
    macd, _signal, hist = talib.MACD(c, 12, 26, 9)
    put("macd_ratio", _ratio(macd, c))
    put("macd_hist_ratio", _ratio(hist, c))
    put("rsi_7", (talib.RSI(c, 7) - 50.0) / 50.0)
    put("rsi_14", (talib.RSI(c, 14) - 50.0) / 50.0)

    std_20 = _rolling_std(c, 20)
    put("bb_percent_b", _ratio(c - (sma_20 - 2.0 * std_20), 4.0 * std_20))
    put("bb_width", _ratio(4.0 * std_20, sma_20))

    atr = talib.ATR(h, low, c, 14)
    put("atr_ratio", _ratio(atr, c))
    put("range_ratio", _ratio(h - low, c))
    put("body_ratio", _ratio(c - o, c))
    put("volume_ratio", _ratio(v, talib.SMA(v, 20)))
    put("adx", talib.ADX(h, low, c, 14) / 100.0)
    put("di_spread", (talib.PLUS_DI(h, low, c, 14) - talib.MINUS_DI(h, low, c, 14)) / 100.0)
    put("support_atr", _ratio(c - talib.MIN(low, 20), atr))
    put("resistance_atr", _ratio(talib.MAX(h, 20) - c, atr))
    put("high_200_ratio", _ratio(c, talib.MAX(h, 200)) - 1.0)
    put("low_200_ratio", _ratio(c, talib.MIN(low, 200)) - 1.0)
    return out


#: Bars of history the fast path of :func:`last_feature_rows` slices from each frame (closes for 200 returns).
_TAIL = MIN_HISTORY_BARS + 1


def last_feature_rows(frames: Sequence[CandleFrame]) -> np.ndarray:
    """The last row of :func:`feature_matrix` of each frame, for many frames at once (what a scan scores).

    Returns:
        float64 array of shape ``(len(frames), len(ML_FEATURES))``. An empty frame gives a row of NaN. Values equal
        ``feature_matrix(frame)[-1]`` to about 1e-13 relative: the recursive indicators (EMA, MACD, RSI, ATR,
        ADX, DI) run over each whole frame with TA-Lib, and the rolling ones are computed for the last bar only,
        for all frames together. Pass windows of at least :data:`EXACT_WINDOW_BARS` bars for rows that equal
        those of the whole series.
    """
    m = len(frames)
    out = np.full((m, len(ML_FEATURES)), np.nan)
    fast = [k for k, f in enumerate(frames) if len(f) >= _TAIL]
    for k, frame in enumerate(frames):
        if 0 < len(frame) < _TAIL:
            out[k] = feature_matrix(frame)[-1]
    if not fast:
        return out
    q = len(fast)
    closes = np.empty((q, _TAIL))
    highs = np.empty((q, MIN_HISTORY_BARS))
    lows = np.empty((q, MIN_HISTORY_BARS))
    volumes = np.empty((q, 20))
    opens = np.empty(q)
    rec = np.empty((q, 9))
    for j, k in enumerate(fast):
        frame = frames[k]
        h = np.ascontiguousarray(frame.high, dtype=np.float64)
        low = np.ascontiguousarray(frame.low, dtype=np.float64)
        c = np.ascontiguousarray(frame.close, dtype=np.float64)
        closes[j] = c[-_TAIL:]
        highs[j] = h[-MIN_HISTORY_BARS:]
        lows[j] = low[-MIN_HISTORY_BARS:]
        volumes[j] = frame.volume[-20:]
        opens[j] = frame.open[-1]
        macd, _signal, hist = talib.MACD(c, 12, 26, 9)
        rec[j] = (
            talib.EMA(c, 20)[-1],
            macd[-1],
            hist[-1],
            talib.RSI(c, 7)[-1],
            talib.RSI(c, 14)[-1],
            talib.ATR(h, low, c, 14)[-1],
            talib.ADX(h, low, c, 14)[-1],
            talib.PLUS_DI(h, low, c, 14)[-1],
            talib.MINUS_DI(h, low, c, 14)[-1],
        )
    ema_20, macd, hist, rsi_7, rsi_14, atr, adx, plus_di, minus_di = rec.T
    c = closes[:, -1]
    h, low = highs[:, -1], lows[:, -1]
    rets = _ratio(closes[:, 1:], closes[:, :-1]) - 1.0
    sma_20 = closes[:, -20:].mean(axis=1)
    std_20 = closes[:, -20:].std(axis=1)
    vol_20 = rets[:, -20:].std(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        log_ret = np.log(_ratio(c, closes[:, -2]))
    cols = {
        "ret_1": rets[:, -1],
        "log_ret_1": log_ret,
        "momentum_5": _ratio(c, closes[:, -6]) - 1.0,
        "momentum_10": _ratio(c, closes[:, -11]) - 1.0,
        "momentum_20": _ratio(c, closes[:, -21]) - 1.0,
        "volatility_20": vol_20,
        "volatility_ratio": _ratio(vol_20, rets[:, -100:].std(axis=1)),
        "close_sma_20": _ratio(c, sma_20) - 1.0,
        "close_sma_50": _ratio(c, closes[:, -50:].mean(axis=1)) - 1.0,
        "close_sma_200": _ratio(c, closes[:, -200:].mean(axis=1)) - 1.0,
        "close_ema_20": _ratio(c, ema_20) - 1.0,
        "macd_ratio": _ratio(macd, c),
        "macd_hist_ratio": _ratio(hist, c),
        "rsi_7": (rsi_7 - 50.0) / 50.0,
        "rsi_14": (rsi_14 - 50.0) / 50.0,
        "bb_percent_b": _ratio(c - (sma_20 - 2.0 * std_20), 4.0 * std_20),
        "bb_width": _ratio(4.0 * std_20, sma_20),
        "atr_ratio": _ratio(atr, c),
        "range_ratio": _ratio(h - low, c),
        "body_ratio": _ratio(c - opens, c),
        "volume_ratio": _ratio(volumes[:, -1], volumes.mean(axis=1)),
        "adx": adx / 100.0,
        "di_spread": (plus_di - minus_di) / 100.0,
        "support_atr": _ratio(c - lows[:, -20:].min(axis=1), atr),
        "resistance_atr": _ratio(highs[:, -20:].max(axis=1) - c, atr),
        "high_200_ratio": _ratio(c, highs.max(axis=1)) - 1.0,
        "low_200_ratio": _ratio(c, lows.min(axis=1)) - 1.0,
    }
    rows = np.column_stack([cols[name] for name in ML_FEATURES])
    out[fast] = rows
    return out
