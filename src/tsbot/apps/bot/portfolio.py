"""``/portfolio``, ``/positions`` and ``/orders``: the user's portfolios valued at the last stored closes, their
open positions, and their latest orders.

Each portfolio is read as the API reads it (:func:`tsbot.apps.desk.view_portfolio`): its paper account caught up
with the candles stored since its resting orders were placed, positions from the stored fills of all its accounts.
"""

from __future__ import annotations

from typing import Final

from telegram import Update
from telegram.ext import Application, CommandHandler

from tsbot.accounts.models import Permission, User
from tsbot.adapters.storage.order_queries import SqlOrderPages
from tsbot.apps.bot.context import BotContext, Context, for_linked, say
from tsbot.apps.bot.formatting import orders_text, portfolio_text, positions_text
from tsbot.apps.desk import PortfolioView, my_accounts, view_portfolio

#: Portfolios shown at most.
MAX_PORTFOLIOS: Final = 5
#: Orders listed by ``/orders``.
MAX_ORDERS: Final = 10
NO_PORTFOLIO: Final = "You have no portfolio yet: create one in tsbot → Portfolios and deposit paper money."


async def _views(bot: BotContext, user: User) -> list[PortfolioView]:
    found = await bot.services.portfolios.list(user.id)
    return [await view_portfolio(bot.services, info) for info in found[:MAX_PORTFOLIOS]]


async def portfolios_reply(bot: BotContext, user: User) -> str:
    """The ``/portfolio`` answer: each portfolio's equity, cash, positions value, P&L and fees.

    Raises:
        NotFoundError: a held symbol without stored candles.
    """
    views = await _views(bot, user)
    if not views:
        return NO_PORTFOLIO
    return "\n\n".join(portfolio_text(v) for v in views)


async def positions_reply(bot: BotContext, user: User) -> str:
    """The ``/positions`` answer: open positions of every portfolio.

    Raises:
        NotFoundError: a held symbol without stored candles.
    """
    views = await _views(bot, user)
    return positions_text(views) if views else NO_PORTFOLIO


async def orders_reply(bot: BotContext, user: User, symbol: str | None = None) -> str:
    """The ``/orders`` answer: the latest :data:`MAX_ORDERS` orders of the user's accounts, newest first (of
    ``symbol``, ``BASE/QUOTE``, when given)."""
    accounts = await my_accounts(bot.services, user.id)
    if not accounts:
        return NO_PORTFOLIO
    found, total = await SqlOrderPages(bot.services.db).page(
        sorted(accounts), symbol=symbol, limit=MAX_ORDERS
    )
    text = orders_text(found)
    if total > len(found):
        text += f"\n… {total} in all: see tsbot → Orders."
    return text


def register(application: Application, bot: BotContext) -> None:  # type: ignore[type-arg]
    """Add ``/portfolio``, ``/positions`` and ``/orders`` to ``application``."""

    async def portfolio_command(update: Update, context: Context, user: User) -> None:
        await say(update, context, await portfolios_reply(bot, user))

    async def positions_command(update: Update, context: Context, user: User) -> None:
        await say(update, context, await positions_reply(bot, user))

    async def orders_command(update: Update, context: Context, user: User) -> None:
        await say(update, context, await orders_reply(bot, user))

    read_portfolio, read_orders = Permission.READ_PORTFOLIO, Permission.READ_ORDERS
    application.add_handler(CommandHandler("portfolio", for_linked(bot, read_portfolio, portfolio_command)))
    application.add_handler(CommandHandler("positions", for_linked(bot, read_portfolio, positions_command)))
    application.add_handler(CommandHandler("orders", for_linked(bot, read_orders, orders_command)))
