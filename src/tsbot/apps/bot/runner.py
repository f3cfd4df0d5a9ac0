"""Running the Telegram bot: the python-telegram-bot :class:`~telegram.ext.Application` with tsbot's handlers
(:func:`build_application`), started with long polling inside the caller's event loop (:func:`running_bot`), and
the webhook route through which Telegram can post updates instead (:func:`webhook_router`).

Settings (``telegram`` in ``app.yaml``, :class:`tsbot.config.TelegramConfig`): ``bot_token`` (required),
``api_base_url`` (the Bot API; requests go to ``<api_base_url>/bot<token>/<method>``), ``mode`` (``polling`` or
``webhook``), ``webhook_url`` and ``webhook_secret`` (webhook mode), ``followed_channels`` and
``confirm_seconds``.

In a process that serves the API as well, either mode works::

    application = build_application(services)
    routers = [webhook_router(application, settings.telegram.webhook_secret)] if webhook mode else []
    app = create_app(services, routers=routers)
    async with running_bot(services, application=application):
        ...  # serve the API

The bot token is part of every Bot API address: it is removed from the log lines of httpx (which the library
uses) and never appears in an error tsbot raises.
"""

from __future__ import annotations

import hmac
import json
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from typing import Any, Final

import structlog
from fastapi import APIRouter, HTTPException, Request, Response
from pydantic import SecretStr
from telegram import Update
from telegram.constants import ChatType
from telegram.error import InvalidToken, NetworkError, TelegramError
from telegram.ext import Application, ApplicationBuilder

from tsbot.apps.bot import account, approvals, channels, freetext, market, orders, portfolio
from tsbot.apps.bot.context import BotContext, Context
from tsbot.core.errors import ConfigError, TemporaryError
from tsbot.wiring import Services

log = structlog.get_logger("tsbot.bot")

#: The webhook route Telegram posts updates to (``setWebhook`` with ``telegram.webhook_url``).
WEBHOOK_PATH: Final = "/api/v1/telegram/webhook"
#: The header in which Telegram repeats the ``secret_token`` given to ``setWebhook``.
SECRET_HEADER: Final = "X-Telegram-Bot-Api-Secret-Token"
#: Largest webhook body read (bytes); an update is a few kilobytes.
MAX_UPDATE_BYTES: Final = 1_000_000
#: The updates the bot asks Telegram for.
ALLOWED_UPDATES: Final = [Update.MESSAGE, Update.CALLBACK_QUERY, Update.CHANNEL_POST]
NO_TOKEN: Final = (
    "no Telegram bot token is configured: create a bot with @BotFather and set TSBOT_TELEGRAM__BOT_TOKEN"
)
ERROR_REPLY: Final = "Something went wrong on tsbot's side; try again in a while."


class _HideToken(logging.Filter):
    """Replaces the bot token in log records (httpx writes every request's address, token included)."""

    def __init__(self, token: str) -> None:
        super().__init__()
        self.token = token

    def __repr__(self) -> str:
        return "_HideToken(<hidden>)"

    def filter(self, record: logging.LogRecord) -> bool:
        text = record.getMessage()
        if self.token in text:
            record.msg, record.args = text.replace(self.token, "***"), ()
        return True


def _token(services: Services) -> str:
    secret = services.settings.telegram.bot_token
    token = secret.get_secret_value().strip() if secret is not None else ""
    if not token:
        raise ConfigError(NO_TOKEN)
    return token


async def _on_error(update: object, context: Context) -> None:
    """Log a handler's unexpected failure and tell the private chat that something went wrong."""
    error = context.error
    log.error("telegram.handler_failed", error=type(error).__name__, exc_info=error)
    if isinstance(update, Update) and update.effective_chat is not None:
        chat = update.effective_chat
        if chat.type == ChatType.PRIVATE:
            with suppress(TelegramError):
                await context.bot.send_message(chat.id, ERROR_REPLY)


def build_application(services: Services, *, base_url: str | None = None) -> Application:  # type: ignore[type-arg]
    """The bot over ``services``: every handler registered, requests to ``<base_url>/bot<token>/...`` (default
    ``settings.telegram.api_base_url``), each allowed ``settings.http_timeout_s`` (long polls longer). In webhook
    mode it has no updater: updates come through :func:`webhook_router`.

    Raises:
        ConfigError: no bot token is configured.
    """
    settings = services.settings
    token = _token(services)
    root = (base_url or settings.telegram.api_base_url).rstrip("/")
    timeout = float(settings.http_timeout_s)
    builder = (
        ApplicationBuilder()
        .token(token)
        .base_url(f"{root}/bot")
        .base_file_url(f"{root}/file/bot")
        .connect_timeout(timeout)
        .read_timeout(timeout)
        .write_timeout(timeout)
        .get_updates_connect_timeout(timeout)
        .get_updates_read_timeout(timeout)
    )
    if settings.telegram.mode == "webhook":
        builder = builder.updater(None)
    application = builder.build()
    bot = BotContext.from_services(services)
    application.bot_data["tsbot"] = bot
    for area in (account, market, portfolio, orders, approvals, channels, freetext):
        area.register(application, bot)
    application.add_error_handler(_on_error)
    httpx_log = logging.getLogger("httpx")
    if not any(isinstance(f, _HideToken) and f.token == token for f in httpx_log.filters):
        httpx_log.addFilter(_HideToken(token))
    return application


@asynccontextmanager
async def running_bot(
    services: Services,
    *,
    application: Application | None = None,  # type: ignore[type-arg]
    polling: bool | None = None,
) -> AsyncIterator[Application]:  # type: ignore[type-arg]
    """Start the bot in the running event loop and stop it cleanly on exit; yields the application.

    Args:
        application: the bot to run (from :func:`build_application`); None: built from ``services``.
        polling: long polling (``getUpdates``) or not (updates come through :func:`webhook_router`); None:
            ``settings.telegram.mode``. Without polling and with ``telegram.webhook_url`` set, the webhook is
            registered with Telegram (``setWebhook`` with ``webhook_secret``).

    Raises:
        ConfigError: no bot token, Telegram refuses the token, or polling is asked of an application built
            without an updater (webhook mode).
        TemporaryError: the Bot API cannot be reached.
    """
    app = application if application is not None else build_application(services)
    tg = services.settings.telegram
    poll = tg.mode == "polling" if polling is None else polling
    if poll and app.updater is None:
        raise ConfigError("this bot was built for webhook mode (telegram.mode): it cannot poll")
    try:
        await app.initialize()
    except InvalidToken:
        await app.bot.shutdown()
        raise ConfigError(
            "Telegram refused the bot token (telegram.bot_token): check it with @BotFather"
        ) from None
    except NetworkError as exc:
        await app.bot.shutdown()
        reason = str(exc).replace(app.bot.token, "***")
        raise TemporaryError(f"the Telegram Bot API cannot be reached: {reason}") from None
    try:
        try:
            await app.bot.set_my_commands(account.bot_commands())
        except TelegramError as exc:
            log.warning("telegram.commands_not_set", reason=str(exc))
        await app.start()
        try:
            if poll and app.updater is not None:
                await app.updater.start_polling(allowed_updates=ALLOWED_UPDATES)
            elif tg.webhook_url:
                secret = tg.webhook_secret.get_secret_value() if tg.webhook_secret is not None else None
                await app.bot.set_webhook(
                    tg.webhook_url, secret_token=secret, allowed_updates=ALLOWED_UPDATES
                )
            log.info("telegram.bot_started", username=app.bot.username, polling=poll)
            yield app
        finally:
            if app.updater is not None and app.updater.running:
                await app.updater.stop()
            await app.stop()
    finally:
        await app.shutdown()
        log.info("telegram.bot_stopped")


def webhook_router(application: Application, secret: SecretStr | str | None) -> APIRouter:  # type: ignore[type-arg]
    """``POST /api/v1/telegram/webhook``: Telegram's updates for ``application`` (left out of the API schema).

    A call whose ``X-Telegram-Bot-Api-Secret-Token`` header is not ``secret`` (compared in constant time) gets 403,
    a body that is not an update 422, and changes nothing; an update that arrives while the bot is not running
    gets 503 (Telegram retries). A good update is queued for the application and answered 200 at once.

    Raises:
        ConfigError: no secret (a webhook without one would take anybody's updates).
    """
    value = secret.get_secret_value() if isinstance(secret, SecretStr) else secret
    if not value:
        raise ConfigError(
            "telegram.webhook_secret must be set to receive Telegram updates through the webhook"
        )
    expected = value.encode()
    router = APIRouter(include_in_schema=False)

    @router.post(WEBHOOK_PATH)
    async def telegram_webhook(request: Request) -> Response:
        given = request.headers.get(SECRET_HEADER, "").encode("utf-8", "replace")
        if not hmac.compare_digest(given, expected):
            log.warning("telegram.webhook_refused", reason="secret token missing or wrong")
            raise HTTPException(403, "not Telegram: the secret token is missing or wrong")
        body = await request.body()
        if len(body) > MAX_UPDATE_BYTES:
            raise HTTPException(413, f"an update is at most {MAX_UPDATE_BYTES} bytes")
        update = _update_of(body, application)
        if not application.running:
            raise HTTPException(503, "the Telegram bot is not running; Telegram retries later")
        await application.update_queue.put(update)
        return Response(status_code=200)

    return router


def _update_of(body: bytes, application: Application) -> Update:  # type: ignore[type-arg]
    """The update in a webhook body.

    Raises:
        HTTPException: 422, the body is not a JSON object with an integer ``update_id`` that the library reads.
    """
    try:
        data: Any = json.loads(body)
    except (UnicodeDecodeError, ValueError):
        raise HTTPException(422, "the body is not JSON") from None
    update_id = data.get("update_id") if isinstance(data, dict) else None
    if not isinstance(update_id, int) or isinstance(update_id, bool):
        raise HTTPException(422, "the body is not a Telegram update (no integer update_id)")
    try:
        update = Update.de_json(data, application.bot)
    except (TypeError, ValueError, KeyError, AttributeError):
        raise HTTPException(422, "the body is not a Telegram update") from None
    if update is None:
        raise HTTPException(422, "the body is not a Telegram update")
    return update
