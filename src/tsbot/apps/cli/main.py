"""The ``tsbot`` command: ``scan``, ``parse``, ``provider score``, ``data import|list|download``, ``backtest``,
``lookahead``, ``optimize``, ``train``, ``model list|activate``, ``sentiment classify|eval|train|history``,
``news fetch|list``, ``portfolio create|list|show|targets|rebalance``, ``order list|show``,
``bot start|status|pause|resume|stop|replay``, ``user create|list|set-role|deactivate|activate``,
``db upgrade``, ``api``, ``serve``, ``scheduler``, ``worker``, ``cycle``."""

from __future__ import annotations

import sys
from collections.abc import Sequence

import structlog
import typer

from tsbot.apps.cli.api import api_command
from tsbot.apps.cli.backtest import backtest_command, lookahead_command, optimize_command
from tsbot.apps.cli.bot import bot_app
from tsbot.apps.cli.common import console, run, settings_or_exit
from tsbot.apps.cli.data import data_app
from tsbot.apps.cli.news import news_app
from tsbot.apps.cli.order import order_app
from tsbot.apps.cli.parse import parse_command
from tsbot.apps.cli.portfolio import portfolio_app
from tsbot.apps.cli.provider import provider_app
from tsbot.apps.cli.scan import scan_command
from tsbot.apps.cli.sentiment import sentiment_app
from tsbot.apps.cli.serve import cycle_command, scheduler_command, serve_command, worker_command
from tsbot.apps.cli.telegram_bot import telegram_bot_command
from tsbot.apps.cli.train import model_app, train_command
from tsbot.apps.cli.user import user_app

app = typer.Typer(
    name="tsbot",
    help="tsbot: explained trading signals for crypto and US stocks from candles, news and signal posts.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.command("scan")(scan_command)
app.command("api")(api_command)
app.command("serve")(serve_command)
app.command("scheduler")(scheduler_command)
app.command("worker")(worker_command)
app.command("cycle")(cycle_command)
app.command("parse")(parse_command)
app.command("backtest")(backtest_command)
app.command("lookahead")(lookahead_command)
app.command("optimize")(optimize_command)
app.add_typer(data_app, name="data")
app.add_typer(provider_app, name="provider")
app.command("train")(train_command)
app.add_typer(model_app, name="model")
app.add_typer(sentiment_app, name="sentiment")
app.add_typer(news_app, name="news")
app.add_typer(portfolio_app, name="portfolio")
app.add_typer(order_app, name="order")
app.add_typer(bot_app, name="bot")
app.add_typer(user_app, name="user")
app.command("telegram-bot")(telegram_bot_command)

db_app = typer.Typer(help="Database schema (Alembic).", no_args_is_help=True)
app.add_typer(db_app, name="db")


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Create or migrate the configured database to the newest schema."""
    from tsbot.adapters.storage.database import create_engine, upgrade

    settings = settings_or_exit()

    async def _upgrade() -> None:
        engine = create_engine(settings.effective_database_url)
        try:
            await upgrade(engine)
        finally:
            await engine.dispose()

    run(_upgrade())
    console.print(f"database at the newest schema: {settings.effective_database_url}", highlight=False)


#: Options that take several values after one flag (``--symbols BTC/USDT ETH/USDT``).
MULTI_VALUE_OPTIONS = frozenset({"--symbols", "--pairs"})


def expand_multi_value(args: Sequence[str]) -> list[str]:
    """Rewrite ``--symbols A B`` into ``--symbols A --symbols B`` (the form typer parses)."""
    out: list[str] = []
    current: str | None = None
    for arg in args:
        if arg.startswith("-"):
            current = arg if arg in MULTI_VALUE_OPTIONS else None
            out.append(arg)
        elif current is not None and out and out[-1] != current:
            out.extend((current, arg))
        else:
            out.append(arg)
    return out


def main() -> None:
    """Console-script entry point. Log events go to stderr so stdout carries only the command's output."""
    structlog.configure(logger_factory=structlog.PrintLoggerFactory(sys.stderr))
    app(args=expand_multi_value(sys.argv[1:]), prog_name="tsbot")
