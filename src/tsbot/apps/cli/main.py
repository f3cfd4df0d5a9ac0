"""The ``tsbot`` command: ``scan``, ``parse``, ``provider score``, ``data import|list|download``, ``backtest``,
``lookahead``, ``optimize``, ``train``, ``model list|activate``, ``sentiment classify|eval|train|history``,
``news fetch|list``, ``portfolio create|list|show|targets|rebalance``, ``order list|show``,
``bot start|status|pause|resume|stop|replay``, ``user create|list|set-role|deactivate|activate``,
``db upgrade``, ``api``, ``serve``, ``scheduler``, ``worker``, ``cycle``."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from difflib import get_close_matches
from typing import Any

import structlog
import typer
import typer.main
from typer.core import TyperCommand, TyperGroup

from tsbot.apps.cli.common import console, run, settings_or_exit


@dataclass(frozen=True, slots=True)
class LazyCommand:
    """A command whose module is imported only when it runs: ``module.attribute`` is a typer command function or a
    ``typer.Typer`` group; ``summary`` is its line in ``tsbot --help`` (the first paragraph of its own help)."""

    module: str
    attribute: str
    summary: str


def _cli(module: str, attribute: str, summary: str) -> LazyCommand:
    return LazyCommand(f"tsbot.apps.cli.{module}", attribute, summary)


#: Every command but ``db``, in the order of ``tsbot --help``: single commands first, then groups.
COMMANDS: dict[str, LazyCommand] = {
    "scan": _cli("scan", "scan_command", "Scan the watchlist and print explained BUY / SELL / HOLD signals."),
    "api": _cli(
        "api",
        "api_command",
        "Serve the platform API under /api/v1 (docs at /api/v1/docs) after migrating the database.",
    ),
    "serve": _cli(
        "serve",
        "serve_command",
        "Run tsbot in one process: the API, the web dashboard, the monitoring cycle and the Telegram bot.",
    ),
    "scheduler": _cli(
        "serve",
        "scheduler_command",
        "Run the monitoring cycle's schedule (per-series jobs go to `tsbot worker`s when TSBOT_BROKER_URL is set).",
    ),
    "worker": _cli(
        "serve",
        "worker_command",
        "Run a Dramatiq worker for the cycle's per-series jobs and the notification sends "
        "(needs TSBOT_BROKER_URL).",
    ),
    "cycle": _cli(
        "serve",
        "cycle_command",
        "Run one monitoring cycle now and print its summary (on workers when TSBOT_BROKER_URL is set).",
    ),
    "parse": _cli(
        "parse",
        "parse_command",
        "Read signal posts: one JSON object per post (id, kind, signal, update, confidence).",
    ),
    "backtest": _cli(
        "backtest", "backtest_command", "Backtest a strategy on the stored candles with the simulated broker."
    ),
    "lookahead": _cli(
        "backtest",
        "lookahead_command",
        "Prove that strategies never look ahead nor depend on where the history starts.",
    ),
    "optimize": _cli(
        "backtest",
        "optimize_command",
        "Search a strategy's parameters with Optuna, scored out of sample (walk-forward).",
    ),
    "train": _cli(
        "train",
        "train_command",
        "Train the ML ensemble walk-forward on stored candles, register it and (by default) activate it.",
    ),
    "telegram-bot": _cli(
        "telegram_bot", "telegram_bot_command", "Run the Telegram bot (long polling) until Ctrl-C."
    ),
    "data": _cli(
        "data",
        "data_app",
        "Market data: import the bundled set, list what is stored, download from exchanges.",
    ),
    "provider": _cli(
        "provider",
        "provider_app",
        "Signal providers (Telegram channels): backtest a channel before you follow it.",
    ),
    "model": _cli("train", "model_app", "Trained ML models: list them, pick the active one."),
    "sentiment": _cli(
        "sentiment",
        "sentiment_app",
        "Sentiment models: classify texts, evaluate on a labelled file, retrain the default model, history.",
    ),
    "news": _cli(
        "news", "news_app", "News and social sources: read feeds and subreddits, list stored headlines."
    ),
    "portfolio": _cli(
        "portfolio",
        "portfolio_app",
        "Portfolios: holdings across accounts, performance, target weights and rebalancing plans.",
    ),
    "order": _cli("order", "order_app", "Orders: list stored orders, show one with its history and fills."),
    "bot": _cli(
        "bot",
        "bot_app",
        "Trading bots: a strategy with capital, risk limits and pairs, acting on signals through risk and a broker.",
    ),
    "user": _cli("user", "user_app", "User accounts: create, list, change roles, deactivate."),
}


def load_command(name: str) -> TyperCommand | TyperGroup:
    """The click command of :data:`COMMANDS` ``[name]``, its module imported now.

    Raises:
        KeyError: ``name`` is not in :data:`COMMANDS`.
    """
    entry = COMMANDS[name]
    target = getattr(importlib.import_module(entry.module), entry.attribute)
    holder = typer.Typer()
    if isinstance(target, typer.Typer):
        holder.add_typer(target, name=name)
    else:
        holder.command(name)(target)
    command = typer.main.get_group(holder).commands[name]
    assert isinstance(command, TyperCommand | TyperGroup)
    return command


class LazyGroup(TyperGroup):
    """The ``tsbot`` group: a command's module (and what it imports: the database layer, pandas, scikit-learn...)
    is imported when that command runs or shows its own help, so ``tsbot --help`` and the light commands start
    in a fraction of a second. ``tsbot --help`` lists :data:`COMMANDS` by their summaries."""

    _listing = False

    def list_commands(self, ctx: typer.Context) -> list[str]:
        return [*COMMANDS, *(name for name in self.commands if name not in COMMANDS)]

    def get_command(self, ctx: typer.Context, cmd_name: str) -> TyperCommand | TyperGroup | None:
        if cmd_name in self.commands or cmd_name not in COMMANDS:
            return self.commands.get(cmd_name)  # type: ignore[return-value]
        if self._listing:
            return TyperCommand(cmd_name, help=COMMANDS[cmd_name].summary)
        self.commands[cmd_name] = command = load_command(cmd_name)
        return command

    def format_help(self, ctx: typer.Context, formatter: Any) -> None:
        self._listing = True
        try:
            super().format_help(ctx, formatter)
        finally:
            self._listing = False

    def resolve_command(self, ctx: typer.Context, args: list[str]) -> Any:
        name = args[0] if args else ""
        if (
            name
            and not name.startswith("-")
            and not ctx.resilient_parsing
            and not self.get_command(ctx, name)
        ):
            matches = get_close_matches(name, self.list_commands(ctx))
            hint = f". Did you mean {', '.join(map(repr, matches))}?" if matches else "."
            ctx.fail(f"No such command {name!r}{hint}")
        return super().resolve_command(ctx, args)


app = typer.Typer(
    name="tsbot",
    help="tsbot: explained trading signals for crypto and US stocks from candles, news and signal posts.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    cls=LazyGroup,
)

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
