"""Market data: ``/api/v1/market-data/...``: candles with indicators, and an overview of every known symbol.

=====================================  =====================================================================
route                                  what it does
=====================================  =====================================================================
GET /market-data/{symbol}              the last ``limit`` candles of a series with indicators (TA-Lib, through
                                       :mod:`tsbot.indicators.features`) aligned to them, and their last values
GET /market-data/all/overview          every known symbol: last price, 24 h change %, 24 h volume, high, low,
                                       and its newest signal
=====================================  =====================================================================

Symbols in the path: ``BTC-USDT`` or ``BTCUSDT`` for ``BTC/USDT`` (see :mod:`tsbot.apps.api.lookup`); unknown: 404.
Numbers are floats (candles are stored in float64): prices in quote currency, volumes in base units; indicator
values are null during their warm-up. Times are ISO-8601 UTC; a candle's ``open_time`` is its bar's open.

Both answers are cached for :data:`CACHE_TTL_S` seconds in the app's ``market-data`` cache
(:mod:`tsbot.apps.api.cache`: Redis when the app has one, shared by every worker, else in process), keyed by the
database and the parameters as asked; ``X-Cache: hit|miss`` says which. Reading needs ``read_market``.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Annotated

import numpy as np
from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field

from tsbot.accounts.models import Identity, Permission
from tsbot.adapters.storage.signal_queries import SignalFilter, SqlSignalQueries, StoredSignal
from tsbot.apps.api.auth import requires
from tsbot.apps.api.cache import named_cache
from tsbot.apps.api.deps import ServicesDep
from tsbot.apps.api.lookup import SYMBOL_HELP, instruments, resolve_symbol
from tsbot.apps.api.schemas import Page
from tsbot.core.enums import Action
from tsbot.core.errors import DataError, NotFoundError
from tsbot.core.time import from_ms, to_ms
from tsbot.indicators.features import FEATURE_NAMES, FEATURES, LEVEL_WINDOW, compute_features
from tsbot.market.models import CandleFrame, SeriesKey, Timeframe
from tsbot.market.ports import SeriesInfo
from tsbot.wiring import Services

router = APIRouter(prefix="/api/v1/market-data", tags=["market-data"])

ReadMarket = Annotated[Identity, requires(Permission.READ_MARKET)]

#: Name of the answers' cache (:func:`tsbot.apps.api.cache.named_cache`; ``/api/v1/admin/cache`` lists it).
CACHE_NAME = "market-data"
#: Seconds an answer stays cached.
CACHE_TTL_S = 30
#: Most answers the in-process cache holds (the oldest go first).
CACHE_ENTRIES = 512
#: Indicators given when ``indicators`` is not set.
DEFAULT_INDICATORS = (
    "sma_20",
    "sma_50",
    "sma_200",
    "ema_20",
    "ema_50",
    "rsi_14",
    "macd",
    "macd_signal",
    "macd_hist",
    "bb_upper",
    "bb_middle",
    "bb_lower",
    "atr",
    "volume_ma",
)
#: Bars loaded before the first bar shown, so every indicator is past its warm-up there.
WARMUP_BARS = max(spec.warmup for spec in FEATURES.values()) + LEVEL_WINDOW
_DAY_MS = 86_400_000
_CACHE_HEADERS = {
    "X-Cache": {"description": "hit: served from the cache; miss: computed", "schema": {"type": "string"}}
}


class CandleOut(BaseModel):
    """One bar."""

    open_time: datetime = Field(description="the bar's open time, UTC")
    open: float
    high: float
    low: float
    close: float
    volume: float = Field(description="base units")


class MarketDataOut(BaseModel):
    """Candles of one series, oldest first, with indicators aligned to them (same length, null in warm-up)."""

    symbol: str
    exchange: str
    timeframe: Timeframe
    candles: list[CandleOut]
    indicators: dict[str, list[float | None]] = Field(description="indicator name -> one value per candle")
    latest: dict[str, float | None] = Field(description="each indicator's value at the last candle")
    units: dict[str, str] = Field(description="indicator name -> unit (quote currency, ratio, 0..100, ...)")


class SignalBriefOut(BaseModel):
    """The newest signal of a symbol, in short."""

    action: Action
    score: float
    confidence: float
    as_of: datetime
    timeframe: Timeframe


class OverviewItemOut(BaseModel):
    """One symbol at its finest stored timeframe."""

    symbol: str
    exchange: str
    asset_class: str
    timeframe: Timeframe = Field(description="the series the figures come from")
    last_price: float = Field(description="close of the newest bar, quote currency")
    last_close_at: datetime = Field(description="close time of the newest bar, UTC")
    change_24h_pct: float | None = Field(
        description="change of the close over 24 h, percent; null without data"
    )
    volume_24h: float = Field(description="volume of the bars of the last 24 h, base units")
    high_24h: float
    low_24h: float
    signal: SignalBriefOut | None = Field(description="the symbol's newest stored signal")


def _float(value: float) -> float | None:
    return None if not math.isfinite(value) else float(value)


def _replay_hour(request: Request) -> int | None:
    """The replay clock's hour when the app runs on one (``tsbot serve --replay`` sets ``app.state.replay_clock``
    and gives the services a candle store as of that clock): part of cache keys, since answers change as the replay
    moves; None on the wall clock."""
    clock = getattr(request.app.state, "replay_clock", None)
    return to_ms(clock.now()) // 3_600_000 if clock is not None else None


def _cache_key(services: Services, *parts: object) -> str:
    """A Redis-safe key naming the database (apps over different databases never share answers) and ``parts``."""
    db = hashlib.sha256(services.settings.effective_database_url.encode()).hexdigest()[:12]
    asked = hashlib.sha256(repr(parts).encode()).hexdigest()[:24]
    return f"{db}:{asked}"


async def _cached(request: Request, key: str, compute: Callable[[], Awaitable[bytes]]) -> Response:
    """The answer under ``key`` from the app's ``market-data`` cache, else ``await compute()`` (JSON bytes)
    kept there for :data:`CACHE_TTL_S` seconds."""
    cache = named_cache(request.app, CACHE_NAME, ttl_s=CACHE_TTL_S, max_entries=CACHE_ENTRIES)
    text = await cache.get(key)
    if isinstance(text, str):
        return Response(text.encode(), media_type="application/json", headers={"X-Cache": "hit"})
    body = await compute()
    await cache.set(key, body.decode())
    return Response(body, media_type="application/json", headers={"X-Cache": "miss"})


def _indicator_names(text: str | None) -> tuple[str, ...]:
    if text is None:
        return DEFAULT_INDICATORS
    if text.strip().lower() == "all":
        return FEATURE_NAMES
    names = tuple(dict.fromkeys(n.strip().lower() for n in text.split(",") if n.strip()))
    unknown = [n for n in names if n not in FEATURES]
    if unknown or not names:
        raise DataError(
            f"unknown indicators {', '.join(unknown) or '(none named)'}; "
            f"known: {', '.join(FEATURE_NAMES)}, or all"
        )
    return names


async def _series_key(
    services: Services, symbol: str, timeframe: Timeframe | None, exchange: str | None
) -> SeriesKey:
    """The stored series of ``symbol`` at ``timeframe`` (None: the finest stored), on ``exchange`` when given.

    Raises:
        NotFoundError: unknown symbol, or no stored series matches.
    """
    exchanges = [
        i.exchange
        for i in await instruments(services)
        if i.symbol == symbol and (exchange is None or i.exchange == exchange)
    ]
    frames = [timeframe] if timeframe is not None else sorted(Timeframe, key=lambda t: t.ms)
    for ex in exchanges:
        for tf in frames:
            key = SeriesKey(ex, symbol, tf)
            if await services.candles.last_open_ms(key) is not None:
                return key
    stored = sorted(
        f"{s.key.exchange} {s.key.timeframe.value}"
        for s in await services.candles.series()
        if s.key.symbol == symbol
    )
    raise NotFoundError(
        f"no stored candles of {symbol}"
        + (f" at {timeframe.value}" if timeframe else "")
        + (f" on {exchange}" if exchange else "")
        + f"; stored: {', '.join(stored) or 'none'}"
    )


def market_data(key: SeriesKey, frame: CandleFrame, limit: int, names: tuple[str, ...]) -> MarketDataOut:
    """The answer over ``frame`` (which holds up to :data:`WARMUP_BARS` extra bars before the last ``limit``)."""
    features = compute_features(frame)
    start = max(0, len(frame) - limit)
    shown = frame.window(start, len(frame))
    indicators = {name: [_float(v) for v in features[name][start:].tolist()] for name in names}
    candles = [
        CandleOut(open_time=from_ms(int(t)), open=o, high=h, low=lo, close=c, volume=v)
        for t, o, h, lo, c, v in zip(
            shown.open_time_ms.tolist(),
            shown.open.tolist(),
            shown.high.tolist(),
            shown.low.tolist(),
            shown.close.tolist(),
            shown.volume.tolist(),
            strict=True,
        )
    ]
    return MarketDataOut(
        symbol=key.symbol,
        exchange=key.exchange,
        timeframe=key.timeframe,
        candles=candles,
        indicators=indicators,
        latest={name: values[-1] if values else None for name, values in indicators.items()},
        units={name: FEATURES[name].unit for name in names},
    )


@router.get(
    "/all/overview",
    response_model=Page[OverviewItemOut],
    responses={200: {"headers": _CACHE_HEADERS}},
)
async def overview(
    request: Request,
    identity: ReadMarket,
    services: ServicesDep,
    limit: Annotated[int, Query(ge=1, le=500, description="items per page")] = 100,
    offset: Annotated[int, Query(ge=0, le=1_000_000, description="items to skip")] = 0,
) -> Response:
    """Every known symbol (by symbol, then exchange) with its last price, 24 h change, volume, high and low at
    its finest stored timeframe, and its newest stored signal (any timeframe)."""

    async def compute() -> bytes:
        series = await services.candles.series()
        finest: dict[tuple[str, str], SeriesInfo] = {}
        for info in series:
            k = (info.key.symbol, info.key.exchange)
            if k not in finest or info.key.timeframe.ms < finest[k].key.timeframe.ms:
                finest[k] = info
        chosen = [finest[k] for k in sorted(finest)]
        page = chosen[offset : offset + limit]
        newest, _ = await SqlSignalQueries(services.db).newest_per_series(
            SignalFilter(symbols=tuple(sorted({i.key.symbol for i in page}))), limit=10_000
        )
        items = [item for info in page if (item := await _overview_item(services, info, newest)) is not None]
        return (
            Page[OverviewItemOut](items=items, total=len(chosen), limit=limit, offset=offset)
            .model_dump_json()
            .encode()
        )

    replay_hour = _replay_hour(request)
    return await _cached(request, _cache_key(services, "overview", limit, offset, replay_hour), compute)


async def _overview_item(
    services: Services, info: SeriesInfo, newest: list[StoredSignal]
) -> OverviewItemOut | None:
    """The overview of one series (None when its candles are gone since they were listed)."""
    key = info.key
    bars = max(2, _DAY_MS // key.timeframe.ms + 1)
    frame = await services.candles.load(key, limit=bars)
    if not len(frame):
        return None
    last_open = int(frame.open_time_ms[-1])
    day = frame.open_time_ms > last_open - _DAY_MS
    ref = frame.close[frame.open_time_ms <= last_open - _DAY_MS]
    last = float(frame.close[-1])
    change = None if not len(ref) or ref[-1] <= 0 else _float((last / float(ref[-1]) - 1.0) * 100.0)
    mine = [s for s in newest if s.signal.key.symbol == key.symbol]
    mine.sort(key=lambda s: (s.signal.key.exchange == key.exchange, s.signal.as_of), reverse=True)
    brief = None
    if mine:
        sig = mine[0].signal
        brief = SignalBriefOut(
            action=sig.action,
            score=round(sig.score, 6),
            confidence=round(sig.confidence, 6),
            as_of=sig.as_of,
            timeframe=sig.key.timeframe,
        )
    return OverviewItemOut(
        symbol=key.symbol,
        exchange=key.exchange,
        asset_class=info.asset_class,
        timeframe=key.timeframe,
        last_price=last,
        last_close_at=from_ms(last_open + key.timeframe.ms),
        change_24h_pct=None if change is None else round(change, 4),
        volume_24h=float(np.sum(frame.volume[day])),
        high_24h=float(np.max(frame.high[day])),
        low_24h=float(np.min(frame.low[day])),
        signal=brief,
    )


@router.get(
    "/{symbol}",
    response_model=MarketDataOut,
    responses={
        200: {"headers": _CACHE_HEADERS},
        404: {"description": "unknown symbol, or no stored series at that timeframe"},
        422: {"description": "invalid parameters or unknown indicator names"},
    },
)
async def candles_with_indicators(
    request: Request,
    symbol: Annotated[str, Path(min_length=1, max_length=40, description=SYMBOL_HELP)],
    identity: ReadMarket,
    services: ServicesDep,
    timeframe: Annotated[
        Timeframe | None, Query(description="series timeframe (default: the finest stored, e.g. 1h)")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=1000, description="candles to return (the newest)")] = 200,
    exchange: Annotated[
        str | None,
        Query(pattern=r"^[a-z0-9_.-]{1,32}$", description="venue id (default: the first storing it)"),
    ] = None,
    indicators: Annotated[
        str | None,
        Query(
            max_length=1000, description="comma-separated indicator names, or `all` (default: a common set)"
        ),
    ] = None,
) -> Response:
    """The newest ``limit`` candles of the series with indicators computed by TA-Lib over them (plus enough
    earlier bars that the first candle shown is past every warm-up where the store has them)."""
    names = _indicator_names(indicators)

    async def compute() -> bytes:
        found = await resolve_symbol(services, symbol, missing=NotFoundError)
        key = await _series_key(services, found, timeframe, exchange)
        frame = await services.candles.load(key, limit=limit + WARMUP_BARS)
        return market_data(key, frame, limit, names).model_dump_json().encode()

    replay_hour = _replay_hour(request)
    asked = (
        symbol.upper(), timeframe.value if timeframe else "", exchange or "", limit, ",".join(names), replay_hour
    )  # fmt: skip
    return await _cached(request, _cache_key(services, "series", *asked), compute)
