"""Value objects of the ML domain: :class:`ModelRecord` (a registered model) and the training metrics."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from tsbot.market.models import Timeframe


@dataclass(frozen=True, slots=True)
class ModelRecord:
    """A trained model as the registry knows it (its artifact bytes travel beside it).

    Attributes:
        id: registry id (None before it is saved).
        name: model name (``ml.model_name``); versions count up per name from 1 (0 before it is saved).
        created_at: when it was registered, aware UTC.
        timeframe: the timeframe of the candles it was trained on; it scores only series of that timeframe.
        symbols: the symbols of its training data.
        train_start, train_end: open times (aware UTC) of the first and last training bar.
        metrics: out-of-sample walk-forward metrics: ``accuracy``, ``precision``, ``recall``, ``f1`` (macro
            averages over the classes, as ratios 0..1), ``baseline_accuracy``, ``baseline_f1`` (always predicting
            the majority class), ``rows``, ``class_balance``, ``folds`` (per-fold metrics) and the like.
        feature_importance: feature name -> importance (ratios summing to about 1 over all features).
        hyperparameters: the ensemble's settings and the labelling settings.
        is_active: whether it is the model scans use for its name (one per name at most).
    """

    name: str
    timeframe: Timeframe
    symbols: tuple[str, ...]
    train_start: datetime
    train_end: datetime
    metrics: dict[str, Any] = field(default_factory=dict)
    feature_importance: dict[str, float] = field(default_factory=dict)
    hyperparameters: dict[str, Any] = field(default_factory=dict)
    id: int | None = None
    version: int = 0
    created_at: datetime | None = None
    is_active: bool = False

    @property
    def label(self) -> str:
        """``name v<version>`` (``ensemble v3``)."""
        return f"{self.name} v{self.version}"
