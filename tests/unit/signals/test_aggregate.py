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


def test_source_weights_scale_each_headline_and_fall_back_to_the_prefix() -> None:
    # Two headlines of the same age: news +1 weighs 1, a Reddit post -1 weighs 0.25 ("reddit/Bitcoin" -> "reddit").
    series = HeadlineSeries(
        np.array([T - HOUR, T - HOUR], dtype=np.int64),
        np.array([1.0, -1.0]),
        sources=("CoinDesk", "reddit/Bitcoin"),
        ids=np.array([1, 2], dtype=np.int64),
    )
    params = {"half_life_hours": 12.0, "max_age_hours": 72.0, "full_evidence_headlines": 10}
    plain = aggregate(series, T, **params)
    weighted = aggregate(series, T, **params, source_weights={"reddit": 0.25})
    assert plain.score == pytest.approx(0.0)
    assert weighted.score == pytest.approx((1.0 - 0.25) / 1.25)
    # A source weighted 0 counts for nothing; when it is the only one, there is no reading at all.
    only_reddit = HeadlineSeries(np.array([T], dtype=np.int64), np.array([1.0]), sources=("reddit/btc",))
    assert aggregate(only_reddit, T, **params, source_weights={"reddit": 0.0}) is None


def test_thin_evidence_is_flagged_below_the_minimum() -> None:
    params = {
        "half_life_hours": 12.0,
        "max_age_hours": 72.0,
        "full_evidence_headlines": 10,
        "min_headlines": 3,
    }
    two = _agg([T - 2 * HOUR, T - HOUR], [0.5, 0.5], **params)
    three = _agg([T - 3 * HOUR, T - 2 * HOUR, T - HOUR], [0.5, 0.5, 0.5], **params)
    assert two.thin and not three.thin


def test_top_headlines_are_the_largest_contributions_and_all_contributions_sum_to_the_score() -> None:
    rng = np.random.default_rng(3)
    times = np.sort(rng.integers(T - 60 * HOUR, T, 40))
    scores = rng.uniform(-1, 1, 40)
    ids = np.arange(100, 140, dtype=np.int64)
    series = HeadlineSeries(times, scores, sources=tuple(rng.choice(["a", "reddit/x"], 40)), ids=ids)
    params = {"half_life_hours": 12.0, "max_age_hours": 72.0, "full_evidence_headlines": 10}
    rules = {"source_weights": {"reddit": 0.5}}
    everything = aggregate(series, T, **params, **rules, top=40)
    assert len(everything.top) == 40
    assert sum(share for _, share in everything.top) == pytest.approx(everything.score)
    shares = [abs(share) for _, share in everything.top]
    assert shares == sorted(shares, reverse=True)
    top3 = aggregate(series, T, **params, **rules, top=3)
    assert top3.top == everything.top[:3]
    assert {hid for hid, _ in everything.top} == set(ids.tolist())
    # Without ids there is nothing to list, and the score is unchanged.
    bare = aggregate(HeadlineSeries(times, scores, sources=series.sources), T, **params, **rules, top=3)
    assert bare.top == () and bare.score == everything.score
