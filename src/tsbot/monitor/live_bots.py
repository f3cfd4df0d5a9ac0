"""The bots of one live exchange account over one cycle (:class:`LiveBotSession`): the decision path of the paper
bots (:class:`~tsbot.trading.bot.SignalBot`, its memory in ``bot_runs``, the risk checks), with the venue's broker.

Per bot, in order:

1. the bot is restored from its memory (a bot seen for the first time starts at the last closed bar; nothing is
   deposited: its capital is what it may use of the account) and its stored status applied as for paper bots
   (:mod:`tsbot.monitor.bot_runner`: PAUSED and KILLED open nothing new and keep managing what they hold; STOPPED
   cancels its orders and closes its positions once, and runs until it is flat);
2. the stored fills of its orders it has not taken are handed to it, oldest first, each once: the venue's answers
   to its orders, and what reconciliation brought back (:mod:`tsbot.monitor.live_accounts`);
3. each new closed bar is decided in time order, the bot's clock at the bar's close, with the fills its orders got
   handed after each bar (a market order fills in the venue's answer);
4. followed signals and approval decisions, fills again, its events and closed trades to its log, a tripped kill
   switch marks it KILLED, and its memory is saved.

What differs from paper:

* orders go through :class:`LiveOrderService`, stamped with the wall clock (reconciliation ages them truly). A new
  position decided on a bar that closed more than one bar length plus the grace (``monitor.interval_s``) before
  the wall clock (the process was down, or the candles came late) is refused with that reason: a live position is
  never opened on a stale decision. Exits and protective orders are always sent;
* a buy's fee charged in the base asset (Binance without BNB) comes out of the quantity handed to the bot (rounded
  down to the lot; the fee and that dust valued at the fill price), so its protective orders and exit sell what
  the account holds (:func:`net_of_base_fee`);
* an entry the venue cancelled, expired or refused after taking it (or that reconciliation cancelled as stale) is
  forgotten, and a protective order ended that way is placed again with the position's others; both are said as
  events;
* any failure (a venue that stops answering half-way) leaves the bot's memory as it was: the next cycle repeats the
  same decisions with the same deterministic client order ids and finds those orders stored instead of sending
  them again.

Times are UTC; amounts are Decimal in the quote currency unless said otherwise.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import structlog

from tsbot.backtest.strategies import build_strategy
from tsbot.core.enums import AssetClass
from tsbot.core.errors import DataError
from tsbot.core.time import from_ms, utc_now
from tsbot.market.models import Timeframe
from tsbot.monitor.bot_account import MAX_CATCH_UP_BARS, MutableClock, RunningBot, after
from tsbot.monitor.bot_notices import BotNotices
from tsbot.monitor.ports import LiveAccount
from tsbot.trading.bot import SignalBot
from tsbot.trading.bot_snapshot import bot_snapshot, forget_settled, open_orders, restore_bot
from tsbot.trading.bot_state import BotEvent, BotSettings, engine_config
from tsbot.trading.bots import FOLLOW, BotConfig
from tsbot.trading.market_hours import TradingHours
from tsbot.trading.models import Fill, MarketRules, Order, OrderRejectedError, OrderRequest, OrderSide
from tsbot.trading.orders import round_to_step
from tsbot.trading.ports import Broker, OrderStore
from tsbot.trading.service import OrderService

if TYPE_CHECKING:
    from tsbot.monitor.bot_runner import BotCycleSummary, BotRunner

_log = structlog.get_logger("tsbot.monitor")


def net_of_base_fee(fill: Fill, lot: Decimal) -> Fill:
    """``fill`` as a bot takes it: a buy whose fee was charged in the base asset becomes the quantity the account
    received (``qty - fee``, rounded down to ``lot``), at the same price, its fee in the quote currency the value of
    what it did not receive (``(qty - received) x price``), so the cost is unchanged. Other fills as they are."""
    base, _, quote = fill.symbol.partition("/")
    if fill.side is not OrderSide.BUY or fill.fee <= 0 or fill.fee_currency != base:
        return fill
    received = max(round_to_step(fill.qty - fill.fee, lot), Decimal(0))
    return dataclasses.replace(fill, qty=received, fee=(fill.qty - received) * fill.price, fee_currency=quote)


class LiveOrderService(OrderService):
    """An :class:`~tsbot.trading.service.OrderService` that never opens a position on a stale decision.

    A new order that is not reduce-only, sent while ``decided_at()`` (the close of the bar decided on, UTC) lies more
    than ``fresh_within`` before the wall clock, raises :class:`~tsbot.trading.models.OrderRejectedError` with that
    reason and is not stored (the bot records the refusal). An order already stored under its client id is settled
    as usual, however old its decision: a repeated cycle finds what the first one sent.
    """

    def __init__(
        self,
        store: OrderStore,
        broker: Broker,
        account: str,
        *,
        decided_at: Callable[[], datetime],
        fresh_within: timedelta,
    ) -> None:
        super().__init__(store, broker, account, clock=utc_now)
        self._decided_at = decided_at
        self._fresh_within = fresh_within

    async def submit(self, request: OrderRequest, *, reference_price: Decimal | None = None) -> Order:
        """See :meth:`OrderService.submit`; also refuses a stale opening order (see the class docstring)."""
        if not request.reduce_only:
            at = self._decided_at()
            age = self._clock() - at
            if age > self._fresh_within and await self._store.get(request.client_order_id) is None:
                raise OrderRejectedError(
                    f"decided at {at:%Y-%m-%d %H:%M} UTC, {_minutes(age)} ago (over {_minutes(self._fresh_within)})"
                    ": too late to open a live position"
                )
        return await super().submit(request, reference_price=reference_price)


class LiveBotSession:
    """The bots of one live account over one cycle (see the module docstring).

    Args:
        host: the cycle's :class:`~tsbot.monitor.bot_runner.BotRunner`: its candles, bot registry and memory,
            followed signals, notifications and status rules are the paper bots' own.
        account: the live account; ``broker``: its broker, open; ``store``: the order store.
        hours: the regular hours of US stocks (called only when a bot trades a stock).
        grace: how much later than one bar length after its close a bar may still open a position.
    """

    def __init__(
        self,
        host: BotRunner,
        account: LiveAccount,
        broker: Broker,
        store: OrderStore,
        *,
        hours: Callable[[], TradingHours],
        grace: timedelta,
    ) -> None:
        self._host = host
        self._account = account
        self._broker = broker
        self._store = store
        self._hours = hours
        self._grace = grace

    async def run(
        self,
        group: Sequence[BotConfig],
        memories: Mapping[str, dict[str, Any]],
        now: datetime,
        summary: BotCycleSummary,
    ) -> None:
        """Run each bot of ``group``; a bot that fails is one line in ``summary.errors`` (its memory unchanged) and
        the others still run."""
        notices = BotNotices(self._host._bots, self._host._notifications)
        notices.mode = "live"
        for b in group:
            try:
                await self._run_bot(b, memories.get(b.id), notices, now, summary)
            except Exception as exc:  # noqa: BLE001 - one bot failing must not stop the others
                reason = str(exc) or type(exc).__name__
                summary.errors.append(
                    f"live {self._account.account}: bot {b.name}: {reason}; repeated at the next cycle"
                )
                _log.warning("monitor.live_bot_failed", account=self._account.account, bot=b.id, error=reason)
        summary.fills += notices.fills_seen

    async def _run_bot(
        self,
        b: BotConfig,
        stored: dict[str, Any] | None,
        notices: BotNotices,
        now: datetime,
        summary: BotCycleSummary,
    ) -> None:
        host = self._host
        trading = host._trading()
        data, classes, _ = await host._series([b], None, trading)
        tf = Timeframe.parse(b.timeframe)
        series = {p: data[(p, tf.ms)] for p in b.pairs if (p, tf.ms) in data}
        if not series:
            raise DataError(f"no stored {b.timeframe} candles of {', '.join(b.pairs)}")
        rules = {p: await self._broker.market_rules(p) for p in series}
        hours = {p: self._hours() for p in series if classes.get(p) is AssetClass.STOCK}
        strategy = None if b.strategy == FOLLOW else build_strategy(b.strategy, trading, b.params)
        capital = b.capital * len(series) / len(b.pairs)
        settings = BotSettings(b.id, b.account, capital, tuple(series), engine_config(b.risk), b.risk, hours)
        clock = MutableClock(now)
        service = LiveOrderService(
            self._store,
            self._broker,
            b.account,
            decided_at=clock,
            fresh_within=timedelta(milliseconds=tf.ms) + self._grace,
        )
        propose = notices.proposer(b) if b.approval else None
        bot = SignalBot(settings, strategy, service, rules=rules, clock=clock, propose=propose)
        memory = dict(stored or {})
        if stored is not None:
            restore_bot(bot, memory["bot"])
        decided = dict(memory.get("decided", {}))
        for pair, d in series.items():
            decided.setdefault(pair, int(d.candles.open_time_ms[-1]) if len(d.candles) else -1)
        taken = {cid: set(ids) for cid, ids in memory.get("taken", {}).items()}
        memory.setdefault("since", now.isoformat())
        notices.register(b)
        await host._apply_status(b, bot, memory)
        rb = RunningBot(b.id, bot, series, decided, taken)
        await self._hand(rb, notices, rules)
        summary.bars += await self._decide(rb, clock, notices, rules, summary)
        clock.now = now
        await host._after_bars(b, rb, memory, now)
        await self._hand(rb, notices, rules)
        await self._settle_dead_orders(bot, now)
        logged, trades = await notices.flush(b, bot)
        await host._settle_status(b, rb, memory, now)
        forget_settled(bot, keep := open_orders(bot))
        memory.update(
            bot=bot_snapshot(bot),
            decided=rb.decided,
            taken={cid: sorted(ids) for cid, ids in rb.taken.items() if cid in keep},
        )
        await host._memory.save(b.id, memory, utc_now())
        summary.bots += 1
        summary.live_bots += 1
        summary.events += logged
        summary.trades += trades

    async def _decide(
        self,
        rb: RunningBot,
        clock: MutableClock,
        notices: BotNotices,
        rules: Mapping[str, MarketRules],
        summary: BotCycleSummary,
    ) -> int:
        """Decide the bars closed since each pair's last decision, in time order; the bars decided."""
        steps: list[tuple[int, str, int]] = []  # (close ms, pair, index)
        for pair, data in sorted(rb.series.items()):
            frame, tf_ms = data.candles, data.key.timeframe.ms
            last = len(frame) - 1
            first = after(frame, rb.decided[pair])
            if last - first + 1 > MAX_CATCH_UP_BARS:
                first = last - MAX_CATCH_UP_BARS + 1
                summary.errors.append(
                    f"live {self._account.account}: {pair}: more than {MAX_CATCH_UP_BARS} bars to catch up; "
                    "older ones skipped"
                )
            steps.extend((int(frame.open_time_ms[i]) + tf_ms, pair, i) for i in range(first, last + 1))
        steps.sort()
        for close_ms, pair, i in steps:
            data = rb.series[pair]
            clock.now = from_ms(close_ms)
            await rb.bot.on_close(pair, data.candles.window(0, i + 1), data.context.cut(i + 1))
            rb.decided[pair] = int(data.candles.open_time_ms[i])
            await self._hand(rb, notices, rules)
        return len(steps)

    async def _hand(self, rb: RunningBot, notices: BotNotices, rules: Mapping[str, MarketRules]) -> None:
        """Hand the bot the stored fills of its orders it has not taken, oldest first, one at a time (a failure
        half-way leaves the rest for the repeat), and notify the owner of each as the venue reported it."""
        fresh: list[Fill] = []
        for cid in sorted(open_orders(rb.bot) | set(rb.taken)):
            seen = rb.taken.get(cid, set())
            fresh.extend(f for f in await self._store.fills(cid) if f.fill_id not in seen)
        fresh.sort(key=lambda f: f.filled_at)
        for f in fresh:
            lot = rules[f.symbol].lot_size if f.symbol in rules else Decimal(0)
            await rb.bot.on_fills([net_of_base_fee(f, lot)])
            rb.taken.setdefault(f.client_order_id, set()).add(f.fill_id)
        if fresh:
            await notices.fills(rb, fresh)

    async def _settle_dead_orders(self, bot: SignalBot, now: datetime) -> None:
        """Orders the venue ended with nothing filled (cancelled, expired, refused after taking them, or cancelled
        by reconciliation as stale): an entry waited on is forgotten; a protective order of a position still held is
        placed again with the others (new client ids), so a position is never left without its stop."""
        for s in bot._sleeves.values():
            for cid in sorted(s.pending):
                dead = None if cid in bot.awaiting else await self._dead(cid)
                if dead is not None:
                    del s.pending[cid]
                    bot.events.append(BotEvent(now, "note", s.symbol, f"entry {cid} {dead}"))
            if not s.side or s.exiting is not None or s.plan is None:
                continue
            for cid in list(s.legs):
                dead = await self._dead(cid)
                if dead is not None:
                    bot.events.append(
                        BotEvent(now, "note", s.symbol, f"protective order {cid} {dead}; placed again")
                    )
                    await bot._protect(s)
                    break

    async def _dead(self, cid: str) -> str | None:
        """``"<status> at the venue: <reason>"`` when the stored order is final with nothing filled, else None."""
        order = await self._store.get(cid)
        if order is None or not order.status.final or order.filled_qty > 0:
            return None
        why = order.history[-1].reason if order.history else ""
        return f"{order.status.value} at the venue: {why}"


def _minutes(span: timedelta) -> str:
    """``12 min`` (whole minutes, at least 0)."""
    return f"{max(int(span.total_seconds() // 60), 0)} min"
