"""Bot routes under ``/api/v1/bots``: your bots, a new bot on one of your portfolios (paper) or on one of your
exchange keys (live), its status and recent events, pause / resume / stop, and the orders it proposes for approval.

A live bot is only ever asked for explicitly (``mode: live`` with ``exchange_key_id``); starting one needs the
permission to place orders (``write_orders``) beside ``write_bots``, and the key must be yours and still stored
(:func:`~tsbot.apps.exchange_accounts.own_live_key`). Its answer names the account (``<exchange>:<key id>``),
never any key material.

A bot is described and validated by :class:`~tsbot.trading.bots.BotConfig` and stored by the bot store; the process
that runs it (:class:`~tsbot.trading.bot.SignalBot`) reads its status from there. In approval mode each entry it
wants to place is stored as a pending approval; approving or declining here records the decision in that store (and
a bot event), and the running bot applies it (:func:`~tsbot.trading.approvals.apply_decisions`): an approved entry is
sent, a declined one dropped. Another user's bot or approval answers 404.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request

from tsbot.accounts.models import Identity, Permission
from tsbot.apps.api.auth import caller_ip, requires
from tsbot.apps.api.bot_models import (
    ApprovalOut,
    BotDetailOut,
    BotEventOut,
    BotIn,
    BotOut,
    ProposedOrderOut,
    RiskOut,
    StatusIn,
)
from tsbot.apps.api.deps import ServicesDep
from tsbot.apps.api.errors import ApiError
from tsbot.apps.api.schemas import Page
from tsbot.apps.api.trading_common import dec, money, my_portfolio, with_paper_account
from tsbot.apps.exchange_accounts import own_live_key
from tsbot.core.errors import ConfigError, NotFoundError
from tsbot.core.time import utc_now
from tsbot.trading.bots import (
    Approval,
    ApprovalStatus,
    BotConfig,
    BotMode,
    BotStatus,
    risk_from_json,
    risk_to_json,
)
from tsbot.trading.paper_books import PAPER_VENUE, paper_account
from tsbot.wiring import Services

router = APIRouter(prefix="/api/v1/bots", tags=["bots"])

BotId = Annotated[str, Path(min_length=1, max_length=64, description="the bot's id")]
ApprovalId = Annotated[str, Path(min_length=1, max_length=64, description="the approval's id")]
_NOT_FOUND = {404: {"description": "no such bot (or approval) of yours"}}
_CONFLICT = {409: {"description": "the lifecycle forbids it, or it was decided already"}}


def bot_out(bot: BotConfig) -> BotOut:
    venue, _, key = bot.account.partition(":")
    return BotOut(
        bot_id=bot.id,
        name=bot.name,
        strategy=bot.strategy,
        provider=bot.provider,
        portfolio_id=key if venue == PAPER_VENUE else None,
        account=bot.account,
        mode=bot.mode,
        pairs=list(bot.pairs),
        timeframe=bot.timeframe,
        capital=money(bot.capital),
        params=dict(bot.params),
        risk=RiskOut(**risk_to_json(bot.risk)),
        approval=bot.approval,
        status=bot.status,
        status_reason=bot.status_reason,
        created_at=bot.created_at,
        updated_at=bot.updated_at,
    )


def approval_out(a: Approval, now: datetime) -> ApprovalOut:
    r = a.request
    return ApprovalOut(
        approval_id=a.id,
        bot_id=a.bot_id,
        summary=a.summary,
        status=ApprovalStatus.EXPIRED if a.is_expired(now) else a.status,
        order=ProposedOrderOut(
            client_order_id=r.client_order_id,
            symbol=r.symbol,
            side=r.side,
            type=r.order_type,
            quantity=money(r.qty),
            quote_amount=dec(r.quote_qty),
            price=dec(r.price),
            stop_price=dec(r.stop_price),
            reason=r.reason,
        ),
        created_at=a.created_at,
        expires_at=a.expires_at,
        decided_at=a.decided_at,
        decided_by=a.decided_by,
    )


async def _bot_approvals(services: Services, owner: str, bot_id: str) -> list[Approval]:
    return [a for a in await services.bots.approvals(owner) if a.bot_id == bot_id]


@router.get("", summary="Your bots")
async def list_bots(
    services: ServicesDep,
    identity: Identity = requires(Permission.READ_BOTS),
    status: BotStatus | None = Query(None, description="only bots in this status"),
    limit: int = Query(50, ge=1, le=500),
    offset: int = Query(0, ge=0, le=1_000_000),
) -> Page[BotOut]:
    """Your bots, oldest first."""
    found = await services.bots.list(identity.user.id, status)
    items = [bot_out(b) for b in found[offset : offset + limit]]
    return Page[BotOut](items=items, total=len(found), limit=limit, offset=offset)


@router.post(
    "",
    status_code=201,
    summary="Create and start a bot",
    responses={
        400: {"description": "invalid settings (every problem named)"},
        403: {"description": "mode live without the permission to place orders (write_orders)"},
        404: {"description": "no such portfolio, or (live) no such exchange key of yours"},
    },
)
async def create_bot(
    body: BotIn, services: ServicesDep, identity: Identity = requires(Permission.WRITE_BOTS)
) -> BotOut:
    """A new running bot trading ``pairs`` with ``capital``: a built-in strategy, or ``follow`` a signal provider's
    posts. Mode ``paper`` (the default) trades the paper account of your portfolio ``portfolio_id``; mode ``live``
    places real orders on the exchange account of your exchange key ``exchange_key_id`` and needs the permission
    to place orders."""
    owner = identity.user.id
    account = await _account(services, identity, body)
    name = body.name.strip()
    if any(b.name == name for b in await services.bots.list(owner)):
        raise ApiError(409, f"you already have a bot named {name}; pick another name")
    config = BotConfig.new(
        owner,
        name,
        body.strategy,
        body.pairs,
        body.capital,
        account=account,
        mode=body.mode,
        provider=body.provider,
        timeframe=body.timeframe,
        params=body.params,
        risk=risk_from_json(body.risk.model_dump(exclude_unset=True)),
        approval=body.approval,
        now=utc_now(),
    )
    return bot_out(await services.bots.create(config))


async def _account(services: Services, identity: Identity, body: BotIn) -> str:
    """The account the new bot trades: its portfolio's paper account, or (live) its exchange key's account.

    Raises:
        PermissionDeniedError: mode live without ``write_orders`` (403).
        ConfigError: a key without mode live, mode live without a key, a portfolio with mode live, no portfolio
            in mode paper, or a key on an exchange without a broker (400).
        NotFoundError: the portfolio or the key is not yours, or not stored (404).
    """
    owner = identity.user.id
    if body.mode is BotMode.LIVE:
        identity.require(Permission.WRITE_ORDERS)
        if body.exchange_key_id is None:
            raise ConfigError(
                "mode live needs exchange_key_id: the id of one of your exchange keys (GET /api/v1/me/exchange-keys)"
            )
        if body.portfolio_id is not None:
            raise ConfigError(
                "a live bot trades the exchange account of its key, not a portfolio's paper account: "
                "leave portfolio_id out"
            )
        return (await own_live_key(services, owner, body.exchange_key_id)).account
    if body.exchange_key_id is not None:
        raise ConfigError(
            "exchange_key_id places real orders: ask for it with mode live (a paper bot takes a portfolio_id)"
        )
    if body.portfolio_id is None:
        raise ConfigError("a paper bot needs portfolio_id: the portfolio whose paper account it trades")
    info = await with_paper_account(services, await my_portfolio(services, owner, body.portfolio_id))
    return paper_account(info.id)


@router.get("/{bot_id}", summary="A bot's status and recent events", responses=_NOT_FOUND)
async def get_bot(
    bot_id: BotId,
    services: ServicesDep,
    identity: Identity = requires(Permission.READ_BOTS),
    events: int = Query(20, ge=0, le=200, description="how many of the latest events"),
) -> BotDetailOut:
    """The bot's settings and status, its latest events and how many of its orders wait for approval."""
    owner = identity.user.id
    bot = await services.bots.get(bot_id, owner)
    now = utc_now()
    pending = [
        a for a in await _bot_approvals(services, owner, bot.id) if approval_out(a, now).status == "pending"
    ]
    rows = await services.bots.events(bot.id, limit=events) if events else []
    return BotDetailOut(
        **bot_out(bot).model_dump(),
        events=[BotEventOut(at=e.at, kind=e.kind, message=e.message, data=e.data) for e in rows],
        pending_approvals=len(pending),
    )


async def _move(
    services: Services,
    identity: Identity,
    request: Request,
    bot_id: str,
    target: BotStatus,
    body: StatusIn | None,
) -> BotOut:
    verb = {BotStatus.PAUSED: "paused", BotStatus.RUNNING: "resumed", BotStatus.STOPPED: "stopped"}[target]
    reason = (
        body.reason if body else None
    ) or f"{verb} through the API by {identity.user.email} from {caller_ip(request)}"
    return bot_out(await services.bots.set_status(bot_id, target, reason, utc_now(), identity.user.id))


@router.post("/{bot_id}/pause", summary="Pause a bot", responses={**_NOT_FOUND, **_CONFLICT})
async def pause_bot(
    bot_id: BotId,
    request: Request,
    services: ServicesDep,
    identity: Identity = requires(Permission.WRITE_BOTS),
    body: StatusIn | None = None,
) -> BotOut:
    """Pause a running bot: it opens nothing new until resumed."""
    return await _move(services, identity, request, bot_id, BotStatus.PAUSED, body)


@router.post("/{bot_id}/resume", summary="Resume a bot", responses={**_NOT_FOUND, **_CONFLICT})
async def resume_bot(
    bot_id: BotId,
    request: Request,
    services: ServicesDep,
    identity: Identity = requires(Permission.WRITE_BOTS),
    body: StatusIn | None = None,
) -> BotOut:
    """Resume a paused bot, or one its kill switch stopped."""
    return await _move(services, identity, request, bot_id, BotStatus.RUNNING, body)


@router.post("/{bot_id}/stop", summary="Stop a bot for good", responses={**_NOT_FOUND, **_CONFLICT})
async def stop_bot(
    bot_id: BotId,
    request: Request,
    services: ServicesDep,
    identity: Identity = requires(Permission.WRITE_BOTS),
    body: StatusIn | None = None,
) -> BotOut:
    """Stop a bot for good (a stopped bot cannot be resumed)."""
    return await _move(services, identity, request, bot_id, BotStatus.STOPPED, body)


@router.get("/{bot_id}/approvals", summary="Orders the bot proposes", responses=_NOT_FOUND)
async def list_approvals(
    bot_id: BotId,
    services: ServicesDep,
    identity: Identity = requires(Permission.READ_BOTS),
    status: ApprovalStatus | None = Query(
        ApprovalStatus.PENDING, description="only this status (default pending)"
    ),
    limit: int = Query(50, ge=1, le=500),
    offset: int = Query(0, ge=0, le=1_000_000),
) -> Page[ApprovalOut]:
    """The bot's proposed orders, oldest first: by default those waiting for your decision."""
    owner = identity.user.id
    bot = await services.bots.get(bot_id, owner)
    now = utc_now()
    found = [approval_out(a, now) for a in await _bot_approvals(services, owner, bot.id)]
    if status is not None:
        found = [a for a in found if a.status == status]
    return Page[ApprovalOut](
        items=found[offset : offset + limit], total=len(found), limit=limit, offset=offset
    )


async def _decide(
    services: Services, identity: Identity, bot_id: str, approval_id: str, approve: bool
) -> ApprovalOut:
    owner, who = identity.user.id, identity.user.email
    bot = await services.bots.get(bot_id, owner)
    approval = await services.bots.get_approval(approval_id, owner)
    if approval.bot_id != bot.id:
        raise NotFoundError(f"approval {approval_id} not found")
    if bot.status is BotStatus.STOPPED:
        raise ApiError(409, f"bot {bot.name} is stopped: nothing would send this order")
    now = utc_now()
    try:
        decided = await services.bots.decide(approval_id, owner, approve, who, now)
    except ConfigError as exc:
        raise ApiError(409, str(exc)) from None
    verb = "approved" if approve else "declined"
    await services.bots.add_event(
        bot.id,
        now,
        "approval",
        f"{who} {verb}: {decided.summary}",
        {
            "approval_id": decided.id,
            "client_order_id": decided.request.client_order_id,
            "status": decided.status.value,
        },
    )
    return approval_out(decided, now)


@router.post(
    "/{bot_id}/approvals/{approval_id}/approve",
    summary="Approve a proposed order",
    responses={**_NOT_FOUND, **_CONFLICT},
)
async def approve(
    bot_id: BotId,
    approval_id: ApprovalId,
    services: ServicesDep,
    identity: Identity = requires(Permission.WRITE_BOTS),
) -> ApprovalOut:
    """Approve the order: the running bot sends it (unless its pair took a position meanwhile). 409 when it was
    decided already or expired."""
    return await _decide(services, identity, bot_id, approval_id, approve=True)


@router.post(
    "/{bot_id}/approvals/{approval_id}/decline",
    summary="Decline a proposed order",
    responses={**_NOT_FOUND, **_CONFLICT},
)
async def decline(
    bot_id: BotId,
    approval_id: ApprovalId,
    services: ServicesDep,
    identity: Identity = requires(Permission.WRITE_BOTS),
) -> ApprovalOut:
    """Decline the order: the running bot drops it. 409 when it was decided already or expired."""
    return await _decide(services, identity, bot_id, approval_id, approve=False)
