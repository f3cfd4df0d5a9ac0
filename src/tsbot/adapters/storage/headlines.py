"""SQL implementation of :class:`tsbot.sentiment.ports.HeadlineStore`."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import numpy as np
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from tsbot.adapters.storage.candles import dialect_insert
from tsbot.adapters.storage.tables import headline_assets, headlines
from tsbot.sentiment.aggregate import HeadlineSeries
from tsbot.sentiment.models import Headline

_CHUNK = 1_000


class SqlHeadlineStore:
    """Headlines with their sentiment score. An index table ``(asset, first_seen_at)`` serves point-in-time
    queries: every read selects by the time tsbot first saw a headline, never by its publication time."""

    def __init__(self, engine: AsyncEngine, *, model_name: str = "default") -> None:
        self._engine = engine
        self._insert = dialect_insert(engine)
        self._model = model_name

    async def add(self, items: Sequence[Headline]) -> int:
        """Store headlines whose URL is not stored yet; return how many were new.

        ``first_seen_at`` None is stored as ``published_at``. The first of several items with one URL wins.
        """
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
                            "first_seen_at": h.known_at,
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
                    {
                        "asset": asset,
                        "published_at": h.published_at,
                        "first_seen_at": h.known_at,
                        "headline_id": ids[h.url],
                    }
                    for h in chunk_rows
                    for asset in h.assets
                ]
                if links:
                    await conn.execute(self._insert(headline_assets).on_conflict_do_nothing(), links)
        return len(fresh)

    async def known_urls(self, urls: Sequence[str]) -> set[str]:
        """The subset of ``urls`` already stored."""
        out: set[str] = set()
        unique = list(dict.fromkeys(urls))
        async with self._engine.connect() as conn:
            for start in range(0, len(unique), _CHUNK):
                chunk = unique[start : start + _CHUNK]
                out.update(
                    (await conn.execute(select(headlines.c.url).where(headlines.c.url.in_(chunk)))).scalars()
                )
        return out

    async def titles_seen(self, *, start: datetime, end: datetime) -> list[str]:
        """Titles (the summary where the title is empty) of headlines first seen in ``[start, end]``, oldest
        first."""
        stmt = (
            select(headlines.c.title, headlines.c.summary)
            .where(headlines.c.first_seen_at >= start, headlines.c.first_seen_at <= end)
            .order_by(headlines.c.first_seen_at, headlines.c.id)
        )
        async with self._engine.connect() as conn:
            rows = (await conn.execute(stmt)).all()
        return [title.strip() or summary for title, summary in rows]

    async def for_asset(self, asset: str, *, start: datetime, end: datetime) -> list[Headline]:
        """Headlines mentioning ``asset`` with ``start <= first_seen_at <= end``, oldest first."""
        stmt = (
            select(headlines)
            .join(headline_assets, headline_assets.c.headline_id == headlines.c.id)
            .where(
                headline_assets.c.asset == asset,
                headline_assets.c.first_seen_at >= start,
                headline_assets.c.first_seen_at <= end,
            )
            .order_by(headline_assets.c.first_seen_at, headlines.c.id)
        )
        async with self._engine.connect() as conn:
            rows = (await conn.execute(stmt)).mappings().all()
        return [_headline(r) for r in rows]

    async def latest(self, *, asset: str | None = None, limit: int = 20) -> list[Headline]:
        """The ``limit`` most recently first-seen headlines (mentioning ``asset`` when given), newest first."""
        if asset is None:
            stmt = select(headlines).order_by(headlines.c.first_seen_at.desc(), headlines.c.id.desc())
        else:
            stmt = (
                select(headlines)
                .join(headline_assets, headline_assets.c.headline_id == headlines.c.id)
                .where(headline_assets.c.asset == asset)
                .order_by(headline_assets.c.first_seen_at.desc(), headlines.c.id.desc())
            )
        async with self._engine.connect() as conn:
            rows = (await conn.execute(stmt.limit(max(0, limit)))).mappings().all()
        return [_headline(r) for r in rows]

    async def scored_series(self, asset: str, *, start: datetime, end: datetime) -> HeadlineSeries:
        """First-seen times (ms UTC, ascending), scores, sources and ids of the scored headlines mentioning
        ``asset`` first seen in ``[start, end]``."""
        stmt = (
            select(headline_assets.c.first_seen_at, headlines.c.score, headlines.c.source, headlines.c.id)
            .join(headlines, headline_assets.c.headline_id == headlines.c.id)
            .where(
                headline_assets.c.asset == asset,
                headline_assets.c.first_seen_at >= start,
                headline_assets.c.first_seen_at <= end,
                headlines.c.score.is_not(None),
            )
            .order_by(headline_assets.c.first_seen_at, headlines.c.id)
        )
        async with self._engine.connect() as conn:
            rows = (await conn.execute(stmt)).all()
        if not rows:
            return HeadlineSeries.empty()
        return HeadlineSeries(
            known_ms=np.array([int(t.timestamp() * 1000) for t, _, _, _ in rows], dtype=np.int64),
            scores=np.array([s for _, s, _, _ in rows], dtype=np.float64),
            sources=tuple(src for _, _, src, _ in rows),
            ids=np.array([i for _, _, _, i in rows], dtype=np.int64),
        )

    async def by_ids(self, ids: Sequence[int]) -> dict[int, Headline]:
        """The stored headlines with these ids, keyed by id (ids not stored are absent)."""
        wanted = sorted({int(i) for i in ids})
        out: dict[int, Headline] = {}
        async with self._engine.connect() as conn:
            for start in range(0, len(wanted), _CHUNK):
                chunk = wanted[start : start + _CHUNK]
                rows = (
                    (await conn.execute(select(headlines).where(headlines.c.id.in_(chunk)))).mappings().all()
                )
                out.update((int(r["id"]), _headline(r)) for r in rows)
        return out

    async def count(self) -> int:
        async with self._engine.connect() as conn:
            return int((await conn.execute(select(func.count()).select_from(headlines))).scalar_one())


def _headline(r: Mapping[str, Any]) -> Headline:
    return Headline(
        published_at=r["published_at"],
        source=r["source"],
        title=r["title"],
        summary=r["summary"],
        url=r["url"],
        assets=tuple(a for a in r["assets"].split(",") if a),
        score=r["score"],
        first_seen_at=r["first_seen_at"],
        id=int(r["id"]),
    )
