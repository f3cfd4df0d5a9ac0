"""``tsbot bot start|status|pause|resume|stop|replay``: trading bots on the command line.

There are no user accounts on the command line: ``--owner`` (default ``local``) stands for the machine's operator.
A bot started here is recorded as running; ``tsbot bot replay`` paper-trades it bar by bar over stored candles now,
storing its orders, its events and a daily equity snapshot of its portfolio, and shows the backtest of the same
bars beside it.

A bot trades a paper account unless ``--live --key KEY_ID`` asks, both explicitly, for the exchange account of one
of the owner's stored exchange keys (``--owner`` is then the key owner's user id): the monitoring cycle
(``tsbot serve``, ``tsbot cycle``) places its orders there, real ones. The key must be the owner's and still
stored; nothing of it but its exchange, label and account is ever printed.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Annotated, Any

import typer
from rich import box
from rich.table import Table

from tsbot.apps.cli.backtest import parse_params, parse_window, progress_bar
from tsbot.apps.cli.common import console, run, settings_or_exit
from tsbot.apps.exchange_accounts import own_live_key
from tsbot.core.enums import AssetClass
from tsbot.core.errors import ConfigError, NotFoundError
from tsbot.core.time import utc_now
from tsbot.trading.bot_state import engine_config
from tsbot.trading.bots import BotConfig, BotMode, BotStatus
from tsbot.trading.risk import RiskLimits
from tsbot.wiring import Services, open_services

bot_app = typer.Typer(
    help="Trading bots: a strategy with capital, risk limits and pairs, acting on signals through risk and a broker.",
    no_args_is_help=True,
)

Owner = Annotated[str, typer.Option("--owner", help="whose bot (the command line's operator by default)")]


async def _portfolio_account(services: Services, owner: str, name: str) -> str:
    """The paper account of the owner's portfolio ``name``, creating the portfolio when there is none."""
    found = [p for p in await services.portfolios.list(owner) if p.name == name]
    info = found[0] if found else await services.portfolios.create(owner, name)
    account = f"paper:{info.id}"
    if account not in {a.account for a in info.accounts}:
        await services.portfolios.attach_account(info.id, account, "paper", AssetClass.CRYPTO.value)
    return account


async def _key_account(services: Services, owner: str, key_id: str) -> tuple[str, str]:
    """The account of ``owner``'s exchange key ``key_id`` and how to name it (``binance key 'main' (sandbox)``).

    Raises:
        NotFoundError: the owner has no such key (never stored, deleted, or another user's).
        ConfigError: no encryption key configured, or the key's exchange has no broker.
    """
    try:
        info = await own_live_key(services, owner, key_id)
    except NotFoundError:
        raise NotFoundError(
            f"owner {owner} has no exchange key with id {key_id.strip()[:64]!r}: a live bot trades one of its "
            "owner's own stored keys (give --owner the key owner's user id)"
        ) from None
    return info.account, f"{info.exchange} key {info.label!r}" + (" (sandbox)" if info.sandbox else "")


def _live_options(live: bool, key: str | None, portfolio: str | None) -> None:
    """Exit 2 unless ``--live`` and ``--key`` come together, and ``--portfolio`` without them."""
    if live and key is None:
        raise typer.BadParameter(
            "--live trades an exchange account: give the id of its key with --key", param_hint="--live"
        )
    if key is not None and not live:
        raise typer.BadParameter("--key places real orders: add --live to ask for it", param_hint="--key")
    if live and portfolio is not None:
        raise typer.BadParameter(
            "a live bot trades its key's exchange account, not a portfolio's paper account",
            param_hint="--portfolio",
        )


@bot_app.command("start")
def start_command(
    name: Annotated[str, typer.Argument(help="the bot's name (unique per owner)")],
    strategy: Annotated[str, typer.Option(help="scalping, swing, ai_adaptive, fused, sma_cross or follow")],
    pairs: Annotated[list[str], typer.Option("--pairs", help="BASE/QUOTE symbols it trades")],
    capital: Annotated[str, typer.Option(help="quote currency it may use, split equally over the pairs")],
    timeframe: Annotated[str, typer.Option(help="the bar it trades on")] = "1h",
    portfolio: Annotated[
        str | None, typer.Option(help="portfolio (paper account) it trades in; default: its name")
    ] = None,
    provider: Annotated[
        str | None, typer.Option(help="with --strategy follow: the provider to follow")
    ] = None,
    approval: Annotated[bool, typer.Option(help="each order waits for a person's approval")] = False,
    risk_per_trade: Annotated[
        float, typer.Option(help="share of equity lost at the stop-loss (0: off)")
    ] = 0.01,
    max_position: Annotated[float, typer.Option(help="largest position as a share of equity")] = 0.2,
    max_daily_loss: Annotated[
        float, typer.Option(help="daily loss that trips the kill switch (0: off)")
    ] = 0.05,
    param: Annotated[list[str] | None, typer.Option("--param", help="strategy parameter NAME=NUMBER")] = None,
    live: Annotated[
        bool,
        typer.Option("--live", help="trade real money on the exchange account of --key (never the default)"),
    ] = False,
    key: Annotated[
        str | None,
        typer.Option("--key", help="with --live: the id of one of the owner's stored exchange keys"),
    ] = None,
    owner: Owner = "local",
) -> None:
    """Record a new running bot on a paper account (its portfolio is created when needed), or with --live --key on
    the exchange account of one of the owner's exchange keys."""
    _live_options(live, key, portfolio)
    settings = settings_or_exit()
    risk = RiskLimits(
        risk_per_trade_ratio=Decimal(repr(risk_per_trade)) if risk_per_trade > 0 else None,
        max_position_ratio=Decimal(repr(max_position)),
        max_daily_loss_ratio=Decimal(repr(max_daily_loss)) if max_daily_loss > 0 else None,
    )

    async def _start() -> tuple[BotConfig, str]:
        async with open_services(settings) as services:
            if key is not None:
                account, named = await _key_account(services, owner, key)
            else:
                account, named = await _portfolio_account(services, owner, portfolio or name), ""
            config = BotConfig.new(
                owner, name, strategy, pairs, capital, account=account, provider=provider, timeframe=timeframe,
                params=parse_params(param), risk=risk, approval=approval, now=utc_now(),
                mode=BotMode.LIVE if live else BotMode.PAPER,
            )  # fmt: skip
            return await services.bots.create(config), named

    bot, named = run(_start())
    what = f"{bot.strategy} on {', '.join(bot.pairs)} {bot.timeframe}, capital {bot.capital} on {bot.account}"
    if bot.mode is BotMode.LIVE:
        console.print(
            f"bot [bold]{bot.name}[/] running LIVE: {what} ({named}); the monitoring cycle (`tsbot serve`, "
            "`tsbot cycle`) places its orders on that exchange account",
            highlight=False,
        )
        return
    console.print(
        f"bot [bold]{bot.name}[/] running: {what}; paper-trade it over stored candles with "
        f"`tsbot bot replay {bot.name}`",
        highlight=False,
    )


def _move(name: str, owner: str, target: BotStatus, verb: str, reason: str | None) -> None:
    settings = settings_or_exit()

    async def _go() -> BotConfig:
        async with open_services(settings) as services:
            bot = await services.bots.by_name(owner, name)
            why = reason or f"{verb} from the command line by {owner}"
            return await services.bots.set_status(bot.id, target, why, utc_now(), owner)

    bot = run(_go())
    console.print(f"bot {bot.name}: {bot.status.value} ({bot.status_reason})", highlight=False)


Reason = Annotated[str | None, typer.Option(help="why, recorded with the change")]


@bot_app.command("pause")
def pause_command(name: str, reason: Reason = None, owner: Owner = "local") -> None:
    """Pause a bot: it opens nothing new until resumed."""
    _move(name, owner, BotStatus.PAUSED, "paused", reason)


@bot_app.command("resume")
def resume_command(name: str, reason: Reason = None, owner: Owner = "local") -> None:
    """Resume a paused bot, or one its kill switch stopped."""
    _move(name, owner, BotStatus.RUNNING, "resumed", reason)


@bot_app.command("stop")
def stop_command(name: str, reason: Reason = None, owner: Owner = "local") -> None:
    """Stop a bot for good."""
    _move(name, owner, BotStatus.STOPPED, "stopped", reason)


@bot_app.command("status")
def status_command(
    name: Annotated[
        str | None, typer.Argument(help="one bot (with its latest events); all when left out")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
    owner: Owner = "local",
) -> None:
    """The owner's bots: strategy, pairs, capital, status and why; with a name, its latest events too."""
    settings = settings_or_exit()

    async def _status() -> tuple[list[BotConfig], list[Any]]:
        async with open_services(settings) as services:
            if name is None:
                return await services.bots.list(owner), []
            bot = await services.bots.by_name(owner, name)
            return [bot], await services.bots.events(bot.id, limit=15)

    found, events = run(_status())
    if as_json:
        out = [
            {
                "name": b.name, "strategy": b.strategy, "provider": b.provider, "pairs": list(b.pairs),
                "timeframe": b.timeframe, "capital": str(b.capital), "account": b.account, "mode": b.mode.value,
                "approval": b.approval, "status": b.status.value, "status_reason": b.status_reason,
                "updated_at": b.updated_at.isoformat(),
                "events": [{"at": e.at.isoformat(), "kind": e.kind, "message": e.message} for e in events],
            }
            for b in found
        ]  # fmt: skip
        console.print_json(json.dumps(out))
        return
    if not found:
        console.print(f"no bots for {owner}; start one with `tsbot bot start`", highlight=False)
        return
    table = Table(title="Bots", box=box.SIMPLE_HEAD, pad_edge=False)
    for column in ("name", "strategy", "pairs", "capital", "mode", "account", "status", "why"):
        table.add_column(column)
    for b in found:
        what = b.strategy if b.provider is None else f"follow {b.provider}"
        table.add_row(
            b.name, what, ", ".join(b.pairs), str(b.capital), b.mode.value, b.account, b.status.value,
            b.status_reason,
        )  # fmt: skip
    console.print(table)
    for e in events:
        console.print(f"{e.at:%Y-%m-%d %H:%M} UTC  {e.kind:<11} {e.message}", highlight=False)


@bot_app.command("replay")
def replay_command(
    name: str,
    start: Annotated[
        str | None, typer.Option(help="first bar (ISO date / time, UTC); default 90 days back")
    ] = None,
    end: Annotated[
        str | None, typer.Option(help="last bar (ISO date / time, UTC); default the newest")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print the report as JSON")] = False,
    owner: Owner = "local",
) -> None:
    """Paper-trade a running bot bar by bar over stored candles: its orders, events and daily equity are stored.
    A follow bot trades its provider's tracked signals posted in the window; it has no backtest to compare."""
    from tsbot.apps.cli.bot_replay import run_replay

    settings = settings_or_exit()
    try:
        start_ms, end_ms = parse_window(start, end)
    except ConfigError as exc:
        console.print(f"[bold red]error:[/] {exc}", highlight=False)
        raise typer.Exit(2) from None

    async def _replay() -> dict[str, Any]:
        async with open_services(settings) as services:
            bot = await services.bots.by_name(owner, name)
            if bot.status is not BotStatus.RUNNING:
                raise NotFoundError(f"bot {bot.name} is {bot.status.value}: resume it to replay it")
            with progress_bar() as bar:
                task = bar.add_task(f"replaying {bot.name}", total=None)
                return await run_replay(
                    services, bot, engine_config(bot.risk), start_ms, end_ms,
                    lambda done, total: bar.update(task, completed=done, total=total),
                )  # fmt: skip

    report = run(_replay())
    if as_json:
        console.print_json(json.dumps(report))
        return
    tested, follows = report["backtest"], report["follows"]
    table = Table(title=f"Paper replay of {name}", box=box.SIMPLE_HEAD, pad_edge=False)
    table.add_column("")
    table.add_column("paper bot", justify="right")
    table.add_column("backtest, same bars", justify="right")
    for label, key in (("trades", "trades"), ("final equity", "equity"), ("P&L", "pnl")):
        table.add_row(label, str(report["paper"][key]), "n/a" if tested is None else str(tested[key]))
    console.print(table)
    if follows is not None:
        console.print(
            f"followed {follows['signals']} signal(s) of {follows['provider']}, {len(follows['skipped'])} skipped; "
            "no backtest: the bot trades the provider's posts, not a strategy's signals",
            highlight=False,
        )
        for line in follows["skipped"]:
            console.print(f"  {line}", highlight=False)
    console.print(
        f"{report['bars']:,} bars from {report['start']} to {report['end']} UTC; {report['orders']} orders on the "
        "account; "
        f"{report['refused']} signals refused by risk; {report['days']} daily snapshots in portfolio "
        f"{report['portfolio']}",
        highlight=False,
    )
