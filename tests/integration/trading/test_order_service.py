"""Orders stored before they are sent, on a real database (SQLite file and PostgreSQL), with the paper broker as the
venue: the lifecycle, refusals kept with their reason, a crash between sending and recording, lost and foreign
orders found by reconciliation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal as D

import pytest

from tsbot.core.errors import ExchangeUnavailableError
from tsbot.trading.models import (
    BrokerOrder,
    MarketRules,
    OrderRejectedError,
    OrderRequest,
    OrderSide,
    OrderStatus,
    OrderType,
)
from tsbot.trading.orders import client_order_id
from tsbot.trading.paper import Bar, PaperBroker, PaperCosts
from tsbot.trading.service import OrderService
from tsbot.wiring import Services

T0 = datetime(2026, 3, 2, 10, tzinfo=UTC)
ACCOUNT = "paper:7"
RULES = MarketRules("BTC/USDT", D("0.01"), D("0.0001"), D("0.0001"), D("10"))


def venue() -> PaperBroker:
    b = PaperBroker(
        ACCOUNT, rules={"BTC/USDT": RULES}, balances={"USDT": D(10_000)}, costs=PaperCosts(), clock=lambda: T0
    )
    b.on_candle("BTC/USDT", Bar(T0 - timedelta(hours=1), 100, 101, 99, 100, 5))
    return b


def buy(leg: str, kind: OrderType = OrderType.MARKET, qty: str = "1", **kw: object) -> OrderRequest:
    return OrderRequest(
        client_order_id(ACCOUNT, "sig-1", leg), ACCOUNT, "BTC/USDT", OrderSide.BUY, kind, D(qty), **kw
    )


class CrashAfterSend:
    """The venue receives the order, then the process dies before it reads the answer."""

    def __init__(self, inner: PaperBroker) -> None:
        self.inner = inner
        self.name = inner.name

    def __getattr__(self, item: str) -> object:
        return getattr(self.inner, item)

    async def place(self, request: OrderRequest) -> BrokerOrder:
        await self.inner.place(request)
        raise ExchangeUnavailableError("connection dropped before the acknowledgement was read")


async def test_market_order_lifecycle_is_stored_move_by_move(services: Services) -> None:
    paper = venue()
    svc = OrderService(services.orders, paper, ACCOUNT, clock=lambda: T0)
    order = await svc.submit(buy("entry"))
    assert order.status is OrderStatus.OPEN and order.broker_order_id == "P1"
    paper.on_candle("BTC/USDT", Bar(T0, 102, 103, 101, 102.5, 5))
    report = await svc.reconcile()
    assert report.checked == 1 and report.fixed == [
        f"order {order.client_order_id}: open -> filled from the venue"
    ]
    stored = await services.orders.get(order.client_order_id)
    assert stored is not None and stored.status is OrderStatus.FILLED
    assert [(c.status_from, c.status_to) for c in stored.history] == [
        (None, OrderStatus.NEW),
        (OrderStatus.NEW, OrderStatus.OPEN),
        (OrderStatus.OPEN, OrderStatus.FILLED),
    ]
    fills = await services.orders.fills(order.client_order_id)
    assert [(f.qty, f.price, f.fee) for f in fills] == [(D(1), D("102"), D("0.102"))]
    assert stored.avg_fill_price == D(102) and stored.fees == D("0.102")
    assert await services.orders.working(ACCOUNT) == []


async def test_a_refused_order_is_stored_with_its_reason(services: Services) -> None:
    svc = OrderService(services.orders, venue(), ACCOUNT, clock=lambda: T0)
    tiny = buy("tiny", OrderType.LIMIT, "0.05", price=D(100))  # 5 USDT: below the minimum notional of 10
    with pytest.raises(OrderRejectedError, match="minimum notional"):
        await svc.submit(tiny)
    stored = await services.orders.get(tiny.client_order_id)
    assert stored is not None and stored.status is OrderStatus.REJECTED
    assert "minimum notional" in stored.history[-1].reason


async def test_a_crash_between_send_and_acknowledgement_places_no_duplicate(services: Services) -> None:
    paper = venue()
    crashing = OrderService(services.orders, CrashAfterSend(paper), ACCOUNT, clock=lambda: T0)  # type: ignore[arg-type]
    request = buy("entry", OrderType.LIMIT, price=D(95))
    with pytest.raises(ExchangeUnavailableError):
        await crashing.submit(request)
    stored = await services.orders.get(request.client_order_id)
    assert stored is not None and stored.status is OrderStatus.NEW  # sent, answer never recorded
    restarted = OrderService(services.orders, paper, ACCOUNT, clock=lambda: T0)
    report = await restarted.reconcile()
    assert report.fixed == [f"order {request.client_order_id}: new -> open from the venue"]
    again = await restarted.submit(request)  # the bot retries the same signal
    assert again.status is OrderStatus.OPEN and len(await paper.open_orders()) == 1


async def test_an_order_lost_before_sending_and_a_foreign_venue_order_are_reported(
    services: Services,
) -> None:
    paper = venue()
    svc = OrderService(services.orders, paper, ACCOUNT, clock=lambda: T0)

    class DeadLink(CrashAfterSend):
        async def place(self, request: OrderRequest) -> BrokerOrder:
            raise ExchangeUnavailableError("timed out before the venue read it")

    lost = buy("lost", OrderType.LIMIT, price=D(90))
    with pytest.raises(ExchangeUnavailableError):
        await OrderService(services.orders, DeadLink(paper), ACCOUNT, clock=lambda: T0).submit(lost)  # type: ignore[arg-type]
    foreign = buy("manual", OrderType.LIMIT, price=D(80)).with_(client_order_id="web-12345")
    await paper.place(foreign)
    report = await svc.reconcile()
    assert any("never reached the venue" in p for p in report.problems)
    assert [o.client_order_id for o in report.unknown_at_venue] == ["web-12345"]
    stored = await services.orders.get(lost.client_order_id)
    assert stored is not None and stored.status is OrderStatus.CANCELLED


async def test_migration_0006_builds_the_order_tables_and_goes_down(database_url: str) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext
    from sqlalchemy import inspect

    from tsbot.adapters.storage.database import create_engine, downgrade, upgrade
    from tsbot.adapters.storage.tables import metadata

    engine = create_engine(database_url)
    try:
        await upgrade(engine)
        await downgrade(engine, "0005")
        async with engine.connect() as conn:
            names = set(await conn.run_sync(lambda c: inspect(c).get_table_names()))
        assert not {"orders", "order_events", "order_fills"} & names
        await upgrade(engine)
        async with engine.connect() as conn:
            diffs = await conn.run_sync(
                lambda c: compare_metadata(
                    MigrationContext.configure(c, opts={"compare_type": True}), metadata
                )
            )
        assert [d for d in diffs if "order" in repr(d)] == []  # the migration builds what tables.py declares
    finally:
        await engine.dispose()
