"""Signals: ``/api/v1/signals/...``: stored signals, their counts, the monitor, signals on demand and the caller's
watchlist.

=========================================  ==================================================================
route                                      what it does
=========================================  ==================================================================
GET /signals                               stored signals, newest first; filters: symbol, exchange, timeframe,
                                           action (the status: BUY / SELL / HOLD), since / until, watchlist
GET /signals/stats                         counts by action and per symbol over a period (default: 30 days)
GET /signals/latest                        the newest signal of each series, with components and reasons
GET /signals/history?at=...                the newest signal of each series as known at a time ("by time")
GET /signals/monitor                       last scan per series, how far behind the candles it is, staleness
POST /signals/generate                     compute signals now for given symbols from the stored candles
GET /signals/watchlist                     my watchlist
PUT /signals/watchlist                     replace my watchlist
POST /signals/watchlist/{symbol}           add a symbol to it
DELETE /signals/watchlist/{symbol}         remove a symbol from it
GET /signals/{symbol}                      the newest signal of each series of one symbol, explained
=========================================  ==================================================================

Symbols: see :mod:`tsbot.apps.api.lookup` (``BTC-USDT`` or ``BTCUSDT`` in paths). An unknown symbol in a query or
a body is refused with 422 (the message lists the known ones); in the path of ``GET /signals/{symbol}`` it is 404.

Permissions: reading needs ``read_signals``. Changing the watchlist and ``POST /signals/generate`` need
``write_signals``: generating runs the same scan as ``tsbot scan`` over the stored candles and stores its signals
and status changes for everyone, so it writes signals; it calls no language model, which is what ``use_ai``
guards.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, Response, status

from tsbot.accounts.models import Identity, Permission
from tsbot.adapters.events import publish_status_changes
from tsbot.adapters.storage.signal_queries import SignalFilter, SqlSignalQueries
from tsbot.adapters.storage.watch import SqlWatchlistStore
from tsbot.apps.api.auth import requires
from tsbot.apps.api.deps import ServicesDep
from tsbot.apps.api.errors import ApiError
from tsbot.apps.api.events import bus_of
from tsbot.apps.api.lookup import (
    SYMBOL_HELP,
    instruments,
    match_symbol,
    resolve_symbol,
    resolve_symbols,
    time_range,
    utc_param,
)
from tsbot.apps.api.schemas import Page
from tsbot.apps.api.signal_models import (
    MAX_WATCHLIST,
    GenerateIn,
    GenerateOut,
    MonitorOut,
    PeriodOut,
    SeriesMonitorOut,
    SignalOut,
    SignalStatsOut,
    SkippedOut,
    StatusChangeOut,
    SymbolCountsOut,
    SymbolSignalsOut,
    WatchlistIn,
    WatchlistOut,
)
from tsbot.apps.api.signal_pages import cached_page
from tsbot.core.enums import Action
from tsbot.core.errors import NotFoundError
from tsbot.core.time import from_ms, utc_now
from tsbot.market.models import SeriesKey, Timeframe
from tsbot.wiring import Services

router = APIRouter(prefix="/api/v1/signals", tags=["signals"])

ReadSignals = Annotated[Identity, requires(Permission.READ_SIGNALS)]
WriteSignals = Annotated[Identity, requires(Permission.WRITE_SIGNALS)]

SymbolQuery = Annotated[str | None, Query(min_length=1, max_length=40, description=SYMBOL_HELP)]
SymbolPath = Annotated[str, Path(min_length=1, max_length=40, description=SYMBOL_HELP)]
ExchangeQuery = Annotated[
    str | None, Query(pattern=r"^[a-z0-9_.-]{1,32}$", description="venue id: binance, alpaca, ...")
]
TimeframeQuery = Annotated[Timeframe | None, Query(description="series timeframe")]
ActionQuery = Annotated[Action | None, Query(description="the signal's status / direction: BUY, SELL, HOLD")]
SinceQuery = Annotated[
    datetime | None, Query(description="as_of at or after this time (ISO-8601; UTC if bare)")
]
UntilQuery = Annotated[
    datetime | None, Query(description="as_of at or before this time (ISO-8601; UTC if bare)")
]
WatchlistQuery = Annotated[bool, Query(description="only symbols on my watchlist")]
Limit = Annotated[int, Query(ge=1, le=500, description="items per page")]
Offset = Annotated[int, Query(ge=0, le=1_000_000, description="items to skip")]

_UNKNOWN_422 = {422: {"description": "invalid parameters, or a symbol no stored candles have"}}


async def _filter(
    services: Services,
    identity: Identity,
    *,
    symbol: str | None = None,
    exchange: str | None = None,
    timeframe: Timeframe | None = None,
    action: Action | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    watchlist: bool = False,
) -> SignalFilter:
    """The query's filter; ``symbol`` resolved (422 when unknown), ``watchlist`` narrowed to the caller's list."""
    start, end = time_range(since, until)
    symbols: tuple[str, ...] | None = None
    if symbol is not None:
        symbols = (await resolve_symbol(services, symbol),)
    if watchlist:
        mine = await SqlWatchlistStore(services.db).symbols(identity.user.id)
        symbols = tuple(s for s in (symbols if symbols is not None else mine) if s in mine)
    return SignalFilter(symbols, exchange, timeframe, action, start, end)


@router.get("", response_model=Page[SignalOut], responses=_UNKNOWN_422)
async def list_signals(
    request: Request,
    identity: ReadSignals,
    services: ServicesDep,
    symbol: SymbolQuery = None,
    exchange: ExchangeQuery = None,
    timeframe: TimeframeQuery = None,
    action: ActionQuery = None,
    since: SinceQuery = None,
    until: UntilQuery = None,
    watchlist: WatchlistQuery = False,
    limit: Limit = 50,
    offset: Offset = 0,
) -> Response:
    """Stored signals matching the filters, newest ``as_of`` first.

    Served from this process's page cache (:mod:`tsbot.apps.api.signal_pages`) while no signal was stored or
    changed since the page was read: never out of date."""
    where = await _filter(
        services,
        identity,
        symbol=symbol,
        exchange=exchange,
        timeframe=timeframe,
        action=action,
        since=since,
        until=until,
        watchlist=watchlist,
    )
    queries = SqlSignalQueries(services.db)
    return await cached_page(
        request, services, "list", where, limit, offset, lambda w, n, o: queries.page(w, limit=n, offset=o)
    )


@router.get("/stats", responses=_UNKNOWN_422)
async def signal_stats(
    identity: ReadSignals,
    services: ServicesDep,
    since: SinceQuery = None,
    until: Annotated[datetime | None, Query(description="end of the period (default: now)")] = None,
    days: Annotated[
        float, Query(gt=0, le=3650, description="length of the period when since is not given")
    ] = 30,
    symbol: SymbolQuery = None,
    exchange: ExchangeQuery = None,
    timeframe: TimeframeQuery = None,
) -> SignalStatsOut:
    """Counts of the signals whose ``as_of`` is in ``[since, until]``: by action, per symbol, and the status
    changes recorded. The period ends at ``until`` (default now) and starts ``days`` earlier unless ``since``
    is given."""
    end = utc_param(until, "until") or utc_now()
    start = utc_param(since, "since")
    if start is None:
        try:
            start = end - timedelta(days=days)
        except OverflowError:
            start = datetime.min.replace(tzinfo=end.tzinfo)
    where = await _filter(
        services, identity, symbol=symbol, exchange=exchange, timeframe=timeframe, since=start, until=end
    )
    counts = await SqlSignalQueries(services.db).counts(where)
    return SignalStatsOut(
        period=PeriodOut(since=start, until=end),
        total=counts.total,
        by_action=counts.by_action,
        by_symbol=[
            SymbolCountsOut(symbol=sym, total=sum(per.values()), by_action=per)
            for sym, per in counts.by_symbol.items()
        ],
        status_changes=counts.status_changes,
        first_as_of=counts.first_as_of,
        last_as_of=counts.last_as_of,
    )


@router.get("/latest", response_model=Page[SignalOut], responses=_UNKNOWN_422)
async def latest_signals(
    request: Request,
    identity: ReadSignals,
    services: ServicesDep,
    symbol: SymbolQuery = None,
    exchange: ExchangeQuery = None,
    timeframe: TimeframeQuery = None,
    watchlist: WatchlistQuery = False,
    limit: Limit = 100,
    offset: Offset = 0,
) -> Response:
    """The newest stored signal of each series (by symbol, exchange, timeframe), with its components, reasons
    and headlines (from the page cache while no signal changed)."""
    where = await _filter(
        services, identity, symbol=symbol, exchange=exchange, timeframe=timeframe, watchlist=watchlist
    )
    return await _newest(request, services, "latest", where, limit, offset)


@router.get("/history", response_model=Page[SignalOut], responses=_UNKNOWN_422)
async def signals_at(
    request: Request,
    identity: ReadSignals,
    services: ServicesDep,
    at: Annotated[datetime, Query(description="the time (ISO-8601; UTC if bare)")],
    symbol: SymbolQuery = None,
    exchange: ExchangeQuery = None,
    timeframe: TimeframeQuery = None,
    watchlist: WatchlistQuery = False,
    limit: Limit = 100,
    offset: Offset = 0,
) -> Page[SignalOut]:
    """The signals as known at ``at``: for each series, the newest stored signal whose ``as_of`` is at or
    before ``at``. Series with no signal by then are absent."""
    where = await _filter(
        services,
        identity,
        symbol=symbol,
        exchange=exchange,
        timeframe=timeframe,
        until=utc_param(at, "at"),
        watchlist=watchlist,
    )
    return await _newest(request, services, "history", where, limit, offset)


async def _newest(
    request: Request, services: Services, route: str, where: SignalFilter, limit: int, offset: int
) -> Response:
    """The newest signal of each series matching ``where``, one page of them (cached)."""
    queries = SqlSignalQueries(services.db)
    return await cached_page(
        request,
        services,
        route,
        where,
        limit,
        offset,
        lambda w, n, o: queries.newest_per_series(w, limit=n, offset=o),
    )


@router.get("/monitor")
async def monitor(identity: ReadSignals, services: ServicesDep) -> MonitorOut:
    """Per stored candle series: the last scan, whether it covers the newest bar (``status``) and whether the
    candles themselves are stale; with how many symbols are known and watched."""
    now = utc_now()
    states = {s.key: s for s in await SqlSignalQueries(services.db).scan_states()}
    closes: dict[SeriesKey, datetime] = {
        info.key: from_ms(info.last_open_ms + info.key.timeframe.ms)
        for info in await services.candles.series()
    }
    keys = sorted(set(states) | set(closes), key=lambda k: (k.symbol, k.exchange, k.timeframe.ms))
    series = [SeriesMonitorOut.of(k, states.get(k), closes.get(k), now) for k in keys]
    known = sorted({i.symbol for i in await instruments(services)})
    watch = SqlWatchlistStore(services.db)
    configured = list(services.settings.trading.watchlist)
    watched = set(await watch.watched())
    watched.update(m for m in (match_symbol(text, known) for text in configured) if m is not None)
    return MonitorOut(
        checked_at=now,
        symbols_known=len(known),
        symbols_watched=len(watched),
        my_watchlist=len(await watch.symbols(identity.user.id)),
        configured_watchlist=configured,
        last_scan_at=max((s.scanned_at for s in states.values()), default=None),
        series_behind=sum(1 for s in series if s.status == "behind"),
        series_stale=sum(1 for s in series if s.data_stale),
        series=series,
    )


@router.post(
    "/generate",
    responses={
        **_UNKNOWN_422,
        404: {"description": "none of the symbols has a stored series at the timeframe asked for"},
    },
)
async def generate(
    body: GenerateIn, identity: WriteSignals, services: ServicesDep, request: Request
) -> GenerateOut:
    """Compute signals now, as of the newest stored bar of each series of the symbols (the scan of
    ``tsbot scan``), and store them unless ``store`` is false. Series with too few bars are listed in
    ``skipped``. Stored status changes are pushed to the WebSocket's ``signals`` channel."""
    symbols = await resolve_symbols(services, body.symbols)
    result = await services.scan_service().scan(symbols, timeframe=body.timeframe, store=body.store)
    if body.store:
        await publish_status_changes(bus_of(request.app), result.status_changes)
    return GenerateOut(
        stored=body.store,
        signals=[SignalOut.of(s) for s in sorted(result.signals, key=lambda s: str(s.key))],
        skipped=[
            SkippedOut(
                symbol=s.key.symbol, exchange=s.key.exchange, timeframe=s.key.timeframe, reason=s.reason
            )
            for s in result.skipped
        ],
        status_changes=[StatusChangeOut.of(c) for c in result.status_changes],
    )


@router.get("/watchlist")
async def get_watchlist(identity: ReadSignals, services: ServicesDep) -> WatchlistOut:
    """My watchlist, in the order the symbols were added."""
    return WatchlistOut(symbols=await SqlWatchlistStore(services.db).symbols(identity.user.id))


@router.put("/watchlist", responses=_UNKNOWN_422)
async def put_watchlist(body: WatchlistIn, identity: WriteSignals, services: ServicesDep) -> WatchlistOut:
    """Replace my watchlist with the symbols given (in that order; duplicates dropped)."""
    symbols = await resolve_symbols(services, body.symbols)
    store = SqlWatchlistStore(services.db)
    await store.replace(identity.user.id, symbols)
    return WatchlistOut(symbols=await store.symbols(identity.user.id))


@router.post(
    "/watchlist/{symbol}",
    status_code=status.HTTP_201_CREATED,
    responses={**_UNKNOWN_422, 409: {"description": f"the watchlist holds {MAX_WATCHLIST} symbols already"}},
)
async def add_to_watchlist(symbol: SymbolPath, identity: WriteSignals, services: ServicesDep) -> WatchlistOut:
    """Add a symbol to my watchlist (adding one already there changes nothing)."""
    found = await resolve_symbol(services, symbol)
    store = SqlWatchlistStore(services.db)
    mine = await store.symbols(identity.user.id)
    if found not in mine:
        if len(mine) >= MAX_WATCHLIST:
            raise ApiError(409, f"the watchlist holds {MAX_WATCHLIST} symbols already; remove one first")
        await store.add(identity.user.id, found)
    return WatchlistOut(symbols=await store.symbols(identity.user.id))


@router.delete("/watchlist/{symbol}", responses={404: {"description": "the symbol is not on my watchlist"}})
async def remove_from_watchlist(
    symbol: SymbolPath, identity: WriteSignals, services: ServicesDep
) -> WatchlistOut:
    """Remove a symbol from my watchlist."""
    store = SqlWatchlistStore(services.db)
    found = match_symbol(symbol, await store.symbols(identity.user.id))
    if found is None or not await store.remove(identity.user.id, found):
        raise NotFoundError(f"{symbol!r} is not on your watchlist")
    return WatchlistOut(symbols=await store.symbols(identity.user.id))


@router.get("/{symbol}", responses={404: {"description": "unknown symbol, or no signal stored for it yet"}})
async def symbol_signals(
    symbol: SymbolPath,
    identity: ReadSignals,
    services: ServicesDep,
    exchange: ExchangeQuery = None,
    timeframe: TimeframeQuery = None,
) -> SymbolSignalsOut:
    """The newest stored signal of each series of ``symbol`` (one per exchange and timeframe), newest first,
    with components, reasons and the headlines that moved its sentiment."""
    found = await resolve_symbol(services, symbol, missing=NotFoundError)
    where = SignalFilter(symbols=(found,), exchange=exchange, timeframe=timeframe)
    items, _ = await SqlSignalQueries(services.db).newest_per_series(where)
    if not items:
        raise NotFoundError(f"no stored signal for {found}; compute one with POST /api/v1/signals/generate")
    items.sort(key=lambda s: s.signal.as_of, reverse=True)
    return SymbolSignalsOut(symbol=found, signals=SignalOut.many(items))
