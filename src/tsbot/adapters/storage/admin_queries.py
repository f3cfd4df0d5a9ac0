"""Read-only questions the administration pages ask of the whole database: dashboard figures, users found by
email, the audit log a page at a time, and the symbols a user trades (stored signals: :mod:`.signal_queries`).

Times are aware UTC datetimes. Nothing returned holds a secret: users come back as
:class:`~tsbot.accounts.models.User` (no password hash, no TOTP secret).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Select, func, select, text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from tsbot.accounts.models import Preferences, Role, User
from tsbot.adapters.storage.tables import (
    audit_log,
    bots,
    login_events,
    orders,
    portfolio_accounts,
    portfolios,
    signals,
    users,
)
from tsbot.core.errors import TemporaryError

#: Outcome of a successful sign-in in ``login_events``.
_SUCCESS = "success"
#: Bot status of a running bot.
_RUNNING = "running"


@dataclass(frozen=True, slots=True)
class Dashboard:
    """Figures for the administration dashboard.

    Attributes:
        users_by_role: users per role (``admin``, ``trader`` ...), active or not.
        users_active, users_inactive: users whose ``is_active`` flag is on / off.
        sign_ins_24h, failed_sign_ins_24h: successful / refused sign-in attempts in the 24 hours before ``since``.
        signals_total, signals_24h: stored signals; those stored after ``since``.
        orders_by_status: orders per status.
        bots_by_status: bots per status; ``bots_by_status.get("running")`` are running.
        database_bytes: size of the database (SQLite file pages, PostgreSQL ``pg_database_size``), or None.
    """

    users_by_role: dict[str, int]
    users_active: int
    users_inactive: int
    sign_ins_24h: int
    failed_sign_ins_24h: int
    signals_total: int
    signals_24h: int
    orders_by_status: dict[str, int]
    bots_by_status: dict[str, int]
    database_bytes: int | None


@dataclass(frozen=True, slots=True)
class AuditRow:
    """One audit-log line as stored (``action`` as text, so actions added later read too)."""

    id: int
    at: datetime
    actor_id: str | None
    actor: str
    action: str
    target: str | None
    ip: str | None
    details: Mapping[str, Any] = field(default_factory=dict)


def _user(row: Mapping[str, Any]) -> User:
    return User(
        id=row["id"],
        email=row["email"],
        display_name=row["display_name"],
        role=Role(row["role"]),
        is_active=bool(row["is_active"]),
        email_verified=bool(row["email_verified"]),
        active_until=row["active_until"],
        totp_enabled=bool(row["totp_enabled"]),
        preferences=Preferences.from_json(row["preferences"]),
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        last_login_at=row["last_login_at"],
    )


async def _page(conn: AsyncConnection, query: Select[Any], limit: int, offset: int) -> tuple[list[Any], int]:
    """The rows of ``query`` (already ordered) from ``offset``, at most ``limit``, and how many match in all."""
    total = int(
        (await conn.execute(select(func.count()).select_from(query.order_by(None).subquery()))).scalar_one()
    )
    rows = (await conn.execute(query.limit(limit).offset(offset))).mappings().all()
    return list(rows), total


def _like(value: str) -> str:
    """A ``LIKE`` pattern matching ``value`` anywhere, with ``%``, ``_`` and ``\\`` taken literally."""
    escaped = value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


class SqlAdminQueries:
    """The queries behind the administration routes, over one database.

    Every method raises :class:`~tsbot.core.errors.TemporaryError` when the database does not answer.
    """

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def dashboard(self, since: datetime) -> Dashboard:
        """The dashboard figures; "24 h" counts are those at or after ``since`` (UTC)."""
        try:
            async with self._engine.connect() as conn:
                by_role = {
                    str(role): int(n)
                    for role, n in await conn.execute(
                        select(users.c.role, func.count()).group_by(users.c.role)
                    )
                }
                by_active = {
                    bool(active): int(n)
                    for active, n in await conn.execute(
                        select(users.c.is_active, func.count()).group_by(users.c.is_active)
                    )
                }
                logins = {
                    str(outcome): int(n)
                    for outcome, n in await conn.execute(
                        select(login_events.c.outcome, func.count())
                        .where(login_events.c.at >= since)
                        .group_by(login_events.c.outcome)
                    )
                }
                signals_total = int(
                    (await conn.execute(select(func.count()).select_from(signals))).scalar_one()
                )
                signals_24h = int(
                    (
                        await conn.execute(select(func.count()).where(signals.c.created_at >= since))
                    ).scalar_one()
                )
                by_status = {
                    str(s): int(n)
                    for s, n in await conn.execute(
                        select(orders.c.status, func.count()).group_by(orders.c.status)
                    )
                }
                bots_by_status = {
                    str(s): int(n)
                    for s, n in await conn.execute(
                        select(bots.c.status, func.count()).group_by(bots.c.status)
                    )
                }
                size = await _database_bytes(conn)
        except (SQLAlchemyError, OSError) as exc:
            raise TemporaryError(
                f"database did not answer the dashboard queries ({type(exc).__name__})"
            ) from exc
        return Dashboard(
            users_by_role=by_role,
            users_active=by_active.get(True, 0),
            users_inactive=by_active.get(False, 0),
            sign_ins_24h=logins.get(_SUCCESS, 0),
            failed_sign_ins_24h=sum(n for outcome, n in logins.items() if outcome != _SUCCESS),
            signals_total=signals_total,
            signals_24h=signals_24h,
            orders_by_status=by_status,
            bots_by_status=bots_by_status,
            database_bytes=size,
        )

    async def users(
        self,
        *,
        role: Role | None = None,
        active: bool | None = None,
        email: str | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> tuple[list[User], int]:
        """Users oldest first (of ``role``, active or not, whose email contains ``email`` in any case, when
        given) from ``offset``, at most ``limit``, and how many match."""
        query = select(users).order_by(users.c.created_at, users.c.id)
        if role is not None:
            query = query.where(users.c.role == Role(role).value)
        if active is not None:
            query = query.where(users.c.is_active == active)
        if email:
            query = query.where(users.c.email.like(_like(email.strip().lower()), escape="\\"))
        async with self._engine.connect() as conn:
            rows, total = await _page(conn, query, limit, offset)
        return [_user(r) for r in rows], total

    async def audit(
        self,
        *,
        actor_id: str | None = None,
        target: str | None = None,
        actions: Sequence[str] = (),
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> tuple[list[AuditRow], int]:
        """Audit entries newest first: done by ``actor_id``, about ``target``, of one of ``actions``, with
        ``since <= at < until`` (UTC), when given; from ``offset``, at most ``limit``, and how many match."""
        query = select(audit_log).order_by(audit_log.c.at.desc(), audit_log.c.id.desc())
        if actor_id is not None:
            query = query.where(audit_log.c.actor_id == actor_id)
        if target is not None:
            query = query.where(audit_log.c.target == target)
        if actions:
            query = query.where(audit_log.c.action.in_(list(actions)))
        if since is not None:
            query = query.where(audit_log.c.at >= since)
        if until is not None:
            query = query.where(audit_log.c.at < until)
        async with self._engine.connect() as conn:
            rows, total = await _page(conn, query, limit, offset)
        return [
            AuditRow(
                id=r["id"],
                at=r["at"],
                actor_id=r["actor_id"],
                actor=r["actor"],
                action=r["action"],
                target=r["target"],
                ip=r["ip"],
                details=dict(r["details"] or {}),
            )
            for r in rows
        ], total

    async def symbols_of(self, owner: str) -> list[str]:
        """The symbols ``owner`` (a user id) trades, sorted: the pairs of their bots and the symbols of orders on
        the accounts of their portfolios."""
        found: set[str] = set()
        async with self._engine.connect() as conn:
            for (pairs,) in await conn.execute(select(bots.c.pairs).where(bots.c.owner == owner)):
                found.update(str(p) for p in pairs or () if p)
            traded = (
                select(orders.c.symbol)
                .distinct()
                .join(portfolio_accounts, portfolio_accounts.c.account == orders.c.account)
                .join(portfolios, portfolios.c.id == portfolio_accounts.c.portfolio_id)
                .where(portfolios.c.owner == owner)
            )
            found.update(str(s) for (s,) in await conn.execute(traded))
        return sorted(found)


async def _database_bytes(conn: AsyncConnection) -> int | None:
    """The database's size in bytes where one query tells it (SQLite, PostgreSQL), else None."""
    dialect = conn.dialect.name
    try:
        if dialect == "sqlite":
            pages = (await conn.execute(text("PRAGMA page_count"))).scalar_one()
            size = (await conn.execute(text("PRAGMA page_size"))).scalar_one()
            return int(pages) * int(size)
        if dialect == "postgresql":
            return int((await conn.execute(text("SELECT pg_database_size(current_database())"))).scalar_one())
    except SQLAlchemyError:
        return None
    return None
