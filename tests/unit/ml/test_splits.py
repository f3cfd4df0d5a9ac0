"""Walk-forward splits: a hand-worked case, and properties over random pooled series (no train label window
reaches a test bar, train precedes test, every test bar is tested once, the embargo holds)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tsbot.core.errors import DataError
from tsbot.ml.splits import walk_forward_splits


def test_hand_worked_three_folds() -> None:
    splits = walk_forward_splits(25, 3, horizon_bars=2, embargo_bars=2, min_train_bars=10)
    # test blocks: 10..14, 15..19, 20..24
    assert [s.test_idx.tolist() for s in splits] == [
        list(range(10, 15)),
        list(range(15, 20)),
        list(range(20, 25)),
    ]
    assert [(s.test_start, s.test_end) for s in splits] == [(10, 14), (15, 19), (20, 24)]
    assert splits[0].train_idx.tolist() == list(range(0, 8))  # 8 and 9 purged: labels reach bar 10
    assert splits[1].train_idx.tolist() == list(range(0, 13))
    # fold 3: purged after 17; bars 15 and 16 embargoed after block 1 (bars 20, 21 after block 2 are tested)
    assert splits[2].train_idx.tolist() == [*range(0, 15), 17]


def test_label_end_times_purge_a_series_with_gaps() -> None:
    # one series with a gap: its bar at t=7 labels with the bar at t=12 (horizon 1 bar, 5 hours later)
    times = np.array([0, 1, 2, 3, 4, 5, 6, 7, 12, 13, 14, 15])
    ends = np.array([1, 2, 3, 4, 5, 6, 7, 12, 13, 14, 15, 16])
    split = walk_forward_splits(
        times, 1, horizon_bars=1, embargo_bars=0, min_train_bars=8, label_end_times=ends
    )[0]
    assert split.test_idx.tolist() == [8, 9, 10, 11]
    assert split.train_idx.tolist() == [0, 1, 2, 3, 4, 5, 6]  # t=7 is purged: its label ends inside the test


def test_too_few_bars_is_a_data_error() -> None:
    with pytest.raises(DataError, match="too few"):
        walk_forward_splits(12, 5, horizon_bars=1, embargo_bars=0, min_train_bars=10)


@st.composite
def pooled_series(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray, int]:
    horizon = draw(st.integers(0, 8))
    times: list[int] = []
    ends: list[int] = []
    for _ in range(draw(st.integers(1, 3))):
        start = draw(st.integers(0, 30))
        steps = draw(st.lists(st.integers(1, 3), min_size=horizon + 5, max_size=120))
        own = np.cumsum([start, *steps])
        times.extend(own[: len(own) - horizon].tolist())
        ends.extend(own[horizon:].tolist())
    return np.array(times, dtype=np.int64), np.array(ends, dtype=np.int64), horizon


@settings(max_examples=60, deadline=None)
@given(
    data=pooled_series(),
    folds=st.integers(1, 5),
    embargo=st.integers(0, 6),
    min_train=st.integers(1, 20),
)
def test_split_properties(
    data: tuple[np.ndarray, np.ndarray, int], folds: int, embargo: int, min_train: int
) -> None:
    times, ends, horizon = data
    grid = np.unique(times)
    if grid.size < min_train + folds:
        with pytest.raises(DataError):
            walk_forward_splits(
                times, folds, horizon_bars=horizon, embargo_bars=embargo, min_train_bars=min_train
            )
        return
    splits = walk_forward_splits(
        times,
        folds,
        horizon_bars=horizon,
        embargo_bars=embargo,
        min_train_bars=min_train,
        label_end_times=ends,
    )
    assert len(splits) == folds
    tested = np.concatenate([s.test_idx for s in splits])
    first_test = splits[0].test_start
    assert sorted(tested.tolist()) == np.flatnonzero(times >= first_test).tolist()  # each tested exactly once
    rank = np.searchsorted(grid, times)
    for k, s in enumerate(splits):
        assert s.test_idx.size > 0
        assert (times[s.test_idx] >= s.test_start).all() and (times[s.test_idx] <= s.test_end).all()
        if s.train_idx.size:
            assert times[s.train_idx].max() < s.test_start  # train before test
            assert ends[s.train_idx].max() < s.test_start  # no label window reaches a test bar
        for earlier in splits[:k]:
            end_rank = int(np.searchsorted(grid, earlier.test_end))
            after = (rank > end_rank) & (rank <= end_rank + embargo)
            assert not np.isin(np.flatnonzero(after), s.train_idx).any()  # embargo
