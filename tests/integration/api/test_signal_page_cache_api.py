"""``GET /api/v1/signals`` (and ``/latest``, ``/history``) served from the page cache (SQLite and PostgreSQL): a page
read twice is read once from the database, and a signal stored or changed by any process (here: a second engine on
the same database) shows on the very next request; each filter and page is a page of its own;
``api.page_cache_entries: 0`` turns it off (also as a live configuration change); the admin cache routes list and
empty it."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

from tests.integration.api.conftest import Serve, sign_in

from tsbot.accounts.models import Role
from tsbot.adapters.storage.database import create_engine
from tsbot.adapters.storage.signals import SqlSignalStore
from tsbot.adapters.storage.watch import SqlWatchlistStore
from tsbot.apps.api.signal_pages import signal_pages_of
from tsbot.core.enums import Action
from tsbot.market.models import SeriesKey, Timeframe
from tsbot.signals.models import Components, Signal
from tsbot.wiring import Services

T0 = datetime(2024, 6, 3, tzinfo=UTC)
SIGNALS = "/api/v1/signals"


def _signal(hour: int, symbol: str = "BTC/USDT", action: Action = Action.BUY) -> Signal:
    return Signal(
        key=SeriesKey("binance", symbol, Timeframe.H1),
        as_of=T0 + timedelta(hours=hour),
        action=action,
        score=0.4 if action is Action.BUY else -0.4,
        confidence=0.7,
        price=65_000.0 + hour,
        stop_loss=64_000.0,
        take_profit=[66_000.0, 67_000.0],
        components=Components(0.4, None, None),
        reasons=[f"hour {hour}"],
    )


async def test_pages_follow_every_change_made_by_any_process(
    serve: Serve, services: Services, database_url: str
) -> None:
    await services.signals.save([_signal(0), _signal(1)])
    other = create_engine(database_url)  # another process: a monitor cycle, another API worker
    try:
        async with serve() as api:
            h = (await sign_in(api, Role.TRADER)).headers
            cache = signal_pages_of(api.app)
            first = await api.client.get(SIGNALS, headers=h)
            assert first.status_code == 200 and first.headers["content-type"] == "application/json"
            assert first.json()["total"] == 2 and [s["as_of"] for s in first.json()["items"]] == [
                "2024-06-03T01:00:00Z",
                "2024-06-03T00:00:00Z",
            ]
            again = await api.client.get(SIGNALS, headers=h)
            assert again.content == first.content and (cache.hits, cache.misses) == (1, 1)

            await SqlSignalStore(other).save([_signal(2, "ETH/USDT")])  # a new signal elsewhere
            added = (await api.client.get(SIGNALS, headers=h)).json()
            assert added["total"] == 3 and added["items"][0]["symbol"] == "ETH/USDT"
            assert (cache.hits, cache.misses) == (1, 2)

            changed = dataclasses.replace(_signal(1), action=Action.SELL, score=-0.5)  # same row, new values
            await SqlSignalStore(other).save([changed])
            page = (await api.client.get(SIGNALS, headers=h)).json()
            row = next(s for s in page["items"] if s["as_of"] == "2024-06-03T01:00:00Z")
            assert row["action"] == "SELL" and row["score"] == -0.5 and page["total"] == 3

            one = (await api.client.get(SIGNALS, headers=h, params={"limit": 1})).json()  # a page of its own
            sells = (await api.client.get(SIGNALS, headers=h, params={"action": "SELL"})).json()
            assert len(one["items"]) == 1 and one["total"] == 3 and sells["total"] == 1
            assert (await api.client.get(SIGNALS, headers=h)).json() == page  # unchanged: from the cache
            assert cache.hits == 2 and await cache.size() == 3

            admin = await sign_in(api, Role.ADMIN)
            status = (await api.client.get("/api/v1/admin/cache", headers=admin.headers)).json()
            pages = next(c for c in status["caches"] if c["name"] == "signal_pages")
            assert pages["keys"] == 3 and pages["hits"] == 2 and pages["backend"] == "memory"
            cleared = await api.client.delete(
                "/api/v1/admin/cache", headers=admin.headers, params={"name": "signal_pages"}
            )
            assert cleared.json()["cleared"] == {"signal_pages": 3} and await cache.size() == 0
            assert (await api.client.get(SIGNALS, headers=h)).json() == page
    finally:
        await other.dispose()


async def test_no_cache_when_turned_off(serve: Serve, services: Services) -> None:
    await services.signals.save([_signal(0)])
    async with serve(api={"page_cache_entries": 0}) as api:
        h = (await sign_in(api, Role.VIEWER)).headers
        for expected in (1, 1, 2):
            if expected == 2:
                await services.signals.save([_signal(1)])
            assert (await api.client.get(SIGNALS, headers=h)).json()["total"] == expected
        cache = signal_pages_of(api.app)
        assert cache.hits == 0 and await cache.size() == 0


async def test_watchlist_pages_are_each_users_own(serve: Serve, services: Services) -> None:
    """Two users with different watchlists ask the same query: each gets the signals of their own list."""
    await services.signals.save([_signal(0), _signal(1, "ETH/USDT")])
    async with serve() as api:
        alice, bob = await sign_in(api, Role.TRADER), await sign_in(api, Role.TRADER)
        await SqlWatchlistStore(services.db).replace(alice.user.id, ["BTC/USDT"])
        await SqlWatchlistStore(services.db).replace(bob.user.id, ["ETH/USDT"])
        mine = {"watchlist": "true"}
        for caller, symbol in ((alice, "BTC/USDT"), (bob, "ETH/USDT"), (alice, "BTC/USDT")):
            page = (await api.client.get(SIGNALS, headers=caller.headers, params=mine)).json()
            assert [s["symbol"] for s in page["items"]] == [symbol]


async def test_a_live_change_of_the_cache_size_applies_at_once(serve: Serve, services: Services) -> None:
    await services.signals.save([_signal(0)])
    async with serve() as api:
        admin = (await sign_in(api, Role.ADMIN)).headers
        for _ in range(2):
            assert (await api.client.get(SIGNALS, headers=admin)).json()["total"] == 1
        cache = signal_pages_of(api.app)
        assert cache.hits == 1 and await cache.size() == 1
        off = await api.client.patch(
            "/api/v1/admin/config/app", headers=admin, json={"api": {"page_cache_entries": 0}}
        )
        assert off.status_code == 200, off.text
        assert not cache.enabled and await cache.size() == 0
        for _ in range(2):
            assert (await api.client.get(SIGNALS, headers=admin)).json()["total"] == 1
        assert cache.hits == 1 and await cache.size() == 0


async def test_latest_and_history_pages_follow_every_change_too(
    serve: Serve, services: Services, database_url: str
) -> None:
    """``/signals/latest`` (what the dashboard polls) and ``/signals/history`` are cached the same way, each route
    under keys of its own."""
    await services.signals.save([_signal(0), _signal(1)])
    other = create_engine(database_url)
    try:
        async with serve() as api:
            h = (await sign_in(api, Role.VIEWER)).headers
            cache = signal_pages_of(api.app)
            at = {"at": "2024-06-03T00:30:00Z"}
            for _ in range(2):
                latest = (await api.client.get(f"{SIGNALS}/latest", headers=h)).json()
                history = (await api.client.get(f"{SIGNALS}/history", headers=h, params=at)).json()
                assert [(s["symbol"], s["as_of"]) for s in latest["items"]] == [
                    ("BTC/USDT", "2024-06-03T01:00:00Z")
                ]
                assert [(s["symbol"], s["as_of"]) for s in history["items"]] == [
                    ("BTC/USDT", "2024-06-03T00:00:00Z")
                ]
            assert (cache.hits, cache.misses) == (2, 2)

            await SqlSignalStore(other).save([_signal(2), _signal(0, "ETH/USDT", Action.SELL)])
            latest = (await api.client.get(f"{SIGNALS}/latest", headers=h)).json()
            history = (await api.client.get(f"{SIGNALS}/history", headers=h, params=at)).json()
            assert [(s["symbol"], s["as_of"]) for s in latest["items"]] == [
                ("BTC/USDT", "2024-06-03T02:00:00Z"),
                ("ETH/USDT", "2024-06-03T00:00:00Z"),
            ]
            assert [(s["symbol"], s["action"]) for s in history["items"]] == [
                ("BTC/USDT", "BUY"),
                ("ETH/USDT", "SELL"),
            ]
            listed = (await api.client.get(SIGNALS, headers=h)).json()  # the same filter, another route
            assert listed["total"] == 4 and (cache.hits, cache.misses) == (2, 5)
    finally:
        await other.dispose()
