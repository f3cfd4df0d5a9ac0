"""Database health and row counts for the API's readiness check and Prometheus gauges."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select, text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

from tsbot.adapters.storage.tables import orders, signals
from tsbot.core.errors import TemporaryError


@dataclass(frozen=True, slots=True)
class StoredCounts:
    """Rows stored: signals by action (``buy``/``sell``/``hold``), orders by status (``new``, ``filled``...)."""

    signals_by_action: dict[str, int]
    orders_by_status: dict[str, int]


class SqlStats:
    """Read-only questions about the database as a whole."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def ping(self) -> None:
        """Run ``SELECT 1`` on a pooled connection.

        Raises:
            TemporaryError: the database did not answer (the message names the driver's error class).
        """
        try:
            async with self._engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
        except (SQLAlchemyError, OSError) as exc:
            raise TemporaryError(f"database did not answer SELECT 1 ({type(exc).__name__})") from exc

    async def counts(self) -> StoredCounts:
        """Signals grouped by action and orders grouped by status (two ``GROUP BY`` queries, one connection).

        Raises:
            TemporaryError: the database did not answer.
        """
        try:
            async with self._engine.connect() as conn:
                by_action = await conn.execute(
                    select(signals.c.action, func.count()).group_by(signals.c.action)
                )
                signal_counts = {str(action): int(n) for action, n in by_action}
                by_status = await conn.execute(
                    select(orders.c.status, func.count()).group_by(orders.c.status)
                )
                order_counts = {str(status): int(n) for status, n in by_status}
        except (SQLAlchemyError, OSError) as exc:
            raise TemporaryError(f"database did not answer the count queries ({type(exc).__name__})") from exc
        return StoredCounts(signals_by_action=signal_counts, orders_by_status=order_counts)
