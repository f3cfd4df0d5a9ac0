"""Walk-forward evaluation: only out-of-sample results are reported.

The trading window is cut, by bar open time (UTC), into ``folds + 1`` equal segments. The first is only ever used
to learn from; each later segment is a test fold. For test fold ``k``:

1. when the strategy reads the ML score and a trainer is given, a model is trained on the candles that closed before
   the fold starts (labels need future bars, so a sample whose label window would reach into the fold has no label
   and is left out: the purge; nothing after the fold is ever used, so no embargo is needed in this direction);
2. the strategy's plan is computed with all history up to the fold's end (warm indicators, nothing later);
3. the engine trades the fold's bars only, starting with the equity the previous fold ended with. A position still
   open at the end of a fold is closed there (``END_OF_DATA``), so folds are independent and their trades are all
   out of sample.

The stitched result is one :class:`~tsbot.backtest.models.BacktestResult` over the test folds.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from tsbot.backtest.models import BacktestConfig, BacktestResult
from tsbot.backtest.runner import SeriesData, concat_results, run_strategy, window_bounds
from tsbot.backtest.strategies.base import Strategy
from tsbot.core.errors import DataError

#: Trains a model on series cut before a fold and returns, for a series, its ML score per bar (row i from bars
#: 0..i only), or None when it cannot (too little data); the callable receives the fold's training series.
MlTrainer = Callable[[Sequence[SeriesData]], Callable[[SeriesData], np.ndarray] | None]


@dataclass(frozen=True, slots=True)
class Fold:
    """One walk-forward step: learn from ``[train_start_ms, test_start_ms)``, test ``[test_start_ms, test_end_ms]``
    (bar open times, ms UTC)."""

    index: int
    train_start_ms: int
    test_start_ms: int
    test_end_ms: int

    def to_dict(self) -> dict[str, int]:
        return {
            "fold": self.index,
            "train_start_ms": self.train_start_ms,
            "test_start_ms": self.test_start_ms,
            "test_end_ms": self.test_end_ms,
        }


@dataclass(slots=True)
class WalkForwardResult:
    """The stitched out-of-sample run, its folds, and one result per fold."""

    result: BacktestResult
    folds: list[Fold]
    fold_results: list[BacktestResult]
    notes: list[str] = field(default_factory=list)


def make_folds(time_ms: np.ndarray, folds: int) -> list[Fold]:
    """Cut sorted bar open times into ``folds + 1`` equal-count segments; folds 1..``folds`` are tested.

    Raises:
        DataError: fewer than 2 folds, or too few bars for them (each fold needs 2 bars at least).
    """
    if folds < 1:
        raise DataError("walk-forward needs at least 1 test fold")
    n = len(time_ms)
    if n < 2 * (folds + 1):
        raise DataError(f"walk-forward over {folds} folds needs at least {2 * (folds + 1)} bars; got {n}")
    edges = np.linspace(0, n, folds + 2).round().astype(int)
    out = []
    for k in range(1, folds + 1):
        out.append(
            Fold(
                index=k,
                train_start_ms=int(time_ms[0]),
                test_start_ms=int(time_ms[edges[k]]),
                test_end_ms=int(time_ms[edges[k + 1] - 1]),
            )
        )
    return out


def union_times(data: Sequence[SeriesData], start_ms: int | None, end_ms: int | None) -> np.ndarray:
    """Sorted union of the series' bar open times within ``[start_ms, end_ms]``."""
    parts = []
    for item in data:
        lo, hi = window_bounds(item.candles, start_ms, end_ms)
        parts.append(item.candles.open_time_ms[lo:hi])
    return np.unique(np.concatenate(parts)) if parts else np.empty(0, dtype=np.int64)


def _cut_before(item: SeriesData, end_ms: int) -> SeriesData:
    """The series as known before ``end_ms``: bars that closed by then (open time + timeframe <= end_ms)."""
    hi = int(np.searchsorted(item.candles.open_time_ms, end_ms - item.key.timeframe.ms, side="right"))
    return SeriesData(item.key, item.candles.window(0, hi), item.context.cut(hi))


def walk_forward(
    strategy: Strategy,
    data: Sequence[SeriesData],
    config: BacktestConfig,
    *,
    folds: int = 5,
    start_ms: int | None = None,
    end_ms: int | None = None,
    ml_trainer: MlTrainer | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> WalkForwardResult:
    """Run the walk-forward evaluation described in the module docstring.

    Args:
        strategy: the strategy (fixed parameters).
        data: the series with all history available (warm-up included).
        config: broker settings; ``initial_equity`` is the equity of the first test fold.
        folds: test folds.
        start_ms, end_ms: the window cut into segments (None: all bars).
        ml_trainer: trains a model per fold when the strategy reads ML scores (None: the context's ML, if any, is
            used as given).
        progress: called with (folds done, folds) after each fold.

    Raises:
        DataError: too few bars for the folds, or nothing tradable in any fold.
    """
    times = union_times(data, start_ms, end_ms)
    plan = make_folds(times, folds)
    equity = config.initial_equity
    parts: list[BacktestResult] = []
    notes: list[str] = []
    for fold in plan:
        fold_data: list[SeriesData] = list(data)
        if ml_trainer is not None and strategy.uses_ml:
            scorer = ml_trainer([_cut_before(item, fold.test_start_ms) for item in data])
            if scorer is None:
                notes.append(
                    f"fold {fold.index}: too little history to train the ML model; traded without it"
                )
            else:
                fold_data = [
                    replace(
                        item,
                        context=replace(
                            item.context,
                            ml=padded_ml(scorer(_upto(item, fold.test_end_ms)), len(item.candles)),
                        ),
                    )
                    for item in data
                ]
        fold_notes: list[str] = []
        try:
            result = run_strategy(
                strategy,
                fold_data,
                replace(config, initial_equity=equity),
                start_ms=fold.test_start_ms,
                end_ms=fold.test_end_ms,
                notes=fold_notes,
            )
        except DataError as exc:
            notes.append(f"fold {fold.index}: {exc}")
            if progress is not None:
                progress(fold.index, len(plan))
            continue
        notes.extend(f"fold {fold.index}: {n}" for n in fold_notes)
        parts.append(result)
        equity = float(result.equity[-1])
        if progress is not None:
            progress(fold.index, len(plan))
    if not parts:
        raise DataError("no walk-forward fold could be traded: " + "; ".join(notes))
    return WalkForwardResult(result=concat_results(parts), folds=plan, fold_results=parts, notes=notes)


def _upto(item: SeriesData, end_ms: int) -> SeriesData:
    """The series up to the bar opening at ``end_ms`` (the ML context must be as long as the candles)."""
    hi = int(np.searchsorted(item.candles.open_time_ms, end_ms, side="right"))
    return SeriesData(item.key, item.candles.window(0, hi), item.context.cut(hi))


def padded_ml(scores: np.ndarray, n: int) -> np.ndarray:
    """ML scores for ``n`` bars: ``scores`` followed by NaN (bars after what was scored)."""
    out = np.full(n, np.nan)
    out[: len(scores)] = scores
    return out
