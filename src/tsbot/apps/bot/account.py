"""``/start CODE`` (link this chat to a tsbot account) and ``/help``.

``/start CODE`` is the one command an unlinked chat may use: the code comes from tsbot → Settings → Telegram →
Connect (:meth:`~tsbot.accounts.telegram_link.TelegramLinkService.connect`) and works once, for 10 minutes. A wrong,
used or expired code is answered with the reason and links nothing. ``/start`` without a code says whether the chat
is linked.
"""

from __future__ import annotations

from typing import Final

from telegram import BotCommand, Update
from telegram.constants import ChatType
from telegram.ext import Application, CommandHandler

from tsbot.accounts.errors import AccountsError
from tsbot.accounts.models import User
from tsbot.apps.bot.context import INACTIVE, NOT_LINKED, BotContext, Context, for_linked, say

#: The commands, in the order ``/help`` lists them (also registered with Telegram for the command menu).
COMMANDS: Final = (
    ("signals", "latest signal of each symbol on your watchlist"),
    ("signal", "the latest signal of one symbol, explained: /signal BTC"),
    ("portfolio", "your portfolios: equity, cash, P&L"),
    ("positions", "your open positions"),
    ("orders", "your latest orders"),
    ("buy", "a paper buy, after you confirm: /buy 0.1 BTC, /buy BTC 0.1 limit 42000"),
    ("sell", "a paper sell, after you confirm: /sell 0.1 BTC"),
    ("approve", "orders your bots propose, to approve or reject"),
    ("alerts", "your price alerts"),
    ("stop", "pause your running bots, after you confirm"),
    ("help", "this list"),
)

HELP_FOOTER: Final = (
    'You can also just write: "buy 0.1 BTC at market", "sell half my ETH", "signal for SOL", "price of BTC", '
    '"portfolio". Every order is a paper order and waits for your Confirm.'
)


def help_text(user: User) -> str:
    """The command list for ``user`` and how to write free text."""
    lines = [f"tsbot, signed in as {user.email} ({user.role.value}). Commands:"]
    lines.extend(f"/{name}: {what}" for name, what in COMMANDS)
    lines.append("")
    lines.append(HELP_FOOTER)
    return "\n".join(lines)


def bot_commands() -> list[BotCommand]:
    """:data:`COMMANDS` as Telegram's command menu."""
    return [BotCommand(name, what[:256]) for name, what in COMMANDS]


def register(application: Application, bot: BotContext) -> None:  # type: ignore[type-arg]
    """Add ``/start`` and ``/help`` to ``application``."""

    async def start(update: Update, context: Context) -> None:
        chat, sender = update.effective_chat, update.effective_user
        if chat is None or chat.type != ChatType.PRIVATE:
            return
        code = " ".join(context.args or ()).strip()
        if not code:
            user = await bot.user_of_chat(chat.id)
            if user is None:
                await say(update, context, NOT_LINKED)
            elif not user.can_sign_in_at(bot.clock()):
                await say(update, context, INACTIVE)
            else:
                await say(update, context, f"This chat is linked to {user.email}. Send /help for commands.")
            return
        try:
            link = await bot.linking.complete_link(code, chat.id, sender.username if sender else None)
        except AccountsError as exc:
            await say(update, context, f"Not linked: {exc}")
            return
        record = await bot.users.get(link.user_id)
        email = record.user.email if record is not None else "your tsbot account"
        await say(
            update, context, f"Linked: this chat now belongs to {email}. Send /help to see what I can do."
        )

    async def show_help(update: Update, context: Context, user: User) -> None:
        await say(update, context, help_text(user))

    application.add_handler(CommandHandler("start", start))
    application.add_handler(CommandHandler("help", for_linked(bot, None, show_help)))
