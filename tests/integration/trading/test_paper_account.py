"""Paper accounts that outlive the process, on a real database (SQLite file and PostgreSQL): balances rebuilt from
the ledger and the stored fills, resting orders worked against the candles that closed while nothing ran, and the
refusals a trader meets (funds, a sell of more than is held, a bad withdrawal)."""

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
from tsbot.trading.paper import Bar
from tsbot.trading.paper_account import PaperDesk
from tsbot.wiring import Services

T0 = datetime(2026, 3, 2, 10, tzinfo=UTC)
HOUR = timedelta(hours=1)
ACCOUNT = "paper:desk-test"
RULES = {"BTC/USDT": MarketRules("BTC/USDT", D("0.01"), D("0.0001"), D("0.0001"), D("10"))}


class Clock:
    def __init__(self, at: datetime) -> None:
        self.at = at

    def __call__(self) -> datetime:
        return self.at


def bar(open_at: datetime, o: float, h: float, lo: float, c: float) -> Bar:
    return Bar(open_at, o, h, lo, c, 10.0)


def order(leg: str, side: OrderSide, kind: OrderType, qty: str, price: str | None = None) -> OrderRequest:
    return OrderRequest(
        client_order_id(ACCOUNT, "manual", leg),
        ACCOUNT,
        "BTC/USDT",
        side,
        kind,
        D(qty),
        price=D(price) if price else None,
    )


async def desk(services: Services, clock: Clock, last: Bar) -> PaperDesk:
    return await PaperDesk.open(
        ACCOUNT,
        ledger=services.paper_ledger(),
        store=services.orders,
        rules=RULES,
        last_bars={"BTC/USDT": last},
        clock=clock,
    )


def balances(found: list) -> dict[str, tuple[D, D]]:
    return {b.asset: (b.free, b.locked) for b in found}


async def test_balances_and_resting_orders_survive_a_restart(services: Services) -> None:
    clock = Clock(T0 + HOUR)
    first_bar = bar(T0, 100, 101, 99, 100)
    first = await desk(services, clock, first_bar)
    await first.deposit("usdt", D("10000"))
    bought = await first.place(order("buy", OrderSide.BUY, OrderType.MARKET, "1"))
    assert bought.status is OrderStatus.FILLED and bought.avg_fill_price == D(100)  # the last close
    clock.at = T0 + HOUR + timedelta(minutes=30)  # placed in the middle of the 11:00 bar
    resting = await first.place(order("dip", OrderSide.BUY, OrderType.LIMIT, "2", "90"))
    assert resting.status is OrderStatus.OPEN

    # the process stops; two bars close while nothing runs; a new process opens the same account
    clock.at = T0 + 3 * HOUR
    second = await desk(services, clock, first_bar)
    assert second.working == [resting.client_order_id]
    assert balances(await second.balances()) == {
        "BTC": (D(1), D(0)),
        "USDT": (D("9719.9"), D(180)),  # 10000 - 100 - 0.1 fee held; 2 x 90 of it reserved by the resting buy
    }
    # the 11:00 bar opened before the order was placed: its low of 85 must not fill it; the 12:00 bar does
    fills = await second.work(
        {"BTC/USDT": [bar(T0 + HOUR, 100, 100, 85, 95), bar(T0 + 2 * HOUR, 95, 96, 89, 92)]}
    )
    assert [(f.client_order_id, f.qty, f.price, f.filled_at) for f in fills] == [
        (resting.client_order_id, D(2), D(90), T0 + 2 * HOUR)
    ]
    stored = await services.orders.get(resting.client_order_id)
    assert stored is not None and stored.status is OrderStatus.FILLED and stored.fees == D("0.18")

    third = await desk(services, clock, bar(T0 + 2 * HOUR, 95, 96, 89, 92))
    assert third.working == []
    assert balances(await third.balances()) == {"BTC": (D(3), D(0)), "USDT": (D("9719.72"), D(0))}
    more = await third.place(order("buy-2", OrderSide.BUY, OrderType.MARKET, "1"))
    assert more.avg_fill_price == D(92)  # the restored last close, not a stale one
    fills = await services.orders.fills(more.client_order_id)
    assert [f.fill_id for f in fills] == ["PF3"]  # numbering goes on after the two earlier fills


async def test_refusals_keep_the_account_unchanged(services: Services) -> None:
    clock = Clock(T0 + HOUR)
    account = await desk(services, clock, bar(T0, 100, 101, 99, 100))
    await account.deposit("USDT", D("500"))
    # bad input: a sell of more than is held
    with pytest.raises(OrderRejectedError, match="holds 0 BTC"):
        await account.place(order("short", OrderSide.SELL, OrderType.MARKET, "1"))
    # bad input: a buy the cash cannot pay for
    with pytest.raises(OrderRejectedError, match="not enough USDT"):
        await account.place(order("too-big", OrderSide.BUY, OrderType.MARKET, "6"))
    # bad input: withdrawing more than is free, a negative deposit, a zero withdrawal
    with pytest.raises(OrderRejectedError, match="500 USDT is free"):
        await account.withdraw("USDT", D("600"))
    with pytest.raises(OrderRejectedError, match="positive"):
        await account.deposit("USDT", D("-5"))
    with pytest.raises(OrderRejectedError, match="positive"):
        await account.withdraw("USDT", D("0"))
    # bad input: cancelling an order this account never placed
    with pytest.raises(OrderRejectedError, match="no order"):
        await account.cancel("tsb-0000")
    await account.withdraw("USDT", D("200"))
    again = await desk(services, clock, bar(T0, 100, 101, 99, 100))
    assert balances(await again.balances()) == {"USDT": (D(300), D(0))}
    short = await services.orders.get(order("short", OrderSide.SELL, OrderType.MARKET, "1").client_order_id)
    assert (
        short is not None
        and short.status is OrderStatus.REJECTED
        and "holds 0 BTC" in short.history[-1].reason
    )


async def test_a_cancelled_resting_order_frees_its_cash_after_a_restart(services: Services) -> None:
    clock = Clock(T0 + HOUR)
    account = await desk(services, clock, bar(T0, 100, 101, 99, 100))
    await account.deposit("USDT", D("1000"))
    resting = await account.place(order("dip", OrderSide.BUY, OrderType.LIMIT, "5", "80"))
    restarted = await desk(services, clock, bar(T0, 100, 101, 99, 100))
    cancelled = await restarted.cancel(resting.client_order_id)
    assert cancelled.status is OrderStatus.CANCELLED
    assert balances(await restarted.balances()) == {"USDT": (D(1000), D(0))}
    assert (await desk(services, clock, bar(T0, 100, 101, 99, 100))).working == []


def wallet(found: list) -> dict[str, tuple[D, D, D]]:
    return {b.asset: (b.free, b.locked, b.total) for b in found}


async def test_resting_orders_reserve_their_cash_once_before_and_after_a_rebuild(services: Services) -> None:
    clock = Clock(T0 + HOUR)
    last = bar(T0, 100, 101, 99, 100)
    first = await desk(services, clock, last)
    await first.deposit("USDT", D("1100.1"))
    await first.place(order("buy", OrderSide.BUY, OrderType.MARKET, "1"))  # 100 + 0.1 fee: 1000 USDT left
    dip = await first.place(order("dip", OrderSide.BUY, OrderType.LIMIT, "0.5", "100"))
    assert dip.status is OrderStatus.OPEN  # no bar has worked it yet
    ask = await first.place(order("ask", OrderSide.SELL, OrderType.LIMIT, "0.4", "150"))
    assert ask.status is OrderStatus.OPEN
    # the buy reserves 0.5 x 100 of the 1000 USDT held; the sell takes its BTC when it fills (checked then)
    expected = {"BTC": (D(1), D(0), D(1)), "USDT": (D(950), D(50), D(1000))}
    assert wallet(await first.balances()) == expected

    rebuilt = await desk(services, clock, last)
    assert sorted(rebuilt.working) == sorted([dip.client_order_id, ask.client_order_id])
    assert wallet(await rebuilt.balances()) == expected  # not 1050 USDT: the reserve is counted once
    # bad input: withdrawing the reserved cash, or more BTC than is held, is refused on the rebuilt desk
    with pytest.raises(OrderRejectedError, match="950 USDT is free"):
        await rebuilt.withdraw("USDT", D("950.01"))
    with pytest.raises(OrderRejectedError, match="1 BTC is free"):
        await rebuilt.withdraw("BTC", D("1.5"))
    # bad input: a buy the free cash cannot pay for (the reserved 50 is not free)
    with pytest.raises(OrderRejectedError, match="950.00 is free"):
        await rebuilt.place(order("big", OrderSide.BUY, OrderType.LIMIT, "10", "99"))
    await rebuilt.withdraw("USDT", D(900))
    assert wallet(await rebuilt.balances())["USDT"] == (D(50), D(50), D(100))

    again = await desk(services, clock, last)
    assert wallet(await again.balances()) == {"BTC": (D(1), D(0), D(1)), "USDT": (D(50), D(50), D(100))}
    cancelled = await again.cancel(dip.client_order_id)
    assert cancelled.status is OrderStatus.CANCELLED
    assert wallet(await again.balances())["USDT"] == (D(100), D(0), D(100))
