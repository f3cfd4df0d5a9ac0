"""Benchmark: ML inference for a scan of 1,000 symbols.

Trains the ensemble (``ml`` sizes of ``app.yaml`` unless overridden) on bundled Binance 1h candles, then times, for
1,000 symbols (500-bar windows cut at random places from the 12 bundled 1h series):

1. ``MlScorer.score_rows`` on the 1,000 feature rows in one batch, and each member's share of it;
2. ``MlScorer.score_frames`` on the 1,000 windows: the features of each window's last bar plus the scoring.

Each figure is the median of ``--runs`` runs after a warm-up. Goal: (1) under 50 ms with 2 threads.

Run: ``python bench/ml_inference.py [--symbols 1000] [--runs 20] [--n-estimators 150] [--max-depth 8]
[--n-jobs 2] [--train-symbols BTC/USDT ETH/USDT]``.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import numpy as np
from rich.console import Console
from rich.table import Table

from tsbot.adapters.bundled import bundled_series, read_bundled_rows
from tsbot.config import load_settings
from tsbot.market.models import CandleFrame, Timeframe
from tsbot.market.validation import validate_rows
from tsbot.ml.ensemble import Ensemble
from tsbot.ml.features import last_feature_rows
from tsbot.ml.scoring import MlScorer
from tsbot.ml.training import series_samples

GOAL_MS = 50.0
console = Console()


def median_ms(fn: Callable[[], object], runs: int) -> float:
    """Median wall time of ``fn`` in ms over ``runs`` runs, after one warm-up run."""
    fn()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def hourly_series() -> dict[str, CandleFrame]:
    """The bundled 1h series by symbol, validated."""
    return {
        s.key.symbol: validate_rows(read_bundled_rows(s), s.key.timeframe).frame
        for s in bundled_series()
        if s.key.timeframe is Timeframe.H1
    }


def windows(series: dict[str, CandleFrame], count: int, bars: int, seed: int = 7) -> list[CandleFrame]:
    """``count`` windows of ``bars`` bars cut at random places, cycling through the series."""
    rng = np.random.default_rng(seed)
    frames = list(series.values())
    out = []
    for k in range(count):
        frame = frames[k % len(frames)]
        start = int(rng.integers(0, len(frame) - bars))
        s = slice(start, start + bars)
        out.append(
            CandleFrame(
                *(
                    np.ascontiguousarray(getattr(frame, c)[s])
                    for c in ("open_time_ms", "open", "high", "low", "close", "volume")
                )
            )
        )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--symbols", type=int, default=1_000)
    parser.add_argument("--bars", type=int, default=500)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--n-estimators", type=int, default=None)
    parser.add_argument("--max-depth", type=int, default=None)
    parser.add_argument("--n-jobs", type=int, default=2)
    parser.add_argument("--train-symbols", nargs="+", default=["BTC/USDT", "ETH/USDT"])
    args = parser.parse_args()

    config = load_settings().ml
    overrides = {"n_estimators": args.n_estimators, "max_depth": args.max_depth}
    config = config.model_copy(update={k: v for k, v in overrides.items() if v is not None})
    series = hourly_series()
    xs, ys = [], []
    for symbol in args.train_symbols:
        x, y, _, _ = series_samples(series[symbol], config)
        xs.append(x)
        ys.append(y)
    x_train, y_train = np.concatenate(xs), np.concatenate(ys)
    start = time.perf_counter()
    ensemble = Ensemble.from_config(config, n_jobs=args.n_jobs).fit(x_train, y_train)
    fit_s = time.perf_counter() - start
    scorer = MlScorer(ensemble)

    frames = windows(series, args.symbols, args.bars)
    rows = last_feature_rows(frames)
    score_ms = median_ms(lambda: scorer.score_rows(rows), args.runs)
    features_ms = median_ms(lambda: last_feature_rows(frames), args.runs)
    frames_ms = median_ms(lambda: scorer.score_frames(frames), args.runs)
    member_ms = {
        name: median_ms(lambda m=model, n=name: m.predict_proba(ensemble._inputs(n, rows)), args.runs)
        for name, model in ensemble.members.items()
    }

    console.print(
        f"ensemble: {config.n_estimators} trees / rounds, depth {config.max_depth}, weights "
        f"{ {k: round(v, 2) for k, v in ensemble.weights.items()} }, {args.n_jobs} threads; fitted on "
        f"{len(y_train):,} rows of {', '.join(args.train_symbols)} 1h in {fit_s:.1f} s",
        highlight=False,
    )
    table = Table(
        title=f"ML inference, {args.symbols:,} symbols ({args.bars}-bar windows), median of {args.runs}"
    )
    table.add_column("what")
    table.add_column("ms", justify="right")
    table.add_column("per symbol (µs)", justify="right")
    verdict = "[green]under[/]" if score_ms < GOAL_MS else "[red]over[/]"
    table.add_row(
        f"score_rows (goal {GOAL_MS:.0f} ms: {verdict})",
        f"{score_ms:.1f}",
        f"{score_ms * 1e3 / args.symbols:.1f}",
    )
    for name, ms in member_ms.items():
        table.add_row(f"  {name}.predict_proba", f"{ms:.1f}", f"{ms * 1e3 / args.symbols:.1f}")
    table.add_row(
        "features of the last bars (last_feature_rows)",
        f"{features_ms:.1f}",
        f"{features_ms * 1e3 / args.symbols:.1f}",
    )
    table.add_row(
        "score_frames (features + scoring)", f"{frames_ms:.1f}", f"{frames_ms * 1e3 / args.symbols:.1f}"
    )
    console.print(table)


if __name__ == "__main__":
    main()
