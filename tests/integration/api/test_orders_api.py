"""The order routes over HTTP (``/api/v1/orders``) on SQLite and PostgreSQL: paper orders placed on a portfolio's
paper account (market orders fill at the last stored close), retried by client id, listed, shown with their events
and fills, resting until a later candle fills them, cancelled; the orders rate limit.

Bad input tried: a negative quantity, a zero limit price, a limit price below one tick, an order under the minimum
notional, an unknown symbol, a sell of more than is held, a buy of more than the cash pays for, a quantity and a
quote amount at once, neither of them, a negative quote amount, an unknown order type, a malformed symbol, another
user's portfolio and orders (404), cancelling a final order (409), no token (401), a viewer placing and an API
user cancelling (403), an order over the hourly limit (429).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from tests.integration.api.conftest import Api, Caller, Serve, sign_in
from tests.integration.api.test_api_errors import assert_error
from tests.integration.api.test_portfolios_api import funded_portfolio, services_of, store_closes

from tsbot.accounts.models import Role

ORDERS = "/api/v1/orders"


async def place(api: Api, caller: Caller, pid: str, **fields: Any) -> Any:
    body = {"portfolio_id": pid, "side": "buy", "symbol": "BTC/USDT", **fields}
    return await api.client.post(ORDERS, json=body, headers=caller.headers)


async def filled_order(api: Api, caller: Caller, name: str) -> tuple[str, str]:
    """A filled paper order of ``caller`` on a new funded portfolio ``name``: (order id, portfolio id)."""
    await store_closes(services_of(api), "BTC/USDT", [100.0] * 3)
    pid = await funded_portfolio(api, caller, name=name)
    placed = await place(api, caller, pid, quantity="1")
    assert placed.status_code == 201, placed.text
    return placed.json()["order_id"], pid


async def owned_objects(api: Api, caller: Caller) -> dict[str, str]:
    """A filled paper order of ``caller`` (for the route walk)."""
    oid, _ = await filled_order(api, caller, "walk-orders")
    return {"order_id": oid}


async def test_place_retry_list_show_and_cancel(serve: Serve) -> None:
    async with serve() as api:
        me = await sign_in(api)
        await store_closes(services_of(api), "BTC/USDT", [100.0] * 5)
        pid = await funded_portfolio(api, me)

        bought = await place(api, me, pid, quantity="2", client_id="my-first")
        assert bought.status_code == 201, bought.text
        order = bought.json()
        assert order["status"] == "filled" and order["filled_quantity"] == "2"
        assert order["average_fill_price"] == "100" and order["fees"] == "0.2"
        assert [e["status_to"] for e in order["events"]] == ["new", "filled"]
        assert order["fills"][0]["price"] == "100" and order["fills"][0]["fee_currency"] == "USDT"
        retried = await place(api, me, pid, quantity="2", client_id="my-first")
        assert retried.status_code == 200, retried.text  # the same order, not a second one
        assert retried.json()["order_id"] == order["order_id"]

        spent = await place(api, me, pid, quote_amount="50.05")
        assert spent.status_code == 201, spent.text
        assert spent.json()["filled_quantity"] == "0.5" and spent.json()["quote_amount"] == "50.05"

        resting = await place(api, me, pid, side="sell", type="limit", quantity="1", price="150")
        assert resting.status_code == 201 and resting.json()["status"] == "open", resting.text
        rid = resting.json()["order_id"]
        page = (await api.client.get(ORDERS, params={"limit": 2}, headers=me.headers)).json()
        assert page["total"] == 3 and len(page["items"]) == 2 and page["items"][0]["order_id"] == rid
        assert page["items"][0]["events"] is None  # the list leaves history and fills out
        filled = (await api.client.get(ORDERS, params={"status": "filled"}, headers=me.headers)).json()
        assert filled["total"] == 2 and all(o["status"] == "filled" for o in filled["items"])
        assert (await api.client.get(ORDERS, params={"symbol": "eth/usdt"}, headers=me.headers)).json()[
            "total"
        ] == 0
        mine = (
            await api.client.get(ORDERS, params={"portfolio_id": pid, "offset": 2}, headers=me.headers)
        ).json()
        assert mine["total"] == 3 and [o["order_id"] for o in mine["items"]] == [order["order_id"]]

        shown = await api.client.get(f"{ORDERS}/{order['order_id']}", headers=me.headers)
        assert shown.status_code == 200 and len(shown.json()["fills"]) == 1
        cancelled = await api.client.delete(f"{ORDERS}/{rid}", headers=me.headers)
        assert cancelled.status_code == 200, cancelled.text
        assert (
            cancelled.json()["status"] == "cancelled"
            and cancelled.json()["events"][-1]["status_to"] == "cancelled"
        )
        assert_error(await api.client.delete(f"{ORDERS}/{rid}", headers=me.headers), 409, "conflict")
        assert_error(await api.client.get(f"{ORDERS}/tsb-nope", headers=me.headers), 404, "not_found")


async def test_resting_limit_order_fills_from_later_candles(serve: Serve) -> None:
    async with serve() as api:
        me = await sign_in(api)
        services = services_of(api)
        await store_closes(services, "BTC/USDT", [100.0] * 3)
        pid = await funded_portfolio(api, me)
        placed = await place(api, me, pid, type="limit", quantity="1", price="95")
        assert placed.status_code == 201 and placed.json()["status"] == "open", placed.text
        shown = (await api.client.get(f"/api/v1/portfolios/{pid}", headers=me.headers)).json()
        # the 95 the order reserves is counted once: 905 free + 95 locked of the 1000 held, and so in the equity
        assert [(b["asset"], b["free"], b["locked"], b["total"]) for b in shown["balances"]] == [
            ("USDT", "905", "95", "1000")
        ]
        assert (shown["cash"], shown["equity"]) == ("1000", "1000")
        hour = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
        await store_closes(services, "BTC/USDT", [97.0, 95.0], start=hour + timedelta(hours=1))  # low 94.05
        order = (await api.client.get(f"{ORDERS}/{placed.json()['order_id']}", headers=me.headers)).json()
        assert order["status"] == "open"  # reading an order works nothing
        caught = (await api.client.get(f"/api/v1/portfolios/{pid}", headers=me.headers)).json()
        assert {p["symbol"]: p["quantity"] for p in caught["positions"]} == {"BTC/USDT": "1"}
        order = (await api.client.get(f"{ORDERS}/{placed.json()['order_id']}", headers=me.headers)).json()
        assert order["status"] == "filled" and order["average_fill_price"] == "95"


async def test_bad_orders_are_refused_with_the_reason(serve: Serve) -> None:
    async with serve() as api:
        me = await sign_in(api)
        await store_closes(services_of(api), "BTC/USDT", [100.0] * 3)
        pid = await funded_portfolio(api, me, usdt="500")
        assert (await place(api, me, pid, quantity="1")).status_code == 201
        rejected = {
            "quantity must be positive": {"quantity": "-1"},
            "limit price must be positive": {"type": "limit", "quantity": "1", "price": "0"},
            "below one tick": {"type": "limit", "quantity": "1", "price": "0.0000001"},
            "minimum notional": {"quantity": "0.001"},
            "no candles stored for DOGE/USDT": {"symbol": "DOGE/USDT", "quantity": "1"},
            "cannot sell 5 BTC: the account holds 1 BTC": {"side": "sell", "quantity": "5"},
            "not enough USDT": {"quantity": "100"},
            "quote amount must be positive": {"quote_amount": "-5"},
        }
        for reason, fields in rejected.items():
            body = assert_error(await place(api, me, pid, **fields), 422, "order_rejected")
            assert reason in str(body["message"]), (fields, body)
        for fields in (
            {"quantity": "1", "quote_amount": "10"},
            {},
            {"type": "iceberg", "quantity": "1"},
            {"symbol": "BTCUSDT", "quantity": "1"},
            {"quantity": "1e5"},
        ):
            assert_error(await place(api, me, pid, **fields), 422, "validation_error")
        stored = (await api.client.get(ORDERS, params={"status": "rejected"}, headers=me.headers)).json()
        assert stored["total"] >= 5  # refused by the checks: stored as rejected with the reason
        held = (await api.client.get(f"/api/v1/portfolios/{pid}", headers=me.headers)).json()
        assert {b["asset"]: b["total"] for b in held["balances"]} == {"BTC": "1", "USDT": "399.9"}


async def test_order_permissions_ownership_and_rate_limit(serve: Serve) -> None:
    async with serve(api={"orders_per_hour": 3}) as api:
        owner, other = await sign_in(api), await sign_in(api)
        viewer, program = await sign_in(api, Role.VIEWER), await sign_in(api, Role.API_USER)
        oid, pid = await filled_order(api, owner, "main")
        assert_error(await api.client.get(ORDERS), 401, "unauthorized")
        assert_error(await place(api, viewer, pid, quantity="1"), 403, "forbidden")
        assert_error(await api.client.delete(f"{ORDERS}/{oid}", headers=program.headers), 403, "forbidden")
        assert_error(await api.client.get(f"{ORDERS}/{oid}", headers=other.headers), 404, "not_found")
        assert_error(await api.client.delete(f"{ORDERS}/{oid}", headers=other.headers), 404, "not_found")
        assert_error(await place(api, other, pid, quantity="1"), 404, "not_found")
        assert_error(
            await api.client.get(ORDERS, params={"portfolio_id": pid}, headers=other.headers),
            404,
            "not_found",
        )
        assert (await api.client.get(ORDERS, headers=other.headers)).json()["total"] == 0
        assert (await place(api, owner, pid, quantity="1")).status_code == 201  # the owner's second of 3
        assert (await place(api, owner, pid, quantity="1")).status_code == 201
        limited = await place(api, owner, pid, quantity="1")
        assert_error(limited, 429, "rate_limited")
        assert int(limited.headers["retry-after"]) > 0
