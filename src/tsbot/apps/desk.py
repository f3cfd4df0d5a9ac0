"""What every front end (the API, the Telegram bot) shares about a user's trading: their portfolios and accounts,
a portfolio's paper account opened and caught up, and a portfolio valued at the last stored closes.

A user owns portfolios; a portfolio holds accounts (its paper account ``paper:<portfolio id>`` and any exchange
accounts); orders belong to an account. Money is :class:`~decimal.Decimal`; prices are the last stored closes. The
work is :class:`~tsbot.trading.valuation.PortfolioValuer`'s (the monitoring cycle's daily snapshots use it too); the
desks opened here refuse a stock order outside US market hours, as the risk manager refuses a bot's.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal

from tsbot.trading.market_hours import StockHoursCheck
from tsbot.trading.paper_account import PaperDesk
from tsbot.trading.valuation import PortfolioInfo, PortfolioValuer, PortfolioView
from tsbot.wiring import Services

__all__ = [
    "PortfolioView",
    "dec",
    "money",
    "my_accounts",
    "my_portfolio",
    "open_desk",
    "valuer",
    "view_portfolio",
    "with_paper_account",
]


def dec(value: Decimal | None) -> str | None:
    """A Decimal as a plain-notation string without trailing zeros (``41000`` for ``41000.000``); None stays None."""
    return None if value is None else format(value.normalize(), "f")


def money(value: Decimal) -> str:
    """A Decimal that is never None, as :func:`dec` writes it."""
    return format(value.normalize(), "f")


async def my_portfolio(services: Services, owner: str, portfolio_id: str) -> PortfolioInfo:
    """The portfolio ``portfolio_id`` of ``owner``.

    Raises:
        NotFoundError: no such portfolio, or another user's (404).
    """
    return await services.portfolios.get(portfolio_id, owner)


async def my_accounts(services: Services, owner: str) -> dict[str, PortfolioInfo]:
    """Every account of ``owner``'s portfolios -> its portfolio."""
    return {a.account: p for p in await services.portfolios.list(owner) for a in p.accounts}


def valuer(services: Services) -> PortfolioValuer:
    """The valuer of portfolios over ``services``' stores (:class:`~tsbot.trading.valuation.PortfolioValuer`); the
    desks it opens refuse stock orders outside US market hours at ``services.clock``
    (:class:`~tsbot.trading.market_hours.StockHoursCheck`, the rule bots follow)."""
    hours = StockHoursCheck(services.stock_hours, services.clock)
    return PortfolioValuer(
        services.portfolios, services.orders, services.paper_ledger(), services.candles, checks=[hours]
    )


async def with_paper_account(services: Services, info: PortfolioInfo) -> PortfolioInfo:
    """``info`` with its paper account attached (attached now when it had none, as a portfolio made elsewhere may)."""
    return await valuer(services).with_paper_account(info)


async def open_desk(services: Services, info: PortfolioInfo, symbols: Iterable[str] = ()) -> PaperDesk:
    """The portfolio's paper account, rebuilt from the stores and caught up with the candles stored since its
    resting orders were placed (:func:`~tsbot.trading.paper_books.open_paper_desk`); ``symbols`` are priced too.

    Raises:
        NotFoundError: no candles for a symbol it trades or is asked to price.
    """
    return await valuer(services).open_desk(info, symbols)


async def view_portfolio(
    services: Services, info: PortfolioInfo, symbols: Iterable[str] = ()
) -> PortfolioView:
    """Value ``info`` at the last stored closes (:meth:`~tsbot.trading.valuation.PortfolioValuer.view`, as the
    monitoring cycle's daily snapshots do): its paper account caught up first; positions from the stored fills of
    every account, a paper account's stocks labelled stock; cash from the paper account's balances. ``symbols``
    are priced too, and the paper account can trade them (targets of a rebalance).

    Raises:
        NotFoundError: a held or asked symbol without stored candles.
        DataError: a quote currency without a rate to the base currency, or a stored fill the book refuses.
    """
    return await valuer(services).view(info, symbols)
