"""Scoring with a trained ensemble: a batch of series at their last bar (scan), or every bar of one series
(backtest), and the scorer source that loads the registry's active model."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from tsbot.market.models import CandleFrame, SeriesKey, Timeframe
from tsbot.ml.ensemble import Ensemble
from tsbot.ml.features import MIN_HISTORY_BARS, feature_matrix, last_feature_rows
from tsbot.ml.models import ModelRecord
from tsbot.ml.ports import ModelRegistry


class MlScorer:
    """A trained :class:`Ensemble` turned into ML scores in [-1, 1] (``P(up) - P(down)``).

    Args:
        ensemble: a trained ensemble.
        record: its registry record, when it came from the registry; its ``timeframe`` limits
            :meth:`applies_to`.
    """

    def __init__(self, ensemble: Ensemble, record: ModelRecord | None = None) -> None:
        self.ensemble = ensemble
        self.record = record

    @property
    def timeframe(self) -> Timeframe | None:
        """The timeframe the model was trained on (None when unknown: it then scores any series)."""
        return self.record.timeframe if self.record is not None else None

    def applies_to(self, key: SeriesKey) -> bool:
        """Whether this model should score a series: its timeframe is the model's (a model trained on 1h bars
        learned 1h horizons)."""
        return self.timeframe is None or key.timeframe == self.timeframe

    def score_rows(self, x: np.ndarray) -> np.ndarray:
        """Scores of feature rows: ``x`` float64 ``(m, len(ML_FEATURES))`` -> float64 ``(m,)`` in [-1, 1], all rows
        in one batch. NaN features are allowed (a row of NaN gets a finite score)."""
        return self.ensemble.score(x)

    def score_frames(self, frames: Sequence[CandleFrame]) -> np.ndarray:
        """The score of each frame at its last bar, all frames in one batch.

        Args:
            frames: candle windows, each ending at its signal bar (a scan passes ``lookback_bars`` = 500 bars;
                windows of 500 bars or more give the same rows as the whole series).

        Returns:
            float64 ``(len(frames),)`` in [-1, 1]; NaN for a frame shorter than :data:`MIN_HISTORY_BARS`
            (its features are not all defined yet).
        """
        out = np.full(len(frames), np.nan)
        ready = [k for k, f in enumerate(frames) if len(f) >= MIN_HISTORY_BARS]
        if ready:
            rows = last_feature_rows([frames[k] for k in ready])
            out[ready] = self.score_rows(rows)
        return out

    def score_series(self, frame: CandleFrame) -> np.ndarray:
        """The score at every bar of one series, as a backtest needs it: float64 ``(len(frame),)``; entry ``i``
        uses bars ``0..i`` only, NaN for ``i < MIN_HISTORY_BARS - 1``. Equal (to about 1e-9) to
        :meth:`score_frames` of the 500-bar window ending at ``i`` for ``i >= 499``."""
        out = np.full(len(frame), np.nan)
        if len(frame) >= MIN_HISTORY_BARS:
            start = MIN_HISTORY_BARS - 1
            out[start:] = self.score_rows(feature_matrix(frame)[start:])
        return out


class ActiveModelSource:
    """:class:`tsbot.ml.ports.MlScorerSource` over a registry: the active model of ``name``, loaded at the first
    call and kept for the life of this object (while none is active, each call asks the registry again, so a model
    trained later is picked up). :meth:`refresh` forgets the loaded one.

    Raises (from :meth:`scorer`):
        tsbot.core.errors.DataError: the active artifact cannot be read or was trained on other features.
    """

    def __init__(self, registry: ModelRegistry, name: str, *, n_jobs: int | None = None) -> None:
        self._registry = registry
        self._name = name
        self._n_jobs = n_jobs
        self._scorer: MlScorer | None = None

    async def scorer(self) -> MlScorer | None:
        if self._scorer is None:
            found = await self._registry.active(self._name)
            if found is not None:
                record, artifact = found
                self._scorer = MlScorer(Ensemble.from_bytes(artifact, n_jobs=self._n_jobs), record)
        return self._scorer

    def refresh(self) -> None:
        """Load the active model again at the next :meth:`scorer` call."""
        self._scorer = None
