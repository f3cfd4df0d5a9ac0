"""New candles fetched by the cycle on the live clock (:class:`tsbot.apps.worker.refreshers.ExchangeCandleRefresher`),
from a local Binance-shaped server serving real candles; a dead exchange is reported and the cycle goes on."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from tests.fakes.memory_candle_store import MemoryCandleStore
from tests.support.exchange_servers import BinanceServer

from tsbot.adapters.exchanges.ccxt_source import CcxtSource
from tsbot.apps.worker.refreshers import CATCH_UP_BARS, ExchangeCandleRefresher
from tsbot.config import Settings, load_settings
from tsbot.core.enums import AssetClass
from tsbot.core.errors import ConfigError
from tsbot.market.models import CandleFrame, SeriesKey, Timeframe
from tsbot.wiring import build_source

BTC = SeriesKey("binance", "BTC/USDT", Timeframe.H1)
ETH = SeriesKey("binance", "ETH/USDT", Timeframe.H1)


@pytest.fixture
def binance() -> Iterator[BinanceServer]:
    with BinanceServer(("BTC/USDT", "ETH/USDT"), stall_s=1.0) as server:
        yield server


def settings_for(server: BinanceServer | None) -> Settings:
    urls = {"binance": server.base_url} if server is not None else {"binance": "http://127.0.0.1:9"}
    return load_settings(exchange_base_urls=urls, http_timeout_s=2)


def local_source(exchange: str, settings: Settings):  # type: ignore[no-untyped-def]
    if exchange != "binance":
        return build_source(exchange, settings)
    url = settings.exchange_base_urls["binance"]
    return CcxtSource("binance", base_url=url, timeout_s=2, enable_rate_limit=False), AssetClass.CRYPTO


async def seed(store: MemoryCandleStore, server: BinanceServer, key: SeriesKey, upto: int) -> None:
    rows = server.candles(key.symbol)[:upto]
    frame = CandleFrame(
        rows[:, 0].astype("int64"), rows[:, 1], rows[:, 2], rows[:, 3], rows[:, 4], rows[:, 5]
    )
    await store.upsert(key, "crypto", frame)


@pytest.mark.shared_data
async def test_the_refresh_fetches_what_closed_since_the_last_stored_bar(binance: BinanceServer) -> None:
    store = MemoryCandleStore()
    rows = binance.candles("BTC/USDT")
    await seed(store, binance, BTC, len(rows) - 30)
    await seed(store, binance, ETH, len(binance.candles("ETH/USDT")) - 5)
    now = datetime.fromtimestamp(rows[-1, 0] / 1000 + 7_200, UTC)  # the last served bar closed an hour ago
    refresher = ExchangeCandleRefresher(
        lambda: settings_for(binance), store, build=local_source, backoff_s=0.01
    )
    try:
        failed = await refresher.refresh([BTC, ETH], now)
        assert failed == {}
        btc = await store.load(BTC)
        assert int(btc.open_time_ms[-1]) == int(rows[-1, 0]) and len(btc) == len(rows)
        assert len(await store.load(ETH)) == len(binance.candles("ETH/USDT"))
        assert await refresher.refresh([BTC], now) == {}  # nothing new: nothing fails
    finally:
        await refresher.close()
    assert CATCH_UP_BARS >= 30


@pytest.mark.shared_data
async def test_a_dead_exchange_and_an_unknown_one_are_reported_per_series(binance: BinanceServer) -> None:
    """Bad input: an exchange that refuses connections, and an exchange id ccxt does not know."""
    store = MemoryCandleStore()
    await seed(store, binance, BTC, 100)
    now = datetime(2030, 1, 1, tzinfo=UTC)
    dead = ExchangeCandleRefresher(lambda: settings_for(None), store, build=local_source, backoff_s=0.01)
    unknown = SeriesKey("no-such-exchange", "BTC/USDT", Timeframe.H1)
    try:
        failed = await dead.refresh([BTC, unknown], now)
    finally:
        await dead.close()
    assert set(failed) == {BTC, unknown}
    assert failed[BTC] and "no-such-exchange" in failed[unknown]
    assert len(await store.load(BTC)) == 100  # nothing lost
    with pytest.raises(ConfigError):
        build_source("no-such-exchange", settings_for(None))
