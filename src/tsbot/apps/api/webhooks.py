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
log (run uvicorn with ``access_log=False`` or redact the path); this module never logs the token. The platform API
does both: ``tsbot api`` runs uvicorn without its access log, and the API's own access log
(:mod:`tsbot.apps.api.observe`) writes the path with the token segment replaced by ``***``.

Mount :func:`tradingview_router` (parts built once) or :func:`app_tradingview_router` (parts found per request);
token stores may answer at once or be awaited (:class:`AsyncWebhookTokenStore`). The platform API serves
:data:`router`: per-user tokens in the database, the replay guard in Redis when ``settings.redis_url`` is set (else
in the process), accepted trades kept in ``webhook_alerts``; and :data:`tokens_router` (under ``/api/v1/intake``):
create (``write_signals``; shown once), list and delete one's tokens, list one's accepted alerts (``read_signals``).
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, Protocol

import structlog
from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field, field_validator

from tsbot.accounts.models import Identity, Permission
from tsbot.adapters.replay_redis import RedisReplayGuard
from tsbot.adapters.storage.webhook_tokens import SqlWebhookAlertStore, SqlWebhookTokenStore
from tsbot.apps.api.audit import AuditAction, audit
from tsbot.apps.api.auth import requires
from tsbot.apps.api.deps import ServicesDep
from tsbot.apps.api.errors import ApiError
from tsbot.apps.api.schemas import Page
from tsbot.config import Settings
from tsbot.core.errors import NotFoundError, TemporaryError, TsbotError
from tsbot.core.time import utc_now
from tsbot.intake.models import TradeIntent, dumps
from tsbot.intake.tradingview import AlertError
from tsbot.intake.webhooks import (
    MemoryReplayGuard,
    MemoryTokenStore,
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


class AsyncWebhookTokenStore(Protocol):
    """A :class:`~tsbot.intake.webhooks.WebhookTokenStore` whose lookup is awaited (a database)."""

    async def owner_of(self, token: str) -> str | None:
        """The owner's user id, or ``None`` for an unknown token."""
        ...


TokenLookup = WebhookTokenStore | AsyncWebhookTokenStore  # either kind of token store

# The route looks tokens up itself (sync or async stores); the intake only reads, dates and replay-checks alerts.
_NO_TOKENS = MemoryTokenStore()


@dataclass(frozen=True, slots=True)
class WebhookParts:
    """What the route needs: the token lookup, the alert checks (with the body limit) and the trades' handler."""

    tokens: TokenLookup
    intake: WebhookIntake
    on_intent: OnIntent


def webhook_parts(
    tokens: TokenLookup, guard: ReplayGuard, on_intent: OnIntent, settings: Settings
) -> WebhookParts:
    """The parts of the route from a token store, a replay guard, a handler and ``settings.intake.webhooks``
    (body limit, replay window and allowed clock skew)."""
    config = settings.intake.webhooks
    intake = WebhookIntake(
        _NO_TOKENS,
        guard,
        replay_window_s=config.replay_window_s,
        max_clock_skew_s=config.max_clock_skew_s,
        max_body_bytes=config.max_body_bytes,
    )
    return WebhookParts(tokens, intake, on_intent)


def tradingview_router(
    tokens: TokenLookup, guard: ReplayGuard, on_intent: OnIntent, settings: Settings
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
    parts = webhook_parts(tokens, guard, on_intent, settings)
    return app_tradingview_router(lambda _request: parts)


def app_tradingview_router(parts_of: Callable[[Request], WebhookParts]) -> APIRouter:
    """The same route, with its parts found for each request by ``parts_of`` (e.g. kept in the serving app's
    state, so one module-level router serves every app built over different services)."""
    router = APIRouter(prefix="/api/v1/webhooks", tags=["webhooks"])

    @router.post(
        "/tradingview/{token}",
        status_code=202,
        summary="Receive a TradingView alert",
        responses={code: {"description": text} for code, text in _ERROR_ANSWERS.items()},
    )
    async def tradingview_alert(token: str, request: Request) -> Response:
        """Authenticated by the secret token in the path (TradingView can neither sign nor add headers); the
        body is the alert message, JSON or plain text."""
        parts = parts_of(request)
        intake, on_intent = parts.intake, parts.on_intent
        received_at = utc_now()
        client = request.client.host if request.client else None
        log = _log.bind(source="tradingview", client=client)
        try:
            body = await _read_body(request, intake.max_body_bytes)
            owner = await _owner(parts.tokens, token)
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


async def _owner(tokens: TokenLookup, token: str) -> str:
    """The owner of ``token``; raises :class:`UnknownTokenError` for an unknown or wrong one."""
    found: Any = tokens.owner_of(token)
    if inspect.isawaitable(found):
        found = await found
    if found is None:
        raise UnknownTokenError("unknown webhook token")
    return str(found)


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
    statuses = (
        (_BodyTooLargeError, 413),
        (UnknownTokenError, 401),
        (StaleAlertError, 400),
        (ReplayedAlertError, 409),
    )
    return next((status for kind, status in statuses if isinstance(exc, kind)), 422)


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


def _app_parts(request: Request) -> WebhookParts:
    """The serving app's parts, built on its first alert from its services (see the module docstring)."""
    state = request.app.state
    parts: WebhookParts | None = getattr(state, "tradingview", None)
    if parts is None:
        services = state.services
        redis_client = getattr(state, "redis", None)
        guard: ReplayGuard = MemoryReplayGuard() if redis_client is None else RedisReplayGuard(redis_client)
        alerts = SqlWebhookAlertStore(services.db)

        async def keep(owner: str, intent: TradeIntent, received_at: datetime) -> None:
            await alerts.add(owner, intent, received_at)

        parts = webhook_parts(SqlWebhookTokenStore(services.db), guard, keep, services.settings)
        state.tradingview = parts
    return parts


#: ``POST /api/v1/webhooks/tradingview/{token}`` of the platform API.
router = app_tradingview_router(_app_parts)
#: Users' tokens and accepted alerts; included by :mod:`tsbot.apps.api.intake` under ``/api/v1/intake``.
tokens_router = APIRouter(prefix="/webhooks")
MAX_TOKENS_PER_USER = 20  # tokens one user may hold


def unicode_text(value: str | None) -> str | None:
    """``value`` when it can be written as UTF-8 (as JSON answers must be); else ``ValueError`` (a 422)."""
    if value is not None:
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise ValueError("text holds characters that are not valid Unicode (lone surrogates)") from None
    return value


class SignalOut(BaseModel):
    """A trade to open, prices in the quote currency as written."""

    symbol: str = Field(description="BASE/QUOTE upper case, or the base alone")
    side: str = Field(description="long or short")
    entry_kind: str = Field(description="market, single, list or zone")
    entries: list[Decimal] = Field(description="entry prices in written order; empty for a market entry")
    take_profits: list[Decimal] = Field(description="take-profit prices in written order")
    stop_loss: Decimal | None = Field(description="stop-loss price, or null")
    leverage: Decimal | None = Field(description="leverage multiple, or null")
    margin: str | None = Field(description="cross, isolated or null")
    exchanges: list[str] = Field(description="exchanges named by the post or alert")

    @classmethod
    def of(cls, intent: TradeIntent) -> SignalOut:
        return cls(
            symbol=intent.symbol,
            side=intent.side.value,
            entry_kind=intent.entry_kind.value,
            entries=list(intent.entry),
            take_profits=list(intent.targets),
            stop_loss=intent.stop,
            leverage=intent.leverage,
            margin=intent.margin.value if intent.margin else None,
            exchanges=list(intent.exchanges),
        )


class TokenIn(BaseModel):
    """A new webhook token: its label (which alert or strategy posts with it)."""

    label: str = Field(min_length=1, max_length=64, description="a name to tell the token apart")

    @field_validator("label")
    @classmethod
    def _label(cls, value: str) -> str:
        if not value.strip() or not value.isprintable():
            raise ValueError("label must be printable text, not blank (no control characters)")
        return value.strip()


class TokenOut(BaseModel):
    """A webhook token without its secret."""

    model_config = ConfigDict(from_attributes=True)

    id: str
    label: str
    prefix: str = Field(description="the token's first characters, to tell it apart")
    created_at: datetime
    last_used_at: datetime | None = Field(description="when an alert last presented it")


class TokenCreatedOut(TokenOut):
    """A new token: ``token`` and ``webhook_url`` are shown this once and cannot be read again."""

    token: str = Field(description="the secret; keep it like a password")
    webhook_url: str = Field(description="the URL to give TradingView (holds the token)")


class AlertOut(BaseModel):
    """An alert a webhook accepted: the trade it asks for and when it came."""

    id: int
    received_at: datetime
    signal: SignalOut


@tokens_router.post(
    "/tokens",
    status_code=201,
    summary="Create a TradingView webhook token",
    responses={409: {"description": f"the user already holds {MAX_TOKENS_PER_USER} tokens"}},
)
async def create_token(
    body: TokenIn,
    request: Request,
    services: ServicesDep,
    identity: Identity = requires(Permission.WRITE_SIGNALS),
) -> TokenCreatedOut:
    """Stored as a SHA-256 digest only: the answer is the one time the token is shown."""
    store = SqlWebhookTokenStore(services.db)
    if await store.count(identity.user.id) >= MAX_TOKENS_PER_USER:
        raise ApiError(
            409,
            f"you already hold {MAX_TOKENS_PER_USER} webhook tokens; delete one first",
            error_type="too_many_tokens",
        )
    info, token = await store.issue(identity.user.id, body.label, utc_now())
    created = AuditAction.WEBHOOK_TOKEN_CREATED
    await audit(services, request, identity, created, target=info.id, label=info.label, prefix=info.prefix)
    url = services.settings.api.public_url.rstrip("/") + f"/api/v1/webhooks/tradingview/{token}"
    return TokenCreatedOut(**TokenOut.model_validate(info).model_dump(), token=token, webhook_url=url)


@tokens_router.get("/tokens", summary="My TradingView webhook tokens")
async def list_tokens(
    services: ServicesDep,
    limit: int = Query(50, ge=1, le=500),
    offset: int = Query(0, ge=0),
    identity: Identity = requires(Permission.WRITE_SIGNALS),
) -> Page[TokenOut]:
    """Oldest first; never the secret."""
    infos = await SqlWebhookTokenStore(services.db).list_for(identity.user.id)
    items = [TokenOut.model_validate(i) for i in infos[offset : offset + limit]]
    return Page[TokenOut](items=items, total=len(infos), limit=limit, offset=offset)


@tokens_router.delete(
    "/tokens/{token_id}",
    status_code=204,
    summary="Delete one of my webhook tokens",
    responses={404: {"description": "no such token of yours"}},
)
async def delete_token(
    request: Request,
    services: ServicesDep,
    token_id: str = Path(min_length=1, max_length=36),
    identity: Identity = requires(Permission.WRITE_SIGNALS),
) -> Response:
    """Alerts presenting the token are refused (401) from now on."""
    if not await SqlWebhookTokenStore(services.db).delete(identity.user.id, token_id):
        raise NotFoundError(f"no webhook token {token_id!r}")
    await audit(services, request, identity, AuditAction.WEBHOOK_TOKEN_DELETED, target=token_id)
    return Response(status_code=204)


@tokens_router.get("/alerts", summary="Alerts my TradingView webhooks accepted")
async def list_alerts(
    services: ServicesDep,
    limit: int = Query(50, ge=1, le=500),
    offset: int = Query(0, ge=0),
    identity: Identity = requires(Permission.READ_SIGNALS),
) -> Page[AlertOut]:
    """Newest first."""
    alerts, total = await SqlWebhookAlertStore(services.db).page(identity.user.id, limit=limit, offset=offset)
    items = [AlertOut(id=a.id, received_at=a.received_at, signal=SignalOut.of(a.intent)) for a in alerts]
    return Page[AlertOut](items=items, total=total, limit=limit, offset=offset)
