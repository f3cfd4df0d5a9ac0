"""A backtest as plain JSON: trades, statistics, the broker configuration and refused entries.

Times are ISO-8601 UTC strings ending in ``Z``; money in quote currency; quantities in base units. NaN and
infinities become ``null``, so the output passes ``json.dumps(..., allow_nan=False)``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import UTC, datetime
from enum import Enum
from typing import Any

import numpy as np

from tsbot.backtest.models import TRADE_FIELDS, BacktestResult, ExitReason
from tsbot.backtest.stats import Stats
from tsbot.core.errors import DataError

RESERVED_KEYS = ("trades", "stats", "config", "rejected")

_COL = {name: i for i, name in enumerate(TRADE_FIELDS)}


def iso_utc(ms: int | float) -> str:
    """``2024-01-31T12:00:00Z`` from ms since the epoch (UTC); milliseconds are shown only when not zero."""
    ms = int(ms)
    dt = datetime.fromtimestamp(ms / 1000, tz=UTC).replace(tzinfo=None)
    return dt.isoformat(timespec="milliseconds" if ms % 1000 else "seconds") + "Z"


def json_ready(value: Any) -> Any:
    """``value`` with NaN / inf as None, numpy scalars and arrays as Python numbers and lists, enums as their
    values, datetimes as ISO-8601 text, mappings and sequences converted recursively."""
    if isinstance(value, Enum):
        return json_ready(value.value)
    if isinstance(value, bool | np.bool_):
        return bool(value)
    if isinstance(value, int | np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        x = float(value)
        return x if math.isfinite(x) else None
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, np.ndarray):
        return json_ready(value.tolist())
    if isinstance(value, Mapping):
        return {str(k): json_ready(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [json_ready(v) for v in value]
    return value


def _opt(x: float) -> float | None:
    return float(x) if math.isfinite(x) else None


def _reason_name(code: int) -> str:
    try:
        return ExitReason(code).name.lower()
    except ValueError:
        return str(code)


def trade_dicts(result: BacktestResult) -> list[dict[str, Any]]:
    """One dict per trade of ``result.trades`` (entry-time order); see :func:`result_to_json` for the keys."""
    out = []
    for row in result.trades:
        key = result.keys[int(row[_COL["symbol"]])]
        out.append(
            {
                "symbol": key.symbol,
                "exchange": key.exchange,
                "timeframe": key.timeframe.value,
                "side": "long" if row[_COL["side"]] > 0 else "short",
                "entry_at": iso_utc(row[_COL["entry_time_ms"]]),
                "exit_at": iso_utc(row[_COL["exit_time_ms"]]),
                "entry_price": _opt(row[_COL["entry_price"]]),
                "exit_price": _opt(row[_COL["exit_price"]]),
                "qty": _opt(row[_COL["qty"]]),
                "pnl": _opt(row[_COL["pnl"]]),
                "fees": _opt(row[_COL["fees"]]),
                "return_ratio": _opt(row[_COL["return_ratio"]]),
                "r_multiple": _opt(row[_COL["r_multiple"]]),
                "bars_held": int(row[_COL["bars_held"]]),
                "exit_reason": _reason_name(int(row[_COL["exit_reason"]])),
                "exits": int(row[_COL["exits"]]),
            }
        )
    return out


def result_to_json(
    result: BacktestResult, stats: Stats, *, extra: dict[str, Any] | None = None
) -> dict[str, Any]:
    """A JSON-ready dict of a backtest.

    Keys: ``trades`` (list of dicts: ``symbol``, ``exchange``, ``timeframe``, ``side`` "long" / "short",
    ``entry_at`` / ``exit_at`` ISO-8601 UTC with ``Z``, ``entry_price``, ``exit_price``, ``qty``, ``pnl``, ``fees``,
    ``return_ratio``, ``r_multiple`` (None without a stop-loss), ``bars_held``, ``exit_reason`` (lower-case
    :class:`ExitReason` name, e.g. ``"stop_loss"``), ``exits``), ``stats`` (:meth:`Stats.to_dict`), ``config``
    (:meth:`BacktestConfig.to_dict`, enums as their values), ``rejected`` (reason -> count), and the keys of
    ``extra`` (converted with :func:`json_ready`).

    Raises:
        DataError: ``extra`` uses one of the reserved keys above.
    """
    clash = sorted(set(extra or {}) & set(RESERVED_KEYS))
    if clash:
        raise DataError(
            f"extra keys {clash} clash with the export's own keys {list(RESERVED_KEYS)}; rename them"
        )
    out: dict[str, Any] = {
        "trades": trade_dicts(result),
        "stats": stats.to_dict(),
        "config": json_ready(result.config.to_dict()),
        "rejected": {str(k): int(v) for k, v in result.rejected.items()},
    }
    for key, value in (extra or {}).items():
        out[str(key)] = json_ready(value)
    return out
