"""A portfolio's performance from its daily equity snapshots: return, Sharpe ratio, maximum drawdown and its
duration, and one-day Value at Risk over a chosen period.

Conventions:

* One snapshot per UTC day (``performance_daily``), taken from a :class:`~tsbot.trading.portfolio.Valuation`.
  Returns are simple returns between consecutive snapshots, ``equity[i] / equity[i - 1] - 1``; a missing day makes
  one return span the gap. Deposits and withdrawals are not told apart from gains and losses (the snapshots keep
  no cash flows), so a deposit shows as a positive return.
* Annualisation uses 365 days a year: crypto trades every day, and the snapshots are daily, so a stock-only
  portfolio is measured on calendar days too (its weekend returns are 0; a 252-trading-day figure would differ).
* Statistics are computed in float64 with :mod:`tsbot.backtest.stats` (Sharpe ratio, drawdown, returns: the same
  formulas as backtests); money stays :class:`~decimal.Decimal`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from enum import StrEnum

import numpy as np

from tsbot.backtest.stats import DAY_MS, bar_returns, drawdown, equity_stats
from tsbot.core.errors import ConfigError, DataError
from tsbot.trading.portfolio import Valuation

#: Days a year used to annualise daily figures (calendar days: crypto trades every day).
DAYS_PER_YEAR = 365
#: Fewest daily returns for the Sharpe ratio (a sample standard deviation needs two).
MIN_RETURNS_SHARPE = 2
#: Fewest daily returns for the 95 % VaR: with 20, the worst 5 % holds one day.
MIN_RETURNS_VAR = 20
VAR_LEVEL = 0.95


@dataclass(frozen=True, slots=True)
class DailySnapshot:
    """A portfolio at the end of one UTC ``day``; money in the portfolio's base currency.

    ``equity = cash + positions_value``; ``realised_pnl`` and ``fees`` are cumulative since the portfolio began.
    """

    day: date
    equity: Decimal
    cash: Decimal
    positions_value: Decimal
    realised_pnl: Decimal
    unrealised_pnl: Decimal
    fees: Decimal


def snapshot_from(valuation: Valuation, day: date) -> DailySnapshot:
    """The snapshot of ``valuation`` for the UTC ``day`` (a datetime is taken as its UTC date)."""
    if isinstance(day, datetime):
        day = day.astimezone(UTC).date() if day.tzinfo else day.date()
    return DailySnapshot(
        day=day,
        equity=valuation.equity,
        cash=valuation.cash,
        positions_value=valuation.positions_value,
        realised_pnl=valuation.realised_pnl,
        unrealised_pnl=valuation.unrealised_pnl,
        fees=valuation.fees,
    )


class Period(StrEnum):
    """A look-back window ending on the ``as_of`` day: ``7d`` covers the snapshots from 7 days before it to it
    (8 snapshots, 7 daily returns); ``all`` every snapshot up to it."""

    D1 = "1d"
    D7 = "7d"
    D30 = "30d"
    D90 = "90d"
    Y1 = "1y"
    ALL = "all"

    @property
    def days(self) -> int | None:
        """Length in days (``1y`` = 365); None for ``all``."""
        return None if self is Period.ALL else {"1d": 1, "7d": 7, "30d": 30, "90d": 90, "1y": 365}[self.value]


def parse_period(value: str | Period) -> Period:
    """The :class:`Period` named ``value`` (case and surrounding spaces ignored).

    Raises:
        ConfigError: any other value, listing the allowed ones.
    """
    try:
        return Period(str(value).strip().lower())
    except ValueError:
        allowed = ", ".join(p.value for p in Period)
        raise ConfigError(f"period {value!r} is not one of {allowed}") from None


@dataclass(frozen=True, slots=True)
class PerformanceStats:
    """Figures of one period. Ratios are fractions (0.05 = 5 %); None where the period has too few snapshots.

    Attributes:
        period: the window asked for.
        start_day, end_day: UTC days of the first and last snapshot used.
        days: calendar days from ``start_day`` to ``end_day``.
        snapshots: snapshots used; ``snapshots - 1`` daily returns.
        start_equity, end_equity: base currency.
        return_ratio: ``end_equity / start_equity - 1``; needs 2 snapshots and a positive start equity.
        sharpe: annualised Sharpe ratio of daily returns, risk-free rate 0:
            ``mean(r) / std(r, ddof=1) * sqrt(365)`` (0.0 for a flat curve); needs 2 returns (3 snapshots).
        max_drawdown_ratio: largest fall below a running peak, positive (0.25 = 25 %); needs 2 snapshots.
        max_drawdown_days: longest time below a previous peak in calendar days, from the peak's day to the first
            day back at or above it (or to ``end_day`` when it never recovered); needs 2 snapshots.
        var_95_ratio: one-day historical Value at Risk at 95 %: the loss, as a positive fraction of equity, not
            exceeded on 95 % of the days (0 when even the 5th-percentile day was a gain); needs 20 returns.
    """

    period: Period
    start_day: date
    end_day: date
    days: int
    snapshots: int
    start_equity: Decimal
    end_equity: Decimal
    return_ratio: float | None
    sharpe: float | None
    max_drawdown_ratio: float | None
    max_drawdown_days: int | None
    var_95_ratio: float | None


def historical_var(returns: np.ndarray, level: float = VAR_LEVEL) -> float:
    """One-day historical-simulation Value at Risk (J. P. Morgan/Reuters, RiskMetrics Technical Document, 1996;
    P. Jorion, "Value at Risk", ch. on historical simulation): ``max(0, -q)`` where ``q`` is the ``1 - level``
    empirical quantile of the daily returns, linear interpolation between order statistics (numpy's default,
    Hyndman & Fan type 7). Returns a positive loss fraction (0.031 = 3.1 % of equity).

    Raises:
        DataError: no returns, or a level outside (0, 1).
    """
    r = np.asarray(returns, dtype=np.float64)
    if r.size == 0:
        raise DataError("Value at Risk needs at least one return")
    if not 0.0 < level < 1.0:
        raise DataError(f"VaR level must be between 0 and 1, got {level}")
    return max(0.0, -float(np.quantile(r, 1.0 - level)))


def _underwater_days(points: np.ndarray, days: Sequence[date]) -> int:
    """Longest stretch, in calendar days, from a peak to the first snapshot back at or above it (or the last)."""
    under = drawdown(points) > 0
    longest, peak = 0, 0
    for i in range(points.size):
        if not under[i]:
            if i > peak + 1:
                longest = max(longest, (days[i] - days[peak]).days)
            peak = i
    if under[-1]:
        longest = max(longest, (days[-1] - days[peak]).days)
    return longest


def _window(snapshots: Sequence[DailySnapshot], period: Period, as_of: date | None) -> list[DailySnapshot]:
    ordered = sorted(snapshots, key=lambda s: s.day)
    for a, b in zip(ordered, ordered[1:], strict=False):
        if a.day == b.day:
            raise DataError(f"two snapshots for {a.day}; keep one per UTC day")
    if not ordered:
        raise DataError("the portfolio has no daily snapshot yet; one is taken each UTC day")
    end = as_of if as_of is not None else ordered[-1].day
    start = None if period.days is None else end - timedelta(days=period.days)
    chosen = [s for s in ordered if s.day <= end and (start is None or s.day >= start)]
    if not chosen:
        raise DataError(f"no daily snapshot between {start or 'the start'} and {end} (period {period.value})")
    return chosen


def performance_stats(
    snapshots: Sequence[DailySnapshot], period: str | Period, *, as_of: date | None = None
) -> PerformanceStats:
    """Return, Sharpe ratio, maximum drawdown and 95 % VaR of the snapshots in ``period`` ending on ``as_of``.

    Args:
        snapshots: daily snapshots, any order, one per UTC day.
        period: ``1d``, ``7d``, ``30d``, ``90d``, ``1y`` or ``all`` (see :class:`Period`).
        as_of: the last UTC day of the window; default the day of the newest snapshot.

    Raises:
        ConfigError: an unknown period.
        DataError: no snapshot in the window, two snapshots on one day, or an equity that is not finite.
    """
    p = parse_period(period)
    chosen = _window(snapshots, p, as_of)
    if not all(s.equity.is_finite() for s in chosen):
        raise DataError("a daily snapshot holds a non-finite equity")
    first, last = chosen[0], chosen[-1]
    points = np.array([float(s.equity) for s in chosen], dtype=np.float64)
    n_returns = points.size - 1
    return_ratio = sharpe = max_dd = var = None
    dd_days: int | None = None
    if n_returns >= 1:
        max_dd = float(drawdown(points).max())
        dd_days = _underwater_days(points, [s.day for s in chosen])
    if n_returns >= 1 and first.equity > 0:
        return_ratio = float(last.equity / first.equity - 1)
        times = np.array([_day_ms(s.day) - DAY_MS for s in chosen[1:]], dtype=np.int64)
        eq = equity_stats(
            times, points[1:], initial_equity=points[0], bar_ms=DAY_MS, bars_per_year=DAYS_PER_YEAR
        )
        sharpe = eq.sharpe if n_returns >= MIN_RETURNS_SHARPE else None
        if n_returns >= MIN_RETURNS_VAR:
            var = historical_var(bar_returns(points[1:], points[0]))
    return PerformanceStats(
        period=p,
        start_day=first.day,
        end_day=last.day,
        days=(last.day - first.day).days,
        snapshots=len(chosen),
        start_equity=first.equity,
        end_equity=last.equity,
        return_ratio=return_ratio,
        sharpe=None if sharpe is None or not math.isfinite(sharpe) else sharpe,
        max_drawdown_ratio=max_dd,
        max_drawdown_days=dd_days,
        var_95_ratio=var,
    )


def _day_ms(day: date) -> int:
    return int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp() * 1000)
