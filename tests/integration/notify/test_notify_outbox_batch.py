"""The outbox's batch paths on SQLite and PostgreSQL: many notifications written in one transaction, pending
deliveries claimed by one guarded update, and in-app deliveries settled together.

Bad input tried: a batch repeating a (user, dedup key) and a notification id inside itself, and one repeating keys
stored already (in a batch larger than one insert takes); the same batch enqueued four times at once in different
orders, and written by two writers at once in opposite orders (a deadlock on PostgreSQL unless written in one order);
two claimers on their own connections claiming the same due deliveries at once, round after round; a batch settled
together after another worker took one of its deliveries over.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime, timedelta

from sqlalchemy import func, select
from tests.integration.notify.conftest import make_user

from tsbot.adapters.storage.notification_inbox import SqlInboxStore
from tsbot.adapters.storage.notification_outbox import CHUNK, SqlOutboxStore
from tsbot.adapters.storage.tables_notify import notification_deliveries, notifications
from tsbot.config import Settings
from tsbot.core.time import utc_now
from tsbot.notify.models import (
    AttemptOutcome,
    Channel,
    DeliveryState,
    NewDelivery,
    NewNotification,
    NotificationRequest,
    NotificationType,
)
from tsbot.notify.service import delivery_key
from tsbot.wiring import Services, open_services


def _item(
    user_id: str, key: str, now: datetime, *, id_: str | None = None, channels: int = 2
) -> tuple[NewNotification, list[NewDelivery]]:
    n = NewNotification(
        id_ or str(uuid.uuid4()), user_id, NotificationType.SYSTEM, key, "title", "body", {"k": key}, now
    )
    chosen = [Channel.IN_APP, Channel.EMAIL][:channels]
    return n, [NewDelivery(delivery_key(n.id, c), c, None, now) for c in chosen]


async def _count(services: Services) -> tuple[int, dict[str, int]]:
    """How many notifications are stored, and how many deliveries each has, by notification id."""
    async with services.db.connect() as conn:
        n = (await conn.execute(select(func.count()).select_from(notifications))).scalar_one()
        d = notification_deliveries.c
        per = dict(
            (await conn.execute(select(d.notification_id, func.count()).group_by(d.notification_id))).all()
        )
    return n, per


async def test_add_many_skips_keys_repeated_in_the_batch_and_stored_already(services: Services) -> None:
    ann, bob = (await make_user(services)).id, (await make_user(services)).id
    outbox, now = SqlOutboxStore(services.db), utc_now()
    assert await outbox.add(*_item(ann, "k1", now)) is True
    assert await outbox.add_many([]) == []
    batch = [
        _item(ann, "k1", now),  # stored already
        _item(ann, "k2", now),
        _item(bob, "k1", now),  # the same key for another user
        _item(ann, "k2", now),  # repeated inside the batch
        _item(bob, "k3", now, channels=1),
    ]
    batch.append(_item(bob, "k4", now, id_=batch[1][0].id))  # a notification id repeated inside the batch
    assert await outbox.add_many(batch) == [False, True, True, False, True, False]
    n, per = await _count(services)
    assert n == 4 and per[batch[1][0].id] == 2 and per[batch[2][0].id] == 2 and per[batch[4][0].id] == 1
    assert batch[0][0].id not in per and batch[3][0].id not in per

    # more than one insert takes: a key stored already lands in the second chunk, a repeat in the third
    big = [_item(ann, f"b{i:05d}", now, channels=1) for i in range(2 * CHUNK + 10)]
    assert await outbox.add(*_item(ann, f"b{CHUNK + 3:05d}", now, channels=1)) is True
    big.append(_item(ann, "b00000", now))
    stored = await outbox.add_many(big)
    assert [i for i, new in enumerate(stored) if not new] == [CHUNK + 3, len(big) - 1]
    n, per = await _count(services)
    assert n == 4 + 1 + len(big) - 2 and sum(per.values()) == 2 + 2 + 1 + 2 + 1 + len(big) - 2


async def test_the_same_batch_enqueued_at_once_in_other_orders_makes_each_notification_once(
    services: Services,
) -> None:
    users = [(await make_user(services)).id for _ in range(3)]
    requests = [
        NotificationRequest(u, NotificationType.SYSTEM, f"system:{i}", {"message": f"notice {i}"})
        for i in range(30)
        for u in users
    ]
    orders = [requests, requests[::-1], requests[1::2] + requests[::2], requests[::2][::-1] + requests[1::2]]
    service, now = services.notifications(), utc_now()
    counts = await asyncio.gather(*(service.enqueue(order, now=now) for order in orders))
    assert sum(counts) == len(requests) == 90
    n, per = await _count(services)
    assert n == 90 and set(per.values()) == {2}  # in-app and email (a confirmed address)


async def test_two_writers_of_the_same_keys_in_opposite_orders_store_each_once(
    services: Services, notify_settings: Settings
) -> None:
    user = (await make_user(services)).id
    now = utc_now()
    keys = [f"w{i:05d}" for i in range(2 * CHUNK)]  # two inserts each, which overlap in time
    async with open_services(notify_settings, migrate=False) as other:
        stores = [SqlOutboxStore(services.db), SqlOutboxStore(other.db)]
        forward, backward = await asyncio.gather(
            stores[0].add_many([_item(user, k, now, channels=1) for k in keys]),
            stores[1].add_many([_item(user, k, now, channels=1) for k in reversed(keys)]),
        )
    assert sum(forward) + sum(backward) == len(keys)  # each key once, by one writer or the other
    n, per = await _count(services)
    assert n == len(keys) and set(per.values()) == {1}


async def test_two_claimers_at_once_take_every_delivery_exactly_once(
    services: Services, notify_settings: Settings
) -> None:
    user = (await make_user(services)).id
    now = utc_now()
    assert all(await SqlOutboxStore(services.db).add_many([_item(user, f"c{i}", now) for i in range(30)]))
    postgres = services.db.dialect.name == "postgresql"
    seen: list[int] = []
    async with open_services(notify_settings, migrate=False) as other:
        stores = [SqlOutboxStore(services.db), SqlOutboxStore(other.db)]
        for round_ in range(8):
            batches = await asyncio.gather(
                *(
                    s.claim(now=now, limit=20, lease_s=60, max_attempts=8, claim_token=f"w{i}-{round_}")
                    for i, s in enumerate(stores)
                )
            )
            got = [[c.delivery_id for c in b.claimed] for b in batches]
            if postgres and round_ == 0:  # each passes over the rows the other holds and takes a full batch
                assert [len(g) for g in got] == [20, 20]
            assert not set(got[0]) & set(got[1])
            assert all(c.message.attempt == 1 for b in batches for c in b.claimed)
            seen += got[0] + got[1]
            if not got[0] and not got[1]:
                break
    assert len(seen) == len(set(seen)) == 60  # every delivery held by exactly one claim
    async with services.db.connect() as conn:
        d = notification_deliveries.c
        states = set((await conn.execute(select(d.state, d.attempts))).all())
    assert states == {(DeliveryState.SENDING.value, 1)}


async def test_a_batch_settled_together_after_one_delivery_was_taken_over(services: Services) -> None:
    user = (await make_user(services)).id
    outbox, t0 = SqlOutboxStore(services.db), utc_now()
    assert all(await outbox.add_many([_item(user, f"s{i}", t0, channels=1) for i in range(3)]))
    slow = await outbox.claim(now=t0, limit=10, lease_s=60, max_attempts=8, claim_token="slow")
    assert len(slow.claimed) == 3
    # the slow worker's lease runs out; another takes one delivery over before the slow one reports
    fast = await outbox.claim(
        now=t0 + timedelta(seconds=61), limit=1, lease_s=60, max_attempts=8, claim_token="fast"
    )
    ((taken, taken_attempt),) = [(c.delivery_id, c.message.attempt) for c in fast.claimed]
    assert fast.abandoned == 1 and taken_attempt == 2
    report = [(c.delivery_id, c.message.attempt) for c in slow.claimed]
    applied = await outbox.finish_sent("slow", report, t0 + timedelta(seconds=62))
    assert applied == [delivery_id != taken for delivery_id, _ in report]
    assert await outbox.finish_sent("fast", [(taken, taken_attempt)], t0 + timedelta(seconds=63)) == [True]

    inbox = SqlInboxStore(services.db)
    for c in slow.claimed:
        (delivery,) = await inbox.deliveries(user, c.message.notification_id) or []
        assert delivery.state is DeliveryState.SENT
        history = [(a.number, a.outcome, a.error) for a in delivery.history]
        if c.delivery_id != taken:
            assert delivery.attempts == 1 and history == [(1, AttemptOutcome.SENT, None)]
            continue
        assert delivery.attempts == 2 and [h[:2] for h in history] == [
            (1, AttemptOutcome.ABANDONED),
            (1, AttemptOutcome.SENT),
            (2, AttemptOutcome.SENT),
        ]
        assert "result not applied" in (history[1][2] or "") and history[2][2] is None
