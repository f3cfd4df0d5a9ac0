"""Notification texts show times in the recipient's time zone, read from their profile in the database (SQLite and
PostgreSQL), through a local Telegram Bot API server; the stored JSON context keeps the ISO UTC time.

Bad input tried: a profile whose stored time zone name is no zone (written past the profile checks, as a row edited
by hand or a zone since renamed would hold it).
"""

from __future__ import annotations

from datetime import UTC, datetime

from tests.integration.notify.conftest import HttpStandIn, make_user

from tsbot.accounts.models import Preferences
from tsbot.adapters.storage.accounts import SqlUserStore
from tsbot.adapters.storage.notification_inbox import SqlInboxStore
from tsbot.core.time import utc_now
from tsbot.notify.models import NotificationRequest, NotificationType
from tsbot.wiring import Services

CHANGED_AT = datetime(2022, 7, 6, 4, tzinfo=UTC)


def _signal(user_id: str) -> NotificationRequest:
    context = {"symbol": "BTC/USDT", "timeframe": "1h", "to_action": "BUY", "changed_at": CHANGED_AT}
    return NotificationRequest(user_id, NotificationType.SIGNAL_CHANGED, "signal:tz", context)


async def test_a_berlin_user_reads_berlin_time_and_a_bad_zone_reads_utc(
    services: Services, bot_api: HttpStandIn
) -> None:
    berlin = await make_user(services, chat_id=4900)
    await services.accounts().update_profile(berlin.id, time_zone="Europe/Berlin")
    odd = await make_user(services, chat_id=4901)
    await SqlUserStore(services.db).update(odd.id, {"preferences": Preferences(time_zone="Mars/Olympus")})
    plain = await make_user(services, chat_id=4902)  # the default profile: UTC

    service = services.notifications()
    now = utc_now()
    assert await service.enqueue([_signal(u.id) for u in (berlin, odd, plain)], now=now) == 3
    summary = await service.dispatch(now=now)
    assert (summary.sent, summary.failed) == (6, 0)  # in-app and Telegram for each

    texts = {seen.body["chat_id"]: seen.body["text"] for seen in bot_api.seen}
    assert texts[4900].endswith("At: 2022-07-06 06:00 CEST")
    assert texts[4901].endswith("At: 2022-07-06 04:00 UTC") and texts[4902].endswith(
        "At: 2022-07-06 04:00 UTC"
    )
    assert all("2022-07-06T04:00:00" not in text for text in texts.values())

    inbox = SqlInboxStore(services.db)
    (item,), _ = await inbox.list(berlin.id)
    assert item.body.endswith("At: 2022-07-06 06:00 CEST")
    assert item.data["changed_at"] == "2022-07-06T04:00:00+00:00"  # the machine-readable time is unchanged
