"""``sma_cross``: the textbook moving-average crossover, kept as the reference that checks the engine against peers."""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import talib

from tsbot.backtest.models import BacktestConfig, OrderPlan
from tsbot.backtest.strategies.base import Param, SeriesContext, Strategy, crosses, replace_config
from tsbot.core.errors import ConfigError
from tsbot.market.models import CandleFrame


def sma_cross_signals(close: np.ndarray, fast: int, slow: int) -> tuple[np.ndarray, np.ndarray]:
    """Entries and exits of the SMA crossover: long when SMA(fast) crosses above SMA(slow), out when it crosses
    below. ``close`` float64 ``(n,)`` -> two bool ``(n,)``. A simple mean depends only on its last ``period`` bars,
    so the signals do not depend on where the series starts."""
    return crosses(talib.SMA(close, fast), talib.SMA(close, slow))


class SmaCross(Strategy):
    """Long when the fast SMA crosses above the slow one, flat (or short, with ``allow_short``) when it crosses
    below. No stop-loss, no targets: all in, all out."""

    name: ClassVar[str] = "sma_cross"
    summary: ClassVar[str] = "fast / slow simple-moving-average crossover (the reference for peer checks)"
    PARAMS: ClassVar[dict[str, Param]] = {
        "fast": Param(10, 2, 100, integer=True, help="bars of the fast SMA"),
        "slow": Param(50, 3, 400, integer=True, help="bars of the slow SMA"),
        "allow_short": Param(0, 0, 1, integer=True, help="1: short on the cross below instead of going flat"),
    }

    def _check(self, values: dict[str, float]) -> None:
        if values["fast"] >= values["slow"]:
            raise ConfigError(
                f"sma_cross: fast ({values['fast']}) must be shorter than slow ({values['slow']})"
            )

    def warmup_bars(self) -> int:
        return int(self.p("slow"))

    def broker(self, config: BacktestConfig) -> BacktestConfig:
        return replace_config(config, allow_short=bool(self.p("allow_short")))

    def plan(self, candles: CandleFrame, context: SeriesContext | None = None, start: int = 0) -> OrderPlan:
        up, down = sma_cross_signals(candles.close, int(self.p("fast")), int(self.p("slow")))
        entry = up.astype(np.int8)
        if self.p("allow_short"):
            entry[down] = -1
        return OrderPlan.market(entry, down)
