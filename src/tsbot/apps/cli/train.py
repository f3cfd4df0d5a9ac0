"""``tsbot train``: train the ML ensemble walk-forward on stored candles and register it;
``tsbot model list | activate``: the model registry."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer
from pydantic import ValidationError
from rich import box
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from tsbot.apps.cli.common import console, err_console, run, settings_or_exit
from tsbot.config import MlConfig, Settings
from tsbot.core.errors import ConfigError, NotFoundError, TsbotError
from tsbot.core.time import parse_utc, to_ms
from tsbot.market.models import CandleFrame, SeriesKey, Timeframe
from tsbot.ml.models import ModelRecord

model_app = typer.Typer(help="Trained ML models: list them, pick the active one.", no_args_is_help=True)


def _bad_argument(message: str) -> typer.Exit:
    err_console.print(f"[bold red]error:[/] {message}", highlight=False)
    return typer.Exit(2)


def _ml_config(settings: Settings, labeling: str | None, horizon: int | None) -> MlConfig:
    """``settings.ml`` with the command-line overrides, validated like the file."""
    values = settings.ml.model_dump()
    if labeling is not None:
        values["labeling"] = labeling
    if horizon is not None:
        values["horizon_bars"] = horizon
    try:
        return MlConfig(**values)
    except ValidationError as exc:
        problems = "; ".join(
            f"--{'.'.join(str(p) for p in e['loc']).replace('_bars', '').replace('_', '-')}: {e['msg']}"
            for e in exc.errors(include_url=False)
        )
        raise ConfigError(problems) from None


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.1f} %"


def render_report(report: Any, record: ModelRecord) -> None:
    """The training report: data, folds, pooled out-of-sample metrics against the baseline, top features."""
    state = "active" if record.is_active else "not active"
    console.print(
        f"[bold]{record.label}[/] (id {record.id}, {state}): {', '.join(report.symbols)} "
        f"{report.timeframe.value}, bars {report.train_start:%Y-%m-%d %H:%M} .. "
        f"{report.train_end:%Y-%m-%d %H:%M} UTC, {report.rows:,} rows",
        highlight=False,
    )
    balance = ", ".join(f"{name} {_pct(share)}" for name, share in report.class_balance.items())
    console.print(f"labels: {balance}", highlight=False)
    table = Table(title="Walk-forward, out of sample", box=box.SIMPLE_HEAD, pad_edge=False)
    for name in ("fold", "test period (UTC)", "train", "test", "acc", "prec", "recall", "F1", "base acc"):
        table.add_column(name, justify="left" if name in ("fold", "test period (UTC)") else "right")
    table.add_column("base F1", justify="right")
    for f in report.folds:
        table.add_row(
            str(f.fold),
            f"{f.test_start:%Y-%m-%d} .. {f.test_end:%Y-%m-%d}",
            f"{f.train_rows:,}",
            f"{f.test_rows:,}",
            _pct(f.model.accuracy),
            _pct(f.model.precision),
            _pct(f.model.recall),
            _pct(f.model.f1),
            _pct(f.baseline.accuracy),
            _pct(f.baseline.f1),
        )
    o, b = report.oos, report.baseline
    table.add_row(
        "all",
        "pooled",
        "",
        f"{o.rows:,}",
        _pct(o.accuracy),
        _pct(o.precision),
        _pct(o.recall),
        _pct(o.f1),
        _pct(b.accuracy),
        _pct(b.f1),
        style="bold",
    )
    console.print(table)
    console.print(
        "base = always the majority class of the fold's training rows; precision, recall and F1 are macro "
        "averages over the classes",
        style="dim",
        highlight=False,
    )
    features = Table(title="Top features", box=box.SIMPLE_HEAD, pad_edge=False)
    features.add_column("feature")
    features.add_column("importance", justify="right")
    for name, value in report.feature_importance.items():
        features.add_row(name, _pct(value))
    console.print(features)
    for note in report.notes:
        err_console.print(f"[yellow]note:[/] {note}", highlight=False)


def train_command(
    symbols: Annotated[
        list[str] | None,
        typer.Option(
            "--symbols", help="Symbols to train on (default: the watchlist, else every stored series)."
        ),
    ] = None,
    timeframe: Annotated[
        str | None,
        typer.Option(help="Timeframe of the series (1h, 1d, ...); needed when several are stored."),
    ] = None,
    start: Annotated[
        str | None, typer.Option(help="ISO-8601 time (UTC) of the first training bar (default: the first).")
    ] = None,
    end: Annotated[
        str | None, typer.Option(help="ISO-8601 time (UTC): use bars opened at or before it (default: all).")
    ] = None,
    labeling: Annotated[
        str | None, typer.Option(help="forward | triple_barrier (default: ml.labeling).")
    ] = None,
    horizon: Annotated[
        int | None, typer.Option(help="Label horizon in bars (default: ml.horizon_bars).")
    ] = None,
    activate: Annotated[
        bool, typer.Option("--activate/--no-activate", help="Make the new model the one scans use.")
    ] = True,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Train the ML ensemble walk-forward on stored candles, register it and (by default) activate it."""
    settings = settings_or_exit()
    try:
        tf = Timeframe.parse(timeframe) if timeframe else None
        start_ms = to_ms(parse_utc(start)) if start else None
        end_ms = to_ms(parse_utc(end)) if end else None
        config = _ml_config(settings, labeling, horizon)
    except TsbotError as exc:
        raise _bad_argument(str(exc)) from None
    if start_ms is not None and end_ms is not None and start_ms >= end_ms:
        raise _bad_argument("--start must be before --end")

    async def _train() -> tuple[Any, ModelRecord]:
        from tsbot.ml.training import train
        from tsbot.wiring import open_services

        async with open_services(settings) as services:
            chosen = await services.scan_service().watchlist(symbols, tf)
            timeframes = sorted({s.key.timeframe.value for s in chosen})
            if len(timeframes) > 1:
                raise ConfigError(
                    f"the series to train on have several timeframes ({', '.join(timeframes)}): "
                    "pick one with --timeframe"
                )
            frames: dict[SeriesKey, CandleFrame] = {}
            for info in chosen:
                frame = await services.candles.load(info.key, end_ms=end_ms)
                if len(frame):
                    frames[info.key] = frame
            if not frames:
                raise NotFoundError("no stored candles at or before --end for these symbols")
            with Progress(
                TextColumn("[bold]{task.description:<14}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                console=err_console,
                transient=True,
            ) as bar:
                tasks: dict[str, Any] = {}

                def progress(stage: str, done: int, total: int) -> None:
                    if stage not in tasks:
                        tasks[stage] = bar.add_task(stage, total=total)
                    bar.update(tasks[stage], completed=done, total=total)

                report = train(frames, config, progress=progress, start_ms=start_ms)
            record = await services.models.save(report.record(config.model_name), report.ensemble.to_bytes())
            if activate:
                record = await services.models.activate(record.id or 0)
            return report, record

    report, record = run(_train())
    if as_json:
        payload = report.to_dict() | {
            "model": {
                "id": record.id,
                "name": record.name,
                "version": record.version,
                "active": record.is_active,
            }
        }
        typer.echo(json.dumps(payload, indent=2, default=str))
        for note in report.notes:
            err_console.print(f"[yellow]note:[/] {note}", highlight=False)
    else:
        render_report(report, record)


@model_app.command("list")
def model_list(
    name: Annotated[str | None, typer.Option(help="Only models of this name.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON list.")] = False,
) -> None:
    """Registered models, newest version first, with their out-of-sample metrics."""
    settings = settings_or_exit()

    async def _list() -> list[ModelRecord]:
        from tsbot.wiring import open_services

        async with open_services(settings) as services:
            return await services.models.list(name)

    records = run(_list())
    if as_json:
        typer.echo(json.dumps([_record_dict(r) for r in records], indent=2))
        return
    if not records:
        console.print("no models yet: train one with `tsbot train`", highlight=False)
        return
    table = Table(title="ML models", box=box.SIMPLE_HEAD, pad_edge=False)
    for col in (
        "id",
        "model",
        "active",
        "tf",
        "symbols",
        "trained on (UTC)",
        "acc",
        "F1",
        "base F1",
        "created",
    ):
        table.add_column(col, justify="right" if col in ("id", "acc", "F1", "base F1") else "left")
    for r in records:
        table.add_row(
            str(r.id),
            r.label,
            "yes" if r.is_active else "",
            r.timeframe.value,
            ", ".join(r.symbols),
            f"{r.train_start:%Y-%m-%d} .. {r.train_end:%Y-%m-%d}",
            _pct(r.metrics.get("accuracy")),
            _pct(r.metrics.get("f1")),
            _pct(r.metrics.get("baseline_f1")),
            f"{r.created_at:%Y-%m-%d %H:%M}" if r.created_at else "-",
        )
    console.print(table)


@model_app.command("activate")
def model_activate(
    model_id: Annotated[int, typer.Argument(help="Model id (see `tsbot model list`).")],
) -> None:
    """Make a model the active one of its name: scans then use it."""
    settings = settings_or_exit()

    async def _activate() -> ModelRecord:
        from tsbot.wiring import open_services

        async with open_services(settings) as services:
            return await services.models.activate(model_id)

    record = run(_activate())
    console.print(f"active: {record.label} (id {record.id})", highlight=False)


def _record_dict(r: ModelRecord) -> dict[str, Any]:
    return {
        "id": r.id,
        "name": r.name,
        "version": r.version,
        "active": r.is_active,
        "created_at": r.created_at.isoformat() if r.created_at else None,
        "timeframe": r.timeframe.value,
        "symbols": list(r.symbols),
        "train_start": r.train_start.isoformat(),
        "train_end": r.train_end.isoformat(),
        "metrics": r.metrics,
        "feature_importance": r.feature_importance,
        "hyperparameters": r.hyperparameters,
    }
