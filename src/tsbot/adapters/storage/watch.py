"""What users watch: their watchlists (:class:`SqlWatchlistStore`), their price alerts
(:class:`SqlPriceAlertStore`, implementing :class:`tsbot.signals.alerts.PriceAlertStore`), and the instruments
they may pick from (:func:`known_instruments`).

Every read and change of a user's rows is scoped by the owner's id: another user's alert reads as missing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from tsbot.adapters.storage.candles import dialect_insert
from tsbot.adapters.storage.tables import instruments
from tsbot.adapters.storage.tables_watch import price_alerts, watchlist_items
from tsbot.core.enums import AssetClass
from tsbot.core.errors import NotFoundError
from tsbot.core.time import utc_now
from tsbot.market.models import Instrument
from tsbot.signals.alerts import AlertCondition, PriceAlert


async def known_instruments(engine: AsyncEngine) -> list[Instrument]:
    """Every instrument the candle store has rows for, ordered by exchange and symbol."""
    stmt = select(instruments.c.exchange, instruments.c.symbol, instruments.c.asset_class).order_by(
        instruments.c.exchange, instruments.c.symbol
    )
    async with engine.connect() as conn:
        rows = (await conn.execute(stmt)).all()
    return [Instrument(ex, sym, AssetClass(ac)) for ex, sym, ac in rows]


class SqlWatchlistStore:
    """Each user's watchlist in ``watchlist_items``: symbols in the order they were added."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._insert = dialect_insert(engine)

    async def symbols(self, user_id: str) -> list[str]:
        """The user's symbols, oldest addition first."""
        t = watchlist_items
        stmt = select(t.c.symbol).where(t.c.user_id == user_id).order_by(t.c.added_at, t.c.symbol)
        async with self._engine.connect() as conn:
            return list((await conn.execute(stmt)).scalars())

    async def add(self, user_id: str, symbol: str) -> bool:
        """Add a symbol; True when it was not on the list yet."""
        stmt = (
            self._insert(watchlist_items)
            .values(user_id=user_id, symbol=symbol, added_at=utc_now())
            .on_conflict_do_nothing()
        )
        async with self._engine.begin() as conn:
            result = await conn.execute(stmt)
        return bool(result.rowcount)

    async def remove(self, user_id: str, symbol: str) -> bool:
        """Remove a symbol; True when it was on the list."""
        t = watchlist_items
        async with self._engine.begin() as conn:
            result = await conn.execute(delete(t).where(t.c.user_id == user_id, t.c.symbol == symbol))
        return bool(result.rowcount)

    async def replace(self, user_id: str, symbols: Sequence[str]) -> None:
        """Make the list exactly ``symbols`` (duplicates dropped), in that order."""
        t = watchlist_items
        wanted = list(dict.fromkeys(symbols))
        now = utc_now()
        async with self._engine.begin() as conn:
            await conn.execute(delete(t).where(t.c.user_id == user_id))
            if wanted:
                # One microsecond apart: the list reads back (by added_at) in the given order.
                await conn.execute(
                    t.insert(),
                    [
                        {"user_id": user_id, "symbol": s, "added_at": now + timedelta(microseconds=i)}
                        for i, s in enumerate(wanted)
                    ],
                )

    async def watched(self) -> dict[str, int]:
        """How many users watch each symbol (symbols on nobody's list are absent)."""
        t = watchlist_items
        stmt = select(t.c.symbol, func.count()).group_by(t.c.symbol)
        async with self._engine.connect() as conn:
            return {sym: int(n) for sym, n in (await conn.execute(stmt)).all()}


    async def watchers(self, symbols: Sequence[str]) -> dict[str, list[str]]:
        """The ids of the users watching each of ``symbols`` (symbols nobody watches are absent)."""
        t = watchlist_items
        if not symbols:
            return {}
        stmt = select(t.c.symbol, t.c.user_id).where(t.c.symbol.in_(sorted(set(symbols)))).order_by(t.c.user_id)
        out: dict[str, list[str]] = {}
        async with self._engine.connect() as conn:
            for sym, user_id in (await conn.execute(stmt)).all():
                out.setdefault(sym, []).append(user_id)
        return out


def _alert(r: Mapping[str, Any]) -> PriceAlert:
    return PriceAlert(
        id=r["id"],
        user_id=r["user_id"],
        symbol=r["symbol"],
        condition=AlertCondition(r["condition"]),
        price=Decimal(r["price"]),
        note=r["note"],
        repeat=bool(r["repeat"]),
        active=bool(r["active"]),
        created_at=r["created_at"],
        triggered_at=r["triggered_at"],
        trigger_count=int(r["trigger_count"]),
        last_price=None if r["last_price"] is None else Decimal(r["last_price"]),
        armed=bool(r["armed"]),
    )


def _state(alert: PriceAlert) -> dict[str, Any]:
    return {
        "active": alert.active,
        "armed": alert.armed,
        "triggered_at": alert.triggered_at,
        "trigger_count": alert.trigger_count,
        "last_price": None if alert.last_price is None else format(alert.last_price, "f"),
    }


class SqlPriceAlertStore:
    """Price alerts in ``price_alerts``; levels and prices as plain decimal strings."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def create(self, alert: PriceAlert) -> PriceAlert:
        """Store a new alert (its ``created_at`` is set now when None) and return it as stored."""
        stored = alert if alert.created_at is not None else replace(alert, created_at=utc_now())
        async with self._engine.begin() as conn:
            await conn.execute(
                price_alerts.insert().values(
                    id=stored.id,
                    user_id=stored.user_id,
                    symbol=stored.symbol,
                    condition=stored.condition.value,
                    price=format(stored.price, "f"),
                    note=stored.note,
                    repeat=stored.repeat,
                    created_at=stored.created_at,
                    **_state(stored),
                )
            )
        return stored

    async def get(self, user_id: str, alert_id: str) -> PriceAlert:
        """The user's alert.

        Raises:
            NotFoundError: no such alert, or another user's.
        """
        t = price_alerts
        async with self._engine.connect() as conn:
            row = (
                (await conn.execute(select(t).where(t.c.id == alert_id, t.c.user_id == user_id)))
                .mappings()
                .first()
            )
        if row is None:
            raise NotFoundError(f"no price alert {alert_id!r}")
        return _alert(row)

    async def page(
        self,
        user_id: str,
        *,
        symbol: str | None = None,
        active: bool | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> tuple[list[PriceAlert], int]:
        """One page of the user's alerts, newest first, and how many match in all."""
        t = price_alerts
        where = [t.c.user_id == user_id]
        if symbol is not None:
            where.append(t.c.symbol == symbol)
        if active is not None:
            where.append(t.c.active == active)
        stmt = select(t).where(*where).order_by(t.c.created_at.desc(), t.c.id).limit(limit).offset(offset)
        async with self._engine.connect() as conn:
            rows = (await conn.execute(stmt)).mappings().all()
            total = (await conn.execute(select(func.count()).select_from(t).where(*where))).scalar_one()
        return [_alert(r) for r in rows], int(total)

    async def count(self, user_id: str) -> int:
        """How many alerts the user has (active or not)."""
        t = price_alerts
        async with self._engine.connect() as conn:
            stmt = select(func.count()).select_from(t).where(t.c.user_id == user_id)
            return int((await conn.execute(stmt)).scalar_one())

    async def delete(self, user_id: str, alert_id: str) -> None:
        """Delete the user's alert.

        Raises:
            NotFoundError: no such alert, or another user's.
        """
        t = price_alerts
        async with self._engine.begin() as conn:
            result = await conn.execute(delete(t).where(t.c.id == alert_id, t.c.user_id == user_id))
        if not result.rowcount:
            raise NotFoundError(f"no price alert {alert_id!r}")

    async def active_for(self, symbols: Sequence[str]) -> list[PriceAlert]:
        """The active alerts of every user on any of ``symbols``, oldest first."""
        t = price_alerts
        wanted = sorted(set(symbols))
        if not wanted:
            return []
        stmt = select(t).where(t.c.active.is_(True), t.c.symbol.in_(wanted)).order_by(t.c.created_at, t.c.id)
        async with self._engine.connect() as conn:
            rows = (await conn.execute(stmt)).mappings().all()
        return [_alert(r) for r in rows]

    async def save_state(self, alerts: Sequence[PriceAlert]) -> None:
        """Store the check state (active, armed, triggered_at, trigger_count, last_price) of these alerts;
        alerts deleted meanwhile are skipped."""
        if not alerts:
            return
        t = price_alerts
        async with self._engine.begin() as conn:
            for alert in alerts:
                await conn.execute(update(t).where(t.c.id == alert.id).values(**_state(alert)))
