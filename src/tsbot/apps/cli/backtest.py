"""``tsbot backtest``, ``tsbot lookahead`` and ``tsbot optimize``: the strategies over the stored candles."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich import box
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from tsbot.apps.cli.common import console, err_console, run, settings_or_exit
from tsbot.backtest.models import BacktestConfig, FillAt, Sizing
from tsbot.backtest.strategies import STRATEGIES, Strategy, build_strategy
from tsbot.config import Settings
from tsbot.core.errors import ConfigError, TsbotError
from tsbot.core.memory import keep_freed_memory
from tsbot.core.time import parse_utc, to_ms
from tsbot.market.models import Timeframe
from tsbot.wiring import open_services

if TYPE_CHECKING:
    from tsbot.backtest.ml import MlHooks
    from tsbot.backtest.runner import SeriesData
    from tsbot.backtest.stats import Stats

# The engine (numba) and the ML stack (scikit-learn, XGBoost) are imported inside the commands that use them, so
# `tsbot --help` and the other commands start fast.

SymbolsOpt = Annotated[
    list[str] | None,
    typer.Option("--symbols", help="Symbols (default: the watchlist, else every stored series)."),
]
TimeframeOpt = Annotated[str | None, typer.Option(help="Timeframe of the series (1h, 1d, ...).")]
StrategyOpt = Annotated[str, typer.Option("--strategy", help=f"One of: {', '.join(STRATEGIES)}.")]
StartOpt = Annotated[
    str | None, typer.Option(help="First bar traded (ISO-8601, UTC); earlier bars only warm up.")
]
EndOpt = Annotated[
    str | None, typer.Option(help="Last bar traded (ISO-8601, UTC); later bars are never read.")
]
ParamOpt = Annotated[
    list[str] | None, typer.Option("--param", help="Strategy parameter NAME=VALUE (repeatable).")
]


def _fail(message: str, code: int = 2) -> typer.Exit:
    err_console.print(f"[bold red]error:[/] {message}", highlight=False)
    return typer.Exit(code)


def parse_params(items: list[str] | None) -> dict[str, float]:
    """``["fast=12", "slow=40"]`` -> ``{"fast": 12.0, "slow": 40.0}``.

    Raises:
        ConfigError: an item is not NAME=NUMBER.
    """
    out: dict[str, float] = {}
    for item in items or []:
        name, sep, value = item.partition("=")
        try:
            if not sep:
                raise ValueError
            out[name.strip()] = float(value)
        except ValueError:
            raise ConfigError(f"--param {item!r}: expected NAME=NUMBER, e.g. fast=12") from None
    return out


def parse_window(start: str | None, end: str | None) -> tuple[int | None, int | None]:
    start_ms = to_ms(parse_utc(start)) if start else None
    end_ms = to_ms(parse_utc(end)) if end else None
    if start_ms is not None and end_ms is not None and end_ms <= start_ms:
        raise ConfigError(f"--end ({end}) must be after --start ({start})")
    return start_ms, end_ms


async def _load(
    settings: Settings,
    strategy: Strategy,
    symbols: list[str] | None,
    timeframe: str | None,
    end_ms: int | None,
    *,
    sentiment: bool,
    ml: bool,
    walk_forward: bool,
    every_timeframe: bool = False,
) -> tuple[list[SeriesData], MlHooks | None]:
    from tsbot.backtest.data import choose_series, load_series
    from tsbot.backtest.ml import MlHooks

    tf = Timeframe.parse(timeframe) if timeframe else None
    async with open_services(settings) as services:
        infos = await choose_series(
            services.candles, symbols, tf, settings.trading, every_timeframe=every_timeframe
        )
        headlines = services.headlines if sentiment and strategy.uses_sentiment else None
        data = await load_series(services.candles, headlines, infos, settings.trading, end_ms=end_ms)
        hooks = None
        if ml and strategy.uses_ml:
            hooks = MlHooks(settings.ml, await services.active_model())
            if not walk_forward:
                data = hooks.with_active_model(data)
        return data, hooks


def progress_bar() -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err_console,
        transient=True,
    )


def _stats_table(title: str, stats: Stats) -> Table:
    d = stats.to_dict()
    table = Table(title=title, box=box.SIMPLE_HEAD, show_header=False, pad_edge=False)
    table.add_column("figure")
    table.add_column("value", justify="right")

    def pct(name: str, signed: bool = True) -> str:
        v = d.get(name)
        return "-" if v is None else f"{v * 100:+.2f} %" if signed else f"{v * 100:.2f} %"

    def num(name: str, fmt: str = "{:.2f}") -> str:
        v = d.get(name)
        return "-" if v is None else fmt.format(v)

    rows = [
        ("period", f"{_day(stats.start_ms)} .. {_day(stats.end_ms)} UTC ({stats.bars} bars)"),
        ("total return", pct("total_return_ratio")),
        ("buy and hold", pct("buy_and_hold_return_ratio")),
        ("CAGR", pct("cagr_ratio")),
        ("Sharpe / Sortino / Calmar", f"{num('sharpe')} / {num('sortino')} / {num('calmar')}"),
        (
            "max drawdown",
            f"{pct('max_drawdown_ratio', False)} over {num('max_drawdown_duration_days', '{:.1f}')} days",
        ),
        ("trades / win rate", f"{stats.trades} / {pct('win_rate_ratio', False)}"),
        ("profit factor", num("profit_factor")),
        ("expectancy", f"{num('expectancy')} per trade ({num('expectancy_r')} R)"),
        ("avg win / avg loss", f"{num('avg_win')} / {num('avg_loss')}"),
        ("exposure", pct("exposure_ratio", False)),
        ("fees", num("fees")),
        ("final equity", num("final_equity", "{:,.2f}")),
    ]
    if d.get("deflated_sharpe") is not None:
        rows.append(("deflated Sharpe (probability)", num("deflated_sharpe", "{:.3f}")))
    for name, value in rows:
        table.add_row(name, value)
    return table


def _day(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%d")


def backtest_command(
    strategy: StrategyOpt = "fused",
    symbols: SymbolsOpt = None,
    timeframe: TimeframeOpt = None,
    start: StartOpt = None,
    end: EndOpt = None,
    fill: Annotated[
        str, typer.Option(help="Market fills: next_open (default) or close (the signal bar's).")
    ] = ("next_open"),
    capital: Annotated[float, typer.Option(help="Initial equity, quote currency.")] = 10_000.0,
    fee_bps: Annotated[float, typer.Option("--fee-bps", help="Taker fee, basis points per side.")] = 10.0,
    maker_fee_bps: Annotated[
        float, typer.Option("--maker-fee-bps", help="Maker fee (limits, targets).")
    ] = 2.0,
    slippage_bps: Annotated[
        float, typer.Option("--slippage-bps", help="Slippage on market/stop fills.")
    ] = 0.0,
    leverage: Annotated[float, typer.Option(help="Notional / margin (>= 1).")] = 1.0,
    sizing: Annotated[
        str, typer.Option(help="fixed_fraction (default) or risk (from the stop distance).")
    ] = ("fixed_fraction"),
    fraction: Annotated[float, typer.Option(help="Share of equity per position (fixed_fraction).")] = 1.0,
    risk: Annotated[float, typer.Option(help="Share of equity lost at the stop (risk sizing).")] = 0.01,
    targets_first: Annotated[
        bool,
        typer.Option("--targets-first", help="When a bar touches stop and target, take the target first."),
    ] = False,
    params: ParamOpt = None,
    sentiment: Annotated[bool, typer.Option(help="Use the stored news sentiment (point in time).")] = True,
    ml: Annotated[bool, typer.Option(help="Use the ML ensemble (walk-forward: trained per fold).")] = True,
    walk_forward: Annotated[
        bool,
        typer.Option("--walk-forward", help="Report only out-of-sample folds (models retrained per fold)."),
    ] = False,
    folds: Annotated[int, typer.Option(help="Walk-forward test folds.")] = 5,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON: trades, stats, config.")] = False,
    report: Annotated[Path | None, typer.Option(help="Write an HTML report (opens offline).")] = None,
) -> None:
    """Backtest a strategy on the stored candles with the simulated broker."""
    from tsbot.backtest.export import result_to_json
    from tsbot.backtest.report import write_report
    from tsbot.backtest.runner import run_strategy
    from tsbot.backtest.stats import compute_stats
    from tsbot.backtest.walkforward import walk_forward as run_walk_forward

    keep_freed_memory()
    settings = settings_or_exit()
    try:
        strat = build_strategy(strategy, settings.trading, parse_params(params))
        start_ms, end_ms = parse_window(start, end)
        config = BacktestConfig(
            initial_equity=capital,
            fill=FillAt(fill),
            taker_fee_bps=fee_bps,
            maker_fee_bps=maker_fee_bps,
            slippage_bps=slippage_bps,
            leverage=leverage,
            sizing=Sizing(sizing),
            fraction_ratio=fraction,
            risk_per_trade_ratio=risk,
            stop_first=not targets_first,
        )
    except (TsbotError, ValueError) as exc:
        raise _fail(str(exc)) from None

    data, hooks = run(
        _load(
            settings, strat, symbols, timeframe, end_ms, sentiment=sentiment, ml=ml, walk_forward=walk_forward
        )
    )
    notes: list[str] = list(hooks.notes) if hooks else []
    folds_ms: list[tuple[int, int]] | None = None
    extra: dict[str, Any] = {"strategy": strat.describe()}
    try:
        if walk_forward:
            with progress_bar() as bar:
                task = bar.add_task("walk-forward folds", total=folds)
                wf = run_walk_forward(
                    strat,
                    data,
                    config,
                    folds=folds,
                    start_ms=start_ms,
                    end_ms=end_ms,
                    ml_trainer=hooks.trainer if hooks else None,
                    progress=lambda done, total: bar.update(task, completed=done),
                )
            result = wf.result
            notes.extend(wf.notes)
            folds_ms = [(f.test_start_ms, f.test_end_ms) for f in wf.folds]
            fold_stats = [compute_stats(part).to_dict() for part in wf.fold_results]
            extra["walk_forward"] = {
                "folds": [f.to_dict() for f in wf.folds],
                "fold_stats": fold_stats,
            }
        else:
            result = run_strategy(strat, data, config, start_ms=start_ms, end_ms=end_ms, notes=notes)
        stats = compute_stats(result)
    except TsbotError as exc:
        raise _fail(str(exc), 1) from None
    extra["notes"] = notes
    title = f"{strat.name} on {', '.join(k.symbol for k in result.keys)} {result.keys[0].timeframe.value}"
    if walk_forward:
        title += f" (walk-forward, {folds} out-of-sample folds)"
    if report is not None:
        path = write_report(result, stats, report, title=title, walk_forward_folds=folds_ms)
        err_console.print(f"report written to {path}", highlight=False)
    if as_json:
        typer.echo(json.dumps(result_to_json(result, stats, extra=extra), indent=2, allow_nan=False))
        return
    console.print(_stats_table(title, stats))
    if walk_forward and extra.get("walk_forward"):
        _print_folds(extra["walk_forward"]["fold_stats"])
    rejected = result.rejected
    if rejected:
        console.print(
            "Refused entries: " + ", ".join(f"{reason} ({count})" for reason, count in rejected.items()),
            highlight=False,
        )
    for note in notes:
        err_console.print(f"[yellow]note:[/] {note}", highlight=False)


def _print_folds(fold_stats: list[dict[str, Any]]) -> None:
    table = Table(title="out-of-sample folds", box=box.SIMPLE_HEAD, pad_edge=False)
    for col in ("fold", "from", "to", "return", "buy & hold", "max DD", "trades"):
        table.add_column(col, justify="right")
    for i, s in enumerate(fold_stats, start=1):
        table.add_row(
            str(i),
            _day(s["start_ms"]),
            _day(s["end_ms"]),
            f"{(s['total_return_ratio'] or 0) * 100:+.2f} %",
            f"{(s['buy_and_hold_return_ratio'] or 0) * 100:+.2f} %",
            f"{(s['max_drawdown_ratio'] or 0) * 100:.2f} %",
            str(s["trades"]),
        )
    console.print(table)


def lookahead_command(
    strategy: Annotated[
        str | None, typer.Option("--strategy", help="Strategy to check (default: every built-in one).")
    ] = None,
    symbols: SymbolsOpt = None,
    timeframe: Annotated[
        str | None, typer.Option(help="Check only the series of this timeframe (default: every one stored).")
    ] = None,
    samples: Annotated[int, typer.Option(help="Bars checked per series.")] = 100,
    as_json: Annotated[bool, typer.Option("--json", help="Print the reports as JSON.")] = False,
) -> None:
    """Prove that strategies never look ahead nor depend on where the history starts.

    Every sampled signal is recomputed on data cut at its bar, and on data starting later; any difference is
    reported, and the exit code is then 1. Each series is checked on its own, so with no --timeframe (here or
    in trading.yaml) every chosen symbol is checked at each timeframe it is stored in.
    """
    from tsbot.backtest.lookahead import check_strategy

    settings = settings_or_exit()
    try:
        names = [strategy] if strategy else list(STRATEGIES)
        strategies = [build_strategy(name, settings.trading) for name in names]
    except TsbotError as exc:
        raise _fail(str(exc)) from None
    data, _ = run(
        _load(
            settings,
            strategies[0],
            symbols,
            timeframe,
            None,
            sentiment=True,
            ml=False,
            walk_forward=False,
            every_timeframe=True,
        )
    )
    reports = []
    with progress_bar() as bar:
        task = bar.add_task("checking", total=len(strategies) * len(data))
        for strat in strategies:
            for item in data:
                reports.append(
                    check_strategy(strat, item.candles, item.context, series=str(item.key), samples=samples)
                )
                bar.advance(task)
    failed = [r for r in reports if not r.passed]
    if as_json:
        typer.echo(json.dumps([r.to_dict() for r in reports], indent=2))
    else:
        table = Table(title="look-ahead and recursion checks", box=box.SIMPLE_HEAD, pad_edge=False)
        for col in ("strategy", "series", "bars checked", "recursion bars", "differences"):
            table.add_column(col)
        for r in reports:
            table.add_row(
                r.strategy,
                r.series,
                str(r.checked_bars),
                str(r.recursion_bars),
                "[green]none[/]" if r.passed else f"[red]{len(r.differences)}[/]",
            )
        console.print(table)
        for r in failed:
            for d in r.differences[:5]:
                console.print(
                    f"  {r.strategy} {r.series} bar {d.bar} ({_day(d.time_ms)}): {d.field} {d.full} with all data, "
                    f"{d.cut} ({d.check})",
                    highlight=False,
                )
    if failed:
        raise typer.Exit(1)


def optimize_command(
    strategy: StrategyOpt = "swing",
    symbols: SymbolsOpt = None,
    timeframe: TimeframeOpt = None,
    start: StartOpt = None,
    end: EndOpt = None,
    trials: Annotated[int, typer.Option(help="Parameter sets to try.")] = 30,
    folds: Annotated[int, typer.Option(help="Walk-forward test folds per trial.")] = 4,
    seed: Annotated[int, typer.Option(help="Seed of the sampler (repeatable searches).")] = 7,
    fee_bps: Annotated[float, typer.Option("--fee-bps", help="Taker fee, basis points per side.")] = 10.0,
    sentiment: Annotated[bool, typer.Option(help="Use the stored news sentiment (point in time).")] = True,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    report: Annotated[
        Path | None, typer.Option(help="HTML report of the winner's out-of-sample run.")
    ] = None,
) -> None:
    """Search a strategy's parameters with Optuna, scored out of sample (walk-forward).

    The winner's Deflated Sharpe Ratio says how likely its edge is to be more than luck.
    """
    from tsbot.backtest.export import json_ready
    from tsbot.backtest.optimize import optimize
    from tsbot.backtest.report import write_report
    from tsbot.backtest.stats import compute_stats

    keep_freed_memory()
    settings = settings_or_exit()
    try:
        strat = build_strategy(strategy, settings.trading)
        start_ms, end_ms = parse_window(start, end)
    except TsbotError as exc:
        raise _fail(str(exc)) from None
    config = BacktestConfig(taker_fee_bps=fee_bps)
    data, _ = run(
        _load(settings, strat, symbols, timeframe, end_ms, sentiment=sentiment, ml=False, walk_forward=True)
    )
    try:
        with progress_bar() as bar:
            task = bar.add_task("trials", total=trials)
            update: Callable[[int, int], None] = lambda done, total: bar.update(task, completed=done)  # noqa: E731
            found = optimize(
                strat,
                data,
                config,
                trials=trials,
                folds=folds,
                start_ms=start_ms,
                end_ms=end_ms,
                seed=seed,
                progress=update,
            )
        trials_sharpe = [t.sharpe for t in found.trials if not math.isnan(t.sharpe)]
        stats = compute_stats(found.best_run.result, trials_sharpe=trials_sharpe)
    except TsbotError as exc:
        raise _fail(str(exc), 1) from None
    if report is not None:
        folds_ms = [(f.test_start_ms, f.test_end_ms) for f in found.best_run.folds]
        title = f"{strat.name} optimised ({len(found.trials)} trials), best out-of-sample run"
        path = write_report(found.best_run.result, stats, report, title=title, walk_forward_folds=folds_ms)
        err_console.print(f"report written to {path}", highlight=False)
    if as_json:
        out = {
            "strategy": strat.name,
            "best_params": found.best.params,
            "deflated_sharpe": found.deflated_sharpe,
            "stats": stats.to_dict(),
            "trials": [t.to_dict() for t in found.trials],
            "notes": found.notes,
        }
        typer.echo(json.dumps(json_ready(out), indent=2, allow_nan=False))
        return
    table = Table(
        title=f"{strat.name}: {len(found.trials)} trials, walk-forward {folds} folds", box=box.SIMPLE_HEAD
    )
    table.add_column("trial", justify="right")
    for name in strat.PARAMS:
        table.add_column(name, justify="right")
    table.add_column("Sharpe/bar", justify="right")
    table.add_column("trades", justify="right")
    for t in sorted(found.trials, key=lambda t: -t.sharpe if not math.isnan(t.sharpe) else math.inf)[:10]:
        table.add_row(
            str(t.number),
            *(f"{t.params.get(n, float('nan')):g}" for n in strat.PARAMS),
            "-" if math.isnan(t.sharpe) else f"{t.sharpe:.4f}",
            str(t.trades),
        )
    console.print(table)
    console.print(_stats_table("best parameters, out of sample", stats))
    verdict = "unlikely to be luck" if found.deflated_sharpe >= 0.95 else "could well be luck"
    console.print(
        f"Deflated Sharpe Ratio of the winner: {found.deflated_sharpe:.3f} ({verdict}; "
        f"{len(trials_sharpe)} trials counted)",
        highlight=False,
    )
    for note in found.notes:
        err_console.print(f"[yellow]note:[/] {note}", highlight=False)
