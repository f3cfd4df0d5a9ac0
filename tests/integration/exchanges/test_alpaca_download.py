"""Download through alpaca-py from a local Alpaca-shaped server serving real daily stock bars, with faults."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from tests.fakes.memory_candle_store import MemoryCandleStore
from tests.support.exchange_servers import AlpacaServer, Fault

from tsbot.adapters.exchanges.alpaca_source import AlpacaSource, alpaca_timeframe
from tsbot.core.errors import ConfigError
from tsbot.core.time import parse_utc, to_ms
from tsbot.market.models import SeriesKey, Timeframe
from tsbot.market.sync import download

BARS = "/v2/stocks/bars"
SINCE = datetime(2012, 1, 1, tzinfo=UTC)
UNTIL = datetime(2013, 1, 1, tzinfo=UTC)


@pytest.fixture
def alpaca() -> Iterator[AlpacaServer]:
    # A small page size makes alpaca-py follow next_page_token within each fetch.
    with AlpacaServer(("AAPL", "MSFT"), page_size=40, stall_s=1.0) as server:
        yield server


def source_for(server: AlpacaServer, timeout_s: float = 0.3) -> AlpacaSource:
    return AlpacaSource("test-key-id", "test-secret", data_url=server.base_url, timeout_s=timeout_s)


def expected(server: AlpacaServer, ticker: str, start: datetime, end: datetime) -> np.ndarray:
    rows = server.candles(ticker)
    t = rows[:, 0]
    return rows[(t >= to_ms(start)) & (t < to_ms(end))]


async def stored(store: MemoryCandleStore, ticker: str) -> np.ndarray:
    frame = await store.load(SeriesKey("alpaca", ticker, Timeframe.D1))
    return np.column_stack(
        [frame.open_time_ms.astype(np.float64), frame.open, frame.high, frame.low, frame.close, frame.volume]
    )


@pytest.mark.shared_data
async def test_download_with_429_timeout_and_500_equals_source_then_is_incremental(alpaca):
    # Each fetch of 100 bars is three HTTP pages; the first three fetch attempts of AAPL each meet one fault.
    alpaca.fail(BARS, 2, Fault.RATE_LIMIT)
    alpaca.fail(BARS, 4, Fault.STALL)
    alpaca.fail(BARS, 6, Fault.SERVER_ERROR)
    store, source = MemoryCandleStore(), source_for(alpaca)
    try:
        started = time.monotonic()
        report = await download(
            source,
            store,
            ["AAPL", "MSFT"],
            Timeframe.D1,
            since=SINCE,
            until=UNTIL,
            asset_class="stock",
            page_limit=100,
            backoff_s=0.01,
        )
        assert time.monotonic() - started < 4  # alpaca-py's own 3 s sleep on 429 is switched off
        assert report.ok, [s.error for s in report.symbols]
        aapl, msft = report.symbols
        assert (aapl.retries, msft.retries) == (3, 0)
        for one in (aapl, msft):
            want = expected(alpaca, one.symbol, SINCE, UNTIL)
            assert len(want) == 250 and one.inserted == 250 and one.rejected == 0
            assert np.array_equal(await stored(store, one.symbol), want)
            # Daily bars open at midnight New York time.
            assert one.first_open_at == datetime(2012, 1, 3, 5, tzinfo=UTC)

        before = alpaca.count(BARS)
        later = datetime(2013, 3, 1, tzinfo=UTC)
        more = await download(
            source,
            store,
            ["AAPL"],
            Timeframe.D1,
            since=SINCE,
            until=later,
            asset_class="stock",
            page_limit=100,
        )
        first_new = alpaca.requests[before][1]
        assert parse_utc(first_new["start"]) == datetime(2012, 12, 31, 5, tzinfo=UTC) + timedelta(days=1)
        assert more.symbols[0].inserted == len(expected(alpaca, "AAPL", UNTIL, later))
        assert np.array_equal(await stored(store, "AAPL"), expected(alpaca, "AAPL", SINCE, later))
    finally:
        await source.close()


@pytest.mark.shared_data
async def test_invalid_symbol_fails_alone_and_unknown_ticker_has_no_bars(alpaca):
    store, source = MemoryCandleStore(), source_for(alpaca)
    try:
        report = await download(
            source,
            store,
            ["BTC/USDT", "ZZZZ", "MSFT"],
            Timeframe.D1,
            since=SINCE,
            until=datetime(2012, 2, 1, tzinfo=UTC),
            asset_class="stock",
            backoff_s=0.01,
        )
    finally:
        await source.close()
    bad, unknown, msft = report.symbols
    assert report.failed == [bad]
    assert bad.retries == 0 and "alpaca BTC/USDT" in bad.error and "invalid symbol" in bad.error
    # Alpaca answers a well-formed ticker it does not know with no bars, not an error.
    assert unknown.ok and unknown.fetched == 0 and unknown.note == "no new closed bars in range"
    assert msft.ok and msft.inserted == 20


@pytest.mark.shared_data
async def test_an_api_that_always_times_out_fails_quickly_after_the_retries(alpaca):
    alpaca.fail_always(Fault.STALL)
    source = source_for(alpaca, timeout_s=0.2)
    started = time.monotonic()
    try:
        report = await download(
            source,
            MemoryCandleStore(),
            ["AAPL", "MSFT"],
            Timeframe.D1,
            since=SINCE,
            until=UNTIL,
            asset_class="stock",
            retries=2,
            backoff_s=0.01,
        )
    finally:
        await source.close()
    assert time.monotonic() - started < 4
    for one in report.symbols:
        assert not one.ok and one.retries == 2
        assert "timed out" in one.error and "gave up after 2 retries" in one.error


def test_timeframes_map_to_alpaca_and_keys_are_required():
    assert [str(alpaca_timeframe(tf)) for tf in Timeframe] == [
        "1Min",
        "5Min",
        "15Min",
        "30Min",
        "1Hour",
        "4Hour",
        "1Day",
    ]
    with pytest.raises(ConfigError, match="TSBOT_ALPACA_API_KEY"):
        AlpacaSource(None, "secret")
