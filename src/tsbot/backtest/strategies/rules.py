"""Rule strategies: ``scalping`` (short mean reversion) and ``ai_adaptive`` (regime switching, gated by the ML
ensemble and scaled by volatility).

Indicators here are TA-Lib over the whole series. Each has a short memory (Bollinger bands and simple means: exactly
their last ``period`` bars; RSI, ATR, ADX: Wilder smoothing whose seed weighs less than 1e-12 after a few hundred
bars), so a value at bar ``i`` does not depend on bars after ``i``; :mod:`tsbot.backtest.lookahead` checks it.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import talib

from tsbot.backtest.models import OrderPlan
from tsbot.backtest.strategies.base import (
    Param,
    SeriesContext,
    Strategy,
    crosses,
    levels,
    sign_changes,
)
from tsbot.backtest.strategies.signal import SignalStrategy, fused_signal
from tsbot.core.errors import ConfigError
from tsbot.market.models import CandleFrame
from tsbot.signals.technical import COL, MIN_BARS

#: Bars of the rolling mean of NATR that defines "normal" volatility for ai_adaptive.
VOLATILITY_BASELINE_BARS = 200


class Scalping(Strategy):
    """Fade short stretches: a long when RSI(``rsi_period``) is below ``rsi_low`` and the close is below the lower
    Bollinger band (20 bars, 2 standard deviations), a short mirrored above ``rsi_high`` and the upper band. Out
    when the close crosses the middle band, at the stop-loss (``stop_atr`` x ATR(14)), at the targets (1 R and
    ``target_r`` R, half each) or after ``max_hold_bars``."""

    name: ClassVar[str] = "scalping"
    summary: ClassVar[str] = (
        "short mean reversion: RSI extremes outside the Bollinger bands, tight stop, quick exit"
    )
    PARAMS: ClassVar[dict[str, Param]] = {
        "rsi_period": Param(7, 2, 30, integer=True, help="bars of the RSI"),
        "rsi_low": Param(25, 5, 45, help="RSI below which a long is considered"),
        "rsi_high": Param(75, 55, 95, help="RSI above which a short is considered"),
        "stop_atr": Param(1.0, 0.3, 4.0, help="stop-loss distance in ATR(14)"),
        "target_r": Param(1.5, 1.0, 5.0, help="second take-profit, in R (the first is at 1 R)"),
        "max_hold_bars": Param(12, 1, 200, integer=True, help="bars before a position is closed"),
    }

    def _check(self, values: dict[str, float]) -> None:
        if values["rsi_low"] >= values["rsi_high"]:
            raise ConfigError("scalping: rsi_low must be below rsi_high")

    def warmup_bars(self) -> int:
        # Wilder's ATR(14) keeps (13/14)**k of its seed after k bars: below 1e-9 after 300.
        return 300

    def plan(self, candles: CandleFrame, context: SeriesContext | None = None, start: int = 0) -> OrderPlan:
        c, h, low = candles.close, candles.high, candles.low
        rsi = talib.RSI(c, int(self.p("rsi_period")))
        upper, middle, lower = talib.BBANDS(c, 20, 2.0, 2.0)
        atr = talib.ATR(h, low, c, 14)
        with np.errstate(invalid="ignore"):
            long_ = (rsi < self.p("rsi_low")) & (c < lower)
            short = (rsi > self.p("rsi_high")) & (c > upper)
        side = np.where(long_, 1, np.where(short, -1, 0)).astype(np.int8)
        side[: self.warmup_bars()] = 0
        up, down = crosses(c, middle)
        stop, tps = levels(c, side, self.p("stop_atr") * atr, (1.0, self.p("target_r")))
        return OrderPlan.market(side, up | down, stop_loss=stop, take_profit=tps)


class AiAdaptive(SignalStrategy):
    """Adapts to the market's regime, read from ADX(14):

    * trending (ADX >= ``adx_trend``): follows the fused signal's changes, like ``fused``, with a trailing stop
      ``trail_atr`` x ATR(10) and targets at 1.5 R and 3 R;
    * ranging (ADX <= ``adx_range``): fades RSI(14) extremes (below 30 / above 70) outside the Bollinger bands,
      targeting the middle band, stop ``stop_atr`` x ATR(10);
    * in between: no new position.

    Adaptive parts: the fused score must exceed the buy / sell threshold times the volatility ratio (NATR(14) over
    its 200-bar mean, clipped to [0.75, 1.5]), so a wild market needs a stronger signal; and when the ML ensemble
    has a score for the bar, it must agree with the side by at least ``ml_gate``.
    """

    name: ClassVar[str] = "ai_adaptive"
    summary: ClassVar[str] = "regime switching (trend / range by ADX), volatility-scaled thresholds, ML-gated"
    PARAMS: ClassVar[dict[str, Param]] = {
        "adx_trend": Param(25, 15, 45, help="ADX at or above which the market trends"),
        "adx_range": Param(20, 5, 30, help="ADX at or below which the market ranges"),
        "stop_atr": Param(2.0, 0.5, 6.0, help="stop-loss distance in ATR(10)"),
        "trail_atr": Param(3.0, 1.0, 8.0, help="trailing-stop distance in ATR(10) in a trend"),
        "ml_gate": Param(0.05, 0.0, 0.5, help="ML score needed on the trade's side, when the model has one"),
        "max_hold_bars": Param(168, 12, 2000, integer=True, help="bars before a position is closed"),
    }

    def _check(self, values: dict[str, float]) -> None:
        if values["adx_range"] > values["adx_trend"]:
            raise ConfigError("ai_adaptive: adx_range must not exceed adx_trend")

    def warmup_bars(self) -> int:
        return max(MIN_BARS, VOLATILITY_BASELINE_BARS + 14)

    def plan(self, candles: CandleFrame, context: SeriesContext | None = None, start: int = 0) -> OrderPlan:
        c, h, low = candles.close, candles.high, candles.low
        n = len(candles)
        snap, fused = fused_signal(self.engine, candles, context, start)
        adx = talib.ADX(h, low, c, 14)
        natr = talib.NATR(h, low, c, 14)
        vol_ratio = np.clip(natr / talib.SMA(natr, VOLATILITY_BASELINE_BARS), 0.75, 1.5)
        rsi = talib.RSI(c, 14)
        upper, middle, lower = talib.BBANDS(c, 20, 2.0, 2.0)
        cfg = self.trading
        with np.errstate(invalid="ignore"):
            trending = adx >= self.p("adx_trend")
            ranging = adx <= self.p("adx_range")
            strong_buy = fused.score >= cfg.buy_threshold * vol_ratio
            strong_sell = fused.score <= cfg.sell_threshold * vol_ratio
            trend_sign = np.where(strong_buy, 1.0, np.where(strong_sell, -1.0, 0.0))
            trend_sign = np.where(trending, trend_sign, 0.0)
            revert = np.where((rsi < 30) & (c < lower), 1.0, np.where((rsi > 70) & (c > upper), -1.0, 0.0))
            revert = np.where(ranging, revert, 0.0)
        ml = context.ml if context is not None and context.ml is not None else np.full(n, np.nan)
        ml_ok_long = np.isnan(ml) | (ml >= self.p("ml_gate"))
        ml_ok_short = np.isnan(ml) | (ml <= -self.p("ml_gate"))
        trend_entry = sign_changes(trend_sign)
        revert_entry = sign_changes(revert)
        entry = np.where(trend_entry != 0, trend_entry, revert_entry).astype(np.int8)
        entry[(entry > 0) & ~ml_ok_long] = 0
        entry[(entry < 0) & ~ml_ok_short] = 0
        valid = ~np.isnan(snap[:, COL["close"]]) & ~np.isnan(vol_ratio)
        entry[~valid] = 0
        is_trend = trend_entry != 0
        atr10 = snap[:, COL["atr_10"]]
        stop, tps = levels(c, entry, self.p("stop_atr") * atr10, (1.5, 3.0))
        # A reversion trade aims at the middle band: one target there (if it is on the right side).
        mid_ok = np.where(entry > 0, middle > c, middle < c)
        revert_rows = (~is_trend) & (entry != 0)
        tps[revert_rows, 0] = np.where(mid_ok[revert_rows], middle[revert_rows], np.nan)
        tps[revert_rows, 1] = np.nan
        trail = np.where(is_trend & (entry != 0), self.p("trail_atr") * atr10, np.nan)
        return OrderPlan.market(
            entry,
            None,
            stop_loss=stop,
            take_profit=tps,
            take_profit_split=np.array([0.5, 0.5]),
            trailing_stop=trail,
        )
