"""The signal engine: candles (+ sentiment, + ML) -> explained signals, in batches.

The same engine serves ``tsbot scan``, the no-look-ahead checks and (later) backtests and live trading: a signal at
time t is computed from a fixed window of ``lookback_bars`` bars ending at t and from headlines published at or
before t, nothing else.

Fusion (defaults in ``trading.yaml``)::

    w_technical = weights.technical
    w_sentiment = weights.sentiment * evidence_ratio    (0 when no headline qualifies)
    w_ml        = weights.ml                            (0 when there is no ML score)
    score = (w_t * technical + w_s * sentiment + w_m * ml) / (w_t + w_s + w_m)

BUY when ``score >= buy_threshold`` (0.15), SELL when ``score <= sell_threshold`` (-0.15), else HOLD.

Confidence, in [0, 1]:

* BUY / SELL: ``min(1, |score| / 0.5) * (1 - opposing)``, where ``opposing`` is the share of fusion weight held by
  components whose sign disagrees with the action.
* HOLD: ``1 - |score| / threshold`` on the score's side: 1 at a score of exactly 0, 0 at the threshold.

Levels: for BUY the stop-loss is ``price - stop_atr_multiple * ATR(10)`` and the take-profits are
``price + r * R`` for each ``r`` in ``take_profit_r`` (R = the stop distance); mirrored for SELL; none for HOLD.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np

from tsbot.config import TradingConfig
from tsbot.core.enums import Action
from tsbot.market.models import CandleFrame, SeriesKey
from tsbot.sentiment.aggregate import SentimentReading
from tsbot.signals.models import Components, Signal
from tsbot.signals.technical import (
    COL,
    CROSS_LOOKBACK,
    MIN_BARS,
    SNAPSHOT_COLUMNS,
    macd_crosses,
    snapshot_into,
    technical_parts,
)

_STRENGTH_FULL = 0.5


@dataclass(frozen=True, slots=True)
class SignalInput:
    """One series to evaluate: its key, the candle window ending at the signal bar, the sentiment reading known at
    that time (or None), and an ML score in [-1, 1] (or None)."""

    key: SeriesKey
    frame: CandleFrame
    sentiment: SentimentReading | None = None
    ml: float | None = None
    asset: str = ""


@dataclass(frozen=True, slots=True)
class Fused:
    """Vectorised fusion results, each of shape ``(m,)``: the technical score and the fused score in [-1, 1], the
    action as a sign (+1 BUY, -1 SELL, 0 HOLD), the confidence in [0, 1], and the stop-loss distance in quote
    currency (``stop_atr_multiple`` x ATR(10))."""

    technical: np.ndarray
    score: np.ndarray
    sign: np.ndarray
    confidence: np.ndarray
    stop_distance: np.ndarray


@dataclass(frozen=True, slots=True)
class Skipped:
    """A series the engine could not evaluate, and why (a sentence for the user)."""

    key: SeriesKey
    reason: str


def snapshot_series(frame: CandleFrame, lookback_bars: int, start: int = 0) -> np.ndarray:
    """Snapshot rows for every bar of a series, each computed exactly as a scan at that bar computes it.

    Row ``i`` comes from the window of the ``lookback_bars`` bars ending at bar ``i`` (fewer near the start),
    the window a scan as of bar ``i``'s close loads, so a backtest sees the very numbers ``tsbot scan`` saw.

    Args:
        frame: candles oldest first.
        lookback_bars: window length (``trading.lookback_bars``).
        start: first bar to compute (earlier rows stay NaN), e.g. to skip bars a walk-forward fold does not test.

    Returns:
        float64 ``(len(frame), len(SNAPSHOT_COLUMNS))``; rows of bars with fewer than :data:`MIN_BARS` bars of
        history are NaN.
    """
    n = len(frame)
    snap = np.full((n, len(SNAPSHOT_COLUMNS)), np.nan)
    scratch = np.empty(CROSS_LOOKBACK + 1)
    for i in range(max(start, MIN_BARS - 1), n):
        snapshot_into(frame.window(max(0, i + 1 - lookback_bars), i + 1), snap[i], scratch)
    return snap


def price_decimals(price: float) -> int:
    """Decimals that show ``price`` with 6 significant digits (2 at least): 43,210.5 -> 2, 0.061234 -> 7."""
    if not price > 0 or math.isinf(price):
        return 2
    return max(2, 5 - math.floor(math.log10(price)))


class SignalEngine:
    """Evaluates batches of series. Stateless apart from its configuration; safe to share."""

    def __init__(self, config: TradingConfig) -> None:
        self.config = config
        tw = config.technical_weights
        total = tw.rsi + tw.trend + tw.macd
        self._tw = (tw.rsi / total, tw.trend / total, tw.macd / total)

    def evaluate(self, inputs: Sequence[SignalInput]) -> tuple[list[Signal], list[Skipped]]:
        """Signals for every input with enough bars; the others come back as :class:`Skipped`.

        Each input's frame must be the window ending at the signal bar (the caller cuts it point-in-time).
        """
        ready: list[SignalInput] = []
        skipped: list[Skipped] = []
        for item in inputs:
            n = len(item.frame)
            if n < MIN_BARS:
                skipped.append(Skipped(item.key, f"only {n} bars up to this time; a signal needs {MIN_BARS}"))
            else:
                ready.append(item)
        m = len(ready)
        if m == 0:
            return [], skipped
        snap = np.empty((m, len(SNAPSHOT_COLUMNS)))
        hist = np.empty((m, CROSS_LOOKBACK + 1))
        for i, item in enumerate(ready):
            snapshot_into(item.frame, snap[i], hist[i])
        return self._finish(ready, snap, hist), skipped

    def fuse(
        self,
        snap: np.ndarray,
        sentiment: np.ndarray | None = None,
        evidence_ratio: np.ndarray | None = None,
        ml: np.ndarray | None = None,
    ) -> Fused:
        """The fused score, action, confidence and stop distance of snapshot rows, vectorised.

        This is the arithmetic of every signal (scan, backtest, live): :meth:`evaluate` calls it on one row per
        series; a backtest calls it on one row per bar (rows from :func:`snapshot_series`).

        Args:
            snap: snapshot rows, shape ``(m, len(SNAPSHOT_COLUMNS))``.
            sentiment: sentiment score per row in [-1, 1], NaN where no headline qualified; None: none at all.
            evidence_ratio: weight of each sentiment reading in [0, 1] (``SentimentReading.evidence_ratio``).
            ml: ML ensemble score per row in [-1, 1], NaN where there is none; None: no model.
        """
        cfg = self.config
        m = snap.shape[0]
        w_rsi, w_trend, w_macd = self._tw
        rsi_part, trend_part, macd_part = technical_parts(snap)
        technical = w_rsi * rsi_part + w_trend * trend_part + w_macd * macd_part
        if sentiment is None:
            sent = np.zeros(m)
            w_sent = np.zeros(m)
        else:
            has = ~np.isnan(sentiment)
            sent = np.where(has, sentiment, 0.0)
            ratio = np.ones(m) if evidence_ratio is None else np.nan_to_num(evidence_ratio)
            w_sent = np.where(has, cfg.weights.sentiment * ratio, 0.0)
        if ml is None:
            ml_v = np.zeros(m)
            w_ml = np.zeros(m)
        else:
            has = ~np.isnan(ml)
            ml_v = np.where(has, ml, 0.0)
            w_ml = np.where(has, cfg.weights.ml, 0.0)
        w_tech = cfg.weights.technical
        total_w = w_tech + w_sent + w_ml
        total_w = np.where(total_w > 0, total_w, 1.0)
        score = np.clip((w_tech * technical + w_sent * sent + w_ml * ml_v) / total_w, -1.0, 1.0)

        buy = score >= cfg.buy_threshold
        sell = score <= cfg.sell_threshold
        sign = np.where(buy, 1.0, np.where(sell, -1.0, 0.0))
        opposing = (
            w_tech * (np.sign(technical) == -sign)
            + w_sent * (np.sign(sent) == -sign)
            + w_ml * (np.sign(ml_v) == -sign)
        ) / total_w
        strength = np.minimum(1.0, np.abs(score) / _STRENGTH_FULL)
        hold_conf = 1.0 - np.where(score >= 0, score / cfg.buy_threshold, score / cfg.sell_threshold)
        confidence = np.clip(np.where(sign != 0, strength * (1.0 - opposing), hold_conf), 0.0, 1.0)
        stop_dist = cfg.stop_atr_multiple * snap[:, COL["atr_10"]]
        return Fused(
            technical=technical, score=score, sign=sign, confidence=confidence, stop_distance=stop_dist
        )

    def _finish(self, ready: list[SignalInput], snap: np.ndarray, hist: np.ndarray) -> list[Signal]:
        cfg = self.config
        cross_ago, cross_dir = macd_crosses(hist)
        m = len(ready)
        sent = np.full(m, np.nan)
        ratio = np.zeros(m)
        ml = np.full(m, np.nan)
        for i, item in enumerate(ready):
            if item.sentiment is not None:
                sent[i] = item.sentiment.score
                ratio[i] = item.sentiment.evidence_ratio
            if item.ml is not None:
                ml[i] = item.ml
        fused = self.fuse(snap, sent, ratio, ml)
        sign, score, confidence, technical, stop_dist = (
            fused.sign,
            fused.score,
            fused.confidence,
            fused.technical,
            fused.stop_distance,
        )

        rows = snap.tolist()
        sign_l, score_l, conf_l, tech_l, dist_l = (
            sign.tolist(),
            score.tolist(),
            confidence.tolist(),
            technical.tolist(),
            stop_dist.tolist(),
        )
        ago_l, dir_l = cross_ago.tolist(), cross_dir.tolist()
        out: list[Signal] = []
        targets_r = cfg.take_profit_r
        for i, item in enumerate(ready):
            row = rows[i]
            price = row[0]
            s = sign_l[i]
            action = Action.BUY if s > 0 else Action.SELL if s < 0 else Action.HOLD
            decimals = price_decimals(price)
            dist = dist_l[i]
            if s != 0 and dist > 0:
                stop = round(price - s * dist, decimals)
                take_profit = [round(price + s * r * dist, decimals) for r in targets_r]
            else:
                stop, take_profit = None, []
            reading = item.sentiment
            key = item.key
            out.append(
                Signal(
                    key=key,
                    as_of=datetime.fromtimestamp(
                        (int(item.frame.open_time_ms[-1]) + key.timeframe.ms) / 1000, tz=UTC
                    ),
                    action=action,
                    score=score_l[i],
                    confidence=conf_l[i],
                    price=price,
                    stop_loss=stop,
                    take_profit=take_profit,
                    components=Components(
                        technical=tech_l[i],
                        sentiment=reading.score if reading is not None else None,
                        ml=item.ml,
                    ),
                    reasons=self._reasons(row, ago_l[i], dir_l[i], item, decimals),
                )
            )
        return out

    def _reasons(
        self, row: list[float], cross_ago: int, cross_dir: int, item: SignalInput, decimals: int
    ) -> list[str]:
        cfg = self.config
        rsi = row[1]
        if rsi <= cfg.rsi_oversold:
            reasons = [f"RSI {rsi:.1f}: oversold"]
        elif rsi >= cfg.rsi_overbought:
            reasons = [f"RSI {rsi:.1f}: overbought"]
        else:
            reasons = [f"RSI {rsi:.1f}: neutral"]
        price, ema20, ema50, ema200 = row[0], row[2], row[3], row[4]
        short_up = ema20 > ema50
        long_up = price > ema200
        trend = (
            "uptrend"
            if short_up and long_up
            else "downtrend"
            if not short_up and not long_up
            else "mixed trend"
        )
        reasons.append(
            f"{trend}: EMA 20 {'above' if short_up else 'below'} EMA 50, "
            f"price {'above' if long_up else 'below'} EMA 200 ({ema200:.{decimals}f})"
        )
        if cross_ago >= 0:
            when = (
                "on the last bar" if cross_ago == 0 else f"{cross_ago} bar{'s' if cross_ago > 1 else ''} ago"
            )
            reasons.append(f"MACD crossed {'above' if cross_dir > 0 else 'below'} its signal {when}")
        else:
            reasons.append(
                f"MACD {'above' if row[5] > 0 else 'below'} its signal for over {CROSS_LOOKBACK} bars"
            )
        reading = item.sentiment
        asset = item.asset or item.key.symbol.split("/", 1)[0]
        if reading is None:
            reasons.append(f"no news about {asset} in the last {cfg.sentiment.max_age_hours:g} h")
        else:
            span = max(1, math.ceil(reading.span_hours))
            plural = "s" if reading.headlines != 1 else ""
            reasons.append(f"news {reading.score:+.2f} from {reading.headlines} headline{plural} in {span} h")
            if reading.thin:
                reasons[-1] += (
                    f" (thin evidence: fewer than {cfg.sentiment.min_headlines} headlines, low confidence,"
                    " weight reduced)"
                )
            elif reading.evidence_ratio < 1.0:
                reasons[-1] += " (little evidence: weight reduced)"
        volume_ratio = row[8]
        if volume_ratio >= 2.0:
            reasons.append(f"volume {volume_ratio:.1f}x its 20-bar average")
        if item.ml is not None:
            reasons.append(f"ML ensemble {item.ml:+.2f}")
        return reasons
