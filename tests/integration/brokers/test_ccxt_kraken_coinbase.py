"""CcxtBroker on Kraken and on Coinbase (Advanced Trade), against stateful local servers that answer in each venue's
own shapes: market rules, market and limit orders, fills, cancels, open orders, balances, refusals, rate limits,
lost answers and idempotency by client order id, and the credentials each venue needs."""

from __future__ import annotations

import base64
import os
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from decimal import Decimal as D

import aiohttp
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from tests.support.exchange_servers import Fault
from tests.support.fake_coinbase import API as CB_API
from tests.support.fake_coinbase import FakeCoinbase
from tests.support.fake_kraken import CLIENT_ID as KRAKEN_CLIENT_ID
from tests.support.fake_kraken import FakeKraken

from tsbot.adapters.brokers.ccxt_broker import CcxtBroker
from tsbot.adapters.brokers.ccxt_mapping import venue_client_id
from tsbot.core.errors import ExchangeError
from tsbot.core.time import utc_now
from tsbot.trading.models import Order, OrderRejectedError, OrderRequest, OrderSide, OrderStatus, OrderType
from tsbot.trading.orders import client_order_id
from tsbot.trading.service import OrderService
from tsbot.wiring import Services

KRAKEN_KEY = "kraken-key-5Hq2vW8sLr"
# Kraken secrets are base64 (ccxt decodes one to sign); Coinbase CDP keys are a key name and an EC private key
KRAKEN_SECRET = base64.b64encode(os.urandom(64)).decode()
CB_KEY = "organizations/6f1c2a9e-0d4b-4e55-9a7b-1c2d3e4f5a6b/apiKeys/0b9e8d7c-6a5b-4c3d-2e1f-0a9b8c7d6e5f"
CB_PRIVATE = ec.generate_private_key(ec.SECP256R1())  # throwaway: ccxt signs its ES256 JWTs with it


def pem(key: ec.EllipticCurvePrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    ).decode()


@dataclass
class Venue:
    """One fake venue and how to read it: where orders are sent and under which client id."""

    name: str
    server: FakeKraken | FakeCoinbase
    order_path: str

    def broker(
        self, *, api_key: str | None = None, secret: str | None = None, retries: int = 2
    ) -> CcxtBroker:
        kraken = self.name == "kraken"
        broker = CcxtBroker(
            self.name,
            api_key=api_key or (KRAKEN_KEY if kraken else CB_KEY),
            secret=secret or (KRAKEN_SECRET if kraken else pem(CB_PRIVATE)),
            api_urls=self.server.api_urls,
            timeout_s=0.3,
            retries=retries,
            backoff_s=0.01,
        )
        # ccxt paces Kraken at about one request a second; a local server needs no pacing
        broker._exchange.enableRateLimit = False
        return broker

    def orders_of(self, cid: str) -> list[dict[str, object]]:
        """The venue's orders carrying our client id (as this venue was sent it)."""
        return self.server.with_client_id(venue_client_id(self.name, cid))

    def order_id(self, cid: str) -> str:
        """The venue's id of the one order carrying our client id."""
        (row,) = self.orders_of(cid)
        return str(row["id"] if self.name == "kraken" else row["order_id"])

    def sent_ids(self) -> list[object]:
        key = "cl_ord_id" if self.name == "kraken" else "client_order_id"
        return [p.get(key) for p in self.server.sent(self.order_path)]


@pytest.fixture(params=["kraken", "coinbase"])
def venue(request: pytest.FixtureRequest) -> Iterator[Venue]:
    if request.param == "kraken":
        with FakeKraken(api_key=KRAKEN_KEY) as kraken:
            yield Venue("kraken", kraken, "/0/private/AddOrder")
    else:
        with FakeCoinbase(api_key=CB_KEY, public_key=CB_PRIVATE.public_key()) as coinbase:
            yield Venue("coinbase", coinbase, CB_API + "/orders")


@pytest.fixture
async def broker(venue: Venue) -> AsyncIterator[CcxtBroker]:
    b = venue.broker()
    yield b
    await b.close()


def req(
    leg: str, side: OrderSide, kind: OrderType, qty: str, price: str | None = None, **kw: object
) -> OrderRequest:
    return OrderRequest(
        client_order_id("venue:key", "sig-7", leg), "venue:key", "BTC/USD", side, kind, D(qty),
        price=D(price) if price else None, **kw,
    )  # fmt: skip


async def test_market_rules_come_from_each_venues_market_data(venue: Venue, broker: CcxtBroker) -> None:
    rules = await broker.market_rules("BTC/USD")
    got = (rules.tick_size, rules.lot_size, rules.min_qty, rules.min_notional, rules.max_qty)
    if venue.name == "kraken":  # AssetPairs: pair_decimals 1, lot_decimals 8, ordermin, costmin
        assert got == (D("0.1"), D("1E-8"), D("0.00005"), D("0.5"), None)
    else:  # products: price_increment, base_increment, base_min_size, quote_min_size, base_max_size
        assert got == (D("0.01"), D("1E-8"), D("1E-8"), D("1"), D("3400"))
        assert all(path.startswith(CB_API) for _, path, _ in venue.server.requests)  # Advanced Trade only
    with pytest.raises(ExchangeError, match="DOGE/USD"):  # bad input: a market the venue does not list
        await broker.market_rules("DOGE/USD")


async def test_market_buy_fills_at_once_with_the_venues_fee(venue: Venue, broker: CcxtBroker) -> None:
    venue.server.set_price("BTC/USD", "61234.50")
    r = req("entry", OrderSide.BUY, OrderType.MARKET, "0.01")
    order = await broker.place(r)
    assert (order.client_order_id, order.status, order.order_type) == (
        r.client_order_id,
        OrderStatus.FILLED,
        OrderType.MARKET,
    )
    assert (order.qty, order.filled_qty, order.avg_fill_price, order.price) == (
        D("0.01"),
        D("0.01"),
        D("61234.5"),
        None,
    )
    assert order.broker_order_id == venue.order_id(r.client_order_id)
    if venue.name == "kraken":  # 0.40 % taker fee in USD, and the fill from QueryTrades
        assert order.fee == D("2.44938")
        assert [(f.qty, f.price, f.fee, f.fee_currency) for f in order.fills] == [
            (D("0.01"), D("61234.5"), D("2.44938"), "USD")
        ]
        sent = venue.sent_ids()
        assert sent == [venue_client_id("kraken", r.client_order_id)] and KRAKEN_CLIENT_ID.match(str(sent[0]))
    else:  # 0.6 % taker fee; Coinbase orders report cumulative figures, no per-fill list
        assert order.fee == D("3.67407") and order.fills == ()
        (body,) = venue.server.sent(venue.order_path)
        # sent by quantity: ccxt's default (a quote amount) would need a price
        assert body["order_configuration"] == {"market_market_ioc": {"base_size": "0.01"}}
        assert body["client_order_id"] == r.client_order_id
    balances = {b.asset: b for b in await broker.balances()}
    usd = D("10000") - D("612.345") - order.fee
    if venue.name == "kraken":
        usd = usd.quantize(D("0.0001"))  # Kraken keeps USD balances to 4 decimals
    assert balances["BTC"].free == D("0.51") and balances["USD"].free == usd
    assert "ETH" not in balances  # zero balances are left out


async def test_limit_rests_then_fills_partly_and_is_cancelled(venue: Venue, broker: CcxtBroker) -> None:
    r = req("limit", OrderSide.BUY, OrderType.LIMIT, "0.02", "55000")
    placed = await broker.place(r)
    assert (placed.status, placed.price, placed.filled_qty, placed.fills) == (
        OrderStatus.OPEN,
        D(55000),
        0,
        (),
    )
    balances = {b.asset: b for b in await broker.balances()}
    assert (balances["USD"].free, balances["USD"].locked) == (D("8900"), D("1100"))  # 0.02 * 55000 held
    venue.server.fill(venue_client_id(venue.name, r.client_order_id), "0.005")
    got = await broker.fetch_order(r.client_order_id, "BTC/USD")
    assert got is not None and (got.status, got.client_order_id) == (
        OrderStatus.PARTIALLY_FILLED,
        r.client_order_id,
    )
    assert (got.filled_qty, got.avg_fill_price) == (D("0.005"), D("55000"))
    (listed,) = await broker.open_orders()  # read back under our client id, on Kraken too
    assert (listed.client_order_id, listed.status, listed.qty) == (r.client_order_id, got.status, D("0.02"))
    cancelled = await broker.cancel(r.client_order_id, "BTC/USD")
    assert cancelled.status is OrderStatus.CANCELLED and cancelled.filled_qty == D("0.005")
    assert await broker.open_orders("BTC/USD") == []
    balances = {b.asset: b for b in await broker.balances()}
    assert balances["USD"].locked == 0 and balances["BTC"].free == D("0.505")
    cancels = len(venue.server.requests)
    again = await broker.cancel(r.client_order_id, "BTC/USD")  # bad input: cancelling a final order
    assert again.status is OrderStatus.CANCELLED
    assert not any("ancel" in path for _, path, _ in venue.server.requests[cancels:])  # no cancel sent


async def test_unknown_client_id_is_not_found(venue: Venue, broker: CcxtBroker) -> None:
    assert await broker.fetch_order("never-sent-1", "BTC/USD") is None  # bad input: an id the venue never saw
    with pytest.raises(ExchangeError, match="no order with client id never-sent-1"):
        await broker.cancel("never-sent-1", "BTC/USD")


async def test_insufficient_funds_is_rejected_with_the_venues_words(venue: Venue, broker: CcxtBroker) -> None:
    r = req("big", OrderSide.BUY, OrderType.MARKET, "1")  # bad input: 60000 USD of BTC with 10000 USD
    with pytest.raises(OrderRejectedError) as refused:
        await broker.place(r)
    kraken = venue.name == "kraken"
    words = "EOrder:Insufficient funds" if kraken else "Insufficient balance in source account"
    assert words in refused.value.reason and "{" not in refused.value.reason  # the venue's words, not JSON
    assert venue.orders_of(r.client_order_id) == []


async def test_rate_limited_order_is_retried_and_one_order_exists(venue: Venue, broker: CcxtBroker) -> None:
    # bad input: the venue's rate limit on the first send
    venue.server.fail(venue.order_path, 1, Fault.RATE_LIMIT)
    order = await broker.place(req("rl", OrderSide.BUY, OrderType.MARKET, "0.001"))
    assert order.status is OrderStatus.FILLED and order.filled_qty == D("0.001")
    assert venue.server.count(venue.order_path) == 2 and len(venue.orders_of(order.client_order_id)) == 1


async def test_an_answer_lost_after_the_venue_booked_the_order_places_no_second_one(
    venue: Venue, broker: CcxtBroker
) -> None:
    release = venue.server.hold_next_order()  # bad input: booked and filled, but the answer comes too late
    r = req("held", OrderSide.BUY, OrderType.MARKET, "0.002")
    try:
        order = await broker.place(r)
    finally:
        release.set()
    assert venue.server.order_received.is_set() and order.status is OrderStatus.FILLED
    assert len(venue.orders_of(r.client_order_id)) == 1
    # the broker looked the order up before resending (Kraken would take the cl_ord_id of a closed order again)
    assert venue.server.count(venue.order_path) == 1


async def test_the_same_client_id_twice_and_after_a_restart_places_one_order(
    venue: Venue, broker: CcxtBroker
) -> None:
    r = req("dup", OrderSide.BUY, OrderType.MARKET, "0.003")
    first = await broker.place(r)
    again = await broker.place(r)  # bad input: the same order sent twice
    restarted = venue.broker()  # a new process that knows nothing but the client id
    try:
        third = await restarted.place(r)
        found = await restarted.fetch_order(r.client_order_id, "BTC/USD")
    finally:
        await restarted.close()
    assert first.broker_order_id == again.broker_order_id == third.broker_order_id
    assert found is not None and (found.client_order_id, found.status) == (
        r.client_order_id,
        OrderStatus.FILLED,
    )
    assert len(venue.orders_of(r.client_order_id)) == 1
    # the filled order is closed: Kraken would open a second one for a resent cl_ord_id, so none is resent
    assert venue.server.count(venue.order_path) == (1 if venue.name == "kraken" else 3)


async def test_a_restarted_service_reconciles_orders_sent_before_a_crash(
    venue: Venue, services: Services
) -> None:
    # bad input: two orders stored NEW and sent, their answers never recorded (the process died in between)
    resting, filled = (
        req("resting", OrderSide.BUY, OrderType.LIMIT, "0.01", "55000"),
        req("filled", OrderSide.BUY, OrderType.MARKET, "0.001"),
    )
    before = venue.broker()
    try:
        for r in (resting, filled):
            await services.orders.add(Order.new(r, utc_now()))
            await before.place(r)
    finally:
        await before.close()
    restarted = venue.broker()  # knows neither the venue's order ids nor (Kraken) the cl_ord_ids it sent
    try:
        report = await OrderService(services.orders, restarted, "venue:key").reconcile()
    finally:
        await restarted.close()
    assert report.checked == 2 and report.problems == [] and report.unknown_at_venue == []
    assert sorted(report.fixed) == sorted(
        [f"order {resting.client_order_id}: new -> open from the venue",
         f"order {filled.client_order_id}: new -> filled from the venue"]
    )  # fmt: skip
    stored = await services.orders.get(filled.client_order_id)
    assert stored is not None and (stored.filled_qty, stored.avg_fill_price) == (D("0.001"), D("60000"))
    assert stored.broker_order_id == venue.order_id(filled.client_order_id)
    assert venue.server.count(venue.order_path) == 2  # nothing was sent again


async def test_private_calls_need_the_venues_credentials(venue: Venue) -> None:
    if venue.name == "kraken":  # bad input: a key the venue does not know
        bad = venue.broker(api_key="kraken-key-unknown-000")
    else:  # bad input: the right key name, signed with another private key
        bad = venue.broker(secret=pem(ec.generate_private_key(ec.SECP256R1())))
    try:
        with pytest.raises(ExchangeError, match="authentication failed") as failed:
            await bad.balances()
    finally:
        await bad.close()
    assert KRAKEN_SECRET not in str(failed.value) and "PRIVATE KEY" not in str(failed.value)
    if venue.name == "coinbase":
        assert venue.server.auth_failures == ["bad JWT signature"]


async def test_kraken_refuses_tsbots_raw_client_id_so_the_broker_sends_it_uuid_shaped() -> None:
    raw = client_order_id("venue:key", "sig-7", "raw")  # "tsb-" + 32 hex: 36 characters, not a UUID
    assert not KRAKEN_CLIENT_ID.match(raw) and KRAKEN_CLIENT_ID.match(venue_client_id("kraken", raw))
    assert (
        venue_client_id("kraken", raw)
        == venue_client_id("kraken", raw)
        != venue_client_id("kraken", raw + "x")
    )
    assert venue_client_id("binance", raw) == venue_client_id("coinbase", raw) == raw
    with FakeKraken() as kraken:
        form = {"nonce": str(time.time_ns()), "pair": "XXBTZUSD", "type": "buy", "ordertype": "market",
                "volume": "0.01", "cl_ord_id": raw}  # fmt: skip
        headers = {"API-Key": KRAKEN_KEY, "API-Sign": "c2lnbmF0dXJl"}
        url = kraken.base_url + "/0/private/AddOrder"
        async with (  # bad input: the raw id, sent as Kraken's cl_ord_id
            aiohttp.ClientSession() as http,
            http.post(url, data=form, headers=headers) as resp,
        ):
            assert await resp.json() == {"error": ["EGeneral:Invalid arguments"]}
        assert kraken.orders == {}


async def test_kraken_stop_order_is_sent_as_stop_loss_and_rests() -> None:
    with FakeKraken(api_key=KRAKEN_KEY) as kraken:
        broker = Venue("kraken", kraken, "/0/private/AddOrder").broker()
        try:  # ccxt's kraken ignores triggerPrice: a stop sent that way would go out as a plain market order
            stop = await broker.place(
                req("stop", OrderSide.SELL, OrderType.STOP, "0.1", stop_price=D("50000"))
            )
        finally:
            await broker.close()
    (sent,) = kraken.sent("/0/private/AddOrder")
    assert (sent["ordertype"], sent["price"]) == ("stop-loss", "50000")
    assert (stop.status, stop.order_type, stop.stop_price) == (OrderStatus.OPEN, OrderType.STOP, D("50000"))


async def test_market_buy_by_quote_amount(venue: Venue, broker: CcxtBroker) -> None:
    venue.server.set_price("BTC/USD", "50000")
    r = req("by-amount", OrderSide.BUY, OrderType.MARKET, "0.002", quote_qty=D("100"))
    order = await broker.place(r)
    assert order.status is OrderStatus.FILLED
    if venue.name == "coinbase":  # spends the quote amount: Advanced Trade's quote_size
        (body,) = venue.server.sent(venue.order_path)
        assert body["order_configuration"] == {"market_market_ioc": {"quote_size": "100"}}
        assert order.filled_qty == D("0.002")
    else:  # Kraken has no buy by amount: the base quantity the caller estimated goes instead
        assert order.filled_qty == D("0.002")
