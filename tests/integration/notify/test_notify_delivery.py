"""Notifications end to end on SQLite and PostgreSQL, through a real SMTP server and local Slack and Telegram Bot
API servers.

Bad input tried: the same notification enqueued twice (one after the other and at the same time); a Slack endpoint
that is down for 10 minutes; an SMTP server that refuses the recipient (550); a Telegram bot the user blocked (403)
and a Telegram that rate-limits (429 with retry_after); a user whose channels cannot be reached (no linked chat, no
confirmed address, a Slack webhook pointing elsewhere) and a deactivated user.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from sqlalchemy import func, select
from tests.integration.notify.conftest import BOT_TOKEN, SENDER, Answer, HttpStandIn, SmtpInbox, make_user

from tsbot.adapters.events import EventBus, Listener
from tsbot.adapters.storage.accounts import SqlUserStore
from tsbot.adapters.storage.notification_inbox import SqlInboxStore
from tsbot.adapters.storage.tables_notify import notification_deliveries, notifications
from tsbot.core.time import utc_now
from tsbot.notify.models import (
    AttemptOutcome,
    Channel,
    Delivery,
    DeliveryState,
    NotificationRequest,
    NotificationType,
)
from tsbot.wiring import Services

SIGNAL = {
    "symbol": "BTC/USDT",
    "timeframe": "1h",
    "exchange": "binance",
    "from_action": "HOLD",
    "to_action": "BUY",
    "score": 0.62,
    "confidence": 0.7,
    "price": "70000.5",
    "reasons": ["RSI 28 <oversold> & rising"],
}


def _signal(user_id: str, key: str = "signal:BTC/USDT:1h:2024-01-01T10:00Z:BUY") -> NotificationRequest:
    return NotificationRequest(user_id, NotificationType.SIGNAL_CHANGED, key, SIGNAL)


async def _only_notification(services: Services, user_id: str) -> str:
    async with services.db.connect() as conn:
        ids = list(
            (
                await conn.execute(select(notifications.c.id).where(notifications.c.user_id == user_id))
            ).scalars()
        )
    assert len(ids) == 1, ids
    return ids[0]


async def _deliveries(services: Services, user_id: str, notification_id: str) -> dict[Channel, Delivery]:
    found = await SqlInboxStore(services.db).deliveries(user_id, notification_id)
    assert found is not None
    return {d.channel: d for d in found}


async def test_a_signal_change_reaches_every_channel_once(
    services: Services, smtp: SmtpInbox, slack: HttpStandIn, bot_api: HttpStandIn
) -> None:
    user = await make_user(
        services,
        prefs={"slack_webhook_url": f"{slack.url}/hooks/ann", "signal_changed.email": True},
        chat_id=4242,
    )
    bus = EventBus()
    listener = Listener(user.id, channels={"notifications"})
    bus.add(listener)
    service = services.notifications(bus)
    now = utc_now()

    assert await service.enqueue([_signal(user.id)], now=now) == 1
    summary = await service.dispatch(now=now)
    assert (summary.claimed, summary.sent, summary.failed, summary.retried) == (4, 4, 0, 0)
    nid = await _only_notification(services, user.id)

    (mail,) = smtp.messages
    assert mail["To"] == user.email and mail["Subject"] == "BTC/USDT 1h: HOLD → BUY"
    assert mail["Message-ID"] == f"<{nid}.email@tsbot.test>" and mail["Auto-Submitted"] == "auto-generated"
    assert mail["From"] == SENDER
    text = mail.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert "changed from HOLD to BUY" in text and "RSI 28 <oversold> & rising" in text
    (tg,) = bot_api.seen
    assert tg.path == f"/bot{BOT_TOKEN}/sendMessage" and tg.body["chat_id"] == 4242
    assert tg.body["text"].startswith("BTC/USDT 1h: HOLD → BUY\n\nThe signal for BTC/USDT")
    (hook,) = slack.seen
    assert hook.path == "/hooks/ann"
    assert hook.body["text"].startswith("*BTC/USDT 1h: HOLD → BUY*\n")
    assert (
        "RSI 28 &lt;oversold&gt; &amp; rising" in hook.body["text"]
    )  # Slack's escaping: no mentions or links
    event = listener.queue.get_nowait()
    assert (
        event.channel == "notifications"
        and event.data["id"] == nid
        and event.data["type"] == "signal_changed"
    )

    deliveries = await _deliveries(services, user.id, nid)
    assert set(deliveries) == set(Channel)
    for d in deliveries.values():
        assert d.state is DeliveryState.SENT and d.attempts == 1 and d.sent_at is not None
        assert [a.outcome for a in d.history] == [AttemptOutcome.SENT]
    again = await service.dispatch(now=now + timedelta(hours=1))
    assert again.claimed == 0 and len(smtp.messages) == 1 and len(slack.seen) == 1 and len(bot_api.seen) == 1


async def test_enqueueing_the_same_notification_twice_makes_one(services: Services) -> None:
    user = await make_user(services, chat_id=77)
    service = services.notifications()
    now = utc_now()
    assert await service.enqueue([_signal(user.id), _signal(user.id)], now=now) == 1
    assert await service.enqueue([_signal(user.id)], now=now + timedelta(minutes=1)) == 0
    other = _signal(user.id, key="signal:BTC/USDT:1h:2024-01-01T11:00Z:SELL")
    counts = await asyncio.gather(*(service.enqueue([other], now=now) for _ in range(4)))  # at the same time
    assert sum(counts) == 1
    async with services.db.connect() as conn:
        n = (await conn.execute(select(func.count()).select_from(notifications))).scalar_one()
        per_channel = dict(
            (
                await conn.execute(
                    select(notification_deliveries.c.channel, func.count()).group_by(
                        notification_deliveries.c.channel
                    )
                )
            ).all()
        )
    assert n == 2 and per_channel == {"in_app": 2, "telegram": 2}


async def test_slack_down_for_ten_minutes_backs_off_then_delivers_exactly_once(
    services: Services, slack: HttpStandIn
) -> None:
    user = await make_user(services, prefs={"slack_webhook_url": f"{slack.url}/hooks/ops"})
    service = services.notifications()
    t0 = utc_now()
    await service.enqueue([_signal(user.id)], now=t0)
    nid = await _only_notification(services, user.id)
    slack.stop()  # bad input: Slack is down (connections refused) ...
    retried = 0
    for step in range(0, 20 * 60 + 1, 15):
        if step == 600:
            slack.start()  # ... for 10 minutes
        summary = await service.dispatch(now=t0 + timedelta(seconds=step))
        retried += summary.retried
        assert summary.failed == 0
    assert len(slack.seen) == 1  # the one message, once, after Slack came back
    assert slack.seen[0].body["text"].startswith("*BTC/USDT 1h: HOLD → BUY*")

    deliveries = await _deliveries(services, user.id, nid)
    assert deliveries[Channel.IN_APP].state is DeliveryState.SENT
    hook = deliveries[Channel.SLACK]
    assert hook.state is DeliveryState.SENT and hook.sent_at is not None
    outcomes = [a.outcome for a in hook.history]
    assert outcomes == [AttemptOutcome.RETRY] * 5 + [AttemptOutcome.SENT] and retried == 5
    assert all("could not be reached" in (a.error or "") for a in hook.history[:5])
    assert hook.last_error == hook.history[4].error and "/hooks/ops" not in (hook.last_error or "")
    starts = [a.started_at for a in hook.history]
    gaps = [(b - a).total_seconds() for a, b in zip(starts, starts[1:], strict=False)]
    for gap, backoff in zip(gaps, [30, 60, 120, 240, 480], strict=True):
        assert backoff <= gap < backoff + 16  # the doubling backoff, on the 15 s dispatch grid
    assert starts[-1] - t0 >= timedelta(minutes=10)


async def test_an_smtp_server_that_refuses_the_recipient_fails_the_email_at_once(
    services: Services, smtp: SmtpInbox, bot_api: HttpStandIn
) -> None:
    user = await make_user(services, chat_id=5150)
    smtp.refuse_address[user.email] = "550 5.1.1 Recipient address rejected: no such user"  # bad input
    service = services.notifications()
    now = utc_now()
    alert = {"symbol": "ETH/USDT", "condition": "above", "level": "4000", "price": "4001.2"}
    await service.enqueue(
        [NotificationRequest(user.id, NotificationType.PRICE_ALERT, "alert:1", alert)], now=now
    )
    summary = await service.dispatch(now=now)
    assert (summary.sent, summary.failed, summary.retried) == (2, 1, 0)
    nid = await _only_notification(services, user.id)
    deliveries = await _deliveries(services, user.id, nid)
    email = deliveries[Channel.EMAIL]
    assert email.state is DeliveryState.FAILED and email.attempts == 1 and email.due_at is None
    assert email.last_error is not None and "550" in email.last_error and "no such user" in email.last_error
    assert [a.outcome for a in email.history] == [AttemptOutcome.FAILED]
    assert deliveries[Channel.TELEGRAM].state is DeliveryState.SENT and len(bot_api.seen) == 1
    assert deliveries[Channel.IN_APP].state is DeliveryState.SENT
    later = await service.dispatch(now=now + timedelta(hours=6))
    assert later.claimed == 0 and smtp.messages == []  # no retry of a refusal


async def test_telegram_blocked_fails_and_rate_limit_waits_as_told(
    services: Services, bot_api: HttpStandIn
) -> None:
    blocked = await make_user(services, chat_id=1, prefs={"in_app": False})
    limited = await make_user(services, chat_id=2, prefs={"in_app": False})
    service = services.notifications()
    now = utc_now()
    await service.enqueue([_signal(blocked.id)], now=now)
    await service.enqueue([_signal(limited.id)], now=now + timedelta(seconds=1))
    forbidden = {"ok": False, "error_code": 403, "description": "Forbidden: bot was blocked by the user"}
    slow = {
        "ok": False,
        "error_code": 429,
        "description": "Too Many Requests",
        "parameters": {"retry_after": 300},
    }
    bot_api.script.extend(
        [Answer(403, forbidden), Answer(429, slow)]
    )  # bad input: blocked, then rate-limited
    await service.dispatch(now=now + timedelta(seconds=1), limit=1)
    await service.dispatch(now=now + timedelta(seconds=1), limit=1)
    gone = (await _deliveries(services, blocked.id, await _only_notification(services, blocked.id)))[
        Channel.TELEGRAM
    ]
    assert gone.state is DeliveryState.FAILED and "blocked by the user" in (gone.last_error or "")
    assert BOT_TOKEN not in (gone.last_error or "")
    wait = (await _deliveries(services, limited.id, await _only_notification(services, limited.id)))[
        Channel.TELEGRAM
    ]
    assert wait.state is DeliveryState.PENDING and wait.due_at is not None
    assert wait.due_at - (now + timedelta(seconds=1)) >= timedelta(
        seconds=300
    )  # retry_after, not the 30 s backoff
    assert (await service.dispatch(now=now + timedelta(seconds=200))).claimed == 0
    assert (await service.dispatch(now=now + timedelta(seconds=302))).sent == 1


async def test_unreachable_channels_are_skipped_not_failed(services: Services, slack: HttpStandIn) -> None:
    prefs: dict[str, Any] = {"email": True, "telegram": True, "slack_webhook_url": "https://example.com/hook"}
    user = await make_user(services, prefs=prefs, verified=False)  # bad input: nothing but in-app reachable
    inactive = await make_user(services)
    await SqlUserStore(services.db).update(inactive.id, {"is_active": False})
    service = services.notifications()
    now = utc_now()
    assert await service.enqueue([_signal(user.id), _signal(inactive.id)], now=now) == 1
    nid = await _only_notification(services, user.id)
    assert set(await _deliveries(services, user.id, nid)) == {Channel.IN_APP}
    assert (await service.dispatch(now=now)).sent == 1 and slack.seen == []
