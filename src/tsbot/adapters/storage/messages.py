"""Messages between users, in the ``messages`` and ``message_recipients`` tables
(:class:`~tsbot.accounts.messaging_ports.MessageStore`).

The sender's copy is the ``messages`` row (hidden once ``sender_deleted_at`` is set), each recipient's copy its
``message_recipients`` row (hidden once ``deleted_at`` is set). A message whose sender copy and recipient copies
are all deleted is removed with its rows. Senders and recipients are shown by id and display name from ``users``;
a deleted account shows as None.
"""

from __future__ import annotations

import builtins
from collections.abc import Collection, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, exists, func, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.sql import Select

from tsbot.accounts.messaging_ports import Box, Message, MessageKind, NewMessage, UserRef
from tsbot.adapters.storage.tables import users
from tsbot.adapters.storage.tables_messaging import message_recipients, messages

_sender = users.alias("sender")
_recipient = users.alias("recipient")
_M, _R = messages.c, message_recipients.c


def _ref(user_id: str | None, name: str | None) -> UserRef | None:
    return None if user_id is None else UserRef(user_id, name or "")


def _message(row: Mapping[str, Any], box: Box, recipient: UserRef | None = None) -> Message:
    return Message(
        id=row["id"],
        box=box,
        kind=MessageKind(row["kind"]),
        audience=row["audience"],
        subject=row["subject"],
        body=row["body"],
        created_at=row["created_at"],
        sender=_ref(row["sender_ref_id"], row["sender_name"]),
        recipient_count=int(row["recipient_count"]),
        recipient=recipient,
        read_at=row["read_at"] if box is Box.INBOX else None,
    )


def _inbox(user_id: str) -> Select[Any]:
    """Received copies of ``user_id`` not deleted, with the sender's id and name."""
    return (
        select(
            messages,
            _R.read_at,
            _sender.c.id.label("sender_ref_id"),
            _sender.c.display_name.label("sender_name"),
        )
        .select_from(
            message_recipients.join(messages, _M.id == _R.message_id).outerjoin(
                _sender, _sender.c.id == _M.sender_id
            )
        )
        .where(_R.recipient_id == user_id, _R.deleted_at.is_(None))
    )


def _sent(user_id: str) -> Select[Any]:
    """Sent copies of ``user_id`` not deleted, with the sender's id and name."""
    return (
        select(
            messages,
            _sender.c.id.label("sender_ref_id"),
            _sender.c.display_name.label("sender_name"),
        )
        .select_from(messages.join(_sender, _sender.c.id == _M.sender_id))
        .where(_M.sender_id == user_id, _M.sender_deleted_at.is_(None))
    )


class SqlMessageStore:
    """Messages and per-recipient copies on SQLite or PostgreSQL."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def add(self, message: NewMessage, recipient_ids: Sequence[str]) -> None:
        """Store ``message`` and one unread copy per recipient, in one transaction."""
        async with self._engine.begin() as conn:
            await conn.execute(
                insert(messages).values(
                    id=message.id,
                    sender_id=message.sender_id,
                    kind=MessageKind(message.kind).value,
                    audience=message.audience,
                    subject=message.subject,
                    body=message.body,
                    created_at=message.created_at,
                    recipient_count=len(recipient_ids),
                    sender_deleted_at=None,
                )
            )
            await conn.execute(
                insert(message_recipients),
                [{"message_id": message.id, "recipient_id": r} for r in recipient_ids],
            )

    async def get(self, user_id: str, message_id: str) -> Message | None:
        """The user's received copy of the message, else their sent copy, else None."""
        async with self._engine.connect() as conn:
            row = (await conn.execute(_inbox(user_id).where(_M.id == message_id))).first()
            if row is not None:
                return _message(row._mapping, Box.INBOX)
            row = (await conn.execute(_sent(user_id).where(_M.id == message_id))).first()
            if row is None:
                return None
            recipients = await self._direct_recipients(conn, [row._mapping])
        return _message(row._mapping, Box.SENT, recipients.get(message_id))

    async def list(
        self, user_id: str, box: Box, *, unread_only: bool = False, limit: int = 50, offset: int = 0
    ) -> tuple[builtins.list[Message], int]:
        """A page of the box, newest first (ties by id), and the box's size."""
        query = _inbox(user_id) if box is Box.INBOX else _sent(user_id)
        if unread_only and box is Box.INBOX:
            query = query.where(_R.read_at.is_(None))
        page = query.order_by(_M.created_at.desc(), _M.id.desc()).limit(limit).offset(offset)
        async with self._engine.connect() as conn:
            total = int((await conn.execute(select(func.count()).select_from(query.subquery()))).scalar_one())
            rows = [r._mapping for r in (await conn.execute(page)).all()]
            if box is Box.INBOX:
                return [_message(r, Box.INBOX) for r in rows], total
            recipients = await self._direct_recipients(conn, rows)
        return [_message(r, Box.SENT, recipients.get(r["id"])) for r in rows], total

    async def set_read(self, user_id: str, message_id: str, read_at: datetime | None) -> bool:
        """Set ``read_at`` of the user's received copy; False when there is no such copy."""
        async with self._engine.begin() as conn:
            result = await conn.execute(
                update(message_recipients)
                .where(_R.message_id == message_id, _R.recipient_id == user_id, _R.deleted_at.is_(None))
                .values(read_at=read_at)
            )
        return result.rowcount == 1

    async def delete(self, user_id: str, message_ids: Collection[str], at: datetime) -> set[str]:
        """Delete the user's copies of ``message_ids``; the ids of which a copy was deleted."""
        ids = list(message_ids)
        if not ids:
            return set()
        async with self._engine.begin() as conn:
            received = (
                await conn.execute(
                    update(message_recipients)
                    .where(_R.message_id.in_(ids), _R.recipient_id == user_id, _R.deleted_at.is_(None))
                    .values(deleted_at=at)
                    .returning(_R.message_id)
                )
            ).scalars()
            sent = (
                await conn.execute(
                    update(messages)
                    .where(_M.id.in_(ids), _M.sender_id == user_id, _M.sender_deleted_at.is_(None))
                    .values(sender_deleted_at=at)
                    .returning(_M.id)
                )
            ).scalars()
            done = set(received) | set(sent)
            if done:
                await self._purge(conn, done)
        return done

    async def unread_count(self, user_id: str) -> int:
        """Unread received copies of the user."""
        query = select(func.count()).where(
            _R.recipient_id == user_id, _R.read_at.is_(None), _R.deleted_at.is_(None)
        )
        async with self._engine.connect() as conn:
            return int((await conn.execute(query)).scalar_one())

    @staticmethod
    async def _purge(conn: AsyncConnection, ids: Collection[str]) -> None:
        """Remove those of ``ids`` that nobody holds a copy of (their recipient rows go by cascade)."""
        await conn.execute(
            delete(messages).where(
                _M.id.in_(ids),
                or_(_M.sender_deleted_at.is_not(None), _M.sender_id.is_(None)),
                ~exists().where(_R.message_id == _M.id, _R.deleted_at.is_(None)),
            )
        )

    @staticmethod
    async def _direct_recipients(
        conn: AsyncConnection, rows: Sequence[Mapping[str, Any]]
    ) -> dict[str, UserRef]:
        """The recipient (id and name) of each direct message among ``rows`` whose account still exists."""
        direct = [r["id"] for r in rows if r["kind"] == MessageKind.DIRECT.value]
        if not direct:
            return {}
        query = (
            select(_R.message_id, _recipient.c.id, _recipient.c.display_name)
            .select_from(message_recipients.join(_recipient, _recipient.c.id == _R.recipient_id))
            .where(_R.message_id.in_(direct))
        )
        result = await conn.execute(query)
        return {m: UserRef(uid, name) for m, uid, name in result.all()}
