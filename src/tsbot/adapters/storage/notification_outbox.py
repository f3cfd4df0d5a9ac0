"""The notification outbox on SQLite or PostgreSQL (:class:`~tsbot.notify.ports.OutboxStore`).

Claiming is a compare-and-set: a due delivery is read with its state and attempt count, then taken with
``UPDATE ... WHERE id = :id AND state = :seen_state AND attempts = :seen_attempts AND due_at <= :now``; only an
update that changed one row holds the delivery. Every claim raises the attempt count, so (state, attempts) is a
version no two claims can both match: of two workers that read the same delivery, one takes it. On PostgreSQL the
read is ``SELECT ... FOR UPDATE OF notification_deliveries SKIP LOCKED`` in the claiming transaction, so concurrent
workers take different rows instead of waiting on each other, and the pending rows read (locked by that transaction,
so no other claim can change them first) are taken by one update. On SQLite (one writer at a time) the read is outside
any transaction; the pending rows read are taken by one update guarded by ``state = 'pending' AND due_at <= :now``
(only a claim moves a pending row away from pending, so of two workers that read the same row one takes it, and the
attempt count comes back from the update), and each expired lease by a short transaction of its own.

Notifications are written many at a time (:meth:`SqlOutboxStore.add_many`): one transaction, an insert of up to
:data:`CHUNK` notifications with ``ON CONFLICT DO NOTHING ... RETURNING id`` and one of the new ones' deliveries.

A claimed delivery is ``sending`` with ``due_at`` at the end of its lease; a result is recorded only with the claim's
token while the delivery is still ``sending`` under it; deliveries that need no send (in-app) are settled together by
one guarded update (:meth:`SqlOutboxStore.finish_sent`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, Final

from sqlalchemy import and_, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from tsbot.adapters.storage.candles import dialect_insert
from tsbot.adapters.storage.tables_notify import (
    notification_attempts,
    notification_deliveries,
    notifications,
)
from tsbot.notify.models import (
    AttemptOutcome,
    AttemptResult,
    Channel,
    ClaimBatch,
    ClaimedDelivery,
    DeliveryState,
    NewDelivery,
    NewNotification,
    NotificationType,
    OutgoingMessage,
)

_D, _N = notification_deliveries.c, notifications.c
#: Notifications (and delivery rows) per insert statement in :meth:`SqlOutboxStore.add_many`: 500 notifications of
#: 9 columns, or 500 deliveries of 13, stay far below the bound parameters one statement may carry (32,767).
CHUNK: Final = 500
_SETTLED_STATE = {
    AttemptOutcome.SENT: DeliveryState.SENT,
    AttemptOutcome.FAILED: DeliveryState.FAILED,
    AttemptOutcome.RETRY: DeliveryState.PENDING,
}
_CLAIM_COLUMNS = (
    _D.id,
    _D.key,
    _D.channel,
    _D.target,
    _D.state,
    _D.attempts,
    _D.due_at,
    _D.claimed_at,
    _N.id.label("notification_id"),
    _N.user_id,
    _N.type,
    _N.title,
    _N.body,
    _N.data,
    _N.created_at,
)


def _abandoned_error(row: Mapping[str, Any]) -> str:
    claimed = row["claimed_at"]
    since = claimed.strftime("%Y-%m-%d %H:%M:%S UTC") if claimed is not None else "an unknown time"
    return (
        f"no result from the worker that claimed it at {since}: its lease ran out, so whether the message went "
        "out is unknown"
    )


class SqlOutboxStore:
    """Notifications, deliveries and attempts over one database (see the module docstring)."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._insert = dialect_insert(engine)
        self._postgres = engine.dialect.name == "postgresql"

    async def add(self, notification: NewNotification, deliveries: Sequence[NewDelivery]) -> bool:
        """Store the notification and its pending deliveries in one transaction; False (nothing stored) when the
        user has a notification with this dedup key already."""
        (stored,) = await self.add_many([(notification, deliveries)])
        return stored

    async def add_many(self, items: Sequence[tuple[NewNotification, Sequence[NewDelivery]]]) -> list[bool]:
        """Store many notifications and their pending deliveries in one transaction, :data:`CHUNK` notifications
        per insert (``ON CONFLICT DO NOTHING ... RETURNING id``: a (user, dedup key) stored already is skipped),
        then their deliveries; returns, in order, whether each was stored. Of notifications repeating a (user, dedup
        key) or an id inside ``items``, only the first is written."""
        firsts: list[int] = []
        seen: set[tuple[str, str] | str] = set()
        for i, (n, _) in enumerate(items):
            if (n.user_id, n.dedup_key) not in seen and n.id not in seen:
                firsts.append(i)
            seen |= {(n.user_id, n.dedup_key), n.id}
        # written in (user, dedup key) order: two transactions writing the same keys wait on one another in one
        # order on PostgreSQL, never each on the other (a deadlock)
        firsts.sort(key=lambda i: (items[i][0].user_id, items[i][0].dedup_key))
        stored: set[str] = set()
        if firsts:
            async with self._engine.begin() as conn:
                for at in range(0, len(firsts), CHUNK):
                    chunk = [items[i] for i in firsts[at : at + CHUNK]]
                    stmt = (
                        self._insert(notifications)
                        .values([_notification_row(n) for n, _ in chunk])
                        .on_conflict_do_nothing()
                        .returning(_N.id)
                    )
                    new = set((await conn.execute(stmt)).scalars())
                    stored |= new
                    rows = [_delivery_row(n, d) for n, ds in chunk if n.id in new for d in ds]
                    for part in range(0, len(rows), CHUNK):
                        await conn.execute(insert(notification_deliveries), rows[part : part + CHUNK])
        chosen = set(firsts)
        return [i in chosen and n.id in stored for i, (n, _) in enumerate(items)]

    async def claim(
        self, *, now: datetime, limit: int, lease_s: float, max_attempts: int, claim_token: str
    ) -> ClaimBatch:
        """Take up to ``limit`` due deliveries under ``claim_token`` (see
        :meth:`tsbot.notify.ports.OutboxStore.claim` and the module docstring)."""
        stmt = (
            select(*_CLAIM_COLUMNS)
            .join(notifications, _N.id == _D.notification_id)
            .where(
                _D.state.in_([DeliveryState.PENDING.value, DeliveryState.SENDING.value]),
                _D.due_at <= now,
            )
            .order_by(_D.due_at, _D.id)
            .limit(limit)
        )
        lease_end = now + timedelta(seconds=lease_s)
        expired: list[tuple[str | None, Mapping[str, Any]]] = []
        if self._postgres:
            async with self._engine.begin() as conn:
                locked = stmt.with_for_update(skip_locked=True, of=notification_deliveries)
                rows = [r._mapping for r in (await conn.execute(locked)).all()]
                # the rows are locked by this transaction: no other claim can change them before it ends
                got = await _take_pending(conn, rows, now, lease_end, claim_token)
                for m in rows:
                    if m["state"] != DeliveryState.PENDING.value:  # a lease that ran out
                        expired.append(
                            (await self._take(conn, m, now, lease_end, max_attempts, claim_token), m)
                        )
        else:
            async with self._engine.connect() as conn:
                rows = [r._mapping for r in (await conn.execute(stmt)).all()]
            async with self._engine.begin() as conn:
                got = await _take_pending(conn, rows, now, lease_end, claim_token)
            for m in rows:
                if m["state"] != DeliveryState.PENDING.value:
                    async with self._engine.begin() as conn:
                        expired.append(
                            (await self._take(conn, m, now, lease_end, max_attempts, claim_token), m)
                        )
        # a pending row's attempt count as taken (a retry settled in between may have raised it since the read)
        taken = [("claimed", {**m, "attempts": got[m["id"]] - 1}) for m in rows if m["id"] in got] + expired
        claimed = [_claimed(row, claim_token) for what, row in taken if what == "claimed"]
        abandoned = sum(1 for what, row in taken if what and row["state"] == DeliveryState.SENDING.value)
        gave_up = sum(1 for what, _ in taken if what == "gave_up")
        return ClaimBatch(claimed, abandoned=abandoned, gave_up=gave_up)

    async def _take(
        self,
        conn: AsyncConnection,
        row: Mapping[str, Any],
        now: datetime,
        lease_end: datetime,
        max_attempts: int,
        claim_token: str,
    ) -> str | None:
        """Take one read delivery: ``"claimed"``, ``"gave_up"`` (an expired lease with no attempt left, now
        failed), or None when another worker changed it first."""
        guard = and_(
            _D.id == row["id"],
            _D.state == row["state"],
            _D.attempts == row["attempts"],
            _D.due_at <= now,
        )
        expired = row["state"] == DeliveryState.SENDING.value
        error = _abandoned_error(row) if expired else None
        if expired and row["attempts"] >= max_attempts:
            values: dict[str, Any] = {
                "state": DeliveryState.FAILED.value,
                "due_at": None,
                "claim_token": None,
                "last_error": f"gave up after {row['attempts']} attempts: {error}",
                "updated_at": now,
            }
            what = "gave_up"
        else:
            values = {**_claim_values(now, lease_end, claim_token), "attempts": row["attempts"] + 1}
            if error is not None:
                values["last_error"] = error
            what = "claimed"
        if (await conn.execute(update(notification_deliveries).where(guard).values(**values))).rowcount != 1:
            return None
        if expired:
            await conn.execute(
                insert(notification_attempts).values(
                    delivery_id=row["id"],
                    number=row["attempts"],
                    started_at=row["claimed_at"] or now,
                    outcome=AttemptOutcome.ABANDONED.value,
                    duration_ms=None,
                    error=error,
                )
            )
        return what

    async def finish(self, delivery_id: int, claim_token: str, result: AttemptResult) -> bool:
        """Record the attempt and settle the delivery while ``claim_token`` still holds it; False when it no longer
        does (the attempt is recorded all the same, marked as not applied, unless the delivery was deleted)."""
        ended_at = result.started_at + timedelta(milliseconds=result.duration_ms)
        values: dict[str, Any] = {
            "state": _SETTLED_STATE[result.outcome].value,
            "due_at": result.next_due_at if result.outcome is AttemptOutcome.RETRY else None,
            "claim_token": None,
            "updated_at": ended_at,
        }
        if result.error is not None:
            values["last_error"] = result.error
        if result.outcome is AttemptOutcome.SENT:
            values["sent_at"] = ended_at
        stmt = (
            update(notification_deliveries)
            .where(
                _D.id == delivery_id,
                _D.claim_token == claim_token,
                _D.state == DeliveryState.SENDING.value,
            )
            .values(**values)
        )
        async with self._engine.begin() as conn:
            applied = (await conn.execute(stmt)).rowcount == 1
            error = result.error
            if not applied:
                exists = (await conn.execute(select(_D.id).where(_D.id == delivery_id))).first()
                if exists is None:
                    return False
                error = f"{error} ({_NOT_APPLIED})" if error else _NOT_APPLIED
            await conn.execute(
                insert(notification_attempts).values(
                    delivery_id=delivery_id,
                    number=result.attempt,
                    started_at=result.started_at,
                    outcome=result.outcome.value,
                    duration_ms=result.duration_ms,
                    error=error,
                )
            )
        return applied

    async def finish_sent(
        self, claim_token: str, sent: Sequence[tuple[int, int]], at: datetime
    ) -> list[bool]:
        """Settle deliveries that went out at ``at`` with no I/O (in-app) in one transaction: one guarded update
        of them all, then their attempts in one insert (see :meth:`tsbot.notify.ports.OutboxStore.finish_sent`)."""
        if not sent:
            return []
        ids = [delivery_id for delivery_id, _ in sent]
        async with self._engine.begin() as conn:
            stmt = (
                update(notification_deliveries)
                .where(_D.id.in_(ids), _D.claim_token == claim_token, _D.state == DeliveryState.SENDING.value)
                .values(
                    state=DeliveryState.SENT.value, due_at=None, claim_token=None, updated_at=at, sent_at=at
                )
                .returning(_D.id)
            )
            applied = set((await conn.execute(stmt)).scalars())
            others = [i for i in ids if i not in applied]
            kept = (
                set((await conn.execute(select(_D.id).where(_D.id.in_(others)))).scalars())
                if others
                else set()
            )
            attempts = [
                {
                    "delivery_id": delivery_id,
                    "number": number,
                    "started_at": at,
                    "outcome": AttemptOutcome.SENT.value,
                    "duration_ms": 0,
                    "error": None if delivery_id in applied else _NOT_APPLIED,
                }
                for delivery_id, number in sent
                if delivery_id in applied or delivery_id in kept  # a deleted delivery keeps no attempt
            ]
            if attempts:
                await conn.execute(insert(notification_attempts), attempts)
        return [delivery_id in applied for delivery_id in ids]


_NOT_APPLIED = "result not applied: the lease had run out and another worker took the delivery over"


def _notification_row(n: NewNotification) -> dict[str, Any]:
    return {
        "id": n.id,
        "user_id": n.user_id,
        "type": NotificationType(n.type).value,
        "dedup_key": n.dedup_key,
        "title": n.title,
        "body": n.body,
        "data": dict(n.data),
        "created_at": n.created_at,
        "read_at": None,
    }


def _delivery_row(n: NewNotification, d: NewDelivery) -> dict[str, Any]:
    return {
        "key": d.key,
        "notification_id": n.id,
        "channel": Channel(d.channel).value,
        "target": d.target,
        "state": DeliveryState.PENDING.value,
        "attempts": 0,
        "due_at": d.due_at,
        "claim_token": None,
        "claimed_at": None,
        "last_error": None,
        "created_at": n.created_at,
        "updated_at": n.created_at,
        "sent_at": None,
    }


async def _take_pending(
    conn: AsyncConnection,
    rows: Sequence[Mapping[str, Any]],
    now: datetime,
    lease_end: datetime,
    claim_token: str,
) -> dict[int, int]:
    """Take the pending ones of the read ``rows`` that are still pending and due, by one guarded update; their
    attempt counts after it, by delivery id. Only a claim moves a pending row away from pending, so a row another
    worker took since the read is left out."""
    ids = [m["id"] for m in rows if m["state"] == DeliveryState.PENDING.value]
    if not ids:
        return {}
    stmt = (
        update(notification_deliveries)
        .where(_D.id.in_(ids), _D.state == DeliveryState.PENDING.value, _D.due_at <= now)
        .values(**_claim_values(now, lease_end, claim_token), attempts=_D.attempts + 1)
        .returning(_D.id, _D.attempts)
    )
    return {int(i): int(a) for i, a in (await conn.execute(stmt)).all()}


def _claim_values(now: datetime, lease_end: datetime, claim_token: str) -> dict[str, Any]:
    """The columns a claim sets, but the attempt count."""
    return {
        "state": DeliveryState.SENDING.value,
        "due_at": lease_end,
        "claim_token": claim_token,
        "claimed_at": now,
        "updated_at": now,
    }


def _claimed(row: Mapping[str, Any], claim_token: str) -> ClaimedDelivery:
    message = OutgoingMessage(
        delivery_key=row["key"],
        channel=Channel(row["channel"]),
        target=row["target"],
        user_id=row["user_id"],
        notification_id=row["notification_id"],
        type=NotificationType(row["type"]),
        title=row["title"],
        body=row["body"],
        data=row["data"] if isinstance(row["data"], dict) else {},
        created_at=row["created_at"],
        attempt=int(row["attempts"]) + 1,
    )
    return ClaimedDelivery(int(row["id"]), claim_token, message)
