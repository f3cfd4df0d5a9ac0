"""Ports of the market domain. Adapters implement them; services receive them in their constructor."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from tsbot.market.models import CandleFrame, SeriesKey, Timeframe


@dataclass(frozen=True, slots=True)
class SeriesInfo:
    """What a store holds of one series: its key, asset class, bar count and first / last open times (ms, UTC)."""

    key: SeriesKey
    asset_class: str
    count: int
    first_open_ms: int
    last_open_ms: int


@dataclass(frozen=True, slots=True)
class UpsertResult:
    """Rows written by :meth:`CandleStore.upsert`: ``inserted`` new, ``unchanged`` already present."""

    inserted: int
    unchanged: int


class CandleStore(Protocol):
    """Persistent candles keyed by (exchange, symbol, timeframe, open time UTC)."""

    async def upsert(self, key: SeriesKey, asset_class: str, frame: CandleFrame) -> UpsertResult:
        """Insert bars not yet stored; existing bars (same key and open time) are left as they are."""
        ...

    async def load(
        self, key: SeriesKey, *, end_ms: int | None = None, limit: int | None = None
    ) -> CandleFrame:
        """Bars of a series oldest first, up to and including ``end_ms`` when given, the last ``limit`` of them."""
        ...

    async def load_many(
        self, keys: Sequence[SeriesKey], *, end_ms: Mapping[SeriesKey, int] | None = None, limit: int
    ) -> dict[SeriesKey, CandleFrame]:
        """:meth:`load` for many series at once (one round trip where the store allows): the last ``limit`` bars
        of each series up to its ``end_ms[key]`` (no end where the mapping is None or lacks the key). Series with
        no bars in range map to an empty frame."""
        ...

    async def series(self) -> list[SeriesInfo]:
        """Every stored series with its bar count and time range."""
        ...

    async def last_open_ms(self, key: SeriesKey) -> int | None:
        """Open time of the newest stored bar of a series, or None when it has none."""
        ...


class MarketDataSource(Protocol):
    """A venue that serves historical candles (ccxt exchanges, Alpaca)."""

    name: str

    async def fetch_candles(
        self, symbol: str, timeframe: Timeframe, since_ms: int, limit: int
    ) -> CandleFrame:
        """Up to ``limit`` closed or open bars starting at or after ``since_ms``, oldest first.

        Raises:
            tsbot.core.errors.ExchangeUnavailableError: timeout, rate limit or 5xx (temporary; callers retry).
            tsbot.core.errors.ExchangeError: the venue rejected the request (unknown symbol, bad timeframe).
        """
        ...

    async def close(self) -> None:
        """Release connections."""
        ...
