"""Posts of followed provider channels, read as trading signals.

A channel is followed when ``telegram.followed_channels`` names it (``@username`` or its chat id) with the provider
name its signals are tracked under; the bot must be a member of the channel to see its posts. Each new post (its
text, or the caption of a picture) goes through the signal-post reader (:func:`tsbot.wiring.build_post_parser`:
the rules, and the language-model fallback when configured) and is tracked as ``tsbot`` tracks every provider's
posts (:meth:`tsbot.intake.tracking.SignalTracker.ingest`): a signal is recorded, a follow-up moves the provider's
open signal of that symbol, anything else is ignored. The post id is ``<chat id>:<message id>``, so a post
delivered twice is recorded once. Posts of channels not followed, and edits of posts, change nothing.
"""

from __future__ import annotations

import structlog
from telegram import Update
from telegram.ext import Application, MessageHandler, filters

from tsbot.apps.bot.context import BotContext, Context
from tsbot.core.errors import TsbotError

log = structlog.get_logger("tsbot.bot.channels")


def register(application: Application, bot: BotContext) -> None:  # type: ignore[type-arg]
    """Read new posts of followed channels (see the module docstring)."""

    async def channel_post(update: Update, context: Context) -> None:
        post = update.channel_post
        if post is None:
            return
        chat = post.chat
        provider = bot.provider_of(chat.id, chat.username)
        if provider is None:
            log.info("telegram.channel_not_followed", chat_id=chat.id, username=chat.username)
            return
        text = post.text or post.caption
        if not text:
            return
        post_id = f"{chat.id}:{post.message_id}"
        try:
            parsed = await bot.posts.parse(text)
            result = await bot.tracker.ingest(provider, post_id, parsed, post.date)
        except TsbotError as exc:
            log.warning("telegram.channel_post_failed", provider=provider, post_id=post_id, reason=str(exc))
            return
        log.info(
            "telegram.channel_post",
            provider=provider,
            post_id=post_id,
            kind=parsed.kind.value,
            outcome=result.outcome.value,
            signal_id=result.signal.id if result.signal is not None else None,
        )

    application.add_handler(MessageHandler(filters.UpdateType.CHANNEL_POST, channel_post))
