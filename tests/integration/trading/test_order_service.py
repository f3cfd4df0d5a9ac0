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
    assert order.status is OrderStatus.OPEN and order.broker_order_id == f"P-{order.client_order_id}"
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
    # a young lost order is sent by reconciliation under its own client id (the signal is not dropped)
    assert report.fixed == [f"order {lost.client_order_id} never reached the venue: sent now"]
    assert [o.client_order_id for o in report.unknown_at_venue] == ["web-12345"]
    assert any("web-12345" in p and "placed elsewhere" in p for p in report.problems)
    stored = await services.orders.get(lost.client_order_id)
    assert stored is not None and stored.status is OrderStatus.OPEN
    assert [o.client_order_id for o in await paper.open_orders()].count(lost.client_order_id) == 1


async def test_a_stale_lost_order_is_cancelled_and_a_straggler_that_arrives_later_is_cancelled_at_the_venue(
    services: Services,
) -> None:
    # the bad case: the order's request was delayed so long that tsbot gave up on it, and then it arrived
    paper = venue()
    now = [T0]

    class DeadLink(CrashAfterSend):
        async def place(self, request: OrderRequest) -> BrokerOrder:
            raise ExchangeUnavailableError("timed out before the venue read it")

    late = buy("late", OrderType.LIMIT, price=D(90))
    with pytest.raises(ExchangeUnavailableError):
        await OrderService(services.orders, DeadLink(paper), ACCOUNT, clock=lambda: T0).submit(late)  # type: ignore[arg-type]
    svc = OrderService(
        services.orders, paper, ACCOUNT, clock=lambda: now[0], resend_within=timedelta(minutes=5)
    )
    now[0] = T0 + timedelta(minutes=12)
    report = await svc.reconcile()
    cid = late.client_order_id
    assert report.fixed == [] and report.problems == [
        f"order {cid}: never reached the venue and was created 12 min ago (over 5 min): not sent, its decision "
        "is stale"
    ]
    stored = await services.orders.get(cid)
    assert stored is not None and stored.status is OrderStatus.CANCELLED and await paper.open_orders() == []
    await paper.place(late)  # the delayed request reaches the venue after all
    report = await svc.reconcile()
    assert report.problems == [
        f"order {cid} is cancelled in tsbot but was open at the venue: cancelled there"
    ]
    assert await paper.open_orders() == [] and report.unknown_at_venue == []
    again = await svc.reconcile()
    assert (again.fixed, again.problems) == ([], [])


async def test_migration_0006_builds_the_order_tables_and_goes_down(database_url: str) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext
    from sqlalchemy import inspect

    from tsbot.adapters.storage.database import create_engine, downgrade, upgrade
    from tsbot.adapters.storage.schema import metadata

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
