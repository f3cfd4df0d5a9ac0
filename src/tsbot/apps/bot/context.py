"""What every handler of the Telegram bot shares: the services and stores it works with (:class:`BotContext`), who
is talking (a chat resolves to its linked tsbot user) and the guard that every command goes through
(:func:`for_linked`).

The guard answers only private chats. A chat that is not linked to a tsbot account gets :data:`NOT_LINKED` and
nothing else happens; a deactivated account gets :data:`INACTIVE`; a role without the permission the command needs
gets a sentence naming what the role cannot do. A tsbot error raised by a handler becomes a short reply with its
message (an operational error: what to fix; a temporary one: try again); anything else goes to the application's
error handler.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Final

import structlog
from telegram import InlineKeyboardMarkup, Update
from telegram.constants import ChatType
from telegram.error import TelegramError
from telegram.ext import ContextTypes

from tsbot.accounts.models import Permission, User
from tsbot.accounts.telegram_link import TelegramLinkService
from tsbot.adapters.storage.account_events import SqlAccountEventLog
from tsbot.adapters.storage.accounts import SqlUserStore
from tsbot.adapters.storage.telegram_links import SqlTelegramLinkStore
from tsbot.apps.bot.formatting import clip
from tsbot.core.errors import OperationalError, TemporaryError
from tsbot.core.time import utc_now
from tsbot.intake.fallback import FallbackPostParser
from tsbot.intake.tracking import SignalTracker
from tsbot.wiring import Services, build_post_parser

log = structlog.get_logger("tsbot.bot")

#: The answer to every command from a chat that no tsbot account has linked.
NOT_LINKED: Final = (
    "This chat is not linked to a tsbot account yet. Link it first: open tsbot → Settings → Telegram → "
    "Connect, then send the code here as /start CODE."
)
#: The answer to a chat whose account can no longer sign in.
INACTIVE: Final = "Your tsbot account is deactivated: ask an administrator to activate it."
#: What each permission lets a user do, for refusals ("your role viewer cannot place orders").
CAN: Final[Mapping[Permission, str]] = {
    Permission.READ_SIGNALS: "read signals",
    Permission.READ_MARKET: "read market data and alerts",
    Permission.READ_PORTFOLIO: "see portfolios",
    Permission.READ_ORDERS: "see orders",
    Permission.WRITE_ORDERS: "place orders",
    Permission.READ_BOTS: "see bots",
    Permission.WRITE_BOTS: "manage bots and approvals",
}

Context = ContextTypes.DEFAULT_TYPE
#: A handler of a linked chat: the update, PTB's context and the chat's tsbot user.
UserHandler = Callable[[Update, Context, User], Awaitable[None]]
#: A handler as python-telegram-bot calls it.
Callback = Callable[[Update, Context], Awaitable[None]]


@dataclass(slots=True)
class BotContext:
    """The services and stores of the bot. Build with :meth:`from_services`.

    Attributes:
        followed: provider channels (``@username`` lower case, or the numeric chat id as text) -> provider name.
        confirm_ttl: how long a Confirm button works after it was offered.
        clock: the current time (aware UTC).
    """

    services: Services
    links: SqlTelegramLinkStore
    users: SqlUserStore
    linking: TelegramLinkService
    posts: FallbackPostParser
    tracker: SignalTracker
    followed: Mapping[str, str]
    confirm_ttl: timedelta
    clock: Callable[[], datetime] = field(default=utc_now)

    @classmethod
    def from_services(cls, services: Services) -> BotContext:
        """The bot's context over ``services`` and ``services.settings.telegram``."""
        settings = services.settings
        links = SqlTelegramLinkStore(services.db)
        users = SqlUserStore(services.db)
        linking = TelegramLinkService(
            links,
            users,
            events=SqlAccountEventLog(services.db),
            bot_username=settings.telegram.bot_username,
        )
        return cls(
            services=services,
            links=links,
            users=users,
            linking=linking,
            posts=build_post_parser(settings),
            tracker=SignalTracker(services.tracked_signals),
            followed=dict(settings.telegram.followed_channels),
            confirm_ttl=timedelta(seconds=settings.telegram.confirm_seconds),
        )

    async def user_of_chat(self, chat_id: int) -> User | None:
        """The tsbot user linked to ``chat_id`` (active or not), or None when no (existing) user is linked."""
        link = await self.links.by_chat(chat_id)
        if link is None:
            return None
        record = await self.users.get(link.user_id)
        return None if record is None else record.user

    def provider_of(self, chat_id: int, username: str | None) -> str | None:
        """The provider name of a followed channel (matched by ``@username``, case-insensitive, or by chat id);
        None for a channel not followed."""
        if username:
            found = self.followed.get("@" + username.lower())
            if found is not None:
                return found
        return self.followed.get(str(chat_id))


async def say(
    update: Update, context: Context, text: str, markup: InlineKeyboardMarkup | None = None
) -> None:
    """Send ``text`` (plain, cut to Telegram's limit) to the update's chat; nothing when it has none."""
    chat = update.effective_chat
    if chat is not None:
        await context.bot.send_message(chat.id, clip(text), reply_markup=markup)


async def edit(update: Update, text: str, markup: InlineKeyboardMarkup | None = None) -> None:
    """Replace the text (and buttons: none unless ``markup``) of the message whose button was pressed."""
    query = update.callback_query
    if query is not None:
        await query.edit_message_text(clip(text), reply_markup=markup)


def refusal(user: User, permission: Permission) -> str:
    """``Your role viewer cannot place orders.``"""
    return f"Your role {user.role.value} cannot {CAN.get(permission, permission.value.replace('_', ' '))}."


def for_linked(bot: BotContext, permission: Permission | None, handler: UserHandler) -> Callback:
    """``handler`` behind the guard of the module docstring: private chats only, the chat's linked and active user,
    ``permission`` (None: any linked user). A button press is acknowledged (``answerCallbackQuery``) first."""

    async def callback(update: Update, context: Context) -> None:
        chat = update.effective_chat
        if chat is None or chat.type != ChatType.PRIVATE:
            return
        if update.callback_query is not None:
            try:
                await update.callback_query.answer()
            except TelegramError as exc:  # an old query: the press is still handled
                log.info("telegram.answer_failed", reason=str(exc))
        user = await bot.user_of_chat(chat.id)
        if user is None:
            await say(update, context, NOT_LINKED)
            return
        if not user.can_sign_in_at(bot.clock()):
            await say(update, context, INACTIVE)
            return
        if permission is not None and permission not in user.permissions:
            await say(update, context, refusal(user, permission))
            return
        try:
            await handler(update, context, user)
        except TemporaryError as exc:
            await say(update, context, f"Not done, try again in a moment: {exc}")
        except OperationalError as exc:
            await say(update, context, f"Not done: {exc}")

    return callback
