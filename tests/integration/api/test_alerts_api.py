"""Price alerts (/api/v1/alerts) on SQLite and PostgreSQL: create, list, get, delete; another user's alert is 404;
who may call; bad inputs; alerts fired by :func:`tsbot.signals.alerts.check_alerts` over the stored alerts show
their new state through the API."""

from __future__ import annotations

from datetime import UTC, datetime

from tests.integration.api.conftest import Api, Caller, Serve, sign_in
from tests.integration.api.test_signals_api import load_market

from tsbot.accounts.models import Role
from tsbot.adapters.storage.watch import SqlPriceAlertStore
from tsbot.signals.alerts import PriceQuote, check_alerts
from tsbot.wiring import Services

URL = "/api/v1/alerts"


async def owned_objects(api: Api, caller: Caller) -> dict[str, str]:
    """One alert owned by ``caller``, created through the API (stores BTC/USDT candles first when none are)."""
    services: Services = api.app.state.services
    if not await services.candles.series():
        await load_market(services, bars=5)
    body = {"symbol": "BTC-USDT", "condition": "above", "price": "70000"}
    response = await api.client.post(URL, json=body, headers=caller.headers)
    assert response.status_code == 201, response.text
    return {"alert_id": response.json()["id"]}


async def test_create_list_get_delete(serve: Serve, services: Services) -> None:
    await load_market(services, bars=5)
    async with serve() as api:
        trader = await sign_in(api, Role.TRADER)
        h = trader.headers
        body = {
            "symbol": "eth_usdt",
            "condition": "crosses",
            "price": "0.000065",
            "note": " dip ",
            "repeat": True,
        }
        created = await api.client.post(URL, json=body, headers=h)
        assert created.status_code == 201, created.text
        alert = created.json()
        assert alert["symbol"] == "ETH/USDT" and alert["condition"] == "crosses"
        assert alert["price"] == "0.000065" and alert["note"] == "dip" and alert["repeat"] is True
        assert alert["active"] is True and alert["trigger_count"] == 0 and alert["triggered_at"] is None
        assert alert["last_price"] is None and alert["created_at"].endswith("Z")
        second = await api.client.post(
            URL, json={"symbol": "AAPL", "condition": "below", "price": "150.25"}, headers=h
        )
        assert second.status_code == 201 and second.json()["repeat"] is False and second.json()["note"] == ""

        page = (await api.client.get(URL, headers=h)).json()
        assert page["total"] == 2 and [a["symbol"] for a in page["items"]] == [
            "AAPL",
            "ETH/USDT",
        ]  # newest first
        only = (await api.client.get(URL, params={"symbol": "ETHUSDT"}, headers=h)).json()
        assert [a["id"] for a in only["items"]] == [alert["id"]]
        assert (await api.client.get(URL, params={"active": False}, headers=h)).json()["total"] == 0
        assert (await api.client.get(f"{URL}/{alert['id']}", headers=h)).json() == alert

        deleted = await api.client.delete(f"{URL}/{alert['id']}", headers=h)
        assert deleted.status_code == 204 and deleted.content == b""
        assert (await api.client.get(f"{URL}/{alert['id']}", headers=h)).status_code == 404
        assert (await api.client.delete(f"{URL}/{alert['id']}", headers=h)).status_code == 404
        assert (await api.client.get(URL, headers=h)).json()["total"] == 1


async def test_another_users_alert_is_not_found(serve: Serve, services: Services) -> None:
    async with serve() as api:
        owner, other = await sign_in(api, Role.TRADER), await sign_in(api, Role.TRADER)
        ids = await owned_objects(api, owner)
        path = f"{URL}/{ids['alert_id']}"
        for method in ("GET", "DELETE"):
            response = await api.client.request(method, path, headers=other.headers)
            assert response.status_code == 404 and response.json()["type"] == "not_found"
        assert (await api.client.get(URL, headers=other.headers)).json()["total"] == 0
        assert (await api.client.get(path, headers=owner.headers)).status_code == 200  # still there
        assert (await api.client.get(f"{URL}/no-such-alert", headers=owner.headers)).status_code == 404


async def test_credentials_and_permissions(serve: Serve, services: Services) -> None:
    """401 without a token; a viewer (read_market, no write_signals) lists but may not create or delete."""
    await load_market(services, bars=5)
    async with serve() as api:
        assert (await api.client.get(URL)).status_code == 401
        assert (await api.client.post(URL, json={})).status_code == 401
        owner, viewer = await sign_in(api, Role.TRADER), await sign_in(api, Role.VIEWER)
        ids = await owned_objects(api, owner)
        assert (await api.client.get(URL, headers=viewer.headers)).json()["items"] == []
        body = {"symbol": "BTC", "condition": "above", "price": "1"}
        refused = await api.client.post(URL, json=body, headers=viewer.headers)
        assert refused.status_code == 403 and "write_signals" in refused.json()["message"]
        gone = await api.client.delete(f"{URL}/{ids['alert_id']}", headers=viewer.headers)
        assert gone.status_code == 403  # the permission is checked before the alert is looked up


async def test_bad_inputs_are_422(serve: Serve, services: Services) -> None:
    """Price 0 (refused by the domain), negative, with an exponent, with a thousands separator, as a JSON number,
    too many digits; an unknown symbol, an unknown condition, a note over 500 characters or with control
    characters, a missing field; an unknown symbol in the list filter."""
    await load_market(services, bars=5)
    async with serve() as api:
        h = (await sign_in(api, Role.TRADER)).headers
        good = {"symbol": "BTC-USDT", "condition": "above", "price": "70000"}
        cases = [
            {"price": "0"},
            {"price": "0.000"},
            {"price": "-5"},
            {"price": "1e5"},
            {"price": "70,000"},
            {"price": 70000},
            {"price": "1" * 17},
            {"symbol": "DOGE-USDT"},
            {"condition": "sideways"},
            {"note": "x" * 501},
            {"note": "ring\x07"},
        ]
        for change in cases:
            response = await api.client.post(URL, json={**good, **change}, headers=h)
            assert response.status_code == 422, (change, response.text)
        missing = await api.client.post(URL, json={"symbol": "BTC", "condition": "above"}, headers=h)
        assert missing.status_code == 422 and "price" in missing.json()["message"]
        unknown = await api.client.post(URL, json={**good, "symbol": "DOGE-USDT"}, headers=h)
        assert "unknown symbol 'DOGE-USDT'" in unknown.json()["message"]
        assert (await api.client.get(URL, params={"symbol": "NOPE"}, headers=h)).status_code == 422
        assert (await api.client.get(URL, params={"limit": 501}, headers=h)).status_code == 422
        assert (await api.client.get(URL, headers=h)).json()["total"] == 0  # nothing was stored


async def test_checked_alerts_show_their_new_state(serve: Serve, services: Services) -> None:
    """What the monitoring cycle does with each new candle: the active alerts of its symbol are checked and their
    state stored; the API then shows the fired one-shot alert inactive and the others with the last price."""
    await load_market(services, bars=5)
    async with serve() as api:
        h = (await sign_in(api, Role.TRADER)).headers
        made = {}
        for condition, price in [("above", "100"), ("below", "50"), ("crosses", "98")]:
            body = {"symbol": "BTC/USDT", "condition": condition, "price": price}
            made[condition] = (await api.client.post(URL, json=body, headers=h)).json()["id"]
        store = SqlPriceAlertStore(services.db)
        active = await store.active_for(["BTC/USDT"])
        assert len(active) == 3
        candle = PriceQuote.of_candle(
            "BTC/USDT", datetime(2024, 3, 1, 13, tzinfo=UTC), open_=95.0, high=101.0, low=94.0, close=99.5
        )
        result = check_alerts(active, candle)
        assert {t.alert.id for t in result.triggered} == {made["above"], made["crosses"]}
        await store.save_state(result.updated)
        above = (await api.client.get(f"{URL}/{made['above']}", headers=h)).json()
        assert above["active"] is False and above["trigger_count"] == 1
        assert above["triggered_at"] == "2024-03-01T13:00:00Z" and above["last_price"] == "99.5"
        below = (await api.client.get(f"{URL}/{made['below']}", headers=h)).json()
        assert below["active"] is True and below["trigger_count"] == 0 and below["last_price"] == "99.5"
        assert [a.id for a in await store.active_for(["BTC/USDT", "ETH/USDT"])] == [made["below"]]
        inactive = (await api.client.get(URL, params={"active": False}, headers=h)).json()
        assert {a["id"] for a in inactive["items"]} == {made["above"], made["crosses"]}


async def test_migration_0010_up_down_up_matches_the_declared_tables(database_url: str) -> None:
    """Migration 0010 builds exactly what tables_watch.py declares (columns, types, indexes, foreign keys) and
    goes down to 0009 without its tables."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext
    from sqlalchemy import inspect

    from tsbot.adapters.storage.database import create_engine, downgrade, upgrade
    from tsbot.adapters.storage.schema import metadata

    tables = {"watchlist_items", "price_alerts"}
    engine = create_engine(database_url)
    try:
        await upgrade(engine)
        await downgrade(engine, "0009")
        async with engine.connect() as conn:
            names = set(await conn.run_sync(lambda c: inspect(c).get_table_names()))
        assert not tables & names and "users" in names
        await upgrade(engine)
        async with engine.connect() as conn:
            names = set(await conn.run_sync(lambda c: inspect(c).get_table_names()))
            diffs = await conn.run_sync(
                lambda c: compare_metadata(
                    MigrationContext.configure(c, opts={"compare_type": True}), metadata
                )
            )
        assert names >= tables
        assert [d for d in diffs if any(t in repr(d) for t in tables)] == []
    finally:
        await engine.dispose()
