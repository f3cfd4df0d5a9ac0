"""Refresh tokens, single-use email tokens and API keys, in the ``refresh_tokens``, ``one_time_tokens`` and
``api_keys`` tables (:class:`~tsbot.accounts.ports.TokenStore`, :class:`~tsbot.accounts.ports.ApiKeyStore`).

Only SHA-256 digests of tokens and keys are stored. "Use once" steps are conditional updates
(``... WHERE used_at IS NULL``), so of two concurrent uses exactly one wins.
"""

from __future__ import annotations

import builtins
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import and_, exists, insert, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from tsbot.accounts.models import Permission
from tsbot.accounts.records import ApiKeyInfo, OneTimeToken, RefreshTokenRecord, TokenPurpose
from tsbot.adapters.storage.tables import api_keys, one_time_tokens, refresh_tokens


def _refresh(row: Mapping[str, Any]) -> RefreshTokenRecord:
    return RefreshTokenRecord(
        id=row["id"],
        user_id=row["user_id"],
        family_id=row["family_id"],
        token_hash=row["token_hash"],
        created_at=row["created_at"],
        expires_at=row["expires_at"],
        used_at=row["used_at"],
        revoked_at=row["revoked_at"],
        ip=row["ip"],
        user_agent=row["user_agent"],
    )


class SqlTokenStore:
    """Refresh-token families (sign-in sessions) and single-use email tokens."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def add_refresh(self, record: RefreshTokenRecord) -> None:
        """Store a new refresh token."""
        async with self._engine.begin() as conn:
            await conn.execute(
                insert(refresh_tokens).values(
                    id=record.id,
                    user_id=record.user_id,
                    family_id=record.family_id,
                    token_hash=record.token_hash,
                    created_at=record.created_at,
                    expires_at=record.expires_at,
                    used_at=record.used_at,
                    revoked_at=record.revoked_at,
                    ip=record.ip,
                    user_agent=record.user_agent,
                )
            )

    async def refresh_by_hash(self, token_hash: str) -> RefreshTokenRecord | None:
        """The refresh token with this SHA-256 hex digest, or None."""
        query = select(refresh_tokens).where(refresh_tokens.c.token_hash == token_hash)
        async with self._engine.connect() as conn:
            row = (await conn.execute(query)).first()
        return None if row is None else _refresh(row._mapping)

    async def mark_refresh_used(self, token_id: str, at: datetime) -> bool:
        """Mark the token used unless it is used or revoked; True when this call did it."""
        async with self._engine.begin() as conn:
            result = await conn.execute(
                update(refresh_tokens)
                .where(
                    refresh_tokens.c.id == token_id,
                    refresh_tokens.c.used_at.is_(None),
                    refresh_tokens.c.revoked_at.is_(None),
                )
                .values(used_at=at)
            )
        return result.rowcount == 1

    async def revoke_family(self, family_id: str, at: datetime) -> int:
        """Revoke the family's unrevoked tokens; how many."""
        async with self._engine.begin() as conn:
            result = await conn.execute(
                update(refresh_tokens)
                .where(refresh_tokens.c.family_id == family_id, refresh_tokens.c.revoked_at.is_(None))
                .values(revoked_at=at)
            )
        return int(result.rowcount)

    async def revoke_user_sessions(self, user_id: str, at: datetime, keep_family: str | None = None) -> int:
        """Revoke the user's unrevoked refresh tokens except those of ``keep_family``; how many."""
        query = update(refresh_tokens).where(
            refresh_tokens.c.user_id == user_id, refresh_tokens.c.revoked_at.is_(None)
        )
        if keep_family is not None:
            query = query.where(refresh_tokens.c.family_id != keep_family)
        async with self._engine.begin() as conn:
            result = await conn.execute(query.values(revoked_at=at))
        return int(result.rowcount)

    async def family_active(self, family_id: str, at: datetime) -> bool:
        """True when the family holds a token neither used, revoked nor expired at ``at``."""
        query = select(
            exists().where(
                and_(
                    refresh_tokens.c.family_id == family_id,
                    refresh_tokens.c.used_at.is_(None),
                    refresh_tokens.c.revoked_at.is_(None),
                    refresh_tokens.c.expires_at > at,
                )
            )
        )
        async with self._engine.connect() as conn:
            return bool((await conn.execute(query)).scalar_one())

    async def add_one_time(self, token: OneTimeToken) -> None:
        """Store a single-use email token."""
        async with self._engine.begin() as conn:
            await conn.execute(
                insert(one_time_tokens).values(
                    token_hash=token.token_hash,
                    user_id=token.user_id,
                    purpose=TokenPurpose(token.purpose).value,
                    created_at=token.created_at,
                    expires_at=token.expires_at,
                    used_at=token.used_at,
                )
            )

    async def one_time_by_hash(self, token_hash: str) -> OneTimeToken | None:
        """The single-use token with this digest, or None."""
        query = select(one_time_tokens).where(one_time_tokens.c.token_hash == token_hash)
        async with self._engine.connect() as conn:
            row = (await conn.execute(query)).first()
        if row is None:
            return None
        m = row._mapping
        return OneTimeToken(
            m["token_hash"],
            m["user_id"],
            TokenPurpose(m["purpose"]),
            m["created_at"],
            m["expires_at"],
            m["used_at"],
        )

    async def mark_one_time_used(self, token_hash: str, at: datetime) -> bool:
        """Mark the token used unless it is; True when this call did it."""
        async with self._engine.begin() as conn:
            result = await conn.execute(
                update(one_time_tokens)
                .where(one_time_tokens.c.token_hash == token_hash, one_time_tokens.c.used_at.is_(None))
                .values(used_at=at)
            )
        return result.rowcount == 1

    async def discard_one_time(self, user_id: str, purpose: TokenPurpose, at: datetime) -> int:
        """Mark the user's unused tokens of ``purpose`` used; how many."""
        async with self._engine.begin() as conn:
            result = await conn.execute(
                update(one_time_tokens)
                .where(
                    one_time_tokens.c.user_id == user_id,
                    one_time_tokens.c.purpose == TokenPurpose(purpose).value,
                    one_time_tokens.c.used_at.is_(None),
                )
                .values(used_at=at)
            )
        return int(result.rowcount)


_KNOWN = frozenset(p.value for p in Permission)


def _key(row: Mapping[str, Any]) -> ApiKeyInfo:
    scopes = frozenset(Permission(s) for s in row["scopes"] if s in _KNOWN)
    return ApiKeyInfo(
        id=row["id"],
        user_id=row["user_id"],
        name=row["name"],
        prefix=row["prefix"],
        scopes=scopes,
        created_at=row["created_at"],
        expires_at=row["expires_at"],
        last_used_at=row["last_used_at"],
        revoked_at=row["revoked_at"],
    )


class SqlApiKeyStore:
    """API keys, found by the SHA-256 digest of the key; scopes are a JSON list of permission names (a name no
    longer known is dropped when read)."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def add_key(self, info: ApiKeyInfo, key_hash: str) -> None:
        """Store a new key."""
        async with self._engine.begin() as conn:
            await conn.execute(
                insert(api_keys).values(
                    id=info.id,
                    user_id=info.user_id,
                    name=info.name,
                    prefix=info.prefix,
                    key_hash=key_hash,
                    scopes=sorted(Permission(p).value for p in info.scopes),
                    created_at=info.created_at,
                    expires_at=info.expires_at,
                    last_used_at=info.last_used_at,
                    revoked_at=info.revoked_at,
                )
            )

    async def key_by_hash(self, key_hash: str) -> ApiKeyInfo | None:
        """The key with this digest, or None."""
        async with self._engine.connect() as conn:
            row = (await conn.execute(select(api_keys).where(api_keys.c.key_hash == key_hash))).first()
        return None if row is None else _key(row._mapping)

    async def list_keys(self, user_id: str) -> builtins.list[ApiKeyInfo]:
        """The user's keys, newest first."""
        query = (
            select(api_keys)
            .where(api_keys.c.user_id == user_id)
            .order_by(api_keys.c.created_at.desc(), api_keys.c.id)
        )
        async with self._engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        return [_key(r._mapping) for r in rows]

    async def revoke_key(self, user_id: str, key_id: str, at: datetime) -> bool:
        """Revoke the user's unrevoked key; False when there is none."""
        async with self._engine.begin() as conn:
            result = await conn.execute(
                update(api_keys)
                .where(
                    api_keys.c.id == key_id, api_keys.c.user_id == user_id, api_keys.c.revoked_at.is_(None)
                )
                .values(revoked_at=at)
            )
        return result.rowcount == 1

    async def touch_key(self, key_id: str, at: datetime) -> None:
        """Set the key's ``last_used_at``."""
        async with self._engine.begin() as conn:
            await conn.execute(update(api_keys).where(api_keys.c.id == key_id).values(last_used_at=at))
