"""``tsbot data``: import the bundled dataset, list stored series, download candles."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from tsbot.apps.cli.common import console, run, settings_or_exit
from tsbot.config import Settings
from tsbot.core.time import from_ms
from tsbot.market.service import SeriesImportReport, import_candles
from tsbot.sentiment.service import HeadlineImportReport, import_headlines
from tsbot.wiring import open_services

data_app = typer.Typer(
    help="Market data: import the bundled set, list what is stored, download from exchanges.",
    no_args_is_help=True,
)


async def import_bundled(
    settings: Settings, *, show_progress: bool = True
) -> tuple[list[SeriesImportReport], HeadlineImportReport]:
    """Load every bundled candle series and the bundled headlines (scored by the default model) into the store.

    Idempotent: a second run inserts nothing. Returns the per-series reports and the headline report.
    """
    from tsbot.adapters.bundled import bundled_series, read_bundled_headlines, read_bundled_rows
    from tsbot.sentiment.default_model import load_default_model

    series = bundled_series()
    reports: list[SeriesImportReport] = []
    async with open_services(settings) as services:
        with Progress(
            TextColumn("[bold]{task.description:<24}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
            disable=not show_progress,
            transient=False,
        ) as progress:
            task = progress.add_task("candles", total=len(series))
            for item in series:
                progress.update(task, description=f"candles {item.key.symbol} {item.key.timeframe.value}")
                rows = read_bundled_rows(item)
                reports.append(await import_candles(services.candles, item.key, item.asset_class.value, rows))
                progress.advance(task)
            progress.update(task, description="candles")
            news_task = progress.add_task("headlines (scoring)", total=1)
            headlines = read_bundled_headlines()
            news = await import_headlines(services.headlines, load_default_model(), headlines)
            progress.update(news_task, completed=1)
    return reports, news


def _print_import(reports: list[SeriesImportReport], news: HeadlineImportReport) -> None:
    table = Table(title="Imported candles", show_lines=False)
    for col in (
        "exchange",
        "symbol",
        "tf",
        "rows",
        "inserted",
        "unchanged",
        "rejected",
        "gaps",
        "missing bars",
    ):
        table.add_column(col, justify="right" if col not in ("exchange", "symbol", "tf") else "left")
    for r in reports:
        reasons = ", ".join(f"{k} {v}" for k, v in r.rejected.items() if v)
        table.add_row(
            r.key.symbol,
            r.key.timeframe.value,
            f"{r.rows:,}",
            f"{r.inserted:,}",
            f"{r.unchanged:,}",
            f"{r.rejected_total}" + (f" ({reasons})" if reasons else ""),
            str(len(r.gaps)),
            f"{r.missing_bars:,}",
        )
    console.print(table)
    for r in reports:
        if r.gaps:
            worst = sorted(r.gaps, key=lambda g: -g.missing)[:3]
            listed = "; ".join(f"{from_ms(g.start_ms):%Y-%m-%d %H:%M} +{g.missing}" for g in worst)
            console.print(f"  gaps in {r.key}: {len(r.gaps)} (largest: {listed} bars)", highlight=False)
    console.print(
        f"Headlines: {news.read:,} read, {news.stored:,} newly stored, {news.with_assets:,} mention a tracked asset."
    )


@data_app.command("import")
def import_command(
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar or tables.")] = False,
) -> None:
    """Load the bundled real dataset (Binance 1h candles, US stock daily candles, crypto headlines).

    Running it twice changes nothing. Invalid rows are rejected and counted; gaps are reported per series.
    """
    settings = settings_or_exit()
    reports, news = run(import_bundled(settings, show_progress=not quiet))
    if not quiet:
        _print_import(reports, news)


@data_app.command("list")
def list_command() -> None:
    """List the stored series with their bar counts and time ranges (UTC)."""
    settings = settings_or_exit()

    async def _list():  # type: ignore[no-untyped-def]
        async with open_services(settings) as services:
            return await services.candles.series(), await services.headlines.count()

    series, headlines = run(_list())
    table = Table(title="Stored series")
    for col in ("exchange", "symbol", "tf", "class", "bars", "first open (UTC)", "last open (UTC)"):
        table.add_column(col)
    for s in series:
        table.add_row(
            s.key.exchange,
            s.key.symbol,
            s.key.timeframe.value,
            s.asset_class,
            f"{s.count:,}",
            f"{from_ms(s.first_open_ms):%Y-%m-%d %H:%M}",
            f"{from_ms(s.last_open_ms):%Y-%m-%d %H:%M}",
        )
    console.print(table)
    console.print(f"{headlines:,} headlines stored.")


@data_app.command("download")
def download_command(
    exchange: Annotated[
        str, typer.Option(help="ccxt exchange id (binance, kraken, ...) or alpaca for US stocks.")
    ],
    symbols: Annotated[list[str], typer.Option(help="Symbols: BTC/USDT ETH/USDT, or tickers for alpaca.")],
    timeframe: Annotated[str, typer.Option(help="Candle timeframe.")] = "1h",
    since: Annotated[
        str, typer.Option(help="ISO-8601 start (UTC) when nothing is stored yet.")
    ] = "2024-01-01",
    until: Annotated[str | None, typer.Option(help="ISO-8601 end (UTC); default: now.")] = None,
) -> None:
    """Fetch candles incrementally from the last stored candle, with retries on temporary errors."""
    from tsbot.apps.cli.data_download import run_download

    settings = settings_or_exit()
    code = run_download(exchange, symbols, timeframe, since, until, settings)
    raise typer.Exit(code)
