"""Loading what a backtest needs from the stores: candles with all their history, and the news sentiment each bar
would have seen (headlines published by the bar's close, aggregated exactly as ``tsbot scan`` does)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

import numpy as np

from tsbot.backtest.runner import SeriesData
from tsbot.backtest.strategies.base import SeriesContext
from tsbot.config import TradingConfig
from tsbot.core.errors import EmptyStoreError, NotFoundError
from tsbot.core.time import from_ms
from tsbot.market.models import CandleFrame, Timeframe
from tsbot.market.ports import CandleStore, SeriesInfo
from tsbot.sentiment.aggregate import HeadlineSeries, readings
from tsbot.sentiment.ports import HeadlineStore
from tsbot.signals.service import resolve_symbols


async def choose_series(
    candles: CandleStore,
    symbols: Sequence[str] | None,
    timeframe: Timeframe | None,
    trading: TradingConfig,
    *,
    every_timeframe: bool = False,
) -> list[SeriesInfo]:
    """The stored series to backtest: the requested symbols (else the watchlist, else all) at one timeframe.

    The timeframe is ``timeframe``, else ``trading.timeframe``, else the only one the chosen symbols have. With
    ``every_timeframe`` (for checks made series by series, such as ``tsbot lookahead``) and neither of the first
    two set, every chosen series is kept, at whichever timeframe it is stored.

    Raises:
        EmptyStoreError: no candles are stored.
        UnknownSymbolError: a requested symbol is not stored.
        NotFoundError: no chosen series has the timeframe, or several timeframes exist and none was named (the
            message counts the series of each and names the option to choose with).
    """
    available = await candles.series()
    if not available:
        raise EmptyStoreError("the candle store is empty: run `tsbot data import` to load the bundled data")
    wanted = list(symbols or trading.watchlist)
    chosen = resolve_symbols(wanted, available) if wanted else list(available)
    tf = timeframe or trading.timeframe
    have = sorted({s.key.timeframe for s in chosen}, key=lambda t: t.ms)
    if tf is None:
        if every_timeframe:
            return chosen
        if len(have) > 1:
            counts = ", ".join(f"{t.value}: {sum(s.key.timeframe == t for s in chosen)} series" for t in have)
            raise NotFoundError(
                f"these series come in several timeframes ({counts}); a backtest runs on one: choose it with "
                f"--timeframe (e.g. --timeframe {have[0].value})"
            )
        tf = have[0]
    picked = [s for s in chosen if s.key.timeframe == tf]
    if not picked:
        raise NotFoundError(
            f"no stored series at timeframe {tf.value} for these symbols; stored: {', '.join(t.value for t in have)}"
        )
    return picked


def sentiment_context(
    frame: CandleFrame, timeframe: Timeframe, series: HeadlineSeries, trading: TradingConfig
) -> SeriesContext:
    """Sentiment score and evidence per bar as known at each bar's close (NaN where no headline qualified)."""
    closes = frame.open_time_ms + timeframe.ms
    known = readings(series, closes, trading.sentiment)
    score = np.array([np.nan if r is None else r.score for r in known], dtype=np.float64)
    ratio = np.array([0.0 if r is None else r.evidence_ratio for r in known], dtype=np.float64)
    return SeriesContext(sentiment=score, evidence_ratio=ratio)


async def load_series(
    candles: CandleStore,
    headlines: HeadlineStore | None,
    infos: Sequence[SeriesInfo],
    trading: TradingConfig,
    *,
    end_ms: int | None = None,
) -> list[SeriesData]:
    """Candles of each series up to ``end_ms`` (all history before it: the warm-up), with the sentiment context
    when ``headlines`` is given."""
    out: list[SeriesData] = []
    frames = await candles.load_many([i.key for i in infos], end_ms=None, limit=10**9)
    for info in infos:
        frame = frames[info.key]
        if end_ms is not None:
            frame = frame.until(end_ms)
        context = SeriesContext()
        if headlines is not None and len(frame):
            asset = info.key.symbol.split("/", 1)[0]
            first = from_ms(int(frame.open_time_ms[0])) - timedelta(hours=trading.sentiment.max_age_hours)
            last = from_ms(int(frame.open_time_ms[-1]) + info.key.timeframe.ms)
            scored = await headlines.scored_series(asset, start=first, end=last)
            if len(scored.known_ms):
                context = sentiment_context(frame, info.key.timeframe, scored, trading)
        out.append(SeriesData(info.key, frame, context))
    return out
