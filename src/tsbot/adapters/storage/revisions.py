"""Revisions of stored data sets: a counter per data set, raised by every transaction that changes it.

Writers call :func:`bump_revision` inside their transaction, as its last statement (on PostgreSQL the counter's
row stays locked from that statement to the commit, so the later it comes the less concurrent writers wait).
Readers call :meth:`SqlRevisions.current` *before* reading the data: whatever they then read is at least as new as
that revision, so an answer kept under revision ``r`` may be served while the current revision is still ``r``.

Only tsbot's own writers raise the counter: rows changed by hand in SQL are not seen until the next change made
through tsbot (or until a cache's own age limit).
"""

from __future__ import annotations

from typing import Final
from weakref import WeakKeyDictionary

from sqlalchemy import bindparam, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from tsbot.adapters.storage.candles import dialect_insert
from tsbot.adapters.storage.tables_revisions import data_revisions

#: The stored signals (``signals`` and ``signal_status_changes``), raised by
#: :meth:`tsbot.adapters.storage.signals.SqlSignalStore.save`.
SIGNALS: Final = "signals"


async def bump_revision(conn: AsyncConnection, name: str) -> None:
    """Raise the revision of ``name`` by one within ``conn``'s transaction (the row is made at 1 when absent)."""
    insert = dialect_insert(conn.engine)
    stmt = insert(data_revisions).values(name=name, revision=1)
    await conn.execute(
        stmt.on_conflict_do_update(
            index_elements=[data_revisions.c.name], set_={"revision": data_revisions.c.revision + 1}
        )
    )


_CURRENT: Final = select(data_revisions.c.revision).where(data_revisions.c.name == bindparam("name"))
#: Per engine, a view of it whose connections run each statement on its own (no BEGIN / ROLLBACK round trips):
#: a revision is one read of one row, the cheapest check a request can make.
_AUTOCOMMIT: WeakKeyDictionary[AsyncEngine, AsyncEngine] = WeakKeyDictionary()


class SqlRevisions:
    """Reads the revisions in ``data_revisions``."""

    def __init__(self, engine: AsyncEngine) -> None:
        autocommit = _AUTOCOMMIT.get(engine)
        if autocommit is None:
            autocommit = _AUTOCOMMIT[engine] = engine.execution_options(isolation_level="AUTOCOMMIT")
        self._engine = autocommit

    async def current(self, name: str) -> int:
        """The revision of ``name`` now; 0 when it was never changed."""
        async with self._engine.connect() as conn:
            value = await conn.scalar(_CURRENT, {"name": name})
        return int(value or 0)
