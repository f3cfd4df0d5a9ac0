"""What every front end (the API, the Telegram bot) shares about a user's trading: their portfolios and accounts,
a portfolio's paper account opened and caught up, and a portfolio valued at the last stored closes.

A user owns portfolios; a portfolio holds accounts (its paper account ``paper:<portfolio id>`` and any exchange
accounts); orders belong to an account. Money is :class:`~decimal.Decimal`; prices are the last stored closes.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

from tsbot.adapters.storage.portfolios import PortfolioInfo
from tsbot.core.enums import AssetClass
from tsbot.trading.models import Balance
from tsbot.trading.paper_account import PaperDesk
from tsbot.trading.paper_books import (
    PAPER_VENUE,
    LastPrice,
    book_of,
    last_prices,
    open_paper_desk,
    paper_account,
)
from tsbot.trading.portfolio import DOLLARS, Book, Valuation, split_symbol
from tsbot.wiring import Services


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


async def with_paper_account(services: Services, info: PortfolioInfo) -> PortfolioInfo:
    """``info`` with its paper account attached (attached now when it had none, as a portfolio made elsewhere may)."""
    account = paper_account(info.id)
    if any(a.account == account for a in info.accounts):
        return info
    return await services.portfolios.attach_account(info.id, account, PAPER_VENUE, AssetClass.CRYPTO.value)


async def open_desk(services: Services, info: PortfolioInfo, symbols: Iterable[str] = ()) -> PaperDesk:
    """The portfolio's paper account, rebuilt from the stores and caught up with the candles stored since its
    resting orders were placed (:func:`~tsbot.trading.paper_books.open_paper_desk`); ``symbols`` are priced too.

    Raises:
        NotFoundError: no candles for a symbol it trades or is asked to price.
    """
    info = await with_paper_account(services, info)
    desk, _ = await open_paper_desk(
        paper_account(info.id),
        orders=services.orders,
        ledger=services.paper_ledger(),
        candles=services.candles,
        symbols=symbols,
    )
    return desk


@dataclass(frozen=True, slots=True)
class PortfolioView:
    """A portfolio now: its paper account's balances, the book of all its accounts, the last prices of what it
    holds, and the valuation in its base currency. ``unvalued`` lists balance assets that are neither the base
    currency (nor a dollar when the base is one) nor held as a position: shown, not counted in the equity."""

    info: PortfolioInfo
    desk: PaperDesk
    balances: list[Balance]
    book: Book
    prices: dict[str, LastPrice]
    valuation: Valuation
    unvalued: list[str]


def _has_rate(currency: str, base: str) -> bool:
    return currency == base or (currency in DOLLARS and base in DOLLARS)


async def view_portfolio(
    services: Services, info: PortfolioInfo, symbols: Iterable[str] = ()
) -> PortfolioView:
    """Value ``info`` at the last stored closes: its paper account caught up first; positions from the stored fills
    of every account; cash from the paper account's balances (see :class:`PortfolioView`). ``symbols`` are priced
    too, and the paper account can trade them (targets of a rebalance).

    Raises:
        NotFoundError: a held or asked symbol without stored candles.
        DataError: a quote currency without a rate to the base currency, or a stored fill the book refuses.
    """
    wanted = set(symbols)
    desk = await open_desk(services, info, wanted)
    info = await services.portfolios.get(info.id)
    balances = await desk.balances()
    kinds = {a.account: a.asset_class for a in info.accounts}
    book = book_of(await services.orders.account_fills(sorted(kinds)), kinds)
    holdings = book.open_holdings()
    held = {h.symbol: h.account for h in holdings}
    prices = await last_prices(services.candles, set(held) | wanted, held)
    paper = paper_account(info.id)
    bases = {split_symbol(h.symbol)[0] for h in holdings if h.account == paper}
    base = info.base_currency
    cash = {b.asset: b.total for b in balances if b.asset not in bases and _has_rate(b.asset, base)}
    unvalued = sorted(b.asset for b in balances if b.asset not in bases and not _has_rate(b.asset, base))
    valuation = book.value({s: p.price for s, p in prices.items()}, cash, base_currency=base)
    return PortfolioView(info, desk, balances, book, prices, valuation, unvalued)
