"""Deposits into and withdrawals from paper accounts, in the ``paper_ledger`` table (amounts as plain-notation
decimal strings, signed: a withdrawal is negative)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from decimal import Decimal

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

from tsbot.adapters.storage.tables import paper_ledger
from tsbot.core.time import utc_now
from tsbot.trading.paper_account import LedgerEntry


class SqlPaperLedger:
    """The :class:`~tsbot.trading.paper_account.PaperLedger` port over the database."""

    def __init__(self, engine: AsyncEngine, *, clock: Callable[[], datetime] = utc_now) -> None:
        self._engine = engine
        self._clock = clock

    async def add(self, account: str, asset: str, amount: Decimal, reason: str) -> LedgerEntry:
        at = self._clock()
        async with self._engine.begin() as conn:
            await conn.execute(
                insert(paper_ledger).values(
                    account=account, asset=asset, amount=format(amount, "f"), reason=reason, at=at
                )
            )
        return LedgerEntry(account, asset, amount, reason, at)

    async def entries(self, account: str) -> list[LedgerEntry]:
        query = (
            select(paper_ledger)
            .where(paper_ledger.c.account == account)
            .order_by(paper_ledger.c.at, paper_ledger.c.id)
        )
        async with self._engine.connect() as conn:
            rows = (await conn.execute(query)).mappings().all()
        return [
            LedgerEntry(r["account"], r["asset"], Decimal(r["amount"]), r["reason"], r["at"]) for r in rows
        ]
