"""``tsbot provider score``: replay a signal channel's posts over stored candles and score it."""

from __future__ import annotations

import html
import json
import math
from pathlib import Path
from typing import Annotated, Any

import typer
from rich import box
from rich.table import Table

from tsbot.apps.cli.common import console, err_console, run, settings_or_exit
from tsbot.config import ProviderScoringConfig, Settings
from tsbot.core.errors import EmptyStoreError, NotFoundError, TsbotError
from tsbot.core.time import to_ms
from tsbot.intake.posts import parse
from tsbot.intake.scoring import (
    PostReading,
    ProviderScore,
    ScoreReport,
    SkippedLine,
    read_all,
    read_posts,
    replay_reach_ms,
    score_readings,
    wanted_series,
)
from tsbot.market.models import CandleFrame, SeriesKey, Timeframe
from tsbot.wiring import open_services

provider_app = typer.Typer(
    help="Signal providers (Telegram channels): backtest a channel before you follow it.",
    no_args_is_help=True,
)


def _bad_argument(message: str) -> typer.Exit:
    err_console.print(f"[bold red]error:[/] {message}", highlight=False)
    return typer.Exit(2)


def _pct(ratio: float) -> str:
    return f"{ratio * 100:.1f} %"


def _pf(value: float | None) -> str:
    if value is None:
        return "-"
    return "∞" if math.isinf(value) else f"{value:.2f}"


def render_table(report: ScoreReport) -> Table:
    """One row per provider and a total row: signals, fills, wins, average R, profit factor, return, drawdown."""
    table = Table(title="Provider scores", box=box.SIMPLE_HEAD, pad_edge=False)
    for name in ("provider", "signals", "filled", "fill rate", "wins", "win rate", "avg R", "PF", "return"):
        table.add_column(name, justify="left" if name == "provider" else "right", no_wrap=True)
    for name in ("max DD", "no stop", "no data"):
        table.add_column(name, justify="right", no_wrap=True)

    def row(s: ProviderScore, *, style: str | None = None) -> None:
        table.add_row(
            s.provider,
            str(s.signals),
            str(s.filled),
            _pct(s.fill_rate),
            str(s.wins),
            _pct(s.win_rate),
            f"{s.average_r:+.2f}",
            _pf(s.profit_factor),
            f"{s.total_return_ratio * 100:+.1f} %",
            _pct(s.max_drawdown_ratio),
            str(s.signals_without_stop),
            str(s.no_data),
            style=style,
        )

    for score in report.providers:
        row(score)
    if len(report.providers) > 1:
        table.add_section()
        row(report.total, style="bold")
    return table


def report_dict(
    report: ScoreReport, exchange: str, timeframe: Timeframe, config: ProviderScoringConfig
) -> dict[str, Any]:
    """The ``--json`` shape: settings, per-provider scores with their trades and equity, the total, skipped lines."""
    return {
        "exchange": exchange,
        "timeframe": timeframe.value,
        "settings": config.model_dump(),
        "providers": [s.to_dict() for s in report.providers],
        "total": report.total.to_dict(with_trades=False),
        "skipped_lines": [
            {"line": s.line_no, "reason": s.reason, "provider": s.provider} for s in report.skipped
        ],
    }


def equity_svg(score: ProviderScore, width: int = 640, height: int = 180) -> str:
    """The equity curve of a provider as an inline SVG polyline (no script), with its range and dates."""
    points = score.equity
    if len(points) < 2:
        return "<p>No filled trades: no equity curve.</p>"
    left, right, top, bottom = 56, 8, 10, 24
    times = [at.timestamp() for at, _ in points]
    values = [eq for _, eq in points]
    t0, t1 = times[0], max(times[-1], times[0] + 1)
    low, high = min(*values, 1.0), max(*values, 1.0)
    span = (high - low) or 1.0

    def xy(t: float, v: float) -> tuple[float, float]:
        x = left + (t - t0) / (t1 - t0) * (width - left - right)
        y = top + (high - v) / span * (height - top - bottom)
        return x, y

    line = " ".join(f"{x:.1f},{y:.1f}" for x, y in (xy(t, v) for t, v in zip(times, values, strict=True)))
    _, y_one = xy(t0, 1.0)
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img" '
        f'aria-label="equity curve of {html.escape(score.provider)}">'
        f'<rect x="{left}" y="{top}" width="{width - left - right}" height="{height - top - bottom}" '
        'fill="#fafafa" stroke="#ccc"/>'
        f'<line x1="{left}" x2="{width - right}" y1="{y_one:.1f}" y2="{y_one:.1f}" stroke="#999" '
        'stroke-dasharray="4 3"/>'
        f'<polyline fill="none" stroke="#1f6feb" stroke-width="2" points="{line}"/>'
        f'<text x="{left - 4}" y="{top + 10}" text-anchor="end" font-size="11">{high:.3f}</text>'
        f'<text x="{left - 4}" y="{height - bottom}" text-anchor="end" font-size="11">{low:.3f}</text>'
        f'<text x="{left}" y="{height - 6}" font-size="11">{points[0][0]:%Y-%m-%d}</text>'
        f'<text x="{width - right}" y="{height - 6}" text-anchor="end" font-size="11">'
        f"{points[-1][0]:%Y-%m-%d}</text></svg>"
    )


def render_html(
    report: ScoreReport, exchange: str, timeframe: Timeframe, config: ProviderScoringConfig
) -> str:
    """A standalone HTML page: the score table, then per provider its equity curve (inline SVG) and trades."""
    esc = html.escape
    heads = (
        "provider",
        "signals",
        "filled",
        "fill rate",
        "wins",
        "win rate",
        "avg R",
        "PF",
        "return",
        "max DD",
    )

    def score_row(s: ProviderScore) -> str:
        cells = (
            s.provider,
            s.signals,
            s.filled,
            _pct(s.fill_rate),
            s.wins,
            _pct(s.win_rate),
            f"{s.average_r:+.2f}",
            _pf(s.profit_factor),
            f"{s.total_return_ratio * 100:+.1f} %",
            _pct(s.max_drawdown_ratio),
        )
        return "<tr>" + "".join(f"<td>{esc(str(c))}</td>" for c in cells) + "</tr>"

    parts = [
        '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>tsbot provider scores</title>',
        "<style>body{font-family:sans-serif;margin:2em;color:#222}table{border-collapse:collapse;margin:1em 0}"
        "td,th{border:1px solid #ddd;padding:3px 8px;text-align:right}td:first-child,th:first-child"
        "{text-align:left}th{background:#f3f3f3}</style></head><body>",
        "<h1>Provider scores</h1>",
        f"<p>{esc(exchange)} {timeframe.value} candles; risk per trade {_pct(config.risk_per_trade_ratio)}, "
        f"entries expire after {config.entry_expiry_hours:g} h, trades close after {config.max_hold_hours:g} h, "
        f"fee {config.fee_ratio * 100:g} % per fill. Stop first when a bar touches stop and target.</p>",
        "<table><tr>" + "".join(f"<th>{h}</th>" for h in heads) + "</tr>",
        *(score_row(s) for s in report.providers),
        score_row(report.total) if len(report.providers) > 1 else "",
        "</table>",
    ]
    trade_heads = ("post", "symbol", "side", "posted", "filled", "entry", "exit", "reason", "targets", "R")
    for score in report.providers:
        parts.append(f"<h2>{esc(score.provider)}</h2>{equity_svg(score)}")
        parts.append("<table><tr>" + "".join(f"<th>{h}</th>" for h in trade_heads) + "</tr>")
        for t in score.trades:
            cells = (
                t.post_id,
                t.symbol,
                t.side.value,
                f"{t.posted_at:%Y-%m-%d %H:%M}",
                "-" if t.filled_at is None else f"{t.filled_at:%Y-%m-%d %H:%M}",
                "-" if t.entry is None else f"{t.entry:g}",
                "-" if t.exit is None else f"{t.exit:g}",
                t.exit_reason.value,
                t.targets_hit,
                "-" if t.r is None else f"{t.r:+.2f}",
            )
            parts.append("<tr>" + "".join(f"<td>{esc(str(c))}</td>" for c in cells) + "</tr>")
        parts.append("</table>")
    if report.skipped:
        items = "".join(f"<li>line {s.line_no}: {esc(s.reason)}</li>" for s in report.skipped)
        parts.append(f"<h2>Skipped lines</h2><ul>{items}</ul>")
    parts.append("</body></html>")
    return "\n".join(p for p in parts if p)


async def load_frames(
    settings: Settings, exchange: str, timeframe: Timeframe, readings: list[PostReading]
) -> dict[str, CandleFrame]:
    """Candles of every stored symbol the signals need, on ``exchange`` and ``timeframe``.

    Raises:
        EmptyStoreError: the store holds no candles at all.
        NotFoundError: it holds none for this exchange and timeframe (the message lists what it holds).
    """
    async with open_services(settings) as services:
        series = await services.candles.series()
        if not series:
            raise EmptyStoreError(
                "the store holds no candles; run `tsbot data import` or `tsbot data download`"
            )
        known = {s.key.symbol for s in series if s.key.exchange == exchange and s.key.timeframe is timeframe}
        if not known:
            held = ", ".join(sorted({f"{s.key.exchange} {s.key.timeframe.value}" for s in series}))
            raise NotFoundError(
                f"no {exchange} {timeframe.value} candles are stored; the store holds: {held}"
            )
        reach_ms = replay_reach_ms(settings.intake.scoring, timeframe)
        frames: dict[str, CandleFrame] = {}
        for symbol, (first, last) in sorted(wanted_series(readings, known).items()):
            # From at least one bar before the first post to the last bar any replay may read.
            end_ms = to_ms(last) + reach_ms + timeframe.ms
            limit = (end_ms - to_ms(first)) // timeframe.ms + 3
            key = SeriesKey(exchange, symbol, timeframe)
            frames[symbol] = await services.candles.load(key, end_ms=end_ms, limit=limit)
        return frames


def _print_notes(report: ScoreReport, *, to_stderr: bool) -> None:
    out = err_console if to_stderr else console
    for score in report.providers:
        if score.no_data_symbols:
            listed = ", ".join(score.no_data_symbols)
            out.print(f"{score.provider}: no candles for {listed} ({score.no_data} signals)", highlight=False)
    for line in report.skipped:
        err_console.print(f"[yellow]skipped[/] line {line.line_no}: {line.reason}", highlight=False)


@provider_app.command("score")
def score_command(
    posts: Annotated[
        Path, typer.Option("--posts", help="JSONL file: {id, provider, posted_at, text} per line.")
    ],
    exchange: Annotated[str, typer.Option(help="Exchange of the stored candles (binance, ...).")],
    timeframe: Annotated[str, typer.Option(help="Candle timeframe to replay on.")] = "1h",
    provider: Annotated[str | None, typer.Option(help="Score only this provider (channel).")] = None,
    html_path: Annotated[Path | None, typer.Option("--html", help="Also write an HTML report here.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Replay a channel's signal posts over candles: fills, targets and stops bar by bar; score each provider.

    Settings: ``intake.scoring`` (risk per trade, entry expiry, maximum hold, fee).
    """
    settings = settings_or_exit()
    try:
        tf = Timeframe.parse(timeframe)
    except TsbotError as exc:
        raise _bad_argument(str(exc)) from None
    venue = exchange.strip().lower()
    try:
        text = posts.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise _bad_argument(f"posts file {posts} does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise _bad_argument(f"posts file {posts} cannot be read: {exc}") from None
    posts_file = read_posts(text.splitlines())
    chosen = list(posts_file.posts)
    skipped: list[SkippedLine] = list(posts_file.skipped)
    if provider is not None:
        chosen = [p for p in chosen if p.provider == provider]
        skipped = [s for s in skipped if s.provider in (None, provider)]
        if not chosen:
            names = sorted({p.provider for p in posts_file.posts}) or ["(none)"]
            raise _bad_argument(
                f"no posts of provider {provider!r} in {posts}; providers: {', '.join(names)}"
            )
    readings = read_all(chosen, parse)
    config = settings.intake.scoring
    frames = run(load_frames(settings, venue, tf, readings))
    report = score_readings(readings, frames, tf, config, skipped=skipped)
    if as_json:
        typer.echo(json.dumps(report_dict(report, venue, tf, config), indent=2, ensure_ascii=False))
    else:
        console.print(render_table(report))
    _print_notes(report, to_stderr=as_json)
    if html_path is not None:
        try:
            html_path.write_text(render_html(report, venue, tf, config), encoding="utf-8")
        except OSError as exc:
            err_console.print(
                f"[bold red]error:[/] cannot write {html_path}: {exc.strerror}", highlight=False
            )
            raise typer.Exit(1) from None
        (err_console if as_json else console).print(f"HTML report written to {html_path}", highlight=False)
