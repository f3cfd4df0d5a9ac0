"""Linking the caller's Telegram chat: ``/api/v1/telegram/...``. Every route is for any signed-in user.

================================  ==========================================================================
route                             what it does
================================  ==========================================================================
GET /telegram                     status: linked or not, Telegram username, chat id (masked), linked at
POST /telegram/connect            a one-time code (10 minutes) to send to the bot as ``/start <code>``, and the
                                  deep link ``https://t.me/<bot>?start=<code>`` when the bot username is set (201)
POST /telegram/test               a test message to the linked chat (409 when none; 503 when Telegram fails
                                  or no bot token is configured)
DELETE /telegram                  unlink the chat (204, also when none was linked)
================================  ==========================================================================

Connecting and disconnecting change the account, so, as for ``/me``, they need a password sign-in (an access
token); an API key gets 403. Both are written to the audit log.

Configuration, read from ``settings.telegram`` when the settings have that section: ``bot_token`` (a secret; none:
the test message answers 503), ``bot_username`` (for deep links) and ``api_base_url`` (default
``https://api.telegram.org``). Tests replace :func:`telegram_options` through ``app.dependency_overrides``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Annotated, Any

import structlog
from fastapi import APIRouter, Depends, Request, status
from fastapi.responses import Response
from pydantic import BaseModel, Field, SecretStr

from tsbot.accounts.messaging_ports import ChatMessenger
from tsbot.accounts.telegram_link import (
    TelegramLinkService,
    TelegramNotLinkedError,
    TelegramRefusedError,
    TelegramUnavailableError,
    mask_chat_id,
)
from tsbot.adapters.storage.account_events import SqlAccountEventLog
from tsbot.adapters.storage.accounts import SqlUserStore
from tsbot.adapters.storage.telegram_links import SqlTelegramLinkStore
from tsbot.adapters.telegram_api import DEFAULT_BASE_URL, TelegramBotApi
from tsbot.apps.api.auth import PasswordSession, SignedIn, caller_ip
from tsbot.apps.api.deps import ServicesDep, SettingsDep
from tsbot.apps.api.errors import ErrorOut, register_error
from tsbot.config import Settings
from tsbot.core.errors import ConfigError

router = APIRouter(prefix="/api/v1/telegram", tags=["telegram"])

register_error(TelegramNotLinkedError, 409, "telegram_not_linked")
register_error(TelegramUnavailableError, 503, "telegram_unavailable")
register_error(TelegramRefusedError, 503, "telegram_unavailable")

_log = structlog.get_logger("tsbot.api.telegram")


@dataclass(frozen=True, slots=True)
class TelegramOptions:
    """The Telegram settings the routes use (``bot_token`` None: not configured; never shown by ``repr``)."""

    bot_token: str | None = field(default=None, repr=False)
    bot_username: str | None = None
    api_base_url: str = DEFAULT_BASE_URL
    timeout_s: float = 10.0


def options_from_settings(settings: Settings) -> TelegramOptions:
    """The Telegram options of ``settings.telegram`` (``bot_token``, ``bot_username``, ``api_base_url``) when the
    settings have such a section; otherwise none configured. ``settings.http_timeout_s`` bounds each call."""
    section: Any = getattr(settings, "telegram", None)
    token: Any = getattr(section, "bot_token", None)
    if isinstance(token, SecretStr):
        token = token.get_secret_value()
    username = getattr(section, "bot_username", None)
    base_url = getattr(section, "api_base_url", None)
    return TelegramOptions(
        bot_token=str(token) if token else None,
        bot_username=str(username) if username else None,
        api_base_url=str(base_url) if base_url else DEFAULT_BASE_URL,
        timeout_s=float(settings.http_timeout_s),
    )


def telegram_options(settings: SettingsDep) -> TelegramOptions:
    """The app's Telegram options (see :func:`options_from_settings`)."""
    return options_from_settings(settings)


@dataclass(frozen=True, slots=True)
class _Unusable:
    """A messenger that cannot send: the configuration is wrong (``reason`` says how, without the token)."""

    reason: str

    async def send_message(self, chat_id: int, text: str) -> None:
        raise TelegramUnavailableError(self.reason)


def _messenger(options: TelegramOptions) -> ChatMessenger | None:
    if not options.bot_token:
        return None
    try:
        return TelegramBotApi(options.bot_token, base_url=options.api_base_url, timeout_s=options.timeout_s)
    except ConfigError as exc:
        _log.warning("telegram.misconfigured", reason=str(exc))
        return _Unusable(f"Telegram is misconfigured on this server: {exc}")


def telegram_service(
    services: ServicesDep, options: Annotated[TelegramOptions, Depends(telegram_options)]
) -> TelegramLinkService:
    """The Telegram link service over the app's database and Telegram options."""
    return TelegramLinkService(
        SqlTelegramLinkStore(services.db),
        SqlUserStore(services.db),
        events=SqlAccountEventLog(services.db),
        messenger=_messenger(options),
        bot_username=options.bot_username,
    )


Links = Annotated[TelegramLinkService, Depends(telegram_service)]
Options = Annotated[TelegramOptions, Depends(telegram_options)]


Session = PasswordSession


class TelegramStatusOut(BaseModel):
    """Whether a Telegram chat is linked to the caller's account."""

    linked: bool
    username: str | None = Field(description="the Telegram username, without @")
    chat_id_masked: str | None = Field(description="the chat id with all but its last 4 digits hidden")
    linked_at: datetime | None = Field(description="UTC")
    bot_username: str | None = Field(description="the bot to talk to, when configured")


class TelegramCodeOut(BaseModel):
    """A one-time code to send to the bot (shown once)."""

    code: str = Field(description="send `/start <code>` to the bot")
    expires_at: datetime = Field(description="UTC; the code works once, until then")
    deep_link: str | None = Field(description="opens the bot with the code; null when no bot username is set")
    bot_username: str | None


class TelegramTestOut(BaseModel):
    """A test message went out."""

    sent: bool
    chat_id_masked: str


@router.get("")
async def telegram_status(identity: SignedIn, links: Links, options: Options) -> TelegramStatusOut:
    """Whether my account has a linked Telegram chat."""
    link = await links.status(identity.user.id)
    return TelegramStatusOut(
        linked=link is not None,
        username=link.username if link else None,
        chat_id_masked=mask_chat_id(link.chat_id) if link else None,
        linked_at=link.linked_at if link else None,
        bot_username=options.bot_username,
    )


@router.post("/connect", status_code=status.HTTP_201_CREATED)
async def connect(identity: Session, request: Request, links: Links, options: Options) -> TelegramCodeOut:
    """A new one-time code (10 minutes; earlier codes stop working) to send to the bot."""
    issued = await links.connect(identity, ip=caller_ip(request))
    return TelegramCodeOut(
        code=issued.code,
        expires_at=issued.expires_at,
        deep_link=issued.deep_link,
        bot_username=options.bot_username,
    )


@router.post(
    "/test",
    responses={
        409: {"model": ErrorOut, "description": "no Telegram chat is linked"},
        503: {"model": ErrorOut, "description": "no bot token is configured, or the Telegram Bot API failed"},
    },
)
async def send_test(identity: SignedIn, links: Links) -> TelegramTestOut:
    """Send a test message to my linked chat."""
    link = await links.send_test(identity)
    return TelegramTestOut(sent=True, chat_id_masked=mask_chat_id(link.chat_id))


@router.delete("", status_code=status.HTTP_204_NO_CONTENT, response_class=Response)
async def disconnect(identity: Session, request: Request, links: Links) -> Response:
    """Unlink my Telegram chat (nothing happens when none is linked)."""
    await links.disconnect(identity, ip=caller_ip(request))
    return Response(status_code=status.HTTP_204_NO_CONTENT)
