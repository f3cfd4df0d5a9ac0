"""The technical snapshot and score.

:func:`snapshot_into` runs the TA-Lib indicators the signal needs over one candle window and writes the last bar's
values into a row of a batch matrix; :func:`technical_parts` turns a batch of rows into the three parts of the
technical score, each in [-1, 1]:

* ``rsi   = clip((50 - RSI14) / 20, -1, 1)``: +1 at RSI 30 (oversold, a rebound is likely), -1 at RSI 70.
* ``trend = 0.5 tanh((EMA20 - EMA50) / ATR14) + 0.5 tanh((close - EMA200) / (3 ATR14))``: the short trend and the
  long trend, each measured in ATRs so the score means the same on BTC at 40,000 and on DOGE at 0.06.
* ``macd  = tanh(MACD histogram / (0.2 ATR14))``: momentum, MACD(12, 26, 9) after Appel.

The technical score is their weighted mean (weights ``technical_weights`` in ``trading.yaml``).
"""

from __future__ import annotations

import numpy as np
import talib

from tsbot.market.models import CandleFrame


def _undecorated(fn):  # type: ignore[no-untyped-def]
    """TA-Lib wraps each function in a pandas / polars dispatcher when either library is importable (a few
    isinstance checks per call). The engine always passes contiguous float64 numpy arrays, so it calls the function
    underneath (``functools.wraps`` keeps it as ``__wrapped__``); results are identical."""
    return getattr(fn, "__wrapped__", fn)


RSI = _undecorated(talib.RSI)
EMA = _undecorated(talib.EMA)
SMA = _undecorated(talib.SMA)
MACD = _undecorated(talib.MACD)
ATR = _undecorated(talib.ATR)

#: Columns of a snapshot row, in order.
SNAPSHOT_COLUMNS: tuple[str, ...] = (
    "close",
    "rsi_14",
    "ema_20",
    "ema_50",
    "ema_200",
    "macd_hist",
    "atr_14",
    "atr_10",
    "volume_ratio",
)
COL = {name: i for i, name in enumerate(SNAPSHOT_COLUMNS)}

#: Bars of MACD histogram kept per series to date the last crossover (crossovers up to this many bars ago are named).
CROSS_LOOKBACK = 24

#: Fewest bars a window needs: EMA(200) has a warm-up of 199 bars; one more gives a value at the last bar.
MIN_BARS = 200


def snapshot_into(frame: CandleFrame, row: np.ndarray, hist_row: np.ndarray) -> None:
    """Compute the indicators of one window and store the last bar's values.

    Args:
        frame: candles oldest first, at least :data:`MIN_BARS` long.
        row: float64 array of shape ``(len(SNAPSHOT_COLUMNS),)`` to fill.
        hist_row: float64 array of shape ``(CROSS_LOOKBACK + 1,)`` to fill with the last MACD histogram values.
    """
    c = frame.close
    h = frame.high
    low = frame.low
    v = frame.volume
    hist = MACD(c, 12, 26, 9)[2]
    vma = SMA(v, 20)[-1]
    row[:] = (
        c[-1],
        RSI(c, 14)[-1],
        EMA(c, 20)[-1],
        EMA(c, 50)[-1],
        EMA(c, 200)[-1],
        hist[-1],
        ATR(h, low, c, 14)[-1],
        ATR(h, low, c, 10)[-1],
        v[-1] / vma if vma > 0 else np.nan,
    )
    hist_row[:] = hist[-(CROSS_LOOKBACK + 1) :]


def technical_parts(snap: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The RSI, trend and MACD parts, each of shape ``(m,)`` in [-1, 1], from snapshot rows of shape ``(m, k)``."""
    close = snap[:, COL["close"]]
    atr = snap[:, COL["atr_14"]]
    safe_atr = np.where(atr > 0, atr, np.nan)
    rsi_part = np.clip((50.0 - snap[:, COL["rsi_14"]]) / 20.0, -1.0, 1.0)
    trend_part = 0.5 * np.tanh((snap[:, COL["ema_20"]] - snap[:, COL["ema_50"]]) / safe_atr) + 0.5 * np.tanh(
        (close - snap[:, COL["ema_200"]]) / (3.0 * safe_atr)
    )
    macd_part = np.tanh(snap[:, COL["macd_hist"]] / (0.2 * safe_atr))
    # A flat window (ATR 0) carries no information: TA-Lib reports RSI 0 when there were neither gains nor losses.
    rsi_part = np.where(atr > 0, rsi_part, 0.0)
    return np.nan_to_num(rsi_part), np.nan_to_num(trend_part), np.nan_to_num(macd_part)


def macd_crosses(hist: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Bars since the last MACD / signal crossover and its direction, per row.

    Args:
        hist: MACD histogram values, shape ``(m, CROSS_LOOKBACK + 1)``, oldest first.

    Returns:
        ``(bars_ago, direction)``, int arrays of shape ``(m,)``: ``bars_ago`` is 0 when the cross happened on the
        last bar and -1 when there was none in the window; ``direction`` is +1 (crossed above), -1 (below) or 0.
    """
    above = hist > 0
    valid = ~np.isnan(hist)
    changed = (above[:, 1:] != above[:, :-1]) & valid[:, 1:] & valid[:, :-1]
    width = changed.shape[1]
    last = width - 1 - np.argmax(changed[:, ::-1], axis=1)
    has = changed.any(axis=1)
    bars_ago = np.where(has, width - 1 - last, -1)
    direction = np.where(has, np.where(above[np.arange(len(hist)), last + 1], 1, -1), 0)
    return bars_ago, direction
