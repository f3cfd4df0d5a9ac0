"""The live bots' order rules (:mod:`tsbot.monitor.live_bots`): no position opened on a stale decision, and a buy's
fee charged in the base asset taken out of what the bot holds."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from tsbot.core.time import utc_now
from tsbot.monitor.bot_account import MutableClock
from tsbot.monitor.live_bots import LiveOrderService, net_of_base_fee
from tsbot.trading.memory import MemoryOrderStore
from tsbot.trading.models import (
    Balance,
    BrokerOrder,
    BrokerPosition,
    Fill,
    MarketRules,
    OrderRejectedError,
    OrderRequest,
    OrderSide,
    OrderStatus,
    OrderType,
)

ACCOUNT = "binance:key-1"
RULES = MarketRules("BTC/USDT", Decimal("0.01"), Decimal("0.00001"), Decimal("0.00001"), Decimal(5))


class AcceptingBroker:
    """A venue that takes every order (our Broker port), keeping what it was sent."""

    name = "venue"

    def __init__(self) -> None:
        self.placed: list[OrderRequest] = []

    async def market_rules(self, symbol: str) -> MarketRules:
        return RULES

    async def place(self, request: OrderRequest) -> BrokerOrder:
        self.placed.append(request)
        return BrokerOrder(
            request.client_order_id, f"v{len(self.placed)}", request.symbol, request.side, request.order_type,
            OrderStatus.OPEN, request.qty, Decimal(0), None, request.price,
        )  # fmt: skip

    async def cancel(self, client_order_id: str, symbol: str) -> BrokerOrder:
        raise AssertionError("not used")

    async def fetch_order(self, client_order_id: str, symbol: str) -> BrokerOrder | None:
        return None

    async def open_orders(self, symbol: str | None = None) -> list[BrokerOrder]:
        return []

    async def balances(self) -> list[Balance]:
        return []

    async def positions(self) -> list[BrokerPosition]:
        return []

    async def close(self) -> None:
        return None


def limit(cid: str, side: OrderSide = OrderSide.BUY, *, reduce_only: bool = False) -> OrderRequest:
    return OrderRequest(
        cid, ACCOUNT, "BTC/USDT", side, OrderType.LIMIT, Decimal("0.001"), price=Decimal("60000"),
        reduce_only=reduce_only,
    )  # fmt: skip


def service(store: MemoryOrderStore, broker: AcceptingBroker, decided_at: datetime) -> LiveOrderService:
    return LiveOrderService(
        store, broker, ACCOUNT, decided_at=MutableClock(decided_at), fresh_within=timedelta(minutes=61)
    )


async def test_a_stale_decision_opens_nothing_but_still_closes_and_finds_what_was_sent() -> None:
    """Bad input: an entry decided on a bar that closed two hours ago."""
    store, broker = MemoryOrderStore(), AcceptingBroker()
    fresh = service(store, broker, utc_now() - timedelta(minutes=30))
    sent = await fresh.submit(limit("tsb-fresh"))
    assert sent.status is OrderStatus.OPEN and len(broker.placed) == 1

    stale = service(store, broker, utc_now() - timedelta(hours=2))
    with pytest.raises(OrderRejectedError, match="too late to open a live position"):
        await stale.submit(limit("tsb-stale"))
    assert await store.get("tsb-stale") is None and len(broker.placed) == 1

    exit_order = await stale.submit(limit("tsb-exit", OrderSide.SELL, reduce_only=True))
    assert exit_order.status is OrderStatus.OPEN and len(broker.placed) == 2  # exits are always sent

    again = await stale.submit(limit("tsb-fresh"))  # a repeated cycle: the stored order, not a refusal
    assert again.client_order_id == "tsb-fresh" and len(broker.placed) == 2


def fill(side: OrderSide, qty: str, fee: str, fee_currency: str) -> Fill:
    return Fill(
        "t1", "tsb-1", "BTC/USDT", side, Decimal(qty), Decimal("60000"), Decimal(fee), fee_currency,
        datetime(2024, 1, 1, tzinfo=UTC),
    )  # fmt: skip


def test_a_buy_fee_in_the_base_asset_comes_out_of_the_quantity_at_the_same_cost() -> None:
    raw = fill(OrderSide.BUY, "0.01666", "0.00001666", "BTC")
    net = net_of_base_fee(raw, RULES.lot_size)
    assert net.qty == Decimal("0.01664") and net.price == raw.price and net.fee_currency == "USDT"
    assert net.qty * net.price + net.fee == raw.qty * raw.price  # the cost is unchanged
    quote_fee = fill(OrderSide.BUY, "0.01666", "0.99", "USDT")
    sell = fill(OrderSide.SELL, "0.01666", "0.00001666", "BTC")
    assert net_of_base_fee(quote_fee, RULES.lot_size) is quote_fee
    assert net_of_base_fee(sell, RULES.lot_size) is sell
