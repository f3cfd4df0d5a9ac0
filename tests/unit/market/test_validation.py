"""Candle validation: each kind of corrupt row is rejected and counted; gaps are found."""

from __future__ import annotations

import numpy as np
import pytest

from tsbot.market.models import Timeframe
from tsbot.market.validation import REJECT_REASONS, validate_rows

H = 3_600_000
T0 = 1_609_459_200_000  # 2021-01-01T00:00Z


def _row(i: int, o=10.0, h=11.0, low=9.0, c=10.5, v=5.0) -> list[float]:
    return [T0 + i * H, o, h, low, c, v]


def test_clean_rows_pass_untouched() -> None:
    rows = np.array([_row(i) for i in range(5)])
    result = validate_rows(rows, Timeframe.H1)
    assert len(result.frame) == 5
    assert result.rejected == dict.fromkeys(REJECT_REASONS, 0)
    assert result.gaps == []
    np.testing.assert_array_equal(result.frame.open_time_ms, rows[:, 0].astype(np.int64))


def test_each_corrupt_row_is_rejected_under_its_reason() -> None:
    rows = np.array(
        [
            _row(0),
            _row(1, c=float("nan")),  # NaN close
            _row(2, o=float("inf")),  # infinite open
            _row(3, low=0.0),  # non-positive price
            _row(4, o=-1.0),  # negative price
            _row(5, v=-3.0),  # negative volume
            _row(6, h=8.0, low=9.0, o=8.5, c=8.5),  # high < low
            _row(7, c=12.0),  # close above high
            [T0 + 8 * H + 60_000, 10, 11, 9, 10.5, 5],  # open time not on the hour
            _row(9),
            _row(9, c=10.9),  # duplicate open time: the first one is kept
            _row(10),
        ]
    )
    result = validate_rows(rows, Timeframe.H1)
    assert result.rejected == {
        "nan": 2,
        "non_positive_price": 2,
        "negative_volume": 1,
        "high_below_low": 1,
        "open_close_outside_range": 1,
        "misaligned_time": 1,
        "duplicate_time": 1,
    }
    assert len(result.frame) == 3
    assert result.frame.close[1] == 10.5  # first of the duplicates
    # bars 1..8 are missing between bar 0 and bar 9
    assert [(g.start_ms, g.missing) for g in result.gaps] == [(T0 + H, 8)]


def test_unsorted_rows_are_sorted_and_gaps_reported() -> None:
    rows = np.array([_row(3), _row(0), _row(1), _row(7)])
    result = validate_rows(rows, Timeframe.H1)
    assert result.frame.open_time_ms.tolist() == [T0, T0 + H, T0 + 3 * H, T0 + 7 * H]
    assert [(g.start_ms, g.missing) for g in result.gaps] == [(T0 + 2 * H, 1), (T0 + 4 * H, 3)]
    assert result.missing_bars == 4


def test_empty_and_wrong_shape() -> None:
    assert len(validate_rows(np.empty((0, 6)), Timeframe.H1).frame) == 0
    with pytest.raises(ValueError, match="shape"):
        validate_rows(np.ones((3, 4)), Timeframe.H1)
