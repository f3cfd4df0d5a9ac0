"""The look-ahead and recursion checks: every built-in strategy passes on real candles (this is the CI check), and
strategies that cheat are caught."""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import pytest

from tsbot.adapters.bundled import bundled_series, read_bundled_rows
from tsbot.backtest.lookahead import check_strategy, sample_bars
from tsbot.backtest.models import OrderPlan
from tsbot.backtest.strategies import STRATEGIES, SeriesContext, Strategy, build_strategy
from tsbot.config import TradingConfig
from tsbot.market.models import CandleFrame


@pytest.fixture(scope="module")
def eth() -> CandleFrame:
    series = next(s for s in bundled_series() if s.key.symbol == "ETH/USDT")
    return CandleFrame.from_rows(read_bundled_rows(series)).tail(2500)


@pytest.mark.parametrize("name", list(STRATEGIES))
def test_built_in_strategy_neither_looks_ahead_nor_depends_on_history_start(
    eth: CandleFrame, name: str
) -> None:
    n = len(eth)
    rng = np.random.default_rng(1)
    context = SeriesContext(
        sentiment=rng.uniform(-1, 1, n), evidence_ratio=np.full(n, 0.5), ml=rng.uniform(-1, 1, n)
    )
    report = check_strategy(
        build_strategy(name, TradingConfig()), eth, context, series="ETH/USDT", samples=25
    )
    assert report.checked_bars == 25
    assert report.recursion_bars > 0
    assert report.passed, report.differences[:5]


class Peeking(Strategy):
    """Buys when the next close is higher: the look-ahead every checker must catch."""

    name: ClassVar[str] = "peeking"
    summary: ClassVar[str] = "cheats"

    def warmup_bars(self) -> int:
        return 10

    def plan(self, candles: CandleFrame, context: SeriesContext | None = None, start: int = 0) -> OrderPlan:
        c = candles.close
        entry = np.zeros(len(c), dtype=np.int8)
        entry[:-1] = np.where(c[1:] > c[:-1], 1, 0)
        return OrderPlan.market(entry)


class Cumulative(Strategy):
    """Stop-loss from the mean of all closes since the first bar: depends on where the history starts."""

    name: ClassVar[str] = "cumulative"
    summary: ClassVar[str] = "recursive"

    def warmup_bars(self) -> int:
        return 10

    def plan(self, candles: CandleFrame, context: SeriesContext | None = None, start: int = 0) -> OrderPlan:
        c = candles.close
        mean = np.cumsum(c) / np.arange(1, len(c) + 1)
        return OrderPlan.market(np.ones(len(c), dtype=np.int8), stop_loss=mean * 0.9)


def test_a_strategy_reading_the_next_bar_is_caught(eth: CandleFrame) -> None:
    report = check_strategy(Peeking(TradingConfig()), eth, samples=40)
    assert not report.passed
    assert {d.check for d in report.differences} >= {"lookahead"}
    assert all(d.field == "entry" for d in report.differences if d.check == "lookahead")


def test_a_strategy_depending_on_the_first_bar_is_caught(eth: CandleFrame) -> None:
    report = check_strategy(Cumulative(TradingConfig()), eth, samples=40)
    recursion = [d for d in report.differences if d.check == "recursion"]
    assert recursion and all(d.field == "stop_loss" for d in recursion)
    assert not [d for d in report.differences if d.check == "lookahead"]


def test_sample_bars_spreads_and_includes_the_last() -> None:
    assert sample_bars(10, 3, 100) == [3, 4, 5, 6, 7, 8, 9]
    picks = sample_bars(1000, 100, 10)
    assert picks[0] == 100 and picks[-1] == 999 and len(picks) == 10
    assert sample_bars(5, 10, 3) == []
