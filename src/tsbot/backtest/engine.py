"""The backtest engine: a simulated broker that trades an :class:`~tsbot.backtest.models.OrderPlan` on
candles.

:func:`run_series` simulates one series (one sleeve of equity); :func:`run_backtest` runs several, each with
an equal share of the initial equity, and adds their equity into a portfolio curve;
:func:`~tsbot.backtest.panel.run_panel` does the same for series on one clock given as a panel, group by group.
:func:`run_series` also takes a :class:`~tsbot.backtest.models.StreamedPlan`, a plan still being written on another
thread, and simulates each bar as soon as its row is final: the same rules, the same numbers.
The loop is compiled with numba (:mod:`tsbot.backtest.kernel`). The rules below are the whole contract.

Time
    Row ``i`` of the plan is decided at the close of bar ``i``. Market entries and signal exits fill at the
    open of bar ``i + 1`` (``FillAt.NEXT_OPEN``, the default) or at ``close[i]`` (``FillAt.CLOSE``). In
    ``NEXT_OPEN`` mode the last bar's signals have no next bar and are ignored. Orders waiting for an open
    fill there before anything else happens in that bar.

Entries
    ``entry[i] = +1`` opens a long, ``-1`` a short (ignored, not counted, when ``allow_short`` is False). An
    entry in the direction of the open position is ignored (no pyramiding); the opposite direction is a
    reversal: the position is closed (reason ``REVERSAL``) and the new one opened at the same fill price. When
    one row asks for both an exit and an entry, the exit comes first; an exit also cancels a market entry
    still waiting for its open. A limit / stop entry (``entry_kind``) placed at the close of bar ``i`` is live
    on bars ``i + 1 .. i + entry_expiry_bars``. A long limit fills when ``low <= price`` at
    ``min(open, price)`` (a gap down fills at the better open); a long stop entry fills when
    ``high >= price`` at ``max(open, price)`` plus slippage; shorts are mirrored. One that fills while a
    position in its direction is open does nothing. A newer entry signal replaces a pending one.

Sizing
    With budget ``B = fraction_ratio * equity`` (equity = cash once flat), leverage ``L`` and fee rate ``f``
    (taker, or maker for a limit entry) the fee fits in the budget: ``qty = B / (price * (1/L + f))``. At
    ``L = 1``, ``f = 0.001``, ``fraction_ratio = 1`` this is vectorbt's all-in ``size=np.inf``
    (``cash / (price * (1 + f))``). ``Sizing.RISK``: ``qty = risk_per_trade_ratio * equity / |fill - stop|``,
    capped at the fixed-fraction quantity (no stop-loss: the fixed fraction).

Fees and slippage
    Taker fee on market and stop fills (entries, signal exits, stop-loss, trailing stop, max-hold, end of
    data, reversal), maker fee on limit entries and take-profits; a fee is ``rate * qty * price``. Slippage
    moves market and stop fills against the trader (``price * (1 +- slippage)``); limit entries and
    take-profits fill at their price, or better on a gap.

Cash
    Opening takes the margin ``qty * price / L`` and the fee from cash. Equity at a bar's close is
    ``cash + margin + qty * (close - entry) * side``. Each exit fill returns its share of the margin plus its
    P&L minus its fee. A trade's ``pnl`` is after all its fees, so the final equity equals the initial equity
    plus the sum of trade P&L.

Each bar with an open position, in this order
    a. Gap at the open: an open beyond the liquidation price liquidates; an open beyond the stop-loss (or
       trailing stop) closes all at the open, with slippage; each take-profit level the open is beyond fills
       at the open.
    b. Liquidation (longs when ``L > 1``, every short): long price
       ``entry * (1 - 1/L + maintenance_margin_ratio)``, short
       ``entry * (1 + 1/L - maintenance_margin_ratio)``.
       When the bar's adverse extreme reaches it the position closes at that price (reason ``LIQUIDATION``)
       and its whole margin is lost: the fill's fee is what was left of the margin. A stop-loss nearer than
       the liquidation price is hit first and closes the position instead.
    c. Stop-loss and take-profits inside the bar: when the bar touches both, ``stop_first=True`` takes the
       stop for the whole remaining quantity; ``stop_first=False`` fills the targets reached (nearest first),
       then the stop on what remains. Level ``j`` closes ``take_profit_split[j]`` of the initial quantity; the
       last valid level (NaN pads unused ones) closes whatever is left.
    d. Trailing stop: the effective stop is the tighter of the stop-loss and the trail. For a long,
       ``trail = (highest high of the bars before this one since entry) - distance``, starting from the entry
       fill price (a short: lowest low + distance): a bar's own extreme moves the trail only from the next
       bar. Exits by the trail have reason ``TRAILING_STOP``.
    e. The decisions at the bar's close: signal exit, then ``max_hold_bars`` (timed so that
       ``bars_held == max_hold_bars``; reason ``MAX_HOLD``), then the entry (or reversal).

    An entry filled at a bar's open is checked against that bar's high and low (stop, liquidation, targets).
    An entry filled at ``close[i]`` is checked from bar ``i + 1`` (gap checks included). A limit / stop entry
    filled inside a bar is checked in that bar against its stop-loss (with the trail from the fill price) and
    liquidation only; its targets, and the trail's move by that bar's extreme, count from the next bar. Inside
    a bar the open position is worked first, then the pending limit / stop entry.

``breakeven_after_first_target``
    After the first take-profit fills, the stop-loss moves to the entry price from the next bar on.

Refused entries (not errors; counted in ``SymbolResult.rejected`` by :data:`REJECT_REASONS`)
    A stop-loss on the wrong side of the actual fill price (long: ``stop >= fill``), a take-profit on the
    wrong side, a limit / stop entry with a NaN or non-positive price, a quantity of 0 (no equity left), a
    limit / stop entry that expired. A refused entry changes nothing (a reversal does not close the open
    position). A NaN stop-loss, take-profit or trailing distance means none.

Bars that did not trade
    A bar with any NaN price (always) or with volume 0 (``skip_zero_volume``) fills nothing: no entries,
    exits or stops. Orders raised at its close, and those waiting, fill at the open of the next bar that
    traded; a limit / stop entry still expires by bar count. Equity marks the position at the bar's close
    when it is a number, else at the last close that was. Gaps in time need no special case: the next bar's
    open is where the price is, and a stop gapped through fills at that open.

End of data
    A position still open after the last bar is closed at the last close (taker fee, slippage, reason
    ``END_OF_DATA``), so every trade is complete and the last equity value is after that close.

Trade rows (:data:`~tsbot.backtest.models.TRADE_FIELDS`): ``entry_price`` is the entry fill price,
``exit_price`` the quantity-weighted mean of the exit fills, ``return_ratio = pnl / margin committed``,
``r_multiple = pnl / (qty * |entry - initial stop|)`` (NaN without a stop), ``bars_held = exit_bar -
entry_bar``, ``exits`` the number of exit fills. Bars index the candles of the series; times are the bars'
open times (ms since the epoch, UTC).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait

import numpy as np

from tsbot.backtest import kernel as k
from tsbot.backtest.array_kernels import crossings, same_values, sma_crossings, sma_crossings_rows
from tsbot.backtest.kernel_inputs import (
    ALL_ROWS_READY,
    I64,
    KERNEL_ERRORS,
    check_config,
    f64,
    kernel_array,
    kernel_params,
    plan_arrays,
)
from tsbot.backtest.models import (
    FILL_FIELDS,
    TRADE_FIELDS,
    BacktestConfig,
    BacktestResult,
    OrderPlan,
    StreamedPlan,
    SymbolResult,
)
from tsbot.core.errors import DataError
from tsbot.market.models import CandleFrame, SeriesKey, Timeframe

#: Human-readable reasons of refused entries, indexed by the kernel's rejection codes.
REJECT_REASONS: tuple[str, ...] = (
    "stop-loss on the wrong side of the fill price",
    "take-profit on the wrong side of the fill price",
    "limit/stop entry without a positive price",
    "no equity left to size the position",
    "entry expired before it filled",
)


def _default_key(candles: CandleFrame, symbol_index: int) -> SeriesKey:
    step = int(candles.open_time_ms[1] - candles.open_time_ms[0]) if len(candles) > 1 else 0
    timeframe = next((tf for tf in Timeframe if tf.ms == step), Timeframe.H1)
    return SeriesKey("backtest", f"series-{symbol_index}", timeframe)


_Prepared = tuple[SeriesKey, CandleFrame, tuple[np.ndarray, ...], int, int]

#: Trade rows a series starts with at most, besides ``n // 32`` (one per 32 bars): a plan with more entry signals
#: than that (most of them ignored, as a long position ignores more long entries) grows its tables only as its
#: trades need them.
FIRST_TRADE_ROWS = 4096


def _prepare(key: SeriesKey, candles: CandleFrame, plan: OrderPlan, streamed: bool = False) -> _Prepared:
    """Checked kernel inputs of one series, with the rows its trades and fills tables start with.

    The tables start with room for every trade the plan can make (one per entry signal, as each opens at most
    one position) up to ``FIRST_TRADE_ROWS + n // 32`` trades, and grow when the simulation needs more. A plan
    still being written (``streamed``) cannot be counted: it starts at that bound."""
    n = len(candles)
    prices = (o, h, lo, c, v) = [f64(getattr(candles, name)) for name in _PRICE_FIELDS]
    if not o.shape == h.shape == lo.shape == c.shape == v.shape == (n,):
        for name, a in zip(_PRICE_FIELDS, prices, strict=True):
            if a.shape != (n,):
                raise DataError(f"candles of {key}: {name} has shape {a.shape}, expected ({n},)")
    if len(plan) != n:
        raise DataError(
            f"the order plan of {key} has {len(plan)} rows but the candles have {n} bars; they must match"
        )
    columns = plan_arrays(plan, n)
    inputs = (kernel_array(candles.open_time_ms, I64), *prices, *columns)
    bound = FIRST_TRADE_ROWS + n // 32
    entries = bound if streamed else min(int(np.count_nonzero(columns[0])), bound)
    levels = columns[5].shape[1]
    trade_rows = entries + k.TRADES_PER_BAR
    return key, candles, inputs, trade_rows, entries * (1 + max(levels, 1)) + levels + k.FILLS_PER_BAR


_PRICE_FIELDS = ("open", "high", "low", "close", "volume")


#: ``total`` argument of the kernel when no portfolio curve is summed.
_NO_TOTAL = np.empty(0)


#: The kernel's scratch: state vector and counters (it zeroes both before it starts).
_Scratch = tuple[np.ndarray, np.ndarray]


def _scratch() -> _Scratch:
    return np.empty(k.N_STATE), np.empty(k.N_COUNTS, dtype=np.int64)


def _simulate(
    prepared: _Prepared,
    params: np.ndarray,
    total: np.ndarray = _NO_TOTAL,
    scratch: _Scratch | None = None,
    writer: _Writer | None = None,
) -> SymbolResult:
    """Run the kernel on one prepared series, adding its equity into ``total`` when that has one value per bar.
    Each series gets its own output arrays: one large block for many series would be backed by huge pages (numpy
    asks for them above 4 MiB), whose first use can stall for compaction; small arrays reuse freed memory.
    ``scratch``: the kernel's state and counter vectors, reused from series to series of one run. ``writer``: the
    plan's writer when the plan is still being written (see :class:`~tsbot.backtest.models.StreamedPlan`)."""
    key, candles, inputs, trade_rows, fill_rows = prepared
    state, counts = scratch if scratch is not None else _scratch()
    equity = np.empty(len(candles))
    trades = np.empty((trade_rows, len(TRADE_FIELDS)))
    fills = np.empty((fill_rows, len(FILL_FIELDS)))
    ready = ALL_ROWS_READY if writer is None else writer.ready
    status = k.simulate(*inputs, params, equity, total, trades, fills, state, counts, ready, False)
    while status != k.DONE:
        if status == k.PAUSED_ROOM:
            trades = _grown(trades, int(counts[k.C_TRADES]))
            fills = _grown(fills, int(counts[k.C_FILLS]))
        elif writer is not None:
            writer.wait(int(state[k.S_NEXT_BAR]))
        status = k.simulate(*inputs, params, equity, total, trades, fills, state, counts, ready, True)
    c = counts.tolist()
    if c[k.C_ERROR]:
        raise DataError(f"the order plan of {key} at bar {c[k.C_ERROR_BAR]}: {KERNEL_ERRORS[c[k.C_ERROR]]}")
    rejected = {REJECT_REASONS[i]: n for i, n in enumerate(c[k.C_REJECTED : k.C_REJECTED + k.N_REJECT]) if n}
    return SymbolResult(
        key, candles, equity, _trim(trades, c[k.C_TRADES]), _trim(fills, c[k.C_FILLS]), rejected
    )


def _grown(table: np.ndarray, rows: int) -> np.ndarray:
    """A table twice as long holding the first ``rows`` rows of ``table``."""
    out = np.empty((2 * table.shape[0], table.shape[1]))
    out[:rows] = table[:rows]
    return out


class _Writer:
    """The writer of a :class:`~tsbot.backtest.models.StreamedPlan`, running on a worker thread as ``future``."""

    def __init__(self, ready: np.ndarray, future: Future[object]) -> None:
        self.ready = ready
        self.future = future

    def wait(self, row: int) -> None:
        """Block until row ``row`` is written or the writer has returned. Raises what the writer raised, or
        DataError when it returned without writing that row."""
        while int(self.ready[0]) <= row:
            done, _ = wait([self.future], timeout=_WAIT_S)
            if done:
                self.future.result()  # raises the writer's error
                if int(self.ready[0]) <= row:
                    raise DataError(
                        f"the plan's writer returned after {int(self.ready[0])} rows; the simulation needs row {row}"
                    )


#: Seconds between two looks at the writer while the simulation waits for a row.
_WAIT_S = 0.0005
#: The threads that run plan writers, kept between runs (a pool made per run costs about 0.1 ms more, 3 % of a
#: million-bar run); its own, so that a writer never waits behind work that may be waiting for it.
_WRITERS = ThreadPoolExecutor(max_workers=os.cpu_count() or 1, thread_name_prefix="tsbot-plan")


def _cores() -> int:
    """Processor cores this process may run on."""
    getter = getattr(os, "sched_getaffinity", None)
    return len(getter(0)) if getter is not None else os.cpu_count() or 1


def _trim(buffer: np.ndarray, rows: int) -> np.ndarray:
    """The first ``rows`` rows; a copy when most of the buffer went unused, so the rest can be freed."""
    return buffer[:rows] if 4 * rows >= len(buffer) else buffer[:rows].copy()


def run_series(
    candles: CandleFrame,
    plan: OrderPlan | StreamedPlan,
    config: BacktestConfig,
    *,
    initial_equity: float | None = None,
    symbol_index: int = 0,
    key: SeriesKey | None = None,
) -> SymbolResult:
    """Simulate ``plan`` on one series with the rules of this module.

    Args:
        candles: the bars, ``n`` of them (open times ms since the epoch, UTC).
        plan: ``n`` rows, row ``i`` decided at the close of bar ``i``; or a :class:`StreamedPlan`, simulated while
            its writer writes it (on another thread when the process may use two or more cores).
        config: the broker.
        initial_equity: the sleeve's starting equity in quote currency (default ``config.initial_equity``).
        symbol_index: written into the ``symbol`` column of trades and fills.
        key: the series (default: a placeholder named after ``symbol_index``).

    Returns:
        A :class:`SymbolResult`: equity and position ``(n,)`` at each bar's close, trades and fills tables.

    Raises:
        DataError: plan and candles differ in length, an array has the wrong shape, ``take_profit_split``
            does not sum to 1, or the plan holds an invalid value (the message names the bar); a streamed plan
            whose arrays the engine would have to copy, or whose writer returned before writing every row.
        ConfigError: a setting is out of range.
        Exception: what a streamed plan's writer raised.
    """
    equity0 = config.initial_equity if initial_equity is None else float(initial_equity)
    check_config(config, equity0)
    params = kernel_params(config, equity0)
    params[k.P_SYMBOL] = symbol_index
    key = key if key is not None else _default_key(candles, symbol_index)
    if isinstance(plan, OrderPlan):
        return _simulate(_prepare(key, candles, plan), params)
    return _run_streamed(key, candles, plan, params)


def _run_streamed(
    key: SeriesKey, candles: CandleFrame, stream: StreamedPlan, params: np.ndarray
) -> SymbolResult:
    """:func:`run_series` of a plan being written: its writer on a worker thread, the simulation on this one."""
    ready = stream.ready
    if not (
        isinstance(ready, np.ndarray) and ready.dtype == I64 and ready.shape == (1,) and ready.flags.writeable
    ):
        raise DataError(f"StreamedPlan.ready must be a writable int64 array of shape (1,), got {ready!r}")
    if int(ready[0]) != 0:
        raise DataError(f"StreamedPlan.ready must start at 0 (no row written), got {int(ready[0])}")
    prepared = _prepare(key, candles, stream.plan, streamed=True)
    _check_in_place(key, stream.plan, prepared[2][6:])
    if _cores() < 2:  # no core for the writer to run beside the simulation: write first
        stream.write()
        if int(ready[0]) < len(candles):
            raise DataError(
                f"the plan's writer of {key} returned after {int(ready[0])} of {len(candles)} rows"
            )
        return _simulate(prepared, params)
    writer = _Writer(ready, _WRITERS.submit(stream.write))
    try:
        result = _simulate(prepared, params, writer=writer)
    finally:
        wait([writer.future])  # the writer never outlives this call, also when the simulation raised
    writer.future.result()  # raises what the writer raised after its last row
    return result


def _check_in_place(key: SeriesKey, plan: OrderPlan, columns: tuple[np.ndarray, ...]) -> None:
    """Raise DataError unless the kernel reads each of ``plan``'s per-bar columns in place (a copy made now would
    miss the rows written later)."""
    names = ("entry", "exit", "entry_kind", "entry_price", "stop_loss", "take_profit", "trailing_stop")
    for name, b in zip(names, (*columns[:6], columns[7]), strict=True):  # columns[6]: take_profit_split
        a = getattr(plan, name)
        if a.size and not np.may_share_memory(a, b):
            raise DataError(
                f"the streamed plan of {key}: {name} would be copied before it is written ({a.dtype}, "
                f"{'C-contiguous' if a.flags.c_contiguous else 'not C-contiguous'}); give it in the engine's dtype "
                "and layout (see StreamedPlan)"
            )


#: An order plan, or a function that makes it when the engine reaches its series (see :func:`run_backtest`).
PlanSource = OrderPlan | Callable[[], OrderPlan]


def run_backtest(
    series: Sequence[tuple[SeriesKey, CandleFrame, PlanSource]], config: BacktestConfig
) -> BacktestResult:
    """Simulate several series, each on an equal sleeve ``config.initial_equity / len(series)``.

    A plan may be given as a function of no arguments; it is called just before its series is simulated, so the
    arrays it makes are still in the processor's cache when the simulation reads them (and each series' plan is
    freed before the next is made).

    The portfolio equity is on the sorted union of the series' bar open times; a sleeve with no bar at a time
    carries its last equity forward (before its first bar: its initial sleeve equity). Series on the same bar
    times as the first are summed by the simulation itself.

    Raises:
        DataError: no series, or a series fails :func:`run_series`'s checks (or its plan function raises it).
        ConfigError: a setting is out of range.
    """
    if not series:
        raise DataError("nothing to backtest: no series given")
    sleeve = config.initial_equity / len(series)
    check_config(config, sleeve)
    params = kernel_params(config, sleeve)
    first = np.asarray(series[0][1].open_time_ms, dtype=np.int64)
    total = np.zeros(len(first))
    results: list[SymbolResult] = []
    summed: list[bool] = []
    scratch = _scratch()
    for i, (key, candles, source) in enumerate(series):
        plan = source if isinstance(source, OrderPlan) else source()
        prepared = _prepare(key, candles, plan)
        del plan
        same = len(first) > 0 and _same_times(prepared[2][0], first)
        params[k.P_SYMBOL] = i
        results.append(_simulate(prepared, params, total if same else _NO_TOTAL, scratch))
        summed.append(same)
    time_ms, equity = _portfolio(results, summed, first, total, sleeve)
    return BacktestResult([r.key for r in results], results, time_ms, equity, config)


def _portfolio(
    results: list[SymbolResult], summed: list[bool], first: np.ndarray, total: np.ndarray, sleeve: float
) -> tuple[np.ndarray, np.ndarray]:
    """Union of bar times and the sum of the sleeves' equity carried forward onto it. ``total`` already holds the
    sum of the ``summed`` sleeves (those on the times ``first``), bar by bar."""
    group = [r for r, s in zip(results, summed, strict=True) if s]
    if group:
        # the last bar again, from the sleeves' final values (after any end-of-data close) added in series order,
        # as the kernel added every bar before it
        last = group[0].equity[-1]
        for r in group[1:]:
            last += r.equity[-1]
        total[-1] = last
    if all(summed):
        return first.copy(), total
    others = [r for r, s in zip(results, summed, strict=True) if not s]
    curves = [(np.asarray(r.candles.open_time_ms, dtype=np.int64), r.equity, sleeve) for r in others]
    if group:
        curves.append((first, total, sleeve * len(group)))
    union = np.unique(np.concatenate([t for t, _, _ in curves]))
    out = np.zeros(len(union))
    for t, equity, start in curves:
        at = np.searchsorted(t, union, side="right") - 1
        if len(t):
            out += np.where(at >= 0, equity[np.maximum(at, 0)], start)
        else:
            out += start
    return union, out


def _same_times(a: np.ndarray, b: np.ndarray) -> bool:
    if a is b:
        return True
    if a.shape != b.shape or (len(a) and (a[0] != b[0] or a[-1] != b[-1])):
        return False
    return bool(same_values(a, b))


def compile_kernels() -> None:
    """Compile the kernels (or load them from numba's cache) by running them once on 3 bars; call it before
    timing runs."""
    t = np.arange(3, dtype=np.int64) * 60_000
    px = np.array([100.0, 101.0, 102.0])
    candles = CandleFrame(t, px, px + 1, px - 1, px, np.ones(3))
    plan = OrderPlan.market(np.array([1, 0, 0], dtype=np.int8), take_profit=np.full((3, 1), 200.0))
    run_series(candles, plan, BacktestConfig())
    up, down = np.empty(3, dtype=np.bool_), np.empty(3, dtype=np.bool_)
    crossings(px, px[::-1].copy(), up, down)
    sma_crossings(px, 2, 3, up, down)
    same_values(t, t)
    from tsbot.backtest.panel import CandlePanel, run_panel  # the panel module builds on this one

    rows = np.stack([px, px])
    panel = CandlePanel((_default_key(candles, 0), _default_key(candles, 1)), t, rows, rows + 1, rows - 1, rows,
                        np.ones((2, 3)))  # fmt: skip
    run_panel(panel, OrderPlan.market(np.ones((2, 3), dtype=np.int8)), BacktestConfig())
    four = np.stack([px] * 4)  # four rows go side by side
    sma_crossings_rows(four, 2, 3, np.empty((4, 3), dtype=np.bool_), np.empty((4, 3), dtype=np.bool_))
