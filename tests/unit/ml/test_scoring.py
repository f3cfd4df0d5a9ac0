"""Scoring: a batch of frames at their last bar, every bar of a series (the two agree), the active-model source,
and the scan filling ``components.ml`` from it."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pytest
from tests.unit.ml.synthetic import random_walk, window

from tsbot.adapters.memory import FrameCandleStore, MemoryHeadlineStore, MemoryModelRegistry
from tsbot.config import MlConfig, TradingConfig
from tsbot.market.models import CandleFrame, SeriesKey, Timeframe
from tsbot.ml.features import MIN_HISTORY_BARS, ML_FEATURES, feature_matrix
from tsbot.ml.models import ModelRecord
from tsbot.ml.scoring import ActiveModelSource, MlScorer
from tsbot.ml.training import train
from tsbot.signals.service import ScanService

BTC = SeriesKey("binance", "BTC/USDT", Timeframe.H1)
ETH = SeriesKey("binance", "ETH/USDT", Timeframe.H1)
SPY = SeriesKey("us", "SPY", Timeframe.D1)
CFG = MlConfig(n_estimators=10, max_depth=3, folds=2, horizon_bars=12, embargo_bars=0)
T = datetime(2021, 1, 1, tzinfo=UTC)


@pytest.fixture(scope="module")
def series() -> CandleFrame:
    return random_walk(1_400, seed=21)


@pytest.fixture(scope="module")
def scorer(series: CandleFrame) -> MlScorer:
    report = train({BTC: series}, CFG, n_jobs=1)
    record = ModelRecord("ensemble", Timeframe.H1, ("BTC/USDT",), T, T)
    return MlScorer(report.ensemble, record)


def test_score_series_equals_scoring_each_500_bar_window(scorer: MlScorer, series: CandleFrame) -> None:
    every = scorer.score_series(series)
    assert every.shape == (len(series),)
    assert np.isnan(every[: MIN_HISTORY_BARS - 1]).all() and np.isfinite(every[MIN_HISTORY_BARS - 1 :]).all()
    ends = list(range(499, len(series), 25))
    batch = scorer.score_frames([window(series, i, 500) for i in ends])
    np.testing.assert_allclose(batch, every[ends], rtol=1e-9, atol=1e-12)
    # a shorter window still scores its last bar, from its own bars only
    short = scorer.score_frames([window(series, 700, 250)])
    np.testing.assert_allclose(short, scorer.score_rows(feature_matrix(window(series, 700, 250))[-1:]))


def test_score_frames_marks_short_frames_nan(scorer: MlScorer, series: CandleFrame) -> None:
    frames = [window(series, 900, 500), window(series, 900, MIN_HISTORY_BARS - 1), CandleFrame.empty()]
    frames.append(window(series, 900, MIN_HISTORY_BARS))
    scores = scorer.score_frames(frames)
    assert np.isfinite(scores[0]) and np.isnan(scores[1]) and np.isnan(scores[2]) and np.isfinite(scores[3])
    assert ((scores[[0, 3]] >= -1) & (scores[[0, 3]] <= 1)).all()
    assert scorer.score_frames([]).shape == (0,)
    assert np.isfinite(scorer.score_rows(np.full((3, len(ML_FEATURES)), np.nan))).all()


def test_a_model_scores_series_of_its_timeframe_only(scorer: MlScorer) -> None:
    assert scorer.timeframe is Timeframe.H1
    assert scorer.applies_to(ETH) and not scorer.applies_to(SPY)
    assert MlScorer(scorer.ensemble).applies_to(SPY)


async def test_active_model_source_loads_once(scorer: MlScorer) -> None:
    registry = MemoryModelRegistry()
    source = ActiveModelSource(registry, "ensemble", n_jobs=1)
    assert await source.scorer() is None  # nothing registered: no ML
    saved = await registry.save(
        scorer.record or ModelRecord("x", Timeframe.H1, (), T, T), scorer.ensemble.to_bytes()
    )
    assert await source.scorer() is None  # registered but not active
    await registry.activate(saved.id or 0)
    first = await source.scorer()
    assert first is not None and first.record is not None and first.record.version == 1
    assert await source.scorer() is first  # cached
    x = np.random.default_rng(0).standard_normal((4, len(ML_FEATURES)))
    np.testing.assert_array_equal(first.score_rows(x), scorer.score_rows(x))
    second = await registry.save(saved, scorer.ensemble.to_bytes())
    await registry.activate(second.id or 0)
    assert await source.scorer() is first
    source.refresh()
    reloaded = await source.scorer()
    assert reloaded is not None and reloaded.record is not None and reloaded.record.version == 2


class _Source:
    def __init__(self, scorer: MlScorer | None) -> None:
        self.calls = 0
        self._scorer = scorer

    async def scorer(self) -> MlScorer | None:
        self.calls += 1
        return self._scorer


async def test_scan_sets_components_ml_from_the_active_model(scorer: MlScorer, series: CandleFrame) -> None:
    eth = random_walk(800, seed=22, start_price=2_000.0)
    spy = random_walk(600, seed=23, start_price=400.0)
    young = random_walk(MIN_HISTORY_BARS + 10, seed=24)
    young = window(young, len(young) - 1, MIN_HISTORY_BARS - 1)  # too short for ML (and for a signal)
    young_key = SeriesKey("binance", "NEW/USDT", Timeframe.H1)
    store = FrameCandleStore(
        {BTC: ("crypto", series), ETH: ("crypto", eth), SPY: ("stock", spy), young_key: ("crypto", young)}
    )
    config = TradingConfig()
    source = _Source(scorer)
    result = await ScanService(store, MemoryHeadlineStore(), None, config, ml=source).scan(store=False)
    by_key = {s.key: s for s in result.signals}
    assert source.calls == 1
    expected = scorer.score_frames([series.tail(500), eth.tail(500)])
    assert by_key[BTC].components.ml == pytest.approx(expected[0])
    assert by_key[ETH].components.ml == pytest.approx(expected[1])
    assert by_key[SPY].components.ml is None  # a 1h model does not score daily bars
    assert young_key not in by_key and young_key in {s.key for s in result.skipped}
    assert f"ML ensemble {expected[0]:+.2f}" in by_key[BTC].reasons

    plain = await ScanService(store, MemoryHeadlineStore(), None, config).scan(store=False)
    without = await ScanService(store, MemoryHeadlineStore(), None, config, ml=_Source(None)).scan(
        store=False
    )
    for a, b in zip(plain.signals, without.signals, strict=True):
        assert a.to_dict() == b.to_dict() and a.components.ml is None
    # the fusion weighs ML in: technical 0.7, ML 0.3 (no news)
    btc_plain = next(s for s in plain.signals if s.key == BTC)
    fused = (0.7 * btc_plain.components.technical + 0.3 * expected[0]) / 1.0
    assert by_key[BTC].score == pytest.approx(fused)
