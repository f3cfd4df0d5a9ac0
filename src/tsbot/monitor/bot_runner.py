"""Users' paper bots, run by the monitoring cycle on the candles and signals that arrived since the last cycle.

Each cycle (:meth:`BotRunner.run`), per paper account with bots:

1. the account is rebuilt from the store (:class:`~tsbot.trading.paper_account.PaperDesk`) and each bot from its
   memory (``bot_runs``; :mod:`tsbot.trading.bot_snapshot`). A bot seen for the first time starts at the cycle's
   last closed bar, and its paper account is funded with its capital when the free balance falls short (a paper
   deposit, logged);
2. fills of the bots' orders stored by another process (or before a restart) are handed to them;
3. the new closed bars are worked and decided in time order (:class:`~tsbot.monitor.bot_account.AccountSession`),
   exactly as ``tsbot bot replay`` and the backtest do;
4. a followed provider's new signals go to its follow bots, and a person's decisions on proposed entries to the
   bots in approval mode (:func:`~tsbot.trading.approvals.apply_decisions`);
5. events and closed trades are written to each bot's log, fills and proposals notified to the owner
   (``trade_executed``, ``approval_needed``), a tripped kill switch marks the bot KILLED, and its memory is saved.

Status: RUNNING bots trade. PAUSED and KILLED bots open nothing new but keep managing what they hold (stops,
targets, trailing, exit signals). A STOPPED bot cancels its orders and closes its positions at market once, and runs
until it is flat. Client order ids are deterministic, so a cycle repeated after a crash sends nothing twice.
Bots on live exchange accounts run on the wall clock through ``live`` (:mod:`tsbot.monitor.live_accounts`, which
also reconciles those accounts with their venues); without it, or on a replay clock, they are counted as
``live_skipped``.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import structlog

from tsbot.backtest.data import choose_series, load_series
from tsbot.backtest.runner import SeriesData
from tsbot.backtest.strategies import build_strategy
from tsbot.config import TradingConfig
from tsbot.core.enums import AssetClass
from tsbot.core.time import to_ms, utc_now
from tsbot.market.models import CandleFrame, Timeframe
from tsbot.market.ports import CandleStore
from tsbot.monitor.bot_account import AccountSession, MutableClock, RunningBot, last_closed
from tsbot.monitor.bot_notices import BotNotices
from tsbot.monitor.ports import BotMemory, BotRegistry, NotificationQueue, ProviderSignals
from tsbot.sentiment.ports import HeadlineStore
from tsbot.trading.approvals import apply_decisions
from tsbot.trading.bot import SignalBot
from tsbot.trading.bot_snapshot import bot_snapshot, forget_settled, open_orders, restore_bot
from tsbot.trading.bot_state import BotSettings, ProviderSignal, engine_config
from tsbot.trading.bots import FOLLOW, BotConfig, BotMode, BotStatus
from tsbot.trading.paper import Bar
from tsbot.trading.paper_account import AccountOrderStore, PaperDesk, PaperLedger
from tsbot.trading.replay import paper_costs, paper_rules

if TYPE_CHECKING:
    from tsbot.monitor.live_accounts import LiveAccounts

_log = structlog.get_logger("tsbot.monitor")
_HANDED_KEPT = 500  # provider signal ids remembered per bot


@dataclass(slots=True)
class BotCycleSummary:
    """What one run did: ``bots`` run (``live_bots`` of them on live accounts), ``bars`` worked, ``fills`` taken,
    ``trades`` closed, ``events`` logged, bots on live accounts left out, live accounts ``reconciled`` with their
    venues (``reconcile_fixed`` differences fixed, one ``reconcile`` line per difference only reported), and one line
    per failure (an account's failure never stops the others)."""

    bots: int = 0
    bars: int = 0
    fills: int = 0
    trades: int = 0
    events: int = 0
    live_skipped: int = 0
    live_bots: int = 0
    reconciled: int = 0
    reconcile_fixed: int = 0
    duration_s: float = 0.0
    errors: list[str] = field(default_factory=list)
    reconcile: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "bots": self.bots,
            "bars": self.bars,
            "fills": self.fills,
            "trades": self.trades,
            "events": self.events,
            "live_skipped": self.live_skipped,
            "live_bots": self.live_bots,
            "reconciled": self.reconciled,
            "reconcile_fixed": self.reconcile_fixed,
            "duration_s": round(self.duration_s, 4),
            "errors": list(self.errors),
            "reconcile": list(self.reconcile),
        }


class BotRunner:
    """Runs the stored paper bots each cycle (see the module docstring).

    Args:
        trading: the trading settings in force (read each cycle, so a configuration reload applies).
        signals: the providers' signals (follow bots trade nothing without it).
        notifications: the outbox for ``trade_executed`` and ``approval_needed`` (None: none sent).
        live: runs the bots of live exchange accounts and reconciles those accounts (None: live bots skipped).
    """

    def __init__(
        self,
        bots: BotRegistry,
        memory: BotMemory,
        orders: AccountOrderStore,
        ledger: PaperLedger,
        candles: CandleStore,
        trading: Callable[[], TradingConfig],
        *,
        headlines: HeadlineStore | None = None,
        signals: ProviderSignals | None = None,
        notifications: NotificationQueue | None = None,
        live: LiveAccounts | None = None,
    ) -> None:
        self._bots = bots
        self._memory = memory
        self._orders = orders
        self._ledger = ledger
        self._candles = candles
        self._trading = trading
        self._headlines = headlines
        self._signals = signals
        self._notifications = notifications
        self._live = live

    async def run(self, as_of: datetime | None = None) -> BotCycleSummary:
        """One run as of ``as_of`` (the replay clock; None: every stored candle, the wall clock for decisions)."""
        started = time.perf_counter()
        summary = BotCycleSummary()
        now = as_of or utc_now()
        everyone = await self._bots.list()
        memories = await self._memory.load([b.id for b in everyone])
        accounts: dict[str, list[BotConfig]] = defaultdict(list)
        live: dict[str, list[BotConfig]] = defaultdict(list)
        run_live = self._live is not None and as_of is None  # a replay never reaches a venue
        for b in everyone:
            if b.status is BotStatus.STOPPED and memories.get(b.id, {}).get("finished", b.id not in memories):
                continue  # never ran, or wound down
            if b.mode is BotMode.LIVE or not b.account.startswith("paper:"):
                if run_live:
                    live[b.account].append(b)
                else:
                    summary.live_skipped += b.status is not BotStatus.STOPPED
                continue
            accounts[b.account].append(b)
        if accounts or live:
            await self._bots.expire(utc_now())  # people decide on the wall clock, also on a replay clock
        for account, group in accounts.items():
            try:
                await self._run_account(account, group, memories, as_of, now, summary)
            except Exception as exc:  # noqa: BLE001 - one account failing must not stop the others
                summary.errors.append(f"{account}: {exc or type(exc).__name__}")
                _log.warning("monitor.bots_failed", account=account, error=str(exc), kind=type(exc).__name__)
        if run_live:
            assert self._live is not None
            await self._live.run(self, live, memories, summary)
        summary.duration_s = time.perf_counter() - started
        if accounts or live or summary.live_skipped or summary.reconciled or summary.errors:
            _log.info("monitor.bots", **summary.to_json())
        return summary

    async def _series(
        self, group: list[BotConfig], as_of: datetime | None, trading: TradingConfig
    ) -> tuple[dict[tuple[str, int], SeriesData], dict[str, AssetClass], dict[int, int | None]]:
        """The candles (and sentiment context) of every pair the bots trade, at their timeframes."""
        data: dict[tuple[str, int], SeriesData] = {}
        classes: dict[str, AssetClass] = {}
        cuts: dict[int, int | None] = {}
        for tf in sorted({Timeframe.parse(b.timeframe) for b in group}, key=lambda t: t.ms):
            pairs = sorted({p for b in group if Timeframe.parse(b.timeframe) == tf for p in b.pairs})
            infos = await choose_series(self._candles, pairs, tf, trading)
            cuts[tf.ms] = None if as_of is None else to_ms(as_of) - tf.ms
            for d in await load_series(self._candles, self._headlines, infos, trading, end_ms=cuts[tf.ms]):
                if len(d.candles):
                    data[(d.key.symbol, tf.ms)] = d
            classes.update({i.key.symbol: AssetClass(i.asset_class) for i in infos})
        return data, classes, cuts

    async def _run_account(
        self,
        account: str,
        group: list[BotConfig],
        memories: dict[str, dict[str, Any]],
        as_of: datetime | None,
        now: datetime,
        summary: BotCycleSummary,
    ) -> None:
        trading = self._trading()
        data, classes, cuts = await self._series(group, as_of, trading)
        work: dict[str, tuple[CandleFrame, int]] = {}
        for (symbol, tf_ms), d in sorted(data.items(), key=lambda kv: -kv[0][1]):
            work[symbol] = (d.candles, tf_ms)  # the shortest timeframe wins (sorted longest first)
        worked: dict[str, int] = {}
        for symbol, (frame, tf_ms) in work.items():
            mems = [memories[b.id] for b in group if b.id in memories]
            seen = [m["worked"][symbol] for m in mems if symbol in m.get("worked", {})]
            last = last_closed(frame, cuts[tf_ms])
            if seen:
                worked[symbol] = max(seen)
            elif last >= 0:
                worked[symbol] = int(frame.open_time_ms[last])
        work = {s: w for s, w in work.items() if s in worked}
        rules = {s: paper_rules(s, classes[s], float(frame.close[-1])) for s, (frame, _) in work.items()}
        last_bars = {}
        for symbol, (frame, _) in work.items():
            i = last_closed(frame, worked[symbol])
            if i >= 0:
                last_bars[symbol] = Bar.of(frame, i)
        clock = MutableClock(now)
        first = group[0]
        first_strategy = (
            None if first.strategy == FOLLOW else build_strategy(first.strategy, trading, first.params)
        )
        config = engine_config(first.risk)
        costs = paper_costs(first_strategy.broker(config) if first_strategy is not None else config)
        desk = await PaperDesk.open(
            account, ledger=self._ledger, store=self._orders, rules=rules, last_bars=last_bars, costs=costs,
            clock=clock,
        )  # fmt: skip
        notices = BotNotices(self._bots, self._notifications)
        running: list[tuple[BotConfig, RunningBot, dict[str, Any]]] = []
        for b in group:
            made = await self._build(
                b, memories.get(b.id), data, work, cuts, rules, desk, trading, clock, notices
            )
            if made is not None:
                running.append((b, *made))
        session = AccountSession(
            desk,
            [rb for _, rb, _ in running],
            clock,
            work=work,
            worked=worked,
            cuts=cuts,
            on_fills=notices.fills,
        )
        for _, rb, _ in running:
            await session.catch_up_stored(rb, await self._stored_fills(rb))
        summary.bars += await session.run_bars()
        summary.errors.extend(session.skipped)
        clock.now = now
        for b, rb, memory in running:
            await self._after_bars(b, rb, memory, now)
            await session.catch_up_stored(rb, await self._stored_fills(rb))
            logged, trades = await notices.flush(b, rb.bot)
            summary.events += logged
            summary.trades += trades
            await self._settle_status(b, rb, memory, now)
            forget_settled(rb.bot, keep := open_orders(rb.bot))
            memory.update(
                bot=bot_snapshot(rb.bot),
                decided=rb.decided,
                worked=session.worked,
                taken={cid: sorted(ids) for cid, ids in rb.taken.items() if cid in keep},
            )
            await self._memory.save(b.id, memory, utc_now())
            summary.bots += 1
        summary.fills += notices.fills_seen
        await desk.work({})  # store what the bars did to the account's other orders (placed by hand)

    async def _build(
        self,
        b: BotConfig,
        memory: dict[str, Any] | None,
        data: dict[tuple[str, int], SeriesData],
        work: dict[str, tuple[CandleFrame, int]],
        cuts: dict[int, int | None],
        rules: dict[str, Any],
        desk: PaperDesk,
        trading: TradingConfig,
        clock: MutableClock,
        notices: BotNotices,
    ) -> tuple[RunningBot, dict[str, Any]] | None:
        """The bot's runtime restored from its memory, with its pairs' series; None when none is stored."""
        tf_ms = Timeframe.parse(b.timeframe).ms
        series = {p: data[(p, tf_ms)] for p in b.pairs if (p, tf_ms) in data and p in work}
        if not series:
            return None
        strategy = None if b.strategy == FOLLOW else build_strategy(b.strategy, trading, b.params)
        capital = b.capital * len(series) / len(b.pairs)
        settings = BotSettings(b.id, b.account, capital, tuple(series), engine_config(b.risk), b.risk)
        propose = notices.proposer(b) if b.approval else None
        bot = SignalBot(settings, strategy, desk.service, rules=rules, clock=clock, propose=propose)
        fresh = memory is None
        memory = dict(memory or {})
        if not fresh:
            restore_bot(bot, memory["bot"])
        decided = dict(memory.get("decided", {}))
        for pair, d in series.items():
            if pair not in decided:
                i = last_closed(d.candles, cuts[tf_ms])
                decided[pair] = int(d.candles.open_time_ms[i]) if i >= 0 else -1
        taken = {cid: set(ids) for cid, ids in memory.get("taken", {}).items()}
        memory.setdefault("since", clock.now.isoformat())
        if fresh:
            await self._fund(b, desk, capital, series)
        notices.register(b)
        await self._apply_status(b, bot, memory)
        return RunningBot(b.id, bot, series, decided, taken), memory

    @staticmethod
    async def _apply_status(b: BotConfig, bot: SignalBot, memory: dict[str, Any]) -> None:
        """The stored status, before any bar: a paused or killed bot opens nothing new; a bot a person resumed
        trades again (a killed one with its kill switch cleared); a stopped one winds down once."""
        kind = memory.get("stop_kind")
        if b.status is BotStatus.RUNNING:
            if bot.stopped_reason is not None and kind == "killed":
                bot.state.resume()
            bot.stopped_reason = None
            memory.pop("stop_kind", None)
        elif b.status is BotStatus.PAUSED:
            bot.stopped_reason, memory["stop_kind"] = f"paused: {b.status_reason or 'by a person'}", "paused"
        elif b.status is BotStatus.KILLED:
            bot.stopped_reason, memory["stop_kind"] = bot.stopped_reason or b.status_reason, "killed"
        elif not memory.get("finishing"):
            bot.stopped_reason = "stopped"
            await bot.finish()
            memory["finishing"] = True

    async def _fund(
        self, b: BotConfig, desk: PaperDesk, capital: Decimal, series: dict[str, SeriesData]
    ) -> None:
        """Top the paper account up to the bot's capital in its quote currency (when the free balance is short)."""
        quote = sorted(series)[0].split("/", 1)[1] if "/" in sorted(series)[0] else "USD"
        free = {x.asset: x.free for x in await desk.balances()}.get(quote, Decimal(0))
        if free < capital:
            await desk.deposit(quote, capital - free, f"paper capital of bot {b.name}")
            await self._bots.add_event(
                b.id, utc_now(), "note", f"paper account {b.account} funded with {capital - free:f} {quote}"
            )

    async def _stored_fills(self, rb: RunningBot) -> dict[str, list[Any]]:
        cids = open_orders(rb.bot) | set(rb.taken)
        return {cid: await self._orders.fills(cid) for cid in sorted(cids)}

    async def _after_bars(self, b: BotConfig, rb: RunningBot, memory: dict[str, Any], now: datetime) -> None:
        """Followed signals and approval decisions, at the cycle's time."""
        bot = rb.bot
        if (
            b.status is BotStatus.RUNNING
            and b.strategy == FOLLOW
            and self._signals is not None
            and b.provider
        ):
            await self._follow(b, bot, memory, now)
        if b.approval:
            mine = [a for a in await self._bots.approvals(b.owner) if a.bot_id == b.id]
            await apply_decisions(bot, mine, utc_now())

    async def _follow(self, b: BotConfig, bot: SignalBot, memory: dict[str, Any], now: datetime) -> None:
        assert self._signals is not None and b.provider is not None
        handed: list[str] = list(memory.get("handed", []))
        since = datetime.fromisoformat(memory["since"])
        tracked = await self._signals.open_signals(b.provider)
        for t in sorted(tracked, key=lambda t: t.posted_at):
            signal = ProviderSignal.from_tracked(t)
            if signal.signal_id in handed or not since <= t.posted_at <= now:
                continue
            handed.append(signal.signal_id)
            await bot.on_signal(signal)
        memory["handed"] = handed[-_HANDED_KEPT:]

    async def _settle_status(
        self, b: BotConfig, rb: RunningBot, memory: dict[str, Any], now: datetime
    ) -> None:
        """A kill switch tripped this cycle marks the bot KILLED; a stopped bot that is flat is finished."""
        bot = rb.bot
        if (
            b.status is BotStatus.RUNNING
            and bot.stopped_reason is not None
            and memory.get("stop_kind") is None
        ):
            await self._bots.set_status(b.id, BotStatus.KILLED, bot.stopped_reason, now)
            memory["stop_kind"] = "killed"
        if b.status is BotStatus.STOPPED and not open_orders(bot):
            memory["finished"] = True
