"""The Telegram bot's own replies show times in the linked user's time zone (their profile's, as notifications do),
against a local Bot API server, on SQLite and PostgreSQL: ``/signal BTC``, ``/signals``, a price asked in free text,
``/approve`` (when a proposed order expires) and an expired order confirmation.

Bad input tried: a profile whose stored time zone name is no zone (``Mars/Olympus``, written past the profile checks
as a row edited by hand would hold it): that user reads UTC, as a user with no zone set does.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from tests.integration.bot.conftest import Harness, funded_portfolio, store_closes
from tests.integration.bot.test_bot_orders import _message_id

from tsbot.accounts.models import Preferences, Role
from tsbot.adapters.storage.accounts import SqlUserStore
from tsbot.core.enums import Action
from tsbot.core.time import from_ms
from tsbot.market.models import SeriesKey, Timeframe
from tsbot.signals.models import Components, Signal
from tsbot.trading.bots import Approval, BotConfig, approval_summary
from tsbot.trading.models import OrderRequest, OrderSide, OrderType
from tsbot.trading.paper_books import paper_account

AS_OF = datetime(2025, 7, 6, 4, tzinfo=UTC)  # summer: 06:00 in Berlin (CEST)
BERLIN = ZoneInfo("Europe/Berlin")


def shown(at: datetime, zone: ZoneInfo | None) -> str:
    """``at`` as a person in ``zone`` (None: UTC) reads it, to the minute."""
    if zone is None:
        return f"{at.astimezone(UTC):%Y-%m-%d %H:%M} UTC"
    return at.astimezone(zone).strftime("%Y-%m-%d %H:%M %Z")


async def test_replies_show_the_linked_users_time_zone_and_utc_without_one(bot: Harness) -> None:
    services = bot.services
    await store_closes(services, "BTC/USDT", [64000.0] * 3)
    signal = Signal(
        key=SeriesKey("binance", "BTC/USDT", Timeframe.H1),
        as_of=AS_OF,
        action=Action.BUY,
        score=0.62,
        confidence=0.714,
        price=64123.5,
        stop_loss=62000.0,
        take_profit=[66000.0],
        components=Components(0.7, 0.2, None),
        reasons=["RSI(14) at 28: oversold"],
    )
    await services.signals.save([signal])
    (series,) = [s for s in await services.candles.series() if s.key.symbol == "BTC/USDT"]
    bar_at = from_ms(series.last_open_ms)

    berlin, berlin_chat = await bot.linked(Role.TRADER)
    await services.accounts().update_profile(berlin.id, time_zone="Europe/Berlin")
    odd, odd_chat = await bot.linked(Role.VIEWER)
    await SqlUserStore(services.db).update(odd.id, {"preferences": Preferences(time_zone="Mars/Olympus")})
    _, plain_chat = await bot.linked(Role.VIEWER)  # the default profile: UTC

    for chat_id, zone in ((berlin_chat, BERLIN), (odd_chat, None), (plain_chat, None)):
        detail = (await bot.ask(chat_id, "/signal btc")).text.splitlines()
        assert detail[1] == f"binance 1h, as of {shown(AS_OF, zone)}", (chat_id, detail)
        listed = (await bot.ask(chat_id, "/signals")).text.splitlines()
        assert listed[1].endswith(f"64,123.5 USDT ({shown(AS_OF, zone)})"), (chat_id, listed)
        price = (await bot.ask(chat_id, "price of btc")).text
        assert price == f"BTC/USDT: 64,000 USDT (close of the 1h bar of {shown(bar_at, zone)} on binance)"
    berlin_detail = (await bot.ask(berlin_chat, "/signal btc")).text
    assert "as of 2025-07-06 06:00 CEST" in berlin_detail and "UTC" not in berlin_detail

    pid = await funded_portfolio(services, berlin)
    now = datetime.now(UTC)
    config = await services.bots.create(
        BotConfig.new(
            berlin.id,
            "swing",
            "sma_cross",
            "BTC/USDT",
            "500",
            account=paper_account(pid),
            approval=True,
            now=now,
        )
    )
    request = OrderRequest(
        "tsb-tz-approval", paper_account(pid), "BTC/USDT", OrderSide.BUY, OrderType.MARKET, Decimal("0.1")
    )
    approval = await services.bots.propose(
        Approval.new(berlin.id, request, approval_summary("swing", request), now=now, bot_id=config.id)
    )
    _, item = await bot.send(berlin_chat, "/approve", count=2)
    assert item.text.endswith(f"\nexpires {shown(approval.expires_at, BERLIN)}"), item.text

    offer = await bot.ask(berlin_chat, "/buy 0.1 BTC")
    sent_at = int(time.time()) - 3600
    late = await bot.press(
        berlin_chat, _message_id(bot, offer.text, berlin_chat), offer.buttons[0][1], date=sent_at
    )
    stamp = shown(datetime.fromtimestamp(sent_at, UTC), BERLIN)
    assert late.text == f"Expired ({stamp}), nothing placed: send the order again."
