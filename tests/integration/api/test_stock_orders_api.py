"""Paper orders on US stocks through the order routes, over the bundled AAPL daily candles, on SQLite and
PostgreSQL: a stock trades as ``<TICKER>/USD`` (the symbol the dashboard's order form sends for a stock of the
market overview), priced by the stored stock series of the ticker, in fractional shares, paid in USD; it is placed
only in the NYSE's regular session (the rule bots follow), and held, it is labelled ``stock``.

The clock of orders placed by hand is fixed (``services.clock``): a Wednesday 11:00 New York time unless a test
says otherwise, with the NYSE calendar of 2025.

Bad input tried: the bare ticker (``AAPL``, not BASE/QUOTE), a stock quoted in another currency (``AAPL/USDT``), a
quantity below the smallest lot (0.00001 share), a buy of a stock from a portfolio holding only USDT; a stock order
on a Saturday, at 03:00 New York time on a weekday, on a NYSE holiday (4 July 2025), and a limit order at night.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from tests.integration.api.conftest import Api, Caller, Serve, sign_in
from tests.integration.api.test_api_errors import assert_error
from tests.integration.api.test_portfolios_api import funded_portfolio, services_of, store_closes

from tsbot.adapters.bundled import bundled_series, read_bundled_rows
from tsbot.market.service import import_candles
from tsbot.trading.market_hours import MarketHours

ORDERS = "/api/v1/orders"
PORTFOLIOS = "/api/v1/portfolios"
NEW_YORK = ZoneInfo("America/New_York")
IN_SESSION = datetime(2025, 3, 5, 11, tzinfo=NEW_YORK)  # a Wednesday, 11:00 in New York


def clock_at(api: Api, at: datetime) -> None:
    """Orders placed by hand from now on are placed at ``at`` (NYSE hours of 2025)."""
    services = services_of(api)
    if services.stock_hours_built is None:
        services.stock_hours_built = MarketHours("XNYS", date(2025, 1, 1), date(2025, 12, 31))
    services.clock = lambda: at


async def store_aapl(api: Api, bars: int = 30) -> Decimal:
    """The newest ``bars`` bundled AAPL daily candles stored as the stock series ``AAPL``; returns the last close."""
    (item,) = [s for s in bundled_series() if s.key.symbol == "AAPL"]
    assert item.asset_class.value == "stock"
    rows = read_bundled_rows(item)[-bars:]
    await import_candles(services_of(api).candles, item.key, item.asset_class.value, rows)
    return Decimal(str(float(rows[-1, 4])))


async def usd_portfolio(api: Api, caller: Caller, usd: str = "5000") -> str:
    made = await api.client.post(
        PORTFOLIOS, json={"name": "stocks", "base_currency": "USD"}, headers=caller.headers
    )
    assert made.status_code == 201, made.text
    pid: str = made.json()["portfolio_id"]
    paid = await api.client.post(
        f"{PORTFOLIOS}/{pid}/deposit", json={"asset": "USD", "amount": usd}, headers=caller.headers
    )
    assert paid.status_code == 200, paid.text
    return pid


async def place(api: Api, caller: Caller, pid: str, **fields: Any) -> Any:
    body = {"portfolio_id": pid, "side": "buy", "symbol": "AAPL/USD", **fields}
    return await api.client.post(ORDERS, json=body, headers=caller.headers)


async def test_a_stock_is_paper_traded_as_ticker_slash_usd(serve: Serve) -> None:
    async with serve() as api:
        clock_at(api, IN_SESSION)
        me = await sign_in(api)
        last = await store_aapl(api)
        overview = (await api.client.get("/api/v1/market-data/all/overview", headers=me.headers)).json()
        assert [(i["symbol"], i["asset_class"]) for i in overview["items"]] == [
            ("AAPL", "stock")
        ]  # the form's list
        pid = await usd_portfolio(api, me)

        bought = await place(api, me, pid, quantity="2.5")
        assert bought.status_code == 201, bought.text
        order = bought.json()
        assert order["symbol"] == "AAPL/USD" and order["status"] == "filled"
        assert Decimal(order["average_fill_price"]) == last and order["filled_quantity"] == "2.5"
        assert order["fills"][0]["fee_currency"] == "USD"
        by_amount = await place(
            api, me, pid, symbol="aapl/usd", quote_amount="100"
        )  # the symbol's case is ignored
        assert by_amount.status_code == 201 and by_amount.json()["status"] == "filled", by_amount.text
        resting = await place(api, me, pid, type="limit", quantity="1", price=str(last / 2))
        assert resting.status_code == 201 and resting.json()["status"] == "open", resting.text
        sold = await place(api, me, pid, side="sell", quantity="1.5")
        assert sold.status_code == 201 and sold.json()["status"] == "filled", sold.text

        view = (await api.client.get(f"{PORTFOLIOS}/{pid}", headers=me.headers)).json()
        (position,) = view["positions"]
        held = Decimal("2.5") - Decimal("1.5") + Decimal(by_amount.json()["filled_quantity"])
        assert position["symbol"] == "AAPL/USD" and Decimal(position["quantity"]) == held
        assert Decimal(position["last_price"]) == last and Decimal(position["value"]) == held * last
        assert {b["asset"] for b in view["balances"]} == {"AAPL", "USD"}
        mine = (await api.client.get(ORDERS, params={"symbol": "AAPL/USD"}, headers=me.headers)).json()
        assert mine["total"] == 4


async def test_stock_orders_that_cannot_be_placed_say_why(serve: Serve) -> None:
    async with serve() as api:
        clock_at(api, IN_SESSION)
        me = await sign_in(api)
        await store_aapl(api)
        pid = await usd_portfolio(api, me, usd="1000")
        assert_error(
            await place(api, me, pid, symbol="AAPL", quantity="1"), 422, "validation_error"
        )  # bare ticker
        rejected = {
            "no candles stored for AAPL/USDT": {
                "symbol": "AAPL/USDT",
                "quantity": "1",
            },  # stocks trade in USD
            "below the minimum of 0.0001 AAPL": {"quantity": "0.00001"},  # fractional shares, to 1/10,000
        }
        for reason, fields in rejected.items():
            body = assert_error(await place(api, me, pid, **fields), 422, "order_rejected")
            assert reason in str(body["message"]), (fields, body)
        usdt_only = await funded_portfolio(api, me, name="crypto cash", usdt="5000")
        body = assert_error(await place(api, me, usdt_only, quantity="1"), 422, "order_rejected")
        assert "not enough USD" in str(body["message"]) and "USDT" not in str(body["message"]), body


async def test_a_held_stock_is_labelled_stock_beside_crypto(serve: Serve) -> None:
    """A paper account holds AAPL/USD and BTC/USDT: the portfolio and the positions routes label each by its market
    (the paper account itself is stored as a crypto account)."""
    async with serve() as api:
        clock_at(api, IN_SESSION)
        me = await sign_in(api)
        await store_aapl(api)
        await store_closes(services_of(api), "BTC/USDT", [100.0] * 3)
        pid = await usd_portfolio(api, me)
        paid = await api.client.post(
            f"{PORTFOLIOS}/{pid}/deposit", json={"asset": "USDT", "amount": "1000"}, headers=me.headers
        )
        assert paid.status_code == 200, paid.text
        for symbol, qty in (("AAPL/USD", "2"), ("BTC/USDT", "1")):
            placed = await place(api, me, pid, symbol=symbol, quantity=qty)
            assert placed.status_code == 201 and placed.json()["status"] == "filled", placed.text

        view = (await api.client.get(f"{PORTFOLIOS}/{pid}", headers=me.headers)).json()
        assert view["accounts"] == [{"account": f"paper:{pid}", "venue": "paper", "asset_class": "crypto"}]
        labels = {p["symbol"]: p["asset_class"] for p in view["positions"]}
        assert labels == {"AAPL/USD": "stock", "BTC/USDT": "crypto"}
        listed = (await api.client.get("/api/v1/positions", headers=me.headers)).json()
        assert {p["symbol"]: p["asset_class"] for p in listed["items"]} == labels


async def test_stock_orders_outside_market_hours_are_refused_and_crypto_is_not(serve: Serve) -> None:
    """The desk follows the bots' market-hours rule: a stock order outside the NYSE's regular session is refused
    (422, stored as rejected) with the time the next session opens; nothing is queued. Crypto trades at any time."""
    closed = {
        "Saturday": (datetime(2025, 3, 8, 11, tzinfo=NEW_YORK), "2025-03-10 13:30 UTC"),
        "03:00 on a Wednesday": (datetime(2025, 3, 5, 3, tzinfo=NEW_YORK), "2025-03-05 14:30 UTC"),
        "Independence Day": (datetime(2025, 7, 4, 11, tzinfo=NEW_YORK), "2025-07-07 13:30 UTC"),
    }
    async with serve() as api:
        me = await sign_in(api)
        last = await store_aapl(api)
        await store_closes(services_of(api), "BTC/USDT", [100.0] * 3)
        pid = await usd_portfolio(api, me)
        paid = await api.client.post(
            f"{PORTFOLIOS}/{pid}/deposit", json={"asset": "USDT", "amount": "1000"}, headers=me.headers
        )
        assert paid.status_code == 200, paid.text
        for when, (at, opens) in closed.items():
            clock_at(api, at)
            body = assert_error(await place(api, me, pid, quantity="1"), 422, "order_rejected")
            message = str(body["message"])
            assert message.startswith("AAPL/USD is outside market hours"), (when, message)
            assert f"the XNYS session opens next at {opens}" in message, (when, message)
            crypto = await place(api, me, pid, symbol="BTC/USDT", quantity="0.1")
            assert crypto.status_code == 201 and crypto.json()["status"] == "filled", (when, crypto.text)
        night = datetime(2025, 3, 5, 22, tzinfo=NEW_YORK)
        clock_at(api, night)
        limit = await place(api, me, pid, type="limit", quantity="1", price=str(last / 2))
        assert "outside market hours" in str(assert_error(limit, 422, "order_rejected")["message"])

        clock_at(api, IN_SESSION)
        bought = await place(api, me, pid, quantity="1")
        assert bought.status_code == 201 and bought.json()["status"] == "filled", bought.text
        rejected = await api.client.get(
            ORDERS, params={"symbol": "AAPL/USD", "status": "rejected"}, headers=me.headers
        )
        assert (
            rejected.json()["total"] == len(closed) + 1
        )  # each refusal stored, as every front end stores it
        view = (await api.client.get(f"{PORTFOLIOS}/{pid}", headers=me.headers)).json()
        held = {p["symbol"]: p["quantity"] for p in view["positions"]}
        assert held == {"AAPL/USD": "1", "BTC/USDT": "0.3"}
