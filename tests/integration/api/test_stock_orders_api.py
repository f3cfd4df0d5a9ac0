"""Paper orders on US stocks through the order routes, over the bundled AAPL daily candles, on SQLite and
PostgreSQL: a stock trades as ``<TICKER>/USD`` (the symbol the dashboard's order form sends for a stock of the
market overview), priced by the stored stock series of the ticker, in fractional shares, paid in USD.

Bad input tried: the bare ticker (``AAPL``, not BASE/QUOTE), a stock quoted in another currency (``AAPL/USDT``), a
quantity below the smallest lot (0.00001 share), a buy of a stock from a portfolio holding only USDT.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from tests.integration.api.conftest import Api, Caller, Serve, sign_in
from tests.integration.api.test_api_errors import assert_error
from tests.integration.api.test_portfolios_api import funded_portfolio, services_of

from tsbot.adapters.bundled import bundled_series, read_bundled_rows
from tsbot.market.service import import_candles

ORDERS = "/api/v1/orders"
PORTFOLIOS = "/api/v1/portfolios"


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
