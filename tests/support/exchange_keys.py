"""Stored exchange keys for tests: a row no current version of tsbot would write."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncEngine

from tsbot.adapters.storage.tables import exchange_keys


async def insert_legacy_key(engine: AsyncEngine, owner: str) -> str:
    """Store, straight into ``exchange_keys``, a key of ``owner`` for an exchange tsbot does not support
    (``bitmex``) whose ciphertext is no Fernet token (as an older version, or a hand-written row, could leave);
    returns its id."""
    key_id = str(uuid.uuid4())
    async with engine.begin() as conn:
        await conn.execute(
            insert(exchange_keys).values(
                id=key_id,
                owner=owner,
                exchange="bitmex",
                label="legacy",
                sandbox=False,
                key_hint="…",
                ciphertext=b"not-a-token",
                created_at=datetime.now(UTC),
                rotated_at=None,
            )
        )
    return key_id
