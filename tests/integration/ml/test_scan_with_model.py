"""Train on stored bundled candles, register and activate the model, and scan: the wired scan service scores the
series of the model's timeframe with the active model (SQLite and PostgreSQL)."""

from __future__ import annotations

import numpy as np
import pytest

from tsbot.adapters.bundled import bundled_series, read_bundled_rows
from tsbot.config import MlConfig
from tsbot.market.service import import_candles
from tsbot.ml.ensemble import Ensemble
from tsbot.ml.scoring import MlScorer
from tsbot.ml.training import train
from tsbot.wiring import Services

SMALL = MlConfig(n_estimators=10, max_depth=3, folds=2)


async def test_scan_uses_the_active_model(services: Services) -> None:
    for item in bundled_series():
        if item.key.symbol in ("BTC/USDT", "AAPL"):
            await import_candles(services.candles, item.key, item.asset_class.value, read_bundled_rows(item))
    before = await services.scan_service().scan(store=False)
    assert all(s.components.ml is None for s in before.signals)  # no model yet: scan as before

    btc = next(s.key for s in await services.candles.series() if s.key.symbol == "BTC/USDT")
    frame = await services.candles.load(btc)
    report = train({btc: frame}, SMALL, n_jobs=1)
    saved = await services.models.save(report.record("ensemble"), report.ensemble.to_bytes())
    await services.models.activate(saved.id or 0)

    result = await services.scan_service().scan(store=False)
    by_symbol = {s.key.symbol: s for s in result.signals}
    loaded = await services.models.active("ensemble")
    assert loaded is not None
    scorer = MlScorer(Ensemble.from_bytes(loaded[1]), loaded[0])
    expected = scorer.score_frames([frame.tail(500)])[0]
    assert by_symbol["BTC/USDT"].components.ml == pytest.approx(expected)
    assert np.isfinite(expected) and -1 <= expected <= 1
    assert by_symbol["AAPL"].components.ml is None  # trained on 1h bars: daily series are left alone
    # the score at the last bar equals what a backtest computes over the whole series
    assert scorer.score_series(frame)[-1] == pytest.approx(expected, rel=1e-9, abs=1e-12)
