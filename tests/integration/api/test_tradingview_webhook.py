"""The TradingView webhook over real HTTP: uvicorn on a free localhost port in a thread, httpx as the client.

The replay tests run with the in-process guard and with Redis at 127.0.0.1:6379 (a unique key prefix, removed
afterwards). Without Redis they skip, except in CI (``CI=true``), where they fail.
"""

from __future__ import annotations

import json
import os
import socket
import threading
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest
import redis
import redis.asyncio
import uvicorn
from fastapi import FastAPI
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from structlog.testing import capture_logs

from tsbot.adapters.replay_redis import RedisReplayGuard
from tsbot.apps.api.webhooks import tradingview_router
from tsbot.config import Settings, load_settings
from tsbot.intake.models import Side, TradeIntent
from tsbot.intake.webhooks import MemoryReplayGuard, MemoryTokenStore, ReplayGuard

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
REDIS_HOST, REDIS_PORT = "127.0.0.1", 6379
TOKEN = "tv-" + "k3y" * 10
OTHER_TOKEN = "tv-" + "0th3r" * 6
PATH = "/api/v1/webhooks/tradingview/"
GOOD = {"symbol": "BINANCE:BTCUSDT.P", "side": "buy", "price": "30000.5", "tp": [31000, 32000], "sl": 29000}


@dataclass
class Webhook:
    """A running server with the router mounted, and the trades it handed to ``on_intent``."""

    base_url: str
    received: list[tuple[str, TradeIntent, datetime]] = field(default_factory=list)

    def url(self, token: str = TOKEN) -> str:
        return f"{self.base_url}{PATH}{token}"


@pytest.fixture
def serve() -> Iterator[Callable[[FastAPI], str]]:
    """Start ``app`` under uvicorn on a free 127.0.0.1 port in a background thread; returns its base URL."""
    running: list[tuple[uvicorn.Server, threading.Thread, socket.socket]] = []

    def start(app: FastAPI) -> str:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))
        config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on")
        server = uvicorn.Server(config)
        thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
        thread.start()
        running.append((server, thread, sock))
        deadline = time.monotonic() + 10
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                pytest.fail("the uvicorn test server did not start")
            time.sleep(0.01)
        return f"http://127.0.0.1:{sock.getsockname()[1]}"

    yield start
    for server, thread, sock in running:
        server.should_exit = True
        thread.join(10)
        sock.close()


@pytest.fixture
def make_webhook(serve: Callable[[FastAPI], str]) -> Callable[..., Webhook]:
    """Build an app holding the TradingView router over ``guard`` and start it."""

    def make(
        guard: ReplayGuard,
        *,
        settings: Settings | None = None,
        on_close: Callable[[], Any] | None = None,
        fail_once: bool = False,
    ) -> Webhook:
        hook = Webhook("")
        failures = [fail_once]

        async def on_intent(owner: str, intent: TradeIntent, received_at: datetime) -> None:
            if failures[0]:
                failures[0] = False
                raise RuntimeError("broker unavailable")
            hook.received.append((owner, intent, received_at))

        @asynccontextmanager
        async def lifespan(app: FastAPI) -> AsyncIterator[None]:
            yield
            if on_close is not None:
                await on_close()

        tokens = MemoryTokenStore({TOKEN: "user-1", OTHER_TOKEN: "user-2"})
        app = FastAPI(lifespan=lifespan)
        app.include_router(tradingview_router(tokens, guard, on_intent, settings or load_settings()))
        hook.base_url = serve(app)
        return hook

    return make


@pytest.fixture
def redis_prefix() -> Iterator[str]:
    """A unique key prefix on the Redis at 127.0.0.1:6379; its keys are deleted afterwards."""
    client = redis.Redis(host=REDIS_HOST, port=REDIS_PORT, socket_connect_timeout=2)
    try:
        client.ping()
    except redis.RedisError as exc:
        client.close()
        if IN_CI:
            pytest.fail(f"Redis at {REDIS_HOST}:{REDIS_PORT} is required in CI: {exc}")
        pytest.skip(f"no Redis answers at {REDIS_HOST}:{REDIS_PORT} ({exc})")
    prefix = f"tsbot-test:{uuid.uuid4().hex}:replay:"
    try:
        yield prefix
    finally:
        keys = list(client.scan_iter(match=prefix + "*"))
        if keys:
            client.delete(*keys)
        client.close()


@pytest.fixture
def redis_webhook(make_webhook: Callable[..., Webhook], redis_prefix: str) -> Callable[[], Webhook]:
    """Start a server whose replay guard is Redis (each call: a new server with its own client)."""

    def make() -> Webhook:
        client = redis.asyncio.Redis(host=REDIS_HOST, port=REDIS_PORT, socket_connect_timeout=2)
        return make_webhook(RedisReplayGuard(client, prefix=redis_prefix), on_close=client.aclose)

    return make


def post(url: str, body: Any, content_type: str = "application/json") -> httpx.Response:
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    return httpx.post(url, content=content, headers={"content-type": content_type}, timeout=10)


# -- accepted -----------------------------------------------------------------------------------------------


def test_json_alert_is_accepted_and_handed_on(make_webhook: Callable[..., Webhook]) -> None:
    hook = make_webhook(MemoryReplayGuard())
    before = datetime.now(UTC)
    answer = post(hook.url(), GOOD)
    assert answer.status_code == 202, answer.text
    assert answer.json() == {
        "status": "accepted",
        "signal": {
            "symbol": "BTC/USDT",
            "side": "long",
            "entry": [30000.5],
            "entry_kind": "single",
            "targets": [31000, 32000],
            "stop": 29000,
            "leverage": None,
            "margin": None,
            "exchanges": ["BINANCE"],
        },
    }
    assert '"entry": [30000.5]' in answer.text  # a plain JSON number, not a string
    [(owner, intent, received_at)] = hook.received
    assert owner == "user-1"
    assert intent.entry == (Decimal("30000.5"),) and intent.side is Side.LONG
    assert received_at.tzinfo is not None and before <= received_at <= datetime.now(UTC)


def test_plain_text_alerts_are_accepted(make_webhook: Callable[..., Webhook]) -> None:
    hook = make_webhook(MemoryReplayGuard())
    one_liner = post(hook.url(), b"SELL ETHUSDT @ 2500 TP 2400 SL 2600 lev 10x", "text/plain")
    assert one_liner.status_code == 202, one_liner.text
    assert one_liner.json()["signal"]["targets"] == [2400]
    default_text = b"order buy @ 0.01 filled on BTCUSDT.P. New strategy position is 0.01"
    strategy = post(hook.url(), default_text, "text/plain; charset=utf-8")
    assert strategy.status_code == 202, strategy.text
    assert [(i.symbol, i.side, i.leverage) for _, i, _ in hook.received] == [
        ("ETH/USDT", Side.SHORT, Decimal("10")),
        ("BTC/USDT", Side.LONG, None),
    ]
    assert hook.received[1][1].entry_kind.value == "market"


def test_fresh_alert_time_is_accepted_and_stale_one_refused(make_webhook: Callable[..., Webhook]) -> None:
    """Bad input: an alert whose time is 10 minutes old (the limit is 300 s)."""
    hook = make_webhook(MemoryReplayGuard())
    now = datetime.now(UTC)
    fresh = post(hook.url(), {**GOOD, "time": now.isoformat()})
    assert fresh.status_code == 202, fresh.text
    stale = post(hook.url(), {**GOOD, "time": int((now - timedelta(minutes=10)).timestamp() * 1000)})
    assert stale.status_code == 400, stale.text
    assert "limit is 300 s" in stale.json()["detail"]
    assert len(hook.received) == 1


# -- refused ------------------------------------------------------------------------------------------------


def test_wrong_and_unknown_tokens_get_the_same_401(make_webhook: Callable[..., Webhook]) -> None:
    """Bad input: a token one character off, a token nobody holds, and a short one."""
    hook = make_webhook(MemoryReplayGuard())
    with capture_logs() as logs:
        answers = [post(hook.url(token), GOOD) for token in (TOKEN[:-1] + "x", "nobody-" + "z" * 20, "abc")]
    assert {a.status_code for a in answers} == {401}
    assert len({a.text for a in answers}) == 1
    assert hook.received == []
    assert [entry["status"] for entry in logs if entry["event"] == "webhook.rejected"] == [401, 401, 401]
    assert TOKEN[:-1] not in repr(logs) and "nobody-" not in repr(logs)


def test_replayed_body_is_refused_with_memory_guard(make_webhook: Callable[..., Webhook]) -> None:
    """Bad input: the same body posted twice by the same owner."""
    hook = make_webhook(MemoryReplayGuard())
    assert post(hook.url(), GOOD).status_code == 202
    again = post(hook.url(), GOOD)
    assert again.status_code == 409, again.text
    assert "already accepted" in again.json()["detail"]
    assert post(hook.url(OTHER_TOKEN), GOOD).status_code == 202  # another owner's identical alert
    assert [owner for owner, _, _ in hook.received] == ["user-1", "user-2"]


def test_replayed_body_is_refused_with_redis_guard(
    redis_webhook: Callable[[], Webhook], redis_prefix: str
) -> None:
    """Bad input: the same body posted twice, the guard being the real Redis."""
    hook = redis_webhook()
    assert post(hook.url(), GOOD).status_code == 202
    again = post(hook.url(), GOOD)
    assert again.status_code == 409, again.text
    client = redis.Redis(host=REDIS_HOST, port=REDIS_PORT)
    try:
        [key] = list(client.scan_iter(match=redis_prefix + "*"))
        assert 0 < client.ttl(key) <= load_settings().intake.webhooks.replay_window_s
    finally:
        client.close()
    assert len(hook.received) == 1


def test_redis_guard_works_across_servers(redis_webhook: Callable[[], Webhook]) -> None:
    """Bad input: a body accepted by one API server, replayed to another sharing the Redis."""
    first, second = redis_webhook(), redis_webhook()
    body = {**GOOD, "price": "30001"}
    assert post(first.url(), body).status_code == 202
    assert post(second.url(), body).status_code == 409
    assert (len(first.received), len(second.received)) == (1, 0)


def test_redis_down_answers_503(make_webhook: Callable[..., Webhook]) -> None:
    """Bad input: none; the replay store (Redis on a port nobody listens on) does not answer."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        dead_port = probe.getsockname()[1]
    client = redis.asyncio.Redis(
        host="127.0.0.1", port=dead_port, socket_connect_timeout=1, retry=Retry(NoBackoff(), 0)
    )
    hook = make_webhook(RedisReplayGuard(client), on_close=client.aclose)
    answer = post(hook.url(), GOOD)
    assert answer.status_code == 503, answer.text
    assert answer.headers["retry-after"] == "5"
    assert hook.received == []


def test_handler_failure_lets_the_resend_in(make_webhook: Callable[..., Webhook]) -> None:
    """Bad input: none; on_intent fails once, so the same alert sent again must not count as a replay."""
    hook = make_webhook(MemoryReplayGuard(), fail_once=True)
    assert post(hook.url(), GOOD).status_code == 500
    assert post(hook.url(), GOOD).status_code == 202
    assert len(hook.received) == 1


def test_oversize_bodies_get_413(make_webhook: Callable[..., Webhook]) -> None:
    """Bad input: a 1 MB body with a Content-Length, and a 70 kB body sent chunked (no Content-Length)."""
    hook = make_webhook(MemoryReplayGuard())
    declared = post(hook.url(), b"{" + b" " * 1_000_000 + b"}")
    assert declared.status_code == 413, declared.text
    assert "limit is 65536 bytes" in declared.json()["detail"]

    def chunks() -> Iterator[bytes]:
        for _ in range(7):
            yield b"x" * 10_000

    chunked = httpx.post(hook.url(), content=chunks(), headers={"content-type": "text/plain"}, timeout=10)
    assert chunked.status_code == 413, chunked.text
    assert hook.received == []


def test_smaller_configured_limit_applies(make_webhook: Callable[..., Webhook]) -> None:
    """Bad input: a 2 kB body where intake.webhooks.max_body_bytes is 1024."""
    settings = load_settings(intake={"webhooks": {"max_body_bytes": 1024}})
    hook = make_webhook(MemoryReplayGuard(), settings=settings)
    assert post(hook.url(), {**GOOD, "note": "n" * 2000}).status_code == 413
    assert post(hook.url(), GOOD).status_code == 202


@pytest.mark.parametrize(
    "body, content_type, detail",
    [
        (bytes(range(256)) * 8, "application/octet-stream", "not UTF-8"),
        (b"\x00\x00\x00\x01garbage", "text/plain", "control characters"),
        (b'{"symbol": "BTCUSDT", "side": ', "application/json", "not valid JSON"),
        (b'{"symbol": "BTCUSDT", "side": "hold"}', "application/json", "opens no trade"),
        (b'{"symbol": "BTCUSDT"}', "application/json", "no side"),
        (b'{"side": "sell", "price": 1}', "application/json", "no symbol"),
        (b'{"symbol": "BTCUSDT", "side": "buy", "price": -1}', "application/json", "positive"),
        (b"", "text/plain", "empty"),
    ],
    ids=[
        "binary",
        "control-bytes",
        "broken-json",
        "side-hold",
        "no-side",
        "no-symbol",
        "negative-price",
        "empty",
    ],
)
def test_unreadable_alerts_get_422_with_the_reason(
    make_webhook: Callable[..., Webhook], body: bytes, content_type: str, detail: str
) -> None:
    hook = make_webhook(MemoryReplayGuard())
    answer = post(hook.url(), body, content_type)
    assert answer.status_code == 422, answer.text
    assert answer.json()["status"] == "rejected"
    assert detail in answer.json()["detail"]
    assert hook.received == []
