"""JSON export of a hand-made backtest: trade fields, times, NaN handling, extra keys."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from tsbot.backtest.export import iso_utc, json_ready, result_to_json
from tsbot.backtest.models import (
    FILL_FIELDS,
    TRADE_FIELDS,
    BacktestConfig,
    BacktestResult,
    ExitReason,
    FillAt,
    SymbolResult,
)
from tsbot.backtest.stats import compute_stats
from tsbot.core.errors import DataError
from tsbot.market.models import CandleFrame, SeriesKey, Timeframe

H = Timeframe.H1.ms
T0 = 1_704_067_200_000  # 2024-01-01T00:00:00Z
BTC = SeriesKey("binance", "BTC/USDT", Timeframe.H1)
ETH = SeriesKey("bybit", "ETH/USDT", Timeframe.H1)


def _trade(**values: float) -> np.ndarray:
    row = dict.fromkeys(TRADE_FIELDS, 0.0)
    row.update(values)
    return np.array([[row[f] for f in TRADE_FIELDS]])


def _sleeve(key: SeriesKey, trades: np.ndarray, rejected: dict[str, int]) -> SymbolResult:
    t = T0 + np.arange(4, dtype=np.int64) * H
    c = np.array([100.0, 101.0, 99.0, 102.0])
    return SymbolResult(
        key,
        CandleFrame(t, c, c + 1, c - 1, c, np.ones(4)),
        np.full(4, 50.0),
        trades,
        np.empty((0, len(FILL_FIELDS))),
        rejected,
    )


def _result(trades_btc: np.ndarray, trades_eth: np.ndarray) -> BacktestResult:
    a = _sleeve(BTC, trades_btc, {"stop_wrong_side": 2})
    b = _sleeve(ETH, trades_eth, {"stop_wrong_side": 1, "too_small": 3})
    t = T0 + np.arange(4, dtype=np.int64) * H
    return BacktestResult([BTC, ETH], [a, b], t, np.full(4, 100.0), BacktestConfig(initial_equity=100.0))


def test_iso_utc_ends_in_z_and_shows_milliseconds_only_when_needed() -> None:
    assert iso_utc(T0) == "2024-01-01T00:00:00Z"
    assert iso_utc(T0 + 3_723_123) == "2024-01-01T01:02:03.123Z"


def test_trades_stats_config_and_rejected() -> None:
    long_btc = _trade(
        symbol=0,
        side=1,
        entry_time_ms=T0 + H,
        exit_time_ms=T0 + 3 * H,
        entry_price=101.0,
        exit_price=102.0,
        qty=0.5,
        pnl=0.4,
        fees=0.1,
        return_ratio=0.008,
        r_multiple=math.nan,
        bars_held=2,
        exit_reason=int(ExitReason.END_OF_DATA),
        exits=1,
    )
    short_eth = _trade(
        symbol=1,
        side=-1,
        entry_time_ms=T0,
        exit_time_ms=T0 + 2 * H,
        entry_price=100.0,
        exit_price=99.0,
        qty=1.0,
        pnl=0.9,
        fees=0.1,
        return_ratio=0.018,
        r_multiple=0.45,
        bars_held=2,
        exit_reason=int(ExitReason.STOP_LOSS),
        exits=2,
    )
    result = _result(long_btc, short_eth)
    out = result_to_json(result, compute_stats(result))
    text = json.dumps(out, allow_nan=False)
    back = json.loads(text)
    first, second = back["trades"]  # ordered by entry time: the ETH short came first
    assert first == {
        "symbol": "ETH/USDT",
        "exchange": "bybit",
        "timeframe": "1h",
        "side": "short",
        "entry_at": "2024-01-01T00:00:00Z",
        "exit_at": "2024-01-01T02:00:00Z",
        "entry_price": 100.0,
        "exit_price": 99.0,
        "qty": 1.0,
        "pnl": 0.9,
        "fees": 0.1,
        "return_ratio": 0.018,
        "r_multiple": 0.45,
        "bars_held": 2,
        "exit_reason": "stop_loss",
        "exits": 2,
    }
    assert (
        second["side"] == "long" and second["r_multiple"] is None and second["exit_reason"] == "end_of_data"
    )
    assert second["entry_at"] == "2024-01-01T01:00:00Z"
    assert back["rejected"] == {"stop_wrong_side": 3, "too_small": 3}
    assert back["config"]["fill"] == FillAt.NEXT_OPEN.value and back["config"]["initial_equity"] == 100.0
    assert back["stats"]["trades"] == 2 and back["stats"]["profit_factor"] is None  # no losses: inf -> null


def test_no_trades_and_extra_keys_are_json_safe() -> None:
    empty = np.empty((0, len(TRADE_FIELDS)))
    result = _result(empty, empty)
    extra = {
        "run": {"sharpes": np.array([0.1, np.nan]), "best": np.float64(np.inf), "n": np.int64(3)},
        "reason": ExitReason.TAKE_PROFIT,
    }
    out = result_to_json(result, compute_stats(result), extra=extra)
    back = json.loads(json.dumps(out, allow_nan=False))
    assert back["trades"] == [] and back["stats"]["win_rate_ratio"] is None
    assert back["run"] == {"sharpes": [0.1, None], "best": None, "n": 3}
    assert back["reason"] == int(ExitReason.TAKE_PROFIT)
    with pytest.raises(DataError, match="stats"):
        result_to_json(result, compute_stats(result), extra={"stats": 1})


def test_json_ready_converts_nested_values() -> None:
    assert json_ready({"a": (1.5, math.nan), 2: [np.bool_(True), {"b": -math.inf}]}) == {
        "a": [1.5, None],
        "2": [True, {"b": None}],
    }
