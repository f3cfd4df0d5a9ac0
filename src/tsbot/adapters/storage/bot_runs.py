"""The memory of bots run by the monitoring cycle, in ``bot_runs`` (:class:`tsbot.monitor.ports.BotMemory`)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from tsbot.adapters.storage.candles import dialect_insert
from tsbot.adapters.storage.tables_monitor import bot_runs


class SqlBotMemory:
    """One JSON object per bot, replaced on each save (one statement: insert or update)."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._insert = dialect_insert(engine)

    async def load(self, bot_ids: list[str]) -> dict[str, dict[str, Any]]:
        if not bot_ids:
            return {}
        query = select(bot_runs.c.bot_id, bot_runs.c.state).where(bot_runs.c.bot_id.in_(bot_ids))
        async with self._engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        return {r.bot_id: dict(r.state) for r in rows}

    async def save(self, bot_id: str, state: Mapping[str, Any], at: datetime) -> None:
        stmt = self._insert(bot_runs).values(bot_id=bot_id, state=dict(state), updated_at=at)
        stmt = stmt.on_conflict_do_update(
            index_elements=[bot_runs.c.bot_id], set_={"state": stmt.excluded.state, "updated_at": at}
        )
        async with self._engine.begin() as conn:
            await conn.execute(stmt)
