"""Synthetic candles for the ML tests: a random walk with volatility clustering and realistic volume."""

from __future__ import annotations

import numpy as np

from tsbot.market.models import CandleFrame

HOUR_MS = 3_600_000
T0_MS = 1_609_459_200_000  # 2021-01-01T00:00:00Z


def random_walk(
    n: int, seed: int = 1, *, start_price: float = 30_000.0, start_ms: int = T0_MS
) -> CandleFrame:
    """``n`` hourly bars: log returns with GARCH-like volatility, OHLC consistent (low <= open, close <= high),
    lognormal volume that rises with the absolute return (and a few zero-volume bars)."""
    rng = np.random.default_rng(seed)
    vol = np.empty(n)
    ret = np.empty(n)
    sigma2 = 0.01**2
    for i in range(n):
        shock = rng.standard_normal()
        ret[i] = np.sqrt(sigma2) * shock
        sigma2 = 1e-6 + 0.08 * ret[i] ** 2 + 0.9 * sigma2
        vol[i] = np.sqrt(sigma2)
    close = start_price * np.exp(np.cumsum(ret))
    open_ = np.concatenate(([start_price], close[:-1])) * np.exp(rng.normal(0, 0.0005, n))
    wick = np.abs(rng.normal(0, 1, (2, n))) * vol * 0.6
    high = np.maximum(open_, close) * np.exp(wick[0])
    low = np.minimum(open_, close) * np.exp(-wick[1])
    volume = np.exp(rng.normal(6.0, 0.5, n)) * (1 + 40 * np.abs(ret))
    volume[rng.random(n) < 0.002] = 0.0
    times = start_ms + HOUR_MS * np.arange(n, dtype=np.int64)
    return CandleFrame(times, open_, high, low, close, volume)


def window(frame: CandleFrame, end: int, bars: int) -> CandleFrame:
    """The ``bars`` bars ending at index ``end`` (inclusive), as a scan would load them."""
    s = slice(max(0, end - bars + 1), end + 1)
    return CandleFrame(
        frame.open_time_ms[s], frame.open[s], frame.high[s], frame.low[s], frame.close[s], frame.volume[s]
    )
