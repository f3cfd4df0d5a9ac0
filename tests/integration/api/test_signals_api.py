"""The signal routes (/api/v1/signals) over the bundled candles (the last 300 bars of BTC/USDT and ETH/USDT 1h and
of AAPL 1d), on SQLite and PostgreSQL: stored signals listed, counted, as of a time, per symbol; the monitor;
signals generated on demand; the watchlist; who may call what; bad inputs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
from tests.integration.api.conftest import Api, Serve, sign_in

from tsbot.accounts.models import Role
from tsbot.adapters.bundled import bundled_series, read_bundled_rows
from tsbot.apps.api.events import bus_of
from tsbot.market.service import import_candles
from tsbot.wiring import Services

#: Series loaded by :func:`load_market`, and how many of their newest bundled bars.
MARKET = {"BTC/USDT": "1h", "ETH/USDT": "1h", "AAPL": "1d"}
BARS = 300
#: Close time of the newest bundled 1h bar (open 2022-10-11 09:00 UTC).
LAST_CLOSE_1H = datetime(2022, 10, 11, 10, tzinfo=UTC)


async def load_market(services: Services, bars: int = BARS) -> dict[str, object]:
    """Store the newest ``bars`` bundled bars of each series of :data:`MARKET`; returns the rows by symbol."""
    out: dict[str, object] = {}
    for item in bundled_series():
        if MARKET.get(item.key.symbol) == item.key.timeframe.value:
            rows = read_bundled_rows(item)[-bars:]
            await import_candles(services.candles, item.key, item.asset_class.value, rows)
            out[item.key.symbol] = rows
    assert set(out) == set(MARKET)
    return out


def _ok(response: httpx.Response, status: int = 200) -> dict:  # type: ignore[type-arg]
    assert response.status_code == status, response.text
    return response.json()  # type: ignore[no-any-return]


async def _history(services: Services, *times: datetime) -> None:
    """Signals of BTC/USDT 1h stored as of each time (the scan of ``tsbot scan --as-of``)."""
    for at in times:
        result = await services.scan_service().scan(["BTC/USDT"], timeframe=None, as_of=at)
        assert len(result.signals) == 1


async def test_generate_then_list_latest_symbol_history_stats_and_monitor(
    serve: Serve, services: Services
) -> None:
    await load_market(services)
    t1, t2 = LAST_CLOSE_1H - timedelta(hours=20), LAST_CLOSE_1H - timedelta(hours=10)
    await _history(services, t1, t2)
    async with serve() as api:
        trader = await sign_in(api, Role.TRADER)
        h = trader.headers
        monitor = _ok(await api.client.get("/api/v1/signals/monitor", headers=h))
        btc = next(s for s in monitor["series"] if s["symbol"] == "BTC/USDT")
        assert btc["status"] == "behind" and btc["lag_bars"] == 10 and btc["signals"] == 2
        assert next(s for s in monitor["series"] if s["symbol"] == "AAPL")["status"] == "never"
        assert monitor["symbols_known"] == 3 and monitor["series_behind"] == 1
        assert all(s["data_stale"] for s in monitor["series"])  # the bundled bars closed in 2022

        body = {"symbols": ["btc-usdt", "ETHUSDT", "BTC/USDT"], "timeframe": "1h"}
        gen = _ok(await api.client.post("/api/v1/signals/generate", json=body, headers=h))
        assert gen["stored"] is True
        assert [s["symbol"] for s in gen["signals"]] == ["BTC/USDT", "ETH/USDT"]
        for sig in gen["signals"]:
            assert sig["as_of"] == "2022-10-11T10:00:00Z" and sig["action"] in ("BUY", "SELL", "HOLD")
            assert sig["reasons"] and set(sig["components"]) == {"technical", "sentiment", "ml"}
        assert {c["symbol"] for c in gen["status_changes"]} >= {"ETH/USDT"}  # ETH's first signal is a change
        assert bus_of(api.app).published == len(gen["status_changes"])  # pushed to the WebSocket hub

        page = _ok(await api.client.get("/api/v1/signals", params={"symbol": "BTC-USDT"}, headers=h))
        assert page["total"] == 3 and page["limit"] == 50 and page["offset"] == 0
        assert [s["as_of"] for s in page["items"]] == [
            "2022-10-11T10:00:00Z",
            "2022-10-11T00:00:00Z",
            "2022-10-10T14:00:00Z",
        ]
        assert all(isinstance(s["id"], int) and s["created_at"] for s in page["items"])
        window = {"since": "2022-10-10T20:00:00Z", "until": "2022-10-11T05:00:00Z", "limit": 1}
        ranged = _ok(await api.client.get("/api/v1/signals", params=window, headers=h))
        assert ranged["total"] == 1 and ranged["items"][0]["as_of"] == "2022-10-11T00:00:00Z"
        action = page["items"][0]["action"]
        by_action = _ok(await api.client.get("/api/v1/signals", params={"action": action}, headers=h))
        assert by_action["items"] and all(s["action"] == action for s in by_action["items"])
        second = _ok(await api.client.get("/api/v1/signals", params={"limit": 2, "offset": 2}, headers=h))
        assert second["total"] == 4 and len(second["items"]) == 2

        latest = _ok(await api.client.get("/api/v1/signals/latest", headers=h))
        assert [(s["symbol"], s["as_of"]) for s in latest["items"]] == [
            ("BTC/USDT", "2022-10-11T10:00:00Z"),
            ("ETH/USDT", "2022-10-11T10:00:00Z"),
        ]
        one = _ok(await api.client.get("/api/v1/signals/BTCUSDT", headers=h))
        assert one["symbol"] == "BTC/USDT" and one["signals"][0]["id"] == page["items"][0]["id"]
        assert one["signals"][0]["reasons"] == gen["signals"][0]["reasons"]

        at = _ok(
            await api.client.get("/api/v1/signals/history", params={"at": "2022-10-11T05:30:00"}, headers=h)
        )
        assert [(s["symbol"], s["as_of"]) for s in at["items"]] == [("BTC/USDT", "2022-10-11T00:00:00Z")]

        period = {"since": "2022-10-01T00:00:00Z", "until": "2022-10-12T00:00:00Z"}
        stats = _ok(await api.client.get("/api/v1/signals/stats", params=period, headers=h))
        assert stats["total"] == 4 and sum(stats["by_action"].values()) == 4
        assert [(c["symbol"], c["total"]) for c in stats["by_symbol"]] == [("BTC/USDT", 3), ("ETH/USDT", 1)]
        assert stats["status_changes"] >= 2  # the first signal of each series
        assert (
            stats["first_as_of"] == "2022-10-10T14:00:00Z" and stats["last_as_of"] == "2022-10-11T10:00:00Z"
        )
        recent = _ok(await api.client.get("/api/v1/signals/stats", headers=h))  # last 30 days: nothing
        assert recent["total"] == 0 and recent["by_action"] == {"BUY": 0, "SELL": 0, "HOLD": 0}

        monitor = _ok(await api.client.get("/api/v1/signals/monitor", headers=h))
        btc = next(s for s in monitor["series"] if s["symbol"] == "BTC/USDT")
        assert btc["status"] == "current" and btc["lag_bars"] == 0 and btc["signals"] == 3
        assert monitor["last_scan_at"] is not None and monitor["series_behind"] == 0


async def test_generate_without_storing_and_short_series(serve: Serve, services: Services) -> None:
    """``store: false`` stores nothing; a series with fewer bars than a signal needs is listed as skipped."""
    await load_market(services, bars=150)
    async with serve() as api:
        h = (await sign_in(api, Role.TRADER)).headers
        body = {"symbols": ["BTC"], "store": False}
        gen = _ok(await api.client.post("/api/v1/signals/generate", json=body, headers=h))
        assert gen["signals"] == [] and gen["stored"] is False
        assert gen["skipped"][0]["symbol"] == "BTC/USDT" and "200" in gen["skipped"][0]["reason"]
        assert _ok(await api.client.get("/api/v1/signals", headers=h))["total"] == 0
        missing = await api.client.get("/api/v1/signals/BTC-USDT", headers=h)
        assert missing.status_code == 404 and "generate" in missing.json()["message"]


async def test_watchlist_add_replace_remove_and_filter(serve: Serve, services: Services) -> None:
    await load_market(services)
    await _history(services, LAST_CLOSE_1H)
    async with serve() as api:
        trader, other = await sign_in(api, Role.TRADER), await sign_in(api, Role.TRADER)
        h, url = trader.headers, "/api/v1/signals/watchlist"
        assert _ok(await api.client.get(url, headers=h)) == {"symbols": [], "max_symbols": 200}
        assert _ok(await api.client.post(f"{url}/btc-usdt", headers=h), 201)["symbols"] == ["BTC/USDT"]
        assert _ok(await api.client.post(f"{url}/BTCUSDT", headers=h), 201)["symbols"] == ["BTC/USDT"]
        mine = _ok(await api.client.get("/api/v1/signals", params={"watchlist": True}, headers=h))
        assert mine["total"] == 1
        theirs = _ok(
            await api.client.get("/api/v1/signals", params={"watchlist": True}, headers=other.headers)
        )
        assert theirs["total"] == 0  # the other user's watchlist is empty

        replaced = _ok(
            await api.client.put(url, json={"symbols": ["AAPL", "eth_usdt", "BTC", "AAPL"]}, headers=h)
        )
        assert replaced["symbols"] == ["AAPL", "ETH/USDT", "BTC/USDT"]
        assert _ok(await api.client.get(url, headers=h))["symbols"] == ["AAPL", "ETH/USDT", "BTC/USDT"]
        monitor = _ok(await api.client.get("/api/v1/signals/monitor", headers=h))
        assert monitor["my_watchlist"] == 3 and monitor["symbols_watched"] == 3

        assert _ok(await api.client.delete(f"{url}/ETH-USDT", headers=h))["symbols"] == ["AAPL", "BTC/USDT"]
        again = await api.client.delete(f"{url}/ETH-USDT", headers=h)
        assert again.status_code == 404 and "not on your watchlist" in again.json()["message"]

        unknown = await api.client.post(f"{url}/DOGE-USDT", headers=h)
        assert unknown.status_code == 422
        assert (
            "unknown symbol 'DOGE-USDT'" in unknown.json()["message"]
            and "BTC/USDT" in unknown.json()["message"]
        )
        bad_put = await api.client.put(url, json={"symbols": ["ETH", "NOPE"]}, headers=h)
        assert bad_put.status_code == 422 and "'NOPE'" in bad_put.json()["message"]
        assert _ok(await api.client.get(url, headers=h))["symbols"] == ["AAPL", "BTC/USDT"]  # unchanged
        too_many = await api.client.put(url, json={"symbols": ["BTC"] * 201}, headers=h)
        assert too_many.status_code == 422
        assert _ok(await api.client.put(url, json={"symbols": []}, headers=h))["symbols"] == []


async def test_credentials_and_permissions(serve: Serve, services: Services) -> None:
    """401 without a token; a viewer reads but may neither generate nor change a watchlist (403); an API key
    scoped to market data only may not read signals (403)."""
    await load_market(services)
    async with serve() as api:
        for method, path in [
            ("GET", "/api/v1/signals"),
            ("GET", "/api/v1/signals/monitor"),
            ("GET", "/api/v1/signals/watchlist"),
            ("POST", "/api/v1/signals/watchlist/BTC-USDT"),
        ]:
            response = await api.client.request(method, path)
            assert response.status_code == 401 and response.headers["www-authenticate"] == "Bearer"
        viewer = await sign_in(api, Role.VIEWER)
        h = viewer.headers
        assert _ok(await api.client.get("/api/v1/signals/latest", headers=h))["items"] == []
        assert _ok(await api.client.get("/api/v1/signals/watchlist", headers=h))["symbols"] == []
        gen = await api.client.post("/api/v1/signals/generate", json={"symbols": ["BTC"]}, headers=h)
        assert gen.status_code == 403 and "write_signals" in gen.json()["message"]
        assert (
            await api.client.put("/api/v1/signals/watchlist", json={"symbols": []}, headers=h)
        ).status_code == 403
        assert (await api.client.post("/api/v1/signals/watchlist/BTC", headers=h)).status_code == 403
        assert (await api.client.delete("/api/v1/signals/watchlist/BTC", headers=h)).status_code == 403
        key = await _scoped_key(api, viewer.user.id, ["read_market"])
        denied = await api.client.get("/api/v1/signals", headers={"Authorization": f"Bearer {key}"})
        assert denied.status_code == 403 and "read_signals" in denied.json()["message"]


async def _scoped_key(api: Api, user_id: str, scopes: list[str]) -> str:
    from tsbot.apps.api import auth

    return (await auth.accounts_of_app(api.app).create_api_key(user_id, "scoped", scopes)).key


async def test_bad_inputs_are_4xx(serve: Serve, services: Services) -> None:
    """since after until, unknown symbol in a query, unknown timeframe and action, limit 0 and 501, history
    without ``at``, a time that overflows once shifted to UTC, an unknown symbol in the path (404), generate with
    no symbols, 21 symbols, an unknown one, or a timeframe none of them has (404)."""
    await load_market(services)
    async with serve() as api:
        h = (await sign_in(api, Role.TRADER)).headers
        for params in [
            {"since": "2022-10-02T00:00:00Z", "until": "2022-10-01T00:00:00Z"},
            {"symbol": "NOPE"},
            {"timeframe": "7m"},
            {"action": "STRONG_BUY"},
            {"limit": 0},
            {"limit": 501},
            {"offset": -1},
            {"since": "9999-12-31T23:59:59-05:00"},
            {"exchange": "Binance!"},
        ]:
            response = await api.client.get("/api/v1/signals", params=params, headers=h)
            assert response.status_code == 422, (params, response.text)
        assert (await api.client.get("/api/v1/signals/history", headers=h)).status_code == 422
        bad_at = await api.client.get(
            "/api/v1/signals/history", params={"at": "0001-01-01T00:00:00+05:00"}, headers=h
        )
        assert bad_at.status_code == 422
        far = await api.client.get(
            "/api/v1/signals/stats", params={"until": "0001-01-02T00:00:00Z"}, headers=h
        )
        assert far.status_code == 200 and far.json()["total"] == 0
        missing = await api.client.get("/api/v1/signals/NOPE-USDT", headers=h)
        assert missing.status_code == 404 and "known symbols" in missing.json()["message"]
        for body, status in [
            ({"symbols": []}, 422),
            ({"symbols": [f"S{i}" for i in range(21)]}, 422),
            ({"symbols": ["BTC", "XYZ"]}, 422),
            ({"symbols": ["AAPL"], "timeframe": "1h"}, 404),
            ({"symbols": ["BTC"], "timeframe": "2h"}, 422),
        ]:
            response = await api.client.post("/api/v1/signals/generate", json=body, headers=h)
            assert response.status_code == status, (body, response.text)
