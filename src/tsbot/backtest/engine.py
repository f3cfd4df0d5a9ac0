"""The backtest engine: a simulated broker that trades an :class:`~tsbot.backtest.models.OrderPlan` on
candles.

:func:`run_series` simulates one series (one sleeve of equity); :func:`run_backtest` runs several, each with
an equal share of the initial equity, and adds their equity into a portfolio curve. The loop is compiled with
numba (:mod:`tsbot.backtest.kernel`). The rules below are the whole contract.

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

import math
from collections.abc import Callable, Sequence

import numpy as np

from tsbot.backtest import kernel as k
from tsbot.backtest.models import (
    FILL_FIELDS,
    TRADE_FIELDS,
    BacktestConfig,
    BacktestResult,
    FillAt,
    OrderPlan,
    Sizing,
    SymbolResult,
    writable_constant,
)
from tsbot.core.errors import ConfigError, DataError
from tsbot.market.models import CandleFrame, SeriesKey, Timeframe

#: Human-readable reasons of refused entries, indexed by the kernel's rejection codes.
REJECT_REASONS: tuple[str, ...] = (
    "stop-loss on the wrong side of the fill price",
    "take-profit on the wrong side of the fill price",
    "limit/stop entry without a positive price",
    "no equity left to size the position",
    "entry expired before it filled",
)

_KERNEL_ERRORS = {
    k.ERR_ENTRY_VALUE: "entry must be -1, 0 or +1",
    k.ERR_ENTRY_KIND: "entry_kind must be an EntryKind (0 market, 1 limit, 2 stop)",
    k.ERR_TRAILING: "trailing_stop must be NaN (none) or a positive price distance",
}


def _check_config(config: BacktestConfig, initial_equity: float) -> None:
    def bad(name: str, value: object, allowed: str) -> ConfigError:
        return ConfigError(f"backtest setting {name}={value!r} is invalid; allowed: {allowed}")

    if not (math.isfinite(initial_equity) and initial_equity > 0):
        raise bad("initial_equity", initial_equity, "a positive amount of quote currency")
    for name in ("taker_fee_bps", "maker_fee_bps", "slippage_bps"):
        value = getattr(config, name)
        if not (math.isfinite(value) and 0 <= value < 10_000):
            raise bad(name, value, "basis points in [0, 10000)")
    if not (math.isfinite(config.leverage) and config.leverage >= 1):
        raise bad("leverage", config.leverage, "a number >= 1")
    mmr = config.maintenance_margin_ratio
    if not (0 <= mmr < 1 / config.leverage):
        raise bad(
            "maintenance_margin_ratio", mmr, f"a ratio in [0, 1/leverage) = [0, {1 / config.leverage:g})"
        )
    if not (0 < config.fraction_ratio <= 1):
        raise bad("fraction_ratio", config.fraction_ratio, "a ratio in (0, 1]")
    if not (0 < config.risk_per_trade_ratio <= 1):
        raise bad("risk_per_trade_ratio", config.risk_per_trade_ratio, "a ratio in (0, 1]")
    if int(config.entry_expiry_bars) != config.entry_expiry_bars or config.entry_expiry_bars < 1:
        raise bad("entry_expiry_bars", config.entry_expiry_bars, "a whole number of bars >= 1")
    if int(config.max_hold_bars) != config.max_hold_bars or config.max_hold_bars < 0:
        raise bad("max_hold_bars", config.max_hold_bars, "a whole number of bars >= 0 (0: no limit)")
    if config.fill not in tuple(FillAt):
        raise bad("fill", config.fill, ", ".join(f.value for f in FillAt))
    if config.sizing not in tuple(Sizing):
        raise bad("sizing", config.sizing, ", ".join(s.value for s in Sizing))


def _params(config: BacktestConfig, initial_equity: float) -> np.ndarray:
    p = np.zeros(k.N_PARAMS)
    p[k.P_INITIAL_EQUITY] = initial_equity
    p[k.P_FILL_CLOSE] = config.fill == FillAt.CLOSE
    p[k.P_TAKER] = config.taker_fee_bps / 10_000
    p[k.P_MAKER] = config.maker_fee_bps / 10_000
    p[k.P_SLIP] = config.slippage_bps / 10_000
    p[k.P_LEVERAGE] = config.leverage
    p[k.P_MMR] = config.maintenance_margin_ratio
    p[k.P_RISK_SIZING] = config.sizing == Sizing.RISK
    p[k.P_FRACTION] = config.fraction_ratio
    p[k.P_RISK] = config.risk_per_trade_ratio
    p[k.P_STOP_FIRST] = config.stop_first
    p[k.P_ALLOW_SHORT] = config.allow_short
    p[k.P_EXPIRY] = config.entry_expiry_bars
    p[k.P_MAX_HOLD] = config.max_hold_bars
    p[k.P_BREAKEVEN] = config.breakeven_after_first_target
    p[k.P_SKIP_ZERO] = config.skip_zero_volume
    return p


def _kernel_array(a: np.ndarray, dtype: type) -> np.ndarray:
    """``a`` as a C-contiguous, writable array of ``dtype``, copied only when it must be: the kernel has one
    compiled specialisation, for writable arrays (a read-only one would compile another). It never writes to
    its inputs."""
    out = np.ascontiguousarray(a, dtype=dtype)
    if not out.flags.writeable:
        shared = writable_constant(out)
        out = shared if shared is not None else out.copy()
    return out


def _f64(a: np.ndarray) -> np.ndarray:
    return _kernel_array(a, np.float64)


def _plan_arrays(plan: OrderPlan, n: int) -> tuple[np.ndarray, ...]:
    """The plan's arrays in the kernel's dtypes, after shape checks (DataError)."""
    for name in ("entry", "exit", "entry_kind", "entry_price", "stop_loss", "trailing_stop"):
        shape = np.shape(getattr(plan, name))
        if shape != (n,):
            raise DataError(
                f"OrderPlan.{name} has shape {shape}; the candles have {n} bars, so it must be ({n},)"
            )
    tp = np.asarray(plan.take_profit)
    if tp.ndim != 2 or tp.shape[0] != n:
        raise DataError(
            f"OrderPlan.take_profit has shape {tp.shape}; it must be ({n}, k) (k levels, may be 0)"
        )
    split = _f64(plan.take_profit_split)
    levels = tp.shape[1]
    if split.shape != (levels,):
        raise DataError(
            f"OrderPlan.take_profit_split has shape {split.shape}; take_profit has {levels} levels"
        )
    if levels and (not np.all(split > 0) or abs(float(split.sum()) - 1.0) > 1e-9):
        raise DataError(
            "OrderPlan.take_profit_split must be positive shares that sum to 1 (within 1e-9); "
            f"got {split.tolist()}"
        )
    return (
        _kernel_array(plan.entry, np.int8),
        _kernel_array(plan.exit, np.bool_),
        _kernel_array(plan.entry_kind, np.int8),
        _f64(plan.entry_price),
        _f64(plan.stop_loss),
        _f64(tp),
        split,
        _f64(plan.trailing_stop),
    )


def _default_key(candles: CandleFrame, symbol_index: int) -> SeriesKey:
    step = int(candles.open_time_ms[1] - candles.open_time_ms[0]) if len(candles) > 1 else 0
    timeframe = next((tf for tf in Timeframe if tf.ms == step), Timeframe.H1)
    return SeriesKey("backtest", f"series-{symbol_index}", timeframe)


_Prepared = tuple[SeriesKey, CandleFrame, tuple[np.ndarray, ...], int, int]


def _prepare(key: SeriesKey, candles: CandleFrame, plan: OrderPlan) -> _Prepared:
    """Checked kernel inputs of one series, with the rows its trades and fills tables may need at most."""
    n = len(candles)
    for name in ("open", "high", "low", "close", "volume"):
        if np.shape(getattr(candles, name)) != (n,):
            raise DataError(
                f"candles of {key}: {name} has shape {np.shape(getattr(candles, name))}, expected ({n},)"
            )
    if len(plan) != n:
        raise DataError(
            f"the order plan of {key} has {len(plan)} rows but the candles have {n} bars; they must match"
        )
    inputs = (
        _kernel_array(candles.open_time_ms, np.int64),
        _f64(candles.open),
        _f64(candles.high),
        _f64(candles.low),
        _f64(candles.close),
        _f64(candles.volume),
        *_plan_arrays(plan, n),
    )
    max_trades = int(np.count_nonzero(inputs[6]))  # each entry signal opens at most one position
    return key, candles, inputs, max_trades, max_trades * (1 + max(inputs[11].shape[1], 1))


#: ``total`` argument of the kernel when no portfolio curve is summed.
_NO_TOTAL = np.empty(0)


def _simulate(prepared: _Prepared, params: np.ndarray, total: np.ndarray = _NO_TOTAL) -> SymbolResult:
    """Run the kernel on one prepared series, adding its equity into ``total`` when that has one value per bar.
    Each series gets its own output arrays: one large block for many series would be backed by huge pages (numpy
    asks for them above 4 MiB), whose first use can stall for compaction; small arrays reuse freed memory."""
    key, candles, inputs, max_trades, max_fills = prepared
    equity = np.empty(len(candles))
    trades = np.empty((max_trades, len(TRADE_FIELDS)))
    fills = np.empty((max_fills, len(FILL_FIELDS)))
    counts = np.zeros(k.N_COUNTS, dtype=np.int64)
    k.simulate(*inputs, params, equity, total, trades, fills, np.zeros(k.N_STATE), counts)
    if counts[k.C_ERROR]:
        bar = int(counts[k.C_ERROR_BAR])
        raise DataError(f"the order plan of {key} at bar {bar}: {_KERNEL_ERRORS[int(counts[k.C_ERROR])]}")
    rej = counts[k.C_REJECTED : k.C_REJECTED + k.N_REJECT]
    rejected = {REJECT_REASONS[i]: int(c) for i, c in enumerate(rej) if c}
    trades = _trim(trades, int(counts[k.C_TRADES]))
    return SymbolResult(key, candles, equity, trades, _trim(fills, int(counts[k.C_FILLS])), rejected)


def _trim(buffer: np.ndarray, rows: int) -> np.ndarray:
    """The first ``rows`` rows; a copy when most of the buffer went unused, so the rest can be freed."""
    return buffer[:rows] if 4 * rows >= len(buffer) else buffer[:rows].copy()


def run_series(
    candles: CandleFrame,
    plan: OrderPlan,
    config: BacktestConfig,
    *,
    initial_equity: float | None = None,
    symbol_index: int = 0,
    key: SeriesKey | None = None,
) -> SymbolResult:
    """Simulate ``plan`` on one series with the rules of this module.

    Args:
        candles: the bars, ``n`` of them (open times ms since the epoch, UTC).
        plan: ``n`` rows, row ``i`` decided at the close of bar ``i``.
        config: the broker.
        initial_equity: the sleeve's starting equity in quote currency (default ``config.initial_equity``).
        symbol_index: written into the ``symbol`` column of trades and fills.
        key: the series (default: a placeholder named after ``symbol_index``).

    Returns:
        A :class:`SymbolResult`: equity and position ``(n,)`` at each bar's close, trades and fills tables.

    Raises:
        DataError: plan and candles differ in length, an array has the wrong shape, ``take_profit_split``
            does not sum to 1, or the plan holds an invalid value (the message names the bar).
        ConfigError: a setting is out of range.
    """
    equity0 = config.initial_equity if initial_equity is None else float(initial_equity)
    _check_config(config, equity0)
    params = _params(config, equity0)
    params[k.P_SYMBOL] = symbol_index
    prepared = _prepare(key if key is not None else _default_key(candles, symbol_index), candles, plan)
    return _simulate(prepared, params)


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
    _check_config(config, sleeve)
    params = _params(config, sleeve)
    first = np.asarray(series[0][1].open_time_ms, dtype=np.int64)
    total = np.zeros(len(first))
    results: list[SymbolResult] = []
    summed: list[bool] = []
    for i, (key, candles, source) in enumerate(series):
        plan = source if isinstance(source, OrderPlan) else source()
        prepared = _prepare(key, candles, plan)
        del plan
        same = len(first) > 0 and _same_times(prepared[2][0], first)
        params[k.P_SYMBOL] = i
        results.append(_simulate(prepared, params, total if same else _NO_TOTAL))
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
    return bool(k.same_values(a, b))


def compile_kernels() -> None:
    """Compile the kernel (or load it from numba's cache) by running it once on 3 bars; call it before
    timing runs."""
    t = np.arange(3, dtype=np.int64) * 60_000
    px = np.array([100.0, 101.0, 102.0])
    candles = CandleFrame(t, px, px + 1, px - 1, px, np.ones(3))
    plan = OrderPlan.market(np.array([1, 0, 0], dtype=np.int8), take_profit=np.full((3, 1), 200.0))
    run_series(candles, plan, BacktestConfig())
    k.crossings(px, px[::-1].copy(), np.empty(3, dtype=np.bool_), np.empty(3, dtype=np.bool_))
    k.same_values(t, t)
