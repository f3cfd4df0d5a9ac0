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
    """Scored headlines, queried point-in-time by the time tsbot first saw them (``first_seen_at``).

    A headline stored with ``first_seen_at=None`` is stored as first seen at its ``published_at``; headlines read
    back always carry ``first_seen_at`` (aware UTC) and ``id``.
    """

    async def add(self, headlines: Sequence[Headline]) -> int:
        """Store headlines not stored yet (by URL); return how many were new."""
        ...

    async def known_urls(self, urls: Sequence[str]) -> set[str]:
        """The subset of ``urls`` already stored."""
        ...

    async def titles_seen(self, *, start: datetime, end: datetime) -> list[str]:
        """Titles of the headlines first seen in ``[start, end]`` (for near-duplicate checks), oldest first."""
        ...

    async def for_asset(self, asset: str, *, start: datetime, end: datetime) -> list[Headline]:
        """Headlines mentioning ``asset`` first seen in ``[start, end]``, oldest first (by first-seen time)."""
        ...

    async def latest(self, *, asset: str | None = None, limit: int = 20) -> list[Headline]:
        """The ``limit`` most recently first-seen headlines (mentioning ``asset`` when given), newest first."""
        ...

    async def scored_series(self, asset: str, *, start: datetime, end: datetime) -> HeadlineSeries:
        """Scored headlines mentioning ``asset`` first seen in ``[start, end]``: first-seen times (ms UTC,
        ascending), scores, source names and store ids, in that order."""
        ...

    async def by_ids(self, ids: Sequence[int]) -> dict[int, Headline]:
        """The stored headlines with these ids (ids not stored are absent from the result)."""
        ...

    async def count(self) -> int:
        """How many headlines are stored."""
        ...
