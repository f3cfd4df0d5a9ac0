"""Users' paper bots run by the monitoring cycle (:class:`tsbot.monitor.bot_runner.BotRunner`).

Each cycle builds a new runner, so the bot lives only in the database between cycles (as after a restart). Over
many cycles of a few bars each, the bot must make exactly the trades the bar-by-bar replay makes over the same bars.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

import pytest
from monitor_data import import_crypto
from tests.support.risk import OPEN_LIMITS as OPEN

from tsbot.adapters.storage.bot_runs import SqlBotMemory
from tsbot.apps.worker.runtime import build_bot_runner
from tsbot.backtest.strategies import build_strategy
from tsbot.core.enums import AssetClass
from tsbot.core.time import from_ms, to_ms, utc_now
from tsbot.trading.bot import SignalBot
from tsbot.trading.bot_state import BotSettings, engine_config
from tsbot.trading.bots import ApprovalStatus, BotConfig, BotStatus
from tsbot.trading.memory import MemoryOrderStore
from tsbot.trading.paper import PaperBroker
from tsbot.trading.replay import ReplayClock, paper_costs, paper_rules, replay
from tsbot.trading.service import OrderService
from tsbot.wiring import Services

HOUR = timedelta(hours=1)
CAPITAL = Decimal(10_000)


async def paper_bot(services: Services, symbol: str, **kw: object) -> BotConfig:
    info = await services.portfolios.create("local", f"bots-{kw.get('name', 'runner')}", "USDT")
    account = f"paper:{info.id}"
    await services.portfolios.attach_account(info.id, account, "paper", AssetClass.CRYPTO)
    name = str(kw.pop("name", "runner"))
    config = BotConfig.new(
        "local", name, "sma_cross", [symbol], CAPITAL, account=account, risk=OPEN, now=utc_now(), **kw
    )  # type: ignore[arg-type]
    return await services.bots.create(config)


async def last_open(services: Services, symbol: str) -> datetime:
    info = next(i for i in await services.candles.series() if i.key.symbol == symbol)
    return from_ms(info.last_open_ms)


async def trade_events(services: Services, bot_id: str) -> list[dict[str, str]]:
    return [e.data for e in reversed(await services.bots.events(bot_id, limit=10_000)) if e.kind == "trade"]


async def test_bot_run_cycle_by_cycle_makes_the_replays_trades(services: Services) -> None:
    (symbol,) = await import_crypto(services, 1)
    bot = await paper_bot(services, symbol)
    end = await last_open(services, symbol)
    first = end - 400 * HOUR  # the first cycle's time: the bot starts after the bar closing then
    steps = [first + k * 7 * HOUR for k in range(58)]  # 7 bars per cycle, ~400 bars in all
    fills = 0
    for as_of in steps:
        ran = await build_bot_runner(services).run(as_of)
        assert ran.errors == [] and ran.bots == 1
        fills += ran.fills
    got = await trade_events(services, bot.id)

    # the reference: the same bars through the domain replay, in memory
    info = next(i for i in await services.candles.series() if i.key.symbol == symbol)
    frame = (await services.candles.load(info.key, limit=10**9)).until(to_ms(steps[-1]) - 3_600_000)
    strategy = build_strategy("sma_cross", services.settings.trading)
    config = strategy.broker(engine_config(OPEN))
    rules = {symbol: paper_rules(symbol, AssetClass.CRYPTO, float(frame.close[-1]))}
    clock = ReplayClock()
    broker = PaperBroker(
        "paper:ref", rules=rules, balances={"USDT": CAPITAL}, costs=paper_costs(config), clock=clock
    )
    service = OrderService(MemoryOrderStore(), broker, "paper:ref", clock=clock)
    settings = BotSettings("ref", "paper:ref", CAPITAL, (symbol,), engine_config(OPEN), OPEN)
    ref = SignalBot(settings, strategy, service, rules=rules, clock=clock)
    start_ms = to_ms(first)  # bars opening at or after the first cycle's time closed after it
    result = await replay(ref, broker, clock, {symbol: frame}, bar_ms=3_600_000, start_ms=start_ms)
    want = [t for t in result.trades if t.exit_reason != "end_of_data"]
    assert len(want) >= 3, "the window must hold trades to compare"
    assert [(g["entry_at"], g["exit_at"], g["qty"], g["pnl"], g["exit_reason"]) for g in got] == [
        (t.entry_at.isoformat(), t.exit_at.isoformat(), f"{t.qty:f}", f"{t.pnl:f}", t.exit_reason)
        for t in want
    ]
    assert fills >= 2 * len(want)
    # the account's balances are its ledger plus its stored fills: the deposit, then the trades' P&L
    orders = await services.orders.recent(accounts=[bot.account], limit=10_000)
    assert orders and all(o.request.account == bot.account for o in orders)


async def test_paused_bot_opens_nothing_and_a_stopped_bot_winds_down(services: Services) -> None:
    (symbol,) = await import_crypto(services, 1)
    bot = await paper_bot(services, symbol)
    end = await last_open(services, symbol)
    t = end - 300 * HOUR
    await build_bot_runner(services).run(t)
    # run until the bot holds a position
    for _ in range(60):
        t += 5 * HOUR
        await build_bot_runner(services).run(t)
        state = (await SqlBotMemory(services.db).load([bot.id]))[bot.id]
        if state["bot"]["sleeves"][symbol]["side"]:
            break
    else:
        pytest.fail("sma_cross never entered in 300 bars")
    await services.bots.set_status(bot.id, BotStatus.PAUSED, "holiday", utc_now())
    entries_before = await services.orders.recent(accounts=[bot.account], limit=10_000)
    for _ in range(20):
        t += 5 * HOUR
        await build_bot_runner(services).run(t)
    after = await services.orders.recent(accounts=[bot.account], limit=10_000)
    new = [o for o in after if o.client_order_id not in {x.client_order_id for x in entries_before}]
    assert all(o.request.reduce_only for o in new), "a paused bot placed a new entry"

    await services.bots.set_status(bot.id, BotStatus.STOPPED, "done", utc_now())
    for _ in range(3):
        t += HOUR
        await build_bot_runner(services).run(t)
    state = (await SqlBotMemory(services.db).load([bot.id]))[bot.id]
    assert state["finished"] is True
    assert state["bot"]["sleeves"][symbol]["side"] == 0
    assert await services.orders.working(bot.account) == []
    ran = await build_bot_runner(services).run(t + HOUR)
    assert ran.bots == 0  # a finished bot is not run again


async def test_approval_mode_waits_for_a_person(services: Services) -> None:
    (symbol,) = await import_crypto(services, 1)
    await paper_bot(services, symbol, approval=True, name="asks")
    end = await last_open(services, symbol)
    t = end - 300 * HOUR
    await build_bot_runner(services).run(t)
    pending = []
    for _ in range(60):
        t += 5 * HOUR
        await build_bot_runner(services).run(t)
        pending = await services.bots.approvals("local", ApprovalStatus.PENDING)
        if pending:
            break
    assert pending, "the bot proposed nothing in 300 bars"
    cid = pending[0].request.client_order_id
    assert await services.orders.get(cid) is None  # nothing sent before the decision
    await services.bots.decide(pending[0].id, "local", True, "local", utc_now())
    await build_bot_runner(services).run(t)  # the same time: the decision alone is applied
    sent = await services.orders.get(cid)
    assert sent is not None and sent.request.symbol == symbol


async def test_bad_inputs_are_reported_and_other_bots_still_run(services: Services) -> None:
    """Bad input: a bot on a pair with no stored candles, and a bot whose stored memory is of an unknown version."""
    (symbol,) = await import_crypto(services, 1)
    good = await paper_bot(services, symbol, name="good")
    info = await services.portfolios.create("local", "nowhere", "USDT")
    lost = BotConfig.new(
        "local", "lost", "sma_cross", ["NOPE/USDT"], CAPITAL, account=f"paper:{info.id}", now=utc_now()
    )
    await services.bots.create(lost)
    t = await last_open(services, symbol) - 50 * HOUR
    ran = await build_bot_runner(services).run(t)
    assert ran.bots == 1
    assert any("NOPE/USDT" in line for line in ran.errors), ran.errors

    await SqlBotMemory(services.db).save(good.id, {"version": 99, "bot": {"version": 99}}, utc_now())
    ran = await build_bot_runner(services).run(t + HOUR)
    assert any("version 99" in line for line in ran.errors), ran.errors
