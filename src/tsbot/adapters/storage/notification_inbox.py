"""A user's notifications on SQLite or PostgreSQL (:class:`~tsbot.notify.ports.InboxStore`): the in-app list (the
notifications that have an in-app delivery), read marks, and the deliveries and attempts of one notification.

Every query is scoped by the owner's id: another user's notification reads as missing. Marking read keeps the first
read time and moves the in-app delivery to ``read`` unless a worker holds it at that moment (``sending``).
"""

from __future__ import annotations

import builtins
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import and_, func, select, update
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.sql import Select

from tsbot.adapters.storage.tables_notify import (
    notification_attempts,
    notification_deliveries,
    notifications,
)
from tsbot.notify.models import (
    Attempt,
    AttemptOutcome,
    Channel,
    Delivery,
    DeliveryState,
    Notification,
    NotificationType,
)

_D, _N, _A = notification_deliveries.c, notifications.c, notification_attempts.c
_IN_APP = Channel.IN_APP.value
#: In-app delivery states a read mark moves to ``read``.
_READABLE = (DeliveryState.PENDING.value, DeliveryState.SENT.value, DeliveryState.FAILED.value)


def _notification(row: Mapping[str, Any]) -> Notification:
    return Notification(
        id=row["id"],
        user_id=row["user_id"],
        type=NotificationType(row["type"]),
        title=row["title"],
        body=row["body"],
        data=row["data"] if isinstance(row["data"], dict) else {},
        created_at=row["created_at"],
        read_at=row["read_at"],
    )


def _in_app(user_id: str) -> Select[Any]:
    """The user's notifications that have an in-app delivery."""
    return (
        select(notifications)
        .join(notification_deliveries, and_(_D.notification_id == _N.id, _D.channel == _IN_APP))
        .where(_N.user_id == user_id)
    )


class SqlInboxStore:
    """The in-app list, read marks and delivery history of each user's notifications."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def list(
        self, user_id: str, *, unread_only: bool = False, limit: int = 50, offset: int = 0
    ) -> tuple[builtins.list[Notification], int]:
        """One page of the user's in-app notifications, newest first, and how many match in all."""
        stmt = _in_app(user_id)
        if unread_only:
            stmt = stmt.where(_N.read_at.is_(None))
        page = stmt.order_by(_N.created_at.desc(), _N.id.desc()).limit(limit).offset(offset)
        async with self._engine.connect() as conn:
            rows = (await conn.execute(page)).all()
            total = (await conn.execute(select(func.count()).select_from(stmt.subquery()))).scalar_one()
        return [_notification(r._mapping) for r in rows], int(total)

    async def unread_count(self, user_id: str) -> int:
        """How many of the user's in-app notifications are unread."""
        stmt = _in_app(user_id).where(_N.read_at.is_(None))
        async with self._engine.connect() as conn:
            return int((await conn.execute(select(func.count()).select_from(stmt.subquery()))).scalar_one())

    async def get(self, user_id: str, notification_id: str) -> Notification | None:
        """The user's notification, or None."""
        stmt = select(notifications).where(_N.id == notification_id, _N.user_id == user_id)
        async with self._engine.connect() as conn:
            row = (await conn.execute(stmt)).first()
        return None if row is None else _notification(row._mapping)

    async def mark_read(self, user_id: str, notification_id: str, at: datetime) -> Notification | None:
        """Mark the user's notification read at ``at`` (a first read time is kept); the notification, or None."""
        async with self._engine.begin() as conn:
            owned = (
                await conn.execute(select(_N.id).where(_N.id == notification_id, _N.user_id == user_id))
            ).first()
            if owned is None:
                return None
            await conn.execute(
                update(notifications).where(_N.id == notification_id, _N.read_at.is_(None)).values(read_at=at)
            )
            await conn.execute(
                update(notification_deliveries)
                .where(
                    _D.notification_id == notification_id,
                    _D.channel == _IN_APP,
                    _D.state.in_(_READABLE),
                )
                .values(state=DeliveryState.READ.value, updated_at=at)
            )
        return await self.get(user_id, notification_id)

    async def mark_all_read(self, user_id: str, at: datetime) -> int:
        """Mark every unread in-app notification of the user read at ``at``; how many were marked."""
        unread = _in_app(user_id).where(_N.read_at.is_(None)).with_only_columns(_N.id)
        async with self._engine.begin() as conn:
            ids = list((await conn.execute(unread)).scalars())
            for start in range(0, len(ids), 500):
                chunk = ids[start : start + 500]
                await conn.execute(
                    update(notifications).where(_N.id.in_(chunk), _N.read_at.is_(None)).values(read_at=at)
                )
                await conn.execute(
                    update(notification_deliveries)
                    .where(_D.notification_id.in_(chunk), _D.channel == _IN_APP, _D.state.in_(_READABLE))
                    .values(state=DeliveryState.READ.value, updated_at=at)
                )
        return len(ids)

    async def deliveries(self, user_id: str, notification_id: str) -> builtins.list[Delivery] | None:
        """The deliveries of the user's notification (by channel name) with their attempts (oldest first); None
        when the user has no such notification."""
        async with self._engine.connect() as conn:
            owned = (
                await conn.execute(select(_N.id).where(_N.id == notification_id, _N.user_id == user_id))
            ).first()
            if owned is None:
                return None
            rows = (
                await conn.execute(
                    select(notification_deliveries)
                    .where(_D.notification_id == notification_id)
                    .order_by(_D.channel)
                )
            ).all()
            ids = [r._mapping["id"] for r in rows]
            attempts = (
                await conn.execute(
                    select(notification_attempts)
                    .where(_A.delivery_id.in_(ids))
                    .order_by(_A.delivery_id, _A.number, _A.id)
                )
            ).all()
        history: dict[int, builtins.list[Attempt]] = {i: [] for i in ids}
        for a in attempts:
            m = a._mapping
            history[m["delivery_id"]].append(
                Attempt(
                    m["number"], m["started_at"], AttemptOutcome(m["outcome"]), m["duration_ms"], m["error"]
                )
            )
        return [
            Delivery(
                channel=Channel(m["channel"]),
                state=DeliveryState(m["state"]),
                attempts=int(m["attempts"]),
                due_at=m["due_at"],
                sent_at=m["sent_at"],
                last_error=m["last_error"],
                created_at=m["created_at"],
                history=history[m["id"]],
            )
            for m in (r._mapping for r in rows)
        ]
