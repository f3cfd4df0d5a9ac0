"""Running a strategy over stored series: warm-up history, a trading window, and stitching runs together.

The plan of every series is computed over all the history loaded (so indicators are warm), then the candles and the
plan are cut to the trading window ``[start_ms, end_ms]`` and handed to the engine. Nothing after ``end_ms`` is ever
loaded into a plan, and rows before ``start_ms`` are never traded.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from functools import partial

import numpy as np

from tsbot.backtest.engine import PlanSource, run_backtest
from tsbot.backtest.models import (
    FILL_FIELDS,
    TRADE_FIELDS,
    BacktestConfig,
    BacktestResult,
    OrderPlan,
    SymbolResult,
)
from tsbot.backtest.strategies.base import SeriesContext, Strategy
from tsbot.core.errors import DataError
from tsbot.core.time import from_ms
from tsbot.market.models import CandleFrame, SeriesKey

_T_BARS = (TRADE_FIELDS.index("entry_bar"), TRADE_FIELDS.index("exit_bar"))
_F_BAR = FILL_FIELDS.index("bar")
_T_SYMBOL = TRADE_FIELDS.index("symbol")
_F_SYMBOL = FILL_FIELDS.index("symbol")
_FRAME_FIELDS = ("open_time_ms", "open", "high", "low", "close", "volume")


@dataclass(frozen=True, slots=True)
class SeriesData:
    """One series as a backtest sees it: its candles (with warm-up history) and their point-in-time context."""

    key: SeriesKey
    candles: CandleFrame
    context: SeriesContext = SeriesContext()


def slice_plan(plan: OrderPlan, start: int, stop: int) -> OrderPlan:
    """Rows ``start..stop-1`` of a plan."""
    s = slice(start, stop)
    return replace(
        plan,
        entry=plan.entry[s],
        exit=plan.exit[s],
        entry_kind=plan.entry_kind[s],
        entry_price=plan.entry_price[s],
        stop_loss=plan.stop_loss[s],
        take_profit=plan.take_profit[s],
        trailing_stop=plan.trailing_stop[s],
    )


def window_bounds(frame: CandleFrame, start_ms: int | None, end_ms: int | None) -> tuple[int, int]:
    """Index range ``[lo, hi)`` of the bars whose open time is within ``[start_ms, end_ms]`` (None: unbounded)."""
    t = frame.open_time_ms
    lo = 0 if start_ms is None else int(np.searchsorted(t, start_ms, side="left"))
    hi = len(frame) if end_ms is None else int(np.searchsorted(t, end_ms, side="right"))
    return lo, hi


def run_strategy(
    strategy: Strategy,
    data: Sequence[SeriesData],
    config: BacktestConfig,
    *,
    start_ms: int | None = None,
    end_ms: int | None = None,
    notes: list[str] | None = None,
) -> BacktestResult:
    """Backtest ``strategy`` on every series, trading only bars with open time in ``[start_ms, end_ms]``.

    A series whose window is empty, or that has fewer bars than the strategy's warm-up before the window ends, is
    left out with a note appended to ``notes``.

    Raises:
        DataError: no series can be traded (the message says why for each).
    """
    runs: list[tuple[SeriesKey, CandleFrame, PlanSource]] = []
    problems: list[str] = []
    warmup = strategy.warmup_bars()
    for item in data:
        lo, hi = window_bounds(item.candles, start_ms, end_ms)
        if hi <= lo:
            problems.append(f"{item.key.symbol}: no bars in the requested period{_stored_span(item.candles)}")
            continue
        if hi <= warmup:
            problems.append(
                f"{item.key.symbol}: {hi} bars up to the end of the period; {strategy.name} needs {warmup} "
                "bars of warm-up before its first signal"
            )
            continue
        history = item.candles.window(0, hi)
        make = partial(_window_plan, strategy, history, item.context.cut(hi), lo, hi)
        runs.append((item.key, history.window(lo, hi), make))
    if notes is not None:
        notes.extend(problems)
    if not runs:
        raise DataError("nothing to backtest: " + "; ".join(problems or ["no series given"]))
    return run_backtest(runs, strategy.broker(config))


def _stored_span(candles: CandleFrame) -> str:
    """``"; its bars open from A to B UTC"`` for a series with bars (minutes shown when a bar is intraday)."""
    if not len(candles):
        return "; it has no bars"
    first, last = (from_ms(int(candles.open_time_ms[i])) for i in (0, -1))
    daily = first.hour == first.minute == last.hour == last.minute == 0
    fmt = "%Y-%m-%d" if daily else "%Y-%m-%d %H:%M"
    return f"; its bars open from {first:{fmt}} to {last:{fmt}} UTC"


def _window_plan(
    strategy: Strategy, history: CandleFrame, context: SeriesContext, lo: int, hi: int
) -> OrderPlan:
    """The plan of bars ``lo..hi-1``, computed over all of ``history`` (made when the engine reaches the series)."""
    return slice_plan(strategy.plan(history, context, start=lo), lo, hi)


def concat_results(parts: Sequence[BacktestResult]) -> BacktestResult:
    """Stitch consecutive runs (walk-forward test folds) into one result over their union of bars.

    Each part must cover later bars than the one before; series are matched by key (a series missing from a part
    simply has no bars there). Bar indices of trades and fills are shifted so they index the stitched candles.
    """
    if not parts:
        raise DataError("no runs to stitch")
    keys: list[SeriesKey] = []
    for part in parts:
        for key in part.keys:
            if key not in keys:
                keys.append(key)
    symbols: list[SymbolResult] = []
    for idx, key in enumerate(keys):
        pieces = [p.symbols[p.keys.index(key)] for p in parts if key in p.keys]
        offset = 0
        trades, fills = [], []
        for piece in pieces:
            t = piece.trades.copy()
            f = piece.fills.copy()
            if len(t):
                t[:, _T_BARS[0]] += offset
                t[:, _T_BARS[1]] += offset
                t[:, _T_SYMBOL] = idx
            if len(f):
                f[:, _F_BAR] += offset
                f[:, _F_SYMBOL] = idx
            trades.append(t)
            fills.append(f)
            offset += len(piece.candles)
        frames = [p.candles for p in pieces]
        candles = CandleFrame(
            *(np.concatenate([getattr(fr, name) for fr in frames]) for name in _FRAME_FIELDS)
        )
        rejected: dict[str, int] = {}
        for piece in pieces:
            for reason, count in piece.rejected.items():
                rejected[reason] = rejected.get(reason, 0) + count
        symbols.append(
            SymbolResult(
                key=key,
                candles=candles,
                equity=np.concatenate([p.equity for p in pieces]),
                trades=np.vstack(trades) if trades else np.empty((0, len(TRADE_FIELDS))),
                fills=np.vstack(fills) if fills else np.empty((0, len(FILL_FIELDS))),
                rejected=rejected,
            )
        )
    return BacktestResult(
        keys=keys,
        symbols=symbols,
        time_ms=np.concatenate([p.time_ms for p in parts]),
        equity=np.concatenate([p.equity for p in parts]),
        config=parts[0].config,
    )
