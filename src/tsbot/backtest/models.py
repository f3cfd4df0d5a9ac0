"""Value objects of the backtester: what a strategy asks for (:class:`OrderPlan`), how the simulated broker behaves
(:class:`BacktestConfig`), and what comes out (trades, fills, equity: :class:`SymbolResult`, :class:`BacktestResult`).

Vector data are float64 / int numpy arrays aligned with the candles of one series (shape ``(n,)``, index ``i`` is the
bar whose open time is ``open_time_ms[i]``, UTC). Prices are in quote currency, quantities in base units.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from enum import IntEnum, StrEnum
from typing import Any

import numpy as np

from tsbot.market.models import CandleFrame, SeriesKey


class FillAt(StrEnum):
    """When a market order raised at the close of bar ``i`` fills.

    ``NEXT_OPEN`` (default): at the open of bar ``i + 1``, the first price anyone could trade after seeing bar ``i``.
    ``CLOSE``: at the close of bar ``i`` itself (optimistic; what many peers do, used to compare with them).
    """

    NEXT_OPEN = "next_open"
    CLOSE = "close"


class Sizing(StrEnum):
    """How a new position is sized.

    ``FIXED_FRACTION``: ``fraction_ratio`` of the sleeve's equity pays the margin and the entry fee:
    ``qty = fraction_ratio * equity / (price * (1 / leverage + fee rate))`` (notional = margin x leverage).
    ``RISK``: the quantity loses ``risk_per_trade_ratio`` of equity if the stop-loss is hit
    (``qty = risk_per_trade_ratio * equity / |entry - stop|``), capped by the fixed-fraction size; an entry with no
    stop-loss falls back to the fixed fraction.
    """

    FIXED_FRACTION = "fixed_fraction"
    RISK = "risk"


class EntryKind(IntEnum):
    """Order type of an entry: market, limit (fills at the price or better) or stop (fills once the price trades
    through it)."""

    MARKET = 0
    LIMIT = 1
    STOP = 2


class ExitReason(IntEnum):
    """Why (the last part of) a position was closed."""

    SIGNAL = 0
    STOP_LOSS = 1
    TAKE_PROFIT = 2
    TRAILING_STOP = 3
    LIQUIDATION = 4
    MAX_HOLD = 5
    END_OF_DATA = 6
    REVERSAL = 7


_CONSTANTS: dict[tuple[object, object], np.ndarray] = {}
#: (dtype, value, n) -> the read-only view handed out and the same memory writable, so that a plan built for a
#: series of a length seen before costs a dictionary look-up per constant column.
_VIEWS: dict[tuple[object, object, int], tuple[np.ndarray, np.ndarray]] = {}
#: id of each read-only view in ``_VIEWS`` -> its writable twin (the views are kept alive by ``_VIEWS``).
_WRITABLE: dict[int, np.ndarray] = {}
#: Lengths remembered at most before the view cache starts over.
_MAX_VIEWS = 256


def constant_column(value: float | bool, dtype: type, n: int) -> np.ndarray:
    """A read-only ``(n,)`` array of ``value``: a view of one shared buffer per (dtype, value), grown as needed.

    Plans use it for the columns a strategy leaves empty (no stop-loss: NaN), which saves allocating and filling
    them on every run. :func:`writable_constant` gives the engine the same memory writable, for the kernel.
    """
    value_key = "nan" if value != value else value  # one key for every NaN object
    cached = _VIEWS.get((dtype, value_key, n))
    if cached is not None:
        return cached[0]
    key = (dtype, value_key)
    base = _CONSTANTS.get(key)
    if base is None or base.shape[0] < n:
        if base is not None or len(_VIEWS) >= _MAX_VIEWS:
            _forget_views()  # views of a replaced buffer are no longer recognised as constants
        base = np.full(max(n, 1024), value, dtype=dtype)
        _CONSTANTS[key] = base
    elif len(_VIEWS) >= _MAX_VIEWS:
        _forget_views()
    writable = base[:n]
    view = base[:n]
    view.flags.writeable = False
    _VIEWS[(dtype, value_key, n)] = (view, writable)
    _WRITABLE[id(view)] = writable
    return view


def _forget_views() -> None:
    _VIEWS.clear()
    _WRITABLE.clear()


def constant_head(a: np.ndarray) -> np.ndarray | None:
    """The first element of a :func:`constant_column` view ``a`` (1-d, not empty) as a writable ``(1,)`` array, or
    None when ``a`` is not one: the backtest kernel reads a column of one value as that value for every bar."""
    writable = writable_constant(a)
    return None if writable is None or not writable.shape[0] else writable[:1]


def writable_constant(a: np.ndarray) -> np.ndarray | None:
    """The memory of a :func:`constant_column` view ``a`` (1-d), as a writable array the same length; None when
    ``a`` is not one. Only for callers that never write to it (the backtest kernel takes writable arrays)."""
    writable = _WRITABLE.get(id(a))
    if writable is not None:
        return writable
    base = a.base
    if a.ndim != 1 or base is None or not any(base is b for b in _CONSTANTS.values()):
        return None
    return base[: a.shape[0]]


_BOOL = np.dtype(np.bool_)
#: ``take_profit_split`` of a plan without targets; it has no element, so plans can share it.
_NO_SPLIT = np.empty(0)
#: ``(n, 0)`` take-profit arrays by ``n``, shared for the same reason.
_NO_TARGETS: dict[int, np.ndarray] = {}


def _no_targets(n: int) -> np.ndarray:
    tp = _NO_TARGETS.get(n)
    if tp is None:
        if len(_NO_TARGETS) >= _MAX_VIEWS:
            _NO_TARGETS.clear()
        tp = _NO_TARGETS[n] = np.empty((n, 0))
    return tp


@dataclass(frozen=True, slots=True)
class OrderPlan:
    """What a strategy asks the simulated broker to do on one series, bar by bar.

    Every array has ``n = len(candles)`` rows; row ``i`` is decided at the close of bar ``i`` from bars ``0..i`` only.

    Attributes:
        entry: int8 ``(n,)``: +1 open a long, -1 open a short, 0 nothing. Ignored while a position in the same
            direction is open (no pyramiding); the opposite direction closes the position and opens the new one.
        exit: bool ``(n,)``: close the open position (at the fill model's price).
        entry_kind: int8 ``(n,)``: an :class:`EntryKind` per bar (only read where ``entry != 0``).
        entry_price: float64 ``(n,)``: limit / stop price of the entry; NaN for market entries.
        stop_loss: float64 ``(n,)``: stop-loss price of a position opened from this bar; NaN for none.
        take_profit: float64 ``(n, k)``: take-profit prices, nearest first; NaN pads unused levels (k may be 0).
        take_profit_split: float64 ``(k,)``: share of the initial quantity closed at each level (sums to 1; the last
            level reached closes whatever is left).
        trailing_stop: float64 ``(n,)``: trailing-stop distance in price units for a position opened from this bar;
            NaN for none. During bar ``j`` the trailing stop of a long sits at (highest high of the bars before ``j``
            since entry) - distance, mirrored for a short: a bar's own extreme moves the trail only from the next
            bar on, so the simulation never uses the order of prices inside a bar.
    """

    entry: np.ndarray
    exit: np.ndarray
    entry_kind: np.ndarray
    entry_price: np.ndarray
    stop_loss: np.ndarray
    take_profit: np.ndarray
    take_profit_split: np.ndarray
    trailing_stop: np.ndarray

    def __len__(self) -> int:
        return int(self.entry.shape[0])

    @classmethod
    def market(
        cls,
        entry: np.ndarray,
        exit: np.ndarray | None = None,
        *,
        stop_loss: np.ndarray | None = None,
        take_profit: np.ndarray | None = None,
        take_profit_split: np.ndarray | None = None,
        trailing_stop: np.ndarray | None = None,
    ) -> OrderPlan:
        """A plan of market entries; missing arrays mean "none" (no exits, no stops, no targets).

        The columns left out (and ``entry_kind``, all market) are read-only views of one shared constant array
        (:func:`constant_column`), so a long series allocates and fills nothing for them. A bool ``entry`` is taken
        as 0 / +1 without a copy. Build a new plan to change a column.

        ``entry`` and ``exit`` may also be ``(m, n)``: the plan of a panel of ``m`` series on one clock
        (:func:`~tsbot.backtest.panel.run_panel`); the columns left out are then ``(n,)``, the same for every series,
        and take-profits are ``(n, k)`` or ``(m, n, k)``.
        """
        side = np.asarray(entry)
        n = int(side.shape[-1])
        nan = constant_column(np.nan, np.float64, n)
        if take_profit is None:
            tp, split = _no_targets(n), _NO_SPLIT
        else:
            tp = np.asarray(take_profit, dtype=np.float64)
            if tp.ndim == 1:
                tp = tp.reshape(n, 1)
            k = tp.shape[-1]
            split = (
                (
                    np.full(k, 1.0 / k)
                    if take_profit_split is None and k
                    else np.asarray(take_profit_split, dtype=float)
                )
                if k
                else _NO_SPLIT
            )
        return cls(
            entry=side.view(np.int8) if side.dtype is _BOOL else side.astype(np.int8, copy=False),
            exit=constant_column(False, np.bool_, n) if exit is None else np.asarray(exit, dtype=np.bool_),
            entry_kind=constant_column(0, np.int8, n),
            entry_price=nan,
            stop_loss=nan if stop_loss is None else np.asarray(stop_loss, dtype=np.float64),
            take_profit=tp,
            take_profit_split=split,
            trailing_stop=nan if trailing_stop is None else np.asarray(trailing_stop, dtype=np.float64),
        )


@dataclass(frozen=True, slots=True)
class StreamedPlan:
    """An order plan that is simulated while it is being written: the engine calls ``write`` on another thread and
    simulates each bar as soon as its row is final, so computing the signals of a long series and simulating them
    take about the time of the longer of the two instead of their sum (with two or more processor cores; on one,
    the plan is written first).

    Attributes:
        plan: the plan being written. Its arrays must already be in the engine's dtypes and layouts (``entry``
            int8, ``exit`` bool, prices float64, C-contiguous, writable, or left constant by
            :meth:`OrderPlan.market`) so that the engine reads them in place; ``run_series`` refuses one it would
            have to copy.
        ready: int64 ``(1,)``, the number of rows of every per-bar column that are final. ``write`` raises it as
            it goes, each time with an atomic store with release ordering
            (:func:`~tsbot.backtest.array_kernels.publish`), rows in order, ending at ``len(plan)``. Start it at 0.
        write: writes the rows and raises ``ready``; called once, with no arguments. Make it a compiled function
            that releases the GIL (``nogil``), or the simulation cannot run beside it. An exception it raises is
            raised by the engine.

    :func:`~tsbot.backtest.strategies.reference.sma_cross_stream` makes one for the SMA crossover.
    """

    plan: OrderPlan
    ready: np.ndarray
    write: Callable[[], object]


@dataclass(frozen=True, slots=True)
class BacktestConfig:
    """How the simulated broker behaves. Fees and slippage are in basis points (1 bp = 0.01 %) of the notional.

    Attributes:
        initial_equity: starting equity in quote currency, split equally over the symbols of a run (one sleeve each).
        fill: :class:`FillAt` for market entries and signal exits.
        taker_fee_bps: fee of market and stop fills (entries, stop-loss, trailing stop, signal exits, max-hold and
            end-of-data exits, reversals).
        maker_fee_bps: fee of limit fills (limit entries, take-profits).
        slippage_bps: price concession on market and stop fills (buy higher, sell lower); none on limit fills.
        leverage: notional / margin, >= 1.
        maintenance_margin_ratio: a position is liquidated when its equity (margin + unrealised P&L) falls to this
            share of its entry notional (long at ``entry * (1 - 1/leverage + ratio)``, short mirrored) and loses its
            whole margin; at 1x a long is never liquidated. Must be below ``1 / leverage``.
        sizing: :class:`Sizing`.
        fraction_ratio: share of the sleeve's equity committed per position (margin and entry fee), in (0, 1].
        risk_per_trade_ratio: share of the sleeve's equity lost at the stop-loss, for :attr:`Sizing.RISK`.
        stop_first: when one bar touches both the stop-loss and a take-profit, the stop is taken (True, the
            pessimistic default) or the targets are taken first and the stop applies to what is left (False).
        allow_short: short entries are taken (False: -1 entries are ignored).
        entry_expiry_bars: a limit / stop entry not filled within this many bars is cancelled.
        max_hold_bars: a position open this many bars is closed like a signal exit (0: no limit).
        breakeven_after_first_target: after the first take-profit fills, the stop moves to the entry price.
        skip_zero_volume: a bar with zero volume fills nothing: orders and stops wait for the next bar that traded
            (a bar with a NaN price never fills anything).
    """

    initial_equity: float = 10_000.0
    fill: FillAt = FillAt.NEXT_OPEN
    taker_fee_bps: float = 10.0
    maker_fee_bps: float = 2.0
    slippage_bps: float = 0.0
    leverage: float = 1.0
    maintenance_margin_ratio: float = 0.005
    sizing: Sizing = Sizing.FIXED_FRACTION
    fraction_ratio: float = 1.0
    risk_per_trade_ratio: float = 0.01
    stop_first: bool = True
    allow_short: bool = True
    entry_expiry_bars: int = 24
    max_hold_bars: int = 0
    breakeven_after_first_target: bool = False
    skip_zero_volume: bool = True

    def to_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.__dataclass_fields__}


#: Columns of the trades table (one row per position, from entry to its last exit).
TRADE_FIELDS: tuple[str, ...] = (
    "symbol",  # index into BacktestResult.keys
    "side",  # +1 long, -1 short
    "entry_bar",
    "entry_time_ms",
    "entry_price",  # average fill price of the entry, after slippage
    "exit_bar",  # bar of the last exit fill
    "exit_time_ms",
    "exit_price",  # quantity-weighted average of the exit fills
    "qty",  # base units
    "pnl",  # quote currency, after fees
    "fees",  # quote currency, entry and exits
    "return_ratio",  # pnl / margin committed
    "r_multiple",  # pnl / (qty x |entry - initial stop|); NaN without a stop
    "bars_held",
    "exit_reason",  # ExitReason of the last exit fill
    "exits",  # number of exit fills (partial take-profits included)
)

#: Columns of the fills table (one row per fill).
FILL_FIELDS: tuple[str, ...] = (
    "symbol",
    "bar",
    "time_ms",
    "side",  # +1 buy, -1 sell
    "price",
    "qty",
    "fee",
    "is_entry",  # 1 entry, 0 exit
    "reason",  # ExitReason for exits, -1 for entries
)


_FILL_BAR, _FILL_SIDE, _FILL_QTY = (FILL_FIELDS.index(name) for name in ("bar", "side", "qty"))


def positions_from_fills(fills: np.ndarray, n: int) -> np.ndarray:
    """Signed quantity held at the close of each of ``n`` bars, from a fills table in the order the fills happened.

    Each fill moves the position by ``side * qty``; the running sum is taken in fill order, so a position closed by
    its fills (partial exits included) comes back to exactly 0. Returns float64 ``(n,)``.

    Raises:
        ValueError: a fill's bar is outside ``0..n-1``, or the fills are not in bar order.
    """
    out = np.zeros(n)
    if not len(fills):
        return out
    bars = fills[:, _FILL_BAR].astype(np.int64)
    if bars[0] < 0 or bars[-1] >= n or np.any(bars[1:] < bars[:-1]):
        raise ValueError(f"fills must be in bar order with bars in 0..{n - 1}")
    held = np.cumsum(fills[:, _FILL_SIDE] * fills[:, _FILL_QTY])
    last = np.searchsorted(bars, np.arange(n), side="right") - 1
    known = last >= 0
    out[known] = held[last[known]]
    return out


@dataclass(slots=True)
class SymbolResult:
    """What happened on one series (its sleeve).

    Attributes:
        key: the series.
        candles: the candles simulated.
        equity: float64 ``(n,)``: the sleeve's equity at each bar's close (cash + margin + unrealised P&L).
        trades: float64 ``(t, len(TRADE_FIELDS))``.
        fills: float64 ``(f, len(FILL_FIELDS))``, in the order they happened.
        rejected: reason -> count of entries the broker refused (e.g. a stop-loss on the wrong side of the fill).
    """

    key: SeriesKey
    candles: CandleFrame
    equity: np.ndarray
    trades: np.ndarray
    fills: np.ndarray
    rejected: dict[str, int] = field(default_factory=dict)
    _position: np.ndarray | None = field(default=None, init=False, repr=False, compare=False)

    @property
    def position(self) -> np.ndarray:
        """float64 ``(n,)``: signed quantity held at each bar's close, derived from the fills on first use (the
        simulation does not write it bar by bar: most runs never read it)."""
        if self._position is None:
            self._position = positions_from_fills(self.fills, len(self.candles))
        return self._position


@dataclass(slots=True)
class BacktestResult:
    """A whole run: one :class:`SymbolResult` per series and the portfolio built from their sleeves.

    Attributes:
        keys: the series, in run order (``trades[:, 0]`` indexes this list).
        symbols: per-series results, same order.
        time_ms: int64 ``(m,)``: the union of the series' bar open times, sorted.
        equity: float64 ``(m,)``: the sum of the sleeves' equity (each carried forward over times it has no bar).
        config: the broker configuration used.
    """

    keys: list[SeriesKey]
    symbols: list[SymbolResult]
    time_ms: np.ndarray
    equity: np.ndarray
    config: BacktestConfig

    @property
    def trades(self) -> np.ndarray:
        """All trades, ``(t, len(TRADE_FIELDS))``, ordered by entry time."""
        parts = [s.trades for s in self.symbols if len(s.trades)]
        if not parts:
            return np.empty((0, len(TRADE_FIELDS)))
        out = np.vstack(parts)
        return out[np.argsort(out[:, TRADE_FIELDS.index("entry_time_ms")], kind="stable")]

    @property
    def rejected(self) -> dict[str, int]:
        """Refused entries by reason, summed over the series."""
        total: dict[str, int] = {}
        for s in self.symbols:
            for reason, count in s.rejected.items():
                total[reason] = total.get(reason, 0) + count
        return total
