"""The built-in strategies, by name: ``scalping``, ``swing``, ``ai_adaptive``, ``fused`` and ``sma_cross``."""

from __future__ import annotations

from collections.abc import Mapping

from tsbot.backtest.strategies.base import Param, SeriesContext, Strategy
from tsbot.backtest.strategies.reference import SmaCross
from tsbot.backtest.strategies.rules import AiAdaptive, Scalping
from tsbot.backtest.strategies.signal import FusedSignal, Swing
from tsbot.config import TradingConfig
from tsbot.core.errors import ConfigError

#: Strategy classes by name, in the order the help lists them.
STRATEGIES: dict[str, type[Strategy]] = {
    cls.name: cls for cls in (Scalping, Swing, AiAdaptive, FusedSignal, SmaCross)
}


def build_strategy(name: str, trading: TradingConfig, params: Mapping[str, float] | None = None) -> Strategy:
    """The strategy called ``name`` with ``params`` over its defaults.

    Raises:
        ConfigError: unknown name (the message lists the known ones) or a bad parameter.
    """
    cls = STRATEGIES.get(name.strip().lower())
    if cls is None:
        raise ConfigError(f"unknown strategy {name!r}; built-in strategies: {', '.join(STRATEGIES)}")
    return cls(trading, params)


__all__ = ["STRATEGIES", "Param", "SeriesContext", "Strategy", "build_strategy"]
