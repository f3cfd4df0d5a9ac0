"""``tsbot news``: read every configured feed and subreddit once, score and store; list stored headlines."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from tsbot.apps.cli.common import console, run, settings_or_exit
from tsbot.config import Settings
from tsbot.sentiment.models import Headline
from tsbot.sentiment.service import IngestReport, ingest_headlines
from tsbot.wiring import open_services

if TYPE_CHECKING:
    from tsbot.adapters.news.collect import SourceResult

news_app = typer.Typer(
    help="News and social sources: read feeds and subreddits, list stored headlines.",
    no_args_is_help=True,
)


async def fetch_news(
    settings: Settings, *, show_progress: bool = True, now: datetime | None = None
) -> tuple[list[SourceResult], IngestReport]:
    """Read every configured source once, score the new headlines with ``settings.sentiment_model``, store them.

    Returns the per-source results (:class:`tsbot.adapters.news.collect.SourceResult`, in configuration order) and
    the ingest report. A failing source is reported in its result and never stops the others.

    Raises:
        ConfigError: the sentiment model cannot be loaded.
    """
    from tsbot.adapters.models.loader import load_sentiment_model
    from tsbot.adapters.news.collect import NewsCollector
    from tsbot.core.time import utc_now

    model = load_sentiment_model(settings.sentiment_model)
    at = now or utc_now()
    async with NewsCollector(settings.news) as collector, open_services(settings) as services:
        with Progress(
            TextColumn("[bold]{task.description:<32}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
            disable=not show_progress,
            transient=True,
        ) as progress:
            task = progress.add_task("reading sources", total=len(collector.sources()))

            def _done(result: SourceResult) -> None:
                progress.update(task, advance=1, description=f"read {result.source}")

            results = await collector.collect(now=at, on_done=_done)
            progress.update(task, description="scoring and storing")
            items = [h for r in results for h in r.items]
            report = await ingest_headlines(
                services.headlines,
                model,
                items,
                now=at,
                similarity=settings.news.near_duplicate_similarity,
            )
    return results, report


@news_app.command("fetch")
def fetch_command(
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress display or table.")] = False,
) -> None:
    """Read every configured feed and subreddit once, score the new headlines, store them, and print per source:
    items read, newly stored, duplicates (same URL, or a near-identical title within 72 hours), and any error."""
    settings = settings_or_exit()
    results, report = run(fetch_news(settings, show_progress=not quiet))
    if quiet:
        return
    table = Table(title="News sources")
    for col in ("source", "items", "new", "duplicates", "error"):
        table.add_column(col, justify="right" if col in ("items", "new", "duplicates") else "left")
    for r in results:
        counts = report.per_source.get(r.source)
        error = r.error or ("not modified (304)" if r.not_modified else "")
        table.add_row(
            r.source,
            str(len(r.items)),
            str(counts.new if counts else 0),
            str(counts.duplicates if counts else 0),
            f"[red]{error}[/]" if r.error else error,
        )
    console.print(table)
    failed = sum(1 for r in results if r.error)
    console.print(
        f"{report.read:,} items read from {len(results) - failed} of {len(results)} sources; "
        f"{report.stored:,} newly stored ({report.with_assets:,} mention a tracked asset), "
        f"{report.duplicates:,} duplicates, {report.empty:,} empty.",
        highlight=False,
    )


@news_app.command("list")
def list_command(
    asset: Annotated[
        str | None, typer.Option(help="Only headlines mentioning this base asset (BTC, AAPL).")
    ] = None,
    limit: Annotated[int, typer.Option(min=1, max=1_000, help="How many headlines.")] = 20,
) -> None:
    """List the most recently first-seen stored headlines, newest first (times UTC)."""
    settings = settings_or_exit()

    async def _list() -> list[Headline]:
        async with open_services(settings) as services:
            return await services.headlines.latest(
                asset=asset.strip().upper() if asset else None, limit=limit
            )

    rows = run(_list())
    table = Table(title=f"Latest headlines{f' mentioning {asset.upper()}' if asset else ''}")
    for col in ("first seen (UTC)", "published (UTC)", "source", "score", "assets", "title"):
        table.add_column(col, justify="right" if col == "score" else "left")
    for h in rows:
        table.add_row(
            f"{h.known_at:%Y-%m-%d %H:%M}",
            f"{h.published_at:%Y-%m-%d %H:%M}",
            h.source,
            "" if h.score is None else f"{h.score:+.2f}",
            ",".join(h.assets),
            h.title if len(h.title) <= 100 else h.title[:99] + "…",
        )
    console.print(table)
    if not rows:
        console.print("No headlines stored yet; run `tsbot news fetch` or `tsbot data import`.")
