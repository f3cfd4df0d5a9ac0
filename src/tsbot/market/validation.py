"""Validation of raw candle rows before they are stored.

Rows are ``(open_time_ms, open, high, low, close, volume)``. A row is rejected, and counted under its reason, when:

* ``nan``: any value is NaN or infinite;
* ``non_positive_price``: open, high, low or close is <= 0;
* ``negative_volume``: volume < 0;
* ``high_below_low``: high < low;
* ``open_close_outside_range``: open or close lies outside [low, high];
* ``misaligned_time``: the open time is not a multiple of the timeframe (after the timeframe's own offset:
  daily bars open at 00:00 UTC);
* ``duplicate_time``: an earlier row has the same open time (the first one is kept).

Rows are sorted by open time first. Gaps (missing bars between kept rows) are reported, not filled.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from tsbot.market.models import CandleFrame, Timeframe

REJECT_REASONS: tuple[str, ...] = (
    "nan",
    "non_positive_price",
    "negative_volume",
    "high_below_low",
    "open_close_outside_range",
    "misaligned_time",
    "duplicate_time",
)


@dataclass(frozen=True, slots=True)
class Gap:
    """Missing bars: ``missing`` bars from ``start_ms`` (open time of the first missing bar, ms UTC)."""

    start_ms: int
    missing: int


@dataclass(slots=True)
class ValidationResult:
    """Clean candles, rejected row counts by reason (see :data:`REJECT_REASONS`), and the gaps between clean bars."""

    frame: CandleFrame
    rejected: dict[str, int] = field(default_factory=dict)
    gaps: list[Gap] = field(default_factory=list)

    @property
    def rejected_total(self) -> int:
        return sum(self.rejected.values())

    @property
    def missing_bars(self) -> int:
        return sum(g.missing for g in self.gaps)


def validate_rows(rows: np.ndarray, timeframe: Timeframe) -> ValidationResult:
    """Validate raw rows of shape ``(n, 6)`` (float64; column 0 is the open time in ms UTC).

    Raises:
        ValueError: ``rows`` is not a 2-D array with 6 columns.
    """
    arr = np.asarray(rows, dtype=np.float64)
    if arr.size == 0:
        return ValidationResult(CandleFrame.empty(), dict.fromkeys(REJECT_REASONS, 0))
    if arr.ndim != 2 or arr.shape[1] != 6:
        raise ValueError(f"candle rows must have shape (n, 6), got {arr.shape}")
    rejected = dict.fromkeys(REJECT_REASONS, 0)

    finite = np.isfinite(arr).all(axis=1)
    rejected["nan"] = int((~finite).sum())
    arr = arr[finite]
    o, h, low, c, v = arr[:, 1], arr[:, 2], arr[:, 3], arr[:, 4], arr[:, 5]
    checks = (
        ("non_positive_price", (o > 0) & (h > 0) & (low > 0) & (c > 0)),
        ("negative_volume", v >= 0),
        ("high_below_low", h >= low),
        ("open_close_outside_range", (o >= low) & (o <= h) & (c >= low) & (c <= h)),
        ("misaligned_time", np.mod(arr[:, 0].astype(np.int64), timeframe.ms) == 0),
    )
    keep = np.ones(len(arr), dtype=bool)
    for reason, ok in checks:
        bad = keep & ~ok
        rejected[reason] = int(bad.sum())
        keep &= ok
    arr = arr[keep]

    times = arr[:, 0].astype(np.int64)
    order = np.argsort(times, kind="stable")
    arr, times = arr[order], times[order]
    first = np.ones(len(times), dtype=bool)
    first[1:] = times[1:] != times[:-1]
    rejected["duplicate_time"] = int((~first).sum())
    arr, times = arr[first], times[first]

    gaps: list[Gap] = []
    if len(times) > 1:
        steps = np.diff(times)
        for idx in np.flatnonzero(steps > timeframe.ms):
            gaps.append(Gap(int(times[idx]) + timeframe.ms, int(steps[idx] // timeframe.ms) - 1))
    frame = CandleFrame.from_rows(arr) if len(arr) else CandleFrame.empty()
    return ValidationResult(frame, rejected, gaps)
