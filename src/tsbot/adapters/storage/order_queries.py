"""Pages of stored orders for people browsing them (the API): filtered by accounts, status and symbol, newest
first, with the count of all that match. Orders come back whole (history included) through
:class:`~tsbot.adapters.storage.orders.SqlOrderStore`."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from tsbot.adapters.storage.orders import SqlOrderStore
from tsbot.adapters.storage.tables import orders
from tsbot.trading.models import Order, OrderStatus


class SqlOrderPages:
    """Pages of the ``orders`` table (see the module docstring)."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._store = SqlOrderStore(engine)

    async def page(
        self,
        accounts: Sequence[str],
        *,
        statuses: Sequence[OrderStatus] | None = None,
        symbol: str | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> tuple[list[Order], int]:
        """Orders of ``accounts`` (in ``statuses`` and of ``symbol`` when given), newest first (creation time, then
        client id), ``limit`` of them from position ``offset``; and how many match in all. No accounts: none."""
        if not accounts:
            return [], 0
        where = [orders.c.account.in_(list(accounts))]
        if statuses:
            where.append(orders.c.status.in_([OrderStatus(s).value for s in statuses]))
        if symbol is not None:
            where.append(orders.c.symbol == symbol)
        ids_query = (
            select(orders.c.client_order_id)
            .where(*where)
            .order_by(orders.c.created_at.desc(), orders.c.client_order_id.desc())
            .limit(limit)
            .offset(offset)
        )
        count_query = select(func.count()).select_from(orders).where(*where)
        async with self._engine.connect() as conn:
            total = int(await conn.scalar(count_query) or 0)
            ids = list((await conn.execute(ids_query)).scalars())
        found = [await self._store.get(cid) for cid in ids]
        return [o for o in found if o is not None], total
