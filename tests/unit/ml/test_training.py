"""Training: row selection, the walk-forward report, bad input, and the registry record."""

from __future__ import annotations

import numpy as np
import pytest
from tests.unit.ml.synthetic import HOUR_MS, T0_MS, random_walk

from tsbot.config import MlConfig
from tsbot.core.errors import DataError
from tsbot.core.time import from_ms
from tsbot.market.models import SeriesKey, Timeframe
from tsbot.ml.features import MIN_HISTORY_BARS, ML_FEATURES
from tsbot.ml.training import classification_metrics, series_samples, train

SMALL = MlConfig(n_estimators=10, max_depth=3, folds=2, horizon_bars=12, embargo_bars=6)
BTC = SeriesKey("binance", "BTC/USDT", Timeframe.H1)
ETH = SeriesKey("binance", "ETH/USDT", Timeframe.H1)


def test_metrics_by_hand() -> None:
    m = classification_metrics(np.array([1, 1, -1, 0]), np.array([1, -1, -1, 1]))
    # accuracy 2/4; precision: up 1/2, down 1/2, flat 0 -> 1/3; recall: up 1/2, down 1, flat 0 -> 1/2
    assert (m.rows, m.accuracy) == (4, 0.5)
    assert m.precision == pytest.approx(1 / 3) and m.recall == pytest.approx(0.5)
    assert m.f1 == pytest.approx((0.5 + 2 / 3 + 0) / 3)


def test_samples_of_one_series() -> None:
    frame = random_walk(400, seed=2)
    x, y, times, ends = series_samples(frame, SMALL)
    rows = 400 - 12 - (MIN_HISTORY_BARS - 1)
    assert x.shape == (rows, len(ML_FEATURES)) and y.shape == times.shape == ends.shape == (rows,)
    assert times[0] == frame.open_time_ms[MIN_HISTORY_BARS - 1]
    assert times[-1] == frame.open_time_ms[400 - 12 - 1]
    np.testing.assert_array_equal(ends - times, 12 * HOUR_MS)
    r = frame.close[MIN_HISTORY_BARS - 1 + 12] / frame.close[MIN_HISTORY_BARS - 1] - 1
    assert abs(r) >= SMALL.dead_zone_ratio and y[0] == np.sign(
        r
    )  # this seed's first return is outside the zone
    start = int(frame.open_time_ms[300])
    _, _, later, _ = series_samples(frame, SMALL, start_ms=start)
    assert later[0] == start and later.size == rows - (300 - (MIN_HISTORY_BARS - 1))


def test_report_of_two_pooled_series() -> None:
    frames = {BTC: random_walk(1_200, seed=3), ETH: random_walk(1_000, seed=4, start_price=2_000.0)}
    stages: list[tuple[str, int, int]] = []
    report = train(frames, SMALL, progress=lambda *a: stages.append(a), n_jobs=1)
    assert report.symbols == ("BTC/USDT", "ETH/USDT") and report.timeframe is Timeframe.H1
    assert report.rows == (1_200 + 1_000) - 2 * (12 + MIN_HISTORY_BARS - 1)
    assert report.train_start == from_ms(T0_MS + (MIN_HISTORY_BARS - 1) * HOUR_MS)
    assert report.train_end == from_ms(T0_MS + (1_200 - 12 - 1) * HOUR_MS)
    assert len(report.folds) == 2
    assert sum(f.test_rows for f in report.folds) == report.oos.rows == report.baseline.rows
    assert report.folds[0].test_end < report.folds[1].test_start
    assert report.folds[0].train_rows < report.folds[1].train_rows
    assert sum(report.class_balance.values()) == pytest.approx(1.0)
    assert set(report.class_balance) == {"down", "flat", "up"}
    assert 0 < len(report.feature_importance) <= 15
    assert report.hyperparameters["labeling"] == "forward" and report.hyperparameters["horizon_bars"] == 12
    assert report.ensemble.is_fitted
    for f in report.folds:
        assert 0 <= f.model.accuracy <= 1
        # always one class: its recall is 1, the other two classes' 0 (all three occur in each test block)
        assert f.baseline.recall == pytest.approx(1 / 3)
    assert (
        ("features", 2, 2) in stages and ("walk-forward", 2, 2) in stages and ("final model", 1, 1) in stages
    )
    record = report.record("ensemble")
    assert record.id is None and record.version == 0 and record.name == "ensemble"
    assert record.metrics["accuracy"] == report.oos.accuracy
    assert record.metrics["baseline_f1"] == report.baseline.f1
    assert len(record.metrics["folds"]) == 2
    assert report.to_dict()["oos"]["rows"] == report.oos.rows


def test_triple_barrier_labeling() -> None:
    cfg = SMALL.model_copy(update={"labeling": "triple_barrier", "barrier_atr_multiple": 1.5})
    report = train({BTC: random_walk(900, seed=5)}, cfg, n_jobs=1)
    assert report.hyperparameters["labeling"] == "triple_barrier"
    assert report.rows == 900 - 12 - (MIN_HISTORY_BARS - 1)


def test_start_limits_the_training_rows() -> None:
    frame = random_walk(1_000, seed=6)
    start = int(frame.open_time_ms[500])
    report = train({BTC: frame}, SMALL, start_ms=start, n_jobs=1)
    assert report.train_start == from_ms(start)
    assert report.rows == 1_000 - 12 - 500


def test_short_series_are_named() -> None:
    with pytest.raises(DataError, match=r"too short.*binance:BTC/USDT:1h \(150 bars\)"):
        train({BTC: random_walk(150)}, SMALL)
    report = train({BTC: random_walk(150), ETH: random_walk(900, seed=7)}, SMALL, n_jobs=1)
    assert report.symbols == ("ETH/USDT",)
    assert len(report.notes) == 1 and "BTC/USDT" in report.notes[0]


def test_bad_input() -> None:
    with pytest.raises(DataError, match="no candle series"):
        train({}, SMALL)
    daily = SeriesKey("us", "AAPL", Timeframe.D1)
    with pytest.raises(DataError, match="one timeframe"):
        train({BTC: random_walk(900), daily: random_walk(900)}, SMALL)
    # 2 folds, horizon 12: 3 blocks of max(24, 50) bar times = 150 needed; 149 labelled bars are too few
    with pytest.raises(DataError, match=r"too few bars.*give 149 labelled bar times.*at least 150"):
        train({BTC: random_walk(MIN_HISTORY_BARS - 1 + 149 + 12)}, SMALL)
    assert train({BTC: random_walk(MIN_HISTORY_BARS - 1 + 150 + 12)}, SMALL, n_jobs=1).rows == 150
