"""A small Telegram Bot API client: ``sendMessage`` over httpx (:class:`~tsbot.accounts.messaging_ports.ChatMessenger`).

Requests go to ``<base_url>/bot<token>/sendMessage`` (https://core.telegram.org/bots/api#sendmessage); the base URL
is ``https://api.telegram.org`` unless given (tests point it at a local server). The token is part of every URL, so
it is kept out of everything this module says: errors never hold it, ``repr`` hides it, and a filter on httpx's
logger replaces it in httpx's own request lines (``HTTP Request: POST .../bot***/sendMessage``).
"""

from __future__ import annotations

import logging
import re
from typing import Any, Final

import httpx

from tsbot.accounts.telegram_link import TelegramRefusedError, TelegramUnavailableError
from tsbot.core.errors import ConfigError

DEFAULT_BASE_URL: Final = "https://api.telegram.org"
#: Longest message text the Bot API takes, in characters.
MAX_TEXT_CHARS: Final = 4096
#: Longest part of Telegram's error description quoted in an error.
_DESCRIPTION_CHARS: Final = 200
#: Bot tokens look like ``123456789:AAH...`` (https://core.telegram.org/bots/api#authorizing-your-bot).
_TOKEN: Final = re.compile(r"[0-9]{1,20}:[A-Za-z0-9_-]{1,100}")
_TOKEN_IN_PATH: Final = re.compile(r"/bot[^/\s\"']+")


class _RedactBotToken(logging.Filter):
    """Replaces ``/bot<token>`` in a log record's text by ``/bot***``."""

    def filter(self, record: logging.LogRecord) -> bool:
        text = record.getMessage()
        if "/bot" in text:
            record.msg, record.args = _TOKEN_IN_PATH.sub("/bot***", text), ()
        return True


_REDACT: Final = _RedactBotToken()


class TelegramBotApi:
    """Sends messages through the Telegram Bot API.

    Args:
        token: the bot token from @BotFather (``<digits>:<characters>``).
        base_url: the Bot API's address, without the ``/bot<token>`` part.
        timeout_s: seconds allowed for connecting and for each read and write.
        transport: an httpx transport (None: the network).

    Raises:
        ConfigError: the token is empty or malformed, or the base URL is not http(s) (messages never quote the
            token).
    """

    def __init__(
        self,
        token: str,
        *,
        base_url: str = DEFAULT_BASE_URL,
        timeout_s: float = 10.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        if not _TOKEN.fullmatch(token or ""):
            raise ConfigError(
                "the Telegram bot token is malformed: expected <digits>:<letters, digits, _ or ->"
            )
        if not base_url.lower().startswith(("http://", "https://")):
            raise ConfigError(
                f"the Telegram Bot API base URL must start with http:// or https://, not {base_url!r}"
            )
        self._token = token
        self._base_url = base_url.rstrip("/")
        self._timeout = httpx.Timeout(timeout_s)
        self._transport = transport
        logging.getLogger("httpx").addFilter(_REDACT)

    def __repr__(self) -> str:
        return f"TelegramBotApi(base_url={self._base_url!r}, token=<hidden>)"

    async def send_message(self, chat_id: int, text: str) -> None:
        """Send ``text`` (plain text; cut to :data:`MAX_TEXT_CHARS`) to ``chat_id``.

        Raises:
            TelegramUnavailableError: no answer in time, no connection, HTTP 429 (``retry_after_s`` set from
                Telegram's ``retry_after``) or 5xx.
            TelegramRefusedError: any other refusal: the bot token (401/404), the chat (400 chat not found, 403
                bot blocked by the user); ``status`` is Telegram's HTTP status.
        """
        await self._call("sendMessage", {"chat_id": chat_id, "text": text[:MAX_TEXT_CHARS]})

    async def _call(self, method: str, payload: dict[str, Any]) -> dict[str, Any]:
        """POST ``payload`` as JSON to the Bot API ``method``; Telegram's ``result`` object."""
        url = f"{self._base_url}/bot{self._token}/{method}"
        try:
            async with httpx.AsyncClient(timeout=self._timeout, transport=self._transport) as client:
                response = await client.post(url, json=payload)
        except httpx.TimeoutException:
            raise TelegramUnavailableError("the Telegram Bot API did not answer in time") from None
        except httpx.HTTPError as exc:
            raise TelegramUnavailableError(
                f"the Telegram Bot API could not be reached ({type(exc).__name__})"
            ) from None
        body = _json(response)
        status = response.status_code
        if status == 200 and body.get("ok") is True:
            result = body.get("result")
            return result if isinstance(result, dict) else {}
        description = self._description(body, response)
        if status == 429:
            parameters = body.get("parameters")
            retry_after = parameters.get("retry_after") if isinstance(parameters, dict) else None
            raise TelegramUnavailableError(
                f"Telegram is rate-limiting the bot: {description}",
                retry_after if isinstance(retry_after, int) and retry_after > 0 else None,
            )
        if status >= 500:
            raise TelegramUnavailableError(f"the Telegram Bot API failed (HTTP {status}): {description}")
        if status in (401, 404):
            raise TelegramRefusedError(
                f"Telegram refused the bot token (HTTP {status}: {description}): ask the operator to check it",
                status,
            )
        raise TelegramRefusedError(f"Telegram refused the message (HTTP {status}): {description}", status)

    def _description(self, body: dict[str, Any], response: httpx.Response) -> str:
        """Telegram's error description (or the HTTP reason), short and without the token."""
        text = body.get("description")
        if not isinstance(text, str) or not text.strip():
            text = response.reason_phrase or "no description"
        return text.replace(self._token, "***")[:_DESCRIPTION_CHARS]


def _json(response: httpx.Response) -> dict[str, Any]:
    """The response's JSON object, or an empty one when it is not JSON."""
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}
