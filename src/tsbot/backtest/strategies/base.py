"""What a strategy is: named, parameterised rules that turn candles (and point-in-time context) into an
:class:`~tsbot.backtest.models.OrderPlan` for the one backtest engine.

A strategy never sees the future: row ``i`` of its plan must come from bars ``0..i`` and from context values known at
bar ``i``'s close. :mod:`tsbot.backtest.lookahead` proves it for every built-in strategy.
"""

from __future__ import annotations

import dataclasses
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from tsbot.backtest.array_kernels import crossings
from tsbot.backtest.models import BacktestConfig, OrderPlan
from tsbot.config import TradingConfig
from tsbot.core.errors import ConfigError
from tsbot.market.models import CandleFrame


@dataclass(frozen=True, slots=True)
class SeriesContext:
    """Point-in-time inputs beyond the candles, each aligned with the bars (shape ``(n,)``), NaN where unknown.

    Attributes:
        sentiment: news sentiment score in [-1, 1] as known at each bar's close (headlines first seen by then).
        evidence_ratio: weight of that reading in [0, 1] (few headlines: low).
        ml: ML ensemble score in [-1, 1] at each bar, from a model that was not trained on that bar.
    """

    sentiment: np.ndarray | None = None
    evidence_ratio: np.ndarray | None = None
    ml: np.ndarray | None = None

    def cut(self, stop: int, start: int = 0) -> SeriesContext:
        """The context of bars ``start..stop-1`` (to pair with the same slice of the candles)."""

        def part(a: np.ndarray | None) -> np.ndarray | None:
            return None if a is None else a[start:stop]

        return SeriesContext(part(self.sentiment), part(self.evidence_ratio), part(self.ml))


@dataclass(frozen=True, slots=True)
class Param:
    """A tunable parameter: its default and the range :mod:`tsbot.backtest.optimize` searches (inclusive)."""

    default: float
    low: float
    high: float
    integer: bool = False
    help: str = ""


class Strategy(ABC):
    """A named configuration of the backtest engine.

    Subclasses set :attr:`name`, :attr:`summary`, :attr:`PARAMS` and implement :meth:`plan`; they may adjust the
    broker settings in :meth:`broker`.
    """

    name: ClassVar[str]
    summary: ClassVar[str]
    #: Whether the strategy reads ``SeriesContext.ml`` (a walk-forward run then trains a model per fold).
    uses_ml: ClassVar[bool] = False
    #: Whether the strategy reads ``SeriesContext.sentiment``.
    uses_sentiment: ClassVar[bool] = False
    PARAMS: ClassVar[dict[str, Param]] = {}

    def __init__(self, trading: TradingConfig, params: Mapping[str, float] | None = None) -> None:
        """
        Raises:
            ConfigError: an unknown parameter name, or a value outside its range.
        """
        self.trading = trading
        values = {name: p.default for name, p in self.PARAMS.items()}
        for name, value in (params or {}).items():
            spec = self.PARAMS.get(name)
            if spec is None:
                known = ", ".join(self.PARAMS) or "none"
                raise ConfigError(f"strategy {self.name} has no parameter {name!r}; its parameters: {known}")
            if not spec.low <= float(value) <= spec.high:
                raise ConfigError(
                    f"{self.name}.{name} = {value} is outside its range [{spec.low:g}, {spec.high:g}]"
                )
            values[name] = int(value) if spec.integer else float(value)
        self._check(values)
        self.params: dict[str, float] = values

    def _check(self, values: dict[str, float]) -> None:  # noqa: B027 - most strategies have no cross-rules
        """Cross-parameter rules (e.g. fast < slow); raise ConfigError. Default: none."""

    def with_params(self, params: Mapping[str, float]) -> Strategy:
        """A copy with some parameters changed."""
        return type(self)(self.trading, {**self.params, **params})

    def p(self, name: str) -> float:
        return self.params[name]

    def warmup_bars(self) -> int:
        """Bars of history before the first bar whose plan row can be non-empty."""
        return self.trading.lookback_bars

    def broker(self, config: BacktestConfig) -> BacktestConfig:
        """The broker settings this strategy runs with, from the user's: a ``max_hold_bars`` parameter, when the
        strategy has one, sets the broker's holding limit."""
        if "max_hold_bars" in self.params:
            return replace_config(config, max_hold_bars=int(self.params["max_hold_bars"]))
        return config

    @abstractmethod
    def plan(self, candles: CandleFrame, context: SeriesContext | None = None, start: int = 0) -> OrderPlan:
        """The order plan for every bar.

        Args:
            candles: one series, oldest first.
            context: sentiment / ML aligned with the candles (None: none).
            start: rows before ``start`` may be left empty (the caller will not trade them); rows from ``start``
                on must be exactly what a run over all bars gives.
        """

    def describe(self) -> dict[str, Any]:
        return {"strategy": self.name, "params": dict(self.params)}


def replace_config(config: BacktestConfig, **changes: Any) -> BacktestConfig:
    return dataclasses.replace(config, **changes)


def crosses(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Bars where ``a`` crosses above ``b`` (``a[i] > b[i]`` and ``a[i-1] <= b[i-1]``) and below (mirrored).
    NaN on either bar means no cross. Shapes ``(n,)`` -> two bool ``(n,)``."""
    a = np.ascontiguousarray(a, dtype=np.float64)
    b = np.ascontiguousarray(b, dtype=np.float64)
    if a.shape != b.shape or a.ndim != 1:
        raise ValueError(f"crosses needs two arrays of one shape (n,), got {a.shape} and {b.shape}")
    up = np.empty(a.shape[0], dtype=np.bool_)
    down = np.empty(a.shape[0], dtype=np.bool_)
    crossings(a, b, up, down)
    return up, down


def sign_changes(sign: np.ndarray) -> np.ndarray:
    """int8 ``(n,)``: the new sign where a sign series turns to +1 or -1 (from anything else), else 0."""
    out = np.zeros(sign.shape[0], dtype=np.int8)
    if sign.shape[0]:
        prev = np.concatenate(([0.0], sign[:-1]))
        turned = (sign != prev) & (sign != 0)
        out[turned] = sign[turned].astype(np.int8)
    return out


def levels(
    close: np.ndarray, side: np.ndarray, stop_distance: np.ndarray, targets_r: tuple[float, ...]
) -> tuple[np.ndarray, np.ndarray]:
    """Stop-loss and take-profit prices from the signal bar's close: ``stop = close - side * d`` and
    ``target_k = close + side * r_k * d`` (R multiples of the stop distance ``d``). NaN where side is 0 or ``d``
    is not positive. Returns ``(stop (n,), targets (n, k))``."""
    ok = (side != 0) & (stop_distance > 0)
    s = side.astype(np.float64)
    stop = np.where(ok, close - s * stop_distance, np.nan)
    tps = np.full((close.shape[0], len(targets_r)), np.nan)
    for j, r in enumerate(targets_r):
        tps[:, j] = np.where(ok, close + s * r * stop_distance, np.nan)
    return stop, tps
