"""Strategies that trade tsbot's own fused signal: ``fused`` (the signal as ``tsbot scan`` shows it) and ``swing``
(the same signal, with the long trend as a filter, wider stops, two targets and a trailing stop).

Both compute, for every bar, the snapshot a scan at that bar's close computes (the same ``lookback_bars`` window,
the same TA-Lib calls, :func:`tsbot.signals.engine.snapshot_series`) and fuse it with the sentiment and ML score
known at that time (:meth:`tsbot.signals.engine.SignalEngine.fuse`): the backtest trades the very signals a user
would have been sent.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

import numpy as np

from tsbot.backtest.models import OrderPlan
from tsbot.backtest.strategies.base import (
    Param,
    SeriesContext,
    Strategy,
    levels,
    sign_changes,
)
from tsbot.config import TradingConfig
from tsbot.core.errors import ConfigError
from tsbot.market.models import CandleFrame
from tsbot.signals.engine import Fused, SignalEngine, snapshot_series
from tsbot.signals.technical import COL, MIN_BARS


def fused_signal(
    engine: SignalEngine, candles: CandleFrame, context: SeriesContext | None, start: int
) -> tuple[np.ndarray, Fused]:
    """Snapshot rows (``(n, k)``, NaN before the warm-up and before ``start - 1``) and the fused signal per bar."""
    snap = snapshot_series(candles, engine.config.lookback_bars, max(0, start - 1))
    ctx = context or SeriesContext()
    fused = engine.fuse(snap, ctx.sentiment, ctx.evidence_ratio, ctx.ml)
    valid = ~np.isnan(snap[:, COL["close"]])
    fused.sign[~valid] = 0.0
    return snap, fused


class SignalStrategy(Strategy):
    """A strategy that reads tsbot's fused signal: it holds a :class:`SignalEngine` over the trading settings and
    needs the signal's warm-up (:data:`MIN_BARS`)."""

    uses_ml: ClassVar[bool] = True
    uses_sentiment: ClassVar[bool] = True

    def __init__(self, trading: TradingConfig, params: Mapping[str, float] | None = None) -> None:
        super().__init__(trading, params)
        self.engine = SignalEngine(trading)

    def warmup_bars(self) -> int:
        return MIN_BARS


class FusedSignal(SignalStrategy):
    """Trades every change of the fused signal: BUY opens a long, SELL a short (closing the other side first),
    with the signal's own stop-loss (``stop_atr_multiple`` x ATR(10)) and take-profits at ``take_profit_r``
    multiples of the stop distance, the position split equally over them. HOLD keeps the position."""

    name: ClassVar[str] = "fused"
    summary: ClassVar[str] = (
        "the fused signal of `tsbot scan` (technical + sentiment + ML), its stop and targets"
    )
    PARAMS: ClassVar[dict[str, Param]] = {
        "exit_on_hold": Param(0, 0, 1, integer=True, help="1: close the position when the signal turns HOLD"),
    }

    def plan(self, candles: CandleFrame, context: SeriesContext | None = None, start: int = 0) -> OrderPlan:
        snap, fused = fused_signal(self.engine, candles, context, start)
        entry = sign_changes(fused.sign)
        exit_ = (fused.sign == 0) & bool(self.p("exit_on_hold"))
        close = candles.close
        stop, tps = levels(close, entry, fused.stop_distance, tuple(self.trading.take_profit_r))
        return OrderPlan.market(entry, exit_, stop_loss=stop, take_profit=tps)


class Swing(SignalStrategy):
    """Multi-day swings with the trend: a long when the fused signal turns BUY while the close is above EMA(200)
    and EMA(20) is above EMA(50) (mirrored for shorts); stop-loss ``stop_atr`` x ATR(10); half the position at
    ``target1_r`` R, the rest at ``target2_r`` R; a trailing stop ``trail_atr`` x ATR(10) behind the best price;
    closed after ``max_hold_bars``."""

    name: ClassVar[str] = "swing"
    summary: ClassVar[str] = "the fused signal with the trend, wide stop, two targets and a trailing stop"
    PARAMS: ClassVar[dict[str, Param]] = {
        "stop_atr": Param(2.5, 1.0, 6.0, help="stop-loss distance in ATR(10)"),
        "target1_r": Param(1.5, 0.5, 4.0, help="first take-profit, in R"),
        "target2_r": Param(3.0, 1.0, 8.0, help="second take-profit, in R"),
        "trail_atr": Param(3.0, 1.0, 8.0, help="trailing-stop distance in ATR(10)"),
        "max_hold_bars": Param(240, 12, 2000, integer=True, help="bars before a position is closed"),
    }

    def _check(self, values: dict[str, float]) -> None:
        if values["target2_r"] <= values["target1_r"]:
            raise ConfigError(
                f"swing: target2_r ({values['target2_r']:g}) must be beyond target1_r ({values['target1_r']:g})"
            )

    def plan(self, candles: CandleFrame, context: SeriesContext | None = None, start: int = 0) -> OrderPlan:
        snap, fused = fused_signal(self.engine, candles, context, start)
        close = snap[:, COL["close"]]
        with np.errstate(invalid="ignore"):
            up = (close > snap[:, COL["ema_200"]]) & (snap[:, COL["ema_20"]] > snap[:, COL["ema_50"]])
            down = (close < snap[:, COL["ema_200"]]) & (snap[:, COL["ema_20"]] < snap[:, COL["ema_50"]])
        sign = np.where((fused.sign > 0) & up, 1.0, np.where((fused.sign < 0) & down, -1.0, 0.0))
        entry = sign_changes(sign)
        atr10 = snap[:, COL["atr_10"]]
        stop, tps = levels(
            candles.close, entry, self.p("stop_atr") * atr10, (self.p("target1_r"), self.p("target2_r"))
        )
        trail = np.where(entry != 0, self.p("trail_atr") * atr10, np.nan)
        return OrderPlan.market(
            entry,
            None,
            stop_loss=stop,
            take_profit=tps,
            take_profit_split=np.array([0.5, 0.5]),
            trailing_stop=trail,
        )
