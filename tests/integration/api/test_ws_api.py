"""The WebSocket ``/api/v1/ws`` over a real uvicorn server in the test's event loop, with the ``websockets`` client
(SQLite and PostgreSQL): authentication, per-channel permissions, per-user and per-symbol delivery, and a stored
status change reaching a client within a second, in process and from another process over Redis."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import socket
import time
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import redis
import uvicorn
from tests.integration.api.conftest import IN_CI, REDIS_URL, Api, Caller, sign_in
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from tsbot.accounts.models import Permission, Role
from tsbot.adapters.events import RedisEventPublisher, publish_status_changes
from tsbot.apps.api import auth, ws
from tsbot.apps.api.app import create_app
from tsbot.apps.api.events import bus_of, publish
from tsbot.config import load_settings
from tsbot.core.enums import Action
from tsbot.market.models import SeriesKey, Timeframe
from tsbot.signals.models import Components, Signal
from tsbot.wiring import Services

#: The promise: a stored status change reaches connected clients within this many seconds.
DEADLINE_S = 1.0


async def owned_objects(api: Api, caller: Caller) -> dict[str, str]:
    """The WebSocket route has no path parameters: none."""
    return {}


@dataclasses.dataclass
class Live:
    """A served app: its ``api`` (app and an HTTP client to the real server) and the WebSocket URL."""

    api: Api
    ws_url: str

    def connect(self, query: str = "") -> connect:
        return connect(self.ws_url + query, open_timeout=5, close_timeout=2)


LiveServer = Callable[..., AbstractAsyncContextManager[Live]]


@pytest.fixture
def live_server(services: Services) -> LiveServer:
    """``async with live_server(**settings_overrides) as live``: the app on uvicorn at a free localhost port."""

    @asynccontextmanager
    async def start(**overrides: Any) -> AsyncIterator[Live]:
        svc = services
        if overrides:
            base = services.settings
            settings = load_settings(database_url=base.database_url, data_dir=base.data_dir, **overrides)
            svc = dataclasses.replace(services, settings=settings)
        app = create_app(svc)
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        server = uvicorn.Server(uvicorn.Config(app, lifespan="on", log_config=None, access_log=False))
        task = asyncio.create_task(server.serve(sockets=[sock]))
        while not server.started:
            assert not task.done(), "uvicorn did not start"
            await asyncio.sleep(0.02)
        try:
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
                yield Live(Api(app, client), f"ws://127.0.0.1:{port}/api/v1/ws")
        finally:
            server.should_exit = True
            await asyncio.wait_for(task, 10)
            sock.close()

    return start


async def _recv(conn: ClientConnection, timeout: float = 2.0) -> dict[str, Any]:
    return json.loads(await asyncio.wait_for(conn.recv(), timeout))  # type: ignore[no-any-return]


async def _close_code(conn: ClientConnection, timeout: float = 7.0) -> int | None:
    """Read until the server closes; its close code."""
    try:
        while True:
            await asyncio.wait_for(conn.recv(), timeout)
    except ConnectionClosed as closed:
        return closed.rcvd.code if closed.rcvd else None


async def _open(live: Live, caller: Caller | str, channels: list[str], **extra: Any) -> ClientConnection:
    """A connection authenticated by its first message and subscribed to ``channels``."""
    token = caller if isinstance(caller, str) else caller.access_token
    conn = await live.connect()
    await conn.send(json.dumps({"type": "auth", "token": token}))
    assert (await _recv(conn))["type"] == "authenticated"
    await conn.send(json.dumps({"type": "subscribe", "channels": channels, **extra}))
    subscribed = await _recv(conn)
    assert subscribed["type"] == "subscribed", subscribed
    return conn


def _signal(as_of: datetime, action: Action) -> Signal:
    return Signal(
        key=SeriesKey("binance", "BTC/USDT", Timeframe("1h")),
        as_of=as_of,
        action=action,
        score=0.5 if action is Action.BUY else -0.5,
        confidence=0.7,
        price=100.0,
        stop_loss=None,
        take_profit=[],
        components=Components(0.5, None, None),
        reasons=["test"],
        headlines=[],
    )


async def test_stored_status_change_reaches_a_subscribed_client_within_a_second(
    live_server: LiveServer, services: Services
) -> None:
    async with live_server() as live:
        viewer = await sign_in(live.api, Role.VIEWER)
        conn = await _open(live, viewer, ["signals"], symbols=["BTC/USDT"])
        start = datetime(2026, 3, 1, tzinfo=UTC)
        await services.signals.save([_signal(start, Action.SELL)])
        started = time.perf_counter()
        changes = await live.api.app.state.services.signals.save(
            [_signal(start + timedelta(hours=1), Action.BUY)]
        )
        await publish_status_changes(bus_of(live.api.app), changes)
        event = await _recv(conn, DEADLINE_S)
        elapsed = time.perf_counter() - started
        await conn.close()
    print(f"in-process: stored and received in {elapsed * 1000:.1f} ms")
    assert elapsed < DEADLINE_S
    assert event["type"] == "event" and event["channel"] == "signals"
    assert event["data"]["from_action"] == "SELL" and event["data"]["to_action"] == "BUY"
    assert event["data"]["symbol"] == "BTC/USDT" and event["data"]["timeframe"] == "1h"
    assert datetime.fromisoformat(event["at"]).tzinfo is not None


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


async def test_status_change_stored_by_another_process_arrives_over_redis_within_a_second(
    live_server: LiveServer, services: Services, redis_available: None
) -> None:
    async with live_server(redis_url=REDIS_URL) as live:
        assert bus_of(live.api.app).bridged
        trader = await sign_in(live.api, Role.TRADER)
        conn = await _open(live, trader, ["signals", "trades"])
        worker = RedisEventPublisher(REDIS_URL)  # what a worker process holds: no hub, only Redis
        try:
            start = datetime(2026, 4, 1, tzinfo=UTC)
            timings = []
            for i, action in enumerate((Action.BUY, Action.SELL, Action.BUY)):
                started = time.perf_counter()
                changes = await services.signals.save([_signal(start + timedelta(hours=i), action)])
                await publish_status_changes(worker, changes)
                event = await _recv(conn, DEADLINE_S)
                timings.append(time.perf_counter() - started)
                assert event["data"]["to_action"] == action.value
            await worker.publish("trades", {"order": "o-1"}, user_id="someone-else")
            await worker.publish("trades", {"order": "o-2"}, user_id=trader.user.id)
            assert (await _recv(conn))["data"] == {"order": "o-2"}
        finally:
            await worker.aclose()
            await conn.close()
    print("over Redis: stored and received in " + ", ".join(f"{t * 1000:.1f} ms" for t in timings))
    assert max(timings) < DEADLINE_S


async def test_missing_bad_or_late_tokens_close_with_4401(
    live_server: LiveServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ws, "AUTH_TIMEOUT_S", 0.3)
    async with live_server() as live:
        viewer = await sign_in(live.api, Role.VIEWER)
        silent = await live.connect()
        assert await _close_code(silent) == 4401  # no auth message within the (shortened) deadline
        wrong = await live.connect()
        await wrong.send(json.dumps({"type": "auth", "token": "not-a-token"}))
        assert await _close_code(wrong) == 4401
        other_first = await live.connect()
        await other_first.send(json.dumps({"type": "subscribe", "channels": ["signals"]}))
        assert await _close_code(other_first) == 4401
        garbage = await live.connect()
        await garbage.send("{not json")
        assert await _close_code(garbage) == 4401
        by_query = await live.connect(f"?token={viewer.access_token}")
        assert (await _recv(by_query))["user_id"] == viewer.user.id
        await by_query.send(json.dumps({"type": "auth", "token": viewer.access_token}))  # a fresh token: fine
        assert (await _recv(by_query))["type"] == "authenticated"
        someone_else = await sign_in(live.api, Role.VIEWER)
        await by_query.send(json.dumps({"type": "auth", "token": someone_else.access_token}))
        assert await _close_code(by_query) == 4401  # another user's token on an open connection


async def test_channel_without_its_permission_closes_with_4403(live_server: LiveServer) -> None:
    async with live_server() as live:
        trader = await sign_in(live.api, Role.TRADER)
        accounts = auth.accounts_of_app(live.api.app)
        market_only = (await accounts.create_api_key(trader.user.id, "market", [Permission.READ_MARKET])).key
        conn = await live.connect()
        await conn.send(json.dumps({"type": "auth", "token": market_only}))
        assert (await _recv(conn))["type"] == "authenticated"
        await conn.send(json.dumps({"type": "subscribe", "channels": ["prices"]}))
        assert (await _recv(conn))["channels"] == ["prices"]
        await conn.send(json.dumps({"type": "subscribe", "channels": ["signals"]}))
        assert await _close_code(conn) == 4403


async def test_per_user_channels_symbol_filters_unsubscribe_and_malformed_messages(
    live_server: LiveServer,
) -> None:
    async with live_server() as live:
        alice = await sign_in(live.api, Role.TRADER)
        bob = await sign_in(live.api, Role.TRADER)
        a = await _open(live, alice, ["notifications", "prices"], symbols=["BTC/USDT"])
        b = await _open(live, bob, ["notifications"])
        app = live.api.app
        await publish(app, "notifications", {"text": "for alice"}, user_id=alice.user.id)
        await publish(app, "prices", {"symbol": "ETH/USDT", "price": "3000"}, symbol="ETH/USDT")
        await publish(app, "prices", {"symbol": "BTC/USDT", "price": "60000"}, symbol="BTC/USDT")
        assert (await _recv(a))["data"] == {"text": "for alice"}
        assert (await _recv(a))["data"]["symbol"] == "BTC/USDT"  # ETH/USDT was filtered out
        await b.send(json.dumps({"type": "ping"}))
        assert (await _recv(b))["type"] == "pong"  # nothing of alice's came before the pong

        await a.send(json.dumps({"type": "unsubscribe", "channels": ["prices"]}))
        assert (await _recv(a)) == {
            "type": "unsubscribed",
            "channels": ["notifications"],
            "symbols": ["BTC/USDT"],
        }
        await publish(app, "prices", {"symbol": "BTC/USDT"}, symbol="BTC/USDT")
        bad_messages = [
            "{oops",
            json.dumps({"type": "dance"}),
            json.dumps({"type": "subscribe", "channels": ["gossip"]}),
            json.dumps({"type": "subscribe", "channels": "signals"}),
            "x" * 10_000,
        ]
        for bad in bad_messages:
            await a.send(bad)
            assert (await _recv(a))["type"] == "error", bad
        await a.send(json.dumps({"type": "ping"}))
        assert (await _recv(a))["type"] == "pong"  # still open, and the unsubscribed price never came
        await a.close()
        await b.close()


async def test_deactivating_a_user_closes_their_live_connection_4401(live_server: LiveServer) -> None:
    async with live_server() as live:
        admin = await sign_in(live.api, Role.ADMIN)
        viewer = await sign_in(live.api, Role.VIEWER)
        conn = await _open(live, viewer, ["signals"])
        answer = await live.api.client.post(
            f"/api/v1/admin/users/{viewer.user.id}/deactivate", headers=admin.headers
        )
        assert answer.status_code == 200
        assert await _close_code(conn, timeout=2) == 4401
        again = await live.connect()
        await again.send(json.dumps({"type": "auth", "token": viewer.access_token}))
        assert await _close_code(again) == 4401
        assert bus_of(live.api.app).listeners == 0
