"""Live bots started through ``POST /api/v1/bots`` (SQLite and PostgreSQL): ``mode: live`` with the id of one of the
caller's stored exchange keys makes a bot on that key's exchange account (``<exchange>:<key id>``), which the
monitoring cycle then runs against the venue (the local Binance-shaped server, through real ccxt). Live mode is
only ever asked for explicitly, needs the permission to place orders, and no answer carries any key material.

Bad input tried: another user's key (404), an unknown key id (404), a deleted key (404), mode live without a key,
mode live with a portfolio, a key without mode live (the default stays paper) and with mode paper, a key on an
unsupported exchange (refused when stored; a row of one written straight into the table is refused at the bot),
no encryption key configured, an API key that may start bots but not place orders (403), a viewer (403).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import numpy as np
import pytest
from tests.integration.api.conftest import Api, Caller, Serve, sign_in
from tests.integration.api.test_api_errors import assert_error
from tests.integration.api.test_portfolios_api import funded_portfolio, services_of
from tests.support.exchange_keys import insert_legacy_key
from tests.support.fake_binance import FakeBinance

from tsbot.accounts.models import Role
from tsbot.adapters.secrets import KeyVault
from tsbot.apps.api import auth
from tsbot.apps.worker.runtime import build_bot_runner
from tsbot.core.time import to_ms, utc_now
from tsbot.market.models import SeriesKey, Timeframe
from tsbot.market.service import import_candles
from tsbot.trading.bots import BotMode

BOTS = "/api/v1/bots"
KEYS = "/api/v1/me/exchange-keys"
# No hexadecimal tail: the key's hint ("…" and its last 4 characters) can never turn up inside an id by chance.
API_KEY = "live-api-key-7c41e0d2-wxyz"
SECRET = "live-secret-never-shown-9e8d"
HOUR_MS = 3_600_000
BTC = SeriesKey("binance", "BTC/USDT", Timeframe.H1)
#: Risk limits that let every signal through (risk has its own tests): all-in sizing, no caps, no kill switch.
OPEN_RISK = {
    "risk_per_trade_ratio": None,
    "max_position_ratio": "1",
    "max_open_positions": None,
    "max_leverage": None,
    "max_daily_loss_ratio": None,
    "cooldown_after_stop": None,
    "max_drawdown_ratio": None,
}


@pytest.fixture
def venue() -> Iterator[FakeBinance]:
    with FakeBinance(api_key=API_KEY, stall_s=3.0) as server:
        server.set_price("BTC/USDT", "60000")
        yield server


def settings_for(venue: FakeBinance) -> dict[str, Any]:
    """An encryption key, the venue at ``exchange_base_urls``, a broker that waits 1 s and does not retry."""
    return {
        "security": {"encryption_keys": [KeyVault.generate_key()]},
        "exchange_base_urls": {"binance": venue.base_url},
        "monitor": {"broker_timeout_s": 1.0, "broker_retries": 0, "reconcile_interval_s": 0},
    }


async def store_key(
    api: Api, caller: Caller, label: str = "main", exchange: str = "binance"
) -> dict[str, Any]:
    body = {"exchange": exchange, "label": label, "api_key": API_KEY, "secret": SECRET, "sandbox": True}
    made = await api.client.post(KEYS, json=body, headers=caller.headers)
    assert made.status_code == 201, made.text
    key: dict[str, Any] = made.json()
    return key


def live_body(key_id: str | None, **fields: Any) -> dict[str, Any]:
    body = {
        "name": "live-cross",
        "strategy": "sma_cross",
        "mode": "live",
        "exchange_key_id": key_id,
        "pairs": ["BTC/USDT"],
        "capital": "1000",
        "params": {"fast": 3, "slow": 5},
        "risk": OPEN_RISK,
    } | fields
    return {k: v for k, v in body.items() if v is not None}


def no_key_material(*texts: str) -> None:
    for text in texts:
        assert API_KEY not in text and SECRET not in text and API_KEY[-4:] not in text, text


async def store_bars(api: Api, first_open_ms: int, closes: list[float]) -> None:
    rows = np.array(
        [[first_open_ms + k * HOUR_MS, c, c + 5.0, c - 5.0, c, 10.0] for k, c in enumerate(closes)],
        dtype=np.float64,
    )
    await import_candles(services_of(api).candles, BTC, "crypto", rows)


async def test_a_trader_starts_a_live_bot_on_an_own_key_and_the_cycle_runs_it(
    serve: Serve, venue: FakeBinance
) -> None:
    async with serve(**settings_for(venue)) as api:
        me = await sign_in(api)
        key = await store_key(api, me)
        made = await api.client.post(BOTS, json=live_body(key["id"]), headers=me.headers)
        assert made.status_code == 201, made.text
        bot = made.json()
        assert (bot["mode"], bot["account"], bot["portfolio_id"]) == ("live", f"binance:{key['id']}", None)
        assert bot["account"] == key["account"] and bot["status"] == "running" and bot["capital"] == "1000"
        shown = await api.client.get(f"{BOTS}/{bot['bot_id']}", headers=me.headers)
        listed = await api.client.get(BOTS, headers=me.headers)
        assert shown.json()["mode"] == "live" and listed.json()["items"][0]["account"] == key["account"]
        no_key_material(made.text, shown.text, listed.text)
        stored = await services_of(api).bots.get(bot["bot_id"], me.user.id)
        assert stored.mode is BotMode.LIVE and stored.account == key["account"]

        # the monitoring cycle runs it on the venue with the key: reconciled, then an entry on the jump bar
        now = to_ms(utc_now())
        last_hour = now - now % HOUR_MS
        closes = [61_000.0 - 10.0 * k for k in range(100)]
        await store_bars(api, last_hour - 101 * HOUR_MS, closes)
        runner = build_bot_runner(services_of(api))
        ran = await runner.run()
        assert ran.errors == [] and ran.live_bots == 1 and ran.reconciled == 1, ran
        await store_bars(api, last_hour - HOUR_MS, [closes[-1] + 2000.0])  # SMA3 crosses above SMA5
        ran = await build_bot_runner(services_of(api)).run()
        assert ran.errors == [] and ran.live_bots == 1, ran
        sent = [p for m, path, p in venue.requests if m == "POST" and path == "/api/v3/order"]
        assert len(sent) == 1 and sent[0]["side"] == "BUY" and Decimal(str(sent[0]["quoteOrderQty"])) == 1000
        no_key_material(*ran.errors, *(e.message for e in await services_of(api).bots.events(bot["bot_id"])))


async def test_live_bots_on_keys_that_are_not_yours_or_not_there_are_refused(serve: Serve) -> None:
    async with serve(security={"encryption_keys": [KeyVault.generate_key()]}) as api:
        me, other = await sign_in(api), await sign_in(api)
        mine = await store_key(api, me)
        theirs = await store_key(api, other)

        stranger = assert_error(
            await api.client.post(BOTS, json=live_body(theirs["id"]), headers=me.headers), 404, "not_found"
        )
        unknown_id = str(uuid.uuid4())
        unknown = assert_error(
            await api.client.post(BOTS, json=live_body(unknown_id), headers=me.headers), 404, "not_found"
        )
        # one message for another user's key and for none: ids cannot be probed
        assert str(stranger["message"]).replace(theirs["id"], "ID") == str(unknown["message"]).replace(
            unknown_id, "ID"
        )
        assert other.user.email not in str(stranger["message"])

        gone = await store_key(api, me, label="old")
        assert (await api.client.delete(f"{KEYS}/{gone['id']}", headers=me.headers)).status_code == 204
        assert_error(
            await api.client.post(BOTS, json=live_body(gone["id"]), headers=me.headers), 404, "not_found"
        )

        pid = await funded_portfolio(api, me)
        refused = {
            "mode live needs exchange_key_id": live_body(None),
            "leave portfolio_id out": live_body(mine["id"], portfolio_id=pid),
            "ask for it with mode live": live_body(mine["id"], mode="paper", portfolio_id=pid),
        }
        for reason, body in refused.items():
            answer = assert_error(
                await api.client.post(BOTS, json=body, headers=me.headers), 400, "invalid_configuration"
            )
            assert reason in str(answer["message"]), (body, answer)
        # no mode at all is paper: a key alone never makes a bot live
        body = live_body(mine["id"], portfolio_id=pid)
        del body["mode"]
        answer = assert_error(
            await api.client.post(BOTS, json=body, headers=me.headers), 400, "invalid_configuration"
        )
        assert "ask for it with mode live" in str(answer["message"])

        # an exchange tsbot cannot trade on cannot be stored ...
        bad = {"exchange": "mtgox", "label": "x", "api_key": API_KEY, "secret": SECRET}
        assert_error(await api.client.post(KEYS, json=bad, headers=me.headers), 400, "invalid_configuration")
        # ... and a row of one (left by an older version, or written by hand) is refused at the bot
        odd_id = await insert_legacy_key(services_of(api).db, me.user.id)
        odd = assert_error(
            await api.client.post(BOTS, json=live_body(odd_id), headers=me.headers),
            400,
            "invalid_configuration",
        )
        assert "'bitmex', which tsbot cannot trade on" in str(odd["message"]), odd

        listed = (await api.client.get(BOTS, headers=me.headers)).json()
        assert listed["total"] == 0  # nothing refused was stored


async def test_live_mode_needs_the_permission_to_place_orders(serve: Serve) -> None:
    async with serve(security={"encryption_keys": [KeyVault.generate_key()]}) as api:
        me = await sign_in(api)
        key = await store_key(api, me)
        pid = await funded_portfolio(api, me)
        scoped = await auth.accounts_of_app(api.app).create_api_key(
            me.user.id, "bots", ["read_bots", "write_bots"]
        )
        headers = {"Authorization": f"Bearer {scoped.key}"}
        denied = assert_error(
            await api.client.post(BOTS, json=live_body(key["id"]), headers=headers), 403, "forbidden"
        )
        assert "write_orders" in str(denied["message"])
        paper = {
            "name": "paper-one",
            "strategy": "swing",
            "portfolio_id": pid,
            "pairs": ["BTC/USDT"],
            "capital": "5",
        }
        made = await api.client.post(BOTS, json=paper, headers=headers)  # the same key may start a paper bot
        assert made.status_code == 201 and made.json()["mode"] == "paper", made.text

        viewer = await sign_in(api, Role.VIEWER)
        assert_error(
            await api.client.post(BOTS, json=live_body(key["id"]), headers=viewer.headers), 403, "forbidden"
        )
        trading = await auth.accounts_of_app(api.app).create_api_key(
            me.user.id, "trading", ["write_bots", "write_orders"]
        )
        allowed = await api.client.post(
            BOTS, json=live_body(key["id"]), headers={"Authorization": f"Bearer {trading.key}"}
        )
        assert allowed.status_code == 201 and allowed.json()["mode"] == "live", allowed.text


async def test_live_mode_without_an_encryption_key_says_how_to_set_one(serve: Serve) -> None:
    async with serve() as api:
        me = await sign_in(api)
        answer = assert_error(
            await api.client.post(BOTS, json=live_body(str(uuid.uuid4())), headers=me.headers),
            400,
            "invalid_configuration",
        )
        assert "TSBOT_SECURITY__ENCRYPTION_KEYS" in str(answer["message"]), answer
