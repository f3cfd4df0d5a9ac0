"""Point-in-time aggregation of headline sentiment per asset.

For an asset at time t, only headlines published at or before t and no older than ``max_age_hours`` count (at most
the :data:`MAX_HEADLINES` most recent of them). Each headline's score (in [-1, 1]) is weighted by exponential decay
``w = 0.5 ** (age_hours / half_life_hours)``; the reading is the weighted mean. Evidence grows with the number of
headlines: ``evidence_ratio = min(1, n / full_evidence_headlines)``.

:func:`aggregate_many` computes many times at once with numpy. Every time is computed over a fixed-width row, so a
reading does not depend on which other times share its batch: a scan of one symbol and a scan of a thousand give
the same value to the last bit.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

_MS_PER_HOUR = 3_600_000.0

#: Most headlines one reading uses (the most recent ones in its window).
MAX_HEADLINES = 128


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


def aggregate_many(
    series: HeadlineSeries,
    as_of_ms: Sequence[int] | np.ndarray,
    *,
    half_life_hours: float,
    max_age_hours: float,
    full_evidence_headlines: int,
) -> list[SentimentReading | None]:
    """Sentiment of one asset at each time in ``as_of_ms`` (milliseconds UTC); None where no headline qualifies.

    Headlines with ``as_of - max_age < published <= as_of`` are used; see the module docstring for the weights.
    """
    times = np.asarray(as_of_ms, dtype=np.int64)
    m = len(times)
    pub = series.published_ms
    if m == 0:
        return []
    if len(pub) == 0:
        return [None] * m
    hi = np.searchsorted(pub, times, side="right")
    lo = np.searchsorted(pub, times - int(max_age_hours * _MS_PER_HOUR), side="right")
    lo = np.maximum(lo, hi - MAX_HEADLINES)
    count = hi - lo
    idx = hi[:, None] - MAX_HEADLINES + np.arange(MAX_HEADLINES)[None, :]
    valid = idx >= lo[:, None]
    idx = np.clip(idx, 0, len(pub) - 1)
    age_hours = (times[:, None] - pub[idx]) / _MS_PER_HOUR
    weights = np.where(valid, np.exp2(-age_hours / half_life_hours), 0.0)
    num = (weights * series.scores[idx]).sum(axis=1)
    den = weights.sum(axis=1)
    span = np.where(count > 0, (times - pub[np.clip(lo, 0, len(pub) - 1)]) / _MS_PER_HOUR, 0.0)
    out: list[SentimentReading | None] = []
    for n, s, d, sp in zip(count.tolist(), num.tolist(), den.tolist(), span.tolist(), strict=True):
        if n <= 0 or d <= 0:
            out.append(None)
        else:
            out.append(
                SentimentReading(max(-1.0, min(1.0, s / d)), n, sp, min(1.0, n / full_evidence_headlines))
            )
    return out


def aggregate(
    series: HeadlineSeries,
    as_of_ms: int,
    *,
    half_life_hours: float,
    max_age_hours: float,
    full_evidence_headlines: int,
) -> SentimentReading | None:
    """Sentiment of one asset as known at ``as_of_ms`` (milliseconds UTC); see :func:`aggregate_many`."""
    return aggregate_many(
        series,
        [as_of_ms],
        half_life_hours=half_life_hours,
        max_age_hours=max_age_hours,
        full_evidence_headlines=full_evidence_headlines,
    )[0]
