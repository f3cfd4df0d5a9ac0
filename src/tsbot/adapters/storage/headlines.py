"""SQL implementation of :class:`tsbot.sentiment.ports.HeadlineStore`."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import numpy as np
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from tsbot.adapters.storage.candles import dialect_insert
from tsbot.adapters.storage.tables import headline_assets, headlines
from tsbot.sentiment.aggregate import HeadlineSeries
from tsbot.sentiment.models import Headline

_CHUNK = 1_000


class SqlHeadlineStore:
    """Headlines with their sentiment score; an index table (asset, published_at) serves point-in-time queries."""

    def __init__(self, engine: AsyncEngine, *, model_name: str = "default") -> None:
        self._engine = engine
        self._insert = dialect_insert(engine)
        self._model = model_name

    async def add(self, items: Sequence[Headline]) -> int:
        """Store headlines whose URL is not stored yet; return how many were new."""
        if not items:
            return 0
        async with self._engine.begin() as conn:
            urls = [h.url for h in items]
            known: set[str] = set()
            for start in range(0, len(urls), _CHUNK):
                chunk = urls[start : start + _CHUNK]
                known.update(
                    (await conn.execute(select(headlines.c.url).where(headlines.c.url.in_(chunk)))).scalars()
                )
            fresh: dict[str, Headline] = {}
            for h in items:
                if h.url not in known and h.url not in fresh:
                    fresh[h.url] = h
            rows = list(fresh.values())
            for start in range(0, len(rows), _CHUNK):
                chunk_rows = rows[start : start + _CHUNK]
                result = await conn.execute(
                    self._insert(headlines).returning(headlines.c.id, headlines.c.url),
                    [
                        {
                            "url": h.url,
                            "published_at": h.published_at,
                            "source": h.source,
                            "title": h.title,
                            "summary": h.summary,
                            "assets": ",".join(h.assets),
                            "score": h.score,
                            "model": self._model if h.score is not None else None,
                        }
                        for h in chunk_rows
                    ],
                )
                ids = {url: id_ for id_, url in result.all()}
                links = [
                    {"asset": asset, "published_at": h.published_at, "headline_id": ids[h.url]}
                    for h in chunk_rows
                    for asset in h.assets
                ]
                if links:
                    await conn.execute(self._insert(headline_assets).on_conflict_do_nothing(), links)
        return len(fresh)

    async def for_asset(self, asset: str, *, start: datetime, end: datetime) -> list[Headline]:
        """Headlines mentioning ``asset`` with ``start <= published_at <= end``, oldest first."""
        stmt = (
            select(headlines)
            .join(headline_assets, headline_assets.c.headline_id == headlines.c.id)
            .where(
                headline_assets.c.asset == asset,
                headline_assets.c.published_at >= start,
                headline_assets.c.published_at <= end,
            )
            .order_by(headline_assets.c.published_at, headlines.c.id)
        )
        async with self._engine.connect() as conn:
            rows = (await conn.execute(stmt)).mappings().all()
        return [
            Headline(
                published_at=r["published_at"],
                source=r["source"],
                title=r["title"],
                summary=r["summary"],
                url=r["url"],
                assets=tuple(a for a in r["assets"].split(",") if a),
                score=r["score"],
            )
            for r in rows
        ]

    async def scored_series(self, asset: str, *, start: datetime, end: datetime) -> HeadlineSeries:
        """Publication times (ms UTC) and scores of the scored headlines mentioning ``asset`` in [start, end]."""
        stmt = (
            select(headline_assets.c.published_at, headlines.c.score)
            .join(headlines, headline_assets.c.headline_id == headlines.c.id)
            .where(
                headline_assets.c.asset == asset,
                headline_assets.c.published_at >= start,
                headline_assets.c.published_at <= end,
                headlines.c.score.is_not(None),
            )
            .order_by(headline_assets.c.published_at)
        )
        async with self._engine.connect() as conn:
            rows = (await conn.execute(stmt)).all()
        if not rows:
            return HeadlineSeries.empty()
        return HeadlineSeries(
            np.array([int(t.timestamp() * 1000) for t, _ in rows], dtype=np.int64),
            np.array([s for _, s in rows], dtype=np.float64),
        )

    async def count(self) -> int:
        async with self._engine.connect() as conn:
            return int((await conn.execute(select(func.count()).select_from(headlines))).scalar_one())
