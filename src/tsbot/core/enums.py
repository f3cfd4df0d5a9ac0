"""Enumerations shared across domains. Members are singular and upper-case (``Action.BUY``)."""

from __future__ import annotations

from enum import StrEnum


class Action(StrEnum):
    """What a signal tells a trader to do."""

    BUY = "BUY"
    SELL = "SELL"
    HOLD = "HOLD"


class AssetClass(StrEnum):
    """The kind of market an instrument trades in."""

    CRYPTO = "crypto"
    STOCK = "stock"


class SentimentLabel(StrEnum):
    """Label of a sentiment score."""

    POSITIVE = "positive"
    NEGATIVE = "negative"
    NEUTRAL = "neutral"
