"""Candle series and order plans for the backtest engine's tests: tiny hand-made ones, and random ones (random
walks with gaps and dead bars; plans with every kind of order) for the property tests."""

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


def random_candles(rng: np.random.Generator, n: int) -> CandleFrame:
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.03, n)))
    gap = rng.normal(0, 0.01, n) * (rng.random(n) < 0.2)
    open_ = np.r_[100.0, close[:-1]] * np.exp(gap)
    high = np.maximum(open_, close) * (1 + rng.exponential(0.01, n))
    low = np.minimum(open_, close) * (1 - rng.uniform(0, 0.02, n))
    volume = np.where(rng.random(n) < 0.1, 0.0, 1.0)
    dead = rng.random(n) < 0.05
    for a in (open_, high, low, close):
        a[dead] = np.nan
    times = T0 + H * np.cumsum(rng.integers(1, 4, n))  # some hours missing
    return CandleFrame(times.astype(np.int64), open_, high, low, close, volume)


def random_plan(rng: np.random.Generator, candles: CandleFrame, levels: int) -> OrderPlan:
    n = len(candles)
    ref = np.nan_to_num(candles.close, nan=100.0)
    side = rng.choice([-1, 0, 0, 0, 1], n).astype(np.int8)
    kind = rng.integers(0, 3, n).astype(np.int8)
    price = ref * (1 + rng.normal(0, 0.03, n))
    price[rng.random(n) < 0.05] = np.nan
    distance = ref * rng.uniform(0.005, 0.08, n)
    stop = np.where(rng.random(n) < 0.3, np.nan, ref - side * distance * rng.choice([1, 1, 1, -1], n))
    step = ref[:, None] * rng.uniform(0.005, 0.05, (n, 1)) * np.arange(1, levels + 1)
    targets = ref[:, None] + side[:, None] * step
    targets[rng.random((n, levels)) < 0.2] = np.nan
    split = rng.dirichlet(np.ones(levels)) if levels else np.empty(0)
    trail = np.where(rng.random(n) < 0.6, np.nan, ref * rng.uniform(0.005, 0.05, n))
    return OrderPlan(side, rng.random(n) < 0.1, kind, price, stop, targets, split, trail)
