"""A bot that follows a provider's signals, and a bot in approval mode, replayed on the paper broker over candles
with orders and approvals on a real database (SQLite file and PostgreSQL)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal as D

import numpy as np
from tests.support.risk import OPEN_LIMITS as LIMITS

from tsbot.backtest.models import BacktestConfig
from tsbot.market.models import CandleFrame
from tsbot.trading.bot import SignalBot
from tsbot.trading.bot_state import BotSettings, ProviderSignal
from tsbot.trading.bots import Approval, ApprovalStatus, BotConfig, approval_summary
from tsbot.trading.models import MarketRules, OrderRequest, OrderStatus
from tsbot.trading.paper import Bar, PaperBroker
from tsbot.trading.replay import ReplayClock, paper_costs, replay
from tsbot.trading.service import OrderService
from tsbot.wiring import Services

T0 = datetime(2026, 3, 2, tzinfo=UTC)
HOUR_MS = 3_600_000
RULES = {"BTC/USDT": MarketRules("BTC/USDT", D("0.01"), D("0.0001"), D("0.0001"), D("10"))}


def candles(rows: list[tuple[float, float, float, float]]) -> CandleFrame:
    """Hourly bars from T0: (open, high, low, close), volume 10."""
    t0 = int(T0.timestamp() * 1000)
    arr = np.array([(t0 + i * HOUR_MS, o, h, lo, c, 10.0) for i, (o, h, lo, c) in enumerate(rows)])
    return CandleFrame.from_rows(arr)


def at(hours: float) -> datetime:
    return T0 + timedelta(hours=hours)


def make_bot(services: Services, account: str, bot_id: str, clock: ReplayClock, **kw: object):
    config = BacktestConfig(fraction_ratio=0.5)
    broker = PaperBroker(
        account, rules=RULES, balances={"USDT": D(10_000)}, costs=paper_costs(config), clock=clock
    )
    service = OrderService(services.orders, broker, account, clock=clock)
    settings = BotSettings(bot_id, account, D(10_000), ("BTC/USDT",), config, LIMITS)
    return SignalBot(settings, None, service, rules=RULES, clock=clock, **kw), broker


BARS = [
    (100, 101, 99, 100),  # 00:00 the signal is posted at 00:30 and acted on at this bar's close
    (100, 104, 99, 103),  # 01:00 the entry fills at this open (100); stop 95, targets 104 and 110
    (103, 106, 102, 105),  # 02:00 the first target (104) fills
    (105, 105, 94, 96),  # 03:00 the stop (95) closes the rest
    (96, 97, 95, 96),
]


async def test_a_follow_bot_trades_a_providers_signal_with_its_stop_and_targets(services: Services) -> None:
    clock = ReplayClock()
    bot, broker = make_bot(services, "paper:follow", "follow-1", clock)
    signals = [
        ProviderSignal("17", "BTC/USDT", 1, at(0.5), (D(98), D(102)), D(95), (D(104), D(110)), "alpha"),
        # bad input: a signal whose entry zone the price never reaches, and one for a pair the bot does not trade
        ProviderSignal("18", "BTC/USDT", 1, at(3.5), (D(150), D(160)), D(140), (D(170),), "alpha"),
        ProviderSignal("19", "ETH/USDT", 1, at(0.5), (), None, (), "alpha"),
    ]
    result = await replay(bot, broker, clock, {"BTC/USDT": candles(BARS)}, bar_ms=HOUR_MS, signals=signals)
    (trade,) = result.trades
    # 50 % of 10000 spent at 100 with a 0.1 % fee: 49.95 BTC; half at 104, the rest stopped at 95
    assert (trade.entry_price, trade.qty, trade.exits, trade.exit_reason) == (
        D(100),
        D("49.95"),
        2,
        "stop_loss",
    )
    assert trade.entry_at == at(1) and trade.exit_at == at(3)
    notes = [e.message for e in result.events if e.kind == "note"]
    assert any("signal 18 skipped: the price 96 is outside the entry zone 150-160" in n for n in notes)
    assert any("signal 19: ETH/USDT is not one of the bot's pairs" in n for n in notes)
    entry = [e.message for e in result.events if e.kind == "order" and "alpha buy signal 17" in e.message]
    assert entry == ["alpha buy signal 17: open"]


async def test_approval_mode_holds_an_entry_until_a_person_approves_it(services: Services) -> None:
    owner = "trader-1"
    stored_bot = await services.bots.create(
        BotConfig.new(owner, "careful", "follow", "BTC/USDT", 10_000, account="paper:ap", provider="alpha",
                      approval=True, now=T0)
    )  # fmt: skip
    clock = ReplayClock()

    async def propose(request: OrderRequest) -> None:
        summary = approval_summary(stored_bot.name, request)
        await services.bots.propose(Approval.new(owner, request, summary, now=clock(), bot_id=stored_bot.id))

    bot, broker = make_bot(services, "paper:ap", stored_bot.id, clock, propose=propose)
    frame = candles(BARS)
    clock.now = at(1)  # the close of the 00:00 bar; the signal was posted at 00:30
    await bot.on_fills(broker.on_candle("BTC/USDT", Bar.of(frame, 0)))
    await bot.on_close("BTC/USDT", frame.window(0, 1))
    signal = ProviderSignal("17", "BTC/USDT", 1, at(0.5), (), D(95), (D(104),), "alpha")
    assert await bot.on_signal(signal)
    assert [e.kind for e in bot.events] == ["approval"]
    (pending,) = await services.bots.approvals(owner, ApprovalStatus.PENDING)
    assert pending.summary.startswith("careful wants to BUY") and "alpha buy signal 17" in pending.summary
    cid = pending.request.client_order_id
    assert await services.orders.get(cid) is None  # nothing was sent while it waits
    assert list(bot.awaiting) == [cid]

    # a person approves: the entry is sent now and fills at the next open
    decided = await services.bots.decide(pending.id, owner, True, owner, clock())
    assert decided.status is ApprovalStatus.APPROVED
    assert await bot.on_approved(cid) == cid
    fills = broker.open_bar("BTC/USDT", Bar.of(frame, 1))
    await bot.on_fills(fills)
    stored = await services.orders.get(cid)
    assert stored is not None and stored.status is OrderStatus.FILLED and bot.awaiting == {}
    legs = [e.message for e in bot.events if e.kind == "order" and "position" in e.message]
    assert legs == [
        "stop-loss of the BTC/USDT position: open",
        "take-profit 1 of the BTC/USDT position: open",
    ]

    # bad input: approving the same entry twice sends nothing more; a declined one is dropped with its reason
    assert await bot.on_approved(cid) is None
    # bad input: a short signal on a spot account: the risk check refuses the short (the long is closed first)
    await bot.on_signal(ProviderSignal("21", "BTC/USDT", -1, at(2), (), None, (), "alpha"))
    assert bot.events[-1].kind == "refused" and "shorting is not allowed" in bot.events[-1].message
