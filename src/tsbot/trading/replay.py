"""Paper trading a bot over candles bar by bar: stored history replayed, or the bars of a live cycle.

For each bar of each pair, in time order (pairs with a bar at the same time in the order given):

1. the paper broker works the bar's open (market orders, gaps: :meth:`PaperBroker.open_bar`) and the bot takes the
   fills (an entry's stop-loss and take-profits are placed here, so they work in the rest of this bar);
2. the broker works the rest of the bar (:meth:`PaperBroker.close_bar`) and the bot takes those fills;
3. the bot decides at the bar's close from the candles up to it (:meth:`SignalBot.on_close`).

At the end, what is still open is closed at the last close, as the backtest does. The clock both read is the bar's
close time (UTC), so a replay's stored orders carry the times they would have had live.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal

from tsbot.backtest.models import BacktestConfig, FillAt
from tsbot.backtest.strategies.base import SeriesContext
from tsbot.core.enums import AssetClass
from tsbot.market.models import CandleFrame
from tsbot.signals.engine import price_decimals
from tsbot.trading.bot import SignalBot
from tsbot.trading.bot_state import BotEvent, BotTrade, ProviderSignal
from tsbot.trading.models import MarketRules
from tsbot.trading.paper import Bar, PaperBroker, PaperCosts


def paper_rules(symbol: str, asset_class: AssetClass, price: float) -> MarketRules:
    """Market rules for a paper market with no venue to ask: a tick that shows 6 significant digits of ``price``
    (:func:`~tsbot.signals.engine.price_decimals`), lots of 1e-8 for crypto and 1e-4 shares for stocks (fractional
    shares, as Alpaca trades them), a minimum order value of 1 quote unit."""
    tick = Decimal(1).scaleb(-price_decimals(price))
    lot = Decimal("0.00000001") if asset_class is AssetClass.CRYPTO else Decimal("0.0001")
    return MarketRules(symbol, tick, lot, lot, Decimal(1), asset_class=asset_class)


def paper_costs(config: BacktestConfig) -> PaperCosts:
    """The paper broker's fees, slippage and fill timing from a backtest configuration."""
    return PaperCosts(
        taker_fee_bps=Decimal(repr(config.taker_fee_bps)),
        maker_fee_bps=Decimal(repr(config.maker_fee_bps)),
        slippage_bps=Decimal(repr(config.slippage_bps)),
        fill_at_close=config.fill is FillAt.CLOSE,
        stop_first=config.stop_first,
    )


class ReplayClock:
    """The time a replay is at (UTC): the close of the bar being worked. Call it for the time."""

    def __init__(self, start: datetime | None = None) -> None:
        self.now = start or datetime(1970, 1, 1, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


@dataclass(frozen=True, slots=True)
class ReplayResult:
    """What a replay did: the bot's closed trades, its events, the bars worked and its final equity (quote)."""

    trades: list[BotTrade]
    events: list[BotEvent]
    bars: int
    equity: Decimal


async def replay(
    bot: SignalBot,
    broker: PaperBroker,
    clock: ReplayClock,
    series: Mapping[str, CandleFrame],
    *,
    bar_ms: int,
    contexts: Mapping[str, SeriesContext] | None = None,
    start_ms: int | None = None,
    end_ms: int | None = None,
    progress: Callable[[int, int], None] | None = None,
    daily: Callable[[date, SignalBot], Awaitable[None]] | None = None,
    signals: Sequence[ProviderSignal] = (),
) -> ReplayResult:
    """Run ``bot`` on ``broker`` over ``series`` (symbol -> candles oldest first, with warm-up history before
    ``start_ms``), trading bars whose open time is in ``[start_ms, end_ms]``.

    Args:
        bar_ms: the timeframe in milliseconds (a bar's close time is its open time plus this).
        contexts: point-in-time sentiment and ML per symbol, aligned with its candles.
        progress: called with (bars done, bars in all) after each bar.
        daily: awaited with each UTC day and the bot after the last bar closing in that day (an equity snapshot).
        signals: a followed provider's signals: each is handed to :meth:`SignalBot.on_signal` at the first close
            of its pair at or after the time it was posted, after the bot's own decisions at that close (one for
            a pair not in ``series`` at the first close of any pair, so the bot records that it skipped it).

    Raises:
        ValueError: a symbol of ``series`` that the bot does not trade.
    """
    unknown = set(series) - set(bot.settings.pairs)
    if unknown:
        raise ValueError(f"the bot does not trade {', '.join(sorted(unknown))}")
    steps: list[tuple[int, str, int]] = []
    for symbol, frame in series.items():
        times = frame.open_time_ms
        for i in range(len(frame)):
            t = int(times[i])
            if (start_ms is None or t >= start_ms) and (end_ms is None or t <= end_ms):
                steps.append((t, symbol, i))
    order = {symbol: k for k, symbol in enumerate(series)}
    steps.sort(key=lambda step: (step[0], order[step[1]]))
    total = len(steps)
    waiting = sorted(signals, key=lambda sig: sig.at)
    elsewhere = {sig.symbol for sig in signals} - set(series)  # the bot says it does not trade them
    day: date | None = None
    for done, (t, symbol, i) in enumerate(steps, start=1):
        frame = series[symbol]
        clock.now = datetime.fromtimestamp((t + bar_ms) / 1000, UTC)
        if daily is not None and day is not None and clock.now.date() != day:
            await daily(day, bot)
        day = clock.now.date()
        bar = Bar.of(frame, i)
        await bot.on_fills(broker.open_bar(symbol, bar))
        await bot.on_fills(broker.close_bar(symbol, bar))
        context = contexts.get(symbol) if contexts else None
        await bot.on_close(symbol, frame.window(0, i + 1), None if context is None else context.cut(i + 1))
        for sig in [s for s in waiting if s.symbol in (symbol, *elsewhere) and s.at <= clock.now]:
            waiting.remove(sig)
            await bot.on_signal(sig)
        if progress is not None:
            progress(done, total)
    await bot.finish()
    for symbol in series:
        await bot.on_fills(broker.fill_at_last_close(symbol))
    if daily is not None and day is not None:
        await daily(day, bot)
    return ReplayResult(list(bot.trades), list(bot.events), total, bot.equity())
