"""Client order ids, rounding to tick and lot sizes, pre-send checks, and the order lifecycle."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal as D

import pytest

from tsbot.trading.models import (
    Fill,
    InvalidTransitionError,
    MarketRules,
    Order,
    OrderRejectedError,
    OrderRequest,
    OrderSide,
    OrderStatus,
    OrderType,
)
from tsbot.trading.orders import client_order_id, prepare_order, round_to_step, valid_client_order_id

RULES = MarketRules("ETH/USDT", D("0.01"), D("0.001"), D("0.001"), D("5"), max_qty=D(100))
NOW = datetime(2026, 11, 21, 12, tzinfo=UTC)


def req(**kw: object) -> OrderRequest:
    base: dict[str, object] = {
        "client_order_id": client_order_id("acct", "sig-1", "entry"),
        "account": "acct",
        "symbol": "ETH/USDT",
        "side": OrderSide.BUY,
        "order_type": OrderType.LIMIT,
        "qty": D("0.5"),
        "price": D(3000),
    }
    base.update(kw)
    return OrderRequest(**base)  # type: ignore[arg-type]


def test_client_order_ids_are_deterministic_short_and_differ_per_leg() -> None:
    a = client_order_id("paper:1", "bot-7", "signal-42", "entry")
    assert a == client_order_id("paper:1", "bot-7", "signal-42", "entry")
    assert a != client_order_id("paper:1", "bot-7", "signal-42", "tp1")
    assert len(a) == 36 and valid_client_order_id(a)
    with pytest.raises(ValueError, match="at least one part"):
        client_order_id()
    with pytest.raises(ValueError, match="prefix"):
        client_order_id("x", prefix="bad prefix")


def test_rounding_to_steps() -> None:
    assert round_to_step(D("1.23456"), D("0.001")) == D("1.234")
    assert round_to_step(D("1.23401"), D("0.001"), up=True) == D("1.235")
    assert round_to_step(D(17), D(5)) == D(15)
    assert round_to_step(D("1.5"), D(0)) == D("1.5")


def test_prepare_rounds_quantity_down_and_prices_to_the_passive_side() -> None:
    buy = prepare_order(req(qty=D("0.12345"), price=D("3000.006")), RULES, None)
    assert (buy.qty, buy.price) == (D("0.123"), D("3000.00"))
    sell = prepare_order(req(side=OrderSide.SELL, price=D("3000.001")), RULES, None)
    assert sell.price == D("3000.01")
    stop = prepare_order(req(order_type=OrderType.STOP, price=None, stop_price=D("2900.001")), RULES, None)
    assert stop.stop_price == D("2900.01") and stop.price is None  # a buy stop never triggers earlier


@pytest.mark.parametrize(
    ("bad", "changes", "reference", "match"),
    [
        ("a negative quantity", {"qty": D(-1)}, None, "quantity must be positive"),
        ("a zero quantity", {"qty": D(0)}, None, "quantity must be positive"),
        ("a quantity under one lot", {"qty": D("0.0004")}, None, "below the minimum"),
        ("a quantity over the maximum", {"qty": D(101)}, None, "above the maximum"),
        ("a market order under the minimum notional", {"order_type": OrderType.MARKET, "price": None,
                                                         "qty": D("0.001")}, D(3000), "minimum notional"),
        ("a negative price", {"price": D(-5)}, None, "must be positive"),
        ("a stop-limit without its trigger", {"order_type": OrderType.STOP_LIMIT}, None, "needs a stop price"),
        ("another market's rules", {"symbol": "BTC/USDT"}, None, "market rules are for ETH/USDT"),
        ("a client id with spaces", {"client_order_id": "has spaces"}, None, "client order id"),
        ("a price below one tick", {"price": D("0.001")}, None, "below one tick"),
    ],
)  # fmt: skip
def test_bad_orders_are_refused_before_sending(
    bad: str, changes: dict[str, object], reference: D | None, match: str
) -> None:
    with pytest.raises(OrderRejectedError, match=match) as info:
        prepare_order(req(**changes), RULES, reference)
    assert info.value.reason, bad


def test_reduce_only_orders_skip_the_minimum_notional() -> None:
    closing = prepare_order(req(side=OrderSide.SELL, qty=D("0.001"), reduce_only=True), RULES, None)
    assert closing.qty == D("0.001")


def test_lifecycle_records_every_move_and_refuses_going_back() -> None:
    order = Order(req())
    assert order.move(OrderStatus.OPEN, NOW, "acknowledged")
    order.add_fill(
        Fill("t1", order.client_order_id, "ETH/USDT", OrderSide.BUY, D("0.2"), D(2990), D("0.6"), "USDT", NOW)
    )
    order.move(OrderStatus.PARTIALLY_FILLED, NOW, "0.2 filled")
    order.add_fill(
        Fill("t2", order.client_order_id, "ETH/USDT", OrderSide.BUY, D("0.3"), D(3000), D("0.9"), "USDT", NOW)
    )
    order.move(OrderStatus.FILLED, NOW, "filled")
    assert order.avg_fill_price == D(2996) and order.fees == D("1.5") and order.remaining_qty == 0
    assert [c.status_to for c in order.history] == [
        OrderStatus.OPEN, OrderStatus.PARTIALLY_FILLED, OrderStatus.FILLED
    ]  # fmt: skip
    assert not order.move(OrderStatus.FILLED, NOW, "again")  # no change, nothing recorded
    with pytest.raises(InvalidTransitionError, match="filled to open"):
        order.move(OrderStatus.OPEN, NOW, "reopen")
    with pytest.raises(InvalidTransitionError, match="exceed"):
        order.add_fill(
            Fill("t3", order.client_order_id, "ETH/USDT", OrderSide.BUY, D("0.1"), D(1), D(0), "USDT", NOW)
        )


def test_fees_in_the_base_asset_count_at_the_fill_price_and_third_asset_fees_stay_on_the_fill() -> None:
    # the bad case: a Binance buy charges its fee in ETH, another in BNB; neither is a USDT amount
    order = Order(req())
    order.add_fill(
        Fill(
            "t1", order.client_order_id, "ETH/USDT", OrderSide.BUY, D("0.2"), D(3000), D("0.0002"), "ETH", NOW
        )
    )
    assert order.fees == D("0.6")  # 0.0002 ETH at 3000
    order.add_fill(
        Fill(
            "t2", order.client_order_id, "ETH/USDT", OrderSide.BUY, D("0.1"), D(3000), D("0.0005"), "BNB", NOW
        )
    )
    assert order.fees == D("0.6") and order.filled_qty == D("0.3")
