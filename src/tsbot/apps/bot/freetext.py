"""Free text in a private chat: read by the intake command parser (:func:`tsbot.intake.commands.parse_command`,
knowing the stored symbols) and answered as the matching command would be.

* buy / sell / close a position -> the order's summary with Confirm / Cancel (:mod:`tsbot.apps.bot.orders`);
* signal -> ``/signal SYMBOL`` (``/signals`` without a symbol); price -> the last stored close;
* portfolio, positions, orders, help -> those commands;
* a command the parser is unsure of -> its question ("How much BTC do you want to buy?");
* text it cannot read -> the text quoted back with examples of what it understands;
* what the bot does not do (stop-loss changes, cancels, alerts, backtests) -> where to do it in tsbot.

Each intent needs the permission of its command.
"""

from __future__ import annotations

from typing import Final

from telegram import Update
from telegram.ext import Application, CallbackQueryHandler, MessageHandler, filters

from tsbot.accounts.models import Permission, User
from tsbot.apps.bot import market, portfolio, symbols
from tsbot.apps.bot.account import help_text
from tsbot.apps.bot.context import BotContext, Context, for_linked, refusal, say
from tsbot.apps.bot.formatting import zone_of
from tsbot.apps.bot.orders import ORDER_INTENTS, offer
from tsbot.intake.commands import HELP_HINT, MAX_COMMAND_CHARS, Command, CommandIntent, parse_command

#: Characters of the user's text quoted back in "I did not understand ...".
_QUOTED: Final = 60
_NEEDS: Final = {
    CommandIntent.SIGNAL: Permission.READ_SIGNALS,
    CommandIntent.PRICE: Permission.READ_MARKET,
    CommandIntent.PORTFOLIO: Permission.READ_PORTFOLIO,
    CommandIntent.POSITIONS: Permission.READ_PORTFOLIO,
    CommandIntent.ORDERS: Permission.READ_ORDERS,
    **{intent: Permission.WRITE_ORDERS for intent in ORDER_INTENTS},
}


def not_understood(text: str, command: Command) -> str:
    """The answer to text the parser could not read as a command: the text quoted, and what it would read."""
    short = " ".join(text.split())
    short = short if len(short) <= _QUOTED else short[: _QUOTED - 1] + "…"
    question = command.clarification or ""
    if question and not question.startswith("I didn't understand"):
        return f'"{short}": {question}'
    return f'I did not understand "{short}". {HELP_HINT} /help lists the commands.'


async def answer(bot: BotContext, update: Update, context: Context, user: User, text: str) -> None:
    """Answer the free ``text`` of ``user`` (see the module docstring)."""
    if len(text) > MAX_COMMAND_CHARS:
        await say(update, context, f"That is too long for a command (over {MAX_COMMAND_CHARS} characters).")
        return
    known = await symbols.known(bot.services)
    command = parse_command(text, known.bases or None)
    intent = command.intent
    needed = _NEEDS.get(intent)
    if needed is not None and needed not in user.permissions:
        await say(update, context, refusal(user, needed))
        return
    if intent is CommandIntent.UNKNOWN:
        await say(update, context, not_understood(text, command))
    elif command.clarification and intent in ORDER_INTENTS | {CommandIntent.SIGNAL, CommandIntent.PRICE}:
        await say(update, context, command.clarification)
    elif intent in ORDER_INTENTS:
        await offer(bot, update, context, user, command)
    elif intent is CommandIntent.SIGNAL:
        reply = (
            await market.symbol_signal(bot, command.symbol, zone_of(user))
            if command.symbol
            else await market.watchlist_signals(bot, user)
        )
        await say(update, context, reply)
    elif intent is CommandIntent.PRICE:
        await say(update, context, await market.last_price(bot, command.symbol or "", zone_of(user)))
    elif intent is CommandIntent.PORTFOLIO:
        await say(update, context, await portfolio.portfolios_reply(bot, user))
    elif intent is CommandIntent.POSITIONS:
        await say(update, context, await portfolio.positions_reply(bot, user))
    elif intent is CommandIntent.ORDERS:
        await say(update, context, await portfolio.orders_reply(bot, user))
    elif intent is CommandIntent.HELP:
        await say(update, context, help_text(user))
    else:
        await say(
            update,
            context,
            f'I read "{command.summary()}", but that is done in tsbot, not here. /help lists what I do.',
        )


def register(application: Application, bot: BotContext) -> None:  # type: ignore[type-arg]
    """Answer text messages of private chats, and commands and button presses no other handler took; add this
    after every other handler."""

    async def text_message(update: Update, context: Context, user: User) -> None:
        message = update.effective_message
        if message is not None and message.text:
            await answer(bot, update, context, user, message.text)

    async def unknown_command(update: Update, context: Context, user: User) -> None:
        message = update.effective_message
        name = (message.text or "").split()[0] if message is not None and message.text else "that command"
        await say(update, context, f"I do not know {name}. /help lists the commands.")

    async def stray_button(update: Update, context: Context, user: User) -> None:
        await say(update, context, "That button does nothing any more. /help lists the commands.")

    private_text = filters.TEXT & ~filters.COMMAND & filters.ChatType.PRIVATE
    application.add_handler(MessageHandler(private_text, for_linked(bot, None, text_message)))
    private_command = filters.COMMAND & filters.ChatType.PRIVATE
    application.add_handler(MessageHandler(private_command, for_linked(bot, None, unknown_command)))
    application.add_handler(CallbackQueryHandler(for_linked(bot, None, stray_button)))
