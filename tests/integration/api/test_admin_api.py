"""Administration routes (SQLite and PostgreSQL): dashboard, users, activity log, signals, caches."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta

import pytest
import redis
from tests.integration.api.conftest import (
    IN_CI,
    PASSWORD,
    REDIS_URL,
    Api,
    Caller,
    Serve,
    random_ip,
    sign_in,
)

from tsbot.accounts.models import Role
from tsbot.apps.api import auth
from tsbot.apps.api.cache import named_cache
from tsbot.core.enums import Action
from tsbot.core.time import utc_now
from tsbot.market.models import SeriesKey, Timeframe
from tsbot.signals.models import Components, Signal
from tsbot.trading.bots import BotConfig

ADMIN = "/api/v1/admin"


async def owned_objects(api: Api, caller: Caller) -> dict[str, str]:
    """The admin routes address users by ``user_id``, which no user owns (admins act on every user): none."""
    return {}


def _signal(symbol: str, as_of: datetime, action: Action = Action.BUY) -> Signal:
    return Signal(
        key=SeriesKey("binance", symbol, Timeframe("1h")),
        as_of=as_of,
        action=action,
        score=0.4 if action is Action.BUY else -0.4,
        confidence=0.6,
        price=100.0,
        stop_loss=95.0,
        take_profit=[105.0, 110.0],
        components=Components(0.4, None, None),
        reasons=["RSI crossed up"],
        headlines=[],
    )


async def test_dashboard_counts_users_sign_ins_signals_and_database_size(serve: Serve) -> None:
    async with serve() as api:
        admin = await sign_in(api, Role.ADMIN)
        await sign_in(api, Role.VIEWER)
        now = utc_now()
        await api.app.state.services.signals.save([_signal("BTC/USDT", now - timedelta(hours=2))])
        answer = await api.client.get(f"{ADMIN}/dashboard", headers=admin.headers)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["users_total"] == 2
    assert body["users_by_role"] == {"admin": 1, "viewer": 1}
    assert body["users_active"] == 2 and body["users_inactive"] == 0
    assert body["sign_ins_24h"] == 2
    assert body["signals_total"] == 1 and body["signals_24h"] == 1
    assert body["orders_total"] == 0 and body["bots_running"] == 0
    assert body["database_bytes"] > 0


async def test_admin_routes_refuse_anonymous_401_and_trader_403(serve: Serve) -> None:
    routes = [
        ("GET", f"{ADMIN}/dashboard"),
        ("GET", f"{ADMIN}/users"),
        ("POST", f"{ADMIN}/users"),
        ("GET", f"{ADMIN}/activity"),
        ("GET", f"{ADMIN}/signals"),
        ("GET", f"{ADMIN}/cache"),
        ("DELETE", f"{ADMIN}/cache"),
        ("POST", f"{ADMIN}/users/someone/deactivate"),
    ]
    async with serve() as api:
        trader = await sign_in(api, Role.TRADER)
        for method, url in routes:
            anonymous = await api.client.request(method, url)
            assert anonymous.status_code == 401, (method, url, anonymous.text)
            refused = await api.client.request(method, url, headers=trader.headers)
            assert refused.status_code == 403, (method, url, refused.text)


async def test_create_read_update_delete_a_user_without_secrets_in_answers(serve: Serve) -> None:
    async with serve() as api:
        admin = await sign_in(api, Role.ADMIN)
        client, headers = api.client, admin.headers
        created = await client.post(
            f"{ADMIN}/users",
            headers=headers,
            json={
                "email": "Carol@Example.com",
                "password": PASSWORD,
                "role": "trader",
                "display_name": "Carol",
            },
        )
        assert created.status_code == 201, created.text
        user = created.json()
        assert user["email"] == "carol@example.com" and user["role"] == "trader"
        assert not {"password", "password_hash", "totp_secret"} & set(user)
        assert PASSWORD not in created.text
        user_id = user["id"]

        taken = await client.post(
            f"{ADMIN}/users", headers=headers, json={"email": "carol@example.com", "password": PASSWORD}
        )
        assert taken.status_code == 409
        weak = await client.post(
            f"{ADMIN}/users", headers=headers, json={"email": "d@example.com", "password": "1"}
        )
        assert weak.status_code == 422
        extra_field = await client.post(
            f"{ADMIN}/users",
            headers=headers,
            json={"email": "e@example.com", "password": PASSWORD, "is_admin": True},
        )
        assert extra_field.status_code == 422

        assert (await client.get(f"{ADMIN}/users/{user_id}", headers=headers)).json()[
            "display_name"
        ] == "Carol"
        until = (utc_now() + timedelta(days=10)).replace(microsecond=0)
        patched = await client.patch(
            f"{ADMIN}/users/{user_id}",
            headers=headers,
            json={"role": "viewer", "display_name": "Carol V", "active_until": until.isoformat()},
        )
        assert patched.status_code == 200, patched.text
        assert patched.json()["role"] == "viewer" and patched.json()["display_name"] == "Carol V"
        assert datetime.fromisoformat(patched.json()["active_until"]) == until
        extended = await client.patch(f"{ADMIN}/users/{user_id}", headers=headers, json={"extend_days": 5})
        assert datetime.fromisoformat(extended.json()["active_until"]) == until + timedelta(days=5)
        no_end = await client.patch(f"{ADMIN}/users/{user_id}", headers=headers, json={"active_until": None})
        assert no_end.json()["active_until"] is None
        zero_days = await client.patch(f"{ADMIN}/users/{user_id}", headers=headers, json={"extend_days": 0})
        assert zero_days.status_code == 422
        bad_role = await client.patch(f"{ADMIN}/users/{user_id}", headers=headers, json={"role": "root"})
        assert bad_role.status_code == 422

        deleted = await client.delete(f"{ADMIN}/users/{user_id}", headers=headers)
        assert deleted.status_code == 204
        assert (await client.get(f"{ADMIN}/users/{user_id}", headers=headers)).status_code == 404
        assert (await client.delete(f"{ADMIN}/users/{user_id}", headers=headers)).status_code == 404
        assert (await client.patch(f"{ADMIN}/users/nobody", headers=headers, json={})).status_code == 404


async def test_list_users_filters_by_role_active_and_email_part_with_pages(serve: Serve) -> None:
    async with serve() as api:
        admin = await sign_in(api, Role.ADMIN, email="boss@corp.example")
        for i in range(3):
            await sign_in(api, Role.VIEWER, email=f"viewer{i}@corp.example")
        await sign_in(api, Role.TRADER, email="trader_x@else.example")
        get = api.client.get
        page = (
            await get(f"{ADMIN}/users", headers=admin.headers, params={"role": "viewer", "limit": 2})
        ).json()
        assert page["total"] == 3 and len(page["items"]) == 2 and page["limit"] == 2 and page["offset"] == 0
        rest = (
            await get(f"{ADMIN}/users", headers=admin.headers, params={"role": "viewer", "offset": 2})
        ).json()
        assert [u["email"] for u in rest["items"]] == ["viewer2@corp.example"]
        found = (await get(f"{ADMIN}/users", headers=admin.headers, params={"email": "CORP"})).json()
        assert found["total"] == 4
        # "_" and "%" are literal characters in the search, not LIKE wildcards
        underscore = (await get(f"{ADMIN}/users", headers=admin.headers, params={"email": "r_x"})).json()
        assert [u["email"] for u in underscore["items"]] == ["trader_x@else.example"]
        assert (await get(f"{ADMIN}/users", headers=admin.headers, params={"email": "%"})).json()[
            "total"
        ] == 0
        inactive = (await get(f"{ADMIN}/users", headers=admin.headers, params={"active": "false"})).json()
        assert inactive["total"] == 0
        for bad in ({"limit": 0}, {"limit": 501}, {"offset": -1}, {"role": "root"}, {"active": "maybe"}):
            assert (await get(f"{ADMIN}/users", headers=admin.headers, params=bad)).status_code == 422, bad


async def test_deactivation_refuses_the_users_tokens_keys_and_refresh(serve: Serve) -> None:
    async with serve() as api:
        admin = await sign_in(api, Role.ADMIN)
        viewer = await sign_in(api, Role.VIEWER)
        accounts = auth.accounts_of_app(api.app)
        key = (await accounts.create_api_key(viewer.user.id, "bot")).key
        me = "/api/v1/me"
        assert (await api.client.get(me, headers=viewer.headers)).status_code == 200
        assert (await api.client.get(me, headers={"Authorization": f"Bearer {key}"})).status_code == 200

        answer = await api.client.post(f"{ADMIN}/users/{viewer.user.id}/deactivate", headers=admin.headers)
        assert answer.status_code == 200 and answer.json()["is_active"] is False

        assert (await api.client.get(me, headers=viewer.headers)).status_code == 403
        assert (await api.client.get(me, headers={"Authorization": f"Bearer {key}"})).status_code == 403
        refresh = await api.client.post("/api/v1/auth/refresh", json={"refresh_token": viewer.refresh_token})
        assert refresh.status_code in (401, 403)
        log = (
            await api.client.get(
                f"{ADMIN}/activity", headers=admin.headers, params={"action": "user.deactivated"}
            )
        ).json()
        entry = log["items"][0]
        assert entry["actor_id"] == admin.user.id and entry["actor"] == admin.user.email
        assert entry["target"] == viewer.user.id and entry["ip"] == "127.0.0.1"
        assert entry["details"]["sessions_ended"] == 1


async def test_last_admin_cannot_be_deactivated_demoted_or_deleted_409(serve: Serve) -> None:
    async with serve() as api:
        admin = await sign_in(api, Role.ADMIN)
        url = f"{ADMIN}/users/{admin.user.id}"
        assert (await api.client.post(f"{url}/deactivate", headers=admin.headers)).status_code == 409
        assert (
            await api.client.patch(url, headers=admin.headers, json={"role": "viewer"})
        ).status_code == 409
        assert (
            await api.client.patch(url, headers=admin.headers, json={"is_active": False})
        ).status_code == 409
        assert (await api.client.delete(url, headers=admin.headers)).status_code == 409
        assert (await api.client.get(url, headers=admin.headers)).json()["role"] == "admin"


async def test_an_admin_cannot_lock_themselves_out_but_another_admin_can(serve: Serve) -> None:
    """Bad input: an admin (not the last one) deleting, deactivating and demoting their own account."""
    async with serve() as api:
        first, second = await sign_in(api, Role.ADMIN), await sign_in(api, Role.ADMIN)
        url = f"{ADMIN}/users/{first.user.id}"
        for answer in (
            await api.client.delete(url, headers=first.headers),
            await api.client.post(f"{url}/deactivate", headers=first.headers),
            await api.client.patch(url, headers=first.headers, json={"role": "viewer"}),
        ):
            assert answer.status_code == 409 and answer.json()["type"] == "own_account", answer.text
        renamed = await api.client.patch(
            url, headers=first.headers, json={"display_name": "Boss", "role": "admin"}
        )
        assert renamed.status_code == 200 and renamed.json()["display_name"] == "Boss"
        assert (await api.client.post(f"{url}/deactivate", headers=second.headers)).status_code == 200


async def test_activity_log_filters_by_actor_action_and_time_with_pages(serve: Serve) -> None:
    async with serve() as api:
        admin = await sign_in(api, Role.ADMIN)
        viewer = await sign_in(api, Role.VIEWER)
        await api.client.patch(
            f"{ADMIN}/users/{viewer.user.id}", headers=admin.headers, json={"role": "trader"}
        )
        get = api.client.get
        by_admin = (
            await get(f"{ADMIN}/activity", headers=admin.headers, params={"actor_id": admin.user.id})
        ).json()
        actions = [e["action"] for e in by_admin["items"]]
        assert actions[0] == "user.role_changed" and "session.login" in actions
        assert by_admin["items"][0]["details"] == {"old": "viewer", "new": "trader"}
        everything = (await get(f"{ADMIN}/activity", headers=admin.headers)).json()
        assert everything["total"] >= 5  # two created (operator), two sign-ins, one role change
        one = (await get(f"{ADMIN}/activity", headers=admin.headers, params={"limit": 1, "offset": 1})).json()
        assert one["items"] == everything["items"][1:2] and one["total"] == everything["total"]
        future = (utc_now() + timedelta(hours=1)).isoformat()
        assert (await get(f"{ADMIN}/activity", headers=admin.headers, params={"since": future})).json()[
            "total"
        ] == 0
        two = (
            await get(
                f"{ADMIN}/activity",
                headers=admin.headers,
                params=[("action", "user.created"), ("action", "user.role_changed")],
            )
        ).json()
        assert two["total"] == 3
        for bad in ({"since": "yesterday"}, {"until": "2026-13-01"}, {"limit": 1000}):
            assert (await get(f"{ADMIN}/activity", headers=admin.headers, params=bad)).status_code == 422, bad


async def test_all_signals_and_a_users_signals_from_their_bots_pairs(serve: Serve) -> None:
    async with serve() as api:
        admin = await sign_in(api, Role.ADMIN)
        trader = await sign_in(api, Role.TRADER)
        services = api.app.state.services
        start = datetime(2026, 1, 1, tzinfo=UTC)
        await services.signals.save(
            [
                _signal("BTC/USDT", start),
                _signal("ETH/USDT", start),
                _signal("BTC/USDT", start + timedelta(hours=1)),
            ]
        )
        await services.bots.create(
            BotConfig.new(
                trader.user.id, "b1", "sma_cross", "BTC/USDT", 1000, account="paper:p1", now=utc_now()
            )
        )
        get = api.client.get
        everything = (await get(f"{ADMIN}/signals", headers=admin.headers)).json()
        assert everything["total"] == 3
        assert everything["items"][0]["as_of"].startswith("2026-01-01T01:00")
        assert everything["items"][0]["take_profit"] == [105.0, 110.0]
        eth = (await get(f"{ADMIN}/signals", headers=admin.headers, params={"symbol": "ETH/USDT"})).json()
        assert [s["symbol"] for s in eth["items"]] == ["ETH/USDT"]
        late = {"since": (start + timedelta(minutes=30)).isoformat(), "action": "BUY"}
        assert (await get(f"{ADMIN}/signals", headers=admin.headers, params=late)).json()["total"] == 1
        mine = (await get(f"{ADMIN}/users/{trader.user.id}/signals", headers=admin.headers)).json()
        assert mine["total"] == 2 and {s["symbol"] for s in mine["items"]} == {"BTC/USDT"}
        nothing = (await get(f"{ADMIN}/users/{admin.user.id}/signals", headers=admin.headers)).json()
        assert nothing["total"] == 0
        assert (await get(f"{ADMIN}/users/nobody/signals", headers=admin.headers)).status_code == 404
        assert (
            await get(f"{ADMIN}/signals", headers=admin.headers, params={"action": "BUYY"})
        ).status_code == 422


async def test_cache_status_counts_keys_hits_misses_and_clear_empties_it(serve: Serve) -> None:
    async with serve() as api:
        admin = await sign_in(api, Role.ADMIN)
        cache = named_cache(api.app, "quotes", ttl_s=30)
        await cache.set("a", {"price": "1.5"})
        await cache.set("b", [1, 2])
        assert await cache.get("a") == {"price": "1.5"}
        assert await cache.get("zzz") is None
        status = (await api.client.get(f"{ADMIN}/cache", headers=admin.headers)).json()
        assert status["backend"] == "memory"
        assert status["caches"] == [
            {
                "name": "quotes",
                "backend": "memory",
                "ttl_s": 30.0,
                "keys": 2,
                "hits": 1,
                "misses": 1,
                "error": None,
            }
        ]
        unknown = await api.client.delete(f"{ADMIN}/cache", headers=admin.headers, params={"name": "nope"})
        assert unknown.status_code == 404
        cleared = (await api.client.delete(f"{ADMIN}/cache", headers=admin.headers)).json()
        assert cleared == {"cleared": {"quotes": 2}, "total": 2}
        assert await cache.get("a") is None


@pytest.fixture
def redis_available() -> None:
    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2)
    try:
        client.ping()
    except redis.RedisError as exc:
        if IN_CI:
            pytest.fail(f"Redis at {REDIS_URL} is required in CI: {exc}")
        pytest.skip(f"no Redis answers at {REDIS_URL} ({exc})")
    finally:
        client.close()


async def test_cache_on_redis_is_counted_and_cleared_by_name(serve: Serve, redis_available: None) -> None:
    name = f"test-{secrets.token_hex(4)}"
    async with serve(redis_url=REDIS_URL, client_ip=random_ip()) as api:
        admin = await sign_in(api, Role.ADMIN)
        cache = named_cache(api.app, name, ttl_s=30)
        for i in range(3):
            await cache.set(f"k{i}", {"i": i})
        assert await cache.get("k1") == {"i": 1}
        status = (await api.client.get(f"{ADMIN}/cache", headers=admin.headers)).json()
        assert status["backend"] == "redis"
        assert [(c["name"], c["keys"], c["hits"]) for c in status["caches"]] == [(name, 3, 1)]
        cleared = await api.client.delete(f"{ADMIN}/cache", headers=admin.headers, params={"name": name})
        assert cleared.json() == {"cleared": {name: 3}, "total": 3}
        assert await cache.get("k1") is None
