"""``tsbot sentiment classify | eval | train | history``: score texts, measure a model, retrain the default model,
and show an asset's sentiment over time."""

from __future__ import annotations

import json
import sys
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any

import typer
from rich import box
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from tsbot.apps.cli.common import console, err_console, run, settings_or_exit
from tsbot.config import SentimentModelConfig, Settings
from tsbot.core.errors import DataError, TsbotError
from tsbot.core.time import from_ms, parse_utc, to_ms, utc_now
from tsbot.market.models import Timeframe
from tsbot.sentiment.labelled import parse_label_map, read_labelled, texts_to_classify
from tsbot.sentiment.ports import SentimentModel

sentiment_app = typer.Typer(
    help="Sentiment models: classify texts, evaluate on a labelled file, retrain the default model, history.",
    no_args_is_help=True,
)

ModelOption = Annotated[
    str | None,
    typer.Option(
        "--model",
        help="default (shipped), finbert (ProsusAI/finbert, needs the finbert extra), or a model directory. "
        "Default: sentiment_model.name from the settings.",
    ),
]


def _fail(message: str, code: int = 1) -> typer.Exit:
    err_console.print(f"[bold red]error:[/] {message}", highlight=False)
    return typer.Exit(code)


def _model(settings: Settings, name: str | None) -> SentimentModel:
    from tsbot.adapters.models.loader import load_sentiment_model

    config = settings.sentiment_model
    if name is not None:
        config = SentimentModelConfig(**(config.model_dump() | {"name": name}))
    try:
        return load_sentiment_model(config)
    except TsbotError as exc:
        raise _fail(str(exc)) from None


def _read_input(path: Path | None) -> bytes:
    if path is None or str(path) == "-":
        return sys.stdin.buffer.read()
    try:
        return path.read_bytes()
    except OSError as exc:
        raise _fail(f"cannot read {path}: {exc.strerror or exc}") from None


@sentiment_app.command("classify")
def classify_command(
    path: Annotated[
        Path | None,
        typer.Argument(help="Text file, one text per line, or JSONL with text; - or none: stdin."),
    ] = None,
    model: ModelOption = None,
    batch: Annotated[int, typer.Option(min=1, max=100_000, help="Texts scored per model call.")] = 512,
) -> None:
    """Write one JSON object per input line: {"label", "score", "probs"}. Blank lines score neutral, so line N
    of the output answers line N of the input."""
    settings = settings_or_exit()
    scorer = _model(settings, model)
    try:
        texts = texts_to_classify(_read_input(path))
    except DataError as exc:
        raise _fail(str(exc), 2) from None
    out = sys.stdout
    for start in range(0, len(texts), batch):
        for s in scorer.score(texts[start : start + batch]):
            probs = {k: round(v, 6) for k, v in s.probs.items()}
            out.write(json.dumps({"label": s.label.value, "score": round(s.score, 6), "probs": probs}) + "\n")
    out.flush()


@sentiment_app.command("eval")
def eval_command(
    path: Annotated[
        Path, typer.Argument(help="Labelled file: text<TAB>label, sentence@label, CSV or JSONL.")
    ],
    model: ModelOption = None,
    label_map: Annotated[
        str | None,
        typer.Option("--label-map", help='Numbering of labels, e.g. "0=negative,1=positive,2=neutral".'),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Accuracy, macro F1 and the confusion matrix of a model on a labelled file."""
    from tsbot.sentiment.evaluation import evaluate_model  # numpy only: no scikit-learn to load

    settings = settings_or_exit()
    try:
        data = read_labelled(_read_input(path), label_map=parse_label_map(label_map), name=str(path))
    except DataError as exc:
        raise _fail(str(exc), 2) from None
    scorer = _model(settings, model)
    report = evaluate_model(scorer, data.texts, data.labels)
    if as_json:
        console.print_json(
            json.dumps(
                {
                    "model": scorer.name,
                    "file": str(path),
                    "n": report.n,
                    "blank_lines": data.blank_lines,
                    "accuracy": report.accuracy,
                    "macro_f1": report.macro_f1,
                    "labels": list(report.labels),
                    "confusion": report.confusion,
                }
            )
        )
        return
    console.print(
        f"model [bold]{scorer.name}[/] on {path}: {report.n} texts"
        + (f" ({data.blank_lines} blank lines skipped)" if data.blank_lines else ""),
        highlight=False,
    )
    console.print(f"accuracy {report.accuracy:.4f}   macro F1 {report.macro_f1:.4f}", highlight=False)
    console.print(confusion_table(report.labels, report.confusion))


def confusion_table(
    labels: tuple[str, ...], confusion: list[list[int]], title: str = "confusion matrix"
) -> Table:
    """A rich table: one row per true label, one column per predicted label, with per-class recall."""
    table = Table(title=f"{title} (rows: true, columns: predicted)", box=box.SIMPLE_HEAVY)
    table.add_column("true \\ predicted")
    for label in labels:
        table.add_column(label, justify="right")
    table.add_column("recall", justify="right")
    for label, row in zip(labels, confusion, strict=True):
        total = sum(row)
        hit = row[labels.index(label)]
        table.add_row(label, *(str(v) for v in row), f"{hit / total:.3f}" if total else "-")
    return table


@sentiment_app.command("train")
def train_command(
    out: Annotated[
        Path | None,
        typer.Option(
            help="Directory for model.json + weights.npz. Default: <data_dir>/models/sentiment_default."
        ),
    ] = None,
    seed: Annotated[int, typer.Option(help="Random seed of the training.")] = 0,
) -> None:
    """Retrain the default model on the bundled permissive data and print its validation report.

    Use the result with ``--model DIR`` or ``sentiment_model.name: DIR`` in app.yaml.
    """
    from tsbot.sentiment.training import train_default_model

    settings = settings_or_exit()
    target = out or settings.data_dir / "models" / "sentiment_default"
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=err_console, transient=False) as progress:
        tasks: dict[str, Any] = {}

        def advance(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = progress.add_task(stage, total=max(total, 1))
            progress.update(tasks[stage], completed=done, total=max(total, 1))

        try:
            report = train_default_model(target, seed=seed, progress=advance)
        except (TsbotError, OSError) as exc:
            raise _fail(str(exc)) from None
    console.print(f"trained on {report.n_train} texts; model written to {report.model_dir}", highlight=False)
    for source in report.sources:
        console.print(
            f"  {source.get('name')}: {source.get('rows')} rows ({source.get('licence')})", highlight=False
        )
    v = report.validation
    console.print(
        f"validation: {v.n} texts, accuracy {v.accuracy:.4f}, macro F1 {v.macro_f1:.4f}", highlight=False
    )
    console.print(confusion_table(v.labels, v.confusion, "validation"))
    for name, extra in report.extra.items():
        console.print(
            f"{name}: {extra.n} texts, accuracy {extra.accuracy:.4f}, macro F1 {extra.macro_f1:.4f}"
        )
    console.print(f"use it with: tsbot sentiment classify --model {report.model_dir}", highlight=False)


@sentiment_app.command("history")
def history_command(
    asset: Annotated[str, typer.Argument(help="Base asset, e.g. BTC.")],
    days: Annotated[float, typer.Option(min=0.05, max=3650, help="How far back, in days.")] = 7.0,
    step: Annotated[
        str, typer.Option(help="Spacing of the readings: a timeframe such as 1h, 4h, 1d.")
    ] = "4h",
    as_of: Annotated[
        str | None,
        typer.Option("--as-of", help="End of the history (UTC, ISO 8601). Default: the newest headline."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON lines instead of a table.")] = False,
) -> None:
    """The asset's aggregated sentiment at each step, as it was known then (first-seen times, decay, source
    weights and the evidence rule of ``trading.sentiment``)."""
    from tsbot.sentiment.aggregate import readings
    from tsbot.wiring import open_services

    settings = settings_or_exit()
    try:
        spacing = Timeframe(step)
    except ValueError:
        raise _fail(
            f"--step {step!r} is not a timeframe; use one of {', '.join(t.value for t in Timeframe)}", 2
        ) from None
    cfg = settings.trading.sentiment

    async def _history() -> list[tuple[int, Any]]:
        async with open_services(settings) as services:
            if as_of:
                end = parse_utc(as_of)
            else:  # the newest headline known about the asset, so imported history shows without --as-of
                newest = await services.headlines.latest(asset=asset.upper(), limit=1)
                end = newest[0].known_at if newest else utc_now()
            start = end - timedelta(days=days)
            series = await services.headlines.scored_series(
                asset.upper(), start=start - timedelta(hours=cfg.max_age_hours), end=end
            )
        times = list(range(to_ms(end), to_ms(start) - 1, -spacing.ms))[::-1]
        return list(zip(times, readings(series, times, cfg), strict=True))

    rows = run(_history())
    if as_json:
        for t, r in rows:
            item = {"time": from_ms(t).isoformat().replace("+00:00", "Z"), "score": None, "headlines": 0}
            if r is not None:
                item |= {
                    "score": round(r.score, 4),
                    "headlines": r.headlines,
                    "evidence": round(r.evidence_ratio, 3),
                }
                item["thin"] = r.thin
            sys.stdout.write(json.dumps(item) + "\n")
        return
    table = Table(title=f"{asset.upper()} sentiment, every {spacing.value}", box=box.SIMPLE_HEAVY)
    for name in ("time (UTC)", "score", "headlines", "evidence", ""):
        table.add_column(name, justify="right" if name in ("score", "headlines", "evidence") else "left")
    for t, r in rows:
        when = f"{from_ms(t):%Y-%m-%d %H:%M}"
        if r is None:
            table.add_row(when, "-", "0", "-", "no news")
        else:
            bar = ("+" if r.score > 0 else "-") * min(10, round(abs(r.score) * 10))
            table.add_row(
                when,
                f"{r.score:+.3f}",
                str(r.headlines),
                f"{r.evidence_ratio:.2f}",
                bar + (" thin" if r.thin else ""),
            )
    console.print(table)
    known = [r.score for _, r in rows if r is not None]
    if not known:
        console.print(f"no scored headlines about {asset.upper()} in that period", highlight=False)
    else:
        console.print(f"{len(known)} readings, mean score {sum(known) / len(known):+.3f}", highlight=False)
