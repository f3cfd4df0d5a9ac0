"""What the monitoring cycle fetches on the live clock: new closed candles from the exchanges, new headlines and
posts from the news sources (:class:`tsbot.monitor.ports.CandleRefresher`, :class:`~tsbot.monitor.ports.NewsRefresher`).

* :class:`ExchangeCandleRefresher` downloads, per exchange and timeframe, the bars closed since each series' last
  stored bar (ccxt for crypto exchanges, Alpaca for ``alpaca`` series), at most :data:`CATCH_UP_BARS` back. A
  series that fails (a dead exchange, a 429 after its retries) is reported with its reason; the others go on. Each
  exchange's client is opened once and kept for the next cycles.
* :class:`CollectorNewsRefresher` reads every configured feed and subreddit at most every ``interval_s`` seconds,
  scores the new headlines with the configured sentiment model (loaded once) and stores them.

Neither runs on a replay clock: there every candle and headline is stored already.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import structlog

from tsbot.config import Settings
from tsbot.core.enums import AssetClass
from tsbot.core.errors import TsbotError
from tsbot.market.models import SeriesKey, Timeframe
from tsbot.market.ports import CandleStore, MarketDataSource
from tsbot.market.sync import download
from tsbot.sentiment.ports import HeadlineStore
from tsbot.sentiment.service import ingest_headlines
from tsbot.wiring import build_source

if TYPE_CHECKING:
    import httpx

_log = structlog.get_logger("tsbot.monitor")

#: The furthest back (in bars) a refresh fetches when a series' last stored bar is older (a long stop).
CATCH_UP_BARS = 1_000


class ExchangeCandleRefresher:
    """New closed candles for the watched series (see the module docstring).

    Args:
        settings: the settings in force (exchange hosts, Alpaca keys, timeouts), read at each refresh.
        store: where candles go.
        build: makes an exchange's source (``build_source`` by default; tests pass their own).
        retries: retries per page after a temporary error (kept low: the next cycle tries again).
    """

    def __init__(
        self,
        settings: Callable[[], Settings],
        store: CandleStore,
        *,
        build: Callable[[str, Settings], tuple[MarketDataSource, AssetClass]] = build_source,
        retries: int = 1,
        backoff_s: float = 0.5,
    ) -> None:
        self._settings = settings
        self._store = store
        self._build = build
        self._retries = retries
        self._backoff_s = backoff_s
        self._sources: dict[str, tuple[MarketDataSource, str]] = {}

    def _source(self, exchange: str) -> tuple[MarketDataSource, str]:
        if exchange not in self._sources:
            source, asset_class = self._build(exchange, self._settings())
            self._sources[exchange] = (source, asset_class.value)
        return self._sources[exchange]

    async def refresh(self, keys: Sequence[SeriesKey], now: datetime) -> dict[SeriesKey, str]:
        """Fetch what closed since each series' last stored bar; the reason of each series that failed."""
        failed: dict[SeriesKey, str] = {}
        groups: dict[tuple[str, Timeframe], list[SeriesKey]] = defaultdict(list)
        for key in keys:
            groups[(key.exchange, key.timeframe)].append(key)
        for (exchange, timeframe), group in groups.items():
            try:
                source, asset_class = self._source(exchange)
            except TsbotError as exc:
                failed.update({k: str(exc) for k in group})
                continue
            since = now - timedelta(milliseconds=CATCH_UP_BARS * timeframe.ms)
            report = await download(
                source, self._store, [k.symbol for k in group], timeframe, since=since, asset_class=asset_class,
                retries=self._retries, backoff_s=self._backoff_s, now=lambda: now,
            )  # fmt: skip
            by_symbol = {k.symbol: k for k in group}
            for one in report.failed:
                failed[by_symbol[one.symbol]] = one.error or "failed"
        return failed

    async def close(self) -> None:
        """Close the exchanges' clients."""
        sources, self._sources = self._sources, {}
        for source, _ in sources.values():
            try:
                await source.close()
            except Exception as exc:  # noqa: BLE001 - closing one must not keep the others open
                _log.warning("monitor.source_close_failed", error=str(exc))


class CollectorNewsRefresher:
    """New headlines and posts at most every ``interval_s`` seconds (see the module docstring)."""

    def __init__(
        self,
        settings: Callable[[], Settings],
        store: HeadlineStore,
        *,
        interval_s: float = 300.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._settings = settings
        self._store = store
        self.interval_s = interval_s
        self._transport = transport
        self._model: Any = None
        self._last: float | None = None

    async def refresh(self, now: datetime) -> list[str]:
        """Read the sources when ``interval_s`` has passed since the last read; one line per source that failed."""
        if self._last is not None and time.monotonic() - self._last < self.interval_s:
            return []
        self._last = time.monotonic()
        from tsbot.adapters.models.loader import load_sentiment_model
        from tsbot.adapters.news.collect import NewsCollector

        settings = self._settings()
        if not settings.news.feeds and not settings.news.reddit.enabled:
            return []
        if self._model is None:
            self._model = load_sentiment_model(settings.sentiment_model)
        async with NewsCollector(settings.news, transport=self._transport) as collector:
            results = await collector.collect(now=now)
        items = [h for r in results for h in r.items]
        if items:
            report = await ingest_headlines(
                self._store, self._model, items, now=now, similarity=settings.news.near_duplicate_similarity
            )
            _log.info("monitor.news", sources=len(results), read=len(items), stored=report.stored)
        return [f"{r.source}: {r.error}" for r in results if r.error]
