"""Order routes under ``/api/v1/orders``: your orders (those of your portfolios' accounts), one order with its
status history and fills, paper orders placed and cancelled.

Orders are placed on a portfolio's paper account, rebuilt from the database for each request
(:func:`~tsbot.trading.paper_books.open_paper_desk`): its resting orders are worked first against the candles stored
since they were placed; a market order then fills at once at the last stored close, with the paper fees; limit
and stop orders rest until a later candle reaches them. Every check is the domain's
(:func:`~tsbot.trading.orders.prepare_order`, the paper broker's funds check): a refusal answers 422
``order_rejected`` with its reason (and the refused order is stored as rejected, as every front end stores it).

Idempotency: an order with a ``client_id`` gets the client order id ``client_order_id(account, "api-<client_id>",
"entry")``; sending it again returns the stored order (200) instead of placing a second one (201).
"""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Annotated

from fastapi import APIRouter, Path, Query, Response

from tsbot.accounts.models import Identity, Permission
from tsbot.adapters.storage.order_queries import SqlOrderPages
from tsbot.apps.api.auth import requires
from tsbot.apps.api.deps import ServicesDep
from tsbot.apps.api.errors import ApiError
from tsbot.apps.api.ratelimit import OrdersRateLimit
from tsbot.apps.api.schemas import Page
from tsbot.apps.api.trading_common import (
    my_accounts,
    my_portfolio,
    open_desk,
    order_out,
    portfolio_of_account,
)
from tsbot.apps.api.trading_models import SYMBOL_PATTERN, OrderIn, OrderOut
from tsbot.core.errors import NotFoundError
from tsbot.trading.models import Order, OrderRejectedError, OrderRequest, OrderStatus
from tsbot.trading.orders import client_order_id
from tsbot.trading.paper_books import paper_account
from tsbot.wiring import Services

router = APIRouter(prefix="/api/v1/orders", tags=["orders"])

OrderId = Annotated[str, Path(min_length=1, max_length=64, description="the order's client order id")]
_NOT_FOUND = {404: {"description": "no such order of yours"}}
_REJECTED = {422: {"description": "refused by the order checks, with the reason"}}


async def _my_order(services: Services, owner: str, order_id: str) -> tuple[Order, str]:
    """The caller's order ``order_id`` and the id of the portfolio holding its account.

    Raises:
        NotFoundError: no such order, or one of another user's account.
    """
    accounts = await my_accounts(services, owner)
    order = await services.orders.get(order_id)
    if order is None:
        raise NotFoundError(f"order {order_id} not found")
    info = portfolio_of_account(accounts, order.request.account, f"order {order_id}")
    return order, info.id


@router.get("", summary="Your orders")
async def list_orders(
    services: ServicesDep,
    identity: Identity = requires(Permission.READ_ORDERS),
    portfolio_id: str | None = Query(None, min_length=1, max_length=64, description="only this portfolio's"),
    status: OrderStatus | None = Query(None, description="only orders in this status"),
    symbol: str | None = Query(
        None, pattern=SYMBOL_PATTERN, max_length=41, description="only this BASE/QUOTE"
    ),
    limit: int = Query(50, ge=1, le=500),
    offset: int = Query(0, ge=0, le=1_000_000),
) -> Page[OrderOut]:
    """Orders of your portfolios' accounts, newest first (without history and fills: see the one-order route)."""
    owner = identity.user.id
    accounts = await my_accounts(services, owner)
    if portfolio_id is not None:
        info = await my_portfolio(services, owner, portfolio_id)
        wanted = [a.account for a in info.accounts]
    else:
        wanted = sorted(accounts)
    found, total = await SqlOrderPages(services.db).page(
        wanted,
        statuses=None if status is None else [status],
        symbol=None if symbol is None else symbol.upper(),
        limit=limit,
        offset=offset,
    )
    items = [order_out(o, accounts[o.request.account].id) for o in found]
    return Page[OrderOut](items=items, total=total, limit=limit, offset=offset)


@router.get("/{order_id}", summary="One order with its events and fills", responses=_NOT_FOUND)
async def get_order(
    order_id: OrderId, services: ServicesDep, identity: Identity = requires(Permission.READ_ORDERS)
) -> OrderOut:
    """The order, its whole status history (from -> to, time, reason) and its fills."""
    order, portfolio_id = await _my_order(services, identity.user.id, order_id)
    return order_out(order, portfolio_id, await services.orders.fills(order_id))


@router.post(
    "",
    status_code=201,
    summary="Place a paper order",
    responses={
        200: {"description": "a retry: the order placed before with this client_id", "model": OrderOut},
        404: {"description": "no such portfolio of yours"},
        **_REJECTED,
        429: {"description": "over the orders rate limit"},
    },
)
async def place_order(
    body: OrderIn,
    response: Response,
    services: ServicesDep,
    identity: Identity = requires(Permission.WRITE_ORDERS),
    _rate_limit: None = OrdersRateLimit,
) -> OrderOut:
    """Place an order on the portfolio's paper account (see the module docstring): 201 with the order as placed
    (a market order already filled), or 200 with the stored one for a ``client_id`` sent before."""
    info = await my_portfolio(services, identity.user.id, body.portfolio_id)
    account = paper_account(info.id)
    symbol = body.symbol.upper()
    cid = client_order_id(account, f"api-{body.client_id or uuid.uuid4().hex}", "entry")
    replay = body.client_id is not None and await services.orders.get(cid) is not None
    try:
        desk = await open_desk(services, info, [symbol])
    except NotFoundError as exc:
        raise OrderRejectedError(str(exc)) from None
    quote = None if body.quote_amount is None else Decimal(body.quote_amount)
    if quote is not None:
        if quote <= 0:
            raise OrderRejectedError(f"quote amount must be positive, got {quote}")
        last = desk.broker.last_close(symbol)
        if last is None:
            raise OrderRejectedError(f"no price for {symbol} yet: a buy by amount needs a traded candle")
        estimate = quote / last  # the fill sets the quantity the amount pays for
    else:
        assert body.quantity is not None
        estimate = Decimal(body.quantity)
    request = OrderRequest(
        cid,
        account,
        symbol,
        body.side,
        body.type,
        estimate,
        price=None if body.price is None else Decimal(body.price),
        stop_price=None if body.stop_price is None else Decimal(body.stop_price),
        quote_qty=quote,
        reason=f"placed through the API by {identity.user.email}",
    )
    order = await desk.place(request)
    if replay:
        response.status_code = 200
    return order_out(order, info.id, await services.orders.fills(cid))


@router.delete(
    "/{order_id}",
    summary="Cancel a resting order",
    responses={**_NOT_FOUND, 409: {"description": "the order is final, or not on a paper account"}},
)
async def cancel_order(
    order_id: OrderId, services: ServicesDep, identity: Identity = requires(Permission.DELETE_ORDERS)
) -> OrderOut:
    """Cancel a resting paper order (after working the candles stored since it was placed: it may have filled)."""
    order, portfolio_id = await _my_order(services, identity.user.id, order_id)
    info = await my_portfolio(services, identity.user.id, portfolio_id)
    if order.request.account != paper_account(info.id):
        raise ApiError(
            409, f"order {order_id} is on {order.request.account}: only paper orders are cancelled here"
        )
    desk = await open_desk(services, info, [order.request.symbol])
    current = await services.orders.get(order_id)
    if current is None or current.status.final:
        status = order.status.value if current is None else current.status.value
        raise ApiError(409, f"order {order_id} is already {status}; nothing to cancel")
    cancelled = await desk.cancel(order_id)
    return order_out(cancelled, info.id, await services.orders.fills(order_id))
