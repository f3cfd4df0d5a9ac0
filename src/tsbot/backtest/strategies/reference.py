"""``sma_cross``: the textbook moving-average crossover, kept as the reference that checks the engine against peers."""

from __future__ import annotations

from functools import partial
from typing import ClassVar

import numpy as np

from tsbot.backtest.array_kernels import sma_crossings, sma_crossings_rows
from tsbot.backtest.models import BacktestConfig, OrderPlan, StreamedPlan
from tsbot.backtest.strategies.base import Param, SeriesContext, Strategy, replace_config
from tsbot.core.errors import ConfigError
from tsbot.market.models import CandleFrame

#: TA-Lib's range of ``SMA`` periods.
_MIN_PERIOD, _MAX_PERIOD = 2, 100_000


def sma_cross_signals(close: np.ndarray, fast: int, slow: int) -> tuple[np.ndarray, np.ndarray]:
    """Entries and exits of the SMA crossover: long when SMA(fast) crosses above SMA(slow), out when it crosses
    below. ``close`` float64 ``(n,)`` -> two bool ``(n,)``; or ``(m, n)``, one series per row (a panel, see
    :func:`~tsbot.backtest.panel.run_panel`) -> two bool ``(m, n)``. A simple mean depends only on its last
    ``period`` bars, so the signals do not depend on where the series starts.

    The means are TA-Lib's ``SMA`` (its running sums and rounding, bit for bit) and the crossings those of
    :func:`~tsbot.backtest.strategies.base.crosses`, computed in one compiled pass
    (:func:`~tsbot.backtest.array_kernels.sma_crossings`).

    Raises:
        ConfigError: a period outside TA-Lib's range ``[2, 100000]``.
        ValueError: ``close`` has neither one nor two dimensions.
    """
    _check_periods(fast, slow)
    x = np.ascontiguousarray(close, dtype=np.float64)
    if x.ndim not in (1, 2):
        raise ValueError(f"sma_cross_signals needs close prices of shape (n,) or (m, n), got {x.shape}")
    up = np.empty(x.shape, dtype=np.bool_)
    down = np.empty(x.shape, dtype=np.bool_)
    (sma_crossings if x.ndim == 1 else sma_crossings_rows)(x, int(fast), int(slow), up, down)
    return up, down


def sma_cross_stream(close: np.ndarray, fast: int, slow: int) -> StreamedPlan:
    """The plan of :func:`sma_cross_signals` (entries on crosses above, exits on crosses below, market orders) for
    one series ``close`` float64 ``(n,)``, as a :class:`~tsbot.backtest.models.StreamedPlan`: ``run_series``
    computes the crossings on a worker thread and simulates each bar as soon as its signals are written. The
    signals are the same bits as :func:`sma_cross_signals` gives.

    Raises:
        ConfigError: a period outside TA-Lib's range ``[2, 100000]``.
        ValueError: ``close`` is not one series ``(n,)``.
    """
    _check_periods(fast, slow)
    x = np.ascontiguousarray(close, dtype=np.float64)
    if x.ndim != 1:
        raise ValueError(f"sma_cross_stream needs the close prices of one series, shape (n,), got {x.shape}")
    up = np.empty(x.shape, dtype=np.bool_)
    down = np.empty(x.shape, dtype=np.bool_)
    ready = np.zeros(1, dtype=np.int64)
    return StreamedPlan(
        OrderPlan.market(up, down), ready, partial(sma_crossings, x, int(fast), int(slow), up, down, ready)
    )


def _check_periods(fast: int, slow: int) -> None:
    for name, period in (("fast", fast), ("slow", slow)):
        if not _MIN_PERIOD <= period <= _MAX_PERIOD:
            raise ConfigError(f"SMA {name} period {period} is outside [{_MIN_PERIOD}, {_MAX_PERIOD}]")


class SmaCross(Strategy):
    """Long when the fast SMA crosses above the slow one, flat (or short, with ``allow_short``) when it crosses
    below. No stop-loss, no targets: all in, all out."""

    name: ClassVar[str] = "sma_cross"
    summary: ClassVar[str] = "fast / slow simple-moving-average crossover (the reference for peer checks)"
    PARAMS: ClassVar[dict[str, Param]] = {
        "fast": Param(10, 2, 100, integer=True, help="bars of the fast SMA"),
        "slow": Param(50, 3, 400, integer=True, help="bars of the slow SMA"),
        "allow_short": Param(0, 0, 1, integer=True, help="1: short on the cross below instead of going flat"),
    }

    def _check(self, values: dict[str, float]) -> None:
        if values["fast"] >= values["slow"]:
            raise ConfigError(
                f"sma_cross: fast ({values['fast']}) must be shorter than slow ({values['slow']})"
            )

    def warmup_bars(self) -> int:
        return int(self.p("slow"))

    def broker(self, config: BacktestConfig) -> BacktestConfig:
        return replace_config(config, allow_short=bool(self.p("allow_short")))

    def plan(self, candles: CandleFrame, context: SeriesContext | None = None, start: int = 0) -> OrderPlan:
        up, down = sma_cross_signals(candles.close, int(self.p("fast")), int(self.p("slow")))
        entry = up.astype(np.int8)
        if self.p("allow_short"):
            entry[down] = -1
        return OrderPlan.market(entry, down)
