"""Sign-in attempts and the audit log, in the ``login_events`` and ``audit_log`` tables
(:class:`~tsbot.accounts.ports.AccountEventLog`). Both are append-only; the sign-in lock counts failures from
``login_events``, so it holds across processes sharing the database."""

from __future__ import annotations

import builtins
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, insert, or_, select
from sqlalchemy.ext.asyncio import AsyncEngine

from tsbot.accounts.records import COUNTED_FAILURES, AuditAction, AuditEntry, LoginEvent, LoginOutcome
from tsbot.adapters.storage.tables import audit_log, login_events

_COUNTED = sorted(o.value for o in COUNTED_FAILURES)


def _login(row: Mapping[str, Any]) -> LoginEvent:
    return LoginEvent(
        at=row["at"],
        email=row["email"],
        user_id=row["user_id"],
        ip=row["ip"],
        user_agent=row["user_agent"],
        outcome=LoginOutcome(row["outcome"]),
        id=row["id"],
    )


def _audit(row: Mapping[str, Any]) -> AuditEntry:
    return AuditEntry(
        at=row["at"],
        action=AuditAction(row["action"]),
        actor_id=row["actor_id"],
        actor=row["actor"],
        target=row["target"],
        ip=row["ip"],
        details=dict(row["details"] or {}),
        id=row["id"],
    )


class SqlAccountEventLog:
    """Sign-in attempts and audit entries over one database."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def add_login(self, event: LoginEvent) -> None:
        """Record a sign-in attempt."""
        async with self._engine.begin() as conn:
            await conn.execute(
                insert(login_events).values(
                    at=event.at,
                    email=event.email[:320],
                    user_id=event.user_id,
                    ip=event.ip,
                    user_agent=event.user_agent,
                    outcome=LoginOutcome(event.outcome).value,
                )
            )

    async def failure_times(
        self, since: datetime, *, email: str | None = None, ip: str | None = None
    ) -> builtins.list[datetime]:
        """Times (ascending) of counted failures after ``since`` for ``email`` or from ``ip`` (one of them
        must be given)."""
        if (email is None) == (ip is None):
            raise ValueError("give exactly one of email and ip")
        column = login_events.c.email if email is not None else login_events.c.ip
        query = (
            select(login_events.c.at)
            .where(column == (email if email is not None else ip))
            .where(login_events.c.at > since, login_events.c.outcome.in_(_COUNTED))
            .order_by(login_events.c.at)
        )
        async with self._engine.connect() as conn:
            return list((await conn.execute(query)).scalars())

    async def last_success_at(self, email: str) -> datetime | None:
        """The time of the last successful sign-in with ``email``, or None."""
        query = select(func.max(login_events.c.at)).where(
            login_events.c.email == email, login_events.c.outcome == LoginOutcome.SUCCESS.value
        )
        async with self._engine.connect() as conn:
            value = (await conn.execute(query)).scalar_one_or_none()
        return value  # max() keeps the column's type: an aware UTC datetime

    async def login_history(self, user_id: str, limit: int = 50) -> builtins.list[LoginEvent]:
        """The user's sign-in attempts, newest first."""
        query = (
            select(login_events)
            .where(login_events.c.user_id == user_id)
            .order_by(login_events.c.at.desc(), login_events.c.id.desc())
            .limit(limit)
        )
        async with self._engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        return [_login(r._mapping) for r in rows]

    async def add_audit(self, entry: AuditEntry) -> None:
        """Append an audit entry."""
        async with self._engine.begin() as conn:
            await conn.execute(
                insert(audit_log).values(
                    at=entry.at,
                    actor_id=entry.actor_id,
                    actor=entry.actor[:320],
                    action=AuditAction(entry.action).value,
                    target=entry.target,
                    ip=entry.ip,
                    details=dict(entry.details),
                )
            )

    async def audit(
        self,
        *,
        user_id: str | None = None,
        actions: Sequence[AuditAction] | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = 100,
    ) -> builtins.list[AuditEntry]:
        """Audit entries, newest first, filtered by actor-or-target ``user_id``, ``actions`` and
        ``since <= at < until`` when given."""
        query = select(audit_log)
        if user_id is not None:
            query = query.where(or_(audit_log.c.actor_id == user_id, audit_log.c.target == user_id))
        if actions:
            query = query.where(audit_log.c.action.in_([AuditAction(a).value for a in actions]))
        if since is not None:
            query = query.where(audit_log.c.at >= since)
        if until is not None:
            query = query.where(audit_log.c.at < until)
        query = query.order_by(audit_log.c.at.desc(), audit_log.c.id.desc()).limit(limit)
        async with self._engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        return [_audit(r._mapping) for r in rows]
