"""Labels against hand-computed cases: forward-return sign with a dead zone, and the triple barrier."""

from __future__ import annotations

import numpy as np
import pytest

from tsbot.core.errors import DataError
from tsbot.ml.labels import forward_labels, triple_barrier_labels


def test_forward_labels_by_hand() -> None:
    close = np.array([100.0, 101.0, 100.2, 99.0, 100.0, 102.0])
    labels, valid = forward_labels(close, 2, 0.005)
    # r: +0.2 % (flat), -1.98 % (down), -0.2 % (flat), +3.03 % (up), then no label for the last two bars
    assert labels.dtype == np.int8
    assert labels.tolist() == [0, -1, 0, 1, 0, 0]
    assert valid.tolist() == [True, True, True, True, False, False]
    without_dead_zone, _ = forward_labels(close, 2, 0.0)
    assert without_dead_zone.tolist() == [1, -1, -1, 1, 0, 0]


def test_a_return_exactly_at_the_dead_zone_is_not_flat() -> None:
    labels, valid = forward_labels(np.array([1.0, 1.25, 0.75, 1.0]), 1, 0.25)
    # 1.25 / 1 - 1 = +0.25, 0.75 / 1.25 - 1 = -0.4, 1 / 0.75 - 1 = +0.333
    assert labels.tolist() == [1, -1, 1, 0] and valid.tolist() == [True, True, True, False]
    flat, _ = forward_labels(np.array([1.0, 1.25]), 1, 0.2500001)
    assert flat.tolist() == [0, 0]


def test_forward_labels_skip_missing_closes_and_short_series() -> None:
    labels, valid = forward_labels(np.array([100.0, np.nan, 103.0, 90.0]), 1, 0.0)
    assert valid.tolist() == [False, False, True, False]
    assert labels.tolist() == [0, 0, -1, 0]
    labels, valid = forward_labels(np.array([1.0, 2.0]), 5, 0.0)
    assert not valid.any() and labels.tolist() == [0, 0]
    with pytest.raises(DataError, match="horizon"):
        forward_labels(np.array([1.0, 2.0]), 0, 0.0)


def _barrier_case() -> tuple[np.ndarray, ...]:
    close = np.array([100.0, 101.0, 102.5, 99.0, 98.0, 100.0, 100.0, 100.0])
    high = np.array([100.5, 101.5, 102.6, 103.0, 99.0, 100.5, 100.5, 100.5])
    low = np.array([99.5, 100.5, 101.0, 98.5, 97.5, 99.5, 99.5, 99.5])
    atr = np.ones(8)
    return high, low, close, atr


def test_triple_barrier_by_hand() -> None:
    high, low, close, atr = _barrier_case()
    labels, valid = triple_barrier_labels(high, low, close, atr, 3, 2.0)
    # bar 0: barriers 102 / 98; bar 2's high 102.6 touches the upper first            -> +1
    # bar 1: barriers 103 / 99; bar 3 touches both (high 103, low 98.5): pessimistic  -> -1
    # bar 2: barriers 104.5 / 100.5; bar 3's low 98.5 touches the lower               -> -1
    # bar 3: barriers 101 / 97; bars 4-6 touch neither: vertical barrier              ->  0
    # bar 4: barriers 100 / 96; bar 5's high 100.5 touches the upper                  -> +1
    assert labels.tolist() == [1, -1, -1, 0, 1, 0, 0, 0]
    assert valid.tolist() == [True] * 5 + [False] * 3


def test_triple_barrier_wider_barriers_and_missing_atr() -> None:
    high, low, close, atr = _barrier_case()
    atr[0] = np.nan
    labels, valid = triple_barrier_labels(high, low, close, atr, 3, 10.0)
    assert valid.tolist() == [False] + [True] * 4 + [False] * 3
    assert labels.tolist() == [0] * 8  # 10 ATRs are never reached: every label is the vertical barrier
    labels, _ = triple_barrier_labels(high, low, close, np.ones(8), 1, 1.0)
    # one bar ahead: bar 0 (101/99): high 101.5 -> +1; bar 1 (102/100): high 102.6 -> +1;
    # bar 2 (103.5/101.5): low 98.5 -> -1; bar 3 (100/98): low 97.5 -> -1; bar 4 (99/97): high 100.5 -> +1
    assert labels[:5].tolist() == [1, 1, -1, -1, 1]


def test_triple_barrier_refuses_bad_arguments() -> None:
    high, low, close, atr = _barrier_case()
    with pytest.raises(DataError, match="multiple"):
        triple_barrier_labels(high, low, close, atr, 3, 0.0)
    with pytest.raises(DataError, match="same length"):
        triple_barrier_labels(high[:-1], low, close, atr, 3, 1.0)
