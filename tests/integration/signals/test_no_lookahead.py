"""No look-ahead: for every bundled series and 50 random times t, the signal computed from the full store as of t
equals the signal computed from a store that holds only what was known at t (candles closed by t, headlines
published by t). Runs on the real bundled candles and headlines, scored by the shipped default model."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import numpy as np
import pytest

from tsbot.adapters.bundled import bundled_series, read_bundled_headlines, read_bundled_rows
from tsbot.adapters.memory import FrameCandleStore, MemoryHeadlineStore
from tsbot.config import TradingConfig
from tsbot.market.validation import validate_rows
from tsbot.sentiment.default_model import load_default_model
from tsbot.sentiment.service import import_headlines
from tsbot.signals.service import ScanService
from tsbot.signals.technical import MIN_BARS

TIMES_PER_SERIES = 50


@pytest.fixture(scope="module")
def full_stores() -> tuple[FrameCandleStore, MemoryHeadlineStore]:
    candles = FrameCandleStore(
        {
            item.key: (
                item.asset_class.value,
                validate_rows(read_bundled_rows(item), item.key.timeframe).frame,
            )
            for item in bundled_series()
        }
    )
    headlines = MemoryHeadlineStore()
    asyncio.run(import_headlines(headlines, load_default_model(), read_bundled_headlines()))
    return candles, headlines


def _random_times(first_ms: int, last_ms: int, news: tuple[int, int], rng: np.random.Generator) -> list[int]:
    """Half anywhere after the warm-up, half inside the news period when the series overlaps it; not aligned to
    bar boundaries."""
    lo, hi = first_ms, last_ms
    times = rng.integers(lo, hi, TIMES_PER_SERIES // 2).tolist()
    n_lo, n_hi = max(lo, news[0]), min(hi, news[1])
    pool = (n_lo, n_hi) if n_hi > n_lo else (lo, hi)
    times += rng.integers(pool[0], pool[1], TIMES_PER_SERIES - len(times)).tolist()
    return times


@pytest.mark.slow
async def test_signals_from_full_store_equal_signals_from_store_cut_at_t(
    full_stores: tuple[FrameCandleStore, MemoryHeadlineStore],
) -> None:
    candles, headlines = full_stores
    config = TradingConfig()
    full_scan = ScanService(candles, headlines, None, config)
    news_ms = (
        int(headlines.items[0].published_at.timestamp() * 1000),
        int(headlines.items[-1].published_at.timestamp() * 1000),
    )
    rng = np.random.default_rng(20221011)
    compared = with_news = 0
    series = await candles.series()
    assert len(series) == len(bundled_series()) == 17
    for info in series:
        tf = info.key.timeframe.ms
        first_t = int(candles.frames[info.key][1].open_time_ms[MIN_BARS]) + tf  # after a full warm-up
        last_t = info.last_open_ms + tf
        for t_ms in _random_times(first_t, last_t, news_ms, rng):
            t = datetime.fromtimestamp(t_ms / 1000, tz=UTC)
            full = await full_scan.scan([info.key.symbol], timeframe=info.key.timeframe, as_of=t, store=False)
            cut_scan = ScanService(candles.cut(t_ms - tf), headlines.cut(t), None, config)
            cut = await cut_scan.scan([info.key.symbol], timeframe=info.key.timeframe, store=False)
            assert len(full.signals) == len(cut.signals) == 1, (info.key, t, full.skipped, cut.skipped)
            a, b = full.signals[0].to_dict(), cut.signals[0].to_dict()
            assert a == b, f"{info.key} as of {t.isoformat()}: full store and cut store disagree"
            assert full.signals[0].as_of <= t
            compared += 1
            with_news += a["components"]["sentiment"] is not None
    assert compared == 17 * TIMES_PER_SERIES
    assert with_news > 100  # the check covered sentiment, not only candles
