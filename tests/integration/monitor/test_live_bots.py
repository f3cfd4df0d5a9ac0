"""Bots on live exchange accounts and the reconciliation of those accounts in the monitoring cycle
(:mod:`tsbot.monitor.live_accounts`), on a real database (SQLite file and PostgreSQL) against the local
Binance-shaped venue, through ccxt.

The candles are synthetic hourly BTC/USDT bars that end at the last full hour of the wall clock, because a live bot
refuses to open a position on a bar that closed long ago. ``sma_cross`` with fast 3 and slow 5 stays flat on the
slow decline and buys on the jump bar added between two cycles. Each cycle builds a new runner, so everything the
bot knows between cycles is in the database, as after a restart.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
from tests.support.exchange_servers import Fault
from tests.support.fake_binance import FakeBinance
from tests.support.risk import OPEN_LIMITS

from tsbot.accounts.models import OPERATOR, Role
from tsbot.adapters.brokers.ccxt_broker import CcxtBroker
from tsbot.adapters.brokers.key_brokers import StoredKeyBrokers
from tsbot.adapters.secrets import KeyVault
from tsbot.adapters.storage.bot_runs import SqlBotMemory
from tsbot.adapters.storage.exchange_keys import ExchangeCredentials, ExchangeKeyInfo, SqlExchangeKeyStore
from tsbot.adapters.storage.notification_inbox import SqlInboxStore
from tsbot.apps.worker.runtime import build_bot_runner, build_cycle
from tsbot.config import Settings, load_settings
from tsbot.core.enums import AssetClass
from tsbot.core.time import to_ms, utc_now
from tsbot.intake.models import Side
from tsbot.market.models import SeriesKey, Timeframe
from tsbot.market.service import import_candles
from tsbot.monitor.bot_runner import BotCycleSummary, BotRunner
from tsbot.monitor.live_accounts import LiveAccounts
from tsbot.notify.models import NotificationType
from tsbot.trading.bots import FOLLOW, BotConfig, BotMode
from tsbot.trading.models import Order, OrderRequest, OrderSide, OrderStatus, OrderType
from tsbot.trading.orders import client_order_id
from tsbot.wiring import Services

API_KEY = "live-bot-api-key-4c9e1a7b"
SECRET = "live-bot-secret-never-shown-8d2f"
ORDER = "/api/v3/order"
OPEN_ORDERS = "/api/v3/openOrders"
EXCHANGE_INFO = "/api/v3/exchangeInfo"
HOUR_MS = 3_600_000
KEY = SeriesKey("binance", "BTC/USDT", Timeframe("1h"))
ENCRYPTION_KEY = KeyVault.generate_key()
PASSWORD = "correct horse battery staple 9"


@pytest.fixture
def venue() -> Iterator[FakeBinance]:
    with FakeBinance(api_key=API_KEY, stall_s=3.0) as server:
        server.set_price("BTC/USDT", "60000")
        yield server


@pytest.fixture
def settings(database_url: str, tmp_path: Path, venue: FakeBinance) -> Settings:
    """The venue at ``exchange_base_urls``; a live broker waits 1 s per request and does not retry."""
    return load_settings(
        database_url=database_url,
        data_dir=tmp_path,
        security={"encryption_keys": [ENCRYPTION_KEY]},
        exchange_base_urls={"binance": venue.base_url},
        monitor={"broker_timeout_s": 1.0, "broker_retries": 0, "reconcile_interval_s": 0},
    )


def last_full_hour_ms() -> int:
    now = to_ms(utc_now())
    return now - now % HOUR_MS


async def store_bars(services: Services, first_open_ms: int, closes: list[float]) -> None:
    rows = np.array(
        [
            [first_open_ms + k * HOUR_MS, c, c + 5.0, c - 5.0, c, 10.0]
            for k, c in enumerate(closes)  # open = close: each bar is flat, only the closes move
        ],
        dtype=np.float64,
    )
    await import_candles(services.candles, KEY, "crypto", rows)


async def declining_history(services: Services) -> int:
    """100 bars falling 10 a bar, the last one closing an hour before the last full hour; that last close."""
    closes = [61_000.0 - 10.0 * k for k in range(100)]
    await store_bars(services, last_full_hour_ms() - 101 * HOUR_MS, closes)
    return int(closes[-1])


async def trader(services: Services, name: str = "ann") -> str:
    user = await services.accounts().create_user(OPERATOR, f"{name}@example.com", PASSWORD, Role.TRADER)
    return user.id


async def stored_key(services: Services, owner: str, label: str = "main") -> ExchangeKeyInfo:
    return await services.exchange_keys().add(owner, "binance", label, ExchangeCredentials(API_KEY, SECRET))


async def live_bot(services: Services, owner: str, account: str, name: str = "live-1") -> BotConfig:
    config = BotConfig.new(
        owner, name, "sma_cross", ["BTC/USDT"], Decimal(1000), account=account, mode=BotMode.LIVE,
        params={"fast": 3, "slow": 5}, risk=OPEN_LIMITS, now=utc_now(),
    )  # fmt: skip
    return await services.bots.create(config)


async def cycle(services: Services) -> BotCycleSummary:
    """One run of a new runner on the wall clock (a restarted process)."""
    return await build_bot_runner(services, services.notifications()).run()


def posts(venue: FakeBinance) -> list[dict[str, object]]:
    return [p for m, path, p in venue.requests if m == "POST" and path == ORDER]


def no_secret(lines: list[str]) -> None:
    for line in lines:
        assert API_KEY not in line and SECRET not in line and API_KEY[-8:] not in line, line


async def test_live_bot_enters_once_takes_its_fills_from_the_venue_and_closes(
    services: Services, venue: FakeBinance
) -> None:
    owner = await trader(services)
    key = await stored_key(services, owner)
    bot = await live_bot(services, owner, key.account)
    last = await declining_history(services)

    ran = await cycle(services)  # first seen: starts at the last closed bar, decides nothing yet
    assert ran.errors == [] and ran.live_bots == 1 and ran.reconciled == 1
    assert posts(venue) == []

    await store_bars(services, last_full_hour_ms() - HOUR_MS, [last + 2000.0])  # the jump: SMA3 crosses SMA5
    release = venue.hold_next_order()  # the venue books and fills the entry, its answer never arrives
    try:
        ran = await cycle(services)
        assert len(ran.errors) == 1, ran.errors
        assert key.account in ran.errors[0] and "repeated at the next cycle" in ran.errors[0]
        no_secret(ran.errors)
        sent = posts(venue)
        assert (
            len(sent) == 1 and sent[0]["type"] == "MARKET" and Decimal(str(sent[0]["quoteOrderQty"])) == 1000
        )
        cid = str(sent[0]["newClientOrderId"])
        assert (await services.orders.get(cid)).status is OrderStatus.NEW  # the answer was lost

        ran = await cycle(
            services
        )  # reconciliation finds it filled; the bot repeats its decision and takes the fill
        assert ran.errors == [] and ran.reconcile == [] and ran.reconcile_fixed == 1, ran
        assert ran.fills == 1 and ran.live_bots == 1
        assert len(posts(venue)) == 1  # the repeated decision found the stored order: nothing sent twice
        order = await services.orders.get(cid)
        assert order is not None and order.status is OrderStatus.FILLED
        venue_qty = order.filled_qty  # 1000 / 60000 on the 0.00001 lot
        assert venue_qty == Decimal("0.01666")
        memory = (await SqlBotMemory(services.db).load([bot.id]))[bot.id]
        sleeve = memory["bot"]["sleeves"]["BTC/USDT"]
        # Binance charges a buy's fee in BTC: the bot holds what the account received, on the lot
        assert sleeve["side"] == 1 and Decimal(sleeve["qty"]) == Decimal("0.01664")
        assert memory["taken"][cid]

        ran = await cycle(services)  # nothing new: nothing sent, nothing taken
        assert ran.errors == [] and ran.fills == 0 and len(posts(venue)) == 1
    finally:
        release.set()

    # the next bar falls hard: SMA3 crosses below SMA5, the bot sells what it holds at market
    await store_bars(services, last_full_hour_ms(), [last - 3000.0])
    venue.set_price("BTC/USDT", "59000")
    ran = await cycle(services)
    assert ran.errors == [] and ran.trades == 1 and ran.fills == 1, ran
    sell = posts(venue)[-1]
    assert sell["side"] == "SELL" and sell["quantity"] == "0.01664"
    trade = next(e for e in await services.bots.events(bot.id, limit=100) if e.kind == "trade")
    assert trade.data["exit_reason"] == "signal" and Decimal(trade.data["qty"]) == Decimal("0.01664")
    notes = (await SqlInboxStore(services.db).list(owner))[0]
    fills = [n for n in notes if n.type is NotificationType.TRADE_EXECUTED]
    assert len(fills) == 2 and all(n.data["mode"] == "live" for n in fills)


class AlphaSignals:
    """Provider ``alpha``'s open signals (our ProviderSignals port), as the posts tracked so far."""

    def __init__(self) -> None:
        self.posted: list[Any] = []

    async def open_signals(self, provider: str, *, base: str | None = None) -> list[Any]:
        return list(self.posted)


def follow_runner(services: Services, signals: AlphaSignals) -> BotRunner:
    """The cycle's runner (as ``build_bot_runner`` wires it) reading ``signals`` as the providers' signals."""
    live = LiveAccounts(
        StoredKeyBrokers(services.db, lambda: services.settings),
        services.orders,
        lambda: services.settings.monitor,
    )
    return BotRunner(
        services.bots, SqlBotMemory(services.db), services.orders, services.paper_ledger(), services.candles,
        lambda: services.settings.trading, signals=signals, live=live,
    )  # fmt: skip


def resting(venue: FakeBinance) -> list[dict[str, Any]]:
    return sorted(
        (o for o in venue.orders.values() if o["status"] in ("NEW", "PARTIALLY_FILLED")),
        key=lambda o: o["type"],
    )


async def test_protective_orders_rest_at_the_venue_their_fills_come_back_and_a_lost_stop_is_placed_again(
    services: Services, venue: FakeBinance
) -> None:
    owner = await trader(services)
    key = await stored_key(services, owner)
    config = BotConfig.new(
        owner, "copier", FOLLOW, ["BTC/USDT"], Decimal(1000), account=key.account, mode=BotMode.LIVE,
        provider="alpha", risk=OPEN_LIMITS, now=utc_now(),
    )  # fmt: skip
    bot = await services.bots.create(config)
    last = await declining_history(services)
    signals = AlphaSignals()
    assert (await follow_runner(services, signals).run()).errors == []  # first seen

    await store_bars(services, last_full_hour_ms() - HOUR_MS, [last - 10.0])  # a price to act on
    intent = SimpleNamespace(
        side=Side.LONG, entry=(), stop=Decimal(55000), targets=(Decimal(62000), Decimal(65000))
    )
    signals.posted.append(
        SimpleNamespace(
            id=1, post_id="p1", symbol="BTC/USDT", posted_at=utc_now(), provider="alpha", intent=intent
        )
    )
    ran = await follow_runner(services, signals).run()
    assert ran.errors == [] and ran.fills == 1, ran
    legs = resting(venue)  # the entry filled at once: its stop and two take-profits rest at the venue
    assert [(o["type"], o["side"], o["origQty"]) for o in legs] == [
        ("LIMIT", "SELL", "0.00832000"),
        ("LIMIT", "SELL", "0.00832000"),
        ("STOP_LOSS", "SELL", "0.01664000"),
    ]
    first_target = next(o for o in legs if o["price"] == "62000.00000000")
    venue.fill(first_target["clientOrderId"], "0.00832")  # the venue executes the first take-profit

    ran = await follow_runner(services, signals).run()  # reconciliation brings the fill back to the bot
    assert ran.errors == [] and ran.fills == 1 and ran.reconcile_fixed == 1, ran
    memory = (await SqlBotMemory(services.db).load([bot.id]))[bot.id]
    assert Decimal(memory["bot"]["sleeves"]["BTC/USDT"]["qty"]) == Decimal("0.00832")
    stop = next(o for o in resting(venue) if o["type"] == "STOP_LOSS")
    assert stop["origQty"] == "0.00832000"  # the stop was replaced for what is left

    # the venue drops the stop (expired, cancelled on the exchange's site): the bot places its protection again
    other = CcxtBroker("binance", api_key=API_KEY, secret=SECRET, api_urls=venue.api_urls, retries=0)
    try:
        await other.cancel(stop["clientOrderId"], "BTC/USDT")
    finally:
        await other.close()
    ran = await follow_runner(services, signals).run()
    assert ran.errors == [] and ran.reconcile == [], ran
    now_resting = resting(venue)
    assert [(o["type"], o["origQty"]) for o in now_resting] == [
        ("LIMIT", "0.00832000"),
        ("STOP_LOSS", "0.00832000"),
    ]
    assert stop["clientOrderId"] not in {o["clientOrderId"] for o in now_resting}
    notes = [e.message for e in await services.bots.events(bot.id, limit=100) if e.kind == "note"]
    assert any(stop["clientOrderId"] in n and "placed again" in n for n in notes), notes


async def test_reconciliation_reports_each_difference_in_a_readable_line_and_tells_the_owner(
    services: Services, venue: FakeBinance
) -> None:
    owner = await trader(services)
    key = await stored_key(services, owner)
    # in tsbot but never at the venue: stored NEW 10 minutes ago (its request was lost)
    lost = OrderRequest(
        client_order_id("lost", "order"), key.account, "BTC/USDT", OrderSide.BUY, OrderType.LIMIT,
        Decimal("0.001"), price=Decimal("50000"),
    )  # fmt: skip
    assert await services.orders.add(Order.new(lost, utc_now() - timedelta(minutes=10)))
    # at the venue but not in tsbot: a resting order someone placed on the exchange's own site
    other = CcxtBroker("binance", api_key=API_KEY, secret=SECRET, api_urls=venue.api_urls, retries=0)
    try:
        await other.place(
            OrderRequest(
                "manual-7",
                key.account,
                "BTC/USDT",
                OrderSide.BUY,
                OrderType.LIMIT,
                Decimal("0.001"),
                price=Decimal("50000"),
            )  # fmt: skip
        )
    finally:
        await other.close()
    await declining_history(services)  # so the cycle has series to scan

    summary = await build_cycle(services).run()
    lines = [x for x in summary.error_details if x.startswith("reconcile: ")]
    assert len(lines) == 2, summary.error_details
    assert any(
        "manual-7" in x and "is at the venue but not in tsbot (placed elsewhere); left untouched" in x
        for x in lines
    ), lines
    assert any(lost.client_order_id in x and "never reached the venue" in x for x in lines), lines
    assert all(f"{key.account} (main)" in x for x in lines)
    no_secret(summary.error_details)
    assert (await services.orders.get(lost.client_order_id)).status is OrderStatus.CANCELLED
    notes = (await SqlInboxStore(services.db).list(owner))[0]
    system = [n for n in notes if n.type is NotificationType.SYSTEM]
    assert len(system) == 2 and any("manual-7" in n.body for n in system), [n.body for n in system]

    # the venue's stray order is still there: with a bot on the account it is reconciled again and reported
    # again, but its owner is not told twice
    bot = await live_bot(services, owner, key.account)
    ran = await cycle(services)
    assert len(ran.reconcile) == 1 and "manual-7" in ran.reconcile[0] and ran.live_bots == 1
    notes = (await SqlInboxStore(services.db).list(owner))[0]
    assert len([n for n in notes if n.type is NotificationType.SYSTEM]) == 2

    # one runner reconciles an account at most every monitor.reconcile_interval_s; its bot still runs each cycle
    services.settings = services.settings.model_copy(
        update={"monitor": services.settings.monitor.model_copy(update={"reconcile_interval_s": 3600.0})}
    )
    runner = build_bot_runner(services)
    asked = venue.count(OPEN_ORDERS)
    first, second = await runner.run(), await runner.run()
    assert (first.reconciled, second.reconciled) == (1, 0) and venue.count(OPEN_ORDERS) == asked + 1
    assert second.live_bots == 1 and bot.id in await SqlBotMemory(services.db).load([bot.id])


async def test_a_key_with_neither_bots_nor_working_orders_is_not_asked(
    services: Services, venue: FakeBinance
) -> None:
    owner = await trader(services)
    await stored_key(services, owner)
    ran = await cycle(services)
    assert ran.errors == [] and ran.reconciled == 0 and venue.requests == []


async def test_bad_input_dead_venue_undecryptable_key_and_a_strangers_key(
    services: Services, venue: FakeBinance
) -> None:
    """Bad input: the venue answering 500, then timing out; a stored key that the configured Fernet key cannot open;
    a bot on another user's key. Each is a line naming the account, and the paper bot of the cycle still runs."""
    owner = await trader(services)
    key = await stored_key(services, owner)
    await live_bot(services, owner, key.account)
    other_vault = KeyVault([KeyVault.generate_key()])
    locked = await SqlExchangeKeyStore(services.db, other_vault).add(
        owner, "binance", "old", ExchangeCredentials(API_KEY, SECRET)
    )
    await live_bot(services, owner, locked.account, name="locked")
    mallory = await trader(services, "mallory")
    await live_bot(services, mallory, key.account, name="borrowed")
    info = await services.portfolios.create(owner, "paper", "USDT")
    await services.portfolios.attach_account(info.id, f"paper:{info.id}", "paper", AssetClass.CRYPTO)
    paper = BotConfig.new(
        owner, "paper-1", "sma_cross", ["BTC/USDT"], Decimal(1000), account=f"paper:{info.id}",
        params={"fast": 3, "slow": 5}, risk=OPEN_LIMITS, now=utc_now(),
    )  # fmt: skip
    await services.bots.create(paper)
    await declining_history(services)

    venue.fail(EXCHANGE_INFO, 1, Fault.SERVER_ERROR)
    ran = await cycle(services)
    assert ran.bots == 1 and ran.live_bots == 0  # the paper bot ran
    by_account = {a: [x for x in ran.errors if a in x] for a in (key.account, locked.account)}
    assert any("Internal error" in x for x in by_account[key.account]), ran.errors
    assert any("no longer configured" in x and "'old'" in x for x in by_account[locked.account]), ran.errors
    assert any("borrowed" in x and "another user" in x for x in ran.errors), ran.errors
    no_secret(ran.errors)

    venue.fail(OPEN_ORDERS, 1, Fault.STALL)  # 3 s: longer than the broker's 1 s timeout
    ran = await cycle(services)
    assert any(key.account in x and "did not answer" in x and "RequestTimeout" in x for x in ran.errors), (
        ran.errors
    )
    no_secret(ran.errors)
    assert ran.live_bots == 0  # its bot waits for a view of the account it can trust

    ran = await cycle(services)  # the venue answers again
    assert ran.live_bots == 1 and not any(key.account in x and "did not answer" in x for x in ran.errors)
    assert any(locked.account in x for x in ran.errors)  # the key stays unreadable until it is entered again
