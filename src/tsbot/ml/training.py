"""Training: pooled features and labels over several series, walk-forward out-of-sample evaluation, final fit.

Rows: one per bar of each series from bar ``MIN_HISTORY_BARS - 1`` on (all features defined) whose label is valid
(its horizon lies inside the series). Out-of-sample metrics come from :func:`tsbot.ml.splits.walk_forward_splits`
over the bar open times (all series share fold boundaries); the time before the first test block is
``1 / (folds + 1)`` of the span. The final model is then fitted on every row.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
import talib

from tsbot.config import MlConfig
from tsbot.core.errors import DataError
from tsbot.core.time import from_ms
from tsbot.market.models import CandleFrame, SeriesKey, Timeframe
from tsbot.ml.ensemble import CLASSES, Ensemble
from tsbot.ml.features import MIN_HISTORY_BARS, feature_matrix
from tsbot.ml.labels import forward_labels, triple_barrier_labels
from tsbot.ml.models import ModelRecord
from tsbot.ml.splits import walk_forward_splits

#: ``progress(stage, done, total)``: stage is ``"features"``, ``"walk-forward"`` or ``"final model"``.
Progress = Callable[[str, int, int], None]

_CLASS_NAMES = {-1: "down", 0: "flat", 1: "up"}

#: Bar times each of the ``folds + 1`` walk-forward blocks needs at least, in horizons (and in bars): a block no
#: longer than the label horizon leaves the next fold nothing to train on after purging.
BLOCK_HORIZONS = 2
BLOCK_MIN_BARS = 50


@dataclass(frozen=True, slots=True)
class Metrics:
    """Classification metrics over ``rows`` predictions; precision, recall and F1 are macro averages over the
    classes present in the truth or the predictions; all are ratios in 0..1."""

    rows: int
    accuracy: float
    precision: float
    recall: float
    f1: float

    def to_dict(self) -> dict[str, float | int]:
        return {
            "rows": self.rows,
            "accuracy": self.accuracy,
            "precision": self.precision,
            "recall": self.recall,
            "f1": self.f1,
        }


def classification_metrics(y_true: np.ndarray, y_pred: np.ndarray) -> Metrics:
    """:class:`Metrics` of predictions ``y_pred`` against ``y_true`` (both ``(m,)`` in {-1, 0, 1})."""
    from sklearn.metrics import accuracy_score, precision_recall_fscore_support

    if len(y_true) == 0:
        return Metrics(0, float("nan"), float("nan"), float("nan"), float("nan"))
    precision, recall, f1, _ = precision_recall_fscore_support(
        y_true, y_pred, average="macro", zero_division=0
    )
    return Metrics(
        len(y_true), float(accuracy_score(y_true, y_pred)), float(precision), float(recall), float(f1)
    )


@dataclass(frozen=True, slots=True)
class FoldReport:
    """One walk-forward fold: its 1-based number, row counts, test period (bar open times, UTC), the ensemble's
    metrics and those of always predicting the training majority class."""

    fold: int
    train_rows: int
    test_rows: int
    test_start: datetime
    test_end: datetime
    model: Metrics
    baseline: Metrics
    baseline_class: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "fold": self.fold,
            "train_rows": self.train_rows,
            "test_rows": self.test_rows,
            "test_start": self.test_start.isoformat(),
            "test_end": self.test_end.isoformat(),
            "model": self.model.to_dict(),
            "baseline": self.baseline.to_dict(),
            "baseline_class": self.baseline_class,
        }


@dataclass(slots=True)
class TrainingReport:
    """What :func:`train` did: data, out-of-sample metrics, the final ensemble and its settings.

    ``train_start`` / ``train_end`` are the open times (UTC) of the first and last training bar; ``oos`` and
    ``baseline`` are pooled over all folds' test rows; ``class_balance`` maps down / flat / up to their share of
    all rows; ``feature_importance`` holds the 15 largest importances; ``notes`` lists series left out.
    """

    ensemble: Ensemble
    timeframe: Timeframe
    symbols: tuple[str, ...]
    train_start: datetime
    train_end: datetime
    rows: int
    class_balance: dict[str, float]
    folds: list[FoldReport]
    oos: Metrics
    baseline: Metrics
    feature_importance: dict[str, float]
    hyperparameters: dict[str, Any]
    notes: list[str] = field(default_factory=list)

    def metrics(self) -> dict[str, Any]:
        """The registry's ``metrics``: pooled out-of-sample ``accuracy``, ``precision``, ``recall``, ``f1``, the
        baseline's, the row count, the class balance and the folds."""
        return {
            **{k: v for k, v in self.oos.to_dict().items() if k != "rows"},
            "oos_rows": self.oos.rows,
            "baseline_accuracy": self.baseline.accuracy,
            "baseline_precision": self.baseline.precision,
            "baseline_recall": self.baseline.recall,
            "baseline_f1": self.baseline.f1,
            "rows": self.rows,
            "class_balance": dict(self.class_balance),
            "folds": [f.to_dict() for f in self.folds],
        }

    def record(self, name: str) -> ModelRecord:
        """An unsaved :class:`ModelRecord` for this model under ``name``."""
        return ModelRecord(
            name=name,
            timeframe=self.timeframe,
            symbols=self.symbols,
            train_start=self.train_start,
            train_end=self.train_end,
            metrics=self.metrics(),
            feature_importance=dict(self.feature_importance),
            hyperparameters=dict(self.hyperparameters),
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary (no ensemble)."""
        return {
            "timeframe": self.timeframe.value,
            "symbols": list(self.symbols),
            "train_start": self.train_start.isoformat(),
            "train_end": self.train_end.isoformat(),
            "rows": self.rows,
            "class_balance": dict(self.class_balance),
            "oos": self.oos.to_dict(),
            "baseline": self.baseline.to_dict(),
            "folds": [f.to_dict() for f in self.folds],
            "feature_importance": dict(self.feature_importance),
            "hyperparameters": dict(self.hyperparameters),
            "notes": list(self.notes),
        }


@dataclass(slots=True)
class _Pool:
    x: list[np.ndarray] = field(default_factory=list)
    y: list[np.ndarray] = field(default_factory=list)
    times: list[np.ndarray] = field(default_factory=list)
    ends: list[np.ndarray] = field(default_factory=list)


def series_samples(
    frame: CandleFrame, config: MlConfig, *, start_ms: int | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The training rows of one series: ``(x (r, F), y int8 (r,), open_time_ms (r,), label_end_ms (r,))``.

    Rows are the bars from ``MIN_HISTORY_BARS - 1`` on (and at or after ``start_ms`` when given) whose label is
    valid; ``label_end_ms`` is the open time of the last bar the label looks at.
    """
    n = len(frame)
    horizon = config.horizon_bars
    if config.labeling == "forward":
        labels, valid = forward_labels(frame.close, horizon, config.dead_zone_ratio)
    else:
        atr = talib.ATR(frame.high, frame.low, frame.close, 14) if n else np.empty(0)
        labels, valid = triple_barrier_labels(
            frame.high, frame.low, frame.close, atr, horizon, config.barrier_atr_multiple
        )
    keep = valid.copy()
    keep[: min(n, MIN_HISTORY_BARS - 1)] = False
    if start_ms is not None:
        keep &= frame.open_time_ms >= start_ms
    idx = np.flatnonzero(keep)
    if idx.size == 0:
        empty = np.empty(0, dtype=np.int64)
        return np.empty((0, 0)), np.empty(0, dtype=np.int8), empty, empty
    x = feature_matrix(frame)[idx]
    return x, labels[idx], frame.open_time_ms[idx], frame.open_time_ms[idx + horizon]


def train(
    frames: Mapping[SeriesKey, CandleFrame],
    config: MlConfig,
    *,
    progress: Progress | None = None,
    start_ms: int | None = None,
    n_jobs: int = 2,
) -> TrainingReport:
    """Train an ensemble on the pooled series, with walk-forward out-of-sample metrics.

    Args:
        frames: whole candle series (oldest first) of one timeframe, by series key. Bars before ``start_ms``
            still feed the features of later bars but give no training rows.
        config: labelling, folds, embargo and model sizes (``ml`` in ``app.yaml``).
        progress: called as ``progress(stage, done, total)`` while working.
        start_ms: optional first bar open time (ms UTC) of the training rows.
        n_jobs: threads of the forest and XGBoost.

    Returns:
        A :class:`TrainingReport` holding the final ensemble (fitted on all rows).

    Raises:
        DataError: no series, series of several timeframes, every series too short for the warm-up
            (``MIN_HISTORY_BARS``) plus the label horizon (the message names them), or too few labelled bar times
            for the folds (``(folds + 1) * max(2 * horizon_bars, 50)``). A too-short series among longer ones is
            left out with a note in the report.
    """
    if not frames:
        raise DataError("no candle series to train on")
    timeframes = {key.timeframe for key in frames}
    if len(timeframes) > 1:
        listed = ", ".join(sorted(tf.value for tf in timeframes))
        raise DataError(f"training series must share one timeframe; got {listed}")
    timeframe = next(iter(timeframes))
    pool = _Pool()
    notes: list[str] = []
    used: list[str] = []
    short: list[str] = []
    need = MIN_HISTORY_BARS + config.horizon_bars
    for k, (key, frame) in enumerate(frames.items()):
        if progress is not None:
            progress("features", k, len(frames))
        x, y, times, ends = series_samples(frame, config, start_ms=start_ms)
        if y.size == 0:
            short.append(f"{key} ({len(frame)} bars)")
            notes.append(f"left out {key}: {len(frame)} bars give no training row (needs more than {need})")
            continue
        pool.x.append(x)
        pool.y.append(y)
        pool.times.append(times)
        pool.ends.append(ends)
        used.append(key.symbol)
    if progress is not None:
        progress("features", len(frames), len(frames))
    if not pool.y:
        raise DataError(
            f"every series is too short to train on: {', '.join(short)}; each needs more than {need} bars "
            f"({MIN_HISTORY_BARS} of warm-up plus the {config.horizon_bars}-bar label horizon)"
            + (" after --start" if start_ms is not None else "")
        )
    x_all = np.concatenate(pool.x)
    y_all = np.concatenate(pool.y)
    t_all = np.concatenate(pool.times)
    e_all = np.concatenate(pool.ends)
    steps = int(np.unique(t_all).size)
    need_steps = (config.folds + 1) * max(BLOCK_HORIZONS * config.horizon_bars, BLOCK_MIN_BARS)
    if steps < need_steps:
        raise DataError(
            f"too few bars to train on: {', '.join(used)} give {steps} labelled bar times; {config.folds} "
            f"walk-forward folds with a {config.horizon_bars}-bar horizon need at least {need_steps}: "
            "train on more bars (an earlier --start) or use fewer folds (ml.folds)"
        )
    splits = walk_forward_splits(
        t_all,
        config.folds,
        horizon_bars=config.horizon_bars,
        embargo_bars=config.embargo_bars,
        min_train_bars=max(1, steps // (config.folds + 1)),
        label_end_times=e_all,
    )
    folds: list[FoldReport] = []
    oos_true: list[np.ndarray] = []
    oos_pred: list[np.ndarray] = []
    base_pred: list[np.ndarray] = []
    for k, split in enumerate(splits, start=1):
        if progress is not None:
            progress("walk-forward", k - 1, len(splits))
        y_train = y_all[split.train_idx]
        if len(np.unique(y_train)) < 2:
            raise DataError(
                f"fold {k} of {len(splits)} has {y_train.size} training rows of fewer than two classes: "
                "train on more bars or use fewer folds (ml.folds)"
            )
        model = Ensemble.from_config(config, n_jobs=n_jobs).fit(x_all[split.train_idx], y_train)
        y_test = y_all[split.test_idx]
        predicted = model.predict(x_all[split.test_idx])
        values, counts = np.unique(y_train, return_counts=True)
        majority = int(values[np.argmax(counts)])
        baseline = np.full(y_test.shape, majority, dtype=np.int8)
        folds.append(
            FoldReport(
                k,
                int(split.train_idx.size),
                int(split.test_idx.size),
                from_ms(split.test_start),
                from_ms(split.test_end),
                classification_metrics(y_test, predicted),
                classification_metrics(y_test, baseline),
                majority,
            )
        )
        oos_true.append(y_test)
        oos_pred.append(predicted)
        base_pred.append(baseline)
    if progress is not None:
        progress("walk-forward", len(splits), len(splits))
        progress("final model", 0, 1)
    final = Ensemble.from_config(config, n_jobs=n_jobs).fit(x_all, y_all)
    if progress is not None:
        progress("final model", 1, 1)
    truth = np.concatenate(oos_true)
    balance = {_CLASS_NAMES[c]: float(np.mean(y_all == c)) for c in CLASSES}
    hyper = {
        **final.hyperparameters,
        "labeling": config.labeling,
        "horizon_bars": config.horizon_bars,
        "dead_zone_ratio": config.dead_zone_ratio,
        "barrier_atr_multiple": config.barrier_atr_multiple,
        "folds": config.folds,
        "embargo_bars": config.embargo_bars,
        "importance_members": list(final.importance_members),
    }
    return TrainingReport(
        ensemble=final,
        timeframe=timeframe,
        symbols=tuple(used),
        train_start=from_ms(int(t_all.min())),
        train_end=from_ms(int(t_all.max())),
        rows=int(y_all.size),
        class_balance=balance,
        folds=folds,
        oos=classification_metrics(truth, np.concatenate(oos_pred)),
        baseline=classification_metrics(truth, np.concatenate(base_pred)),
        feature_importance=final.top_features(15),
        hyperparameters=hyper,
        notes=notes,
    )
