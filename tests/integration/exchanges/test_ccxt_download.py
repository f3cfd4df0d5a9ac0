"""Download through ccxt from a local Binance-shaped server serving real candles, with faults on the way."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from types import SimpleNamespace

import numpy as np
import pytest
from rich.console import Console
from tests.fakes.memory_candle_store import MemoryCandleStore
from tests.support.exchange_servers import BinanceServer, Fault

from tsbot.adapters.exchanges.ccxt_source import CcxtSource
from tsbot.apps.cli.data_download import download_with_progress, render_report, run_download
from tsbot.config import load_settings
from tsbot.core.errors import ConfigError
from tsbot.core.time import to_ms
from tsbot.market.models import SeriesKey, Timeframe
from tsbot.market.sync import download
from tsbot.wiring import build_source, open_services

KLINES = "/api/v3/klines"
SINCE = datetime(2021, 1, 1, tzinfo=UTC)
UNTIL = datetime(2021, 2, 1, tzinfo=UTC)
TIMEOUT_S = 0.3


@pytest.fixture
def binance() -> Iterator[BinanceServer]:
    with BinanceServer(("BTC/USDT", "ETH/USDT"), stall_s=1.0) as server:
        yield server


def source_for(server: BinanceServer, timeout_s: float = TIMEOUT_S) -> CcxtSource:
    return CcxtSource("binance", base_url=server.base_url, timeout_s=timeout_s, enable_rate_limit=False)


def expected(server: BinanceServer, symbol: str, start: datetime, end: datetime) -> np.ndarray:
    rows = server.candles(symbol)
    t = rows[:, 0]
    return rows[(t >= to_ms(start)) & (t < to_ms(end))]


async def stored(store: MemoryCandleStore, symbol: str) -> np.ndarray:
    frame = await store.load(SeriesKey("binance", symbol, Timeframe.H1))
    return np.column_stack(
        [frame.open_time_ms.astype(np.float64), frame.open, frame.high, frame.low, frame.close, frame.volume]
    )


@pytest.mark.shared_data
async def test_download_with_429_timeout_and_500_equals_source_then_is_incremental(binance):
    # klines calls: BTC page 1, page 2 (429), retry, page 3 (stalls), retry; ETH page 1 (500), retry, 2, 3.
    binance.fail(KLINES, 2, Fault.RATE_LIMIT)
    binance.fail(KLINES, 4, Fault.STALL)
    binance.fail(KLINES, 6, Fault.SERVER_ERROR)
    store, source = MemoryCandleStore(), source_for(binance)
    try:
        started = time.monotonic()
        report = await download(
            source,
            store,
            ["BTC/USDT", "ETH/USDT"],
            Timeframe.H1,
            since=SINCE,
            until=UNTIL,
            asset_class="crypto",
            page_limit=300,
            backoff_s=0.01,
        )
        assert time.monotonic() - started < 5
        assert report.ok, [s.error for s in report.symbols]
        btc, eth = report.symbols
        assert (btc.retries, eth.retries) == (2, 1)
        for one in (btc, eth):
            want = expected(binance, one.symbol, SINCE, UNTIL)
            assert len(want) > 700 and one.inserted == len(want) and one.rejected == 0
            assert np.array_equal(await stored(store, one.symbol), want)
            assert one.first_open_at == SINCE and one.last_open_at == datetime(2021, 1, 31, 23, tzinfo=UTC)

        # Same range again: nothing new, not a single klines request.
        before = binance.count(KLINES)
        again = await download(
            source,
            store,
            ["BTC/USDT", "ETH/USDT"],
            Timeframe.H1,
            since=SINCE,
            until=UNTIL,
            asset_class="crypto",
            page_limit=300,
        )
        assert again.ok and again.inserted == 0 and binance.count(KLINES) == before

        # A later end: only the new bars are asked for and stored.
        later = datetime(2021, 2, 8, tzinfo=UTC)
        more = await download(
            source,
            store,
            ["BTC/USDT"],
            Timeframe.H1,
            since=SINCE,
            until=later,
            asset_class="crypto",
            page_limit=300,
        )
        new_calls = [q for p, q in binance.requests[-(binance.count(KLINES) - before) :] if p == KLINES]
        assert int(new_calls[0]["startTime"]) == to_ms(UNTIL)
        assert more.symbols[0].inserted == len(expected(binance, "BTC/USDT", UNTIL, later))
        assert np.array_equal(await stored(store, "BTC/USDT"), expected(binance, "BTC/USDT", SINCE, later))
    finally:
        await source.close()


@pytest.mark.shared_data
async def test_unknown_symbol_fails_alone_with_a_clear_message(binance):
    store, source = MemoryCandleStore(), source_for(binance)
    try:
        report = await download(
            source,
            store,
            ["DOGE/USDT", "BTC/USDT"],
            Timeframe.H1,
            since=SINCE,
            until=datetime(2021, 1, 3, tzinfo=UTC),
            asset_class="crypto",
            backoff_s=0.01,
        )
    finally:
        await source.close()
    doge, btc = report.symbols
    assert not report.ok and report.failed == [doge]
    assert doge.retries == 0 and "binance" in doge.error and "DOGE/USDT" in doge.error
    assert "unknown symbol" in doge.error
    assert btc.ok and btc.inserted == 48


@pytest.mark.shared_data
async def test_an_exchange_that_always_times_out_fails_quickly_after_the_retries(binance):
    binance.fail_always(Fault.STALL)
    source = source_for(binance, timeout_s=0.2)
    started = time.monotonic()
    try:
        report = await download(
            source,
            MemoryCandleStore(),
            ["BTC/USDT", "ETH/USDT"],
            Timeframe.H1,
            since=SINCE,
            until=UNTIL,
            asset_class="crypto",
            retries=2,
            backoff_s=0.01,
        )
    finally:
        await source.close()
    elapsed = time.monotonic() - started
    assert elapsed < 4, elapsed
    assert [s.ok for s in report.symbols] == [False, False]
    for one in report.symbols:
        assert one.retries == 2 and one.inserted == 0
        assert "timed out" in one.error and "gave up after 2 retries" in one.error and one.symbol in one.error


def test_base_url_rebases_every_api_url_and_keeps_paths():
    source = CcxtSource("binance", base_url="http://127.0.0.1:9/proxy/")
    urls = source.api_urls
    assert urls["public"] == "http://127.0.0.1:9/proxy/api/v3"
    assert urls["fapiPublic"] == "http://127.0.0.1:9/proxy/fapi/v1"
    assert all(u.startswith("http://127.0.0.1:9/proxy/") for u in urls.values())
    templated = CcxtSource("bybit", base_url="http://127.0.0.1:9").api_urls
    flat = list(templated.values()) if isinstance(templated, dict) else [templated]
    assert flat and all("{hostname}" not in str(u) and "127.0.0.1:9" in str(u) for u in flat)


def test_unknown_exchange_id_is_a_config_error_listing_valid_ids():
    with pytest.raises(ConfigError, match="binance") as info:
        CcxtSource("binanse")
    assert "Did you mean" in str(info.value)
    with pytest.raises(ConfigError, match="http"):
        CcxtSource("binance", base_url="127.0.0.1:9")


@pytest.mark.shared_data
async def test_cli_pieces_show_progress_and_a_summary(binance):
    settings = SimpleNamespace(
        exchange_base_urls={"binance": binance.base_url},
        http_timeout_s=TIMEOUT_S,
        download_retries=3,
        alpaca_api_key=None,
        alpaca_secret_key=None,
        alpaca_data_url=None,
    )
    source, asset_class = build_source("binance", settings)
    console = Console(record=True, width=150, force_terminal=False)
    store = MemoryCandleStore()
    try:
        report = await download_with_progress(
            source,
            store,
            ["BTC/USDT", "NOPE/USDT"],
            Timeframe.H1,
            since=SINCE,
            until=datetime(2021, 1, 2, tzinfo=UTC),
            asset_class=asset_class,
            retries=1,
            console=console,
            backoff_s=0.01,
        )
    finally:
        await source.close()
    render_report(report, console)
    text = console.export_text()
    assert asset_class == "crypto"
    assert "BTC/USDT" in text and "24/24" in text and "ok" in text
    assert "NOPE/USDT failed" in text and "unknown symbol" in text


def test_run_download_rejects_bad_input_before_touching_the_store():
    settings = SimpleNamespace(
        exchange_base_urls={},
        http_timeout_s=1.0,
        download_retries=0,
        alpaca_api_key=None,
        alpaca_secret_key=None,
        alpaca_data_url=None,
    )
    console = Console(record=True, width=150, force_terminal=False)
    assert run_download("binance", ["BTC/USDT"], "2h", "2021-01-01", None, settings, console=console) == 2
    assert run_download("nosuchex", ["BTC/USDT"], "1h", "2021-01-01", None, settings, console=console) == 2
    assert run_download("alpaca", ["AAPL"], "1d", "2021-01-01", None, settings, console=console) == 2
    text = console.export_text()
    assert "timeframe '2h' is not supported" in text and "unknown exchange id" in text
    assert "TSBOT_ALPACA_API_KEY" in text


@pytest.mark.shared_data
def test_run_download_end_to_end_into_the_configured_store(binance, database_url, tmp_path):
    # database_url (tests/conftest.py) runs this on SQLite and on PostgreSQL.
    settings = load_settings(
        database_url=database_url,
        data_dir=tmp_path,
        exchange_base_urls={"binance": binance.base_url},
        http_timeout_s=TIMEOUT_S,
        download_retries=2,
    )
    console = Console(record=True, width=120, force_terminal=False)
    binance.fail(KLINES, 1, Fault.RATE_LIMIT)
    args = ("binance", ["BTC/USDT", "NOPE/USDT"], "1h", "2021-01-01", "2021-01-03")
    assert run_download(*args, settings, console=console) == 1
    assert (
        run_download("binance", ["BTC/USDT"], "1h", "2021-01-01", "2021-01-03", settings, console=console)
        == 0
    )
    text = console.export_text()
    assert "NOPE/USDT failed" in text and "48 new bars" in text and "0 new bars" in text

    async def load():
        async with open_services(settings) as services:
            return await services.candles.load(SeriesKey("binance", "BTC/USDT", Timeframe.H1))

    frame = asyncio.run(load())
    want = expected(binance, "BTC/USDT", SINCE, datetime(2021, 1, 3, tzinfo=UTC))
    assert np.array_equal(frame.open_time_ms, want[:, 0].astype(np.int64))
    assert np.array_equal(frame.close, want[:, 4]) and np.array_equal(frame.volume, want[:, 5])
