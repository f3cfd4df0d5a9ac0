"""``POST /api/v1/webhooks/tradingview/{token}``: TradingView alerts in, :class:`TradeIntent` out.

Answers (JSON bodies):

* 202 ``{"status": "accepted", "signal": {...}}``: the alert was read and handed to ``on_intent``;
* 400 the alert's ``time`` is further than ``intake.webhooks.max_clock_skew_s`` from now;
* 401 unknown or wrong token (one answer for both);
* 409 the same body from the same owner within ``intake.webhooks.replay_window_s``;
* 413 the body is over ``intake.webhooks.max_body_bytes``;
* 422 the alert cannot be read as a trade to open (the message says why);
* 503 the replay store did not answer (the alert may be sent again).

The token is part of the path, so the server that mounts this router must not write request paths to its access
log (run uvicorn with ``access_log=False`` or redact the path); this module never logs the token.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

import structlog
from fastapi import APIRouter, Request
from fastapi.responses import Response

from tsbot.config import Settings
from tsbot.core.errors import TemporaryError, TsbotError
from tsbot.core.time import utc_now
from tsbot.intake.models import TradeIntent, dumps
from tsbot.intake.tradingview import AlertError
from tsbot.intake.webhooks import (
    ReplayedAlertError,
    ReplayGuard,
    StaleAlertError,
    UnknownTokenError,
    WebhookIntake,
    WebhookTokenStore,
)

#: Called with (owner id, trade, receive time as aware UTC) for every accepted alert.
OnIntent = Callable[[str, TradeIntent, datetime], Awaitable[None]]

_log = structlog.get_logger("tsbot.api.webhooks")


class _BodyTooLargeError(TsbotError):
    """The request body is over the configured limit."""


def tradingview_router(
    tokens: WebhookTokenStore, guard: ReplayGuard, on_intent: OnIntent, settings: Settings
) -> APIRouter:
    """A router serving ``POST /api/v1/webhooks/tradingview/{token}`` (see the module docstring).

    Parameters
    ----------
    tokens:
        Maps a token to its owner's user id.
    guard:
        Accepted-alert keys; use a shared one (Redis) when several API processes run.
    on_intent:
        Awaited with each accepted trade before the 202 answer. If it raises, the alert's replay key is released
        (so a resend is not refused as a replay) and the error propagates.
    settings:
        ``settings.intake.webhooks`` gives the body limit, replay window and allowed clock skew.
    """
    config = settings.intake.webhooks
    intake = WebhookIntake(
        tokens,
        guard,
        replay_window_s=config.replay_window_s,
        max_clock_skew_s=config.max_clock_skew_s,
        max_body_bytes=config.max_body_bytes,
    )
    router = APIRouter(prefix="/api/v1/webhooks", tags=["webhooks"])

    @router.post(
        "/tradingview/{token}",
        status_code=202,
        summary="Receive a TradingView alert",
        responses={code: {"description": text} for code, text in _ERROR_ANSWERS.items()},
    )
    async def tradingview_alert(token: str, request: Request) -> Response:
        received_at = utc_now()
        client = request.client.host if request.client else None
        log = _log.bind(source="tradingview", client=client)
        try:
            body = await _read_body(request, config.max_body_bytes)
            owner = intake.authenticate(token)
            log = log.bind(owner=owner)
            accepted = await intake.accept(owner, body, request.headers.get("content-type"), received_at)
        except _REJECTIONS as exc:
            status = _status_of(exc)
            log.warning("webhook.rejected", status=status, reason=type(exc).__name__, detail=str(exc))
            return _answer(status, {"status": "rejected", "detail": str(exc)})
        except TemporaryError as exc:
            log.error("webhook.unavailable", reason=type(exc).__name__, detail=str(exc))
            return _answer(503, {"status": "unavailable", "detail": str(exc)}, {"Retry-After": "5"})
        intent = accepted.intent
        log = log.bind(symbol=intent.symbol, side=intent.side.value, entry_kind=intent.entry_kind.value)
        try:
            await on_intent(owner, intent, accepted.received_at)
        except Exception:
            log.exception("webhook.handler_failed")
            await intake.release(accepted)
            raise
        log.info("webhook.accepted", read_as=accepted.source, body_bytes=len(body))
        return _answer(202, {"status": "accepted", "signal": intent.to_dict()})

    return router


_REJECTIONS = (_BodyTooLargeError, UnknownTokenError, AlertError, StaleAlertError, ReplayedAlertError)
_ERROR_ANSWERS = {
    400: "the alert's time is too far from now",
    401: "unknown or wrong token",
    409: "the same alert was already accepted (replay)",
    413: "the body is too large",
    422: "the alert cannot be read as a trade to open",
    503: "the replay store did not answer; send again later",
}


def _status_of(exc: Exception) -> int:
    if isinstance(exc, _BodyTooLargeError):
        return 413
    if isinstance(exc, UnknownTokenError):
        return 401
    if isinstance(exc, StaleAlertError):
        return 400
    if isinstance(exc, ReplayedAlertError):
        return 409
    return 422


async def _read_body(request: Request, limit: int) -> bytes:
    """The request body, read in chunks; raises :class:`_BodyTooLargeError` past ``limit`` bytes."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise _BodyTooLargeError(f"body is {int(declared)} bytes; the limit is {limit} bytes")
    body = bytearray()
    async for chunk in request.stream():
        body.extend(chunk)
        if len(body) > limit:
            raise _BodyTooLargeError(f"body is over the limit of {limit} bytes")
    return bytes(body)


def _answer(status: int, payload: dict[str, Any], headers: dict[str, str] | None = None) -> Response:
    """A JSON answer; decimals are written as plain JSON numbers (``dumps``)."""
    return Response(dumps(payload), status_code=status, media_type="application/json", headers=headers)
