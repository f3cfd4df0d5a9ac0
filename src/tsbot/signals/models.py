"""The signal value objects."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from tsbot.core.enums import Action
from tsbot.market.models import SeriesKey


@dataclass(slots=True)
class Components:
    """Component scores of a fused signal, each in [-1, 1]; None when the component had no evidence
    (no headlines for sentiment, no active model for ML)."""

    technical: float
    sentiment: float | None
    ml: float | None

    def to_dict(self) -> dict[str, float | None]:
        return {"technical": self.technical, "sentiment": self.sentiment, "ml": self.ml}


@dataclass(slots=True)
class Signal:
    """An explained trading signal for one series at one time.

    Attributes:
        key: the series (exchange, symbol, timeframe).
        as_of: when the signal became known: the close time of the last bar used (its open time + timeframe), UTC.
        action: BUY, SELL or HOLD.
        score: fused score in [-1, 1]; BUY at >= the buy threshold, SELL at <= the sell threshold.
        confidence: in [0, 1]; see :func:`tsbot.signals.fusion.confidence`.
        price: close of the last bar, quote currency.
        stop_loss: price -/+ ``stop_atr_multiple`` x ATR(10) on the losing side; None for HOLD.
        take_profit: target prices at 1R, 2R, 3R (R = stop distance) on the winning side; empty for HOLD.
        components: technical / sentiment / ml scores.
        reasons: sentences a trader can read, most important first.
    """

    key: SeriesKey
    as_of: datetime
    action: Action
    score: float
    confidence: float
    price: float
    stop_loss: float | None
    take_profit: list[float]
    components: Components
    reasons: list[str]

    def to_dict(self) -> dict[str, Any]:
        """The JSON shape of ``tsbot scan --json``: exactly the keys symbol, exchange, timeframe, as_of, action,
        score, confidence, price, stop_loss, take_profit, components, reasons."""
        return {
            "symbol": self.key.symbol,
            "exchange": self.key.exchange,
            "timeframe": self.key.timeframe.value,
            "as_of": self.as_of.isoformat().replace("+00:00", "Z"),
            "action": self.action.value,
            "score": round(self.score, 4),
            "confidence": round(self.confidence, 4),
            "price": self.price,
            "stop_loss": self.stop_loss,
            "take_profit": list(self.take_profit),
            "components": {
                k: (None if v is None else round(v, 4)) for k, v in self.components.to_dict().items()
            },
            "reasons": list(self.reasons),
        }


@dataclass(frozen=True, slots=True)
class StatusChange:
    """A change of a series' action between two consecutive stored signals (``from_action`` None for the first)."""

    key: SeriesKey
    changed_at: datetime
    from_action: Action | None
    to_action: Action
    score: float
