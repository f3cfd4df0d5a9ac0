"""Value objects of market data: :class:`Timeframe`, :class:`Instrument`, :class:`CandleFrame`."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

import numpy as np

from tsbot.core.enums import AssetClass
from tsbot.core.errors import ConfigError


class Timeframe(StrEnum):
    """A candle timeframe, written as exchanges write it (``"1h"``)."""

    M1 = "1m"
    M5 = "5m"
    M15 = "15m"
    M30 = "30m"
    H1 = "1h"
    H4 = "4h"
    D1 = "1d"

    @property
    def ms(self) -> int:
        """Length of one bar in milliseconds."""
        return _TIMEFRAME_MS[self]

    @classmethod
    def parse(cls, text: str) -> Timeframe:
        """Parse ``"1h"``-style text.

        Raises:
            ConfigError: the text is not one of the supported timeframes (the message lists them).
        """
        try:
            return cls(text.strip())
        except ValueError as exc:
            allowed = ", ".join(t.value for t in cls)
            raise ConfigError(f"timeframe {text!r} is not supported; allowed: {allowed}") from exc


_TIMEFRAME_MS = {
    Timeframe.M1: 60_000,
    Timeframe.M5: 300_000,
    Timeframe.M15: 900_000,
    Timeframe.M30: 1_800_000,
    Timeframe.H1: 3_600_000,
    Timeframe.H4: 14_400_000,
    Timeframe.D1: 86_400_000,
}


@dataclass(frozen=True, slots=True)
class Instrument:
    """A tradable instrument on one venue.

    Attributes:
        exchange: venue id in lower case as ccxt names it (``"binance"``) or ``"alpaca"`` / ``"nyse"`` for stocks.
        symbol: unified symbol: ``"BTC/USDT"`` for crypto pairs, the ticker (``"AAPL"``) for stocks.
        asset_class: crypto or stock.
    """

    exchange: str
    symbol: str
    asset_class: AssetClass

    @property
    def base(self) -> str:
        """The base asset: ``"BTC"`` of ``"BTC/USDT"``, the ticker itself for a stock."""
        return self.symbol.split("/", 1)[0]


@dataclass(frozen=True, slots=True)
class SeriesKey:
    """Identifies one candle series: exchange, symbol, timeframe."""

    exchange: str
    symbol: str
    timeframe: Timeframe

    def __str__(self) -> str:
        return f"{self.exchange}:{self.symbol}:{self.timeframe.value}"


@dataclass(frozen=True, slots=True)
class CandleFrame:
    """Candles of one series as parallel numpy arrays, oldest first.

    Shapes: every array has shape ``(n,)``. ``open_time_ms`` is int64 milliseconds since the epoch, UTC, the open
    time of each bar, strictly increasing. Prices are float64 in quote currency; ``volume`` is float64 in base units.
    """

    open_time_ms: np.ndarray
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray

    def __len__(self) -> int:
        return int(self.open_time_ms.shape[0])

    @classmethod
    def empty(cls) -> CandleFrame:
        """A frame with no bars."""
        f = np.empty(0, dtype=np.float64)
        return cls(np.empty(0, dtype=np.int64), f, f, f, f, f)

    @classmethod
    def from_rows(cls, rows: list[tuple[int, float, float, float, float, float]] | np.ndarray) -> CandleFrame:
        """Build from rows ``(open_time_ms, open, high, low, close, volume)``, as exchanges return them."""
        if len(rows) == 0:
            return cls.empty()
        arr = np.asarray(rows, dtype=np.float64)
        if arr.ndim != 2 or arr.shape[1] < 6:
            raise ValueError(f"candle rows must have 6 columns, got shape {arr.shape}")
        return cls(
            arr[:, 0].astype(np.int64),
            np.ascontiguousarray(arr[:, 1]),
            np.ascontiguousarray(arr[:, 2]),
            np.ascontiguousarray(arr[:, 3]),
            np.ascontiguousarray(arr[:, 4]),
            np.ascontiguousarray(arr[:, 5]),
        )

    def window(self, start: int, stop: int) -> CandleFrame:
        """Bars ``start..stop-1`` (views of the same arrays, no copy)."""
        s = slice(start, stop)
        return CandleFrame(
            self.open_time_ms[s], self.open[s], self.high[s], self.low[s], self.close[s], self.volume[s]
        )

    def tail(self, n: int) -> CandleFrame:
        """The last ``n`` bars (all of them when fewer exist)."""
        if n >= len(self):
            return self
        return self.window(len(self) - n, len(self))

    def until(self, end_ms: int) -> CandleFrame:
        """Bars whose open time is at or before ``end_ms`` (a point-in-time cut)."""
        k = int(np.searchsorted(self.open_time_ms, end_ms, side="right"))
        if k == len(self):
            return self
        return self.window(0, k)
