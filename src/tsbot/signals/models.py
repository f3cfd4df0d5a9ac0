"""The signal value objects."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from tsbot.core.enums import Action
from tsbot.market.models import SeriesKey
from tsbot.sentiment.models import Headline


@dataclass(slots=True)
class Components:
    """Component scores of a fused signal, each in [-1, 1]; None when the component had no evidence
    (no headlines for sentiment, no active model for ML)."""

    technical: float
    sentiment: float | None
    ml: float | None

    def to_dict(self) -> dict[str, float | None]:
        return {"technical": self.technical, "sentiment": self.sentiment, "ml": self.ml}


@dataclass(frozen=True, slots=True)
class HeadlineRef:
    """A headline listed with a signal because it moved the signal's sentiment.

    Attributes:
        title, source, url: the headline as stored.
        published_at: its publication time, aware UTC.
        score: the model's score of the headline, in [-1, 1].
        contribution: its share of the sentiment reading (``weight * score / sum of weights``), in [-1, 1]; the
            contributions of all headlines in the reading sum to the sentiment component.
    """

    title: str
    source: str
    url: str
    published_at: datetime
    score: float
    contribution: float

    @classmethod
    def of(cls, headline: Headline, contribution: float) -> HeadlineRef:
        return cls(
            headline.title,
            headline.source,
            headline.url,
            headline.published_at,
            float(headline.score or 0.0),
            float(contribution),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "title": self.title,
            "source": self.source,
            "url": self.url,
            "published_at": self.published_at.isoformat().replace("+00:00", "Z"),
            "score": round(self.score, 4),
            "contribution": round(self.contribution, 4),
        }

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> HeadlineRef:
        return cls(
            str(raw["title"]),
            str(raw["source"]),
            str(raw["url"]),
            datetime.fromisoformat(str(raw["published_at"]).replace("Z", "+00:00")),
            float(raw["score"]),
            float(raw["contribution"]),
        )


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
        headlines: the headlines that moved the sentiment component most, largest contribution first (empty when
            sentiment had no headlines).
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
    headlines: list[HeadlineRef] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """The JSON shape of ``tsbot scan --json``: exactly the keys symbol, exchange, timeframe, as_of, action,
        score, confidence, price, stop_loss, take_profit, components, reasons, headlines."""
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
            "headlines": [h.to_dict() for h in self.headlines],
        }


@dataclass(frozen=True, slots=True)
class StatusChange:
    """A change of a series' action between two consecutive stored signals (``from_action`` None for the first)."""

    key: SeriesKey
    changed_at: datetime
    from_action: Action | None
    to_action: Action
    score: float
