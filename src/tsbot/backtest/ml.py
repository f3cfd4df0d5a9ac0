"""The ML ensemble inside a backtest, without letting it see the future.

* A plain backtest uses the registry's active model, but only on bars whose label window starts after the model's
  training window ended (``train_end`` + ``horizon_bars``): earlier bars were, or may have been, learned from,
  so their ML score is left out (NaN: the fusion then runs without ML there) and a note says so.
* A walk-forward backtest trains a fresh model for each fold on the bars that closed before the fold
  (:func:`fold_trainer`); labels need ``horizon_bars`` future bars, so the last rows before the fold have no label
  and never train: the purge.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from tsbot.backtest.runner import SeriesData
from tsbot.backtest.walkforward import MlTrainer
from tsbot.config import MlConfig
from tsbot.core.time import to_ms
from tsbot.ml.ensemble import Ensemble
from tsbot.ml.scoring import MlScorer
from tsbot.ml.training import series_samples


def fit_ensemble(train: Sequence[SeriesData], config: MlConfig, *, n_jobs: int = 2) -> MlScorer | None:
    """Fit one ensemble on the pooled labelled rows of ``train`` (no evaluation folds: the walk-forward backtest is
    the evaluation). None when there are too few rows or a single class."""
    xs, ys = [], []
    for item in train:
        x, y, _, _ = series_samples(item.candles, config)
        if y.size:
            xs.append(x)
            ys.append(y)
    if not ys:
        return None
    y_all = np.concatenate(ys)
    if y_all.size < 100 or np.unique(y_all).size < 2:
        return None
    return MlScorer(Ensemble.from_config(config, n_jobs=n_jobs).fit(np.concatenate(xs), y_all))


def fold_trainer(config: MlConfig, *, n_jobs: int = 2) -> MlTrainer:
    """A :data:`tsbot.backtest.walkforward.MlTrainer` that fits :func:`fit_ensemble` on each fold's history."""

    def trainer(train: Sequence[SeriesData]) -> Callable[[SeriesData], np.ndarray] | None:
        scorer = fit_ensemble(train, config, n_jobs=n_jobs)
        if scorer is None:
            return None
        return lambda item: scorer.score_series(item.candles)

    return trainer


@dataclass(slots=True)
class MlHooks:
    """What a backtest command needs of the ML side: the active model (or None) and a per-fold trainer."""

    config: MlConfig
    active: MlScorer | None
    notes: list[str] = field(default_factory=list)

    @property
    def trainer(self) -> MlTrainer:
        return fold_trainer(self.config)

    def with_active_model(self, data: Sequence[SeriesData]) -> list[SeriesData]:
        """The series with the active model's score per bar, out-of-sample bars only (see the module docstring)."""
        if self.active is None:
            self.notes.append("no active ML model: the ML component is off (train one with `tsbot train`)")
            return list(data)
        record = self.active.record
        out: list[SeriesData] = []
        for item in data:
            if not self.active.applies_to(item.key):
                self.notes.append(
                    f"{item.key.symbol}: the active ML model was trained on other timeframes; no ML"
                )
                out.append(item)
                continue
            scores = self.active.score_series(item.candles)
            if record is not None:
                first_unseen = (
                    to_ms(record.train_end) + (self.config.horizon_bars + 1) * item.key.timeframe.ms
                )
                seen = item.candles.open_time_ms < first_unseen
                if seen.any():
                    scores[seen] = np.nan
                    self.notes.append(
                        f"{item.key.symbol}: ML scores only after {record.train_end:%Y-%m-%d %H:%M} UTC (the model "
                        f"{record.label} learned from earlier bars); use --walk-forward to train per fold"
                    )
            out.append(replace(item, context=replace(item.context, ml=scores)))
        return out
