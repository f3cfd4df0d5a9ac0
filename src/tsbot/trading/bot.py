"""A bot that trades a strategy's signals through the risk checks and a broker, bar by bar, with the backtest
engine's rules (:mod:`tsbot.backtest.engine`), so paper trading a strategy gives the trades its backtest gives.

At each closed bar of a pair, :meth:`SignalBot.on_close` reads the strategy's plan row for that bar (computed from
the bars up to it, exactly as the backtest computes it) and decides:

* an exit signal, or a position held ``max_hold_bars``: cancel the protective orders, sell (or buy back) at market;
* an entry signal in a direction not held: a market order. With fixed-fraction sizing a buy is sent as a quote
  amount (``fraction_ratio`` of the pair's sleeve, fee included), so the venue sizes it at its fill price as the
  engine does; risk sizing sends a quantity from the bar's close;
* a trailing stop or break-even that moved: the stop order is replaced.

When an entry fills (:meth:`SignalBot.on_fills`), the bot places its stop-loss (a STOP order) and take-profits
(LIMIT orders, the plan's split of the filled quantity, the last level taking the rest) in one one-cancels-other
group; they work from the rest of the fill's bar on. Capital is split equally over the pairs (one sleeve each, as
the engine splits its initial equity). Every order passes :class:`~tsbot.trading.risk.RiskManager` first; a refusal
is recorded with its reasons, and a tripped kill switch stops the bot and says why.

Differences from the engine: an entry whose stop-loss or first target is passed at its fill is closed at the next
open (the engine refuses it); an exit and an entry at one open are sized from the close before; limit and stop
entries are not traded (no built-in strategy uses them).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import date, datetime
from decimal import Decimal

from tsbot.backtest.models import EntryKind, FillAt, Sizing
from tsbot.backtest.strategies.base import SeriesContext, Strategy
from tsbot.market.models import CandleFrame
from tsbot.trading.bot_orders import BotOrders, ProposeOrder
from tsbot.trading.bot_state import (
    BotSettings,
    BotTrade,
    EntryPlan,
    ProviderSignal,
    Sleeve,
    dec,
    opt,
    utc_text,
)
from tsbot.trading.models import Fill, MarketRules, OrderRequest, OrderSide, OrderType
from tsbot.trading.orders import client_order_id, round_to_step
from tsbot.trading.risk import RiskManager, RiskState
from tsbot.trading.service import OrderService

_ZERO = Decimal(0)
_BPS = Decimal(10_000)


class SignalBot(BotOrders):
    """Trades ``strategy`` on ``settings.pairs`` through ``service`` (see the module docstring).

    Args:
        settings: capital, pairs, broker rules and risk limits.
        strategy: a built-in strategy (its plan row of each bar is the signal); None for a bot that follows a
            provider's signals (:meth:`on_signal`) and only manages its positions at each close.
        service: the order service of the account (stores every order before sending it).
        risk: the risk manager; ``state``: the account's risk state (kept current here).
        rules: market rules per symbol (tick, lot, minimums).
        clock: the current time (UTC); a replay passes the bar time.
        propose: approval mode: entries are proposed through it and sent once approved
            (:class:`~tsbot.trading.bot_orders.BotOrders`).
    """

    def __init__(
        self,
        settings: BotSettings,
        strategy: Strategy | None,
        service: OrderService,
        *,
        rules: Mapping[str, MarketRules],
        clock: Callable[[], datetime],
        risk: RiskManager | None = None,
        state: RiskState | None = None,
        propose: ProposeOrder | None = None,
    ) -> None:
        if not settings.pairs:
            raise ValueError("a bot needs at least one pair")
        super().__init__(settings, service, clock, propose)
        self.strategy = strategy
        self.config = strategy.broker(settings.config) if strategy is not None else settings.config
        self._rules = rules
        self._risk = risk or RiskManager()
        share = settings.capital / len(settings.pairs)
        self._sleeves = {p: Sleeve(p, share) for p in settings.pairs}
        self.state = state or RiskState(settings.capital, settings.capital, settings.capital)
        self.trades: list[BotTrade] = []
        self.stopped_reason: str | None = None
        self.day: date | None = None  # the UTC day the risk state's day-start equity belongs to

    # --- fills -----------------------------------------------------------------------------------------------
    async def on_fills(self, fills: Sequence[Fill]) -> None:
        """Take fills of this bot's orders (others are ignored): update the sleeve, place an entry's protective
        orders, record a closed trade."""
        for fill in fills:
            role = self._roles.get(fill.client_order_id)
            if role is None:
                continue
            symbol, kind = role
            await self._service.refresh(fill.client_order_id)
            sleeve = self._sleeves[symbol]
            if kind == "entry":
                await self._entered(sleeve, fill)
            else:
                await self._exited(sleeve, fill, kind)

    async def _entered(self, s: Sleeve, fill: Fill) -> None:
        s.cash -= fill.qty * fill.price + fill.fee
        if fill.client_order_id == s.entry_cid and s.side:  # another part of the same entry: average it in
            s.entry_px = (s.entry_px * s.qty + fill.price * fill.qty) / (s.qty + fill.qty)
            s.qty += fill.qty
            s.qty0 += fill.qty
            s.fees += fill.fee
            await self._protect(s)
            return
        plan = s.pending.pop(fill.client_order_id)
        d = plan.side
        s.open(plan, fill, s.bar + (0 if self.config.fill is FillAt.CLOSE else 1))
        passed = []
        if plan.stop is not None and d * (fill.price - plan.stop) <= 0:
            passed.append(f"stop-loss {plan.stop}")
        if plan.targets and d * (plan.targets[0] - fill.price) <= 0:
            passed.append(f"first target {plan.targets[0]}")
        if passed:
            self._event(
                "note", s.symbol, f"{' and '.join(passed)} already passed at the fill {fill.price}: closing"
            )
            await self._exit(s, "protection passed at entry")
            return
        await self._protect(s)

    async def _protect(self, s: Sleeve) -> None:
        """(Re)place the position's stop-loss and the take-profits still ahead, sized to what is held."""
        plan = s.plan
        assert plan is not None
        await self._cancel_legs(s)
        if s.stop is not None:
            s.stop_leg = await self._leg(s, OrderType.STOP, s.qty, s.stop, "stop-loss")
        left = s.qty
        lot = self._lot(s.symbol)
        for i in range(s.next_target, len(plan.targets)):
            last = i == len(plan.targets) - 1
            q = left if last else min(round_to_step(plan.split[i] * s.qty0, lot), left)
            left -= q
            if q > 0:
                await self._leg(s, OrderType.LIMIT, q, plan.targets[i], f"take-profit {i + 1}", target=i + 1)

    async def _exited(self, s: Sleeve, fill: Fill, kind: str) -> None:
        q, px, e, d = fill.qty, fill.price, s.entry_px, s.side
        gross = q * (px - e) * d
        s.cash += q * e + gross - fill.fee
        s.fees += fill.fee
        s.gross += gross
        s.exit_value += q * px
        s.exits += 1
        s.qty -= q
        if kind.startswith("tp"):
            s.next_target = int(kind[2:])
            if self.config.breakeven_after_first_target and s.breakeven == 0:
                s.breakeven = 1
        if kind == "stop":
            self.state.last_stop_out_at[s.symbol] = fill.filled_at
        if s.qty > 0:
            if kind.startswith("tp") and s.stop_leg is not None:
                await self._replace_stop(s, "stop-loss for what is left")
            return
        reason = {"stop": "trailing_stop" if s.trailing else "stop_loss", "exit": s.exit_reason}.get(
            kind, "take_profit"
        )
        qty0 = s.qty0
        self.trades.append(
            BotTrade(
                s.symbol,
                d,
                s.entry_at or fill.filled_at,
                e,
                fill.filled_at,
                px if s.exits == 1 else s.exit_value / (qty0),
                qty0,
                s.gross - s.fees,
                s.fees,
                reason,
                s.exits,
            )  # fmt: skip
        )
        await self._cancel_legs(s)
        s.side, s.qty, s.plan, s.exiting = 0, _ZERO, None, None
        self.state.positions.pop(s.symbol, None)

    # --- decisions at a bar's close --------------------------------------------------------------------------
    async def on_close(self, symbol: str, history: CandleFrame, context: SeriesContext | None = None) -> None:
        """Decide at the close of the last bar of ``history`` (the pair's candles up to and including it, oldest
        first; ``context`` aligned with them)."""
        s = self._sleeves[symbol]
        s.bar += 1
        n = len(history)
        today = self._clock().date()
        if self.day is not None and today != self.day:
            self.state.start_day()  # the daily loss counts from the new day's first close
        self.day = today
        close = float(history.close[-1])
        if close == close:
            s.last_close = dec(close)
        self._mark()
        if s.side and s.exiting is None:
            await self._manage(s, history)
        if self.strategy is None or n < self.strategy.warmup_bars():
            return
        plan = self.strategy.plan(history, context, start=n - 1)
        if plan.exit[-1] and s.side and s.exiting is None:
            await self._exit(s, "signal")
        hold = self.config.max_hold_bars
        ahead = 0 if self.config.fill is FillAt.CLOSE else 1
        if hold > 0 and s.side and s.exiting is None and s.bar + ahead - s.entry_bar >= hold:
            await self._exit(s, "max_hold")
        d = int(plan.entry[-1])
        if d == 0 or (d < 0 and not self.config.allow_short) or self.stopped_reason is not None:
            return
        if s.side == d and s.exiting is None:
            return
        if int(plan.entry_kind[-1]) != EntryKind.MARKET:
            self._event("note", symbol, "limit and stop entries are not traded by bots; signal skipped")
            return
        targets = [t for t in plan.take_profit[-1] if t == t]
        k = len(targets)
        split = list(plan.take_profit_split[:k]) if k else []
        stop, trail = opt(plan.stop_loss[-1]), opt(plan.trailing_stop[-1])
        t = int(history.open_time_ms[-1])
        side = "buy" if d > 0 else "sell"
        await self._enter(
            s,
            EntryPlan(d, stop, [dec(t) for t in targets], [dec(x) for x in split], trail),
            t,
            f"{self.strategy.name} {side} signal on {symbol} at the close of {utc_text(t)}",
        )

    async def on_signal(self, signal: ProviderSignal) -> bool:
        """Act on a followed provider's signal now, at the pair's last close: a market entry when that close is
        inside the signal's entry zone (``min(entry)`` to ``max(entry)``; any price when there is none), sized as
        strategy entries are (risk from the stop-loss), its take-profits split equally. Returns True when the
        entry was sent (or proposed for approval); a skip is recorded as an event with its reason."""
        symbol, side, entry = signal.symbol, signal.side, signal.entry
        what = f"{signal.source} signal {signal.signal_id}"
        s = self._sleeves.get(symbol)
        if s is None:
            self._event("note", symbol, f"{what}: {symbol} is not one of the bot's pairs")
            return False
        why = None
        if self.stopped_reason is not None:
            why = f"the bot is stopped ({self.stopped_reason})"
        elif side < 0 and not self.config.allow_short:
            why = "shorts are not allowed"
        elif s.side == side and s.exiting is None:
            why = "the pair already holds that side"
        elif s.last_close <= 0:
            why = "no price yet"
        elif entry and not min(entry) <= s.last_close <= max(entry):
            why = (
                f"the price {s.last_close.normalize():f} is outside the entry zone {min(entry)}-{max(entry)}"
            )
        if why is not None:
            self._event("note", symbol, f"{what} skipped: {why}")
            return False
        k = len(signal.targets)
        split = [Decimal(1) / k] * k if k else []
        before = len(s.pending)
        plan = EntryPlan(side, signal.stop, list(signal.targets), split, None)
        word = "buy" if side > 0 else "sell"
        await self._enter(s, plan, signal.signal_id, f"{signal.source} {word} signal {signal.signal_id}")
        return len(s.pending) > before

    async def _manage(self, s: Sleeve, history: CandleFrame) -> None:
        """After a bar held: apply a break-even earned in it and move the trailing stop (its best price now includes
        this bar); the stop order is replaced when its price changes, and works from the next bar."""
        plan = s.plan
        assert plan is not None
        if s.breakeven == 1:
            s.base_stop, s.breakeven = s.entry_px, 2
        stop, trailing = s.base_stop, False
        if plan.trail is not None:
            favour = float(history.high[-1] if s.side > 0 else history.low[-1])
            if favour == favour and s.side * (dec(favour) - s.trail_ref) > 0:
                s.trail_ref = dec(favour)
            trail = s.trail_ref - s.side * plan.trail
            if stop is None or s.side * (trail - stop) > 0:
                stop, trailing = trail, True
        s.trailing = trailing
        if stop is not None and stop != s.stop:
            s.stop = stop
            await self._replace_stop(s, "stop moved")

    async def _replace_stop(self, s: Sleeve, why: str) -> None:
        """Cancel the stop order and place it again at ``s.stop`` for what is held."""
        if s.stop_leg is not None:
            await self._cancel(s.stop_leg)
            s.legs.remove(s.stop_leg)
        assert s.stop is not None
        s.stop_leg = await self._leg(s, OrderType.STOP, s.qty, s.stop, why)

    async def _enter(self, s: Sleeve, plan: EntryPlan, key: int | str, reason: str) -> None:
        """Size and send (or propose) a market entry; ``key`` (the bar's open time or the signal's id) makes its
        client id."""
        cfg = self.config
        price = s.last_close
        if price <= 0:
            return
        rate = Decimal(repr(cfg.taker_fee_bps)) / _BPS
        equity = s.cash + s.position_value()
        budget = Decimal(repr(cfg.fraction_ratio)) * equity
        qty = budget / (price * (1 + rate))
        if cfg.sizing is Sizing.RISK and plan.stop is not None and plan.stop != price:
            qty = min(qty, Decimal(repr(cfg.risk_per_trade_ratio)) * equity / abs(price - plan.stop))
        qty = round_to_step(qty, self._lot(s.symbol))
        side = OrderSide.BUY if plan.side > 0 else OrderSide.SELL
        if qty <= 0:
            self._event("refused", s.symbol, f"no {side.value}: the sleeve's equity buys less than one lot")
            return
        if s.side and s.exiting is None:  # a reversal: close first (at the same open), then open
            await self._exit(s, "reversal")
        cid = client_order_id(self.settings.account, self.settings.bot_id, s.symbol, key, "entry")
        quote = budget if side is OrderSide.BUY and cfg.sizing is Sizing.FIXED_FRACTION else None
        request = OrderRequest(
            cid, self.settings.account, s.symbol, side, OrderType.MARKET, qty, reason=reason, quote_qty=quote
        )
        decision = self._risk.check(
            request,
            state=self.state,
            limits=self.settings.limits,
            rules=self._rules[s.symbol],
            price=price,
            stop_loss=plan.stop,
            now=self._clock(),
            hours=self.settings.hours.get(s.symbol),
        )
        if decision.kill_switch:
            self.stopped_reason = "; ".join(decision.reasons)
            self._event("kill_switch", s.symbol, f"bot stopped: {self.stopped_reason}")
        if not decision.allowed:
            self._event("refused", s.symbol, f"no {side.value}: {'; '.join(decision.reasons)}")
            return
        if decision.qty < qty:
            request = request.with_(
                qty=decision.qty, quote_qty=None if quote is None else quote * decision.qty / qty
            )
        s.pending[cid] = plan
        if await self._send(s, request, "entry", price) is None:
            s.pending.pop(cid, None)

    async def _exit(self, s: Sleeve, reason: str) -> None:
        await self._cancel_legs(s)
        side = OrderSide.SELL if s.side > 0 else OrderSide.BUY
        cid = client_order_id(
            self.settings.account, self.settings.bot_id, s.symbol, s.entry_at, s.bar, "exit"
        )
        request = OrderRequest(
            cid, self.settings.account, s.symbol, side, OrderType.MARKET, s.qty, reduce_only=True,
            reason=f"close {s.symbol}: {reason.replace('_', ' ')}",
        )  # fmt: skip
        s.exit_reason = reason
        s.exiting = cid
        await self._send(s, request, "exit", s.last_close)

    async def finish(self) -> None:
        """The end of a replay: cancel pending entries and protective orders, close what is open at market."""
        for s in self._sleeves.values():
            for cid in list(s.pending):
                await self._cancel(cid)
            s.pending.clear()
            if s.side and s.exiting is None:
                await self._exit(s, "end_of_data")

    # --- helpers ---------------------------------------------------------------------------------------------
    def _lot(self, symbol: str) -> Decimal:
        return self._rules[symbol].lot_size

    def _mark(self) -> None:
        """Keep the risk state's equity and positions at the sleeves' last closes."""
        equity = _ZERO
        for s in self._sleeves.values():
            equity += s.cash + s.position_value()
            if s.side:
                self.state.positions[s.symbol] = s.side * s.qty
                self.state.position_values[s.symbol] = s.side * s.qty * s.last_close
            else:
                self.state.positions.pop(s.symbol, None)
                self.state.position_values.pop(s.symbol, None)
        self.state.update_equity(equity)

    def equity(self) -> Decimal:
        """The bot's equity at the pairs' last closes, quote currency."""
        self._mark()
        return self.state.equity

    def cash(self) -> Decimal:
        """The quote currency the bot's sleeves hold (not in positions)."""
        return sum((s.cash for s in self._sleeves.values()), _ZERO)
