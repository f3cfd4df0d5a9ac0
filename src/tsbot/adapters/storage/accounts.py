"""Users and their two-factor recovery codes, in the ``users`` and ``recovery_codes`` tables
(:class:`~tsbot.accounts.ports.UserStore`).

Emails are stored lowercased under a unique constraint, so one address has one account whatever its case.
Deleting a user deletes their refresh tokens, email tokens, API keys and recovery codes (foreign keys with
``ON DELETE CASCADE``); sign-in events and audit entries stay.
"""

from __future__ import annotations

import builtins
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from tsbot.accounts.errors import EmailTakenError, UserNotFoundError
from tsbot.accounts.models import Preferences, Role, User
from tsbot.accounts.ports import USER_FIELDS
from tsbot.accounts.records import UserRecord
from tsbot.adapters.storage.tables import recovery_codes, users


def _column_value(name: str, value: Any) -> Any:
    """The ``users`` column value of the field ``name``."""
    if name == "role":
        return Role(value).value
    if name == "preferences":
        return value.to_json()
    if name in ("is_active", "email_verified", "totp_enabled"):
        return bool(value)
    return value


def _row(record: UserRecord) -> dict[str, Any]:
    """The ``users`` row of ``record``."""
    user = record.user
    return {
        "id": user.id,
        "email": user.email.lower(),
        "display_name": user.display_name,
        "password_hash": record.password_hash,
        "role": Role(user.role).value,
        "is_active": user.is_active,
        "email_verified": user.email_verified,
        "active_until": user.active_until,
        "totp_enabled": user.totp_enabled,
        "totp_secret": record.totp_secret,
        "totp_last_step": record.totp_last_step,
        "preferences": user.preferences.to_json(),
        "created_at": user.created_at,
        "updated_at": user.updated_at,
        "last_login_at": user.last_login_at,
    }


def _record(row: Mapping[str, Any]) -> UserRecord:
    user = User(
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
    return UserRecord(user, row["password_hash"], row["totp_secret"], row["totp_last_step"])


class SqlUserStore:
    """Users (unique lowercased email) and recovery codes over one database."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def add(self, record: UserRecord) -> None:
        """Store a new user.

        Raises:
            EmailTakenError: a user has this email already.
        """
        try:
            async with self._engine.begin() as conn:
                await conn.execute(insert(users).values(**_row(record)))
        except IntegrityError:
            raise EmailTakenError() from None

    async def get(self, user_id: str) -> UserRecord | None:
        """The user ``user_id``, or None."""
        async with self._engine.connect() as conn:
            row = (await conn.execute(select(users).where(users.c.id == user_id))).first()
        return None if row is None else _record(row._mapping)

    async def by_email(self, email: str) -> UserRecord | None:
        """The user with this email (compared lowercased), or None."""
        async with self._engine.connect() as conn:
            row = (await conn.execute(select(users).where(users.c.email == email.strip().lower()))).first()
        return None if row is None else _record(row._mapping)

    async def list(
        self, role: Role | None = None, active: bool | None = None, limit: int = 100, offset: int = 0
    ) -> builtins.list[UserRecord]:
        """Users (of ``role``, active or not, when given), oldest first, then by email."""
        query = select(users)
        if role is not None:
            query = query.where(users.c.role == Role(role).value)
        if active is not None:
            query = query.where(users.c.is_active == bool(active))
        query = query.order_by(users.c.created_at, users.c.email).limit(limit).offset(offset)
        async with self._engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        return [_record(r._mapping) for r in rows]

    async def count_admins(self, at: datetime) -> int:
        """Admins who are active and whose activation has not ended at ``at`` (UTC)."""
        query = (
            select(func.count())
            .select_from(users)
            .where(
                users.c.role == Role.ADMIN.value,
                users.c.is_active.is_(True),
                or_(users.c.active_until.is_(None), users.c.active_until > at),
            )
        )
        async with self._engine.connect() as conn:
            return int((await conn.execute(query)).scalar_one())

    async def update(self, user_id: str, changes: Mapping[str, Any]) -> UserRecord:
        """Set only the fields named in ``changes`` (see :data:`~tsbot.accounts.ports.USER_FIELDS`) in one
        statement, and return the stored user.

        Raises:
            UserNotFoundError: the user is gone.
            ValueError: a field that cannot be changed this way.
        """
        unknown = set(changes) - USER_FIELDS
        if unknown:
            raise ValueError(f"cannot update user fields {sorted(unknown)}")
        values = {name: _column_value(name, value) for name, value in changes.items()}
        async with self._engine.begin() as conn:
            result = await conn.execute(update(users).where(users.c.id == user_id).values(**values))
            row = (await conn.execute(select(users).where(users.c.id == user_id))).first()
        if result.rowcount == 0 or row is None:
            raise UserNotFoundError(f"no user with id {user_id}")
        return _record(row._mapping)

    async def advance_totp_step(self, user_id: str, step: int) -> bool:
        """Move ``totp_last_step`` up to ``step``; False when it is already there or beyond (a replayed code)."""
        async with self._engine.begin() as conn:
            result = await conn.execute(
                update(users)
                .where(
                    users.c.id == user_id,
                    or_(users.c.totp_last_step.is_(None), users.c.totp_last_step < step),
                )
                .values(totp_last_step=step)
            )
        return result.rowcount == 1

    async def delete(self, user_id: str) -> bool:
        """Delete the user (cascading to tokens, keys and recovery codes); False when there was none."""
        async with self._engine.begin() as conn:
            result = await conn.execute(delete(users).where(users.c.id == user_id))
        return result.rowcount == 1

    async def set_recovery_codes(self, user_id: str, code_hashes: Iterable[str]) -> None:
        """Replace the user's recovery codes by ``code_hashes`` (SHA-256 hex; empty: none)."""
        hashes = sorted(set(code_hashes))
        async with self._engine.begin() as conn:
            await conn.execute(delete(recovery_codes).where(recovery_codes.c.user_id == user_id))
            if hashes:
                await conn.execute(
                    insert(recovery_codes), [{"user_id": user_id, "code_hash": h} for h in hashes]
                )

    async def use_recovery_code(self, user_id: str, code_hash: str) -> bool:
        """Delete the code; True when it existed (so each code works once, even for concurrent requests)."""
        async with self._engine.begin() as conn:
            result = await conn.execute(
                delete(recovery_codes).where(
                    recovery_codes.c.user_id == user_id, recovery_codes.c.code_hash == code_hash
                )
            )
        return result.rowcount == 1

    async def recovery_codes_left(self, user_id: str) -> int:
        """How many recovery codes the user has left."""
        query = select(func.count()).select_from(recovery_codes).where(recovery_codes.c.user_id == user_id)
        async with self._engine.connect() as conn:
            return int((await conn.execute(query)).scalar_one())
