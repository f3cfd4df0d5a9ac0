"""Point-in-time sentiment aggregation: only the past counts, decay halves weight every half-life."""

from __future__ import annotations

import numpy as np
import pytest

from tsbot.sentiment.aggregate import MAX_HEADLINES, HeadlineSeries, aggregate, aggregate_many

HOUR = 3_600_000
T = 1_650_000_000_000


def _agg(times, scores, as_of=T, **kw):
    params = {"half_life_hours": 12.0, "max_age_hours": 72.0, "full_evidence_headlines": 10} | kw
    return aggregate(
        HeadlineSeries(np.array(times, dtype=np.int64), np.array(scores, dtype=float)), as_of, **params
    )


def test_decay_weighted_mean() -> None:
    # age 0 -> weight 1, age 12 h (one half-life) -> weight 0.5
    reading = _agg([T - 12 * HOUR, T], [-1.0, 1.0])
    assert reading is not None
    assert reading.score == pytest.approx((1.0 - 0.5) / 1.5)
    assert reading.headlines == 2
    assert reading.span_hours == pytest.approx(12.0)
    assert reading.evidence_ratio == pytest.approx(0.2)


def test_future_and_too_old_headlines_are_ignored() -> None:
    reading = _agg([T - 80 * HOUR, T - HOUR, T + 1], [1.0, -0.5, 1.0])
    assert reading is not None
    assert reading.headlines == 1
    assert reading.score == pytest.approx(-0.5)


def test_headline_at_exactly_as_of_counts_and_none_when_empty() -> None:
    assert _agg([T], [0.3]).score == pytest.approx(0.3)
    assert _agg([T + 1], [0.3]) is None
    assert _agg([], []) is None


def test_evidence_saturates() -> None:
    reading = _agg([T - i * HOUR for i in range(15)][::-1], [0.1] * 15)
    assert reading.evidence_ratio == 1.0
    assert reading.score == pytest.approx(0.1)


def test_a_reading_does_not_depend_on_its_batch() -> None:
    rng = np.random.default_rng(1)
    times = np.sort(rng.integers(T - 500 * HOUR, T, 400))
    series = HeadlineSeries(times, rng.uniform(-1, 1, 400))
    queries = rng.integers(T - 400 * HOUR, T, 60).tolist()
    params = {"half_life_hours": 12.0, "max_age_hours": 72.0, "full_evidence_headlines": 10}
    batch = aggregate_many(series, queries, **params)
    single = [aggregate(series, q, **params) for q in queries]
    assert batch == single  # equal to the last bit
    assert any(r is not None and r.headlines > 20 for r in batch)


def test_at_most_the_most_recent_headlines_are_used() -> None:
    times = np.arange(T - 300 * 60_000, T, 60_000)  # 300 headlines, one a minute
    reading = aggregate_many(
        HeadlineSeries(times, np.ones(300)),
        [T],
        half_life_hours=12.0,
        max_age_hours=72.0,
        full_evidence_headlines=10,
    )[0]
    assert reading is not None and reading.headlines == MAX_HEADLINES
