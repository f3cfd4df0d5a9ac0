"""Point-in-time aggregation of headline sentiment per asset.

For an asset at time t, only headlines published at or before t and no older than ``max_age_hours`` count. Each
headline's score (in [-1, 1]) is weighted by exponential decay ``w = 0.5 ** (age_hours / half_life_hours)``; the
reading is the weighted mean. Evidence grows with the number of headlines: ``evidence_ratio = min(1, n / full)``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

_MS_PER_HOUR = 3_600_000.0


@dataclass(frozen=True, slots=True)
class SentimentReading:
    """Aggregated sentiment of one asset at one time.

    Attributes:
        score: decay-weighted mean headline score, in [-1, 1].
        headlines: number of headlines used.
        span_hours: age of the oldest headline used, in hours (>= 0).
        evidence_ratio: ``min(1, headlines / full_evidence_headlines)``, in (0, 1].
    """

    score: float
    headlines: int
    span_hours: float
    evidence_ratio: float


@dataclass(frozen=True, slots=True)
class HeadlineSeries:
    """Scored headlines of one asset as arrays sorted by publication time.

    Shapes: ``published_ms`` int64 ``(n,)`` milliseconds UTC, ascending; ``scores`` float64 ``(n,)`` in [-1, 1].
    """

    published_ms: np.ndarray
    scores: np.ndarray

    @classmethod
    def empty(cls) -> HeadlineSeries:
        return cls(np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float64))


def aggregate(
    series: HeadlineSeries,
    as_of_ms: int,
    *,
    half_life_hours: float,
    max_age_hours: float,
    full_evidence_headlines: int,
) -> SentimentReading | None:
    """Sentiment of one asset as known at ``as_of_ms`` (milliseconds UTC), or None when no headline qualifies.

    Headlines with ``as_of - max_age < published <= as_of`` are used; see the module docstring for the weights.
    """
    times = series.published_ms
    hi = int(np.searchsorted(times, as_of_ms, side="right"))
    lo = int(np.searchsorted(times, as_of_ms - max_age_hours * _MS_PER_HOUR, side="right"))
    if hi <= lo:
        return None
    age_hours = (as_of_ms - times[lo:hi]) / _MS_PER_HOUR
    weights = np.exp2(-age_hours / half_life_hours)
    score = float(np.dot(weights, series.scores[lo:hi]) / weights.sum())
    n = hi - lo
    return SentimentReading(
        score=max(-1.0, min(1.0, score)),
        headlines=n,
        span_hours=float(age_hours[0]),
        evidence_ratio=min(1.0, n / full_evidence_headlines),
    )
