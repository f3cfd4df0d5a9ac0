"""The built-in strategies: parameters, their rules on hand-made series, and that the fused strategy trades
exactly the signals ``tsbot scan`` computes at each bar."""

from __future__ import annotations

import numpy as np
import pytest

from tsbot.adapters.bundled import bundled_series, read_bundled_rows
from tsbot.backtest.strategies import STRATEGIES, SeriesContext, build_strategy
from tsbot.backtest.strategies.base import crosses, levels, sign_changes
from tsbot.config import TradingConfig
from tsbot.core.enums import Action
from tsbot.core.errors import ConfigError
from tsbot.market.models import CandleFrame, SeriesKey, Timeframe
from tsbot.sentiment.aggregate import SentimentReading
from tsbot.signals.engine import SignalEngine, SignalInput

T0 = 1_609_459_200_000
KEY = SeriesKey("binance", "BTC/USDT", Timeframe.H1)


def _frame(close: np.ndarray) -> CandleFrame:
    n = len(close)
    open_ = np.concatenate([[close[0]], close[:-1]])
    return CandleFrame(
        T0 + np.arange(n, dtype=np.int64) * Timeframe.H1.ms,
        open_,
        np.maximum(open_, close) * 1.002,
        np.minimum(open_, close) * 0.998,
        close.astype(np.float64),
        np.full(n, 5.0),
    )


@pytest.fixture(scope="module")
def btc() -> CandleFrame:
    series = next(s for s in bundled_series() if s.key.symbol == "BTC/USDT")
    return CandleFrame.from_rows(read_bundled_rows(series)).tail(3000)


def test_every_seed_strategy_is_built_in() -> None:
    assert list(STRATEGIES) == ["scalping", "swing", "ai_adaptive", "fused", "sma_cross"]


def test_unknown_strategy_lists_the_known_ones() -> None:
    with pytest.raises(ConfigError, match="built-in strategies: scalping, swing"):
        build_strategy("martingale", TradingConfig())


@pytest.mark.parametrize(
    ("name", "params", "message"),
    [
        ("sma_cross", {"fast": 50, "slow": 10}, "fast .* must be shorter than slow"),
        ("sma_cross", {"speed": 3}, "has no parameter 'speed'"),
        ("swing", {"stop_atr": 50}, "outside its range"),
        ("scalping", {"rsi_low": 40, "rsi_high": 60}, None),
        ("swing", {"target1_r": 3.0, "target2_r": 2.0}, "target2_r"),
    ],
)
def test_parameters_are_checked(name: str, params: dict[str, float], message: str | None) -> None:
    if message is None:
        assert build_strategy(name, TradingConfig(), params).params["rsi_low"] == 40
    else:
        with pytest.raises(ConfigError, match=message):
            build_strategy(name, TradingConfig(), params)


def test_crosses_and_sign_changes() -> None:
    a = np.array([1.0, 2.0, 3.0, 2.0, 1.0, np.nan, 3.0])
    b = np.full(7, 2.0)
    up, down = crosses(a, b)
    assert up.tolist() == [False, False, True, False, False, False, False]
    assert down.tolist() == [False, False, False, False, True, False, False]
    assert sign_changes(np.array([0.0, 1, 1, 0, -1, -1, 1])).tolist() == [0, 1, 0, 0, -1, 0, 1]


def test_levels_are_r_multiples_of_the_stop_distance() -> None:
    stop, tps = levels(
        np.array([100.0, 100.0, 50.0]), np.array([1, -1, 0]), np.array([2.0, 4.0, 1.0]), (1.0, 2.5)
    )
    assert stop[:2].tolist() == [98.0, 104.0] and np.isnan(stop[2])
    assert tps[0].tolist() == [102.0, 105.0]
    assert tps[1].tolist() == [96.0, 90.0]
    assert np.isnan(tps[2]).all()


def test_sma_cross_enters_and_exits_on_the_crosses() -> None:
    close = np.array([5.0, 4, 3, 2, 3, 5, 7, 6, 4, 2, 1])
    plan = build_strategy("sma_cross", TradingConfig(), {"fast": 2, "slow": 3}).plan(_frame(close))
    # SMA2: -, 4.5, 3.5, 2.5, 2.5, 4, 6, 6.5, 5, 3, 1.5 ; SMA3: -, -, 4, 3, 2.67, 3.33, 5, 6, 5.67, 4, 2.33
    assert np.flatnonzero(plan.entry == 1).tolist() == [5]
    assert np.flatnonzero(plan.exit).tolist() == [8]
    assert np.isnan(plan.stop_loss).all() and plan.take_profit.shape == (11, 0)


def test_scalping_fades_a_plunge_below_the_lower_band() -> None:
    rng = np.random.default_rng(5)
    close = 100 + np.cumsum(rng.normal(0, 0.05, 400))
    close[350:354] = close[349] * np.array([0.99, 0.98, 0.965, 0.95])
    plan = build_strategy("scalping", TradingConfig()).plan(_frame(close))
    assert plan.entry[350:354].max() == 1
    i = int(np.flatnonzero(plan.entry[350:354] == 1)[0]) + 350
    assert plan.stop_loss[i] < close[i] < plan.take_profit[i, 0] < plan.take_profit[i, 1]
    assert (plan.entry[:300] == 0).all()  # the warm-up trades nothing


def test_fused_strategy_trades_what_scan_says_at_each_bar(btc: CandleFrame) -> None:
    trading = TradingConfig()
    strategy = build_strategy("fused", trading)
    n = len(btc)
    rng = np.random.default_rng(0)
    sentiment = np.where(rng.random(n) < 0.5, np.nan, rng.uniform(-1, 1, n))
    evidence = np.where(np.isnan(sentiment), 0.0, 0.4)
    plan = strategy.plan(btc, SeriesContext(sentiment=sentiment, evidence_ratio=evidence))
    engine = SignalEngine(trading)
    sign = {Action.BUY: 1, Action.SELL: -1, Action.HOLD: 0}
    checked = 0
    for i in range(600, n, 97):

        def scan_at(j: int) -> tuple[int, float | None]:
            window = btc.until(int(btc.open_time_ms[j])).tail(trading.lookback_bars)
            reading = None if np.isnan(sentiment[j]) else SentimentReading(float(sentiment[j]), 4, 3.0, 0.4)
            signals, _ = engine.evaluate([SignalInput(KEY, window, reading)])
            return sign[signals[0].action], signals[0].stop_loss

        now, stop = scan_at(i)
        before, _ = scan_at(i - 1)
        expected_entry = now if now != before and now != 0 else 0
        assert plan.entry[i] == expected_entry, i
        if expected_entry:
            assert plan.stop_loss[i] == pytest.approx(stop, rel=1e-5)
        checked += 1
    assert checked >= 20
    assert (plan.entry != 0).sum() > 10


def test_ai_adaptive_respects_the_ml_gate(btc: CandleFrame) -> None:
    strategy = build_strategy("ai_adaptive", TradingConfig())
    n = len(btc)
    free = strategy.plan(btc)
    bearish = strategy.plan(btc, SeriesContext(ml=np.full(n, -0.9)))
    bullish = strategy.plan(btc, SeriesContext(ml=np.full(n, 0.9)))
    assert (free.entry == 1).sum() > 5 and (free.entry == -1).sum() > 5
    assert (bearish.entry == 1).sum() == 0 and (bearish.entry == -1).sum() > 0
    assert (bullish.entry == -1).sum() == 0 and (bullish.entry == 1).sum() > 0
