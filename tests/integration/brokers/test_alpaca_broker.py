"""AlpacaBroker through alpaca-py against a stateful local Alpaca trading API: orders, account, rules, faults."""

from __future__ import annotations

import logging
import socket
import threading
import time
import traceback
import uuid
from collections.abc import AsyncIterator, Iterator
from decimal import Decimal

import pytest
from structlog.testing import capture_logs
from tests.support.fake_alpaca import FakeAlpaca, Fault

from tsbot.adapters.brokers.alpaca_broker import AlpacaBroker
from tsbot.core.enums import AssetClass
from tsbot.core.errors import ConfigError, ExchangeError, ExchangeUnavailableError
from tsbot.trading.models import (
    Balance,
    BrokerPosition,
    OrderRejectedError,
    OrderRequest,
    OrderSide,
    OrderStatus,
    OrderType,
)
from tsbot.trading.orders import client_order_id

KEY = "PKTESTKEYID7Q2W9E4R1"
SECRET = "sEcReT-9f8e7d6c5b4a3f2e1d0c9b8a7f6e5d4c"
ORDERS = "/v2/orders"


@pytest.fixture
def fake() -> Iterator[FakeAlpaca]:
    with FakeAlpaca(api_key=KEY, secret=SECRET, stall_s=1.0) as server:
        yield server


def make_broker(fake: FakeAlpaca, *, api_key: str = KEY, secret: str = SECRET, **kw: object) -> AlpacaBroker:
    options: dict[str, object] = {"timeout_s": 0.3, "retries": 2, "backoff_s": 0.01} | kw
    return AlpacaBroker(api_key=api_key, secret=secret, base_url=fake.base_url, **options)  # type: ignore[arg-type]


@pytest.fixture
async def broker(fake: FakeAlpaca) -> AsyncIterator[AlpacaBroker]:
    b = make_broker(fake)
    yield b
    await b.close()


def req(
    leg: str,
    side: OrderSide = OrderSide.BUY,
    order_type: OrderType = OrderType.MARKET,
    qty: str = "3",
    *,
    symbol: str = "AAPL/USD",
    price: str | None = None,
    stop: str | None = None,
) -> OrderRequest:
    return OrderRequest(
        client_order_id=client_order_id("alpaca:test", leg),
        account="alpaca:test",
        symbol=symbol,
        side=side,
        order_type=order_type,
        qty=Decimal(qty),
        price=Decimal(price) if price else None,
        stop_price=Decimal(stop) if stop else None,
    )


def posted(fake: FakeAlpaca) -> list[dict[str, object]]:
    return [body for method, path, body in fake.requests if method == "POST" and path == ORDERS]


async def test_market_order_fills_at_the_set_price_and_books_cash(fake, broker):
    fake.set_price("AAPL", Decimal("190.25"))
    request = req("market")
    order = await broker.place(request)
    assert order.status is OrderStatus.FILLED
    assert (order.qty, order.filled_qty, order.avg_fill_price) == (Decimal(3), Decimal(3), Decimal("190.25"))
    assert order.client_order_id == request.client_order_id and order.symbol == "AAPL/USD"
    assert order.side is OrderSide.BUY and order.order_type is OrderType.MARKET
    assert uuid.UUID(order.broker_order_id) and order.updated_at is not None and order.updated_at.tzinfo
    assert order.fee == 0 and order.price is None
    [body] = posted(fake)
    assert body == {
        "symbol": "AAPL",
        "qty": "3",
        "side": "buy",
        "type": "market",
        "time_in_force": "day",
        "client_order_id": request.client_order_id,
    }
    assert fake.cash == Decimal("100000") - Decimal("570.75")


async def test_limit_order_rests_open_with_exact_decimal_prices(fake, broker):
    request = req("limit", order_type=OrderType.LIMIT, qty="10", price="180.10")
    order = await broker.place(request)
    assert order.status is OrderStatus.OPEN and fake.order(request.client_order_id)["status"] == "new"
    assert order.price == Decimal("180.10") and order.filled_qty == 0 and order.avg_fill_price is None
    assert posted(fake)[0]["limit_price"] == "180.1"
    fetched = await broker.fetch_order(request.client_order_id, "AAPL/USD")
    assert fetched == order


async def test_stop_limit_sends_both_prices_and_accepted_market_reads_open(fake, broker):
    stop_limit = req("sl", OrderSide.SELL, OrderType.STOP_LIMIT, "2", price="170.00", stop="171.50")
    order = await broker.place(stop_limit)
    assert (order.order_type, order.price, order.stop_price) == (
        OrderType.STOP_LIMIT,
        Decimal(170),
        Decimal("171.5"),
    )
    assert posted(fake)[0]["stop_price"] == "171.5" and posted(fake)[0]["limit_price"] == "170"
    fake.fill_market = False
    waiting = await broker.place(req("accepted"))
    assert fake.order(waiting.client_order_id)["status"] == "accepted"
    assert waiting.status is OrderStatus.OPEN


async def test_partial_fill_then_complete_fill(fake, broker):
    request = req("partial", order_type=OrderType.LIMIT, qty="10", price="185.00")
    await broker.place(request)
    fake.fill(request.client_order_id, Decimal(4), Decimal("184.90"))
    part = await broker.fetch_order(request.client_order_id, "AAPL/USD")
    assert part.status is OrderStatus.PARTIALLY_FILLED
    assert (part.filled_qty, part.avg_fill_price) == (Decimal(4), Decimal("184.90"))
    assert [o.client_order_id for o in await broker.open_orders("AAPL/USD")] == [request.client_order_id]

    fake.fill(request.client_order_id, Decimal(6), Decimal("185.00"))
    done = await broker.fetch_order(request.client_order_id, "AAPL/USD")
    assert done.status is OrderStatus.FILLED and done.filled_qty == 10
    assert done.avg_fill_price == (4 * Decimal("184.90") + 6 * Decimal("185.00")) / 10
    assert await broker.open_orders() == []


async def test_cancel_working_order_then_cancel_again_returns_it_unchanged(fake, broker):
    request = req("cancel", order_type=OrderType.LIMIT, qty="5", price="150.00")
    await broker.place(request)
    cancelled = await broker.cancel(request.client_order_id, "AAPL/USD")
    assert (
        cancelled.status is OrderStatus.CANCELLED
        and fake.order(request.client_order_id)["status"] == "canceled"
    )
    again = await broker.cancel(request.client_order_id, "AAPL/USD")
    assert again.status is OrderStatus.CANCELLED
    order_path = f"{ORDERS}/{cancelled.broker_order_id}"
    assert fake.count(order_path, "DELETE") == 1  # a final order is not cancelled twice


async def test_cancel_filled_order_returns_it_filled_and_unknown_order_raises(fake, broker):
    filled = await broker.place(req("filled"))
    assert (await broker.cancel(filled.client_order_id, "AAPL/USD")).status is OrderStatus.FILLED
    with pytest.raises(ExchangeError, match="no order with client id 'never-sent'"):
        await broker.cancel("never-sent", "AAPL/USD")


async def test_cancel_of_an_order_that_filled_meanwhile_returns_the_fill(fake, broker):
    request = req("race", order_type=OrderType.LIMIT, qty="2", price="150.00")
    order = await broker.place(request)
    order_path = f"{ORDERS}/{order.broker_order_id}"
    # The first DELETE stalls past the timeout; the order fills meanwhile, so the retried DELETE answers 422.
    fake.fail(order_path, 1, Fault.STALL, method="DELETE")
    timer = threading.Timer(0.15, fake.fill, args=(request.client_order_id,))
    timer.start()
    try:
        result = await broker.cancel(request.client_order_id, "AAPL/USD")
    finally:
        timer.join()
    assert result.status is OrderStatus.FILLED and result.filled_qty == 2
    assert fake.count(order_path, "DELETE") == 2


async def test_open_orders_of_one_symbol_or_all_exclude_final_orders(fake, broker):
    a = await broker.place(req("o1", order_type=OrderType.LIMIT, qty="1", price="100.00"))
    b = await broker.place(req("o2", OrderSide.SELL, OrderType.LIMIT, "7", symbol="SNDL/USD", price="0.9000"))
    await broker.place(req("o3"))  # market: filled, not open
    c = await broker.place(req("o4", order_type=OrderType.STOP, qty="1", stop="200.00"))
    await broker.cancel(c.client_order_id, "AAPL/USD")
    assert {o.client_order_id for o in await broker.open_orders()} == {a.client_order_id, b.client_order_id}
    [only] = await broker.open_orders("SNDL/USD")
    assert (
        only.client_order_id == b.client_order_id
        and only.price == Decimal("0.9")
        and only.side is OrderSide.SELL
    )
    assert (
        "GET",
        ORDERS,
        {"status": "open", "limit": "500", "direction": "asc", "symbols": "SNDL"},
    ) in fake.requests


@pytest.mark.parametrize(
    ("alpaca_status", "expected"),
    [
        ("pending_new", OrderStatus.OPEN),
        ("accepted", OrderStatus.OPEN),
        ("pending_cancel", OrderStatus.OPEN),
        ("done_for_day", OrderStatus.EXPIRED),
        ("expired", OrderStatus.EXPIRED),
        ("rejected", OrderStatus.REJECTED),
        ("replaced", OrderStatus.CANCELLED),
    ],
)
async def test_alpaca_status_maps_to_ours(fake, broker, alpaca_status, expected):
    request = req(f"status-{alpaca_status}", order_type=OrderType.LIMIT, qty="1", price="100.00")
    await broker.place(request)
    fake.set_status(request.client_order_id, alpaca_status)
    assert (await broker.fetch_order(request.client_order_id, "AAPL/USD")).status is expected


async def test_balances_are_the_account_cash_in_usd(fake, broker):
    assert await broker.balances() == [Balance("USD", Decimal("100000"))]
    fake.set_price("AAPL", Decimal("187.37"))
    await broker.place(req("bal", qty="2"))
    assert await broker.balances() == [Balance("USD", Decimal("99625.26"))]
    fake.cash = Decimal(0)
    assert await broker.balances() == []


async def test_positions_have_signed_quantities_short_negative(fake, broker):
    await broker.place(req("long", qty="5"))
    await broker.place(req("short", OrderSide.SELL, qty="1000", symbol="SNDL/USD"))
    assert await broker.positions() == [
        BrokerPosition("AAPL/USD", Decimal(5), Decimal("187.5")),
        BrokerPosition("SNDL/USD", Decimal(-1000), Decimal("0.8421")),
    ]


async def test_market_rules_from_the_asset(fake, broker):
    aapl = await broker.market_rules("AAPL/USD")
    assert (aapl.symbol, aapl.tick_size, aapl.lot_size, aapl.min_qty) == (
        "AAPL/USD",
        Decimal("0.01"),
        Decimal("0.000000001"),
        Decimal("0.000000001"),
    )
    assert aapl.min_notional == 1 and aapl.shortable and aapl.asset_class is AssetClass.STOCK
    brk = await broker.market_rules("BRK.A/USD")
    assert (brk.lot_size, brk.min_notional, brk.shortable) == (Decimal(1), Decimal(0), False)
    assert (await broker.market_rules("SNDL/USD", reference_price=Decimal("0.84"))).tick_size == Decimal(
        "0.0001"
    )
    with pytest.raises(ExchangeError, match="alpaca knows no stock 'ZZZZ'"):
        await broker.market_rules("ZZZZ/USD")
    with pytest.raises(ExchangeError, match="quoted in USDT"):
        await broker.market_rules("AAPL/USDT")


async def test_fractional_market_order_is_sent_as_exact_text_and_fractional_limit_is_refused(fake, broker):
    order = await broker.place(req("frac", qty="0.123456789"))
    assert posted(fake)[0]["qty"] == "0.123456789" and order.filled_qty == Decimal("0.123456789")
    with pytest.raises(OrderRejectedError, match="only as market day orders"):
        await broker.place(req("frac-limit", order_type=OrderType.LIMIT, qty="0.5", price="180.00"))
    assert len(posted(fake)) == 1


async def test_duplicate_client_order_id_returns_the_existing_order(fake, broker):
    request = req("dup", order_type=OrderType.LIMIT, qty="4", price="181.00")
    first = await broker.place(request)
    second = await broker.place(request.with_(qty=Decimal(9)))
    assert second.broker_order_id == first.broker_order_id and second.qty == 4
    assert len(posted(fake)) == 2 and len(fake.orders) == 1


async def test_500_then_success_places_one_order(fake, broker):
    fake.fail(ORDERS, 1, Fault.SERVER_ERROR, method="POST")
    order = await broker.place(req("after-500"))
    assert order.status is OrderStatus.FILLED
    assert fake.count(ORDERS, "POST") == 2 and len(fake.orders) == 1


async def test_429_then_success_with_a_logged_retry(fake, broker):
    fake.fail("/v2/positions", 1, Fault.RATE_LIMIT)
    fake.fail(ORDERS, 1, Fault.RATE_LIMIT, method="POST")
    with capture_logs() as logs:
        await broker.place(req("after-429"))
        assert len(await broker.positions()) == 1
    assert fake.count("/v2/positions") == 2 and len(fake.orders) == 1
    retries = [e for e in logs if e["event"] == "alpaca_retry"]
    assert [(e["status"], e["error"], e["attempt"]) for e in retries] == [(429, "rate limit exceeded", 1)] * 2


async def test_stalled_order_post_is_retried_without_a_second_order(fake, broker):
    fake.fail(ORDERS, 1, Fault.STALL, method="POST")
    order = await broker.place(req("stalled"))
    assert order.status is OrderStatus.FILLED
    time.sleep(fake.stall_s)  # the stalled request now reaches the venue: refused as a duplicate
    assert fake.count(ORDERS, "POST") == 2 and len(fake.orders) == 1


async def test_timeouts_exhaust_retries_into_exchange_unavailable(fake, broker):
    fake.fail_always(Fault.STALL)
    started = time.monotonic()
    with pytest.raises(
        ExchangeUnavailableError, match=r"alpaca account: request timed out \(after 2 retries\)"
    ):
        await broker.balances()
    assert time.monotonic() - started < 2 and fake.count("/v2/account") == 3


async def test_500_every_time_becomes_exchange_unavailable_after_retries(fake, broker):
    fake.fail_always(Fault.SERVER_ERROR)
    with pytest.raises(ExchangeUnavailableError, match="HTTP 500: internal server error occurred"):
        await broker.place(req("always-500"))
    assert fake.count(ORDERS, "POST") == 3


async def test_insufficient_buying_power_is_an_order_rejection_with_alpacas_message(fake, broker):
    fake.cash = Decimal("1000")
    with pytest.raises(OrderRejectedError) as info:
        await broker.place(req("too-big", qty="100"))
    assert info.value.reason == "alpaca rejected the order: insufficient buying power"
    assert fake.orders == {} and fake.count(ORDERS, "POST") == 1  # a refusal is not retried


async def test_sub_penny_price_422_is_an_order_rejection(fake, broker):
    with pytest.raises(OrderRejectedError, match="sub-penny increment"):
        await broker.place(req("subpenny", order_type=OrderType.LIMIT, qty="1", price="187.123"))


async def test_unknown_client_order_id_fetches_none(broker):
    assert await broker.fetch_order("tsb-never-sent-0000", "AAPL/USD") is None


async def test_wrong_secret_401_is_an_exchange_error_not_retried(fake):
    broker = make_broker(fake, secret="wrong-secret-value")
    with pytest.raises(ExchangeError, match="HTTP 401: request is not authorized") as info:
        await broker.balances()
    assert not isinstance(info.value, ExchangeUnavailableError) and fake.count("/v2/account") == 1
    await broker.close()


async def test_constructor_refuses_missing_keys_and_bad_numbers(fake):
    with pytest.raises(ConfigError, match="API key id and secret"):
        AlpacaBroker(api_key="", secret=SECRET)
    with pytest.raises(ConfigError, match="timeout_s"):
        AlpacaBroker(api_key=KEY, secret=SECRET, timeout_s=0)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def test_keys_never_leak_into_errors_reprs_or_logs(fake, caplog):
    """Every failure path (401 with unknown keys, 403, 422, 404, timeouts, 500s, refused connection) is raised and
    logged without the key id or the secret, and the broker's repr shows neither."""
    bad_key, bad_secret = "PKLEAKCHECKKEY5V8B2N", "leak-check-secret-3x7y9z"
    caplog.set_level(logging.DEBUG)
    errors: list[BaseException] = []
    with capture_logs() as logs:
        wrong = make_broker(fake, api_key=bad_key, secret=bad_secret)
        with pytest.raises(ExchangeError) as info:
            await wrong.place(req("leak-401"))
        errors.append(info.value)
        refused = AlpacaBroker(
            api_key=KEY, secret=SECRET, base_url=f"http://127.0.0.1:{_free_port()}", retries=1, backoff_s=0.01
        )
        with pytest.raises(ExchangeUnavailableError) as info:
            await refused.positions()
        errors.append(info.value)
        broker = make_broker(fake)
        fake.cash = Decimal(1)
        for request in (req("leak-403"), req("leak-422", order_type=OrderType.LIMIT, qty="1", price="1.234")):
            with pytest.raises(OrderRejectedError) as info:
                await broker.place(request)
            errors.append(info.value)
        with pytest.raises(ExchangeError) as info:
            await broker.market_rules("NOPE/USD")
        errors.append(info.value)
        for fault in (Fault.STALL, Fault.SERVER_ERROR, Fault.RATE_LIMIT):
            fake.fail_always(fault)
            with pytest.raises(ExchangeUnavailableError) as info:
                await broker.balances()
            errors.append(info.value)
        fake.fail_always(None)
        for b in (wrong, refused, broker):
            await b.close()

    shown = [repr(broker), str(broker), repr(wrong), str(wrong), caplog.text, repr(logs)]
    for exc in errors:
        shown += [str(exc), repr(exc), "".join(traceback.format_exception(exc))]
        assert exc.__cause__ is None
    assert len(errors) == 8 and "401" in str(errors[0]) and "timed out" in str(errors[5])
    assert any(e["event"] == "alpaca_retry" for e in logs)
    for text in shown:
        for secret in (KEY, SECRET, bad_key, bad_secret):
            assert secret not in text
    assert repr(broker) == f"AlpacaBroker(name='alpaca', paper=True, base_url='{fake.base_url}')"
