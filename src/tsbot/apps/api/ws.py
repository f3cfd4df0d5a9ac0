"""``/api/v1/ws``: live events over a WebSocket (signal status changes, trades, prices, notifications).

Protocol (JSON text messages):

1. Authenticate within :data:`AUTH_TIMEOUT_S` seconds: first message ``{"type": "auth", "token": "<access token or
   API key>"}`` (preferred: keeps the token out of URLs and logs), or ``?token=`` on the URL. The server answers
   ``{"type": "authenticated", "user_id": ..., "channels": [...]}``; a missing or refused token closes with code
   ``4401``. Send ``auth`` again at any time with a fresh token (access tokens expire: every
   :data:`RECHECK_S` seconds the token last given is checked again and the connection closed with ``4401`` once it
   is refused, e.g. the account was deactivated).
2. ``{"type": "subscribe", "channels": ["signals", "trades", "prices", "notifications"], "symbols": ["BTC/USDT"]}``
   (``symbols`` optional: none means every symbol) -> ``{"type": "subscribed", "channels": [...], "symbols":
   [...]}``. Each channel needs a permission (:data:`CHANNEL_PERMISSIONS`: ``signals`` needs ``read_signals``);
   asking for one the user lacks closes with code ``4403``. ``trades`` and ``notifications`` carry only the user's
   own events.
3. ``{"type": "unsubscribe", "channels": [...], "symbols": [...]}`` -> ``{"type": "unsubscribed", ...}``.
4. ``{"type": "ping"}`` -> ``{"type": "pong", "at": ...}``.

Events: ``{"type": "event", "channel": "signals", "data": {...}, "at": "<ISO 8601 UTC>"}``. A malformed message
is answered ``{"type": "error", "message": ...}`` and the connection stays open. When the user's sessions are ended
(deactivated, deleted) the connection closes with ``4401``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Any, Final

import structlog
from fastapi import APIRouter, WebSocket, WebSocketDisconnect
from pydantic import BaseModel, Field, ValidationError
from starlette.routing import WebSocketRoute

from tsbot.accounts.models import Identity, Permission
from tsbot.adapters.events import CHANNELS, SESSION_CHANNEL, Listener
from tsbot.apps.api.auth import authenticate
from tsbot.apps.api.events import bus_of
from tsbot.core.errors import TsbotError
from tsbot.core.time import utc_now

#: Seconds a new connection has to authenticate.
AUTH_TIMEOUT_S: Final = 5.0
#: Seconds between checks that the connection's token is still accepted.
RECHECK_S: Final = 60.0
#: Close codes: authentication missing or refused; permission missing for a channel.
CLOSE_UNAUTHORIZED: Final = 4401
CLOSE_FORBIDDEN: Final = 4403
#: Largest client message read, in characters.
MAX_MESSAGE_CHARS: Final = 8_192
#: The permission each channel needs (None: any signed-in user; events are the user's own).
CHANNEL_PERMISSIONS: Final[dict[str, Permission | None]] = {
    "signals": Permission.READ_SIGNALS,
    "prices": Permission.READ_MARKET,
    "trades": Permission.READ_ORDERS,
    "notifications": None,
}

PATH: Final = "/api/v1/ws"
_log = structlog.get_logger("tsbot.api.ws")


class _Message(BaseModel):
    """A client message (see the module docstring)."""

    type: str = Field(max_length=32)
    token: str | None = Field(None, max_length=4_096)
    channels: list[str] = Field(default_factory=list, max_length=len(CHANNELS))
    symbols: list[str] = Field(default_factory=list, max_length=200)


class _Close(Exception):
    """Ends the connection with ``code`` and ``reason``."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        # a close frame's reason is at most 123 bytes of UTF-8
        self.reason = reason.encode()[:120].decode("utf-8", "ignore")


class _Connection:
    """One client: its identity, token, listener and a lock serialising sends."""

    def __init__(self, websocket: WebSocket, identity: Identity, token: str) -> None:
        self.websocket = websocket
        self.identity = identity
        self.token = token
        self.listener = Listener(identity.user.id)
        self.lock = asyncio.Lock()

    async def send(self, message: dict[str, Any]) -> None:
        async with self.lock:
            await self.websocket.send_text(json.dumps(message, separators=(",", ":"), default=str))


async def _receive(websocket: WebSocket, timeout: float) -> _Message | str:
    """The next client message, or an error text for a malformed one.

    Raises:
        WebSocketDisconnect: the client left.
        TimeoutError: nothing came within ``timeout`` seconds.
    """
    message = await asyncio.wait_for(websocket.receive(), timeout)
    if message["type"] == "websocket.disconnect":
        raise WebSocketDisconnect(message.get("code", 1000))
    text = message.get("text")
    if text is None:
        text = (message.get("bytes") or b"").decode("utf-8", "replace")
    if len(text) > MAX_MESSAGE_CHARS:
        return f"message longer than {MAX_MESSAGE_CHARS} characters"
    try:
        return _Message.model_validate_json(text)
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        where = ".".join(str(p) for p in first.get("loc", ())) or "message"
        return f"malformed message: {where}: {first.get('msg', 'invalid')}"


async def _identity(websocket: WebSocket, token: str | None) -> Identity:
    """The identity behind ``token``.

    Raises:
        _Close: no token, or refused (4401).
    """
    if not token:
        raise _Close(CLOSE_UNAUTHORIZED, 'authenticate first: send {"type": "auth", "token": ...}')
    try:
        return await authenticate(websocket.app, token)
    except TsbotError as exc:
        raise _Close(CLOSE_UNAUTHORIZED, str(exc)) from None


async def _first_identity(websocket: WebSocket) -> tuple[Identity, str]:
    """Authenticate from ``?token=`` or the first message, within :data:`AUTH_TIMEOUT_S`.

    Raises:
        _Close: no valid token in time (4401).
        WebSocketDisconnect: the client left.
    """
    token = websocket.query_params.get("token")
    if not token:
        try:
            message = await _receive(websocket, AUTH_TIMEOUT_S)
        except TimeoutError:
            raise _Close(CLOSE_UNAUTHORIZED, f"no auth message within {AUTH_TIMEOUT_S:g} s") from None
        if isinstance(message, str) or message.type != "auth":
            raise _Close(CLOSE_UNAUTHORIZED, 'the first message must be {"type": "auth", "token": ...}')
        token = message.token
    identity = await _identity(websocket, token)
    assert token is not None
    return identity, token


async def _handle(conn: _Connection, message: _Message) -> None:
    """Answer one client message.

    Raises:
        _Close: a refused token (4401) or a channel the user may not read (4403).
    """
    listener = conn.listener
    if message.type == "ping":
        await conn.send({"type": "pong", "at": utc_now().isoformat()})
    elif message.type == "auth":
        identity = await _identity(conn.websocket, message.token)
        if identity.user.id != conn.identity.user.id:
            raise _Close(
                CLOSE_UNAUTHORIZED, "a fresh token must be of the same user: reconnect to switch users"
            )
        conn.identity = identity
        conn.token = message.token or conn.token
        await conn.send(
            {"type": "authenticated", "user_id": conn.identity.user.id, "channels": list(CHANNELS)}
        )
    elif message.type in ("subscribe", "unsubscribe"):
        unknown = [c for c in message.channels if c not in CHANNEL_PERMISSIONS]
        if unknown:
            await conn.send(
                {"type": "error", "message": f"unknown channel(s) {unknown}; channels: {list(CHANNELS)}"}
            )
            return
        symbols = {s.strip() for s in message.symbols if s.strip()}
        if message.type == "subscribe":
            for channel in message.channels:
                needed = CHANNEL_PERMISSIONS[channel]
                if needed is not None and not conn.identity.can(needed):
                    raise _Close(CLOSE_FORBIDDEN, f"channel {channel} needs permission {needed.value}")
            listener.channels.update(message.channels)
            listener.symbols.update(symbols)
        else:
            listener.channels.difference_update(message.channels)
            listener.symbols.difference_update(symbols)
        await conn.send(
            {
                "type": f"{message.type}d",
                "channels": sorted(listener.channels),
                "symbols": sorted(listener.symbols),
            }
        )
    else:
        await conn.send({"type": "error", "message": f"unknown message type {message.type!r}"})


async def _receive_loop(conn: _Connection) -> None:
    """Read and answer client messages; every :data:`RECHECK_S` of silence, check the token again."""
    while True:
        try:
            message = await _receive(conn.websocket, RECHECK_S)
        except TimeoutError:
            conn.identity = await _identity(conn.websocket, conn.token)
            continue
        if isinstance(message, str):
            await conn.send({"type": "error", "message": message})
        else:
            await _handle(conn, message)


async def _send_loop(conn: _Connection) -> None:
    """Send the listener's events as they come.

    Raises:
        _Close: the user's sessions were ended (4401).
    """
    while True:
        event = await conn.listener.queue.get()
        if event.channel == SESSION_CHANNEL:
            raise _Close(CLOSE_UNAUTHORIZED, f"session ended: {event.data.get('reason', 'signed out')}")
        await conn.send(
            {"type": "event", "channel": event.channel, "data": event.data, "at": event.at.isoformat()}
        )


async def live_events(websocket: WebSocket) -> None:
    """Live events (see the module docstring)."""
    await websocket.accept()
    bus = bus_of(websocket.app)
    conn: _Connection | None = None
    try:
        identity, token = await _first_identity(websocket)
        conn = _Connection(websocket, identity, token)
        bus.add(conn.listener)
        await conn.send({"type": "authenticated", "user_id": identity.user.id, "channels": list(CHANNELS)})
        tasks = {asyncio.create_task(_receive_loop(conn)), asyncio.create_task(_send_loop(conn))}
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError, WebSocketDisconnect, _Close):
                    await task
        for task in done:
            task.result()
    except _Close as close:
        _log.info("ws.closed", code=close.code, reason=close.reason)
        with contextlib.suppress(RuntimeError, WebSocketDisconnect):
            await websocket.close(close.code, close.reason)
    except WebSocketDisconnect:
        pass
    finally:
        if conn is not None:
            bus.remove(conn.listener)


#: The router to include: a plain Starlette WebSocket route, so the app-wide HTTP dependencies (the JSON body check)
#: do not apply to it; authentication is the protocol's own (see the module docstring).
router = APIRouter()
router.routes.append(WebSocketRoute(PATH, live_events, name="live_events"))
