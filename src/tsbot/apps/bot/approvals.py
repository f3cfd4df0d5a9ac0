"""``/approve`` (orders the user's bots propose, each with Approve / Reject buttons) and ``/stop`` (pause the user's
running bots, after a Confirm).

A decision is recorded in the approvals store with a bot event, as the API records it
(``POST /api/v1/bots/{id}/approvals/{id}/approve``); the process running the bot applies it
(:func:`tsbot.trading.approvals.apply_decisions`): an approved entry is sent, a rejected one dropped. An approval
decided already, or expired, is answered with the store's reason; one of a stopped bot is refused. ``/stop``
pauses (status ``paused``, resumable in tsbot) every bot of the user running when Confirm is pressed; its Confirm
works ``telegram.confirm_seconds``.
"""

from __future__ import annotations

from typing import Final

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Message, Update
from telegram.ext import Application, CallbackQueryHandler, CommandHandler

from tsbot.accounts.models import Permission, User
from tsbot.apps.bot.context import BotContext, Context, edit, for_linked, say
from tsbot.apps.bot.formatting import approval_text, when, zone_of
from tsbot.core.errors import ConfigError, DataError
from tsbot.trading.bots import ApprovalStatus, BotStatus
from tsbot.trading.models import InvalidTransitionError

#: Pending approvals listed by one ``/approve`` at most (oldest first).
MAX_APPROVALS: Final = 10
_DECIDE: Final = "a|"
STOP_YES: Final = "p|y"
STOP_NO: Final = "p|n"


def decision_keyboard(approval_id: str) -> InlineKeyboardMarkup:
    """Approve / Reject buttons of one approval (data ``a|<id>|y`` and ``a|<id>|n``)."""
    return InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton("Approve", callback_data=f"{_DECIDE}{approval_id}|y"),
                InlineKeyboardButton("Reject", callback_data=f"{_DECIDE}{approval_id}|n"),
            ]
        ]
    )


async def decide(bot: BotContext, user: User, approval_id: str, approve: bool) -> str:
    """Record ``user``'s decision on their approval ``approval_id``; what to show instead of its buttons.

    Raises:
        NotFoundError: no such approval (or bot) of the user.
    """
    services, now = bot.services, bot.clock()
    approval = await services.bots.get_approval(approval_id, user.id)
    config = await services.bots.get(approval.bot_id, user.id) if approval.bot_id else None
    if config is not None and config.status is BotStatus.STOPPED:
        return f"Not done: bot {config.name} is stopped, nothing would send this order."
    try:
        decided = await services.bots.decide(approval_id, user.id, approve, user.email, now)
    except ConfigError as exc:
        return f"Not done: {exc}"
    verb = "approved" if approve else "rejected"
    if config is not None:
        await services.bots.add_event(
            config.id,
            now,
            "approval",
            f"{user.email} {verb} through Telegram: {decided.summary}",
            {
                "approval_id": decided.id,
                "client_order_id": decided.request.client_order_id,
                "status": decided.status.value,
            },
        )
    after = "the bot sends it." if approve else "the bot drops it."
    return f"{verb.capitalize()}: {decided.summary}\n{after}"


async def pause_running(bot: BotContext, user: User) -> str:
    """Pause every running bot of ``user``; which were paused and which could not be."""
    services, now = bot.services, bot.clock()
    paused: list[str] = []
    failed: list[str] = []
    for config in await services.bots.list(user.id, BotStatus.RUNNING):
        try:
            await services.bots.set_status(
                config.id, BotStatus.PAUSED, f"paused through Telegram by {user.email}", now, user.id
            )
            paused.append(config.name)
        except InvalidTransitionError as exc:
            failed.append(str(exc))
    if not paused and not failed:
        return "No bot of yours was running; nothing paused."
    lines = [f"Paused: {', '.join(paused)}. Resume them in tsbot → Bots."] if paused else []
    lines.extend(f"Not paused: {reason}" for reason in failed)
    return "\n".join(lines)


def register(application: Application, bot: BotContext) -> None:  # type: ignore[type-arg]
    """Add ``/approve``, ``/stop`` and their buttons to ``application``."""

    async def approve_command(update: Update, context: Context, user: User) -> None:
        now = bot.clock()
        pending = [
            a
            for a in await bot.services.bots.approvals(user.id, ApprovalStatus.PENDING)
            if not a.is_expired(now)
        ]
        if not pending:
            await say(update, context, "No order waits for your approval.")
            return
        configs = {b.id: b for b in await bot.services.bots.list(user.id)}
        more = len(pending) - MAX_APPROVALS
        await say(update, context, f"{len(pending)} order(s) wait for your decision:")
        for approval in pending[:MAX_APPROVALS]:
            text = approval_text(approval, configs.get(approval.bot_id or ""), zone_of(user))
            await say(update, context, text, decision_keyboard(approval.id))
        if more > 0:
            await say(update, context, f"… and {more} more: decide these first, then send /approve again.")

    async def decision_pressed(update: Update, context: Context, user: User) -> None:
        data = (update.callback_query.data if update.callback_query else None) or ""
        _, approval_id, verdict = (data.split("|") + ["", ""])[:3]
        if not approval_id or verdict not in ("y", "n"):
            raise DataError("this button does not hold a decision: send /approve again")
        await edit(update, await decide(bot, user, approval_id, verdict == "y"))

    async def stop_command(update: Update, context: Context, user: User) -> None:
        running = await bot.services.bots.list(user.id, BotStatus.RUNNING)
        if not running:
            await say(update, context, "No bot of yours is running.")
            return
        names = ", ".join(b.name for b in running)
        buttons = InlineKeyboardMarkup(
            [
                [
                    InlineKeyboardButton("Pause them", callback_data=STOP_YES),
                    InlineKeyboardButton("Cancel", callback_data=STOP_NO),
                ]
            ]
        )
        await say(
            update,
            context,
            f"Pause your running bots ({names})? They open nothing new until resumed.",
            buttons,
        )

    async def stop_pressed(update: Update, context: Context, user: User) -> None:
        query = update.callback_query
        message = query.message if query is not None else None
        if query is None or query.data == STOP_NO:
            await edit(update, "Cancelled, no bot paused.")
            return
        if not isinstance(message, Message) or bot.clock() - message.date > bot.confirm_ttl:
            stamp = f" ({when(message.date, zone_of(user))})" if isinstance(message, Message) else ""
            await edit(update, f"Expired{stamp}, no bot paused: send /stop again.")
            return
        await edit(update, await pause_running(bot, user))

    write_bots = Permission.WRITE_BOTS
    application.add_handler(CommandHandler("approve", for_linked(bot, write_bots, approve_command)))
    application.add_handler(CommandHandler("stop", for_linked(bot, write_bots, stop_command)))
    application.add_handler(
        CallbackQueryHandler(for_linked(bot, write_bots, decision_pressed), pattern=r"^a\|")
    )
    application.add_handler(
        CallbackQueryHandler(for_linked(bot, write_bots, stop_pressed), pattern=r"^p\|[yn]$")
    )
