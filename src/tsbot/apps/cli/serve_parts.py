"""The optional parts ``tsbot serve`` adds to the API: the web pages, and the Telegram bot when a token is set."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import structlog
from fastapi import APIRouter

from tsbot.wiring import Services

_log = structlog.get_logger("tsbot.serve")


class ServeParts:
    """What ``serve`` mounts and runs beside the API: the web pages' router, and the Telegram bot (built once, when
    ``telegram.bot_token`` is set; in webhook mode its webhook route is mounted too)."""

    def __init__(self, services: Services) -> None:
        from tsbot.apps.web.pages import web_router

        self._services = services
        self.routers: list[APIRouter] = [web_router()]
        self.bot: Any = None
        tg = services.settings.telegram
        if tg.bot_token is None:
            return
        from tsbot.apps.bot.runner import build_application, webhook_router

        try:
            self.bot = build_application(services)
        except Exception as exc:  # noqa: BLE001 - the dashboard and the cycle work without the bot
            _log.error("telegram.bot_failed", error=type(exc).__name__, message=str(exc))
            return
        if tg.mode == "webhook":
            self.routers.append(webhook_router(self.bot, tg.webhook_secret))

    @asynccontextmanager
    async def running_bot(self) -> AsyncIterator[None]:
        """Run the bot while the context is open (nothing without one); a bot that cannot start (a refused token,
        the Bot API unreachable) is logged and the rest of ``serve`` goes on."""
        if self.bot is None:
            yield
            return
        from tsbot.apps.bot.runner import running_bot

        bot = running_bot(self._services, application=self.bot)
        try:
            await bot.__aenter__()
        except Exception as exc:  # noqa: BLE001 - see above
            _log.error("telegram.bot_failed", error=type(exc).__name__, message=str(exc))
            yield
            return
        try:
            yield
        finally:
            await bot.__aexit__(None, None, None)
