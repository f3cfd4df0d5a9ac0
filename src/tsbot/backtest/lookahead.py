"""Look-ahead and recursion checks for strategies.

*Look-ahead*: a strategy's plan row ``i`` must be what it would have been had the data ended at bar ``i``. The check
computes the plan over the whole series once, then again over the series cut at each sampled bar ``i`` (candles and
context), and compares row ``i`` of both: entry, exit, order type and price, stop-loss, take-profits and trailing
stop. Any difference means the strategy used a later bar.

*Recursion*: a value must not depend on how much history came before it (an indicator seeded at the first bar, a
cumulative sum). The check computes the plan on the series with its first ``offset`` bars removed and compares the
rows both runs share once both have ``settle_bars`` of history.

Prices are compared with a relative tolerance of 1e-9 (TA-Lib's Wilder smoothing keeps a seed weight far below
that after a few hundred bars); signals and flags must be equal.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from tsbot.backtest.models import OrderPlan
from tsbot.backtest.strategies.base import SeriesContext, Strategy
from tsbot.market.models import CandleFrame

#: Relative tolerance on prices.
PRICE_RTOL = 1e-9

_EXACT = ("entry", "exit", "entry_kind")
_PRICES = ("entry_price", "stop_loss", "take_profit", "trailing_stop")


@dataclass(frozen=True, slots=True)
class Difference:
    """One plan value that changed: the bar, its open time (ms, UTC), the field, and both values."""

    bar: int
    time_ms: int
    field: str
    full: float
    cut: float
    check: str  # "lookahead" or "recursion"

    def to_dict(self) -> dict[str, object]:
        return {
            "bar": self.bar,
            "time_ms": self.time_ms,
            "field": self.field,
            "full": None if np.isnan(self.full) else self.full,
            "cut": None if np.isnan(self.cut) else self.cut,
            "check": self.check,
        }


@dataclass(slots=True)
class LookaheadReport:
    """What the checks compared and every difference found (empty: the strategy passed)."""

    strategy: str
    series: str
    bars: int
    checked_bars: int
    recursion_bars: int
    differences: list[Difference] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.differences

    def to_dict(self) -> dict[str, object]:
        return {
            "strategy": self.strategy,
            "series": self.series,
            "bars": self.bars,
            "checked_bars": self.checked_bars,
            "recursion_bars": self.recursion_bars,
            "passed": self.passed,
            "differences": [d.to_dict() for d in self.differences[:100]],
            "difference_count": len(self.differences),
        }


def _row(plan: OrderPlan, i: int) -> dict[str, np.ndarray]:
    return {
        "entry": np.asarray([plan.entry[i]], dtype=np.float64),
        "exit": np.asarray([plan.exit[i]], dtype=np.float64),
        "entry_kind": np.asarray([plan.entry_kind[i]], dtype=np.float64),
        "entry_price": np.asarray([plan.entry_price[i]]),
        "stop_loss": np.asarray([plan.stop_loss[i]]),
        "take_profit": np.asarray(plan.take_profit[i]).reshape(-1),
        "trailing_stop": np.asarray([plan.trailing_stop[i]]),
    }


def _compare(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> list[tuple[str, float, float]]:
    out: list[tuple[str, float, float]] = []
    for name in (*_EXACT, *_PRICES):
        x, y = a[name], b[name]
        if x.shape != y.shape:
            out.append((name, float(x.size), float(y.size)))
            continue
        for j in range(x.size):
            xv, yv = float(x[j]), float(y[j])
            if np.isnan(xv) and np.isnan(yv):
                continue
            same = xv == yv if name in _EXACT else np.isclose(xv, yv, rtol=PRICE_RTOL, atol=0.0)
            if not same:
                label = name if x.size == 1 else f"{name}[{j}]"
                out.append((label, xv, yv))
    return out


def sample_bars(n: int, first: int, samples: int) -> list[int]:
    """``samples`` bars spread evenly over ``first..n-1`` (the last bar always included)."""
    if n <= first:
        return []
    if samples >= n - first:
        return list(range(first, n))
    picks = np.unique(np.linspace(first, n - 1, samples).round().astype(int))
    return [int(i) for i in picks]


def check_strategy(
    strategy: Strategy,
    candles: CandleFrame,
    context: SeriesContext | None = None,
    *,
    series: str = "",
    samples: int = 100,
    recursion_offset: int | None = None,
    settle_bars: int | None = None,
) -> LookaheadReport:
    """Run both checks on one series.

    Args:
        strategy: the strategy to check.
        candles: the series, oldest first.
        context: its point-in-time context (cut along with the candles).
        series: a label for the report.
        samples: bars checked for look-ahead (spread evenly after the warm-up).
        recursion_offset: bars dropped from the start for the recursion check (default: the warm-up, at least 200).
        settle_bars: history both runs need before rows are compared (default: 3 x the strategy's warm-up).
    """
    ctx = context or SeriesContext()
    n = len(candles)
    warmup = strategy.warmup_bars()
    full = strategy.plan(candles, ctx)
    report = LookaheadReport(strategy=strategy.name, series=series, bars=n, checked_bars=0, recursion_bars=0)
    t = candles.open_time_ms
    for i in sample_bars(n, warmup, samples):
        cut = strategy.plan(candles.window(0, i + 1), ctx.cut(i + 1), start=i)
        report.checked_bars += 1
        for name, a, b in _compare(_row(full, i), _row(cut, i)):
            report.differences.append(Difference(i, int(t[i]), name, a, b, "lookahead"))

    offset = recursion_offset if recursion_offset is not None else max(warmup, 200)
    settle = settle_bars if settle_bars is not None else 3 * warmup
    if n > offset + settle:
        later = strategy.plan(candles.window(offset, n), ctx.cut(n, offset))
        for i in sample_bars(n, offset + settle, samples):
            report.recursion_bars += 1
            for name, a, b in _compare(_row(full, i), _row(later, i - offset)):
                report.differences.append(Difference(i, int(t[i]), name, a, b, "recursion"))
    return report
