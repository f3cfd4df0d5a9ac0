"""Tiny hand-made candle series and order plans for the backtest engine's tests."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from tsbot.backtest.models import TRADE_FIELDS, BacktestConfig, OrderPlan, SymbolResult
from tsbot.market.models import CandleFrame, SeriesKey, Timeframe

H = Timeframe.H1.ms
T0 = 1_704_067_200_000  # 2024-01-01T00:00:00Z
KEY = SeriesKey("binance", "BTC/USDT", Timeframe.H1)


def bars(rows: Sequence[Sequence[float]], times: Sequence[int] | None = None) -> CandleFrame:
    """Candles from ``(open, high, low, close[, volume])`` rows, hourly from :data:`T0` unless ``times`` is
    given."""
    arr = np.array([list(r) + [1.0] * (5 - len(r)) for r in rows], dtype=np.float64)
    t = T0 + H * np.arange(len(rows)) if times is None else np.asarray(times)
    return CandleFrame(
        np.asarray(t, dtype=np.int64), arr[:, 0].copy(), arr[:, 1].copy(), arr[:, 2].copy(), arr[:, 3].copy(),
        arr[:, 4].copy(),
    )  # fmt: skip


def flat(n: int, price: float = 100.0) -> list[tuple[float, float, float, float]]:
    """``n`` bars that open and close at ``price`` with a 1-unit range."""
    return [(price, price + 1, price - 1, price)] * n


def config(**overrides: Any) -> BacktestConfig:
    """10,000 of equity, no fees, no slippage, next-open fills; ``overrides`` change any field."""
    base: dict[str, Any] = {"initial_equity": 10_000.0, "taker_fee_bps": 0.0, "maker_fee_bps": 0.0}
    base.update(overrides)
    return BacktestConfig(**base)


def plan(
    n: int,
    entry: Mapping[int, int] | None = None,
    exit: Sequence[int] = (),
    *,
    kind: Mapping[int, int] | None = None,
    price: Mapping[int, float] | None = None,
    stop: Mapping[int, float] | None = None,
    targets: Mapping[int, Sequence[float]] | None = None,
    split: Sequence[float] | None = None,
    trail: Mapping[int, float] | None = None,
) -> OrderPlan:
    """An :class:`OrderPlan` of ``n`` rows from sparse ``{bar: value}`` maps (everything else: none)."""
    e = np.zeros(n, dtype=np.int8)
    for i, d in (entry or {}).items():
        e[i] = d
    x = np.zeros(n, dtype=np.bool_)
    x[list(exit)] = True
    k = max((len(v) for v in (targets or {}).values()), default=0)
    tp = np.full((n, k), np.nan)
    for i, levels in (targets or {}).items():
        tp[i, : len(levels)] = levels

    def column(values: Mapping[int, float] | None) -> np.ndarray:
        out = np.full(n, np.nan)
        for i, v in (values or {}).items():
            out[i] = v
        return out

    kinds = np.zeros(n, dtype=np.int8)
    for i, v in (kind or {}).items():
        kinds[i] = v
    return OrderPlan(
        entry=e,
        exit=x,
        entry_kind=kinds,
        entry_price=column(price),
        stop_loss=column(stop),
        take_profit=tp,
        take_profit_split=np.full(k, 1.0 / max(k, 1))
        if split is None
        else np.asarray(split, dtype=np.float64),
        trailing_stop=column(trail),
    )


def trades(result: SymbolResult) -> list[dict[str, float]]:
    """The trade rows as dicts keyed by :data:`TRADE_FIELDS`."""
    return [dict(zip(TRADE_FIELDS, row.tolist(), strict=True)) for row in result.trades]
