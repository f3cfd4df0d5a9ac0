"""The work behind ``tsbot bot replay``: a stored bot paper-traded over stored candles, its results stored, and the
backtest of the same bars for comparison.

A follow bot is replayed on its provider's tracked signals (:mod:`tsbot.intake.tracking`) posted on its pairs in
the window, each handed to the bot at the first close after it was posted; it has no strategy, so there is no
backtest to compare with (``backtest`` is None in the report).
"""

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
from tsbot.intake.scoring import resolve_symbol
from tsbot.intake.tracking import SignalStatus
from tsbot.market.models import Timeframe
from tsbot.trading.bot import BotSettings, SignalBot
from tsbot.trading.bot_state import ProviderSignal
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

    Returns the report: ``paper`` and ``backtest`` (trades, equity, pnl as strings; ``backtest`` None for a follow
    bot), ``follows`` (a follow bot: provider, signals handed to it, its skips with their reasons; else None), bars,
    window (UTC), orders, refusals, daily snapshots and the portfolio id.

    Raises:
        ConfigError: a bot on a live account.
        DataError: its pairs have no stored candles at its timeframe; a follow bot whose provider posted no
            tracked signal on its pairs in the window (nothing to follow).
    """
    if not bot.account.startswith("paper:"):
        raise ConfigError(
            f"bot {bot.name} trades the live account {bot.account}: only paper bots are replayed"
        )
    trading = services.settings.trading
    follow = bot.strategy == FOLLOW
    strategy = None if follow else build_strategy(bot.strategy, trading, bot.params)
    config = replace(config, initial_equity=float(bot.capital))
    bar_ms = Timeframe.parse(bot.timeframe).ms
    infos = await choose_series(services.candles, list(bot.pairs), Timeframe.parse(bot.timeframe), trading)
    headlines = None if follow else services.headlines  # sentiment is read by strategies only
    data = await load_series(services.candles, headlines, infos, trading, end_ms=end_ms)
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
    signals: list[ProviderSignal] = []
    if follow:
        signals = await followed_signals(services, bot, list(rules), start_ms, last + bar_ms)
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
    result = await replay(
        signal_bot, broker, clock, frames, bar_ms=bar_ms, contexts=contexts, start_ms=start_ms, end_ms=end_ms,
        progress=progress, daily=daily, signals=signals,
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
    backtest: dict[str, Any] | None = None
    if strategy is not None:
        tested = run_strategy(strategy, data, config, start_ms=start_ms, end_ms=end_ms)
        backtest = {
            "trades": len(tested.trades),
            "equity": f"{tested.equity[-1]:.2f}",
            "pnl": f"{tested.equity[-1] - float(settings.capital):.2f}",
        }
    followed: dict[str, Any] | None = None
    if follow:
        mine = f"{bot.provider} signal "
        skips = [e.message for e in result.events if e.kind == "note" and e.message.startswith(mine)]
        followed = {"provider": bot.provider, "signals": len(signals), "skipped": skips}
    orders = await services.orders.recent(accounts=[bot.account], limit=10**9)
    return {
        "paper": {"trades": len(result.trades), "equity": f"{result.equity:.2f}", "pnl": f"{pnl:.2f}"},
        "backtest": backtest,
        "follows": followed,
        "bars": result.bars,
        "start": from_ms(start_ms).strftime("%Y-%m-%d %H:%M"),
        "end": from_ms(last).strftime("%Y-%m-%d %H:%M"),
        "orders": len(orders),
        "refused": refused,
        "days": len(days),
        "portfolio": portfolio_id,
    }


async def followed_signals(
    services: Services, bot: BotConfig, pairs: list[str], start_ms: int, end_ms: int
) -> list[ProviderSignal]:
    """The tracked signals of ``bot.provider`` posted in ``[start_ms, end_ms]`` (ms since the epoch, UTC) on one
    of ``pairs``, oldest first, each with its symbol resolved to that pair (``BTC`` and ``BTCUSDT`` read as
    ``BTC/USDT``). Every status counts: a signal the provider later closed or withdrew was open when posted.

    Raises:
        DataError: no such signal; the message says where the provider's signals are, so that the window or the
            pairs can be fixed.
    """
    provider = bot.provider or ""
    store = services.tracked_signals
    tracked = [
        s for status in SignalStatus for s in await store.by_status(status, provider=provider, limit=10**9)
    ]
    start, end = from_ms(start_ms), from_ms(end_ms)
    out: list[ProviderSignal] = []
    for t in sorted(tracked, key=lambda t: (t.posted_at, t.id or 0)):
        pair = resolve_symbol(t.symbol, pairs)
        if pair is not None and start <= t.posted_at <= end:
            out.append(replace(ProviderSignal.from_tracked(t), symbol=pair))
    if out:
        return out
    window = f"between {start:%Y-%m-%d %H:%M} and {end:%Y-%m-%d %H:%M} UTC"
    what = f"provider {provider} posted no tracked signal on {', '.join(pairs)} {window}"
    on_pairs = [t.posted_at for t in tracked if resolve_symbol(t.symbol, pairs) is not None]
    if on_pairs:
        hint = (
            f"its {len(on_pairs)} signal(s) on them were posted from {min(on_pairs):%Y-%m-%d %H:%M} to "
            f"{max(on_pairs):%Y-%m-%d %H:%M} UTC: choose a window with --start and --end"
        )
    elif tracked:
        others = sorted({t.symbol for t in tracked})
        hint = f"its {len(tracked)} tracked signal(s) are on {', '.join(others)}"
    else:
        hint = f"no signal of {provider} is tracked yet (signals are tracked as its posts are read)"
    raise DataError(f"bot {bot.name} has nothing to follow: {what}; {hint}")
