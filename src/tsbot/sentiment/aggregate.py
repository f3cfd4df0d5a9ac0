"""Point-in-time aggregation of headline sentiment per asset.

For an asset at time t, only headlines known at or before t (their first-seen time) and no older than
``max_age_hours`` count (at most the :data:`MAX_HEADLINES` most recent of them). Each headline's score (in [-1, 1])
is weighted by its source's weight times an exponential decay, ``w = source_weight * 0.5 ** (age_hours /
half_life_hours)``; the reading is the weighted mean ``sum(w * score) / sum(w)``. Evidence grows with the number of
headlines: ``evidence_ratio = min(1, n / full_evidence_headlines)``; below ``min_headlines`` the reading is marked
``thin`` so a signal can say its news evidence is weak.

A headline's contribution to a reading is ``w * score / sum(w)`` (the contributions sum to the score); the
``top`` largest in absolute value are listed so a person can see why sentiment moved.

:func:`aggregate_many` computes many times at once with numpy. Every time is computed over a fixed-width row, so a
reading does not depend on which other times share its batch: a scan of one symbol and a scan of a thousand give
the same value to the last bit.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from tsbot.config import SentimentConfig

_MS_PER_HOUR = 3_600_000.0

#: Most headlines one reading uses (the most recent ones in its window).
MAX_HEADLINES = 128


@dataclass(frozen=True, slots=True)
class SentimentReading:
    """Aggregated sentiment of one asset at one time.

    Attributes:
        score: weighted mean headline score, in [-1, 1].
        headlines: number of headlines used.
        span_hours: age of the oldest headline used, in hours (>= 0).
        evidence_ratio: ``min(1, headlines / full_evidence_headlines)``, in (0, 1].
        thin: fewer headlines than ``min_headlines``: too little evidence to trust much.
        top: the headlines that moved the reading most, as ``(headline id, contribution)`` pairs, largest absolute
            contribution first; contributions are in [-1, 1] and all of them together sum to ``score``.
    """

    score: float
    headlines: int
    span_hours: float
    evidence_ratio: float
    thin: bool = False
    top: tuple[tuple[int, float], ...] = ()


@dataclass(frozen=True, slots=True)
class HeadlineSeries:
    """Scored headlines of one asset as arrays sorted by the time tsbot knew them.

    Shapes: ``known_ms`` int64 ``(n,)``, the headline's first-seen time in milliseconds UTC (for headlines imported
    from history, their publication time), ascending; ``scores`` float64 ``(n,)`` in [-1, 1]; ``sources`` the
    source name of each headline (``n`` names, or empty when every headline weighs the same); ``ids`` int64
    ``(n,)`` the store's headline ids (empty when the store has none), used to list top headlines.
    """

    known_ms: np.ndarray
    scores: np.ndarray
    sources: tuple[str, ...] = ()
    ids: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.int64))

    @classmethod
    def empty(cls) -> HeadlineSeries:
        return cls(np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float64))


def source_weight_array(
    sources: Sequence[str], weights: Mapping[str, float] | None, default: float = 1.0
) -> np.ndarray:
    """Weight of each headline's source, float64 ``(len(sources),)``.

    ``weights`` maps lower-case source names to weights; a source is looked up by its whole name, then by the part
    before the first ``/`` (``reddit/Bitcoin`` -> ``reddit``); unnamed sources weigh ``default``.
    """
    if not weights:
        return np.full(len(sources), float(default))
    cache: dict[str, float] = {}
    out = np.empty(len(sources), dtype=np.float64)
    for i, name in enumerate(sources):
        w = cache.get(name)
        if w is None:
            low = name.lower()
            w = weights.get(low, weights.get(low.split("/", 1)[0], default))
            cache[name] = w
        out[i] = w
    return out


def aggregate_many(
    series: HeadlineSeries,
    as_of_ms: Sequence[int] | np.ndarray,
    *,
    half_life_hours: float,
    max_age_hours: float,
    full_evidence_headlines: int,
    min_headlines: int = 1,
    source_weights: Mapping[str, float] | None = None,
    default_source_weight: float = 1.0,
    top: int = 0,
) -> list[SentimentReading | None]:
    """Sentiment of one asset at each time in ``as_of_ms`` (milliseconds UTC); None where no headline qualifies.

    Headlines with ``as_of - max_age < known <= as_of`` are used; see the module docstring for the weights. Source
    weights apply when ``series.sources`` names each headline's source (see :func:`source_weight_array`); a reading
    whose headlines all weigh 0 is None. ``top`` > 0 lists that many top contributions per reading (needs
    ``series.ids``).
    """
    times = np.asarray(as_of_ms, dtype=np.int64)
    m = len(times)
    pub = series.known_ms
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
    if len(series.sources) == len(pub) and (source_weights or default_source_weight != 1.0):
        weights = weights * source_weight_array(series.sources, source_weights, default_source_weight)[idx]
    contrib = weights * series.scores[idx]
    num = contrib.sum(axis=1)
    den = weights.sum(axis=1)
    span = np.where(count > 0, (times - pub[np.clip(lo, 0, len(pub) - 1)]) / _MS_PER_HOUR, 0.0)
    with_top = top > 0 and len(series.ids) == len(pub)
    out: list[SentimentReading | None] = []
    for row, (n, s, d, sp) in enumerate(
        zip(count.tolist(), num.tolist(), den.tolist(), span.tolist(), strict=True)
    ):
        if n <= 0 or d <= 0:
            out.append(None)
            continue
        best: tuple[tuple[int, float], ...] = ()
        if with_top:
            shares = np.where(valid[row], contrib[row] / d, 0.0)
            order = np.argsort(-np.abs(shares), kind="stable")[: min(top, n)]
            best = tuple(
                (int(series.ids[idx[row, j]]), float(shares[j])) for j in order.tolist() if valid[row, j]
            )
        out.append(
            SentimentReading(
                max(-1.0, min(1.0, s / d)),
                n,
                sp,
                min(1.0, n / full_evidence_headlines),
                thin=n < min_headlines,
                top=best,
            )
        )
    return out


def aggregate(
    series: HeadlineSeries,
    as_of_ms: int,
    *,
    half_life_hours: float,
    max_age_hours: float,
    full_evidence_headlines: int,
    **options: Any,
) -> SentimentReading | None:
    """Sentiment of one asset as known at ``as_of_ms`` (milliseconds UTC); see :func:`aggregate_many` (whose
    keyword options ``min_headlines``, ``source_weights``, ``default_source_weight`` and ``top`` it passes on)."""
    return aggregate_many(
        series,
        [as_of_ms],
        half_life_hours=half_life_hours,
        max_age_hours=max_age_hours,
        full_evidence_headlines=full_evidence_headlines,
        **options,
    )[0]


def readings(
    series: HeadlineSeries, as_of_ms: Sequence[int] | np.ndarray, config: SentimentConfig, *, top: int = 0
) -> list[SentimentReading | None]:
    """:func:`aggregate_many` with every rule taken from ``config`` (``trading.sentiment``)."""
    return aggregate_many(
        series,
        as_of_ms,
        half_life_hours=config.half_life_hours,
        max_age_hours=config.max_age_hours,
        full_evidence_headlines=config.full_evidence_headlines,
        min_headlines=config.min_headlines,
        source_weights=config.source_weights,
        default_source_weight=config.default_source_weight,
        top=top,
    )
