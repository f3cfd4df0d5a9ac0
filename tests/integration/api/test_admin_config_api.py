"""Configuration routes (SQLite and PostgreSQL): read with secrets masked, validated changes with an audit entry,
applied without restart here and picked up by another process over the database."""

from __future__ import annotations

import asyncio
import dataclasses
import logging

from cryptography.fernet import Fernet
from tests.integration.api.conftest import PASSWORD, Api, Caller, Serve, random_ip, sign_in

from tsbot.accounts.models import OPERATOR, Role
from tsbot.apps.api import auth
from tsbot.apps.api.admin_config import refresh_config
from tsbot.apps.api.app import create_app
from tsbot.apps.api.config_sections import SECRET_FIELDS

CONFIG = "/api/v1/admin/config"
JWT_SECRET = "jwt-secret-" + "x" * 40
SMTP_PASSWORD = "smtp-password-123"
ALPACA_KEY = "AKALPACAKEY123"


async def owned_objects(api: Api, caller: Caller) -> dict[str, str]:
    """Configuration sections belong to nobody: none."""
    return {}


async def test_read_sections_masks_every_secret_and_names_restart_keys(serve: Serve) -> None:
    fernet_key = Fernet.generate_key().decode()
    async with serve(
        security={"jwt_secret": JWT_SECRET, "encryption_keys": [fernet_key]},
        email={"password": SMTP_PASSWORD, "host": "smtp.example.com"},
        alpaca_api_key=ALPACA_KEY,
        broker_url="amqp://guest:rabbit-pass@127.0.0.1:5672/",
    ) as api:
        admin = await sign_in(api, Role.ADMIN)
        answers = {
            s: await api.client.get(f"{CONFIG}/{s}", headers=admin.headers) for s in ("app", "trading")
        }
        answers["logging"] = await api.client.get(f"{CONFIG}/logging", headers=admin.headers)
        answers["symbols"] = await api.client.get(f"{CONFIG}/symbols", headers=admin.headers)
        unknown = await api.client.get(f"{CONFIG}/secrets", headers=admin.headers)
    assert {s: a.status_code for s, a in answers.items()} == dict.fromkeys(answers, 200)
    app = answers["app"].json()
    assert app["values"]["security"] == {"encryption_keys": ["***"], "jwt_secret": "***"}
    assert (
        app["values"]["email"]["password"] == "***" and app["values"]["email"]["host"] == "smtp.example.com"
    )
    assert app["values"]["alpaca_api_key"] == "***"
    assert app["values"]["broker_url"] == "amqp://guest:***@127.0.0.1:5672/"
    for secret in (JWT_SECRET, fernet_key, SMTP_PASSWORD, ALPACA_KEY, "rabbit-pass"):
        assert secret not in answers["app"].text
    assert {"database_url", "redis_url", "api.port", "sentiment_model.name"} <= set(app["restart_keys"])
    assert {"security.jwt_secret", "email.password", "alpaca_api_key"} <= set(app["secret_keys"])
    assert set(app["secret_keys"]) >= SECRET_FIELDS  # every SecretStr setting, set or not
    assert "trading" not in app["values"] and "log_level" not in app["values"]
    assert answers["trading"].json()["values"]["buy_threshold"] == 0.15
    assert "watchlist" not in answers["trading"].json()["values"]
    assert answers["logging"].json()["values"] == {"log_level": "INFO"}
    assert answers["symbols"].json()["values"] == {"watchlist": [], "timeframe": None}
    assert unknown.status_code == 422


async def test_patch_is_validated_audited_applied_live_and_read_by_another_process(serve: Serve) -> None:
    async with serve() as api:
        admin = await sign_in(api, Role.ADMIN)
        answer = await api.client.patch(
            f"{CONFIG}/trading", headers=admin.headers, json={"buy_threshold": 0.25, "weights": {"ml": 0.5}}
        )
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert body["changes"] == [
            {"key": "trading.buy_threshold", "old": 0.15, "new": 0.25},
            {"key": "trading.weights.ml", "old": 0.3, "new": 0.5},
        ]
        assert body["values"]["buy_threshold"] == 0.25 and body["updated_by"] == admin.user.email
        services = api.app.state.services
        assert api.app.state.settings.trading.buy_threshold == 0.25
        assert (
            services.settings.trading.weights.ml == 0.5 and services.settings.trading.weights.technical == 0.7
        )

        # a second PATCH merges with the first
        await api.client.patch(
            f"{CONFIG}/trading", headers=admin.headers, json={"weights": {"technical": 0.6}}
        )
        again = (await api.client.get(f"{CONFIG}/trading", headers=admin.headers)).json()
        assert again["values"]["buy_threshold"] == 0.25 and again["values"]["weights"]["technical"] == 0.6
        assert again["overrides"] == {
            "trading": {"buy_threshold": 0.25, "weights": {"ml": 0.5, "technical": 0.6}}
        }

        log = await api.client.get(
            "/api/v1/admin/activity", headers=admin.headers, params={"action": "config.changed"}
        )
        entries = log.json()["items"]
        assert len(entries) == 2
        assert entries[1]["actor_id"] == admin.user.id and entries[1]["ip"] == "127.0.0.1"
        assert entries[1]["target"] == "trading" and entries[1]["details"]["changes"] == body["changes"]

        # another process over the same database: applies the stored changes at start and on its next poll
        fresh = dataclasses.replace(services, settings=api.app.state.config_base)
        other = create_app(fresh)
        async with other.router.lifespan_context(other):
            assert other.state.settings.trading.buy_threshold == 0.25
            await api.client.patch(
                f"{CONFIG}/symbols", headers=admin.headers, json={"watchlist": ["ETH/USDT"]}
            )
            assert other.state.settings.trading.watchlist == []
            assert await refresh_config(other) is True
            assert other.state.settings.trading.watchlist == ["ETH/USDT"]
            assert fresh.settings.trading.watchlist == ["ETH/USDT"]
            assert await refresh_config(other) is False


async def test_bad_updates_are_refused_422_naming_the_key(serve: Serve) -> None:
    async with serve() as api:
        admin = await sign_in(api, Role.ADMIN)
        h = admin.headers
        cases = {
            "buy_threshold above 1": ("trading", {"buy_threshold": 2}, "trading.buy_threshold"),
            "sell_threshold as text": ("trading", {"sell_threshold": "low"}, "trading.sell_threshold"),
            "unknown trading key": ("trading", {"buy_treshold": 0.2}, "trading.buy_treshold"),
            "unknown nested key": ("trading", {"weights": {"vibes": 1}}, "trading.weights.vibes"),
            "timeframe 7m": ("symbols", {"timeframe": "7m"}, "trading.timeframe"),
            "watchlist in trading": ("trading", {"watchlist": ["X/Y"]}, "trading.watchlist"),
            "log level LOUD": ("logging", {"log_level": "LOUD"}, "log_level"),
            "database_url live": ("app", {"database_url": "sqlite+aiosqlite:///other.db"}, "database_url"),
            "api.port live": ("app", {"api": {"port": 9000}}, "api.port"),
            "sentiment model live": ("app", {"sentiment_model": {"name": "finbert"}}, "sentiment_model.name"),
            "jwt secret": ("app", {"security": {"jwt_secret": "y" * 40}}, "security.jwt_secret"),
            "smtp password": ("app", {"email": {"password": "new-pw"}}, "email.password"),
            "http timeout 0": ("app", {"http_timeout_s": 0}, "http_timeout_s"),
        }
        for name, (section, body, key) in cases.items():
            answer = await api.client.patch(f"{CONFIG}/{section}", headers=h, json=body)
            assert answer.status_code == 422, (name, answer.text)
            assert key in answer.json()["message"], (name, answer.json()["message"])
            assert "new-pw" not in answer.text and "y" * 40 not in answer.text
        not_object = await api.client.patch(f"{CONFIG}/trading", headers=h, json=[1, 2])
        assert not_object.status_code == 422
        deep: dict[str, object] = {"x": 1}
        for _ in range(20):
            deep = {"a": deep}
        assert (await api.client.patch(f"{CONFIG}/app", headers=h, json={"news": deep})).status_code == 422
        assert (await api.client.patch(f"{CONFIG}/nope", headers=h, json={})).status_code == 422
        assert api.app.state.settings.trading.buy_threshold == 0.15
        log = await api.client.get("/api/v1/admin/activity", headers=h, params={"action": "config.changed"})
        assert log.json()["total"] == 0


async def test_put_replaces_a_sections_changes_and_a_read_back_body_changes_nothing(serve: Serve) -> None:
    fernet_key = Fernet.generate_key().decode()
    async with serve(security={"jwt_secret": JWT_SECRET, "encryption_keys": [fernet_key]}) as api:
        admin = await sign_in(api, Role.ADMIN)
        h = admin.headers
        put = await api.client.put(
            f"{CONFIG}/symbols", headers=h, json={"watchlist": ["BTC/USDT", "ETH/USDT"], "timeframe": "4h"}
        )
        assert put.status_code == 200, put.text
        assert api.app.state.settings.trading.watchlist == ["BTC/USDT", "ETH/USDT"]
        assert api.app.state.settings.trading.timeframe.value == "4h"
        back = await api.client.put(f"{CONFIG}/symbols", headers=h, json={"watchlist": ["SOL/USDT"]})
        assert back.json()["values"] == {"watchlist": ["SOL/USDT"], "timeframe": None}

        shown = (await api.client.get(f"{CONFIG}/app", headers=h)).json()["values"]
        same = await api.client.put(f"{CONFIG}/app", headers=h, json=shown)
        assert same.status_code == 200, same.text
        assert same.json()["changes"] == []
        assert api.app.state.settings.security.jwt_secret.get_secret_value() == JWT_SECRET


async def test_live_changes_reach_rate_limits_token_lifetime_and_log_level(
    serve: Serve, restore_logging: None
) -> None:
    async with serve(client_ip=random_ip()) as api:
        admin = await sign_in(api, Role.ADMIN)
        h = admin.headers
        patched = await api.client.patch(
            f"{CONFIG}/app",
            headers=h,
            json={"api": {"requests_per_hour": 5000}, "accounts": {"access_token_minutes": 5}},
        )
        assert patched.status_code == 200, patched.text
        after = await api.client.get(f"{CONFIG}/app", headers=h)
        assert (
            after.headers["X-RateLimit-Limit"] == "5000"
        )  # the live limit, not the 1000 the app started with
        assert 1000 < int(after.headers["X-RateLimit-Remaining"]) < 5000
        login = await api.client.post(
            "/api/v1/auth/login", json={"email": admin.user.email, "password": PASSWORD}
        )
        assert login.status_code == 200 and 295 <= login.json()["expires_in"] <= 300

        logged = await api.client.patch(f"{CONFIG}/logging", headers=h, json={"log_level": "ERROR"})
        assert logged.json()["changes"] == [{"key": "log_level", "old": "INFO", "new": "ERROR"}]
        assert logging.getLogger().level == logging.ERROR


async def test_a_changed_request_limit_shows_in_the_headers_of_the_next_answers_and_their_429(
    serve: Serve,
) -> None:
    """Bad input: requests past a limit lowered below what was already counted (refused at once, with the new
    figure). A changed limit applies to the counts of the window in force: a change never restarts them."""
    async with serve(client_ip=random_ip()) as api:
        admin = await sign_in(api, Role.ADMIN)
        h = admin.headers
        first = await api.client.get(f"{CONFIG}/app", headers=h)
        assert first.headers["X-RateLimit-Limit"] == "1000"
        raised = await api.client.patch(f"{CONFIG}/app", headers=h, json={"api": {"requests_per_hour": 40}})
        assert raised.status_code == 200, raised.text
        nxt = await api.client.get(f"{CONFIG}/app", headers=h)  # the third request counted in this window
        assert (nxt.headers["X-RateLimit-Limit"], nxt.headers["X-RateLimit-Remaining"]) == ("40", "37")
        lowered = await api.client.patch(f"{CONFIG}/app", headers=h, json={"api": {"requests_per_hour": 5}})
        # the fourth request, counted against the limit in force when it came
        assert lowered.status_code == 200 and lowered.headers["X-RateLimit-Limit"] == "40"
        answers = [await api.client.get(f"{CONFIG}/app", headers=h) for _ in range(2)]
    heads = [
        (a.status_code, a.headers["X-RateLimit-Limit"], a.headers["X-RateLimit-Remaining"]) for a in answers
    ]
    assert heads == [(200, "5", "0"), (429, "5", "0")]  # the fifth passes, the sixth is over the new limit


async def test_a_live_identity_cache_time_applies_to_the_next_identities_kept(serve: Serve) -> None:
    """The app starts keeping identities 60 s; lowered to 0.3 s through the route, a deactivation made by another
    process (the command line) takes effect within 0.3 s instead of a minute."""
    async with serve(accounts={"identity_cache_seconds": 60}) as api:
        admin = await sign_in(api, Role.ADMIN)
        trader = await sign_in(api, Role.TRADER)
        assert (await api.client.get("/api/v1/me", headers=trader.headers)).status_code == 200
        patched = await api.client.patch(
            f"{CONFIG}/app", headers=admin.headers, json={"accounts": {"identity_cache_seconds": 0.3}}
        )
        assert patched.json()["changes"] == [
            {"key": "accounts.identity_cache_seconds", "old": 60.0, "new": 0.3}
        ]
        assert (await api.client.get("/api/v1/me", headers=trader.headers)).status_code == 200  # kept 0.3 s
        await auth.accounts_of_app(api.app).deactivate(OPERATOR, trader.user.id)
        assert (await api.client.get("/api/v1/me", headers=trader.headers)).status_code == 200
        await asyncio.sleep(0.35)
        gone = await api.client.get("/api/v1/me", headers=trader.headers)
    assert gone.status_code == 403 and gone.json()["type"] == "account_inactive"


async def test_config_routes_need_system_config(serve: Serve) -> None:
    async with serve() as api:
        trader = await sign_in(api, Role.TRADER)
        for method in ("GET", "PATCH", "PUT"):
            kwargs = {} if method == "GET" else {"json": {"buy_threshold": 0.2}}
            anonymous = await api.client.request(method, f"{CONFIG}/trading", **kwargs)
            assert anonymous.status_code == 401
            refused = await api.client.request(method, f"{CONFIG}/trading", headers=trader.headers, **kwargs)
            assert refused.status_code == 403
        assert api.app.state.settings.trading.buy_threshold == 0.15
