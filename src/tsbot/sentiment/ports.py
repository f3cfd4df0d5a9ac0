"""Ports of the sentiment domain."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

from tsbot.sentiment.aggregate import HeadlineSeries
from tsbot.sentiment.models import Headline, SentimentScore


class SentimentModel(Protocol):
    """Scores texts. Implementations must be deterministic and safe to call from several threads."""

    name: str

    def score(self, texts: Sequence[str]) -> list[SentimentScore]:
        """One :class:`SentimentScore` per text, in order. Empty or blank texts score neutral."""
        ...


class HeadlineStore(Protocol):
    """Scored headlines, queried point-in-time by publication time."""

    async def add(self, headlines: Sequence[Headline]) -> int:
        """Store headlines not stored yet (by URL); return how many were new."""
        ...

    async def for_asset(self, asset: str, *, start: datetime, end: datetime) -> list[Headline]:
        """Scored headlines mentioning ``asset`` published in ``[start, end]``, oldest first."""
        ...

    async def scored_series(self, asset: str, *, start: datetime, end: datetime) -> HeadlineSeries:
        """Publication times (ms UTC) and scores of scored headlines mentioning ``asset`` in [start, end]."""
        ...

    async def count(self) -> int:
        """How many headlines are stored."""
        ...
