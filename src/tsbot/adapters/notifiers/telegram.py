"""Telegram notifications through the Bot API client :class:`~tsbot.adapters.telegram_api.TelegramBotApi`
(``settings.telegram``): the title, a blank line and the body, as plain text, to the user's linked chat.

Errors are the client's: ``TelegramUnavailableError`` (temporary: unreachable, timeout, 429 with Telegram's
``retry_after``, 5xx) and ``TelegramRefusedError`` (for good: chat not found, bot blocked, bad token). Neither ever
holds the bot token.
"""

from __future__ import annotations

from tsbot.accounts.telegram_link import TelegramRefusedError
from tsbot.adapters.telegram_api import MAX_TEXT_CHARS, TelegramBotApi
from tsbot.notify.models import OutgoingMessage


class TelegramNotifier:
    """Sends notifications to Telegram chats through ``api``."""

    def __init__(self, api: TelegramBotApi) -> None:
        self._api = api

    def __repr__(self) -> str:
        return f"TelegramNotifier({self._api!r})"

    async def send(self, message: OutgoingMessage) -> None:
        """Send ``message`` to the chat id in its target (at most 4096 characters, the end cut).

        Raises:
            TelegramRefusedError: the target is not a chat id, or Telegram refused the message.
            TelegramUnavailableError: Telegram cannot be reached now or asks to wait.
        """
        try:
            chat_id = int(message.target or "")
        except ValueError:
            raise TelegramRefusedError("the delivery has no Telegram chat id", 400) from None
        text = f"{message.title}\n\n{message.body}"
        if len(text) > MAX_TEXT_CHARS:
            text = text[: MAX_TEXT_CHARS - 1] + "…"
        await self._api.send_message(chat_id, text)
