"""The signal engine on candles whose indicators are known: score formula, fusion, levels, reasons, warm-up."""

from __future__ import annotations

import numpy as np
import pytest
import talib

from tsbot.config import TradingConfig
from tsbot.core.enums import Action
from tsbot.market.models import CandleFrame, SeriesKey, Timeframe
from tsbot.sentiment.aggregate import SentimentReading
from tsbot.signals.engine import SignalEngine, SignalInput, price_decimals
from tsbot.signals.technical import macd_crosses

KEY = SeriesKey("binance", "BTC/USDT", Timeframe.H1)
T0 = 1_609_459_200_000


def _frame(close: np.ndarray, spread: float = 0.01, volume: np.ndarray | None = None) -> CandleFrame:
    n = len(close)
    open_ = np.concatenate([[close[0]], close[:-1]])
    high = np.maximum(open_, close) * (1 + spread)
    low = np.minimum(open_, close) * (1 - spread)
    vol = np.full(n, 10.0) if volume is None else volume
    times = T0 + np.arange(n, dtype=np.int64) * Timeframe.H1.ms
    return CandleFrame(times, open_, high, low, close, vol)


def _random_walk(n: int = 500, seed: int = 3, drift: float = 0.0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return 100 * np.exp(np.cumsum(rng.normal(drift, 0.01, n)))


def test_technical_score_follows_the_documented_formula() -> None:
    close = _random_walk()
    frame = _frame(close)
    sig = SignalEngine(TradingConfig()).evaluate([SignalInput(KEY, frame)])[0][0]
    c, h, low = frame.close, frame.high, frame.low
    atr = talib.ATR(h, low, c, 14)[-1]
    rsi_part = np.clip((50 - talib.RSI(c, 14)[-1]) / 20, -1, 1)
    trend = 0.5 * np.tanh((talib.EMA(c, 20)[-1] - talib.EMA(c, 50)[-1]) / atr) + 0.5 * np.tanh(
        (c[-1] - talib.EMA(c, 200)[-1]) / (3 * atr)
    )
    macd = np.tanh(talib.MACD(c, 12, 26, 9)[2][-1] / (0.2 * atr))
    expected = 0.35 * rsi_part + 0.35 * trend + 0.30 * macd
    assert sig.components.technical == pytest.approx(expected, abs=1e-12)
    assert sig.score == pytest.approx(expected, abs=1e-12)  # no sentiment, no ML: technical alone
    assert sig.components.sentiment is None and sig.components.ml is None


def test_buy_levels_are_two_atr10_and_one_two_three_r() -> None:
    close = np.concatenate([np.linspace(100, 150, 440), np.linspace(150, 120, 60)])  # uptrend, then a dip
    frame = _frame(close)
    cfg = TradingConfig(technical_weights={"rsi": 1.0, "trend": 0.0, "macd": 0.0})
    sig = SignalEngine(cfg).evaluate([SignalInput(KEY, frame)])[0][0]
    assert sig.action is Action.BUY  # RSI deep in oversold territory
    dist = 2.0 * talib.ATR(frame.high, frame.low, frame.close, 10)[-1]
    d = price_decimals(sig.price)
    assert sig.stop_loss == pytest.approx(round(sig.price - dist, d))
    assert sig.take_profit == pytest.approx([round(sig.price + r * dist, d) for r in (1, 2, 3)])
    assert sig.stop_loss < sig.price < sig.take_profit[0] < sig.take_profit[1] < sig.take_profit[2]
    assert any(r.startswith("RSI ") and r.endswith(": oversold") for r in sig.reasons)


def test_sell_levels_mirror() -> None:
    close = np.concatenate([np.linspace(150, 100, 440), np.linspace(100, 130, 60)])
    cfg = TradingConfig(technical_weights={"rsi": 1.0, "trend": 0.0, "macd": 0.0})
    sig = SignalEngine(cfg).evaluate([SignalInput(KEY, _frame(close))])[0][0]
    assert sig.action is Action.SELL
    assert sig.take_profit[2] < sig.take_profit[1] < sig.take_profit[0] < sig.price < sig.stop_loss
    assert any(r.endswith(": overbought") for r in sig.reasons)


def test_hold_has_no_levels_and_confidence_reflects_distance_to_thresholds() -> None:
    frame = _frame(_random_walk(seed=11))
    cfg = TradingConfig(buy_threshold=0.99, sell_threshold=-0.99)
    sig = SignalEngine(cfg).evaluate([SignalInput(KEY, frame)])[0][0]
    assert sig.action is Action.HOLD
    assert sig.stop_loss is None and sig.take_profit == []
    assert sig.confidence == pytest.approx(1 - abs(sig.score) / 0.99)


def test_fusion_weights_sentiment_by_evidence() -> None:
    frame = _frame(_random_walk(seed=5))
    engine = SignalEngine(TradingConfig())
    base = engine.evaluate([SignalInput(KEY, frame)])[0][0]
    full = SentimentReading(score=0.8, headlines=12, span_hours=20.0, evidence_ratio=1.0)
    thin = SentimentReading(score=0.8, headlines=2, span_hours=3.0, evidence_ratio=0.2)
    sig_full, sig_thin = engine.evaluate([SignalInput(KEY, frame, full), SignalInput(KEY, frame, thin)])[0]
    tech = base.components.technical
    assert sig_full.score == pytest.approx((0.7 * tech + 0.3 * 0.8) / 1.0)
    assert sig_thin.score == pytest.approx((0.7 * tech + 0.06 * 0.8) / 0.76)
    assert sig_full.components.sentiment == 0.8
    assert "news +0.80 from 12 headlines in 20 h" in sig_full.reasons
    assert any("2 headlines in 3 h (little evidence" in r for r in sig_thin.reasons)
    assert any(r.startswith("no news about BTC") for r in base.reasons)


def test_ml_component_enters_when_given() -> None:
    frame = _frame(_random_walk(seed=6))
    cfg = TradingConfig(weights={"technical": 0.5, "sentiment": 0.0, "ml": 0.5})
    engine = SignalEngine(cfg)
    plain = engine.evaluate([SignalInput(KEY, frame)])[0][0]
    with_ml = engine.evaluate([SignalInput(KEY, frame, ml=-0.6)])[0][0]
    assert with_ml.score == pytest.approx(0.5 * plain.components.technical + 0.5 * -0.6)
    assert with_ml.components.ml == -0.6


def test_short_series_is_skipped_with_a_reason() -> None:
    signals, skipped = SignalEngine(TradingConfig()).evaluate([SignalInput(KEY, _frame(_random_walk(150)))])
    assert signals == []
    assert skipped[0].key == KEY and "150 bars" in skipped[0].reason


def test_flat_prices_do_not_crash() -> None:
    frame = _frame(np.full(300, 50.0), spread=0.0, volume=np.zeros(300))  # ATR 0, zero volume
    sig = SignalEngine(TradingConfig()).evaluate([SignalInput(KEY, frame)])[0][0]
    assert sig.action is Action.HOLD
    assert np.isfinite(sig.score) and 0 <= sig.confidence <= 1


def test_scores_and_confidence_stay_in_range_on_random_series() -> None:
    engine = SignalEngine(TradingConfig())
    inputs = [
        SignalInput(KEY, _frame(_random_walk(500, seed=s, drift=(s % 5 - 2) * 0.002))) for s in range(40)
    ]
    signals, _ = engine.evaluate(inputs)
    assert len(signals) == 40
    for s in signals:
        assert -1 <= s.score <= 1 and 0 <= s.confidence <= 1
        assert s.as_of.timestamp() * 1000 == T0 + 500 * Timeframe.H1.ms  # close of the last bar
    assert {s.action for s in signals} == {Action.BUY, Action.SELL, Action.HOLD}


def test_macd_cross_dating() -> None:
    hist = np.array(
        [
            [-1, -1, -1, 1, 1],  # crossed above 1 bar ago
            [1, 1, 1, 1, -1],  # crossed below on the last bar
            [1, 1, 1, 1, 1],  # no cross in the window
            [np.nan, np.nan, -1, 1, 1],  # warm-up NaNs are not crosses
        ],
        dtype=float,
    )
    ago, direction = macd_crosses(hist)
    assert ago.tolist() == [1, 0, -1, 1]
    assert direction.tolist() == [1, -1, 0, 1]


@pytest.mark.parametrize(("price", "decimals"), [(43210.5, 2), (1.2345, 5), (0.061234, 7), (0.0, 2)])
def test_price_decimals(price: float, decimals: int) -> None:
    assert price_decimals(price) == decimals
