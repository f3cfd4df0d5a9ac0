"""News sentiment: ``/api/v1/sentiment`` (every asset) and ``/api/v1/sentiment/{asset}`` (one asset).

A reading is the point-in-time aggregate of :mod:`tsbot.sentiment.aggregate` with the rules of
``trading.sentiment`` (decay half-life, source weights, evidence), over the headlines first seen in the ``hours``
before ``at``: the same number a signal computed at ``at`` would use when ``hours`` is ``max_age_hours``. The top
headlines are those that moved the reading most (largest weighted contribution first).

Assets are base assets (``BTC``, ``AAPL``); the list route covers the bases of every symbol with stored candles.
``/sentiment/{asset}`` also takes a symbol (``BTC-USDT``, ``BTCUSDT``) and reads its base. An asset that no stored
symbol has and no stored headline mentions is 404. Reading needs ``read_market``.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, Field

from tsbot.accounts.models import Identity, Permission
from tsbot.apps.api.auth import requires
from tsbot.apps.api.deps import ServicesDep
from tsbot.apps.api.lookup import instruments, utc_param
from tsbot.apps.api.schemas import Page
from tsbot.core.errors import DataError, NotFoundError
from tsbot.core.time import to_ms, utc_now
from tsbot.intake.symbols import split_symbol
from tsbot.sentiment.aggregate import readings
from tsbot.wiring import Services

router = APIRouter(prefix="/api/v1/sentiment", tags=["sentiment"])

ReadMarket = Annotated[Identity, requires(Permission.READ_MARKET)]
AtQuery = Annotated[
    datetime | None, Query(description="time of the reading (ISO-8601; UTC if bare; default now)")
]
HoursQuery = Annotated[
    float | None,
    Query(gt=0, le=8760, description="window in hours (default: trading.sentiment.max_age_hours, 72)"),
]


class HeadlineOut(BaseModel):
    """A headline of the reading."""

    title: str
    source: str
    url: str
    published_at: datetime = Field(description="publication time, UTC")
    score: float = Field(description="the model's score of the headline, in [-1, 1]")
    contribution: float = Field(description="its weighted share of the reading, in [-1, 1]")


class SentimentOut(BaseModel):
    """The sentiment of one asset at ``as_of`` over ``window_hours``."""

    asset: str
    as_of: datetime
    window_hours: float
    score: float | None = Field(
        description="decay-weighted mean headline score in [-1, 1]; null: no headlines"
    )
    headlines: int = Field(ge=0, description="headlines in the window")
    evidence_ratio: float = Field(ge=0, le=1, description="min(1, headlines / full_evidence_headlines)")
    thin: bool = Field(description="fewer headlines than trading.sentiment.min_headlines")
    top_headlines: list[HeadlineOut]


async def _reading(services: Services, asset: str, at: datetime, hours: float, top: int) -> SentimentOut:
    cfg = services.settings.trading.sentiment.model_copy(update={"max_age_hours": hours})
    try:
        start = at - timedelta(hours=hours)
    except OverflowError:
        raise DataError(f"at: {at.isoformat()} minus {hours} hours is before year 1") from None
    series = await services.headlines.scored_series(asset, start=start, end=at)
    (reading,) = readings(series, [to_ms(at)], cfg, top=top)
    tops: list[HeadlineOut] = []
    if reading is not None and reading.top:
        found = await services.headlines.by_ids([hid for hid, _ in reading.top])
        tops = [
            HeadlineOut(
                title=h.title,
                source=h.source,
                url=h.url,
                published_at=h.published_at,
                score=float(h.score or 0.0),
                contribution=round(share, 6),
            )
            for hid, share in reading.top
            if (h := found.get(hid)) is not None
        ]
    return SentimentOut(
        asset=asset,
        as_of=at,
        window_hours=hours,
        score=None if reading is None else round(reading.score, 6),
        headlines=0 if reading is None else reading.headlines,
        evidence_ratio=0.0 if reading is None else round(reading.evidence_ratio, 6),
        thin=reading is None or reading.thin,
        top_headlines=tops,
    )


def _when(services: Services, at: datetime | None, hours: float | None) -> tuple[datetime, float]:
    when = utc_param(at, "at") or utc_now()
    return when, hours if hours is not None else services.settings.trading.sentiment.max_age_hours


async def _assets(services: Services) -> list[str]:
    return sorted({i.base for i in await instruments(services)})


@router.get("")
async def all_sentiment(
    identity: ReadMarket,
    services: ServicesDep,
    at: AtQuery = None,
    hours: HoursQuery = None,
    top: Annotated[int, Query(ge=0, le=20, description="top headlines per asset")] = 3,
    limit: Annotated[int, Query(ge=1, le=500, description="items per page")] = 100,
    offset: Annotated[int, Query(ge=0, le=1_000_000, description="items to skip")] = 0,
) -> Page[SentimentOut]:
    """The reading of every asset with stored candles, by asset name."""
    when, window = _when(services, at, hours)
    assets = await _assets(services)
    items = [await _reading(services, a, when, window, top) for a in assets[offset : offset + limit]]
    return Page[SentimentOut](items=items, total=len(assets), limit=limit, offset=offset)


@router.get(
    "/{asset}", responses={404: {"description": "no stored symbol has the asset and no headline names it"}}
)
async def asset_sentiment(
    asset: Annotated[
        str, Path(min_length=1, max_length=40, description="base asset (BTC, AAPL) or a symbol (BTC-USDT)")
    ],
    identity: ReadMarket,
    services: ServicesDep,
    at: AtQuery = None,
    hours: HoursQuery = None,
    top: Annotated[int, Query(ge=0, le=50, description="top headlines to list")] = 5,
) -> SentimentOut:
    """The reading of one asset, with the headlines that moved it most."""
    base, _ = split_symbol(asset)
    if not base or not (base.isascii() and base.isalnum()):
        raise NotFoundError(f"{asset!r} is not an asset name (write it like BTC or AAPL)")
    when, window = _when(services, at, hours)
    if base not in await _assets(services) and not await services.headlines.latest(asset=base, limit=1):
        raise NotFoundError(f"no stored symbol has the asset {base} and no stored headline mentions it")
    return await _reading(services, base, when, window, top)
