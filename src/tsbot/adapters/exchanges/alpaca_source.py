"""US stock candles from Alpaca's market-data API through alpaca-py, as a
:class:`~tsbot.market.ports.MarketDataSource`.

alpaca-py's ``StockHistoricalDataClient`` is synchronous (``requests``); each call runs in a worker thread
with :func:`asyncio.to_thread`. Two of its defaults are changed here, because the caller (the download
service) owns retries and must never hang:

* alpaca-py would sleep and retry HTTP 429/504 itself (3 times, 3 s apart, blocking); that is switched off so
  a 429 surfaces at once as :class:`~tsbot.core.errors.ExchangeUnavailableError` and the caller backs off.
* ``requests`` has no timeout by default; every request gets ``timeout_s``.

Errors: HTTP 408, 429 and 5xx, timeouts and dropped connections become ``ExchangeUnavailableError``; other
HTTP errors (400 invalid symbol, 401/403 keys or subscription) become
:class:`tsbot.core.errors.ExchangeError`.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import requests
from alpaca.common.exceptions import APIError
from alpaca.data.historical import StockHistoricalDataClient
from alpaca.data.requests import StockBarsRequest
from alpaca.data.timeframe import TimeFrame, TimeFrameUnit

from tsbot.core.errors import ConfigError, ExchangeError, ExchangeUnavailableError
from tsbot.core.time import from_ms, to_ms
from tsbot.market.models import CandleFrame, Timeframe

_TIMEFRAMES: dict[Timeframe, TimeFrame] = {
    Timeframe.M1: TimeFrame(1, TimeFrameUnit.Minute),
    Timeframe.M5: TimeFrame(5, TimeFrameUnit.Minute),
    Timeframe.M15: TimeFrame(15, TimeFrameUnit.Minute),
    Timeframe.M30: TimeFrame(30, TimeFrameUnit.Minute),
    Timeframe.H1: TimeFrame(1, TimeFrameUnit.Hour),
    Timeframe.H4: TimeFrame(4, TimeFrameUnit.Hour),
    Timeframe.D1: TimeFrame(1, TimeFrameUnit.Day),
}


def alpaca_timeframe(timeframe: Timeframe) -> TimeFrame:
    """alpaca-py's ``TimeFrame`` for one of ours (``Timeframe.H1`` -> ``1Hour``).

    Raises:
        ExchangeError: the timeframe has no Alpaca equivalent.
    """
    try:
        return _TIMEFRAMES[timeframe]
    except KeyError as exc:
        raise ExchangeError(f"alpaca does not serve {timeframe} candles") from exc


class TimeoutSession(requests.Session):
    """A ``requests`` session that applies a default timeout (seconds) to every request; alpaca-py's clients
    set none of their own."""

    def __init__(self, timeout_s: float) -> None:
        super().__init__()
        self._timeout_s = timeout_s

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> requests.Response:
        kwargs.setdefault("timeout", self._timeout_s)
        return super().request(method, url, *args, **kwargs)


def _api_message(exc: APIError) -> str:
    """The ``message`` of an Alpaca JSON error body, or the body itself, shortened."""
    raw = str(exc)
    try:
        body = json.loads(raw)
        if isinstance(body, dict) and body.get("message"):
            return str(body["message"])
    except ValueError:
        pass
    return raw[:300]


class AlpacaSource:
    """Historical stock bars (ticker symbols such as ``"AAPL"``) from Alpaca.

    Args:
        api_key, secret_key: Alpaca API key id and secret.
        data_url: market-data base URL (scheme and host, no ``/v2``); defaults to Alpaca's production data
            host. Point it at a proxy or a local test server.
        timeout_s: per-request timeout in seconds.

    Raises:
        ConfigError: the key or the secret is missing.
    """

    name = "alpaca"

    def __init__(
        self,
        api_key: str | None,
        secret_key: str | None,
        *,
        data_url: str | None = None,
        timeout_s: float = 10.0,
    ) -> None:
        if not api_key or not secret_key:
            raise ConfigError(
                "alpaca needs an API key and secret: set TSBOT_ALPACA_API_KEY and TSBOT_ALPACA_SECRET_KEY"
            )
        if timeout_s <= 0:
            raise ConfigError(f"timeout_s must be positive, got {timeout_s}")
        self._client = StockHistoricalDataClient(
            api_key, secret_key, url_override=data_url.rstrip("/") if data_url else None
        )
        # Retries belong to the caller, which backs off without blocking a thread (see the module docstring).
        self._client._retry = 0
        self._client._session.close()
        self._client._session = TimeoutSession(timeout_s)

    async def fetch_candles(
        self, symbol: str, timeframe: Timeframe, since_ms: int, limit: int
    ) -> CandleFrame:
        """Up to ``limit`` bars of ``symbol`` opening at or after ``since_ms`` (ms, UTC), oldest first.

        Open times are the bar's start as Alpaca reports it, converted to ms UTC (daily bars open at midnight
        New York time, i.e. 04:00 or 05:00 UTC). The last bar may still be open.

        Returns:
            CandleFrame with arrays of shape ``(n,)``, ``n <= limit``; prices in USD, volume in shares.

        Raises:
            ExchangeUnavailableError: HTTP 408/429/5xx, a timeout or a dropped connection (temporary).
            ExchangeError: Alpaca rejected the request (invalid symbol, keys, subscription, timeframe).
        """
        what = f"alpaca {symbol} {timeframe.value}"
        request = StockBarsRequest(
            symbol_or_symbols=symbol,
            timeframe=alpaca_timeframe(timeframe),
            start=from_ms(since_ms),
            limit=limit,
        )
        try:
            barset = await asyncio.to_thread(self._client.get_stock_bars, request)
        except APIError as exc:
            status = exc.status_code
            message = f"{what}: HTTP {status}: {_api_message(exc)}"
            if status is not None and (status in (408, 429) or status >= 500):
                raise ExchangeUnavailableError(message) from exc
            raise ExchangeError(message) from exc
        except requests.Timeout as exc:
            raise ExchangeUnavailableError(f"{what}: request timed out") from exc
        except (requests.ConnectionError, requests.exceptions.JSONDecodeError) as exc:
            raise ExchangeUnavailableError(f"{what}: network error: {type(exc).__name__}") from exc
        except requests.RequestException as exc:
            raise ExchangeError(f"{what}: request failed: {exc}") from exc
        bars = barset.data.get(symbol, [])
        return CandleFrame.from_rows(
            [(to_ms(b.timestamp), b.open, b.high, b.low, b.close, b.volume) for b in bars]
        )

    async def close(self) -> None:
        """Close the HTTP session."""
        self._client._session.close()
