"""Linked Telegram chats and one-time link codes, in the ``telegram_links`` and ``telegram_link_codes`` tables
(:class:`~tsbot.accounts.messaging_ports.TelegramLinkStore`).

Only SHA-256 digests of codes are stored. Using a code is one conditional update (``... WHERE used_at IS NULL AND
expires_at > now``), so of two concurrent uses exactly one wins.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import delete, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from tsbot.accounts.messaging_ports import LinkCode, TelegramLink
from tsbot.adapters.storage.tables_messaging import telegram_link_codes, telegram_links

_L, _C = telegram_links.c, telegram_link_codes.c


def _link(row: Mapping[str, Any]) -> TelegramLink:
    return TelegramLink(row["user_id"], int(row["chat_id"]), row["username"], row["linked_at"])


class SqlTelegramLinkStore:
    """Telegram links (one per user, one user per chat) and link codes on SQLite or PostgreSQL."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def get(self, user_id: str) -> TelegramLink | None:
        """The user's link, or None."""
        async with self._engine.connect() as conn:
            row = (await conn.execute(select(telegram_links).where(_L.user_id == user_id))).first()
        return None if row is None else _link(row._mapping)

    async def by_chat(self, chat_id: int) -> TelegramLink | None:
        """The link of the chat ``chat_id`` (each chat is linked to at most one user), or None."""
        async with self._engine.connect() as conn:
            row = (await conn.execute(select(telegram_links).where(_L.chat_id == chat_id))).first()
        return None if row is None else _link(row._mapping)

    async def save(self, link: TelegramLink) -> None:
        """Link the chat to the user, replacing the user's previous link and the chat's link to anyone else."""
        async with self._engine.begin() as conn:
            await conn.execute(
                delete(telegram_links).where(or_(_L.user_id == link.user_id, _L.chat_id == link.chat_id))
            )
            await conn.execute(
                insert(telegram_links).values(
                    user_id=link.user_id,
                    chat_id=link.chat_id,
                    username=link.username,
                    linked_at=link.linked_at,
                )
            )

    async def delete(self, user_id: str) -> bool:
        """Remove the user's link; False when there was none."""
        async with self._engine.begin() as conn:
            result = await conn.execute(delete(telegram_links).where(_L.user_id == user_id))
        return result.rowcount == 1

    async def add_code(self, code: LinkCode) -> None:
        """Store a new code and void the user's earlier unused ones (marked used at the new code's time)."""
        async with self._engine.begin() as conn:
            await conn.execute(
                update(telegram_link_codes)
                .where(_C.user_id == code.user_id, _C.used_at.is_(None))
                .values(used_at=code.created_at)
            )
            await conn.execute(
                insert(telegram_link_codes).values(
                    code_hash=code.code_hash,
                    user_id=code.user_id,
                    created_at=code.created_at,
                    expires_at=code.expires_at,
                    used_at=code.used_at,
                )
            )

    async def code_by_hash(self, code_hash: str) -> LinkCode | None:
        """The code with this SHA-256 hex digest, or None."""
        async with self._engine.connect() as conn:
            row = (await conn.execute(select(telegram_link_codes).where(_C.code_hash == code_hash))).first()
        if row is None:
            return None
        m = row._mapping
        return LinkCode(m["code_hash"], m["user_id"], m["created_at"], m["expires_at"], m["used_at"])

    async def use_code(self, code_hash: str, at: datetime) -> bool:
        """Mark the code used at ``at`` when unused and unexpired; True when this call did it."""
        async with self._engine.begin() as conn:
            result = await conn.execute(
                update(telegram_link_codes)
                .where(_C.code_hash == code_hash, _C.used_at.is_(None), _C.expires_at > at)
                .values(used_at=at)
            )
        return result.rowcount == 1
