"""``tsbot telegram-bot``: run the Telegram bot alone, with long polling, until Ctrl-C.

The bot's settings are ``telegram`` in ``app.yaml`` (the token in ``TSBOT_TELEGRAM__BOT_TOKEN``). In webhook mode
the bot runs inside the process that serves the API; this command refuses to poll then, because polling would
remove the webhook Telegram posts to.
"""

from __future__ import annotations

import asyncio

import typer

from tsbot.apps.cli.common import console, err_console, run, settings_or_exit
from tsbot.config import Settings


async def _serve(settings: Settings) -> None:
    from tsbot.apps.bot.runner import running_bot
    from tsbot.wiring import open_services

    async with open_services(settings) as services, running_bot(services, polling=True) as application:
        console.print(
            f"Telegram bot @{application.bot.username} is polling for updates; Ctrl-C stops it.",
            highlight=False,
        )
        await asyncio.Event().wait()


def telegram_bot_command() -> None:
    """Run the Telegram bot (long polling) until Ctrl-C."""
    from tsbot.apps.logs import configure_logging

    settings = settings_or_exit()
    telegram = settings.telegram
    if telegram.bot_token is None or not telegram.bot_token.get_secret_value().strip():
        err_console.print(
            "[bold red]error:[/] no Telegram bot token is configured: create a bot with @BotFather and set "
            "TSBOT_TELEGRAM__BOT_TOKEN",
            highlight=False,
        )
        raise typer.Exit(2)
    if telegram.mode == "webhook":
        err_console.print(
            "[bold red]error:[/] telegram.mode is webhook: the bot runs inside the API process; set "
            "telegram.mode to polling (TSBOT_TELEGRAM__MODE=polling) to run it alone",
            highlight=False,
        )
        raise typer.Exit(2)
    configure_logging(settings)
    try:
        run(_serve(settings))
    except KeyboardInterrupt:
        console.print("Telegram bot stopped.", highlight=False)
