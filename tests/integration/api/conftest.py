"""The platform API in process: ``create_app`` over the test's services (SQLite and PostgreSQL), its lifespan run,
and an ``httpx.AsyncClient`` over ``ASGITransport``; a router of test routes that fail on purpose; helpers for
Redis keys and structlog's configuration."""

from __future__ import annotations

import dataclasses
import logging
import os
import secrets
import socket
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import redis
import structlog
from fastapi import APIRouter, Depends, FastAPI, Form, HTTPException, Request
from pydantic import BaseModel, Field

from tsbot.accounts.models import OPERATOR, Role, User
from tsbot.apps.api import auth
from tsbot.apps.api.app import create_app
from tsbot.apps.api.context import Identify, set_user_id
from tsbot.apps.api.ratelimit import OrdersRateLimit
from tsbot.config import load_settings
from tsbot.core.errors import ConfigError, DataError, NotFoundError, TemporaryError
from tsbot.wiring import Services

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
REDIS_URL = "redis://127.0.0.1:6379/0"
BASE = "http://testserver"

test_router = APIRouter(prefix="/api/v1/test", tags=["test"])
_log = structlog.get_logger("tests.api")


class Item(BaseModel):
    name: str = Field(min_length=1)
    qty: int = Field(ge=1)


@test_router.post("/items")
async def create_item(item: Item) -> dict[str, Any]:
    return {"name": item.name, "qty": item.qty}


@test_router.post("/form")
async def form_field(name: str = Form()) -> dict[str, str]:
    return {"name": name}


@test_router.post("/raw")
async def raw_body(request: Request) -> dict[str, int]:
    return {"bytes": len(await request.body())}


@test_router.get("/boom")
async def boom() -> None:
    raise RuntimeError("internal detail: password=hunter2 at /srv/tsbot/secret.py")


@test_router.get("/raise/{kind}")
async def raise_kind(kind: str) -> None:
    errors: dict[str, Exception] = {
        "not-found": NotFoundError("no series BTC/USDT 1h on binance"),
        "data": DataError("the candle file has a row with high < low"),
        "config": ConfigError("trading.timeframe: '7m' is not a timeframe"),
        "temporary": TemporaryError("the exchange timed out"),
        "http": HTTPException(401, "sign in first", headers={"WWW-Authenticate": "Bearer"}),
        "http-detail": HTTPException(409, detail={"conflict": "name taken"}),
    }
    raise errors[kind]


async def user_from_header(request: Request) -> None:
    """Test authentication: the user named in ``X-Test-User`` (no check at all: tests only)."""
    user = request.headers.get("x-test-user")
    if user:
        set_user_id(request, user)


@test_router.post("/orders", dependencies=[Depends(user_from_header), OrdersRateLimit])
async def place_order() -> dict[str, str]:
    return {"status": "accepted"}


@test_router.get("/log")
async def log_secrets(request: Request) -> dict[str, bool]:
    _log.info(
        "test.secrets",
        password="hunter2",
        refresh_token="rt-abcdefgh",
        totp_code="123456",
        headers={"Authorization": "Bearer abc.def.ghi-very-secret", "Accept": "application/json"},
        note="sent Authorization: Bearer s3cr3t-t0k3n-value and eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ1MSJ9.c2lnbmF0dXJl",
        status_code=201,
    )
    logging.getLogger("tests.api.stdlib").warning("stdlib line with password=hunter2")
    return {"logged": True}


@dataclass
class Api:
    """A running app and a client for it."""

    app: FastAPI
    client: httpx.AsyncClient


Serve = Callable[..., AbstractAsyncContextManager[Api]]


def random_ip() -> str:
    """A client address of its own, so rate-limit keys of concurrent test runs never meet."""
    a, b, c = secrets.token_bytes(3)
    return f"10.{a}.{b}.{max(c, 1)}"


@pytest.fixture
def serve(services: Services) -> Serve:
    """``async with serve(api={...}, redis_url=..., identify=..., client_ip=...) as api``: an app over the test's
    services (settings overridden as given), with the test routes, its lifespan running. ``identify`` defaults
    to the app's own (access tokens and API keys)."""

    @asynccontextmanager
    async def start(
        *,
        identify: Identify | None = auth.identify,
        client_ip: str = "127.0.0.1",
        routers: tuple[APIRouter, ...] = (),
        **overrides: Any,
    ) -> AsyncIterator[Api]:
        svc = services
        if overrides:
            base = services.settings
            settings = load_settings(database_url=base.database_url, data_dir=base.data_dir, **overrides)
            svc = dataclasses.replace(services, settings=settings)
        app = create_app(svc, routers=(test_router, *routers), identify=identify)
        transport = httpx.ASGITransport(app=app, client=(client_ip, 50_000))
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(transport=transport, base_url=BASE) as client,
        ):
            yield Api(app, client)

    return start


#: The password of every user :func:`sign_in` creates.
PASSWORD = "correct horse battery staple 42"


@dataclass
class Caller:
    """A signed-in user: ``headers`` carry its access token."""

    user: User
    access_token: str
    refresh_token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.access_token}"}


async def sign_in(api: Api, role: Role = Role.TRADER, *, email: str | None = None) -> Caller:
    """Create a user with ``role`` (email confirmed, password :data:`PASSWORD`) in the app's database and sign it
    in through the app's own account service."""
    accounts = auth.accounts_of_app(api.app)
    email = email or f"{role.value}-{secrets.token_hex(4)}@example.com"
    user = await accounts.create_user(OPERATOR, email, PASSWORD, role)
    tokens = await accounts.login(email, PASSWORD)
    return Caller(user, tokens.access_token, tokens.refresh_token)


@pytest.fixture
def redis_ip() -> Iterator[str]:
    """A random client IP whose rate-limit keys in the Redis at 127.0.0.1:6379 are deleted afterwards; skips
    without Redis (fails in CI)."""
    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2)
    try:
        client.ping()
    except redis.RedisError as exc:
        client.close()
        if IN_CI:
            pytest.fail(f"Redis at {REDIS_URL} is required in CI: {exc}")
        pytest.skip(f"no Redis answers at {REDIS_URL} ({exc})")
    ip = random_ip()
    try:
        yield ip
    finally:
        keys = list(client.scan_iter(match=f"tsbot:ratelimit:*/ip:{ip}/*"))
        if keys:
            client.delete(*keys)
        client.close()


def closed_port() -> int:
    """A localhost port nobody listens on."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def restore_logging() -> Iterator[None]:
    """Put structlog's and the standard library's logging configuration back after a test configured them."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    access = logging.getLogger("uvicorn.access")
    disabled = access.disabled
    yield
    structlog.reset_defaults()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    for handler in handlers:
        root.addHandler(handler)
    root.setLevel(level)
    access.disabled = disabled
