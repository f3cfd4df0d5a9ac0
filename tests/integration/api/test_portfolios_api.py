"""The portfolio and position routes over HTTP (``/api/v1/portfolios``, ``/api/v1/positions``) on SQLite and
PostgreSQL: portfolios with their paper accounts, paper money, holdings valued at the last stored close,
performance from daily snapshots, rebalancing plans and placed rebalances.

Bad input tried: a name already used, a blank name, a negative deposit, a deposit that is not a number, a
withdrawal of more than is free, an unknown body field, an unknown period, target weights summing over 1, a weight
that is not a number, a rebalance with no weights, another user's portfolio (404), no token (401), a viewer
creating a portfolio (403).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from tests.integration.api.conftest import Api, Caller, Serve, sign_in
from tests.integration.api.test_api_errors import assert_error

from tsbot.accounts.models import Role
from tsbot.market.models import CandleFrame, SeriesKey, Timeframe
from tsbot.trading.performance import DailySnapshot
from tsbot.wiring import Services

BASE = "/api/v1/portfolios"


async def store_closes(
    services: Services, symbol: str, closes: Sequence[float], *, start: datetime | None = None
) -> None:
    """Hourly ``symbol`` bars on binance opening and closing at ``closes`` (high +1 %, low -1 %), the last one
    opening at the current hour unless ``start`` says where the first opens."""
    hour = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    first = start or hour - timedelta(hours=len(closes) - 1)
    t0 = int(first.timestamp() * 1000)
    rows = [(t0 + i * Timeframe.H1.ms, c, c * 1.01, c * 0.99, c, 10.0) for i, c in enumerate(closes)]
    await services.candles.upsert(
        SeriesKey("binance", symbol, Timeframe.H1), "crypto", CandleFrame.from_rows(rows)
    )


def services_of(api: Api) -> Services:
    return api.app.state.services  # type: ignore[no-any-return]


async def funded_portfolio(api: Api, caller: Caller, name: str = "main", usdt: str = "1000") -> str:
    """A new portfolio of ``caller`` (base USDT) holding ``usdt`` paper USDT; returns its id."""
    made = await api.client.post(BASE, json={"name": name, "base_currency": "USDT"}, headers=caller.headers)
    assert made.status_code == 201, made.text
    pid: str = made.json()["portfolio_id"]
    paid = await api.client.post(
        f"{BASE}/{pid}/deposit", json={"asset": "USDT", "amount": usdt}, headers=caller.headers
    )
    assert paid.status_code == 200, paid.text
    return pid


async def owned_objects(api: Api, caller: Caller) -> dict[str, str]:
    """A portfolio of ``caller`` (for the route walk)."""
    return {"portfolio_id": await funded_portfolio(api, caller, name="walk")}


async def test_create_fund_trade_and_value_a_portfolio(serve: Serve) -> None:
    """Bad input: a name already used (409), a blank name, a negative deposit, a deposit that is not a number, a
    withdrawal of more than is free, an unknown body field."""
    async with serve() as api:
        me = await sign_in(api)
        await store_closes(services_of(api), "BTC/USDT", [100.0] * 5)
        pid = await funded_portfolio(api, me)
        assert_error(await api.client.post(BASE, json={"name": "main"}, headers=me.headers), 409, "conflict")
        assert_error(
            await api.client.post(BASE, json={"name": "   "}, headers=me.headers),
            400,
            "invalid_configuration",
        )
        listed = (await api.client.get(BASE, headers=me.headers)).json()
        assert listed["total"] == 1 and listed["items"][0]["portfolio_id"] == pid
        assert listed["items"][0]["accounts"][0]["account"] == f"paper:{pid}"

        bought = await api.client.post(
            "/api/v1/orders",
            json={"portfolio_id": pid, "side": "buy", "symbol": "btc/usdt", "quantity": "2"},
            headers=me.headers,
        )
        assert bought.status_code == 201, bought.text
        shown = await api.client.get(f"{BASE}/{pid}", headers=me.headers)
        assert shown.status_code == 200, shown.text
        body = shown.json()
        assert {b["asset"]: b["total"] for b in body["balances"]} == {"BTC": "2", "USDT": "799.8"}
        (position,) = body["positions"]
        assert position["symbol"] == "BTC/USDT" and position["quantity"] == "2"
        assert position["average_entry"] == "100" and position["last_price"] == "100"
        assert position["unrealised_pnl"] == "0" and position["value"] == "200"
        # 1000 - 200 - 0.2 fee in cash, 200 in BTC at the last close
        assert body["cash"] == "799.8" and body["equity"] == "999.8" and body["fees"] == "0.2"

        refused = assert_error(
            await api.client.post(
                f"{BASE}/{pid}/withdraw", json={"asset": "usdt", "amount": "5000"}, headers=me.headers
            ),
            422,
            "order_rejected",
        )
        assert "799.8 USDT is free" in str(refused["message"])
        negative = assert_error(
            await api.client.post(
                f"{BASE}/{pid}/deposit", json={"asset": "USDT", "amount": "-5"}, headers=me.headers
            ),
            422,
            "order_rejected",
        )
        assert "positive" in str(negative["message"])
        for bad in ({"asset": "USDT", "amount": "ten"}, {"asset": "USDT", "amount": "5", "memo": "x"}):
            assert_error(
                await api.client.post(f"{BASE}/{pid}/deposit", json=bad, headers=me.headers),
                422,
                "validation_error",
            )
        out = await api.client.post(
            f"{BASE}/{pid}/withdraw", json={"asset": "USDT", "amount": "99.8"}, headers=me.headers
        )
        assert out.status_code == 200, out.text
        assert out.json()["amount"] == "-99.8"
        assert {b["asset"]: b["free"] for b in out.json()["balances"]}["USDT"] == "700"

        positions = (await api.client.get("/api/v1/positions", headers=me.headers)).json()
        assert positions["total"] == 1 and positions["items"][0]["portfolio_id"] == pid


async def test_performance_from_daily_snapshots(serve: Serve) -> None:
    """Bad input: an unknown period (422)."""
    async with serve() as api:
        me = await sign_in(api)
        pid = await funded_portfolio(api, me)
        empty = (await api.client.get(f"{BASE}/{pid}/performance", headers=me.headers)).json()
        assert empty["snapshots"] == 0 and empty["return_ratio"] is None and empty["series"] == []
        assert empty["needs"]["var_95"] == 21
        equities = ["1000", "1010", "990", "1020", "1030", "1000", "1040", "1050", "1100"]
        first = date(2026, 3, 1)
        for n, e in enumerate(equities):
            snap = DailySnapshot(first + timedelta(days=n), Decimal(e), Decimal(e), *(Decimal(0),) * 4)
            await services_of(api).portfolios.save_snapshot(pid, snap)
        answer = await api.client.get(
            f"{BASE}/{pid}/performance", params={"period": "7d"}, headers=me.headers
        )
        assert answer.status_code == 200, answer.text
        perf = answer.json()
        assert perf["snapshots"] == 8 and len(perf["series"]) == 8  # 7 days back from the newest: 8 snapshots
        assert perf["start_day"] == "2026-03-02" and perf["end_day"] == "2026-03-09"
        assert abs(perf["return_ratio"] - (1100 / 1010 - 1)) < 1e-12
        assert abs(perf["max_drawdown_ratio"] - (1 - 1000 / 1030)) < 1e-12
        assert perf["sharpe"] is not None and perf["var_95_ratio"] is None  # VaR needs 21 snapshots
        assert perf["series"][-1] == {
            "day": "2026-03-09", "equity": "1100", "cash": "1100", "positions_value": "0",
            "realised_pnl": "0", "unrealised_pnl": "0", "fees": "0",
        }  # fmt: skip
        assert_error(
            await api.client.get(f"{BASE}/{pid}/performance", params={"period": "2w"}, headers=me.headers),
            422,
            "validation_error",
        )


async def test_rebalance_plans_then_places_orders(serve: Serve) -> None:
    """Bad input: weights summing over 1 (400), a weight that is not a number (422), no weights at all (400)."""
    async with serve() as api:
        me = await sign_in(api)
        services = services_of(api)
        await store_closes(services, "BTC/USDT", [100.0] * 3)
        await store_closes(services, "ETH/USDT", [50.0] * 3)
        pid = await funded_portfolio(api, me)
        url = f"{BASE}/{pid}/rebalance"
        weights = {"BTC/USDT": "0.5", "eth/usdt": "0.3"}
        plan = await api.client.post(url, json={"weights": weights}, headers=me.headers)
        assert plan.status_code == 200, plan.text
        body = plan.json()
        assert body["dry_run"] is True and body["equity"] == "1000"
        assert [(o["side"], o["symbol"], o["quantity"]) for o in body["orders"]] == [
            ("buy", "BTC/USDT", "5"),
            ("buy", "ETH/USDT", "6"),
        ]
        assert all(o["order"] is None for o in body["orders"])
        none_yet = (await api.client.get("/api/v1/orders", headers=me.headers)).json()
        assert none_yet["total"] == 0  # a dry run sends nothing

        over = assert_error(
            await api.client.post(
                url, json={"weights": {"BTC/USDT": "0.7", "ETH/USDT": "0.6"}}, headers=me.headers
            ),
            400,
            "invalid_configuration",
        )
        assert "more than 1" in str(over["message"])
        assert_error(
            await api.client.post(url, json={"weights": {"BTC/USDT": "half"}}, headers=me.headers),
            422,
            "validation_error",
        )
        assert_error(await api.client.post(url, json={}, headers=me.headers), 400, "invalid_configuration")

        done = await api.client.post(
            url, json={"weights": weights, "dry_run": False, "save_targets": True}, headers=me.headers
        )
        assert done.status_code == 200, done.text
        placed = done.json()["orders"]
        assert [o["order"]["status"] for o in placed] == ["filled", "filled"], placed
        assert done.json()["target_weights"] == {"BTC/USDT": "0.5", "ETH/USDT": "0.3"}
        held = (await api.client.get("/api/v1/positions", headers=me.headers)).json()
        assert {p["symbol"]: p["quantity"] for p in held["items"]} == {"BTC/USDT": "5", "ETH/USDT": "6"}
        again = (
            await api.client.post(url, json={}, headers=me.headers)
        ).json()  # the stored targets, now met
        assert again["orders"] == [] and again["target_weights"] == {"BTC/USDT": "0.5", "ETH/USDT": "0.3"}


async def test_portfolio_permissions_and_ownership(serve: Serve) -> None:
    """Bad input: no token (401), a viewer creating a portfolio or depositing (403), another user's portfolio on
    every portfolio route (404), a positions filter naming another user's portfolio (404)."""
    async with serve() as api:
        owner, other = await sign_in(api), await sign_in(api)
        viewer = await sign_in(api, Role.VIEWER)
        pid = await funded_portfolio(api, owner)
        assert_error(await api.client.get(BASE), 401, "unauthorized")
        assert_error(
            await api.client.post(BASE, json={"name": "x"}, headers=viewer.headers), 403, "forbidden"
        )
        assert (await api.client.get(BASE, headers=viewer.headers)).json()["total"] == 0
        funds = {"asset": "USDT", "amount": "1"}
        for method, path, body in (
            ("GET", f"{BASE}/{pid}", None),
            ("POST", f"{BASE}/{pid}/deposit", funds),
            ("POST", f"{BASE}/{pid}/withdraw", funds),
            ("GET", f"{BASE}/{pid}/performance", None),
            ("POST", f"{BASE}/{pid}/rebalance", {"weights": {"BTC/USDT": "0.1"}}),
            ("GET", f"/api/v1/positions?portfolio_id={pid}", None),
        ):
            answer = await api.client.request(method, path, json=body, headers=other.headers)
            assert_error(answer, 404, "not_found")
        assert_error(
            await api.client.post(f"{BASE}/{pid}/deposit", json=funds, headers=viewer.headers),
            403,
            "forbidden",
        )
        assert (await api.client.get(BASE, headers=other.headers)).json()["items"] == []
