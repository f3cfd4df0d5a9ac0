"""The paper broker: fills from candles with the backtest engine's rules, spot balances, brackets, refusals."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal as D

import pytest

from tsbot.trading.models import (
    MarketRules,
    OrderRejectedError,
    OrderRequest,
    OrderSide,
    OrderStatus,
    OrderType,
)
from tsbot.trading.orders import client_order_id
from tsbot.trading.paper import Bar, PaperBroker, PaperCosts

T0 = datetime(2026, 1, 5, tzinfo=UTC)
H = timedelta(hours=1)
RULES = MarketRules("BTC/USDT", D("0.01"), D("0.0001"), D("0.0001"), D("10"))
ACCOUNT = "paper:1"


def broker(**costs: object) -> PaperBroker:
    c = PaperCosts(**{"taker_fee_bps": D(10), "maker_fee_bps": D(5), "slippage_bps": D(0), **costs})
    return PaperBroker(
        ACCOUNT, rules={"BTC/USDT": RULES}, balances={"USDT": D(10_000)}, costs=c, clock=lambda: T0
    )


def order(leg: str, side: OrderSide, kind: OrderType, qty: str, **kw: object) -> OrderRequest:
    return OrderRequest(client_order_id(ACCOUNT, leg), ACCOUNT, "BTC/USDT", side, kind, D(qty), **kw)


def bar(i: int, o: float, h: float, lo: float, c: float, v: float = 1.0) -> Bar:
    return Bar(T0 + i * H, o, h, lo, c, v)


async def balance(b: PaperBroker, asset: str) -> D:
    return next((x.total for x in await b.balances() if x.asset == asset), D(0))


async def test_market_order_fills_at_the_next_open_with_slippage_and_taker_fee() -> None:
    b = broker(slippage_bps=D(10))
    b.on_candle("BTC/USDT", bar(0, 100, 101, 99, 100))
    ack = await b.place(order("e", OrderSide.BUY, OrderType.MARKET, "10"))
    assert ack.status is OrderStatus.OPEN and ack.filled_qty == 0
    fills = b.on_candle("BTC/USDT", bar(1, 200, 210, 190, 205))
    assert [(f.qty, f.price) for f in fills] == [(D(10), D("200.2"))]
    assert fills[0].fee == D("2.002")  # 10 bps of 2,002
    assert await balance(b, "USDT") == D(10_000) - D("2002") - D("2.002")
    assert await balance(b, "BTC") == D(10)
    got = await b.fetch_order(ack.client_order_id, "BTC/USDT")
    assert got is not None and got.status is OrderStatus.FILLED and got.avg_fill_price == D("200.2")
    assert [h.status_to for h in b._orders[ack.client_order_id].history] == [
        OrderStatus.OPEN,
        OrderStatus.FILLED,
    ]


async def test_fill_at_close_fills_at_once_at_the_last_close() -> None:
    b = broker(fill_at_close=True)
    b.on_candle("BTC/USDT", bar(0, 100, 101, 99, 100.5))
    ack = await b.place(order("e", OrderSide.BUY, OrderType.MARKET, "1"))
    assert ack.status is OrderStatus.FILLED and ack.avg_fill_price == D("100.5")


async def test_limit_buy_fills_at_the_better_open_on_a_gap_and_at_its_price_when_touched() -> None:
    b = broker()
    b.on_candle("BTC/USDT", bar(0, 100, 101, 99, 100))
    gap = await b.place(order("gap", OrderSide.BUY, OrderType.LIMIT, "1", price=D(95)))
    touch = await b.place(order("touch", OrderSide.BUY, OrderType.LIMIT, "1", price=D("89.5")))
    fills = b.on_candle("BTC/USDT", bar(1, 90, 92, 89, 91))
    by_id = {f.client_order_id: f for f in fills}
    assert by_id[gap.client_order_id].price == D(90)  # opened below the limit
    assert by_id[touch.client_order_id].price == D("89.5")
    assert by_id[touch.client_order_id].fee == D("89.5") * D(5) / D(10_000)  # maker


async def test_stop_buy_triggers_at_max_of_open_and_stop() -> None:
    b = broker()
    b.on_candle("BTC/USDT", bar(0, 100, 101, 99, 100))
    stop = await b.place(order("s", OrderSide.BUY, OrderType.STOP, "1", stop_price=D(105)))
    assert b.on_candle("BTC/USDT", bar(1, 100, 104, 99, 103)) == []
    fills = b.on_candle("BTC/USDT", bar(2, 103, 108, 102, 107))
    assert [(f.client_order_id, f.price) for f in fills] == [(stop.client_order_id, D(105))]


async def test_bracket_legs_take_profit_shrinks_the_stop_and_the_stop_wins_a_bar_that_touches_both() -> None:
    b = broker(taker_fee_bps=D(0), maker_fee_bps=D(0))
    b.on_candle("BTC/USDT", bar(0, 100, 101, 99, 100))
    entry = await b.place(order("e", OrderSide.BUY, OrderType.MARKET, "2"))
    eid = entry.client_order_id
    leg = {"reduce_only": True, "parent_id": eid, "oco_group": eid}
    tp1 = await b.place(order("tp1", OrderSide.SELL, OrderType.LIMIT, "1", price=D(110), **leg))
    tp2 = await b.place(order("tp2", OrderSide.SELL, OrderType.LIMIT, "1", price=D(120), **leg))
    sl = await b.place(order("sl", OrderSide.SELL, OrderType.STOP, "2", stop_price=D(95), **leg))
    b.on_candle("BTC/USDT", bar(1, 100, 111, 99, 108))  # entry at 100, first target in the same bar
    assert (await b.fetch_order(tp1.client_order_id, "BTC/USDT")).status is OrderStatus.FILLED  # type: ignore[union-attr]
    assert b._orders[sl.client_order_id].request.qty == D(1)  # the stop now covers what is left
    fills = b.on_candle("BTC/USDT", bar(2, 108, 121, 94, 100))  # touches the stop and the second target
    assert [(f.client_order_id, f.price) for f in fills] == [(sl.client_order_id, D(95))]
    assert (await b.fetch_order(tp2.client_order_id, "BTC/USDT")).status is OrderStatus.CANCELLED  # type: ignore[union-attr]
    assert await balance(b, "BTC") == 0
    assert await balance(b, "USDT") == D(10_000) - D(200) + D(110) + D(95)


async def test_the_same_client_id_twice_places_one_order() -> None:
    b = broker()
    b.on_candle("BTC/USDT", bar(0, 100, 101, 99, 100))
    first = await b.place(order("e", OrderSide.BUY, OrderType.LIMIT, "1", price=D(90)))
    again = await b.place(order("e", OrderSide.BUY, OrderType.LIMIT, "1", price=D(90)))
    assert again.broker_order_id == first.broker_order_id and len(await b.open_orders()) == 1


async def test_a_bar_with_a_nan_price_or_no_volume_fills_nothing() -> None:
    b = broker()
    b.on_candle("BTC/USDT", bar(0, 100, 101, 99, 100))
    await b.place(order("e", OrderSide.BUY, OrderType.MARKET, "1"))
    assert b.on_candle("BTC/USDT", bar(1, float("nan"), 101, 99, 100)) == []
    assert b.on_candle("BTC/USDT", bar(2, 100, 101, 99, 100, v=0.0)) == []
    assert len(b.on_candle("BTC/USDT", bar(3, 100, 101, 99, 100))) == 1


async def test_limit_price_off_the_tick_rounds_towards_the_passive_side() -> None:
    b = broker()
    buy = await b.place(order("b", OrderSide.BUY, OrderType.LIMIT, "1", price=D("90.129")))
    assert buy.price == D("90.12")


@pytest.mark.parametrize(
    ("bad", "request_", "match"),
    [
        (
            "below the minimum notional",
            order("a", OrderSide.BUY, OrderType.LIMIT, "0.05", price=D(100)),
            "minimum notional",
        ),
        (
            "a negative quantity",
            order("b", OrderSide.BUY, OrderType.LIMIT, "-1", price=D(100)),
            "must be positive",
        ),
        (
            "a sell of more than is held",
            order("c", OrderSide.SELL, OrderType.LIMIT, "1", price=D(100)),
            "holds 0",
        ),
        (
            "more than the cash",
            order("d", OrderSide.BUY, OrderType.LIMIT, "1000", price=D(100)),
            "not enough USDT",
        ),
        (
            "a limit order without a price",
            order("e", OrderSide.BUY, OrderType.LIMIT, "1"),
            "needs a limit price",
        ),
    ],
)
async def test_bad_orders_are_refused_with_a_reason(bad: str, request_: OrderRequest, match: str) -> None:
    b = broker()
    with pytest.raises(OrderRejectedError, match=match):
        await b.place(request_)
    assert await b.open_orders() == [], bad


async def test_a_plain_sell_whose_coins_went_to_an_earlier_sell_is_cancelled_at_fill_time() -> None:
    b = broker()
    b.on_candle("BTC/USDT", bar(0, 100, 101, 99, 100))
    await b.place(order("e", OrderSide.BUY, OrderType.MARKET, "1"))
    b.on_candle("BTC/USDT", bar(1, 100, 101, 99, 100))
    first = await b.place(order("s1", OrderSide.SELL, OrderType.LIMIT, "1", price=D(105)))
    second = await b.place(
        order("s2", OrderSide.SELL, OrderType.LIMIT, "1", price=D(106))
    )  # both fit at placement
    fills = b.on_candle("BTC/USDT", bar(2, 104, 110, 103, 108))
    assert [f.client_order_id for f in fills] == [first.client_order_id]
    rejected = await b.fetch_order(second.client_order_id, "BTC/USDT")
    assert (
        rejected is not None and rejected.status is OrderStatus.CANCELLED
    )  # accepted earlier: cancelled, not rejected
    assert "not enough BTC at fill time" in rejected.reason
    assert await balance(b, "BTC") == 0
