"""The work behind ``tsbot bot replay``: a stored bot paper-traded over stored candles, its results stored, and the
backtest of the same bars for comparison."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import replace
from datetime import date
from decimal import Decimal
from typing import Any

from tsbot.backtest.data import choose_series, load_series
from tsbot.backtest.models import BacktestConfig
from tsbot.backtest.runner import run_strategy
from tsbot.backtest.strategies import build_strategy
from tsbot.core.enums import AssetClass
from tsbot.core.errors import ConfigError, DataError
from tsbot.core.time import from_ms
from tsbot.market.models import Timeframe
from tsbot.trading.bot import BotSettings, SignalBot
from tsbot.trading.bots import FOLLOW, BotConfig
from tsbot.trading.paper import PaperBroker
from tsbot.trading.performance import DailySnapshot
from tsbot.trading.replay import ReplayClock, paper_costs, paper_rules, replay
from tsbot.trading.service import OrderService
from tsbot.wiring import Services

DEFAULT_DAYS = 90
_DAY_MS = 86_400_000


async def run_replay(
    services: Services,
    bot: BotConfig,
    config: BacktestConfig,
    start_ms: int | None,
    end_ms: int | None,
    progress: Callable[[int, int], None],
) -> dict[str, Any]:
    """Replay ``bot`` (running, on a paper account) over ``[start_ms, end_ms]`` (default: the last 90 days).

    Raises:
        ConfigError: a follow bot (it trades a provider's posts as they arrive) or a bot on a live account.
        DataError: its pairs have no stored candles at its timeframe.
    """
    if bot.strategy == FOLLOW:
        raise ConfigError(
            f"bot {bot.name} follows {bot.provider}: it trades posts as they arrive, not candles"
        )
    if not bot.account.startswith("paper:"):
        raise ConfigError(
            f"bot {bot.name} trades the live account {bot.account}: only paper bots are replayed"
        )
    trading = services.settings.trading
    strategy = build_strategy(bot.strategy, trading, bot.params)
    config = replace(config, initial_equity=float(bot.capital))
    infos = await choose_series(services.candles, list(bot.pairs), Timeframe.parse(bot.timeframe), trading)
    data = await load_series(services.candles, services.headlines, infos, trading, end_ms=end_ms)
    data = [d for d in data if len(d.candles)]
    if not data:
        raise DataError(f"no stored candles for {', '.join(bot.pairs)} at {bot.timeframe}")
    last = max(int(d.candles.open_time_ms[-1]) for d in data)
    start_ms = start_ms if start_ms is not None else last - DEFAULT_DAYS * _DAY_MS
    classes = {i.key.symbol: AssetClass(i.asset_class) for i in infos}
    rules = {
        d.key.symbol: paper_rules(d.key.symbol, classes[d.key.symbol], float(d.candles.close[-1]))
        for d in data
    }
    share = bot.capital / len(bot.pairs)
    balances: dict[str, Decimal] = {}
    for symbol in rules:
        quote = symbol.split("/", 1)[1]
        balances[quote] = balances.get(quote, Decimal(0)) + share
    # daily stock bars close after the session: their orders fill at the next open, as market-on-open orders
    limits = replace(bot.risk, stock_market_hours_only=False)
    clock = ReplayClock()
    broker = PaperBroker(bot.account, rules=rules, balances=balances, costs=paper_costs(config), clock=clock)
    service = OrderService(services.orders, broker, bot.account, clock=clock)
    run_id = uuid.uuid4().hex[:12]  # each replay's orders get their own client ids
    settings = BotSettings(
        f"{bot.id}:{run_id}", bot.account, share * len(rules), tuple(rules), config, limits
    )
    signal_bot = SignalBot(settings, strategy, service, rules=rules, clock=clock)
    portfolio_id = bot.account.split(":", 1)[1]
    days: list[date] = []

    async def daily(day: date, b: SignalBot) -> None:
        equity, cash = b.equity(), b.cash()
        realised = sum((t.pnl for t in b.trades), Decimal(0))
        fees = sum((t.fees for t in b.trades), Decimal(0))
        snapshot = DailySnapshot(
            day, equity, cash, equity - cash, realised, equity - settings.capital - realised, fees
        )
        await services.portfolios.save_snapshot(portfolio_id, snapshot)
        days.append(day)

    frames = {d.key.symbol: d.candles for d in data}
    contexts = {d.key.symbol: d.context for d in data}
    bar_ms = Timeframe.parse(bot.timeframe).ms
    result = await replay(
        signal_bot, broker, clock, frames, bar_ms=bar_ms, contexts=contexts, start_ms=start_ms, end_ms=end_ms,
        progress=progress, daily=daily,
    )  # fmt: skip
    refused = 0
    for event in result.events:
        if event.kind != "order":
            refused += event.kind == "refused"
            await services.bots.add_event(bot.id, event.at, event.kind, f"replay {run_id}: {event.message}")
    pnl = result.equity - settings.capital
    await services.bots.add_event(
        bot.id, clock(), "replay", f"replay {run_id}: {len(result.trades)} trades, P&L {pnl:.2f} over "
        f"{result.bars} bars", {"trades": len(result.trades), "pnl": f"{pnl:.2f}", "bars": result.bars},
    )  # fmt: skip
    tested = run_strategy(strategy, data, config, start_ms=start_ms, end_ms=end_ms)
    orders = await services.orders.recent(accounts=[bot.account], limit=10**9)
    return {
        "paper": {"trades": len(result.trades), "equity": f"{result.equity:.2f}", "pnl": f"{pnl:.2f}"},
        "backtest": {
            "trades": len(tested.trades),
            "equity": f"{tested.equity[-1]:.2f}",
            "pnl": f"{tested.equity[-1] - float(settings.capital):.2f}",
        },
        "bars": result.bars,
        "start": from_ms(start_ms).strftime("%Y-%m-%d %H:%M"),
        "end": from_ms(last).strftime("%Y-%m-%d %H:%M"),
        "orders": len(orders),
        "refused": refused,
        "days": len(days),
        "portfolio": portfolio_id,
    }
