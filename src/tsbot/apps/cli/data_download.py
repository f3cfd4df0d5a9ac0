"""``tsbot data download``: fetch candles from an exchange into the store, incrementally, with progress bars.

:func:`run_download` is the whole command as one function (plain arguments in, exit code out) so the typer
command only forwards its options. The async part, :func:`download_with_progress`, takes any source and store.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from rich import box
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from tsbot.core.errors import TsbotError
from tsbot.core.time import parse_utc
from tsbot.market.models import Timeframe
from tsbot.market.ports import CandleStore, MarketDataSource
from tsbot.market.sync import DownloadReport, download
from tsbot.wiring import build_source

EXIT_OK = 0
EXIT_SYMBOL_FAILED = 1
EXIT_BAD_INPUT = 2


async def download_with_progress(
    source: MarketDataSource,
    store: CandleStore,
    symbols: Sequence[str],
    timeframe: Timeframe,
    *,
    since: datetime,
    until: datetime | None,
    asset_class: str,
    retries: int,
    console: Console,
    **download_options: Any,
) -> DownloadReport:
    """Run :func:`tsbot.market.sync.download` with one rich progress bar per symbol.

    Bars count candles; a bar's total is the number of closed bar slots in the range, and it is set to what
    was actually stored once the symbol is done (gaps and holidays make that smaller). Extra keyword arguments
    go to ``download`` (``page_limit``, ``backoff_s``...).
    """
    unique = list(dict.fromkeys(symbols))
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("bars"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console, transient=False) as progress:
        tasks = {s: progress.add_task(s, total=None) for s in unique}

        def on_progress(symbol: str, done: int, expected: int) -> None:
            progress.update(tasks[symbol], completed=done, total=max(expected, done))

        report = await download(
            source,
            store,
            unique,
            timeframe,
            since=since,
            until=until,
            asset_class=asset_class,
            retries=retries,
            progress=on_progress,
            **download_options,
        )
        for one in report.symbols:
            task = progress.tasks[tasks[one.symbol]]
            if one.ok:
                done = int(task.completed)
                progress.update(tasks[one.symbol], total=done, completed=done)
            else:
                progress.update(tasks[one.symbol], description=f"[red]{one.symbol} failed")
    return report


def _at(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M") if value is not None else "-"


def render_report(report: DownloadReport, console: Console) -> None:
    """Print a summary table (one row per symbol: bars fetched, new (inserted), bad (rejected), retries, first
    / last bar open time in UTC; failed symbols in red), then each failed symbol's error and any note below
    it."""
    table = Table(
        title=f"{report.exchange} {report.timeframe.value} download",
        title_justify="left",
        box=box.SIMPLE_HEAD,
        pad_edge=False,
        collapse_padding=True,
        caption="new: bars inserted; bad: bars rejected as invalid; times: bar open, UTC",
        caption_justify="left",
    )
    table.add_column("symbol", no_wrap=True)
    for name in ("fetched", "new", "bad", "retries"):
        table.add_column(name, justify="right", no_wrap=True)
    table.add_column("first", no_wrap=True)
    table.add_column("last", no_wrap=True)
    for one in report.symbols:
        table.add_row(
            one.symbol,
            str(one.fetched),
            str(one.inserted),
            str(one.rejected),
            str(one.retries),
            _at(one.first_open_at),
            _at(one.last_open_at),
            style=None if one.ok else "red",
        )
    console.print(table)
    for one in report.symbols:
        if one.error:
            console.print(f"[red]{one.symbol} failed:[/] {one.error}", highlight=False)
        elif one.note:
            console.print(f"[dim]{one.symbol}: {one.note}[/]", highlight=False)
    failed = len(report.failed)
    summary = f"{report.inserted} new bars; {len(report.symbols) - failed} symbol(s) ok, {failed} failed"
    console.print(summary if not failed else f"[red]{summary}", highlight=False)


async def _download_into_store(
    source: MarketDataSource,
    settings: Any,
    symbols: Sequence[str],
    timeframe: Timeframe,
    since: datetime,
    until: datetime | None,
    asset_class: str,
    console: Console,
) -> DownloadReport:
    from tsbot.wiring import open_services

    try:
        async with open_services(settings) as services:
            return await download_with_progress(
                source,
                services.candles,
                symbols,
                timeframe,
                since=since,
                until=until,
                asset_class=asset_class,
                retries=int(settings.download_retries),
                console=console,
            )
    finally:
        await source.close()


def run_download(
    exchange: str,
    symbols: list[str],
    timeframe: str,
    since: str,
    until: str | None,
    settings: Any,
    *,
    console: Console | None = None,
) -> int:
    """Download candles of ``symbols`` from ``exchange`` into the configured store; print progress and a
    summary.

    Args:
        exchange: ccxt exchange id (``"binance"``) or ``"alpaca"`` for US stocks.
        symbols: ``"BTC/USDT"``-style pairs, or tickers for Alpaca.
        timeframe: ``"1m"``, ``"5m"``, ``"15m"``, ``"30m"``, ``"1h"``, ``"4h"`` or ``"1d"``.
        since: ISO-8601 date or time (UTC unless it carries an offset): earliest bar open time wanted.
        until: ISO-8601 date or time, exclusive end; None for up to now.
        settings: the application settings (``tsbot.config.Settings``).
        console: where to print (a rich console on stdout by default).

    Returns:
        Exit code: 0 when every symbol succeeded, 1 when any failed (the table says why), 2 when the input or
            the configuration is invalid (nothing was downloaded).

    Must be called outside a running event loop (it runs one with :func:`asyncio.run`).
    """
    console = console or Console()
    try:
        tf = Timeframe.parse(timeframe)
        since_at = parse_utc(since)
        until_at = parse_utc(until) if until else None
        if not symbols:
            console.print("[red]error:[/] give at least one symbol")
            return EXIT_BAD_INPUT
        source, asset_class = build_source(exchange, settings)
    except TsbotError as exc:
        console.print(f"[red]error:[/] {exc}")
        return EXIT_BAD_INPUT
    try:
        report = asyncio.run(
            _download_into_store(source, settings, symbols, tf, since_at, until_at, asset_class, console)
        )
    except TsbotError as exc:
        console.print(f"[red]error:[/] {exc}")
        return EXIT_BAD_INPUT
    render_report(report, console)
    return EXIT_OK if report.ok else EXIT_SYMBOL_FAILED
