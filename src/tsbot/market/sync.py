"""Incremental candle download: pages bars from a :class:`MarketDataSource` into a :class:`CandleStore`.

For each symbol the download starts at ``max(since, last stored open time + one bar)``, so running it again
only fetches bars that are new. It pages forward until the source has nothing newer or the end of the range is
reached, keeps closed bars only, validates every page, and retries temporary errors with exponential backoff.
One failing symbol never stops the others: the report says what happened to each.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np

from tsbot.core.errors import ConfigError, TemporaryError, TsbotError
from tsbot.core.time import from_ms, to_ms, utc_now
from tsbot.market.models import CandleFrame, SeriesKey, Timeframe
from tsbot.market.ports import CandleStore, MarketDataSource

ProgressCallback = Callable[[str, int, int], None]
"""Called as ``progress(symbol, bars_done, bars_expected)`` after each page (and once before the first)."""

MAX_BACKOFF_S = 60.0
"""Upper bound of one backoff wait, in seconds."""


@dataclass(slots=True)
class SymbolReport:
    """What a download did for one symbol.

    Attributes:
        symbol: the symbol as requested.
        fetched: bars received from the source (before validation and range cuts).
        inserted: bars newly written to the store.
        rejected: bars dropped as invalid (time not strictly increasing, non-positive or non-finite price,
            high below low, negative or non-finite volume).
        retries: temporary errors that were retried.
        first_open_at, last_open_at: open time (UTC) of the first and last bar accepted in this run; None when
            none was.
        error: why the symbol failed, or None when it did not.
        note: a remark that is not an error (e.g. "no new closed bars").
    """

    symbol: str
    fetched: int = 0
    inserted: int = 0
    rejected: int = 0
    retries: int = 0
    first_open_at: datetime | None = None
    last_open_at: datetime | None = None
    error: str | None = None
    note: str | None = None

    @property
    def ok(self) -> bool:
        """True when the symbol did not fail."""
        return self.error is None


@dataclass(slots=True)
class DownloadReport:
    """Per-symbol results of :func:`download`, in the order the symbols were given."""

    exchange: str
    timeframe: Timeframe
    symbols: list[SymbolReport] = field(default_factory=list)

    @property
    def failed(self) -> list[SymbolReport]:
        """Reports of the symbols that failed."""
        return [s for s in self.symbols if not s.ok]

    @property
    def ok(self) -> bool:
        """True when no symbol failed."""
        return not self.failed

    @property
    def inserted(self) -> int:
        """Bars inserted over all symbols."""
        return sum(s.inserted for s in self.symbols)


def expected_bars(start_ms: int, end_ms: int, now_ms: int, timeframe: Timeframe) -> int:
    """Bar slots of ``timeframe`` opening in ``[start_ms, end_ms)`` that are closed at ``now_ms`` (all ms,
    UTC).

    Counts slots, not bars: an exchange outage or a market holiday makes the real count smaller.
    """
    last_open = min(end_ms - 1, now_ms - timeframe.ms)
    if last_open < start_ms:
        return 0
    return (last_open - start_ms) // timeframe.ms + 1


def valid_rows(frame: CandleFrame, after_ms: int | None) -> np.ndarray:
    """Boolean mask, shape ``(n,)``, of the bars of ``frame`` that pass minimal checks.

    A bar is valid when its open time is greater than that of the previous valid bar (the first must be
    greater than ``after_ms`` when given), open/high/low/close are finite and positive, high >= low, and
    volume is finite and not negative.
    """
    n = len(frame)
    prices = np.vstack([frame.open, frame.high, frame.low, frame.close])
    ok = np.all(np.isfinite(prices) & (prices > 0), axis=0)
    ok &= frame.high >= frame.low
    ok &= np.isfinite(frame.volume) & (frame.volume >= 0)
    mask = np.zeros(n, dtype=bool)
    previous = after_ms
    times = frame.open_time_ms
    for i in range(n):
        if not ok[i]:
            continue
        t = int(times[i])
        if previous is not None and t <= previous:
            continue
        mask[i] = True
        previous = t
    return mask


def _take(frame: CandleFrame, mask: np.ndarray) -> CandleFrame:
    return CandleFrame(
        frame.open_time_ms[mask],
        frame.open[mask],
        frame.high[mask],
        frame.low[mask],
        frame.close[mask],
        frame.volume[mask],
    )


class TemporaryErrorAfterRetries(TemporaryError):
    """A temporary error that persisted through every retry of one page."""

    def __init__(self, last: TemporaryError, retries: int) -> None:
        self.last = last
        super().__init__(f"{last} (gave up after {retries} retries)")


async def _fetch_with_retry(
    source: MarketDataSource,
    report: SymbolReport,
    timeframe: Timeframe,
    since_ms: int,
    limit: int,
    retries: int,
    backoff_s: float,
    sleep: Callable[[float], Awaitable[object]],
) -> CandleFrame:
    attempt = 0
    while True:
        try:
            return await source.fetch_candles(report.symbol, timeframe, since_ms, limit)
        except TemporaryError as exc:
            if attempt >= retries:
                raise TemporaryErrorAfterRetries(exc, attempt) from exc
            await sleep(min(backoff_s * (2**attempt), MAX_BACKOFF_S))
            attempt += 1
            report.retries += 1


async def _download_one(
    source: MarketDataSource,
    store: CandleStore,
    report: SymbolReport,
    timeframe: Timeframe,
    asset_class: str,
    *,
    since_ms: int,
    until_ms: int | None,
    now_ms: int,
    page_limit: int,
    retries: int,
    backoff_s: float,
    progress: ProgressCallback | None,
    sleep: Callable[[float], Awaitable[object]],
) -> None:
    key = SeriesKey(exchange=source.name, symbol=report.symbol, timeframe=timeframe)
    tf_ms = timeframe.ms
    last_stored = await store.last_open_ms(key)
    cursor = since_ms if last_stored is None else max(since_ms, last_stored + tf_ms)
    end_ms = now_ms if until_ms is None else min(until_ms, now_ms)
    expected = expected_bars(cursor, end_ms, now_ms, timeframe)
    done = 0
    previous = last_stored
    if progress is not None:
        progress(report.symbol, done, expected)
    while cursor < end_ms:
        frame = await _fetch_with_retry(
            source, report, timeframe, cursor, page_limit, retries, backoff_s, sleep
        )
        if len(frame) == 0:
            break
        report.fetched += len(frame)
        times = frame.open_time_ms
        valid = valid_rows(frame, previous)
        # Older than asked for (a misbehaving source) is invalid; past the range or still open is cut.
        valid &= times >= cursor
        report.rejected += int(np.count_nonzero(~valid))
        keep = valid & (times < end_ms) & (times + tf_ms <= now_ms)
        page = _take(frame, keep)
        if len(page):
            result = await store.upsert(key, asset_class, page)
            report.inserted += result.inserted
            done += len(page)
            first, last = int(page.open_time_ms[0]), int(page.open_time_ms[-1])
            if report.first_open_at is None:
                report.first_open_at = from_ms(first)
            report.last_open_at = from_ms(last)
            previous = last
        if progress is not None:
            progress(report.symbol, done, expected)
        newest = int(times.max())
        if newest < cursor:
            break
        cursor = newest + tf_ms
    if done == 0:
        report.note = "no new closed bars in range"


async def download(
    source: MarketDataSource,
    store: CandleStore,
    symbols: Iterable[str],
    timeframe: Timeframe,
    *,
    since: datetime,
    asset_class: str,
    until: datetime | None = None,
    page_limit: int = 1000,
    retries: int = 5,
    backoff_s: float = 0.5,
    progress: ProgressCallback | None = None,
    sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
    now: Callable[[], datetime] = utc_now,
) -> DownloadReport:
    """Download closed candles of ``symbols`` from ``source`` into ``store``, incrementally.

    Each symbol's series is ``SeriesKey(source.name, symbol, timeframe)``. Its download starts at ``max(since,
    last stored open time + one bar)`` and pages forward ``page_limit`` bars at a time until the source
    returns no bar newer than the cursor, or the cursor passes ``until`` (exclusive) or now. Only bars that
    are closed (``open time + timeframe <= now``) and open before ``until`` are stored. Each page is validated
    (:func:`valid_rows`); invalid bars are counted in ``rejected`` and skipped. Temporary errors
    (:class:`~tsbot.core.errors.TemporaryError`) are retried up to ``retries`` times per page, waiting
    ``backoff_s * 2**k`` seconds (capped at :data:`MAX_BACKOFF_S`) before retry ``k``; after that, or on any
    other error, the symbol is recorded as failed and the next symbol is downloaded.

    Args:
        source: where candles come from; its ``name`` is the series' exchange.
        store: where they go.
        symbols: symbols as the source names them (``"BTC/USDT"``, ``"AAPL"``); duplicates are downloaded
            once.
        timeframe: bar length.
        since: earliest open time wanted (aware or UTC-naive datetime).
        asset_class: ``"crypto"`` or ``"stock"``, stored with new series.
        until: open times must be before this (UTC); None means up to now.
        page_limit: bars asked for per request (``>= 1``).
        retries: retries per page after the first attempt (``>= 0``).
        backoff_s: first backoff wait in seconds.
        progress: called as ``progress(symbol, bars_done, bars_expected)``; bars expected is the count of
            closed bar slots in the range (:func:`expected_bars`), so gaps make ``bars_done`` end below it.
        sleep: awaitable sleep, replaceable in tests.
        now: the current UTC time, replaceable in tests; read once per symbol.

    Returns:
        DownloadReport with one :class:`SymbolReport` per distinct symbol.

    Raises:
        ConfigError: ``page_limit < 1``, ``retries < 0`` or ``backoff_s < 0``, or ``until`` not after
            ``since``.
    """
    if page_limit < 1:
        raise ConfigError(f"page_limit must be at least 1, got {page_limit}")
    if retries < 0 or backoff_s < 0:
        raise ConfigError(f"retries and backoff_s must not be negative, got {retries}, {backoff_s}")
    since_ms = to_ms(since)
    until_ms = None if until is None else to_ms(until)
    if until_ms is not None and until_ms <= since_ms:
        raise ConfigError(
            f"until ({from_ms(until_ms).isoformat()}) must be after since ({from_ms(since_ms).isoformat()})"
        )
    report = DownloadReport(exchange=source.name, timeframe=timeframe)
    for symbol in dict.fromkeys(symbols):
        one = SymbolReport(symbol=symbol)
        report.symbols.append(one)
        try:
            await _download_one(
                source,
                store,
                one,
                timeframe,
                asset_class,
                since_ms=since_ms,
                until_ms=until_ms,
                now_ms=to_ms(now()),
                page_limit=page_limit,
                retries=retries,
                backoff_s=backoff_s,
                progress=progress,
                sleep=sleep,
            )
        except TsbotError as exc:
            one.error = str(exc)
        except Exception as exc:  # noqa: BLE001 - one broken symbol must not stop the others
            one.error = f"{type(exc).__name__}: {exc}"
    return report
