"""What the trading routers share: a caller's portfolios and accounts, a portfolio's paper account opened and caught
up, a portfolio valued at the last stored closes (all from :mod:`tsbot.apps.desk`, shared with the Telegram bot), and
the JSON forms of orders.

A user owns portfolios; a portfolio holds accounts (its paper account ``paper:<portfolio id>`` and any exchange
accounts); orders belong to an account. An object of another user is answered 404, as one that does not exist.

Error answers registered here: :class:`~tsbot.trading.models.OrderRejectedError` -> 422 ``order_rejected`` (the
domain's reason as the message); :class:`~tsbot.trading.models.InvalidTransitionError` -> 409
``invalid_transition``.
"""

from __future__ import annotations

from tsbot.adapters.storage.portfolios import PortfolioInfo
from tsbot.apps.api.errors import register_error
from tsbot.apps.api.trading_models import EventOut, FillOut, OrderOut
from tsbot.apps.desk import (
    PortfolioView,
    dec,
    money,
    my_accounts,
    my_portfolio,
    open_desk,
    view_portfolio,
    with_paper_account,
)
from tsbot.core.errors import NotFoundError
from tsbot.trading.models import Fill, InvalidTransitionError, Order, OrderRejectedError

register_error(OrderRejectedError, 422, "order_rejected")
register_error(InvalidTransitionError, 409, "invalid_transition")

__all__ = [
    "PortfolioView",
    "dec",
    "money",
    "my_accounts",
    "my_portfolio",
    "open_desk",
    "order_out",
    "portfolio_of_account",
    "view_portfolio",
    "with_paper_account",
]


def portfolio_of_account(accounts: dict[str, PortfolioInfo], account: str, what: str) -> PortfolioInfo:
    """The caller's portfolio holding ``account`` (``accounts`` from :func:`my_accounts`).

    Raises:
        NotFoundError: the account is not one of the caller's (``what`` names the object in the message).
    """
    info = accounts.get(account)
    if info is None:
        raise NotFoundError(f"{what} not found")
    return info


def order_out(order: Order, portfolio_id: str | None, fills: list[Fill] | None = None) -> OrderOut:
    """The JSON form of ``order`` (with its status history and ``fills`` when given)."""
    r = order.request
    history = order.history
    return OrderOut(
        order_id=r.client_order_id,
        portfolio_id=portfolio_id,
        account=r.account,
        symbol=r.symbol,
        side=r.side,
        type=r.order_type,
        quantity=money(r.qty),
        quote_amount=dec(r.quote_qty),
        price=dec(r.price),
        stop_price=dec(r.stop_price),
        reduce_only=r.reduce_only,
        parent_id=r.parent_id,
        reason=r.reason,
        status=order.status,
        filled_quantity=money(order.filled_qty),
        average_fill_price=dec(order.avg_fill_price),
        fees=money(order.fees),
        created_at=history[0].at if history else None,
        updated_at=history[-1].at if history else None,
        events=None
        if fills is None
        else [
            EventOut(status_from=c.status_from, status_to=c.status_to, at=c.at, reason=c.reason)
            for c in history
        ],
        fills=None
        if fills is None
        else [
            FillOut(
                fill_id=f.fill_id,
                side=f.side,
                quantity=money(f.qty),
                price=money(f.price),
                fee=money(f.fee),
                fee_currency=f.fee_currency,
                filled_at=f.filled_at,
            )
            for f in fills
        ],
    )
