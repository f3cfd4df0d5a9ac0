"""Portfolio routes under ``/api/v1/portfolios`` and open positions under ``/api/v1/positions``.

Every portfolio has a paper account (``paper:<portfolio id>``) whose money is its ledger (deposits and
withdrawals here) and whose positions are its stored fills (:mod:`tsbot.trading.paper_account`). Figures are at the
last stored closes; each request first works the portfolio's resting paper orders against the candles stored since
they were placed, as every front end does. Performance comes from the daily equity snapshots
(:mod:`tsbot.trading.performance`). Another user's portfolio answers 404.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from decimal import Decimal
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request

from tsbot.accounts.models import Identity, Permission
from tsbot.adapters.storage.portfolios import PortfolioInfo
from tsbot.apps.api.auth import requires
from tsbot.apps.api.deps import ServicesDep
from tsbot.apps.api.errors import ApiError
from tsbot.apps.api.ratelimit import limit_orders
from tsbot.apps.api.schemas import Page
from tsbot.apps.api.trading_common import (
    PortfolioView,
    dec,
    money,
    my_portfolio,
    open_desk,
    order_out,
    view_portfolio,
    with_paper_account,
)
from tsbot.apps.api.trading_models import (
    AccountOut,
    BalanceOut,
    FundsIn,
    FundsOut,
    PerformanceOut,
    PlannedOrderOut,
    PortfolioDetailOut,
    PortfolioIn,
    PortfolioOut,
    PositionOut,
    RebalanceIn,
    RebalanceOut,
    SnapshotOut,
)
from tsbot.core.errors import ConfigError
from tsbot.core.time import from_ms
from tsbot.trading.models import Balance, OrderRejectedError, OrderRequest, OrderType
from tsbot.trading.orders import client_order_id
from tsbot.trading.paper_books import SNAPSHOTS_NEEDED, paper_account
from tsbot.trading.performance import Period, performance_stats
from tsbot.trading.portfolio import RebalanceOrder, rebalance, validate_weights
from tsbot.trading.replay import paper_rules

router = APIRouter(prefix="/api/v1/portfolios", tags=["portfolios"])
positions_router = APIRouter(prefix="/api/v1/positions", tags=["positions"])

PortfolioId = Annotated[str, Path(min_length=1, max_length=64, description="the portfolio's id")]
_NOT_FOUND = {404: {"description": "no such portfolio of yours"}}


def _finite(x: float | None) -> float | None:
    return None if x is None or x != x or x in (float("inf"), float("-inf")) else x


def portfolio_out(info: PortfolioInfo) -> PortfolioOut:
    """The list form of a portfolio."""
    return PortfolioOut(
        portfolio_id=info.id,
        name=info.name,
        base_currency=info.base_currency,
        accounts=[
            AccountOut(account=a.account, venue=a.venue, asset_class=a.asset_class.value)
            for a in info.accounts
        ],
        target_weights={s: money(w) for s, w in sorted(info.target_weights.items())},
        created_at=info.created_at,
    )


def balances_out(balances: list[Balance]) -> list[BalanceOut]:
    return [
        BalanceOut(asset=b.asset, free=money(b.free), locked=money(b.locked), total=money(b.total))
        for b in balances
    ]


def positions_out(view: PortfolioView) -> list[PositionOut]:
    """The open positions of ``view`` (see :class:`PositionOut`)."""
    out = []
    for v in view.valuation.holdings:
        h = v.holding
        out.append(
            PositionOut(
                portfolio_id=view.info.id,
                account=h.account,
                symbol=h.symbol,
                asset_class=h.asset_class.value,
                quantity=money(h.qty),
                average_entry=dec(h.avg_entry),
                last_price=money(v.price),
                price_at=from_ms(view.prices[h.symbol].open_ms),
                value=money(v.value),
                unrealised_pnl=money(v.unrealised_pnl),
                realised_pnl=money(h.realised_pnl),
                fees=money(h.fees),
            )
        )
    return out


@router.get("", summary="Your portfolios")
async def list_portfolios(
    services: ServicesDep,
    identity: Identity = requires(Permission.READ_PORTFOLIO),
    limit: int = Query(50, ge=1, le=500),
    offset: int = Query(0, ge=0, le=1_000_000),
) -> Page[PortfolioOut]:
    """Your portfolios, oldest first, with their accounts and target weights."""
    found = await services.portfolios.list(identity.user.id)
    items = [portfolio_out(p) for p in found[offset : offset + limit]]
    return Page[PortfolioOut](items=items, total=len(found), limit=limit, offset=offset)


@router.post(
    "",
    status_code=201,
    summary="Create a portfolio",
    responses={409: {"description": "you have one of that name"}},
)
async def create_portfolio(
    body: PortfolioIn, services: ServicesDep, identity: Identity = requires(Permission.WRITE_PORTFOLIO)
) -> PortfolioOut:
    """A new, empty portfolio with its paper account; deposit paper money into it next."""
    owner, name = identity.user.id, body.name.strip()
    if not name:
        raise ConfigError("a portfolio name must not be blank")
    if any(p.name == name for p in await services.portfolios.list(owner)):
        raise ApiError(409, f"you already have a portfolio named {name}")
    info = await services.portfolios.create(owner, name, body.base_currency)
    return portfolio_out(await with_paper_account(services, info))


@router.get(
    "/{portfolio_id}", summary="A portfolio with balances, positions and equity", responses=_NOT_FOUND
)
async def get_portfolio(
    portfolio_id: PortfolioId, services: ServicesDep, identity: Identity = requires(Permission.READ_PORTFOLIO)
) -> PortfolioDetailOut:
    """The portfolio valued at the last stored closes: paper balances, open positions, cash, equity and P&L in its
    base currency."""
    view = await view_portfolio(services, await my_portfolio(services, identity.user.id, portfolio_id))
    v = view.valuation
    return PortfolioDetailOut(
        **portfolio_out(view.info).model_dump(),
        balances=balances_out(view.balances),
        positions=positions_out(view),
        cash=money(v.cash),
        positions_value=money(v.positions_value),
        unrealised_pnl=money(v.unrealised_pnl),
        realised_pnl=money(v.realised_pnl),
        fees=money(v.fees),
        equity=money(v.equity),
        unvalued_assets=view.unvalued,
    )


async def _move_funds(
    services: ServicesDep, identity: Identity, portfolio_id: str, body: FundsIn, withdraw: bool
) -> FundsOut:
    info = await my_portfolio(services, identity.user.id, portfolio_id)
    desk = await open_desk(services, info)
    amount = Decimal(body.amount)
    who = f"through the API by {identity.user.email}"
    if withdraw:
        entry = await desk.withdraw(body.asset, amount, body.reason or f"withdrawal {who}")
    else:
        entry = await desk.deposit(body.asset, amount, body.reason or f"deposit {who}")
    return FundsOut(
        portfolio_id=info.id,
        asset=entry.asset,
        amount=money(entry.amount),
        at=entry.at,
        balances=balances_out(await desk.balances()),
    )


@router.post(
    "/{portfolio_id}/deposit",
    summary="Deposit paper money",
    responses={**_NOT_FOUND, 422: {"description": "not a positive amount"}},
)
async def deposit(
    portfolio_id: PortfolioId,
    body: FundsIn,
    services: ServicesDep,
    identity: Identity = requires(Permission.WRITE_PORTFOLIO),
) -> FundsOut:
    """Put ``amount`` of ``asset`` into the portfolio's paper account (kept in its ledger)."""
    return await _move_funds(services, identity, portfolio_id, body, withdraw=False)


@router.post(
    "/{portfolio_id}/withdraw",
    summary="Withdraw paper money",
    responses={**_NOT_FOUND, 422: {"description": "not a positive amount, or more than is free"}},
)
async def withdraw(
    portfolio_id: PortfolioId,
    body: FundsIn,
    services: ServicesDep,
    identity: Identity = requires(Permission.WRITE_PORTFOLIO),
) -> FundsOut:
    """Take ``amount`` of ``asset`` out of the portfolio's paper account: no more than is free (not held by resting
    orders)."""
    return await _move_funds(services, identity, portfolio_id, body, withdraw=True)


@router.get("/{portfolio_id}/performance", summary="Return, Sharpe, drawdown and VaR", responses=_NOT_FOUND)
async def performance(
    portfolio_id: PortfolioId,
    services: ServicesDep,
    identity: Identity = requires(Permission.READ_PORTFOLIO),
    period: Period = Query(Period.D30, description="window ending on the newest daily snapshot"),
) -> PerformanceOut:
    """Performance over ``period`` from the portfolio's daily equity snapshots (one per UTC day), with the daily
    equity series of the window."""
    info = await my_portfolio(services, identity.user.id, portfolio_id)
    snapshots = await services.portfolios.snapshots(info.id)
    base = PerformanceOut(
        portfolio_id=info.id,
        period=period,
        base_currency=info.base_currency,
        snapshots=0,
        needs=dict(SNAPSHOTS_NEEDED),
        series=[],
    )
    if not snapshots:
        return base
    s = performance_stats(snapshots, period)
    start = None if period.days is None else s.end_day - timedelta(days=period.days)
    window = [x for x in snapshots if x.day <= s.end_day and (start is None or x.day >= start)]
    series = [
        SnapshotOut(
            day=x.day,
            equity=money(x.equity),
            cash=money(x.cash),
            positions_value=money(x.positions_value),
            realised_pnl=money(x.realised_pnl),
            unrealised_pnl=money(x.unrealised_pnl),
            fees=money(x.fees),
        )
        for x in window
    ]
    return base.model_copy(
        update={
            "snapshots": s.snapshots,
            "start_day": s.start_day,
            "end_day": s.end_day,
            "days": s.days,
            "start_equity": money(s.start_equity),
            "end_equity": money(s.end_equity),
            "return_ratio": _finite(s.return_ratio),
            "sharpe": _finite(s.sharpe),
            "max_drawdown_ratio": _finite(s.max_drawdown_ratio),
            "max_drawdown_days": s.max_drawdown_days,
            "var_95_ratio": _finite(s.var_95_ratio),
            "series": series,
        }
    )


def _planned(o: RebalanceOrder) -> PlannedOrderOut:
    return PlannedOrderOut(
        symbol=o.symbol, side=o.side, quantity=money(o.qty), notional=money(o.notional), reason=o.reason
    )


@router.post(
    "/{portfolio_id}/rebalance",
    summary="Plan (or place) the orders that reach target weights",
    responses={**_NOT_FOUND, 400: {"description": "bad or missing weights"}},
)
async def rebalance_portfolio(
    portfolio_id: PortfolioId,
    body: RebalanceIn,
    request: Request,
    services: ServicesDep,
    identity: Identity = requires(Permission.WRITE_PORTFOLIO),
) -> RebalanceOut:
    """The market orders that move the paper account to the target weights at the last stored closes, sells
    first; orders under the market's minimums are listed as skipped. A symbol held but not targeted is closed.
    ``dry_run`` (the default) only plans; ``dry_run: false`` places them too (needs ``write_orders``; each counts
    against the orders rate limit) and reports each order or why it was refused."""
    owner = identity.user.id
    info = await my_portfolio(services, owner, portfolio_id)
    if body.weights is not None:
        weights = validate_weights({s.upper(): w for s, w in body.weights.items()})
    else:
        weights = dict(info.target_weights)
    if not weights:
        raise ConfigError("no target weights: send weights, or store them first with save_targets")
    if not body.dry_run:
        identity.require(Permission.WRITE_ORDERS)
    if body.save_targets:
        info = await services.portfolios.set_targets(info.id, weights, owner=owner)
    view = await view_portfolio(services, info, weights)
    paper = paper_account(info.id)
    paper_value = sum((v.value for v in view.valuation.holdings if v.holding.account == paper), Decimal(0))
    equity = view.valuation.cash + paper_value
    held = view.book.quantities(account=paper)
    prices = {s: p.price for s, p in view.prices.items()}
    rules = {s: paper_rules(s, p.asset_class, float(p.price)) for s, p in view.prices.items()}
    plan = rebalance(weights, held, prices, equity, rules)
    planned = [_planned(o) for o in plan.orders]
    if not body.dry_run:
        run = uuid.uuid4().hex
        for o, out in zip(plan.orders, planned, strict=True):
            await limit_orders(request)
            order_request = OrderRequest(
                client_order_id(paper, f"rebalance-{run}", o.symbol),
                paper,
                o.symbol,
                o.side,
                OrderType.MARKET,
                o.qty,
                reason=f"rebalance: {o.reason}",
            )
            try:
                out.order = order_out(await view.desk.place(order_request), info.id)
            except OrderRejectedError as refused:
                out.error = refused.reason
    return RebalanceOut(
        portfolio_id=info.id,
        base_currency=info.base_currency,
        equity=money(equity),
        dry_run=body.dry_run,
        target_weights={s: money(w) for s, w in sorted(weights.items())},
        orders=planned,
        skipped=[_planned(o) for o in plan.skipped],
    )


@positions_router.get("", summary="Your open positions")
async def list_positions(
    services: ServicesDep,
    identity: Identity = requires(Permission.READ_PORTFOLIO),
    portfolio_id: str | None = Query(None, min_length=1, max_length=64, description="only this portfolio"),
    limit: int = Query(100, ge=1, le=500),
    offset: int = Query(0, ge=0, le=1_000_000),
) -> Page[PositionOut]:
    """Open positions across your portfolios (or one), by portfolio then account and symbol: quantity, average
    entry, last stored close and unrealised P&L at it."""
    owner = identity.user.id
    if portfolio_id is not None:
        portfolios = [await my_portfolio(services, owner, portfolio_id)]
    else:
        portfolios = await services.portfolios.list(owner)
    found: list[PositionOut] = []
    for info in portfolios:
        found.extend(positions_out(await view_portfolio(services, info)))
    return Page[PositionOut](
        items=found[offset : offset + limit], total=len(found), limit=limit, offset=offset
    )
