"""The outermost middleware: a request id for every request, one access-log line and the HTTP metrics.

Pure ASGI (no ``BaseHTTPMiddleware``): per request it reads one header, binds ``request_id`` into structlog's
context variables (so every log line written while the request runs carries it), adds ``X-Request-ID`` to the
answer, and when the answer is complete writes::

    {"event": "http.request", "method": "POST", "path": "/api/v1/webhooks/tradingview/***", "status": 202,
     "duration_ms": 3.41, "request_id": "...", "user_id": "..."}

``user_id`` appears when an identify hook or a dependency recorded one (:mod:`tsbot.apps.api.context`). The query
string is never logged and the token segment of TradingView webhook paths is replaced by ``***``.
"""

from __future__ import annotations

import os
import re
import time

import structlog
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tsbot.apps.api.context import REQUEST_ID, USER_ID, route_template, scope_state
from tsbot.apps.api.metrics import UNROUTED, ApiMetrics

_log = structlog.get_logger("tsbot.api.access")

#: A client's X-Request-ID is kept when it matches this (letters, digits, ``._:-``, 1 to 128 characters);
#: anything else (newlines, quotes, long junk) is replaced by a fresh id.
REQUEST_ID_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,127}")
_HEADER = b"x-request-id"
_WEBHOOK_TOKEN = re.compile(r"(/webhooks/tradingview/)[^/]+")


def new_request_id() -> str:
    """A fresh request id: 32 lowercase hex characters (128 random bits)."""
    return os.urandom(16).hex()


def redact_path(path: str) -> str:
    """``path`` fit for a log: the secret token segment of ``/webhooks/tradingview/<token>`` becomes ``***``."""
    if "/webhooks/" not in path:
        return path
    return _WEBHOOK_TOKEN.sub(r"\1***", path)


def _given_request_id(scope: Scope) -> str | None:
    for name, value in scope["headers"]:
        if name == _HEADER:
            text = value.decode("latin-1")
            return text if REQUEST_ID_PATTERN.fullmatch(text) else None
    return None


class RequestContextMiddleware:
    """Request id, structlog context, access log and metrics for HTTP requests (see the module docstring)."""

    def __init__(self, app: ASGIApp, metrics: ApiMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started_at = time.perf_counter()
        request_id = _given_request_id(scope) or new_request_id()
        state = scope_state(scope)
        state[REQUEST_ID] = request_id
        id_header = (_HEADER, request_id.encode("latin-1"))
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", ()), id_header]
            await send(message)

        tokens = structlog.contextvars.bind_contextvars(request_id=request_id)
        try:
            await self.app(scope, receive, send_with_id)
        finally:
            seconds = time.perf_counter() - started_at
            template = route_template(scope) or UNROUTED
            self.metrics.observe_request(scope["method"], template, status, seconds)
            user_id = state.get(USER_ID)
            who = {} if user_id is None else {"user_id": user_id}
            _log.info(
                "http.request",
                method=scope["method"],
                path=redact_path(scope["path"]),
                status=status,
                duration_ms=round(seconds * 1000, 2),
                **who,
            )
            structlog.contextvars.reset_contextvars(**tokens)
