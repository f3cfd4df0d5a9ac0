"""The service's decisions over in-memory ports: what gets enqueued, and how each attempt ends (bad input: a
channel that refuses for good, one that fails for now until the attempts run out, one that hangs past the lease,
a notifier that raises an unexpected error, a channel no longer configured, an unknown and an inactive user)."""

from __future__ import annotations

import asyncio
import builtins
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tsbot.config import NotifyConfig
from tsbot.core.errors import DataError, OperationalError, TemporaryError
from tsbot.notify.models import (
    AttemptOutcome,
    AttemptResult,
    Channel,
    ClaimBatch,
    ClaimedDelivery,
    NewDelivery,
    NewNotification,
    NotificationRequest,
    NotificationType,
    OutgoingMessage,
    Recipient,
)
from tsbot.notify.service import NotificationService

T0 = datetime(2024, 1, 1, tzinfo=UTC)


@dataclass
class _Row:
    notification: NewNotification
    delivery: NewDelivery
    state: str = "pending"
    attempts: int = 0
    due_at: datetime | None = None
    token: str | None = None
    results: builtins.list[AttemptResult] = field(default_factory=list)


class MemoryOutbox:
    """The outbox port in memory (one process, no leases taken over)."""

    def __init__(self) -> None:
        self.rows: list[_Row] = []
        self.keys: set[tuple[str, str]] = set()

    async def add(self, notification: NewNotification, deliveries: Sequence[NewDelivery]) -> bool:
        if (notification.user_id, notification.dedup_key) in self.keys:
            return False
        self.keys.add((notification.user_id, notification.dedup_key))
        self.rows += [_Row(notification, d, due_at=d.due_at) for d in deliveries]
        return True

    async def add_many(self, items: Sequence[tuple[NewNotification, Sequence[NewDelivery]]]) -> list[bool]:
        return [await self.add(notification, deliveries) for notification, deliveries in items]

    async def claim(
        self, *, now: datetime, limit: int, lease_s: float, max_attempts: int, claim_token: str
    ) -> ClaimBatch:
        due = [r for r in self.rows if r.state == "pending" and r.due_at is not None and r.due_at <= now][
            :limit
        ]
        claimed = []
        for r in due:
            r.state, r.attempts, r.token = "sending", r.attempts + 1, claim_token
            n, d = r.notification, r.delivery
            message = OutgoingMessage(
                d.key,
                d.channel,
                d.target,
                n.user_id,
                n.id,
                n.type,
                n.title,
                n.body,
                n.data,
                n.created_at,
                r.attempts,
            )
            claimed.append(ClaimedDelivery(self.rows.index(r), claim_token, message))
        return ClaimBatch(claimed)

    async def finish(self, delivery_id: int, claim_token: str, result: AttemptResult) -> bool:
        r = self.rows[delivery_id]
        r.results.append(result)
        r.state = {"sent": "sent", "failed": "failed", "retry": "pending"}[result.outcome.value]
        r.due_at = result.next_due_at
        return r.token == claim_token

    async def finish_sent(
        self, claim_token: str, sent: Sequence[tuple[int, int]], at: datetime
    ) -> list[bool]:
        return [
            await self.finish(delivery_id, claim_token, AttemptResult(number, AttemptOutcome.SENT, at, 0))
            for delivery_id, number in sent
        ]

    def of(self, channel: Channel) -> list[_Row]:
        return [r for r in self.rows if r.delivery.channel is channel]


class Directory:
    def __init__(self, *recipients: Recipient) -> None:
        self.known = {r.user_id: r for r in recipients}

    async def recipients(self, user_ids: Collection[str], at: datetime) -> dict[str, Recipient]:
        return {u: self.known[u] for u in user_ids if u in self.known}


class Scripted:
    """A notifier raising the scripted errors in turn, then succeeding; records what it sent."""

    def __init__(self, *errors: BaseException | None, delay_s: float = 0.0) -> None:
        self.errors = list(errors)
        self.sent: list[OutgoingMessage] = []
        self.delay_s = delay_s

    async def send(self, message: OutgoingMessage) -> None:
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        error = self.errors.pop(0) if self.errors else None
        if error is not None:
            raise error
        self.sent.append(message)


ANN = Recipient("ann", True, email="ann@example.com", telegram_chat_id=42)
CONFIG = NotifyConfig(max_attempts=3, backoff_s=30, max_backoff_s=3600, lease_s=60, concurrency=2)


def _service(
    outbox: MemoryOutbox, notifiers: dict[Channel, object], config: NotifyConfig = CONFIG
) -> NotificationService:
    return NotificationService(outbox, Directory(ANN, Recipient("gone", False)), notifiers, config)  # type: ignore[arg-type]


def _alert(key: str = "a1", user: str = "ann") -> NotificationRequest:
    return NotificationRequest(
        user, NotificationType.PRICE_ALERT, key, {"symbol": "BTC/USDT", "level": "70000"}
    )


async def test_enqueue_writes_one_delivery_per_reachable_wanted_channel_once() -> None:
    outbox = MemoryOutbox()
    service = _service(outbox, {Channel.EMAIL: Scripted(), Channel.TELEGRAM: Scripted()})
    assert (
        await service.enqueue([_alert(), _alert(), _alert(user="nobody"), _alert(user="gone")], now=T0) == 1
    )
    assert {r.delivery.channel for r in outbox.rows} == {Channel.IN_APP, Channel.EMAIL, Channel.TELEGRAM}
    assert {r.delivery.key for r in outbox.rows} == {
        f"{outbox.rows[0].notification.id}.{c}" for c in ("in_app", "email", "telegram")
    }
    assert outbox.rows[0].notification.title == "BTC/USDT ? 70000"


async def test_refusal_fails_at_once_and_temporary_errors_back_off_until_attempts_run_out() -> None:
    outbox = MemoryOutbox()
    email = Scripted(OperationalError("550 no such user"))
    telegram = Scripted(*[TemporaryError("502")] * 5)
    service = _service(outbox, {Channel.EMAIL: email, Channel.TELEGRAM: telegram})
    await service.enqueue([_alert()], now=T0)
    first = await service.dispatch(now=T0)
    assert (first.claimed, first.sent, first.failed, first.retried) == (3, 1, 1, 1)
    (mail,) = outbox.of(Channel.EMAIL)
    assert mail.state == "failed" and mail.results[0].error == "550 no such user"
    (tg,) = outbox.of(Channel.TELEGRAM)
    assert tg.state == "pending" and tg.due_at is not None
    assert timedelta(seconds=30) <= tg.due_at - T0 < timedelta(seconds=31)
    assert (await service.dispatch(now=T0 + timedelta(seconds=29))).claimed == 0  # not due yet
    second = await service.dispatch(now=T0 + timedelta(seconds=31))
    assert second.retried == 1 and tg.due_at - (T0 + timedelta(seconds=31)) >= timedelta(seconds=60)
    third = await service.dispatch(now=T0 + timedelta(hours=1))
    assert third.failed == 1 and tg.state == "failed"
    assert tg.results[-1].error == "gave up after 3 attempts: 502" and telegram.sent == []


async def test_a_send_that_hangs_past_the_lease_is_cut_off_and_retried() -> None:
    outbox = MemoryOutbox()
    config = NotifyConfig(lease_s=0.25, backoff_s=30, concurrency=2)
    slow = Scripted(delay_s=5)
    service = _service(outbox, {Channel.TELEGRAM: slow}, config)
    await service.enqueue([_alert()], now=T0)
    summary = await service.dispatch(now=T0)
    (tg,) = outbox.of(Channel.TELEGRAM)
    assert summary.retried == 1 and tg.state == "pending"
    assert tg.results[0].error == "no result within 0.2 s (the message may have gone out)"


async def test_unexpected_errors_and_missing_notifiers_are_retried_not_lost() -> None:
    outbox = MemoryOutbox()
    service = _service(
        outbox, {Channel.EMAIL: Scripted(ZeroDivisionError("oops")), Channel.TELEGRAM: Scripted()}
    )
    await service.enqueue([_alert()], now=T0)
    later = _service(outbox, {Channel.EMAIL: Scripted()})  # the Telegram bot token was removed meanwhile
    summary = await later.dispatch(now=T0)
    assert summary.retried == 1 and summary.sent == 2  # in-app, email
    (tg,) = outbox.of(Channel.TELEGRAM)
    assert tg.results[0].error == "telegram is not configured on this server"
    summary = await service.dispatch(now=T0 + timedelta(minutes=5))
    assert summary.sent == 1 and tg.state == "sent"


async def test_run_dispatches_until_stopped_and_survives_a_failing_round() -> None:
    outbox = MemoryOutbox()
    service = _service(outbox, {})
    await service.enqueue([_alert()], now=T0)
    calls = 0
    real_claim = outbox.claim

    async def flaky_claim(**kw: Any) -> ClaimBatch:  # bad input: the database fails once
        nonlocal calls
        calls += 1
        if calls == 1:
            raise ConnectionError("database down")
        return await real_claim(**kw)

    outbox.claim = flaky_claim  # type: ignore[method-assign]
    stop = asyncio.Event()
    task = asyncio.create_task(service.run(stop, interval_s=0.01, clock=lambda: T0))
    for _ in range(200):
        await asyncio.sleep(0.01)
        if outbox.rows[0].state == "sent":
            break
    stop.set()
    await asyncio.wait_for(task, 1)
    assert calls >= 2 and outbox.rows[0].state == "sent"


async def test_dispatch_refuses_a_naive_time_and_an_empty_limit() -> None:
    service = _service(MemoryOutbox(), {})
    with pytest.raises(DataError):
        await service.dispatch(now=datetime(2024, 1, 1))  # bad input: naive
    with pytest.raises(DataError):
        await service.dispatch(now=T0, limit=0)  # bad input: nothing to take


async def test_drain_sends_batch_after_batch_until_nothing_is_due() -> None:
    """A backlog larger than one batch (a cycle that queued many notifications) goes out in one drain."""
    outbox = MemoryOutbox()
    email = Scripted()
    config = NotifyConfig(max_attempts=3, backoff_s=30, lease_s=60, concurrency=2, batch_size=4)
    service = _service(outbox, {Channel.EMAIL: email}, config)
    await service.enqueue([_alert(f"a{i}") for i in range(5)], now=T0)  # 10 deliveries: in-app and email
    summary = await service.drain(clock=lambda: T0)
    assert (summary.claimed, summary.sent) == (10, 10)
    assert len(email.sent) == 5
    assert (await service.drain(clock=lambda: T0)).claimed == 0


async def test_each_recipient_reads_the_time_in_their_own_zone_and_the_data_keeps_iso() -> None:
    outbox = MemoryOutbox()
    berta = Recipient("berta", True, time_zone="Europe/Berlin")
    odd = Recipient("odd", True, time_zone="Mars/Olympus")  # bad input: a stored zone name that is no zone
    service = NotificationService(outbox, Directory(berta, odd), {}, CONFIG)  # type: ignore[arg-type]
    at = datetime(2022, 7, 6, 4, tzinfo=UTC)
    requests = [
        NotificationRequest(u, NotificationType.PRICE_ALERT, "a1", {"symbol": "BTC/USDT", "at": at})
        for u in ("berta", "odd")
    ]
    assert await service.enqueue(requests, now=T0) == 2
    by_user = {r.notification.user_id: r.notification for r in outbox.rows}
    assert by_user["berta"].body.endswith("At: 2022-07-06 06:00 CEST")
    assert by_user["odd"].body.endswith("At: 2022-07-06 04:00 UTC")
    assert by_user["berta"].data["at"] == by_user["odd"].data["at"] == "2022-07-06T04:00:00+00:00"
