"""What the backtest kernel is given: the broker settings checked and packed, and the candles' and plan's arrays
checked and converted to the kernel's dtypes and layouts (C-contiguous, writable), copying only what must be.
Shared by :mod:`tsbot.backtest.engine` and :mod:`tsbot.backtest.panel`.
"""

from __future__ import annotations

import math

import numpy as np

from tsbot.backtest import kernel as k
from tsbot.backtest.models import BacktestConfig, FillAt, OrderPlan, Sizing, constant_head, writable_constant
from tsbot.core.errors import ConfigError, DataError

#: Messages of the kernel's error codes (an invalid value in the plan).
KERNEL_ERRORS = {
    k.ERR_ENTRY_VALUE: "entry must be -1, 0 or +1",
    k.ERR_ENTRY_KIND: "entry_kind must be an EntryKind (0 market, 1 limit, 2 stop)",
    k.ERR_TRAILING: "trailing_stop must be NaN (none) or a positive price distance",
    k.ERR_NO_ROOM: "the engine's trades / fills tables had no room for this bar (a fault of the engine, not the plan)",
}

#: The kernel's dtypes.
I64, F64, I8, BOOL = (np.dtype(t) for t in (np.int64, np.float64, np.int8, np.bool_))

#: The kernel's ``ready`` argument for a plan written in full (every row is final).
ALL_ROWS_READY = np.array([np.iinfo(np.int64).max], dtype=np.int64)


def check_config(config: BacktestConfig, initial_equity: float) -> None:
    """Raise ConfigError for a setting out of range (``initial_equity``: the sleeve of one series)."""

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


def kernel_params(config: BacktestConfig, initial_equity: float) -> np.ndarray:
    """The kernel's ``params`` vector (indices ``P_*`` of :mod:`tsbot.backtest.kernel`) for one sleeve."""
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


def kernel_array(a: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """``a`` as a C-contiguous, writable array of ``dtype``, copied only when it must be: the kernel has one
    compiled specialisation, for writable arrays (a read-only one would compile another). It never writes to
    its inputs."""
    if type(a) is np.ndarray and a.dtype is dtype:  # the usual cases, without numpy's conversion machinery
        flags = a.flags
        if flags.c_contiguous:
            if flags.writeable:
                return a
            shared = writable_constant(a)
            if shared is not None:
                return shared
    out = np.ascontiguousarray(a, dtype=dtype)
    if not out.flags.writeable:
        shared = writable_constant(out)
        out = shared if shared is not None else out.copy()
    return out


def f64(a: np.ndarray) -> np.ndarray:
    """:func:`kernel_array` as float64."""
    return kernel_array(a, F64)


#: The plan's per-bar columns and their dtypes in the kernel.
PLAN_COLUMNS = (
    ("entry", I8),
    ("exit", BOOL),
    ("entry_kind", I8),
    ("entry_price", F64),
    ("stop_loss", F64),
    ("trailing_stop", F64),
)


def plan_arrays(plan: OrderPlan, n: int) -> tuple[np.ndarray, ...]:
    """The plan's arrays in the kernel's order, dtypes and layouts, after shape checks (DataError). A column
    left constant by :meth:`OrderPlan.market` goes to the kernel as one value (see
    :func:`~tsbot.backtest.kernel.simulate`)."""
    columns = [getattr(plan, name) for name, _ in PLAN_COLUMNS]
    for (name, _), a in zip(PLAN_COLUMNS, columns, strict=True):
        if np.shape(a) != (n,):
            raise DataError(
                f"OrderPlan.{name} has shape {np.shape(a)}; the candles have {n} bars, so it must be ({n},)"
            )
    entry, exit_ = kernel_array(columns[0], I8), kernel_array(columns[1], BOOL)
    kind, price, stop, trail = (
        plan_column(a, t) for a, (_, t) in zip(columns[2:], PLAN_COLUMNS[2:], strict=True)
    )
    tp = f64(plan.take_profit)
    if tp.ndim != 2 or tp.shape[0] != n:
        raise DataError(
            f"OrderPlan.take_profit has shape {tp.shape}; it must be ({n}, k) (k levels, may be 0)"
        )
    return entry, exit_, kind, price, stop, tp, checked_split(plan.take_profit_split, tp.shape[1]), trail


def plan_column(a: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """A plan column for the kernel: ``(1,)`` when it is a shared constant, else as :func:`kernel_array`."""
    head = constant_head(a) if type(a) is np.ndarray and a.dtype is dtype else None
    return head if head is not None else kernel_array(a, dtype)


def checked_split(split: np.ndarray, levels: int) -> np.ndarray:
    """``OrderPlan.take_profit_split`` for ``levels`` take-profit levels, checked (DataError)."""
    out = f64(split)
    if out.shape != (levels,):
        raise DataError(f"OrderPlan.take_profit_split has shape {out.shape}; take_profit has {levels} levels")
    if levels and (not np.all(out > 0) or abs(float(out.sum()) - 1.0) > 1e-9):
        raise DataError(
            "OrderPlan.take_profit_split must be positive shares that sum to 1 (within 1e-9); "
            f"got {out.tolist()}"
        )
    return out
