"""Portfolio performance from daily snapshots: periods, return, Sharpe ratio against a direct numpy computation,
maximum drawdown and its duration in days, historical 95 % VaR on a worked return series, and the figures left
out when the period is too short."""

from __future__ import annotations

import math
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal as D

import numpy as np
import pytest

from tsbot.core.errors import ConfigError, DataError
from tsbot.trading.models import Fill, OrderSide
from tsbot.trading.performance import (
    DailySnapshot,
    Period,
    historical_var,
    parse_period,
    performance_stats,
    snapshot_from,
)
from tsbot.trading.portfolio import Book

DAY0 = date(2026, 1, 1)


def snaps(
    equities: list[str | int], start: date = DAY0, days: list[int] | None = None
) -> list[DailySnapshot]:
    offsets = days if days is not None else list(range(len(equities)))
    return [
        DailySnapshot(start + timedelta(days=o), D(e), D(e), D(0), D(0), D(0), D(0))
        for o, e in zip(offsets, equities, strict=True)
    ]


def test_periods_parse_and_unknown_ones_are_refused() -> None:
    assert parse_period(" 7D ") is Period.D7 and parse_period("all").days is None
    assert [p.days for p in Period] == [1, 7, 30, 90, 365, None]
    with pytest.raises(ConfigError, match="'2w' is not one of 1d, 7d, 30d, 90d, 1y, all"):
        parse_period("2w")  # bad input: a period that does not exist
    with pytest.raises(ConfigError):
        performance_stats(snaps([100, 110]), "week")  # bad input: the same through performance_stats


def test_the_window_ends_on_as_of_and_reaches_back_the_period() -> None:
    s = snaps([100 + i for i in range(40)])  # 2026-01-01 .. 2026-02-09
    st = performance_stats(s, "7d")
    assert (st.start_day, st.end_day, st.days, st.snapshots) == (date(2026, 2, 2), date(2026, 2, 9), 7, 8)
    assert (st.start_equity, st.end_equity) == (D(132), D(139))
    assert st.return_ratio == pytest.approx(139 / 132 - 1)
    st = performance_stats(s, Period.D30, as_of=date(2026, 1, 20))
    assert (st.start_day, st.end_day, st.snapshots) == (
        DAY0,
        date(2026, 1, 20),
        20,
    )  # only 19 days back exist
    assert performance_stats(s, "all").snapshots == 40
    assert performance_stats(s, "1d").snapshots == 2


def test_sharpe_matches_a_direct_numpy_computation() -> None:
    rng = np.random.default_rng(7)
    equity = 1000 * np.cumprod(1 + rng.normal(0.001, 0.02, 60))
    s = snaps([f"{e:.8f}" for e in equity])
    st = performance_stats(s, "all")
    eq = np.array([float(f"{e:.8f}") for e in equity])
    r = eq[1:] / eq[:-1] - 1
    assert st.sharpe == pytest.approx(r.mean() / r.std(ddof=1) * math.sqrt(365), rel=1e-9)
    assert (
        performance_stats(snaps([100, 100, 100]), "all").sharpe == 0.0
    )  # a flat curve has no risk to reward


def test_max_drawdown_and_its_duration_in_days() -> None:
    # Peak 120 on day 1, trough 90 (-25 %), back above at 125 on day 4: 3 days under; then 100 to the end (1 day).
    st = performance_stats(snaps([100, 120, 90, 110, 125, 100]), "all")
    assert st.max_drawdown_ratio == pytest.approx(0.25)
    assert st.max_drawdown_days == 3
    # With days missing the duration is counted on the calendar: peak on day 0, back at 100 on day 10.
    st = performance_stats(snaps([100, 80, 100, 101], days=[0, 2, 10, 11]), "all")
    assert (st.max_drawdown_ratio, st.max_drawdown_days) == (pytest.approx(0.2), 10)
    # Never recovered: from the peak (day 1) to the last day (day 5).
    st = performance_stats(snaps([100, 130, 120, 110, 100, 117]), "all")
    assert (st.max_drawdown_ratio, st.max_drawdown_days) == (pytest.approx(1 - 100 / 130), 4)
    assert performance_stats(snaps([100, 101, 102]), "all").max_drawdown_days == 0  # only new highs


def test_var_95_on_a_known_return_series() -> None:
    # 20 daily returns: -5 %, -3 % and eighteen days of +1 %. Sorted ascending, the 5 % quantile with linear
    # interpolation sits at position 0.05 * (20 - 1) = 0.95 between the worst two:
    # q = -0.05 + 0.95 * (-0.03 - -0.05) = -0.031, so the one-day 95 % VaR is a loss of 3.1 % of equity.
    returns = [D("-0.05"), D("0.01"), D("0.01"), D("-0.03")] + [D("0.01")] * 16
    equity = [D(1000)]
    for r in returns:
        equity.append(equity[-1] * (1 + r))
    st = performance_stats(snaps([str(e) for e in equity]), "all")
    assert st.var_95_ratio == pytest.approx(0.031, abs=1e-12)
    # 19 returns are not enough for the 5 % tail to hold one day.
    assert performance_stats(snaps([str(e) for e in equity[:20]]), "all").var_95_ratio is None
    # When even the 5th-percentile day gains, nothing is at risk: 0, not a negative loss.
    assert historical_var(np.full(30, 0.002)) == 0.0
    with pytest.raises(DataError):
        historical_var(np.array([]))  # bad input: no returns at all


def test_figures_needing_more_days_are_none() -> None:
    one = performance_stats(snaps([100]), "all")
    assert (
        one.return_ratio,
        one.sharpe,
        one.max_drawdown_ratio,
        one.max_drawdown_days,
        one.var_95_ratio,
    ) == (
        None,
        None,
        None,
        None,
        None,
    )
    two = performance_stats(snaps([100, 90]), "all")
    assert two.return_ratio == pytest.approx(-0.1) and two.max_drawdown_ratio == pytest.approx(0.1)
    assert two.sharpe is None  # one return has no standard deviation
    # A portfolio that started empty: no return can be measured from 0, the drawdown still can.
    empty_start = performance_stats(snaps([0, 100, 50]), "all")
    assert empty_start.return_ratio is None and empty_start.sharpe is None
    assert empty_start.max_drawdown_ratio == pytest.approx(0.5)


def test_bad_snapshot_sets_are_refused() -> None:
    with pytest.raises(DataError, match="no daily snapshot yet"):
        performance_stats([], "7d")  # bad input: nothing stored
    with pytest.raises(DataError, match="two snapshots for 2026-01-01"):
        performance_stats(snaps([100, 101], days=[0, 0]), "all")  # bad input: one day twice
    with pytest.raises(DataError, match="no daily snapshot between"):
        performance_stats(snaps([100, 101]), "7d", as_of=date(2025, 6, 1))  # bad input: as_of before them all
    bad = [DailySnapshot(DAY0, D("NaN"), D(0), D(0), D(0), D(0), D(0)), *snaps([1], start=date(2026, 1, 2))]
    with pytest.raises(DataError, match="non-finite"):
        performance_stats(bad, "all")  # bad input: a NaN equity


def test_snapshot_from_a_valuation() -> None:
    book = Book()
    at = datetime(2026, 3, 2, 23, 30, tzinfo=UTC)
    book.apply("acc", Fill("t1", "o1", "BTC/USDT", OrderSide.BUY, D(1), D(100), D("0.1"), "USDT", at))
    v = book.value({"BTC/USDT": D(120)}, {"USDT": D("899.9")})
    s = snapshot_from(v, at)
    assert s == DailySnapshot(date(2026, 3, 2), D("1019.9"), D("899.9"), D(120), D(0), D(20), D("0.1"))
