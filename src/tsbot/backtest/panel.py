"""Backtests of a panel: several series on one clock, one row per series, simulated group by group in single
compiled calls.

:func:`run_panel` follows the rules of :mod:`tsbot.backtest.engine` and gives what :func:`~tsbot.backtest.engine.
run_backtest` gives for the same series and plans (the same numbers, bit for bit): each series on an equal sleeve,
a portfolio curve summed bar by bar. What it saves is the work per series around the simulation: a panel's
candles are checked once, a plan covers a group of series (so a strategy can compute its indicators for the whole
group in one call), and a group is simulated by one call of :func:`~tsbot.backtest.kernel.simulate_panel`.

Shapes: ``m`` series of ``n`` bars; prices and volumes float64 ``(m, n)``, open times int64 ``(n,)`` (ms since the
epoch, UTC, a bar's open). A plan for rows ``a .. b - 1`` has ``entry`` and ``exit`` of shape ``(b - a, n)``; each
of its other per-bar columns is ``(n,)`` (the same for every series, as :meth:`~tsbot.backtest.models.OrderPlan.
market` makes them) or ``(b - a, n)``, and ``take_profit`` ``(n, k)`` or ``(b - a, n, k)``. ``exit`` may be
``(n,)`` too (no exits, as ``OrderPlan.market`` leaves it without one).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass

import numpy as np

from tsbot.backtest import kernel as k
from tsbot.backtest.array_kernels import count_nonzero_rows
from tsbot.backtest.engine import REJECT_REASONS
from tsbot.backtest.kernel_inputs import (
    ALL_ROWS_READY,
    BOOL,
    F64,
    I8,
    I64,
    KERNEL_ERRORS,
    check_config,
    checked_split,
    kernel_array,
    kernel_params,
    plan_column,
)
from tsbot.backtest.models import (
    FILL_FIELDS,
    TRADE_FIELDS,
    BacktestConfig,
    BacktestResult,
    OrderPlan,
    SymbolResult,
)
from tsbot.core.errors import ConfigError, DataError
from tsbot.market.models import CandleFrame, SeriesKey

_PRICE_FIELDS = ("open", "high", "low", "close", "volume")
#: Plan columns that may be shared by every series: name, kernel dtype.
_SHARED_COLUMNS = (("entry_kind", I8), ("entry_price", F64), ("stop_loss", F64), ("trailing_stop", F64))


@dataclass(frozen=True, slots=True)
class CandlePanel:
    """Candles of ``m`` series on one clock, one row per series.

    Attributes:
        keys: the series, one per row.
        open_time_ms: int64 ``(n,)``: bar open times, ms since the epoch, UTC, increasing.
        open, high, low, close: float64 ``(m, n)`` prices in quote currency.
        volume: float64 ``(m, n)`` in base units.
    """

    keys: tuple[SeriesKey, ...]
    open_time_ms: np.ndarray
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray

    def __len__(self) -> int:
        """Bars per series."""
        return int(self.open_time_ms.shape[0])

    def frame(self, i: int) -> CandleFrame:
        """The candles of series ``i`` (views of the panel's rows, no copy)."""
        return CandleFrame(
            self.open_time_ms, self.open[i], self.high[i], self.low[i], self.close[i], self.volume[i]
        )

    @classmethod
    def from_frames(cls, keys: Sequence[SeriesKey], frames: Sequence[CandleFrame]) -> CandlePanel:
        """Stack series that have the same open times into a panel (the prices are copied).

        Raises:
            DataError: no series, a different number of keys and frames, or a series on other open times.
        """
        if not frames or len(keys) != len(frames):
            raise DataError(f"a panel needs one key per series and at least one series; got {len(keys)} keys "
                            f"and {len(frames)} series")  # fmt: skip
        clock = np.asarray(frames[0].open_time_ms, dtype=np.int64)
        for key, frame in zip(keys, frames, strict=True):
            if not np.array_equal(frame.open_time_ms, clock):
                raise DataError(f"{key} has other bar times than {keys[0]}; a panel's series share one clock")
        columns = [np.stack([getattr(f, name) for f in frames]).astype(np.float64) for name in _PRICE_FIELDS]
        return cls(tuple(keys), clock.copy(), *columns)


#: A plan for the whole panel, or a function that makes the plan of rows ``a .. b - 1`` (a slice) when the
#: engine reaches them.
PanelPlanSource = OrderPlan | Callable[[slice], OrderPlan]


def run_panel(
    panel: CandlePanel, plan: PanelPlanSource, config: BacktestConfig, *, group: int = 16, threads: int = 1
) -> BacktestResult:
    """Simulate every series of ``panel``, each on an equal sleeve ``config.initial_equity / m``.

    ``plan`` is an :class:`~tsbot.backtest.models.OrderPlan` with one row per series (see the module docstring for
    its shapes), or a function of a row slice that returns the plan of those rows: it is called once per group of
    ``group`` series just before they are simulated, so that its arrays are still in the processor's cache when
    the simulation reads them.

    ``threads`` > 1 splits the series into that many runs of consecutive series, as equal as can be (each cut
    into groups), simulated at the same time on as many threads (the compiled code releases the GIL). A plan
    function is then called from several threads at once, so it must not share mutable state between calls. The
    result is the same, bit for bit, as with one thread: the series of the later runs are added to the portfolio
    curve afterwards, in series order.

    Returns:
        The same :class:`~tsbot.backtest.models.BacktestResult` as :func:`~tsbot.backtest.engine.run_backtest`
        on the panel's series: series ``i`` is ``keys[i]`` (``symbol`` column ``i`` of its trades and fills), its
        candles are views of the panel's rows, and the portfolio equity is on the panel's clock.

    Raises:
        DataError: an empty panel, arrays of the wrong shape, a plan that does not fit its rows, or a plan value
            the engine refuses (the message names the series and the bar; with several threads, the first such
            series in panel order).
        ConfigError: a setting is out of range, or ``threads`` < 1.
    """
    m, n = len(panel.keys), len(panel)
    if m == 0:
        raise DataError("nothing to backtest: the panel has no series")
    if threads < 1:
        raise ConfigError(f"threads must be at least 1, got {threads}")
    clock = kernel_array(panel.open_time_ms, I64)
    prices = [kernel_array(getattr(panel, name), F64) for name in _PRICE_FIELDS]
    for name, a in zip(_PRICE_FIELDS, prices, strict=True):
        if a.shape != (m, n):
            raise DataError(f"the panel's {name} has shape {a.shape}, expected ({m}, {n}) (series, bars)")
    sleeve = config.initial_equity / m
    check_config(config, sleeve)
    params = kernel_params(config, sleeve)
    size = max(int(group), 1)
    runs = _runs(m, size, threads)
    total = np.zeros(n)

    def run(groups: list[slice], into: np.ndarray) -> list[SymbolResult]:
        own, state, out = params.copy(), np.empty(k.N_STATE), []
        for rows in groups:
            rows_plan = plan(rows) if callable(plan) else _rows_of(plan, rows, m)
            columns = _plan_columns(rows_plan, rows.stop - rows.start, n)
            own[k.P_SYMBOL] = rows.start
            out.extend(
                _simulate_rows(panel, rows, clock, [p[rows] for p in prices], columns, own, into, state)
            )
        return out

    if len(runs) == 1:  # one thread: each bar's equity added to the curve while it is in cache
        symbols = run(runs[0], total)
    else:
        symbols = _run_threads(run, runs, total)
        first = sum(g.stop - g.start for g in runs[0])  # the first run added its series as it went
        _sum_rows([s.equity for s in symbols[first:]], total, len(runs))
    if n:  # the last bar again, from the sleeves' final values, as run_backtest does
        last = symbols[0].equity[-1]
        for s in symbols[1:]:
            last += s.equity[-1]
        total[-1] = last
    return BacktestResult(list(panel.keys), symbols, clock.copy(), total, config)


def _runs(m: int, size: int, threads: int) -> list[list[slice]]:
    """The rows ``0 .. m - 1`` cut into ``threads`` runs of consecutive rows, as equal as can be (never more runs
    than rows), each run cut into groups of at most ``size`` rows."""
    parts = min(threads, m)
    cuts = [m * i // parts for i in range(parts + 1)]
    return [
        [slice(s, min(b, s + size)) for s in range(a, b, size)] for a, b in zip(cuts, cuts[1:], strict=False)
    ]


def _run_threads(
    run: Callable[[list[slice], np.ndarray], list[SymbolResult]], runs: list[list[slice]], total: np.ndarray
) -> list[SymbolResult]:
    """Each run of groups on its own thread, the first adding its series to ``total``; the series in panel order.
    The error of the first failing run (in panel order) is raised, after every thread has finished."""
    none = np.zeros(0)
    pool = _pool(len(runs) - 1)
    futures = [pool.submit(run, r, none) for r in runs[1:]]  # the first run on this thread
    try:
        symbols = run(runs[0], total)
    finally:
        wait(futures)
    for f in futures:
        symbols.extend(f.result())  # raises the run's error
    return symbols


def _sum_rows(rows: list[np.ndarray], total: np.ndarray, threads: int) -> None:
    """``total += rows[0]``, then ``+= rows[1]``, ... bar by bar in series order (the same rounding as adding them
    one by one on one thread), the bars split between ``threads`` threads."""
    n = total.shape[0]
    cuts = [n * i // threads for i in range(threads + 1)]

    def add(a: int, b: int) -> None:
        part = total[a:b]
        for r in rows:
            np.add(part, r[a:b], out=part)

    futures = [_pool(threads - 1).submit(add, a, b) for a, b in zip(cuts[1:], cuts[2:], strict=False)]
    try:
        add(cuts[0], cuts[1])
    finally:
        wait(futures)
    for f in futures:
        f.result()


_POOL: ThreadPoolExecutor | None = None
_POOL_SIZE = 0
_POOL_LOCK = threading.Lock()


def _pool(threads: int) -> ThreadPoolExecutor:
    """A process-wide pool of at least ``threads`` threads, kept between calls (starting threads for each
    backtest would cost more than a small panel's simulation)."""
    global _POOL, _POOL_SIZE  # noqa: PLW0603 - one pool per process
    with _POOL_LOCK:
        if _POOL is None or threads > _POOL_SIZE:
            if _POOL is not None:
                _POOL.shutdown(wait=False)
            _POOL, _POOL_SIZE = ThreadPoolExecutor(threads, thread_name_prefix="tsbot-panel"), threads
        return _POOL


def _rows_of(plan: OrderPlan, rows: slice, m: int) -> OrderPlan:
    """Rows ``rows`` of a whole-panel plan: the per-series columns cut, the shared ones kept."""

    def cut(a: np.ndarray, per_series_ndim: int) -> np.ndarray:
        a = np.asarray(a)
        return a[rows] if a.ndim == per_series_ndim and a.shape[0] == m else a

    return OrderPlan(
        entry=cut(plan.entry, 2),
        exit=cut(plan.exit, 2),
        entry_kind=cut(plan.entry_kind, 2),
        entry_price=cut(plan.entry_price, 2),
        stop_loss=cut(plan.stop_loss, 2),
        take_profit=cut(plan.take_profit, 3),
        take_profit_split=plan.take_profit_split,
        trailing_stop=cut(plan.trailing_stop, 2),
    )


def _plan_columns(plan: OrderPlan, g: int, n: int) -> tuple[np.ndarray, ...]:
    """The plan of ``g`` series in the kernel's dtypes and shapes: entry ``(g, n)``; exit ``(1 or g, n)``; kind,
    price, stop, trail ``(1 or g, n)``, or ``(1 or g, 1)`` for a constant column; take-profits
    ``(1 or g, n, k)``; split ``(k,)``. The shared columns have one row, unless any column has a row per series:
    then all of them do."""
    entry = kernel_array(plan.entry, I8)
    if entry.shape != (g, n):
        raise DataError(f"OrderPlan.entry has shape {entry.shape}; {g} series of {n} bars need ({g}, {n})")
    exit_ = kernel_array(plan.exit, BOOL)
    if exit_.shape not in ((n,), (g, n)):
        raise DataError(f"OrderPlan.exit has shape {exit_.shape}; it must be ({n},) or ({g}, {n})")
    if exit_.ndim == 1:  # the same exits for every series (none, from OrderPlan.market)
        exit_ = exit_.reshape(1, n)
    shared: list[np.ndarray] = []
    for name, dtype in _SHARED_COLUMNS:
        a = getattr(plan, name)
        if np.shape(a) not in ((n,), (g, n)):
            raise DataError(f"OrderPlan.{name} has shape {np.shape(a)}; it must be ({n},) or ({g}, {n})")
        shared.append(plan_column(a, dtype))  # a constant column: one value, (1,)
    tp = kernel_array(plan.take_profit, F64)
    if tp.ndim not in (2, 3) or tp.shape[-2] != n or (tp.ndim == 3 and tp.shape[0] != g):
        raise DataError(f"OrderPlan.take_profit has shape {tp.shape}; it must be ({n}, k) or ({g}, {n}, k)")
    split = checked_split(plan.take_profit_split, tp.shape[-1])
    # one row for every series; or, when any column has a row per series, a row per series in all of them
    per_series = tp.ndim == 3 or any(a.ndim == 2 for a in shared)

    def rows_of(a: np.ndarray, shared_ndim: int) -> np.ndarray:
        if a.ndim != shared_ndim:
            return a
        one = a.reshape(1, *a.shape)
        return np.repeat(one, g, axis=0) if per_series else one  # a new, writable array

    kind, price, stop, trail = (rows_of(a, 1) for a in shared)
    return entry, exit_, kind, price, stop, rows_of(tp, 2), split, trail


def _simulate_rows(
    panel: CandlePanel,
    rows: slice,
    clock: np.ndarray,
    prices: list[np.ndarray],
    columns: tuple[np.ndarray, ...],
    params: np.ndarray,
    total: np.ndarray,
    state: np.ndarray,
) -> list[SymbolResult]:
    """One compiled call for the series ``rows``; their results."""
    entry = columns[0]
    g, n = entry.shape
    levels = columns[5].shape[-1]
    entries = np.empty(g, dtype=np.int64)
    count_nonzero_rows(entry, entries)  # each entry signal opens at most one position
    room = np.zeros(g + 1, dtype=np.int64)  # so much room that no series pauses (see kernel.simulate)
    np.cumsum(entries + k.TRADES_PER_BAR, out=room[1:])
    fill_room = np.zeros(g + 1, dtype=np.int64)
    np.cumsum(entries * (1 + max(levels, 1)) + levels + k.FILLS_PER_BAR, out=fill_room[1:])
    trades = np.empty((int(room[-1]), len(TRADE_FIELDS)))
    fills = np.empty((int(fill_room[-1]), len(FILL_FIELDS)))
    equity = np.empty((g, n))
    counts = np.empty((g, k.N_COUNTS), dtype=np.int64)
    done = k.simulate_panel(clock, *prices, *columns, params, equity, total, trades, fills, room, fill_room, state,
                            counts, ALL_ROWS_READY)  # fmt: skip
    c = counts[:done].tolist()
    if c[-1][k.C_ERROR]:
        key = panel.keys[rows.start + done - 1]
        raise DataError(
            f"the order plan of {key} at bar {c[-1][k.C_ERROR_BAR]}: {KERNEL_ERRORS[c[-1][k.C_ERROR]]}"
        )
    # views of the group's tables, or copies when most of them went unused (so that the rest can be freed)
    used_t = sum(row[k.C_TRADES] for row in c)
    used_f = sum(row[k.C_FILLS] for row in c)
    copy_t, copy_f = 4 * used_t < len(trades), 4 * used_f < len(fills)
    out = []
    candles = zip(*(list(a) for a in prices), strict=True)  # row views, made by numpy in one go
    t_rows, f_rows = room.tolist(), fill_room.tolist()
    for r, (row, key, (o, h, lo, cl, v), eq) in enumerate(
        zip(c, panel.keys[rows], candles, equity, strict=False)
    ):
        t = trades[t_rows[r] : t_rows[r] + row[k.C_TRADES]]
        f = fills[f_rows[r] : f_rows[r] + row[k.C_FILLS]]
        rej = row[k.C_REJECTED : k.C_REJECTED + k.N_REJECT]
        out.append(
            SymbolResult(
                key,
                CandleFrame(clock, o, h, lo, cl, v),
                eq,
                t.copy() if copy_t else t,
                f.copy() if copy_f else f,
                {REJECT_REASONS[i]: x for i, x in enumerate(rej) if x} if any(rej) else {},
            )
        )
    return out
