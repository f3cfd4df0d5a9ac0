"""Training labels over one candle series: the forward-return sign and the triple-barrier outcome.

Both return ``(labels, valid)``: ``labels`` is int8 of shape ``(n,)`` in {-1, 0, 1} (down, flat, up) and ``valid``
is bool of shape ``(n,)``. Bar ``i``'s label looks at bars ``i+1 .. i+horizon``, so the last ``horizon`` bars have
no label: ``valid`` is False there (and where an input is NaN), and ``labels`` holds 0 in those places. Train only
on rows where ``valid`` is True.
"""

from __future__ import annotations

import numpy as np

from tsbot.core.errors import DataError


def _check_horizon(horizon: int) -> None:
    if horizon < 1:
        raise DataError(f"label horizon must be at least 1 bar, got {horizon}")


def forward_labels(close: np.ndarray, horizon: int, dead_zone_ratio: float) -> tuple[np.ndarray, np.ndarray]:
    """The sign of the return over the next ``horizon`` bars, 0 inside the dead zone.

    With ``r = close[i + horizon] / close[i] - 1``: +1 when ``r > 0`` and ``r >= dead_zone_ratio``, -1 when
    ``r < 0`` and ``r <= -dead_zone_ratio``, else 0.

    Args:
        close: float64 closes, shape ``(n,)``, oldest first.
        horizon: bars ahead (>= 1).
        dead_zone_ratio: returns smaller than this in absolute value are flat (0.005 = 0.5 %).

    Returns:
        ``(labels int8 (n,), valid bool (n,))``; invalid for the last ``horizon`` bars and where a close is NaN
        or not positive.

    Raises:
        DataError: ``horizon < 1`` or a negative dead zone.
    """
    c = np.asarray(close, dtype=np.float64)
    n = c.shape[0]
    _check_horizon(horizon)
    if dead_zone_ratio < 0:
        raise DataError(f"dead_zone_ratio must be >= 0, got {dead_zone_ratio}")
    labels = np.zeros(n, dtype=np.int8)
    valid = np.zeros(n, dtype=bool)
    if n <= horizon:
        return labels, valid
    now, later = c[:-horizon], c[horizon:]
    ok = np.isfinite(now) & np.isfinite(later) & (now > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        r = np.where(ok, later / now - 1.0, 0.0)
    labels[: n - horizon] = np.where(
        (r > 0) & (r >= dead_zone_ratio), 1, np.where((r < 0) & (r <= -dead_zone_ratio), -1, 0)
    )
    labels[: n - horizon][~ok] = 0
    valid[: n - horizon] = ok
    return labels, valid


def triple_barrier_labels(
    high: np.ndarray,
    low: np.ndarray,
    close: np.ndarray,
    atr: np.ndarray,
    horizon: int,
    multiple: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Which barrier the price touches first after bar ``i`` (López de Prado, *Advances in Financial Machine
    Learning*, 2018, ch. 3.4, with volatility-scaled horizontal barriers).

    Barriers of bar ``i``: upper ``close[i] + multiple * atr[i]``, lower ``close[i] - multiple * atr[i]``, vertical
    ``horizon`` bars later. Walking bars ``j = i+1 .. i+horizon``: +1 when ``high[j]`` reaches the upper barrier
    first, -1 when ``low[j]`` reaches the lower one first, 0 when neither is touched by the vertical barrier. When
    one bar touches both, the order inside the bar is unknown and the label is -1 (pessimistic: a long position's
    stop-loss is assumed hit before its take-profit).

    Args:
        high, low, close: float64 arrays ``(n,)``, oldest first, in quote currency.
        atr: float64 ``(n,)``, the volatility unit of each bar (e.g. ATR(14)), in quote currency; NaN during its
            warm-up.
        horizon: bars to the vertical barrier (>= 1).
        multiple: barrier distance in ATRs (> 0).

    Returns:
        ``(labels int8 (n,), valid bool (n,))``; invalid for the last ``horizon`` bars (even where a barrier is
        touched earlier, so that every label sees the same horizon) and where ``atr[i]`` or ``close[i]`` is NaN or
        ``atr[i] <= 0``.

    Raises:
        DataError: ``horizon < 1``, ``multiple <= 0`` or arrays of different lengths.
    """
    h, lo, c, a = (np.asarray(x, dtype=np.float64) for x in (high, low, close, atr))
    n = c.shape[0]
    if not (h.shape[0] == lo.shape[0] == a.shape[0] == n):
        raise DataError("high, low, close and atr must have the same length")
    _check_horizon(horizon)
    if not multiple > 0:
        raise DataError(f"barrier multiple must be > 0, got {multiple}")
    labels = np.zeros(n, dtype=np.int8)
    valid = np.zeros(n, dtype=bool)
    m = n - horizon
    if m <= 0:
        return labels, valid
    base, width = c[:m], a[:m]
    ok = np.isfinite(base) & np.isfinite(width) & (width > 0)
    upper = np.where(ok, base + multiple * width, np.inf)
    lower = np.where(ok, base - multiple * width, -np.inf)
    decided = ~ok
    out = np.zeros(m, dtype=np.int8)
    for step in range(1, horizon + 1):
        hit_up = h[step : step + m] >= upper
        hit_down = lo[step : step + m] <= lower
        down = hit_down & ~decided
        up = hit_up & ~hit_down & ~decided
        out[down] = -1
        out[up] = 1
        decided |= down | up
        if decided.all():
            break
    labels[:m] = np.where(ok, out, 0)
    valid[:m] = ok
    return labels, valid
