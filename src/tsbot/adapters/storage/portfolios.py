"""Portfolios, their accounts, target weights and daily equity snapshots in the ``portfolios``,
``portfolio_accounts`` and ``performance_daily`` tables. Decimals are stored as plain-notation strings; target
weights as a JSON object of symbol -> decimal string.
"""

from __future__ import annotations

import builtins
import uuid
from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from tsbot.adapters.storage.candles import dialect_insert
from tsbot.adapters.storage.tables import performance_daily, portfolio_accounts, portfolios
from tsbot.core.enums import AssetClass
from tsbot.core.errors import ConfigError, NotFoundError
from tsbot.trading.performance import DailySnapshot
from tsbot.trading.portfolio import validate_weights
from tsbot.trading.valuation import PortfolioAccount, PortfolioInfo

__all__ = ["PortfolioAccount", "PortfolioInfo", "SqlPortfolioStore"]

_MONEY = ("equity", "cash", "positions_value", "realised_pnl", "unrealised_pnl", "fees")


def _text(value: Decimal) -> str:
    return format(value, "f")


class SqlPortfolioStore:
    """Several portfolios per owner; an account belongs to one portfolio; one snapshot per portfolio and UTC day.

    Owners are opaque strings (a user id). Methods taking ``owner`` treat a portfolio of another owner as absent.
    """

    def __init__(
        self, engine: AsyncEngine, *, clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    ) -> None:
        self._engine = engine
        self._clock = clock
        self._insert = dialect_insert(engine)

    async def create(self, owner: str, name: str, base_currency: str = "USD") -> PortfolioInfo:
        """A new, empty portfolio (id: 32 hex digits).

        Raises:
            ConfigError: an empty or over-long owner, name (64 characters) or base currency (16), or a name the
                owner already uses.
        """
        name, currency = name.strip(), base_currency.strip().upper()
        if not owner or len(owner) > 128:
            raise ConfigError("portfolio owner must be 1-128 characters")
        if not name or len(name) > 64:
            raise ConfigError(f"portfolio name must be 1-64 characters, got {name!r}")
        if not currency.isalnum() or len(currency) > 16:
            raise ConfigError(
                f"base currency must be 1-16 letters or digits (USD, USDT, EUR), got {base_currency!r}"
            )
        pid = uuid.uuid4().hex
        row = {
            "id": pid,
            "owner": owner,
            "name": name,
            "base_currency": currency,
            "target_weights": None,
            "created_at": self._clock(),
        }
        try:
            async with self._engine.begin() as conn:
                await conn.execute(insert(portfolios).values(**row))
        except IntegrityError:
            raise ConfigError(f"portfolio {name} exists") from None
        return await self.get(pid)

    async def list(self, owner: str) -> builtins.list[PortfolioInfo]:
        """The owner's portfolios, oldest first (then by name)."""
        async with self._engine.connect() as conn:
            rows = (
                await conn.execute(
                    select(portfolios)
                    .where(portfolios.c.owner == owner)
                    .order_by(portfolios.c.created_at, portfolios.c.name)
                )
            ).all()
            return [await self._info(conn, r._mapping) for r in rows]

    async def with_accounts(self) -> builtins.list[PortfolioInfo]:
        """Every owner's portfolios that hold at least one account, oldest first (then by id): two queries
        whatever their number."""
        held = select(portfolio_accounts.c.portfolio_id).distinct()
        async with self._engine.connect() as conn:
            rows = (
                await conn.execute(
                    select(portfolios)
                    .where(portfolios.c.id.in_(held))
                    .order_by(portfolios.c.created_at, portfolios.c.id)
                )
            ).all()
            links = (
                await conn.execute(
                    select(portfolio_accounts)
                    .where(portfolio_accounts.c.portfolio_id.in_(held))
                    .order_by(portfolio_accounts.c.account)
                )
            ).all()
        accounts: dict[str, builtins.list[PortfolioAccount]] = {}
        for m in (r._mapping for r in links):
            accounts.setdefault(m["portfolio_id"], []).append(
                PortfolioAccount(m["account"], m["venue"], AssetClass(m["asset_class"]), m["created_at"])
            )
        return [self._build(r._mapping, accounts.get(r._mapping["id"], [])) for r in rows]

    async def get(self, portfolio_id: str, owner: str | None = None) -> PortfolioInfo:
        """The portfolio ``portfolio_id`` (of ``owner`` when given).

        Raises:
            NotFoundError: no such portfolio, or it belongs to another owner.
        """
        async with self._engine.connect() as conn:
            return await self._info(conn, await self._row(conn, portfolio_id, owner))

    async def delete(self, portfolio_id: str, owner: str | None = None) -> None:
        """Delete the portfolio with its accounts links and snapshots (orders and fills stay).

        Raises:
            NotFoundError: no such portfolio, or it belongs to another owner.
        """
        async with self._engine.begin() as conn:
            await self._row(conn, portfolio_id, owner)
            await conn.execute(
                delete(performance_daily).where(performance_daily.c.portfolio_id == portfolio_id)
            )
            await conn.execute(
                delete(portfolio_accounts).where(portfolio_accounts.c.portfolio_id == portfolio_id)
            )
            await conn.execute(delete(portfolios).where(portfolios.c.id == portfolio_id))

    async def attach_account(
        self, portfolio_id: str, account: str, venue: str, asset_class: str | AssetClass
    ) -> PortfolioInfo:
        """Put ``account`` into the portfolio.

        Raises:
            NotFoundError: no such portfolio.
            ConfigError: the account is already in a portfolio (this one or another), an unknown asset class, or
                an empty or over-long account (128) or venue (32).
        """
        try:
            kind = AssetClass(asset_class)
        except ValueError:
            raise ConfigError(f"asset class {asset_class!r} is not one of crypto, stock") from None
        if not account or len(account) > 128 or not venue or len(venue) > 32:
            raise ConfigError("account must be 1-128 characters and venue 1-32")
        async with self._engine.connect() as conn:
            await self._row(conn, portfolio_id, None)
        owner_of = await self.portfolio_of(account)
        if owner_of is not None:
            where = "this portfolio" if owner_of.id == portfolio_id else f"portfolio {owner_of.name}"
            raise ConfigError(f"account {account} is already in {where}; an account belongs to one portfolio")
        row = {
            "account": account,
            "portfolio_id": portfolio_id,
            "venue": venue,
            "asset_class": kind.value,
            "created_at": self._clock(),
        }
        try:
            async with self._engine.begin() as conn:
                await conn.execute(insert(portfolio_accounts).values(**row))
        except IntegrityError:
            raise ConfigError(
                f"account {account} is already in a portfolio; an account belongs to one"
            ) from None
        return await self.get(portfolio_id)

    async def accounts(self, portfolio_id: str) -> builtins.list[PortfolioAccount]:
        """The portfolio's accounts, sorted by account (empty for an unknown portfolio)."""
        async with self._engine.connect() as conn:
            return await self._accounts(conn, portfolio_id)

    async def portfolio_of(self, account: str) -> PortfolioInfo | None:
        """The portfolio holding ``account``, or None."""
        async with self._engine.connect() as conn:
            pid = await conn.scalar(
                select(portfolio_accounts.c.portfolio_id).where(portfolio_accounts.c.account == account)
            )
            if pid is None:
                return None
            return await self._info(conn, await self._row(conn, pid, None))

    async def set_targets(
        self, portfolio_id: str, weights: Mapping[str, Decimal], owner: str | None = None
    ) -> PortfolioInfo:
        """Replace the target weights (symbol -> share of equity; empty clears them).

        Raises:
            ConfigError: weights out of [0, 1], summing over 1, or a symbol not ``BASE/QUOTE``.
            NotFoundError: no such portfolio (of ``owner``).
        """
        checked = validate_weights(weights)
        stored = {s: _text(w) for s, w in sorted(checked.items())} or None
        async with self._engine.begin() as conn:
            await self._row(conn, portfolio_id, owner)
            await conn.execute(
                update(portfolios).where(portfolios.c.id == portfolio_id).values(target_weights=stored)
            )
        return await self.get(portfolio_id)

    async def save_snapshot(self, portfolio_id: str, snapshot: DailySnapshot) -> None:
        """Store the snapshot of its UTC day; a snapshot already stored for that day is replaced (one atomic
        ``INSERT ... ON CONFLICT (portfolio_id, day) DO UPDATE``, on SQLite and PostgreSQL).

        Raises:
            NotFoundError: no such portfolio.
        """
        values = {name: _text(getattr(snapshot, name)) for name in _MONEY}
        now = self._clock()
        stmt = self._insert(performance_daily).values(
            portfolio_id=portfolio_id, day=snapshot.day, updated_at=now, **values
        )
        stmt = stmt.on_conflict_do_update(
            index_elements=[performance_daily.c.portfolio_id, performance_daily.c.day],
            set_={**values, "updated_at": now},
        )
        async with self._engine.begin() as conn:
            await self._row(conn, portfolio_id, None)
            await conn.execute(stmt)

    async def snapshots(
        self, portfolio_id: str, start: date | None = None, end: date | None = None
    ) -> builtins.list[DailySnapshot]:
        """Snapshots with ``start <= day <= end`` (either bound optional), oldest first."""
        query = select(performance_daily).where(performance_daily.c.portfolio_id == portfolio_id)
        if start is not None:
            query = query.where(performance_daily.c.day >= start)
        if end is not None:
            query = query.where(performance_daily.c.day <= end)
        async with self._engine.connect() as conn:
            rows = (await conn.execute(query.order_by(performance_daily.c.day))).all()
        return [
            DailySnapshot(m["day"], *(Decimal(m[name]) for name in _MONEY))
            for m in (r._mapping for r in rows)
        ]

    @staticmethod
    async def _row(conn: AsyncConnection, portfolio_id: str, owner: str | None) -> Mapping[str, Any]:
        query = select(portfolios).where(portfolios.c.id == portfolio_id)
        if owner is not None:
            query = query.where(portfolios.c.owner == owner)
        row = (await conn.execute(query)).first()
        if row is None:
            raise NotFoundError(f"portfolio {portfolio_id} not found")
        return row._mapping

    @staticmethod
    async def _accounts(conn: AsyncConnection, portfolio_id: str) -> builtins.list[PortfolioAccount]:
        rows = await conn.execute(
            select(portfolio_accounts)
            .where(portfolio_accounts.c.portfolio_id == portfolio_id)
            .order_by(portfolio_accounts.c.account)
        )
        return [
            PortfolioAccount(m["account"], m["venue"], AssetClass(m["asset_class"]), m["created_at"])
            for m in (r._mapping for r in rows)
        ]

    async def _info(self, conn: AsyncConnection, m: Mapping[str, Any]) -> PortfolioInfo:
        return self._build(m, await self._accounts(conn, m["id"]))

    @staticmethod
    def _build(m: Mapping[str, Any], accounts: builtins.list[PortfolioAccount]) -> PortfolioInfo:
        weights = m["target_weights"] or {}
        return PortfolioInfo(
            id=m["id"],
            owner=m["owner"],
            name=m["name"],
            base_currency=m["base_currency"],
            target_weights={s: Decimal(w) for s, w in weights.items()},
            created_at=m["created_at"],
            accounts=tuple(accounts),
        )
