"""Workers and the outbox on SQLite and PostgreSQL: two dispatchers at the same time never send one delivery twice,
and a delivery whose worker died mid-send is sent by another once the lease runs out.

Bad input tried: two dispatchers (each with its own database connections) racing over the same due deliveries; two
claimers racing over the same rows; a worker that claims deliveries and dies without reporting; that worker coming
back after its lease was taken over (one delivery at a time, and a batch settled together); a dead worker's delivery
that has no attempt left.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import timedelta

from sqlalchemy import select
from tests.integration.notify.conftest import HttpStandIn, make_user

from tsbot.adapters.notifiers import notifiers_from_settings
from tsbot.adapters.storage.notification_inbox import SqlInboxStore
from tsbot.adapters.storage.notification_outbox import SqlOutboxStore
from tsbot.adapters.storage.notify_recipients import SqlRecipientDirectory
from tsbot.adapters.storage.tables_notify import notification_deliveries
from tsbot.config import Settings
from tsbot.core.time import utc_now
from tsbot.notify.models import (
    AttemptOutcome,
    AttemptResult,
    Channel,
    DeliveryState,
    NotificationRequest,
    NotificationType,
)
from tsbot.notify.service import NotificationService
from tsbot.wiring import Services, open_services


def _trade(user_id: str, i: int) -> NotificationRequest:
    context = {
        "symbol": "BTC/USDT",
        "side": "buy",
        "quantity": "0.01",
        "price": "70000",
        "order_id": f"o-{i}",
    }
    return NotificationRequest(user_id, NotificationType.TRADE_EXECUTED, f"trade:o-{i}", context)


async def _slack_users(services: Services, slack: HttpStandIn, n: int) -> list[str]:
    return [
        (await make_user(services, prefs={"slack_webhook_url": f"{slack.url}/hooks/{i}", "in_app": False})).id
        for i in range(n)
    ]


async def test_two_dispatchers_never_send_the_same_delivery_twice(
    services: Services, notify_settings: Settings, slack: HttpStandIn
) -> None:
    slack.delay_s = 0.01
    users = await _slack_users(services, slack, 3)
    now = utc_now()
    requests = [_trade(u, i) for i in range(12) for u in users[i % 3 : i % 3 + 1]]
    assert await services.notifications().enqueue(requests, now=now) == 12
    async with open_services(notify_settings, migrate=False) as other:
        first, second = services.notifications(), other.notifications()
        a, b = await asyncio.gather(first.dispatch(now=now), second.dispatch(now=now))
    assert a.sent + b.sent == 12 and a.claimed + b.claimed == 12 and a.lost == b.lost == 0
    orders = Counter(
        line for body in slack.bodies() for line in body["text"].splitlines() if line.startswith("Order:")
    )
    assert orders == Counter({f"Order: o-{i}": 1 for i in range(12)})
    async with services.db.connect() as conn:
        rows = (
            await conn.execute(select(notification_deliveries.c.state, notification_deliveries.c.attempts))
        ).all()
    assert sorted(set(rows)) == [(DeliveryState.SENT.value, 1)] and len(rows) == 12


async def test_concurrent_claims_take_disjoint_deliveries(
    services: Services, notify_settings: Settings, slack: HttpStandIn
) -> None:
    users = await _slack_users(services, slack, 1)
    now = utc_now()
    await services.notifications().enqueue([_trade(users[0], i) for i in range(20)], now=now)
    async with open_services(notify_settings, migrate=False) as other:
        stores = [SqlOutboxStore(services.db), SqlOutboxStore(other.db), SqlOutboxStore(services.db)]
        batches = await asyncio.gather(
            *(
                s.claim(now=now, limit=20, lease_s=60, max_attempts=8, claim_token=f"w{i}")
                for i, s in enumerate(stores)
            )
        )
    taken = [c.delivery_id for batch in batches for c in batch.claimed]
    assert len(taken) == len(set(taken)) == 20  # every delivery held by exactly one claimer


async def test_a_worker_that_died_mid_send_is_taken_over_after_its_lease(
    services: Services, slack: HttpStandIn
) -> None:
    (user,) = await _slack_users(services, slack, 1)
    service = services.notifications()
    t0 = utc_now()
    await service.enqueue([_trade(user, 1)], now=t0)
    outbox = SqlOutboxStore(services.db)
    dead = await outbox.claim(now=t0, limit=10, lease_s=60, max_attempts=8, claim_token="dead-worker")
    (held,) = dead.claimed  # the worker claims it, then dies before sending or reporting
    assert (await service.dispatch(now=t0 + timedelta(seconds=59))).claimed == 0  # a live lease is respected
    assert slack.seen == []
    summary = await service.dispatch(now=t0 + timedelta(seconds=61))
    assert (summary.abandoned, summary.claimed, summary.sent) == (1, 1, 1) and len(slack.seen) == 1

    (delivery,) = await SqlInboxStore(services.db).deliveries(user, held.message.notification_id) or []
    assert delivery.state is DeliveryState.SENT and delivery.attempts == 2
    assert [a.outcome for a in delivery.history] == [AttemptOutcome.ABANDONED, AttemptOutcome.SENT]
    assert "lease ran out" in (delivery.history[0].error or "") and delivery.history[0].duration_ms is None

    # the dead worker comes back and reports: its result is recorded but changes nothing
    late = AttemptResult(1, AttemptOutcome.FAILED, t0, 5, "connection reset")
    assert await outbox.finish(held.delivery_id, "dead-worker", late) is False
    (delivery,) = await SqlInboxStore(services.db).deliveries(user, held.message.notification_id) or []
    assert delivery.state is DeliveryState.SENT
    outcomes = [(a.number, a.outcome) for a in delivery.history]  # by attempt number: the late report is #1's
    assert outcomes == [(1, AttemptOutcome.ABANDONED), (1, AttemptOutcome.FAILED), (2, AttemptOutcome.SENT)]
    assert "connection reset (result not applied" in (delivery.history[1].error or "")


async def test_deliveries_settled_together_count_only_while_their_claim_holds(
    services: Services, slack: HttpStandIn
) -> None:
    (user,) = await _slack_users(services, slack, 1)
    t0 = utc_now()
    await services.notifications().enqueue([_trade(user, i) for i in range(3)], now=t0)
    outbox = SqlOutboxStore(services.db)
    first = await outbox.claim(now=t0, limit=10, lease_s=60, max_attempts=8, claim_token="slow")
    assert len(first.claimed) >= 3
    # the first claimer's lease runs out and another takes every delivery over before the first reports
    second = await outbox.claim(
        now=t0 + timedelta(seconds=61), limit=10, lease_s=60, max_attempts=8, claim_token="fast"
    )
    assert second.abandoned == len(first.claimed) and len(second.claimed) == len(first.claimed)
    late = [(c.delivery_id, c.message.attempt) for c in first.claimed]
    assert await outbox.finish_sent("slow", late, t0 + timedelta(seconds=62)) == [False] * len(late)
    done = [(c.delivery_id, c.message.attempt) for c in second.claimed]
    assert await outbox.finish_sent("fast", done, t0 + timedelta(seconds=63)) == [True] * len(done)
    assert await outbox.finish_sent("fast", [], t0) == []
    inbox = SqlInboxStore(services.db)
    seen = 0
    for notification in {c.message.notification_id for c in second.claimed}:
        for delivery in await inbox.deliveries(user, notification) or []:
            seen += 1
            assert delivery.state is DeliveryState.SENT and delivery.attempts == 2
            assert [(a.number, a.outcome) for a in delivery.history] == [
                (1, AttemptOutcome.ABANDONED),
                (1, AttemptOutcome.SENT),
                (2, AttemptOutcome.SENT),
            ]
            assert "result not applied" in (delivery.history[1].error or "")
            assert delivery.history[2].error is None and delivery.history[2].duration_ms == 0
    assert seen == len(done)


async def test_a_dead_workers_delivery_with_no_attempt_left_fails(
    services: Services, notify_settings: Settings, slack: HttpStandIn
) -> None:
    (user,) = await _slack_users(services, slack, 1)
    config = notify_settings.notify.model_copy(update={"max_attempts": 1})
    service = NotificationService(
        SqlOutboxStore(services.db),
        SqlRecipientDirectory(services.db),
        notifiers_from_settings(notify_settings),
        config,
    )
    t0 = utc_now()
    await service.enqueue([_trade(user, 2)], now=t0)
    dead = await SqlOutboxStore(services.db).claim(
        now=t0, limit=1, lease_s=60, max_attempts=1, claim_token="x"
    )
    summary = await service.dispatch(now=t0 + timedelta(minutes=5))
    assert (summary.abandoned, summary.failed, summary.claimed) == (1, 1, 0) and slack.seen == []
    (delivery,) = (
        await SqlInboxStore(services.db).deliveries(user, dead.claimed[0].message.notification_id) or []
    )
    assert delivery.state is DeliveryState.FAILED and (delivery.last_error or "").startswith(
        "gave up after 1"
    )
    assert delivery.channel is Channel.SLACK
