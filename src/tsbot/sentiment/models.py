"""Value objects of the sentiment domain."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from tsbot.core.enums import SentimentLabel


@dataclass(frozen=True, slots=True)
class SentimentScore:
    """A model's judgement of one text.

    Attributes:
        label: the most probable class.
        score: ``p(positive) - p(negative)``, in [-1, 1]; 0 is neutral.
        probs: probability per label value (``"positive"``, ``"negative"``, ``"neutral"``), summing to 1.
    """

    label: SentimentLabel
    score: float
    probs: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Headline:
    """A news headline as tsbot stores it.

    Attributes:
        published_at: publication time, aware UTC.
        source: publisher name (``"CoinTelegraph"``).
        title: the headline.
        summary: the lead or summary text ("" when none).
        url: canonical link; unique per headline.
        assets: base assets it mentions (``("BTC", "ETH")``), found by :func:`tsbot.sentiment.aliases.mentioned_assets`.
        score: sentiment score in [-1, 1] from the model that scored it, or None before scoring.
        first_seen_at: when tsbot first read it, aware UTC; None means "the same as ``published_at``" (history
            imports). Point-in-time queries use this time, so a backtest sees only what was known then.
        id: the store's identifier when read back from a store; None before storing.
    """

    published_at: datetime
    source: str
    title: str
    summary: str
    url: str
    assets: tuple[str, ...] = ()
    score: float | None = None
    first_seen_at: datetime | None = None
    id: int | None = None

    @property
    def known_at(self) -> datetime:
        """When tsbot knew the headline: ``first_seen_at``, or ``published_at`` when it is None."""
        return self.first_seen_at if self.first_seen_at is not None else self.published_at
