"""Local HTTP servers shaped like Binance's and Alpaca's market-data APIs, serving real candles.

Each server runs aiohttp in its own thread and event loop on ``127.0.0.1`` (a free port), so sync clients
(alpaca-py) and async clients (ccxt) can both use it from any test. Candles come from ``../shared/data``
beside the repository root (located by ``tests.shared_data``); tests skip with the reason when it is absent.

Faults: ``server.fail(path, nth, Fault.RATE_LIMIT)`` makes the ``nth`` request (1-based, counted per path)
answer HTTP 429 in the exchange's own error shape; ``Fault.SERVER_ERROR`` answers 500; ``Fault.STALL`` waits
``stall_s`` seconds before answering normally (longer than the client's timeout). ``server.fail_always(kind)``
applies a fault to every request. ``server.requests`` logs ``(path, query)`` of every request received.
"""

from __future__ import annotations

import asyncio
import base64
import csv
import json
import threading
from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Iterable
from datetime import UTC, datetime, time
from enum import StrEnum
from functools import cache
from pathlib import Path
from typing import Any, Self
from zoneinfo import ZoneInfo

import numpy as np
from aiohttp import web

from tests.shared_data import SKIP_REASON
from tests.shared_data import require_shared_data as shared_root

BINANCE_1H_SET = "ohlcv/crypto/binance_5m_1h_2020-2021"
ZIPLINE_SET = "ohlcv/stocks/zipline"
NEW_YORK = ZoneInfo("America/New_York")

_INTERVAL_MS = {
    "1m": 60_000,
    "5m": 300_000,
    "15m": 900_000,
    "30m": 1_800_000,
    "1h": 3_600_000,
    "4h": 14_400_000,
    "1d": 86_400_000,
}


def require_shared_data(*parts: str) -> Path:
    """A path under the shared data folder; ``pytest.skip`` with a clear reason when it is missing."""
    import pytest

    path = shared_root().joinpath(*parts)
    if not path.exists():
        pytest.skip(f"{SKIP_REASON} ({'/'.join(parts)} is missing)")
    return path


@cache
def binance_rows(symbol: str, interval: str = "1h") -> np.ndarray:
    """Real Binance candles of ``"BTC/USDT"``-style ``symbol``: array ``(n, 6)`` of open ms UTC, o, h, l, c,
    volume."""
    path = require_shared_data(BINANCE_1H_SET, f"{symbol.replace('/', '_')}-{interval}.json")
    rows = np.asarray(json.loads(path.read_text()), dtype=np.float64)
    rows.setflags(write=False)
    return rows


@cache
def zipline_rows(ticker: str) -> np.ndarray:
    """Real daily bars of a zipline ticker: array ``(n, 6)``; open time is midnight New York time in ms
    UTC."""
    path = require_shared_data(ZIPLINE_SET, f"{ticker}.csv")
    out = []
    with path.open(newline="") as fh:
        for rec in csv.DictReader(fh):
            day = datetime.fromisoformat(rec["date"]).date()
            opened = datetime.combine(day, time(0), tzinfo=NEW_YORK).astimezone(UTC)
            out.append(
                (
                    int(opened.timestamp() * 1000),
                    float(rec["open"]),
                    float(rec["high"]),
                    float(rec["low"]),
                    float(rec["close"]),
                    float(rec["volume"]),
                )
            )
    rows = np.asarray(out, dtype=np.float64)
    rows.setflags(write=False)
    return rows


class Fault(StrEnum):
    """What a server does instead of answering normally."""

    RATE_LIMIT = "429"
    SERVER_ERROR = "500"
    STALL = "stall"


def binance_symbol_info(market_id: str, unified: str) -> dict[str, Any]:
    """One ``symbols`` entry of Binance spot's ``/api/v3/exchangeInfo``: tick 0.01, step and minimum quantity
    0.00001, minimum notional 5 (in the quote currency), as Binance lists BTCUSDT."""
    base, quote = unified.split("/")
    return {
        "symbol": market_id,
        "status": "TRADING",
        "baseAsset": base,
        "baseAssetPrecision": 8,
        "quoteAsset": quote,
        "quotePrecision": 8,
        "quoteAssetPrecision": 8,
        "baseCommissionPrecision": 8,
        "quoteCommissionPrecision": 8,
        "orderTypes": [
            "LIMIT",
            "LIMIT_MAKER",
            "MARKET",
            "STOP_LOSS",
            "STOP_LOSS_LIMIT",
            "TAKE_PROFIT",
            "TAKE_PROFIT_LIMIT",
        ],
        "icebergAllowed": True,
        "ocoAllowed": True,
        "otoAllowed": True,
        "quoteOrderQtyMarketAllowed": True,
        "allowTrailingStop": True,
        "cancelReplaceAllowed": True,
        "isSpotTradingAllowed": True,
        "isMarginTradingAllowed": True,
        "filters": [
            {
                "filterType": "PRICE_FILTER",
                "minPrice": "0.01000000",
                "maxPrice": "1000000.00000000",
                "tickSize": "0.01000000",
            },
            {
                "filterType": "LOT_SIZE",
                "minQty": "0.00001000",
                "maxQty": "9000.00000000",
                "stepSize": "0.00001000",
            },
            {"filterType": "ICEBERG_PARTS", "limit": 10},
            {
                "filterType": "MARKET_LOT_SIZE",
                "minQty": "0.00000000",
                "maxQty": "100.00000000",
                "stepSize": "0.00000000",
            },
            {
                "filterType": "NOTIONAL",
                "minNotional": "5.00000000",
                "applyMinToMarket": True,
                "maxNotional": "9000000.00000000",
                "applyMaxToMarket": False,
                "avgPriceMins": 5,
            },
            {"filterType": "MAX_NUM_ORDERS", "maxNumOrders": 200},
        ],
        "permissions": [],
        "permissionSets": [["SPOT", "MARGIN"]],
        "defaultSelfTradePreventionMode": "EXPIRE_MAKER",
        "allowedSelfTradePreventionModes": ["EXPIRE_TAKER", "EXPIRE_MAKER", "EXPIRE_BOTH"],
    }


def binance_exchange_info(symbols: dict[str, str]) -> dict[str, Any]:
    """Binance spot's ``/api/v3/exchangeInfo`` for ``symbols`` (Binance id -> ``BASE/QUOTE``)."""
    return {
        "timezone": "UTC",
        "serverTime": int(datetime.now(UTC).timestamp() * 1000),
        "rateLimits": [
            {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1, "limit": 6000},
            {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": 100},
            {"rateLimitType": "RAW_REQUESTS", "interval": "MINUTE", "intervalNum": 5, "limit": 61000},
        ],
        "exchangeFilters": [],
        "symbols": [binance_symbol_info(mid, uni) for mid, uni in symbols.items()],
    }


class ThreadedApp(ABC):
    """An aiohttp application served on ``127.0.0.1`` from its own thread and event loop; a context manager.
    ``port`` 0 binds a free port (read ``port`` / ``base_url`` after :meth:`start`)."""

    def __init__(self, *, port: int = 0) -> None:
        self.port = port
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT``."""
        return f"http://127.0.0.1:{self.port}"

    @abstractmethod
    def _app(self) -> web.Application:
        """The application to serve, with its routes and middlewares."""

    def start(self) -> Self:
        """Start serving; returns self once the port is bound."""
        ready = threading.Event()
        errors: list[BaseException] = []

        def serve() -> None:
            loop = asyncio.new_event_loop()
            asyncio.set_event_loop(loop)
            self._loop = loop
            try:
                loop.run_until_complete(self._start_site())
            except BaseException as exc:  # noqa: BLE001 - reported to the starting thread
                errors.append(exc)
                ready.set()
                return
            ready.set()
            loop.run_forever()
            loop.run_until_complete(self._runner.cleanup())
            # Handlers still stalling (their client gave up long ago) are cancelled, not left pending.
            pending = asyncio.all_tasks(loop)
            for task in pending:
                task.cancel()
            if pending:
                loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            loop.close()

        self._thread = threading.Thread(target=serve, name=type(self).__name__, daemon=True)
        self._thread.start()
        ready.wait(10)
        if errors:
            raise errors[0]
        return self

    async def _start_site(self) -> None:
        self._runner = web.AppRunner(self._app(), shutdown_timeout=0.2, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", self.port)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]

    def stop(self) -> None:
        """Stop serving and join the thread."""
        if self._loop is not None and self._thread is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
            self._loop = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class _Server(ThreadedApp):
    """Thread-hosted aiohttp server with per-path request counting and fault injection."""

    def __init__(self, *, stall_s: float = 2.0) -> None:
        super().__init__()
        self.stall_s = stall_s
        self.requests: list[tuple[str, dict[str, str]]] = []
        self._counts: Counter[str] = Counter()
        self._faults: dict[tuple[str, int], Fault] = {}
        self._always: Fault | None = None
        self._lock = threading.Lock()

    # -- configuration ---------------------------------------------------------------------------------------
    def fail(self, path: str, nth: int, kind: Fault) -> None:
        """Make the ``nth`` request (1-based, since start) to ``path`` misbehave as ``kind``."""
        with self._lock:
            self._faults[(path, nth)] = kind

    def fail_always(self, kind: Fault | None) -> None:
        """Make every request misbehave as ``kind`` (None restores normal answers)."""
        self._always = kind

    def count(self, path: str) -> int:
        """Requests received for ``path`` so far."""
        with self._lock:
            return self._counts[path]

    def _app(self) -> web.Application:
        app = web.Application(middlewares=[self._middleware])
        self._routes(app)
        return app

    # -- request handling ------------------------------------------------------------------------------------
    @web.middleware
    async def _middleware(self, request: web.Request, handler: Any) -> web.StreamResponse:
        path = request.path
        with self._lock:
            self._counts[path] += 1
            nth = self._counts[path]
            self.requests.append((path, dict(request.query)))
            fault = self._always or self._faults.get((path, nth))
        if fault is Fault.RATE_LIMIT:
            return self._rate_limited()
        if fault is Fault.SERVER_ERROR:
            return self._server_error()
        if fault is Fault.STALL:
            await asyncio.sleep(self.stall_s)
        return await handler(request)

    @abstractmethod
    def _routes(self, app: web.Application) -> None:
        """Add the exchange's endpoints to ``app``."""

    @abstractmethod
    def _rate_limited(self) -> web.Response:
        """The exchange's own 429 answer."""

    @abstractmethod
    def _server_error(self) -> web.Response:
        """The exchange's own 5xx answer."""


def _num(x: float) -> str:
    """A price as Binance writes it (8 decimals) when that is exact, else the shortest exact text."""
    text = f"{x:.8f}"
    return text if float(text) == x else repr(x)


class BinanceServer(_Server):
    """Binance spot REST shape: ``/api/v3/exchangeInfo``, ``/api/v3/klines`` (plus empty futures
    exchangeInfo).

    Serves real 1h candles of ``symbols`` (unified ``"BTC/USDT"`` form) from the shared data set. Klines
    honour ``symbol``, ``interval``, ``startTime``, ``endTime`` (both inclusive, on open time) and ``limit``
    (default 500, at most 1000); without ``startTime`` the latest bars are returned, as Binance does.
    """

    def __init__(self, symbols: Iterable[str] = ("BTC/USDT", "ETH/USDT"), *, stall_s: float = 2.0) -> None:
        super().__init__(stall_s=stall_s)
        self.symbols = {s.replace("/", ""): s for s in symbols}
        for unified in self.symbols.values():
            binance_rows(unified)  # fail (skip) early when the data is missing

    def candles(self, symbol: str, interval: str = "1h") -> np.ndarray:
        """The full series served for a unified symbol, array ``(n, 6)``."""
        return binance_rows(symbol, interval)

    def _routes(self, app: web.Application) -> None:
        app.router.add_get("/api/v3/exchangeInfo", self._exchange_info)
        app.router.add_get("/api/v3/klines", self._klines)
        app.router.add_get("/fapi/v1/exchangeInfo", self._empty_futures_info)
        app.router.add_get("/dapi/v1/exchangeInfo", self._empty_futures_info)

    @staticmethod
    def _error(status: int, code: int, msg: str) -> web.Response:
        return web.json_response({"code": code, "msg": msg}, status=status)

    def _rate_limited(self) -> web.Response:
        resp = self._error(
            429,
            -1003,
            "Too many requests; current limit of IP(127.0.0.1) is 6000 requests per "
            "minute. Please use WebSocket Streams for live updates to avoid polling the API.",
        )
        resp.headers["Retry-After"] = "1"
        return resp

    def _server_error(self) -> web.Response:
        return self._error(500, -1001, "Internal error; unable to process your request. Please try again.")

    async def _exchange_info(self, request: web.Request) -> web.Response:
        return web.json_response(binance_exchange_info(self.symbols))

    async def _empty_futures_info(self, request: web.Request) -> web.Response:
        return web.json_response(
            {
                "timezone": "UTC",
                "serverTime": int(datetime.now(UTC).timestamp() * 1000),
                "futuresType": "U_MARGINED",
                "rateLimits": [],
                "exchangeFilters": [],
                "assets": [],
                "symbols": [],
            }
        )

    async def _klines(self, request: web.Request) -> web.Response:
        q = request.query
        unified = self.symbols.get(q.get("symbol", ""))
        if unified is None:
            return self._error(400, -1121, "Invalid symbol.")
        interval = q.get("interval", "")
        if interval not in _INTERVAL_MS:
            return self._error(400, -1120, "Invalid interval.")
        try:
            rows = binance_rows(unified, interval)
        except Exception:  # noqa: BLE001 - no file for this interval: not served here
            return self._error(400, -1120, "Invalid interval.")
        limit = min(int(q.get("limit", 500)), 1000)
        times = rows[:, 0].astype(np.int64)
        lo, hi = 0, len(rows)
        if "endTime" in q:
            hi = int(np.searchsorted(times, int(q["endTime"]), side="right"))
        if "startTime" in q:
            lo = int(np.searchsorted(times, int(q["startTime"]), side="left"))
            hi = min(hi, lo + limit)
        else:
            lo = max(lo, hi - limit)
        step = _INTERVAL_MS[interval]
        body = []
        for t, o, h, low, c, v in rows[lo:hi]:
            body.append(
                [
                    int(t),
                    _num(o),
                    _num(h),
                    _num(low),
                    _num(c),
                    _num(v),
                    int(t) + step - 1,
                    f"{v * c:.8f}",
                    max(1, int(v) // 3),
                    f"{v / 2:.8f}",
                    f"{v * c / 2:.8f}",
                    "0",
                ]
            )
        return web.json_response(body)


def _rfc3339(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse_rfc3339(text: str) -> int:
    value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return int(value.timestamp() * 1000)


class AlpacaServer(_Server):
    """Alpaca market-data v2 shape: ``GET /v2/stocks/bars`` with ``next_page_token`` paging.

    Serves real daily bars of ``tickers`` from the shared zipline set (``timeframe=1Day`` only). Honours
    ``symbols`` (one or more, comma separated), ``start``, ``end`` (RFC 3339, inclusive), ``limit`` (default
    and maximum ``page_size``) and ``page_token``. A well-formed ticker it does not serve gets no bars (as
    Alpaca answers unknown tickers); a malformed one (``"BTC/USDT"``) gets HTTP 400 ``invalid symbol``.
    """

    def __init__(
        self, tickers: Iterable[str] = ("AAPL", "MSFT"), *, page_size: int = 10_000, stall_s: float = 2.0
    ) -> None:
        super().__init__(stall_s=stall_s)
        self.tickers = tuple(tickers)
        self.page_size = page_size
        for t in self.tickers:
            zipline_rows(t)

    def candles(self, ticker: str) -> np.ndarray:
        """The full series served for a ticker, array ``(n, 6)``."""
        return zipline_rows(ticker)

    def _routes(self, app: web.Application) -> None:
        app.router.add_get("/v2/stocks/bars", self._bars)

    def _rate_limited(self) -> web.Response:
        return web.json_response({"message": "too many requests."}, status=429)

    def _server_error(self) -> web.Response:
        return web.json_response({"message": "internal server error occurred"}, status=500)

    async def _bars(self, request: web.Request) -> web.Response:
        q = request.query
        if not request.headers.get("APCA-API-KEY-ID") or not request.headers.get("APCA-API-SECRET-KEY"):
            return web.json_response({"message": "forbidden."}, status=403)
        symbols = [s for s in q.get("symbols", "").split(",") if s]
        if not symbols:
            return web.json_response({"code": 42210000, "message": "missing symbols"}, status=422)
        for s in symbols:
            if not s.replace(".", "").isalnum() or s.upper() != s:
                return web.json_response({"code": 40010001, "message": f"invalid symbol: {s}"}, status=400)
        if q.get("timeframe") != "1Day":
            return web.json_response(
                {"code": 42210000, "message": "this server only has 1Day bars"}, status=422
            )
        start = _parse_rfc3339(q["start"]) if "start" in q else None
        end = _parse_rfc3339(q["end"]) if "end" in q else None
        limit = min(int(q.get("limit", self.page_size)), self.page_size)
        after: tuple[str, int] | None = None
        if q.get("page_token"):
            sym, _, ms = base64.b64decode(q["page_token"]).decode().split("|")
            after = (sym, _parse_rfc3339(ms))
        # Bars ordered by symbol then time, like Alpaca's multi-symbol paging.
        flat: list[tuple[str, np.ndarray]] = []
        for s in sorted(symbols):
            if s not in self.tickers:
                continue
            for row in zipline_rows(s):
                t = int(row[0])
                if (start is not None and t < start) or (end is not None and t > end):
                    continue
                if after is not None and (s, t) <= after:
                    continue
                flat.append((s, row))
        page, rest = flat[:limit], flat[limit:]
        bars: dict[str, list[dict[str, Any]]] = {}
        for s, (t, o, h, low, c, v) in page:
            bars.setdefault(s, []).append(
                {
                    "t": _rfc3339(int(t)),
                    "o": o,
                    "h": h,
                    "l": low,
                    "c": c,
                    "v": int(v),
                    "n": max(1, int(v) // 100),
                    "vw": round((h + low + c) / 3, 4),
                }
            )
        token = None
        if rest and page:
            s, row = page[-1]
            token = base64.b64encode(f"{s}|D|{_rfc3339(int(row[0]))}".encode()).decode()
        return web.json_response({"bars": bars, "next_page_token": token, "currency": "USD"})
