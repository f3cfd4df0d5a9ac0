"""A bot's memory written as JSON and read back into a new bot (:mod:`tsbot.trading.bot_snapshot`)."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from tsbot.backtest.models import BacktestConfig
from tsbot.core.errors import DataError
from tsbot.trading.bot import SignalBot
from tsbot.trading.bot_snapshot import bot_snapshot, forget_settled, open_orders, restore_bot
from tsbot.trading.bot_state import BotSettings, EntryPlan
from tsbot.trading.memory import MemoryOrderStore
from tsbot.trading.models import MarketRules, OrderRequest, OrderSide, OrderType
from tsbot.trading.paper import PaperBroker
from tsbot.trading.risk import RiskLimits
from tsbot.trading.service import OrderService

T0 = datetime(2024, 3, 1, 12, tzinfo=UTC)
PAIRS = ("BTC/USDT", "ETH/USDT")


def new_bot() -> SignalBot:
    rules = {p: MarketRules(p, Decimal("0.01"), Decimal("0.0001")) for p in PAIRS}
    broker = PaperBroker("paper:t", rules=rules, balances={"USDT": Decimal(1000)}, clock=lambda: T0)
    service = OrderService(MemoryOrderStore(), broker, "paper:t", clock=lambda: T0)
    settings = BotSettings("b1", "paper:t", Decimal(1000), PAIRS, BacktestConfig(), RiskLimits())
    return SignalBot(settings, None, service, rules=rules, clock=lambda: T0)


def busy_bot() -> SignalBot:
    bot = new_bot()
    s = bot._sleeves["BTC/USDT"]
    s.side, s.qty, s.qty0, s.entry_px, s.entry_at = (
        1,
        Decimal("0.0123"),
        Decimal("0.02"),
        Decimal("61234.5"),
        T0,
    )
    s.plan = EntryPlan(
        1, Decimal(60000), [Decimal(63000), Decimal(65000)], [Decimal("0.5"), Decimal("0.5")], None
    )
    s.pending["cid-pending"] = EntryPlan(-1, None, [], [], Decimal("150.25"))
    s.legs, s.stop_leg, s.entry_cid, s.base_stop, s.stop = (
        ["leg-1", "leg-2"],
        "leg-1",
        "cid-entry",
        None,
        None,
    )
    bot._roles = {
        "cid-entry": ("BTC/USDT", "entry"),
        "leg-1": ("BTC/USDT", "stop"),
        "old": ("ETH/USDT", "exit"),
    }
    request = OrderRequest("cid-wait", "paper:t", "ETH/USDT", OrderSide.BUY, OrderType.MARKET, Decimal("0.5"))
    bot.awaiting["cid-wait"] = (request, Decimal("3000.1"))
    bot.state.last_stop_out_at["ETH/USDT"] = T0
    bot.state.positions["BTC/USDT"] = Decimal("0.0123")
    bot.stopped_reason, bot.day = "daily loss over 5%", date(2024, 3, 1)
    return bot


def test_a_snapshot_survives_json_and_a_new_bot() -> None:
    bot = busy_bot()
    data = json.loads(json.dumps(bot_snapshot(bot)))
    again = new_bot()
    restore_bot(again, data)
    assert bot_snapshot(again) == bot_snapshot(bot)
    s = again._sleeves["BTC/USDT"]
    assert (
        s.qty == Decimal("0.0123") and s.entry_at == T0 and s.plan is not None and s.plan.targets[1] == 65000
    )
    assert again.awaiting["cid-wait"][0].qty == Decimal("0.5") and again.day == date(2024, 3, 1)
    assert open_orders(again) == {"cid-wait", "cid-pending", "leg-1", "leg-2", "cid-entry"}
    forget_settled(again, open_orders(again))
    assert not again.owns("old") and again.owns("leg-1")


@pytest.mark.parametrize(
    ("where", "value", "message"),
    [
        ("qty", "lots", "where a number belongs"),
        ("entry_at", "2024-03-01T12:00:00", "naive time"),
        ("entry_at", "yesterday", "where a time belongs"),
        ("colour", "red", "does not know: colour"),
    ],
)
def test_a_damaged_snapshot_is_refused_clearly(where: str, value: str, message: str) -> None:
    """Bad input: a quantity that is not a number, a time without an offset, a time that is not one, an unknown
    field."""
    data = json.loads(json.dumps(bot_snapshot(busy_bot())))
    data["sleeves"]["BTC/USDT"][where] = value
    with pytest.raises(DataError, match=message):
        restore_bot(new_bot(), data)


def test_another_version_is_refused() -> None:
    data = bot_snapshot(busy_bot()) | {"version": 2}
    with pytest.raises(DataError, match="version 2"):
        restore_bot(new_bot(), data)
