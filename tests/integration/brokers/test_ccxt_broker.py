"""CcxtBroker against a stateful local Binance-shaped server: orders, fills, cancels, balances, rules, retries,
idempotency and credential hygiene; constructor and mapping checks for Kraken and Coinbase."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterator
from decimal import Decimal

import ccxt
import pytest
from tests.support.exchange_servers import Fault
from tests.support.fake_binance import FakeBinance

from tsbot.adapters.brokers.ccxt_broker import CcxtBroker, order_from_ccxt, rules_from_market
from tsbot.core.errors import ExchangeError, ExchangeUnavailableError
from tsbot.trading.models import OrderRejectedError, OrderRequest, OrderSide, OrderStatus, OrderType
from tsbot.trading.orders import client_order_id

ORDER = "/api/v3/order"
API_KEY = "test-api-key-9f2c41d7"
SECRET = "s3cr3t-value-do-not-leak-7b1e"


@pytest.fixture
def venue() -> Iterator[FakeBinance]:
    with FakeBinance(api_key=API_KEY, stall_s=0.6) as server:
        yield server


def make_broker(server: FakeBinance, *, api_key: str = API_KEY, retries: int = 2) -> CcxtBroker:
    return CcxtBroker(
        "binance",
        api_key=api_key,
        secret=SECRET,
        api_urls=server.api_urls,
        timeout_s=0.3,
        retries=retries,
        backoff_s=0.01,
    )


@pytest.fixture
async def broker(venue: FakeBinance) -> AsyncIterator[CcxtBroker]:
    b = make_broker(venue)
    yield b
    await b.close()


def req(
    leg: str, side: OrderSide, kind: OrderType, qty: str, price: str | None = None, symbol: str = "BTC/USDT"
):
    return OrderRequest(
        client_order_id=client_order_id("binance:key", "sig-1", leg),
        account="binance:key",
        symbol=symbol,
        side=side,
        order_type=kind,
        qty=Decimal(qty),
        price=Decimal(price) if price else None,
    )


async def test_market_buy_fills_at_once_with_fills_and_base_commission(venue, broker):
    venue.set_price("BTC/USDT", "61234.56")
    r = req("entry", OrderSide.BUY, OrderType.MARKET, "0.01")
    order = await broker.place(r)
    assert order.status is OrderStatus.FILLED
    assert order.client_order_id == r.client_order_id
    assert order.broker_order_id == str(venue.order_by_client_id(r.client_order_id)["orderId"])
    assert (order.qty, order.filled_qty, order.avg_fill_price) == (
        Decimal("0.01"),
        Decimal("0.01"),
        Decimal("61234.56"),
    )
    assert order.price is None and order.order_type is OrderType.MARKET
    (fill,) = order.fills
    assert (fill.qty, fill.price, fill.fee, fill.fee_currency) == (
        Decimal("0.01"),
        Decimal("61234.56"),
        Decimal("0.00001"),
        "BTC",
    )
    assert order.fee == 0  # the buy's commission is in BTC, not the quote currency
    sent = [p for m, path, p in venue.requests if m == "POST" and path == ORDER]
    assert sent[0]["newClientOrderId"] == r.client_order_id and sent[0]["quantity"] == "0.01"


async def test_market_sell_fee_in_quote_counts_as_order_fee(venue, broker):
    order = await broker.place(req("exit", OrderSide.SELL, OrderType.MARKET, "0.1"))
    assert order.status is OrderStatus.FILLED
    assert order.fee == Decimal("6")  # 0.1 * 60000 * 0.1 %
    assert order.fills[0].fee_currency == "USDT"


async def test_limit_below_market_rests_open_then_partial_fill_is_fetched(venue, broker):
    r = req("limit", OrderSide.BUY, OrderType.LIMIT, "0.02", "55000.00")
    placed = await broker.place(r)
    assert placed.status is OrderStatus.OPEN
    assert (placed.price, placed.filled_qty, placed.avg_fill_price, placed.fills) == (
        Decimal("55000"),
        0,
        None,
        (),
    )
    venue.fill(r.client_order_id, "0.005")
    got = await broker.fetch_order(r.client_order_id, "BTC/USDT")
    assert got is not None and got.status is OrderStatus.PARTIALLY_FILLED
    assert (got.filled_qty, got.avg_fill_price) == (Decimal("0.005"), Decimal("55000"))
    assert [(f.qty, f.price) for f in got.fills] == [(Decimal("0.005"), Decimal("55000"))]
    venue.fill(r.client_order_id, "0.015")
    done = await broker.fetch_order(r.client_order_id, "BTC/USDT")
    assert done.status is OrderStatus.FILLED and done.filled_qty == Decimal("0.02") and len(done.fills) == 2


async def test_cancel_open_order_then_cancel_again_returns_it_unchanged(venue, broker):
    r = req("to-cancel", OrderSide.BUY, OrderType.LIMIT, "0.01", "50000")
    await broker.place(r)
    assert venue.balances["USDT"] == [Decimal("9500"), Decimal("500")]
    cancelled = await broker.cancel(r.client_order_id, "BTC/USDT")
    assert cancelled.status is OrderStatus.CANCELLED and cancelled.client_order_id == r.client_order_id
    assert venue.balances["USDT"] == [Decimal("10000"), Decimal("0")]
    deletes = venue.count(ORDER, "DELETE")
    again = await broker.cancel(r.client_order_id, "BTC/USDT")
    assert again.status is OrderStatus.CANCELLED and venue.count(ORDER, "DELETE") == deletes


async def test_cancel_unknown_client_id_raises_exchange_error(broker):
    with pytest.raises(ExchangeError, match="no order with client id nope-1"):
        await broker.cancel("nope-1", "BTC/USDT")


async def test_open_orders_lists_working_orders_of_all_symbols(venue, broker):
    a = await broker.place(req("a", OrderSide.BUY, OrderType.LIMIT, "0.01", "50000"))
    venue.set_balance("ETH", "2")
    b = await broker.place(req("b", OrderSide.SELL, OrderType.LIMIT, "1", "4000", symbol="ETH/USDT"))
    await broker.place(req("c", OrderSide.BUY, OrderType.MARKET, "0.001"))
    orders = await broker.open_orders()
    assert sorted(o.client_order_id for o in orders) == sorted([a.client_order_id, b.client_order_id])
    only_eth = await broker.open_orders("ETH/USDT")
    assert [(o.symbol, o.side, o.price) for o in only_eth] == [("ETH/USDT", OrderSide.SELL, Decimal("4000"))]


async def test_balances_report_free_and_locked_and_skip_zero_assets(venue, broker):
    await broker.place(req("lock", OrderSide.SELL, OrderType.LIMIT, "0.1", "70000"))
    balances = {b.asset: b for b in await broker.balances()}
    assert set(balances) == {"BTC", "USDT"}  # ETH is zero
    assert (balances["BTC"].free, balances["BTC"].locked) == (Decimal("0.4"), Decimal("0.1"))
    assert balances["USDT"].total == Decimal("10000")
    assert await broker.positions() == []


async def test_market_rules_come_from_exchange_filters(broker):
    rules = await broker.market_rules("BTC/USDT")
    assert (rules.symbol, rules.tick_size, rules.lot_size) == (
        "BTC/USDT",
        Decimal("0.01"),
        Decimal("0.00001"),
    )
    assert (rules.min_qty, rules.min_notional, rules.max_qty) == (
        Decimal("0.00001"),
        Decimal("5"),
        Decimal("9000"),
    )


async def test_market_rules_of_unknown_symbol_doge_raise_exchange_error(broker):
    with pytest.raises(ExchangeError, match="DOGE/USDT"):
        await broker.market_rules("DOGE/USDT")


async def test_duplicate_client_id_returns_existing_order_without_a_second_one(venue, broker):
    r = req("dup", OrderSide.BUY, OrderType.LIMIT, "0.01", "50000")
    first = await broker.place(r)
    again = await broker.place(r)
    assert again.broker_order_id == first.broker_order_id and again.status is OrderStatus.OPEN
    assert len(venue.orders) == 1 and venue.count(ORDER, "POST") == 2
    fresh = make_broker(venue)  # a restarted process knows nothing but the client id
    try:
        third = await fresh.place(r)
    finally:
        await fresh.close()
    assert third.broker_order_id == first.broker_order_id and len(venue.orders) == 1


async def test_429_on_place_is_retried_and_one_order_exists(venue, broker):
    venue.fail(ORDER, 1, Fault.RATE_LIMIT)
    order = await broker.place(req("rl", OrderSide.BUY, OrderType.MARKET, "0.001"))
    assert order.status is OrderStatus.FILLED
    assert venue.count(ORDER, "POST") == 2 and len(venue.orders) == 1


async def test_500_on_place_is_retried_and_one_order_exists(venue, broker):
    venue.fail(ORDER, 1, Fault.SERVER_ERROR)
    order = await broker.place(req("5xx", OrderSide.BUY, OrderType.MARKET, "0.001"))
    assert order.status is OrderStatus.FILLED and len(venue.orders) == 1


async def test_answer_lost_after_venue_recorded_order_retry_returns_it(venue, broker):
    release = venue.hold_next_order()  # first POST is recorded, its answer never arrives in time
    r = req("held", OrderSide.BUY, OrderType.LIMIT, "0.01", "50000")
    try:
        order = await broker.place(r)
    finally:
        release.set()
    assert venue.order_received.is_set()
    assert order.status is OrderStatus.OPEN and len(venue.orders) == 1
    assert order.broker_order_id == str(venue.order_by_client_id(r.client_order_id)["orderId"])


async def test_stalled_venue_raises_unavailable_after_retries(venue, broker):
    await broker.market_rules("BTC/USDT")
    for n in (1, 2, 3):
        venue.fail(ORDER, n, Fault.STALL)
    with pytest.raises(ExchangeUnavailableError, match="after 3 attempts"):
        await broker.place(req("stall", OrderSide.BUY, OrderType.MARKET, "0.001"))
    assert venue.count(ORDER, "POST") == 3


async def test_insufficient_balance_rejected_with_venue_message(venue, broker):
    with pytest.raises(OrderRejectedError) as info:
        await broker.place(req("big", OrderSide.BUY, OrderType.MARKET, "1"))  # 60000 USDT > 10000
    assert "Account has insufficient balance for requested action." in info.value.reason
    assert venue.orders == {}


async def test_notional_below_filter_rejected_with_venue_message(broker):
    with pytest.raises(OrderRejectedError, match="Filter failure: NOTIONAL"):
        await broker.place(req("tiny", OrderSide.BUY, OrderType.LIMIT, "0.00001", "100"))


async def test_fetch_unknown_client_id_returns_none(broker):
    assert await broker.fetch_order("never-sent-1", "BTC/USDT") is None


async def test_secrets_never_leak_on_auth_error_or_timeout(venue, caplog):
    caplog.set_level(logging.DEBUG)
    texts: list[str] = []
    bad = make_broker(venue, api_key="wrong-key-" + SECRET[:4] + "x9q")
    try:
        with pytest.raises(ExchangeError) as auth:
            await bad.balances()
        texts += [str(auth.value), repr(auth.value), repr(bad), str(auth.value.__cause__)]
        assert "authentication failed" in str(auth.value)
    finally:
        await bad.close()
    good = make_broker(venue, retries=1)
    try:
        await good.market_rules("BTC/USDT")
        seen = venue.count("/api/v3/account")
        venue.fail("/api/v3/account", seen + 1, Fault.STALL)
        venue.fail("/api/v3/account", seen + 2, Fault.STALL)
        with pytest.raises(ExchangeUnavailableError) as slow:
            await good.balances()
        texts += [str(slow.value), repr(slow.value), repr(good), str(slow.value.__cause__)]
    finally:
        await good.close()
    texts.append(caplog.text)
    assert "retry in" in caplog.text and "X-MBX-APIKEY': '***'" in caplog.text  # ccxt's header log, redacted
    for text in texts:
        assert SECRET not in text and API_KEY not in text


def test_unsupported_exchange_bybit_lists_supported():
    with pytest.raises(ExchangeError, match="binance, coinbase, kraken"):
        CcxtBroker("bybit", api_key="k", secret="s")


@pytest.mark.parametrize("exchange_id", ["kraken", "coinbase", "binance"])
async def test_each_venue_builds_with_sandbox_or_url_override(exchange_id):
    urls = {"public": "http://127.0.0.1:9/public", "private": "http://127.0.0.1:9/private"}
    b = CcxtBroker(exchange_id, api_key="key-12345", secret="c2VjcmV0LTEyMzQ1", api_urls=urls, name="acct")
    try:
        assert (
            b.name == "acct"
            and b.api_urls["public"] == urls["public"]
            and b.api_urls["private"] == urls["private"]
        )
        assert "c2VjcmV0LTEyMzQ1" not in repr(b)
    finally:
        await b.close()
    if exchange_id == "binance":  # kraken and coinbase have no sandbox in ccxt
        s = CcxtBroker(exchange_id, api_key="key-12345", secret="secret-12345", sandbox=True)
        try:
            assert "testnet" in s.api_urls["public"]
        finally:
            await s.close()
    else:
        with pytest.raises(ExchangeError, match="no sandbox"):
            CcxtBroker(exchange_id, api_key="key-12345", secret="secret-12345", sandbox=True)


def test_kraken_unified_partially_filled_stop_limit_maps():
    data = {
        "id": "OQCLML-BW3P3-BUCMWZ",
        "clientOrderId": "tsb-abc",
        "timestamp": 1_700_000_000_000,
        "lastTradeTimestamp": 1_700_000_060_000,
        "symbol": "BTC/USD",
        "type": "stop-loss-limit",
        "side": "sell",
        "price": 39000.1,
        "triggerPrice": 39500.0,
        "amount": 0.5,
        "filled": 0.2,
        "average": 39010.5,
        "status": "open",
        "fee": {"cost": 1.56, "currency": "USD"},
        "trades": [],
    }
    o = order_from_ccxt(data, symbol="BTC/USD")
    assert (o.status, o.order_type, o.side) == (
        OrderStatus.PARTIALLY_FILLED,
        OrderType.STOP_LIMIT,
        OrderSide.SELL,
    )
    assert (o.qty, o.filled_qty, o.avg_fill_price) == (Decimal("0.5"), Decimal("0.2"), Decimal("39010.5"))
    assert (o.price, o.stop_price, o.fee) == (Decimal("39000.1"), Decimal("39500.0"), Decimal("1.56"))
    assert o.updated_at is not None and o.updated_at.year == 2023


@pytest.mark.parametrize(
    ("status", "filled", "expected"),
    [
        ("open", 0, OrderStatus.OPEN),
        ("open", 1, OrderStatus.PARTIALLY_FILLED),
        ("closed", 2, OrderStatus.FILLED),
        ("canceled", 1, OrderStatus.CANCELLED),
        ("rejected", 0, OrderStatus.REJECTED),
        ("expired", 0, OrderStatus.EXPIRED),
    ],
)
def test_coinbase_unified_status_maps(status, filled, expected):
    data = {
        "id": "9bc1eb3b-5b46-4b71-9628-ae2ed0cca75b",
        "clientOrderId": "tsb-cb1",
        "symbol": "ETH/USD",
        "type": "limit",
        "side": "buy",
        "price": 2000.01,
        "amount": 2.0,
        "filled": filled,
        "average": 1999.99 if filled else None,
        "status": status,
    }
    o = order_from_ccxt(data, symbol="ETH/USD")
    assert o.status is expected and o.filled_qty == Decimal(str(filled)) and o.price == Decimal("2000.01")


def test_rules_from_market_in_decimal_places_mode():
    market = {
        "symbol": "XBT/EUR",
        "precision": {"price": 1, "amount": 8},
        "limits": {"amount": {"min": 0.0001, "max": None}, "cost": {"min": 0.5}},
    }
    rules = rules_from_market(market, ccxt.DECIMAL_PLACES)
    assert (rules.tick_size, rules.lot_size) == (Decimal("0.1"), Decimal("1E-8"))
    assert (rules.min_qty, rules.min_notional, rules.max_qty) == (Decimal("0.0001"), Decimal("0.5"), None)


async def test_market_buy_by_quote_amount_goes_as_quote_order_qty(venue, broker):
    venue.set_price("BTC/USDT", "50000")
    r = req("by-amount", OrderSide.BUY, OrderType.MARKET, "0.003").with_(quote_qty=Decimal("105"))
    order = await broker.place(r)
    (sent,) = [p for m, path, p in venue.requests if m == "POST" and path == ORDER]
    assert sent["quoteOrderQty"] == "105" and "quantity" not in sent
    # the venue sets the quantity: 105 / 50000 rounded down to the lot, not the caller's estimate of 0.003
    assert order.status is OrderStatus.FILLED and order.filled_qty == Decimal("0.0021")
