"""Walk-forward splits, purged and embargoed (López de Prado, *Advances in Financial Machine Learning*, 2018,
ch. 7.4).

Samples are bars (of one series, or of several series pooled). Time is the ordered set of distinct sample times
(bar open times in ms UTC, shared by every symbol of a timeframe), so all symbols share the fold boundaries. The
times after the first ``min_train_bars`` are cut into ``folds`` consecutive test blocks; each block is tested by a
model trained on samples before it (an expanding window), except:

* purged: a training sample whose label window (its bar up to its label's last bar, ``horizon_bars`` later by
  default) reaches into the test block is dropped, because its label was decided by test-period prices;
* embargoed: samples within ``embargo_bars`` after an earlier test block are dropped from later training sets
  (their features overlap the tested period through rolling windows).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tsbot.core.errors import DataError


@dataclass(frozen=True, slots=True)
class Split:
    """One walk-forward fold.

    Attributes:
        train_idx: int64 indices of training samples (into the arrays given to :func:`walk_forward_splits`).
        test_idx: int64 indices of test samples.
        test_start, test_end: first and last time of the test block, in the units of the given times (ms UTC,
            or bar numbers when a bar count was given).
    """

    train_idx: np.ndarray
    test_idx: np.ndarray
    test_start: int
    test_end: int


def walk_forward_splits(
    times: np.ndarray | int,
    folds: int,
    horizon_bars: int,
    embargo_bars: int,
    min_train_bars: int,
    label_end_times: np.ndarray | None = None,
) -> list[Split]:
    """Expanding-window walk-forward splits with purging and an embargo.

    Args:
        times: the time of each sample, shape ``(s,)`` (int64 bar open times in ms UTC, in any order, repeated
            across symbols), or a bar count ``n`` meaning samples ``0..n-1`` at times ``0..n-1``.
        folds: number of test blocks (>= 1).
        horizon_bars: bars a label looks ahead; used when ``label_end_times`` is None: a sample's label window
            ends ``horizon_bars`` steps later on the shared time grid.
        embargo_bars: steps of the time grid after each test block whose samples never enter a later training
            set.
        min_train_bars: steps of the time grid before the first test block.
        label_end_times: optional, shape ``(s,)``: the time of the last bar each sample's label depends on (for a
            series with gaps this is exact where ``horizon_bars`` steps on the shared grid are not).

    Returns:
        ``folds`` splits in time order. Every sample at or after the first test block is in exactly one test set;
        each training sample lies before its test block and its label window ends before it.

    Raises:
        DataError: fewer distinct times than ``min_train_bars + folds``, or bad arguments.
    """
    if isinstance(times, int | np.integer):
        t = np.arange(int(times), dtype=np.int64)
    else:
        t = np.asarray(times, dtype=np.int64)
    if folds < 1 or horizon_bars < 0 or embargo_bars < 0 or min_train_bars < 1:
        raise DataError(
            f"bad split settings: folds={folds}, horizon_bars={horizon_bars}, embargo_bars={embargo_bars}, "
            f"min_train_bars={min_train_bars}"
        )
    grid = np.unique(t)
    steps = grid.shape[0]
    if steps < min_train_bars + folds:
        raise DataError(
            f"{steps} distinct bar times are too few for {min_train_bars} training bars and {folds} test folds"
        )
    rank = np.searchsorted(grid, t)
    if label_end_times is None:
        end_rank = rank + horizon_bars
    else:
        ends = np.asarray(label_end_times, dtype=np.int64)
        if ends.shape != t.shape or (ends < t).any():
            raise DataError("label_end_times must have one time per sample, none before the sample's own")
        end_rank = np.searchsorted(grid, ends, side="left")
    bounds = np.linspace(min_train_bars, steps, folds + 1).round().astype(np.int64)
    embargoed = np.zeros(t.shape[0], dtype=bool)
    out: list[Split] = []
    for k in range(folds):
        lo, hi = int(bounds[k]), int(bounds[k + 1])
        test = (rank >= lo) & (rank < hi)
        train = (rank < lo) & (end_rank < lo) & ~embargoed
        out.append(
            Split(
                np.flatnonzero(train),
                np.flatnonzero(test),
                int(grid[lo]),
                int(grid[hi - 1]),
            )
        )
        embargoed |= (rank >= hi) & (rank < hi + embargo_bars)
    return out
