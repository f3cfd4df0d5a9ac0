"""``tsbot scan``: explained BUY / SELL / HOLD signals for the watchlist."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Annotated

import typer
from rich import box
from rich.table import Table
from rich.text import Text

from tsbot.apps.cli.common import console, err_console, run, settings_or_exit
from tsbot.core.enums import Action
from tsbot.core.errors import TsbotError
from tsbot.core.time import parse_utc
from tsbot.market.models import Timeframe

if TYPE_CHECKING:
    from tsbot.signals.service import ScanResult

_COLOURS = {Action.BUY: "bold green", Action.SELL: "bold red", Action.HOLD: "yellow"}


def _fmt(value: float | None, decimals: int) -> str:
    return "-" if value is None else f"{value:,.{decimals}f}"


def render_table(result: ScanResult) -> Table:
    """The numbers of a scan as a rich table, strongest signals first (fits an 80-column terminal)."""
    from tsbot.signals.engine import price_decimals

    table = Table(title="tsbot signals", show_lines=True, box=box.SIMPLE_HEAD, pad_edge=False)
    table.add_column("symbol", no_wrap=True)
    table.add_column("action", no_wrap=True)
    table.add_column("score", justify="right", no_wrap=True)
    table.add_column("conf", justify="right", no_wrap=True)
    table.add_column("price", justify="right", no_wrap=True)
    table.add_column("stop", justify="right", no_wrap=True)
    table.add_column("targets", justify="right", no_wrap=True)
    table.add_column("news", justify="right", no_wrap=True, min_width=5)
    for s in _ordered(result):
        d = price_decimals(s.price)
        news = "-" if s.components.sentiment is None else f"{s.components.sentiment:+.2f}"
        table.add_row(
            f"{s.key.symbol} {s.key.timeframe.value}",
            Text(s.action.value, style=_COLOURS[s.action]),
            f"{s.score:+.3f}",
            f"{s.confidence:.2f}",
            _fmt(s.price, d),
            _fmt(s.stop_loss, d),
            "\n".join(_fmt(t, d) for t in s.take_profit) or "-",
            news,
        )
    return table


def print_reasons(result: ScanResult) -> None:
    """Why each signal says what it says: one block per signal, wrapping at any terminal width."""
    console.print("[bold]Why[/]")
    for s in _ordered(result):
        head = Text.assemble(
            (f"{s.key.symbol} ", "bold"),
            (s.action.value, _COLOURS[s.action]),
            (
                f"  {s.key.exchange} {s.key.timeframe.value}, as of {s.as_of:%Y-%m-%d %H:%M} UTC, "
                f"technical {s.components.technical:+.2f}",
                "dim",
            ),
        )
        console.print(head)
        for reason in s.reasons:
            console.print(f"  - {reason}", highlight=False)


def _ordered(result: ScanResult) -> list:  # type: ignore[type-arg]
    return sorted(result.signals, key=lambda s: (-abs(s.score), s.key.symbol))


def scan_command(
    symbols: Annotated[
        list[str] | None,
        typer.Option("--symbols", help="Symbols to scan (default: the watchlist, else every stored series)."),
    ] = None,
    timeframe: Annotated[
        str | None, typer.Option(help="Only series of this timeframe (1h, 1d, ...).")
    ] = None,
    as_of: Annotated[
        str | None, typer.Option("--as-of", help="ISO-8601 time (UTC): signals as known then.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON list instead of the table.")] = False,
    no_store: Annotated[bool, typer.Option("--no-store", help="Do not store the signals.")] = False,
) -> None:
    """Scan the watchlist and print explained BUY / SELL / HOLD signals."""
    settings = settings_or_exit()
    try:
        tf = Timeframe.parse(timeframe) if timeframe else None
        when = parse_utc(as_of) if as_of else None
    except TsbotError as exc:
        err_console.print(f"[bold red]error:[/] {exc}", highlight=False)
        raise typer.Exit(2) from None

    # Imported once the arguments are known good: a mistyped option is answered without loading the engine.
    from tsbot.wiring import open_services

    async def _scan() -> ScanResult:
        async with open_services(settings) as services:
            return await services.scan_service().scan(symbols, timeframe=tf, as_of=when, store=not no_store)

    result = run(_scan())
    if as_json:
        typer.echo(json.dumps([s.to_dict() for s in result.signals], indent=2))
    else:
        console.print(render_table(result))
        print_reasons(result)
        if result.status_changes:
            changed = ", ".join(
                f"{c.key.symbol} {c.from_action.value if c.from_action else 'new'} -> {c.to_action.value}"
                for c in result.status_changes
            )
            console.print(f"Status changes stored: {changed}", highlight=False)
    for skipped in result.skipped:
        err_console.print(f"[yellow]skipped[/] {skipped.key}: {skipped.reason}", highlight=False)
