"""Daily equity snapshots written by the monitoring cycle, read back by the performance route, on SQLite and
PostgreSQL.

A portfolio holds 2 BTC on its paper account and 1 BTC on an exchange account (stored fills: nothing asks the
venue). Cycles on a replay clock over two UTC days leave one snapshot per day, each the portfolio valued at the bars
closed by the cycle's time (the day's last cycle wins); ``/performance`` then reports from them.

Bad input tried: a portfolio whose exchange account holds a pair with no stored candles (``NOPE/USDT``): the cycle
reports it in its errors and still writes the other portfolio; a portfolio with no account is not snapshotted.
"""

from __future__ import annotations

import time
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from tests.integration.api.conftest import Serve, sign_in
from tests.integration.api.test_portfolios_api import funded_portfolio, services_of, store_closes

from tsbot.apps.worker.runtime import build_cycle, build_snapshot_writer
from tsbot.trading.models import Fill, Order, OrderRequest, OrderSide, OrderStatus, OrderType
from tsbot.wiring import Services

BASE = "/api/v1/portfolios"
START = datetime(2025, 3, 3, tzinfo=UTC)  # a Monday; bar k opens at START + k hours and closes at 100 + k


async def stored_fill(services: Services, account: str, symbol: str, qty: str, price: str) -> None:
    """A filled buy of ``qty`` ``symbol`` at ``price`` on ``account``, stored as an exchange would have filled it."""
    at = START - timedelta(days=1)
    cid = f"ext-{account}-{symbol}"
    order = Order.new(OrderRequest(cid, account, symbol, OrderSide.BUY, OrderType.MARKET, Decimal(qty)), at)
    assert await services.orders.add(order)
    fill = Fill(f"{cid}-1", cid, symbol, OrderSide.BUY, Decimal(qty), Decimal(price), Decimal(0), "USDT", at)
    order.add_fill(fill)
    order.move(OrderStatus.FILLED, at, "filled at the venue")
    await services.orders.save(order, [fill])


async def test_replayed_cycles_over_two_days_leave_two_snapshots_the_api_reads(serve: Serve) -> None:
    async with serve() as api:
        me = await sign_in(api)
        services = services_of(api)
        await store_closes(services, "BTC/USDT", [100.0 + k for k in range(72)], start=START)
        pid = await funded_portfolio(api, me, usdt="1000")
        bought = await api.client.post(
            "/api/v1/orders",
            json={"portfolio_id": pid, "side": "buy", "symbol": "BTC/USDT", "quantity": "2"},
            headers=me.headers,
        )
        assert bought.status_code == 201 and bought.json()["average_fill_price"] == "171", bought.text
        cash = Decimal(1000) - 2 * Decimal(171) - Decimal("0.342")  # the buy and its 10 bps fee
        await services.portfolios.attach_account(pid, "binance:main", "binance", "crypto")
        await stored_fill(services, "binance:main", "BTC/USDT", "1", "150")
        broken = await services.portfolios.create(me.user.id, "broken", "USDT")
        await services.portfolios.attach_account(broken.id, "binance:lost", "binance", "crypto")
        await stored_fill(services, "binance:lost", "NOPE/USDT", "3", "10")
        bare = await services.portfolios.create(me.user.id, "bare", "USDT")  # no account at all

        # day 1 twice (the later cycle replaces the row), then day 2; prices of the bars closed by each time
        runs = {}
        for hours in (10, 20, 36):
            runs[hours] = await build_cycle(services).run(START + timedelta(hours=hours))
        for hours, summary in runs.items():
            assert summary.snapshots == 1, (hours, summary.error_details)
            assert summary.errors == 1, summary.error_details
            (line,) = summary.error_details
            assert line.startswith("snapshots: portfolio broken") and "NOPE/USDT" in line, line
            assert "binance:lost" in line
        assert await services.portfolios.snapshots(broken.id) == []
        assert await services.portfolios.snapshots(bare.id) == []

        day1, day2 = await services.portfolios.snapshots(pid)
        assert (day1.day, day2.day) == (date(2025, 3, 3), date(2025, 3, 4))
        # 20:00: the bar of 19:00 closed last, at 119; 3 BTC (2 paper + 1 on the exchange account)
        assert day1.equity == cash + 3 * Decimal(119) and day1.cash == cash
        assert day1.positions_value == 3 * Decimal(119)
        assert day1.unrealised_pnl == 2 * (Decimal(119) - 171) + (Decimal(119) - 150)
        assert day1.fees == Decimal("0.342")
        assert day2.equity == cash + 3 * Decimal(135)  # 2025-03-04 12:00: the bar of 11:00 (k = 35)

        shown = await api.client.get(f"{BASE}/{pid}/performance", params={"period": "7d"}, headers=me.headers)
        assert shown.status_code == 200, shown.text
        perf = shown.json()
        assert (
            perf["snapshots"] == 2 and perf["start_day"] == "2025-03-03" and perf["end_day"] == "2025-03-04"
        )
        assert Decimal(perf["start_equity"]) == day1.equity and Decimal(perf["end_equity"]) == day2.equity
        assert perf["return_ratio"] == float(day2.equity / day1.equity - 1)
        assert [Decimal(x["equity"]) for x in perf["series"]] == [day1.equity, day2.equity]


async def test_snapshots_of_twenty_portfolios_stay_cheap(serve: Serve) -> None:
    """The cost per cycle: 20 portfolios with a position each, valued and written in one pass."""
    async with serve() as api:
        me = await sign_in(api)
        services = services_of(api)
        await store_closes(services, "BTC/USDT", [100.0 + k for k in range(72)], start=START)
        for n in range(20):
            pid = await funded_portfolio(api, me, name=f"p{n}", usdt="1000")
            bought = await api.client.post(
                "/api/v1/orders",
                json={"portfolio_id": pid, "side": "buy", "symbol": "BTC/USDT", "quantity": "1"},
                headers=me.headers,
            )
            assert bought.status_code == 201, bought.text
        writer = build_snapshot_writer(services)
        timings = []
        for hours in (10, 20, 30):
            started = time.perf_counter()
            run = await writer.run(START + timedelta(hours=hours))
            timings.append(time.perf_counter() - started)
            assert (run.portfolios, run.written, run.errors) == (20, 20, [])
        print(f"snapshots of 20 portfolios: {[round(t * 1000) for t in timings]} ms per pass")
        assert min(timings) < 2.0, timings
