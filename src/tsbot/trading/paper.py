"""The paper broker: the Broker port over simulated balances, filling orders from candles with the backtest
engine's fill rules (:mod:`tsbot.backtest.engine`), fees and slippage.

Candles come from outside: live (the monitoring cycle passes each closed bar) or replayed. :meth:`PaperBroker.on_candle`
works every order of that symbol against the bar, in this order:

1. Market orders waiting for an open (``FillAt.NEXT_OPEN``) fill at the bar's open, moved against the trader by
   the slippage.
2. Stop-loss legs (reduce-only STOP orders) before take-profits when ``stop_first`` (the engine's default for a bar
   that touches both); a stop the open gapped through fills at the open.
3. Limit orders: a buy fills when ``low <= price`` at ``min(open, price)`` (a gap down fills at the better open),
   a sell mirrored; no slippage, maker fee.
4. Stop orders: a buy triggers when ``high >= stop`` and fills at ``max(open, stop)`` plus slippage, taker fee.
   A stop-limit becomes a limit order at its trigger and can fill from the next bar (in the same bar only when the
   open already gapped through the trigger).

Bracket legs (``parent_id`` set) are held until their parent entry has filled, and work from the bar after that
fill, as the engine checks a position opened at a close from the next bar. Legs that share an ``oco_group`` close
one position: a take-profit fill shrinks the stop leg to what is left, and the leg that closes the rest cancels
the others. A bar with a NaN price or no volume fills nothing.

With ``FillAt.CLOSE`` a market order fills at once at the last close received (the engine's ``--fill close``).

Balances are spot balances per asset: a buy needs the quote currency for price, fee and slippage; a sell needs the
base asset (a sell of more than is held is refused). Fees are charged in the quote currency.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

from tsbot.core.errors import ExchangeError
from tsbot.market.models import CandleFrame
from tsbot.trading.models import (
    Balance,
    BrokerOrder,
    BrokerPosition,
    Fill,
    MarketRules,
    Order,
    OrderRejectedError,
    OrderRequest,
    OrderSide,
    OrderStatus,
    OrderType,
)
from tsbot.trading.orders import prepare_order, round_to_step

_BPS = Decimal(10_000)


@dataclass(frozen=True, slots=True)
class PaperCosts:
    """Fees and slippage in basis points (10 bps = 0.1 %), as in the backtest's ``BacktestConfig``."""

    taker_fee_bps: Decimal = Decimal(10)
    maker_fee_bps: Decimal = Decimal(10)
    slippage_bps: Decimal = Decimal(0)
    fill_at_close: bool = False
    stop_first: bool = True


@dataclass(frozen=True, slots=True)
class Bar:
    """One closed candle: open time (UTC) and prices in the quote currency."""

    open_at: datetime
    open: float
    high: float
    low: float
    close: float
    volume: float

    @classmethod
    def of(cls, frame: CandleFrame, i: int) -> Bar:
        """Row ``i`` of a candle frame (open time in ms since the epoch, UTC)."""
        return cls(
            datetime.fromtimestamp(int(frame.open_time_ms[i]) / 1000, UTC),
            float(frame.open[i]),
            float(frame.high[i]),
            float(frame.low[i]),
            float(frame.close[i]),
            float(frame.volume[i]),
        )


class PaperBroker:
    """Simulated trading on one paper account (see the module docstring for the fill rules).

    Args:
        account: the account name orders must carry (``paper:<portfolio id>``).
        rules: market rules per symbol (tick, lot, minimum notional).
        balances: starting balances per asset (``{"USDT": Decimal("10000")}``).
        costs: fees, slippage and fill timing.
        clock: the current time (UTC); replay passes the replay clock.
    """

    def __init__(
        self,
        account: str,
        *,
        rules: Mapping[str, MarketRules],
        balances: Mapping[str, Decimal],
        costs: PaperCosts | None = None,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.name = "paper"
        self.account = account
        self._rules = dict(rules)
        self._free: dict[str, Decimal] = {a: Decimal(v) for a, v in balances.items()}
        self._costs = costs or PaperCosts()
        self._clock = clock or (lambda: datetime.now(UTC))
        self._orders: dict[str, Order] = {}
        self._live: dict[str, Order] = {}  # orders not final yet (pruned as they end): what each bar works
        self._fills: dict[str, list[Fill]] = {}
        # parent client id -> (open time of the bar its entry filled in, whether its legs work in that bar too)
        self._armed_from: dict[str, tuple[datetime, bool]] = {}
        self._triggered: set[str] = set()  # stop-limit orders whose trigger traded
        self._works_from: dict[str, datetime] = {}  # adopted orders: the first bar open time they may work in
        self._last: dict[str, Bar] = {}
        self._seq = 0

    # --- the Broker port -------------------------------------------------------------------------------------
    async def market_rules(self, symbol: str) -> MarketRules:
        rules = self._rules.get(symbol)
        if rules is None:
            raise ExchangeError(
                f"paper account has no market {symbol}; known: {', '.join(sorted(self._rules))}"
            )
        return rules

    async def place(self, request: OrderRequest) -> BrokerOrder:
        """Accept an order (idempotent by client id); refused orders raise OrderRejectedError with the reason."""
        known = self._orders.get(request.client_order_id)
        if known is not None:
            return self._report(known)
        if request.account != self.account:
            raise OrderRejectedError(
                f"order for account {request.account} sent to paper account {self.account}"
            )
        rules = await self.market_rules(request.symbol)
        last = self._last.get(request.symbol)
        request = prepare_order(request, rules, Decimal(repr(last.close)) if last else None)
        self._check_funds(request, last)
        order = Order(request)
        order.broker_order_id = f"P-{request.client_order_id}"
        now = self._clock()
        order.move(OrderStatus.OPEN, now, "accepted by the paper broker")
        self._orders[request.client_order_id] = order
        self._live[request.client_order_id] = order
        self._fills[request.client_order_id] = []
        if request.order_type is OrderType.MARKET and request.parent_id is None and self._costs.fill_at_close:
            if last is None:
                raise OrderRejectedError(
                    f"no price for {request.symbol} yet: a market order needs a candle first"
                )
            self._market_fill(order, Decimal(repr(last.close)), now)
            self._armed_from[request.client_order_id] = (last.open_at, False)
        return self._report(order)

    async def cancel(self, client_order_id: str, symbol: str) -> BrokerOrder:
        order = self._orders.get(client_order_id)
        if order is None:
            raise OrderRejectedError(f"no order {client_order_id} on paper account {self.account}")
        if not order.status.final:
            order.move(OrderStatus.CANCELLED, self._clock(), "cancelled on request")
        return self._report(order)

    async def fetch_order(self, client_order_id: str, symbol: str) -> BrokerOrder | None:
        order = self._orders.get(client_order_id)
        return None if order is None else self._report(order)

    async def open_orders(self, symbol: str | None = None) -> list[BrokerOrder]:
        return [self._report(o) for o in self._open() if (symbol is None or o.request.symbol == symbol)]

    async def balances(self) -> list[Balance]:
        locked = self._locked()
        assets = set(self._free) | set(locked)
        out = [Balance(a, self._free.get(a, Decimal(0)), locked.get(a, Decimal(0))) for a in sorted(assets)]
        return [b for b in out if b.total != 0]

    async def positions(self) -> list[BrokerPosition]:
        return []

    async def close(self) -> None:
        return None

    # --- a paper account restored from the store ------------------------------------------------------------
    def adopt(
        self,
        order: Order,
        fills: Sequence[Fill] = (),
        *,
        legs_armed_at: datetime | None = None,
        works_from: datetime | None = None,
    ) -> None:
        """Take back a stored working order (a restart). ``legs_armed_at``: for a bracket leg, the open time of
        the bar its entry filled in (the leg works from the bar after it). ``works_from``: the order works only in
        bars that open at or after it (its creation time: a bar that opened before the order was placed cannot
        fill it).

        Raises:
            OrderRejectedError: the order is for another account or is final.
        """
        r = order.request
        if r.account != self.account or order.status.final:
            raise OrderRejectedError(
                f"cannot take back {order.status.value} order {r.client_order_id} of {r.account} on {self.account}"
            )
        if r.client_order_id in self._orders:
            return
        order.broker_order_id = order.broker_order_id or f"P-{r.client_order_id}"
        self._orders[r.client_order_id] = order
        self._live[r.client_order_id] = order
        self._fills[r.client_order_id] = list(fills)
        if r.parent_id is not None and legs_armed_at is not None:
            self._armed_from.setdefault(r.parent_id, (legs_armed_at, False))
        if works_from is not None:
            self._works_from[r.client_order_id] = works_from

    def seed_price(self, symbol: str, bar: Bar) -> None:
        """Make ``bar`` the last price of ``symbol`` without working any order against it (a restart, where the
        bar was worked before)."""
        if self._traded(bar):
            self._last[symbol] = bar

    def last_close(self, symbol: str) -> Decimal | None:
        """The close of the last bar received for ``symbol`` (quote currency), or None before the first."""
        last = self._last.get(symbol)
        return None if last is None else Decimal(repr(last.close))

    def credit(self, asset: str, amount: Decimal) -> None:
        """Add ``amount`` (negative: take it) to the free balance of ``asset``: a deposit or a withdrawal."""
        self._free[asset] = self._free.get(asset, Decimal(0)) + amount

    def continue_numbering(self, fills_made: int) -> None:
        """Number new fills after the ``fills_made`` the account made before a restart (``PF<n>`` stays unique)."""
        self._seq = max(self._seq, fills_made)

    # --- candles ---------------------------------------------------------------------------------------------
    def on_candle(self, symbol: str, bar: Bar) -> list[Fill]:
        """Work the orders of ``symbol`` against one closed bar (:meth:`open_bar` then :meth:`close_bar`); returns
        the fills it made, in order."""
        return self.open_bar(symbol, bar) + self.close_bar(symbol, bar)

    def open_bar(self, symbol: str, bar: Bar) -> list[Fill]:
        """The open of ``bar``: market orders fill at it, then orders the open gapped through (stop legs first when
        ``stop_first``, then limits) fill at the open. Legs armed by a fill at this open wait for :meth:`close_bar`,
        so a caller can place an entry's protective orders between the two calls, as a bot does on a fill."""
        made: list[Fill] = []
        if not self._traded(bar):
            return made
        o = Decimal(repr(bar.open))
        for order in self._working(symbol, bar.open_at, before=True):
            if order.status.final:
                continue  # cancelled by an earlier fill of its group at this open
            fill = self._at_open(order, o, bar.open_at)
            if fill is not None:
                made.append(fill)
        return made

    def close_bar(self, symbol: str, bar: Bar) -> list[Fill]:
        """The rest of ``bar``: working orders against its high and low (see the module docstring), then the bar
        becomes the symbol's last price."""
        made: list[Fill] = []
        traded = self._traded(bar)
        if traded:
            o, h, lo = Decimal(repr(bar.open)), Decimal(repr(bar.high)), Decimal(repr(bar.low))
            for order in self._working(symbol, bar.open_at):
                if order.status.final or order.request.order_type is OrderType.MARKET:
                    continue  # (a leg cancelled by an earlier fill of its group in this bar)
                fill = self._try(order, o, h, lo, bar.open_at)
                if fill is not None:
                    made.append(fill)
        self._last[symbol] = bar if traded else self._last.get(symbol, bar)
        return made

    def fill_at_last_close(self, symbol: str) -> list[Fill]:
        """Fill the working market orders of ``symbol`` at the last close received (slippage, taker fee): the end of
        a replay, where the backtest closes what is open at the last close."""
        last = self._last.get(symbol)
        if last is None:
            return []
        px = Decimal(repr(last.close))
        made: list[Fill] = []
        for order in self._working(symbol, last.open_at):
            if order.request.order_type is OrderType.MARKET and not order.status.final:
                fill = self._market_fill(order, px, last.open_at)
                if fill is not None:
                    made.append(fill)
        return made

    def fills(self, client_order_id: str) -> list[Fill]:
        return list(self._fills.get(client_order_id, ()))

    # --- internals -------------------------------------------------------------------------------------------
    def _open(self) -> list[Order]:
        """Orders not final, oldest first; those that ended since the last call are dropped from the live set."""
        for cid in [cid for cid, o in self._live.items() if o.status.final]:
            del self._live[cid]
        return list(self._live.values())

    def _working(self, symbol: str, at: datetime, *, before: bool = False) -> list[Order]:
        """Working orders of a symbol in the order the rules above work them; ``before``: only orders that were
        working before this bar (what its open can fill)."""
        live = [o for o in self._open() if o.request.symbol == symbol and self._armed(o, at, before)]
        if self._works_from:
            live = [o for o in live if self._works_from.get(o.client_order_id, at) <= at]

        def rank(o: Order) -> int:
            t = o.request.order_type
            if t is OrderType.MARKET:
                return 0
            if o.request.reduce_only and t is OrderType.STOP:
                return 1 if self._costs.stop_first else 3
            return 2 if t is OrderType.LIMIT else 3

        return sorted(live, key=rank)

    @staticmethod
    def _traded(bar: Bar) -> bool:
        return all(math.isfinite(p) for p in (bar.open, bar.high, bar.low, bar.close)) and bar.volume > 0

    def _armed(self, order: Order, at: datetime, before: bool = False) -> bool:
        parent = order.request.parent_id
        if parent is None:
            return True
        armed = self._armed_from.get(parent)
        if armed is None:
            return False
        start, same_bar = armed
        return at >= start if same_bar and not before else at > start

    def _at_open(self, order: Order, o: Decimal, at: datetime) -> Fill | None:
        """Fill ``order`` at the bar's open ``o`` if it is a market order or the open is through its price."""
        r = order.request
        if r.order_type is OrderType.MARKET:
            return self._market_fill(order, o, at)
        buy = r.side is OrderSide.BUY
        if r.order_type is OrderType.LIMIT:
            assert r.price is not None
            if (o <= r.price) if buy else (o >= r.price):
                return self._fill(order, o, order.remaining_qty, False, at, (at, False))
            return None
        if r.order_type is OrderType.STOP:
            assert r.stop_price is not None
            if (o >= r.stop_price) if buy else (o <= r.stop_price):
                return self._fill(order, self._slipped(o, r.side), order.remaining_qty, True, at, (at, False))
        return None

    def _market_fill(self, order: Order, px: Decimal, at: datetime) -> Fill | None:
        """A market order at ``px`` before slippage; a buy by quote amount gets the quantity that amount pays for,
        fee included, rounded down to the lot. Its bracket legs work from this bar on."""
        r = order.request
        price = self._slipped(px, r.side)
        qty = order.remaining_qty
        if r.quote_qty is not None:
            rate = self._costs.taker_fee_bps / _BPS
            qty = round_to_step(r.quote_qty / (price * (1 + rate)), self._rules[r.symbol].lot_size)
            if qty <= 0 or qty < self._rules[r.symbol].min_qty:
                order.move(
                    OrderStatus.CANCELLED, at, f"{r.quote_qty} {_quote(r)} buys less than the minimum lot"
                )
                return None
            order.request = r.with_(qty=qty)  # the venue sets the quantity of a buy by amount
        return self._fill(order, price, qty, True, at, (at, True))

    def _try(self, order: Order, o: Decimal, h: Decimal, lo: Decimal, at: datetime) -> Fill | None:
        r = order.request
        buy = r.side is OrderSide.BUY
        if r.order_type is OrderType.LIMIT or (
            r.order_type is OrderType.STOP_LIMIT and self._is_triggered(order, o)
        ):
            assert r.price is not None
            if (lo <= r.price) if buy else (h >= r.price):
                px = min(o, r.price) if buy else max(o, r.price)
                return self._fill(order, px, order.remaining_qty, False, at, (at, False))
            return None
        assert r.stop_price is not None
        touched = (h >= r.stop_price) if buy else (lo <= r.stop_price)
        if not touched:
            return None
        if r.order_type is OrderType.STOP_LIMIT:
            self._triggered.add(r.client_order_id)  # a limit order from the next bar
            return None
        px = max(o, r.stop_price) if buy else min(o, r.stop_price)
        return self._fill(order, self._slipped(px, r.side), order.remaining_qty, True, at, (at, False))

    def _is_triggered(self, order: Order, o: Decimal) -> bool:
        """Whether a stop-limit works as a limit in this bar: triggered earlier, or the open gapped through."""
        r = order.request
        if r.client_order_id in self._triggered:
            return True
        assert r.stop_price is not None
        if (o >= r.stop_price) if r.side is OrderSide.BUY else (o <= r.stop_price):
            self._triggered.add(r.client_order_id)
            return True
        return False

    def _slipped(self, px: Decimal, side: OrderSide) -> Decimal:
        return px * (1 + side.sign * self._costs.slippage_bps / _BPS)

    def _fill(
        self,
        order: Order,
        px: Decimal,
        qty: Decimal,
        taker: bool,
        at: datetime,
        legs_from: tuple[datetime, bool],
    ) -> Fill | None:
        """Fill ``qty`` at ``px``; ``legs_from`` (bar open time, same bar too) arms an entry's bracket legs."""
        r = order.request
        base, quote = r.symbol.split("/", 1)
        rate = (self._costs.taker_fee_bps if taker else self._costs.maker_fee_bps) / _BPS
        fee = qty * px * rate
        if r.side is OrderSide.BUY:
            cost = qty * px + fee
            if self._free.get(quote, Decimal(0)) < cost:
                order.move(OrderStatus.CANCELLED, at, f"not enough {quote} at fill time: needs {cost:f}")
                return None
            self._free[quote] = self._free.get(quote, Decimal(0)) - cost
            self._free[base] = self._free.get(base, Decimal(0)) + qty
        else:
            held = self._free.get(base, Decimal(0))
            if held < qty and not r.reduce_only:
                order.move(OrderStatus.CANCELLED, at, f"not enough {base} at fill time: holds {held}")
                return None
            if held < qty:
                qty = held  # a protective leg closes what is left
                if qty <= 0:
                    order.move(
                        OrderStatus.CANCELLED, at, f"nothing left to sell: {base} position already closed"
                    )
                    return None
                fee = qty * px * rate
            self._free[base] = held - qty
            self._free[quote] = self._free.get(quote, Decimal(0)) + qty * px - fee
        self._seq += 1
        fill = Fill(f"PF{self._seq}", r.client_order_id, r.symbol, r.side, qty, px, fee, quote, at)
        order.add_fill(fill)
        self._fills[r.client_order_id].append(fill)
        done = order.remaining_qty <= 0 or r.reduce_only  # a protective leg closes all that is left
        order.move(OrderStatus.FILLED if done else OrderStatus.PARTIALLY_FILLED, at, f"filled {qty} at {px}")
        if r.parent_id is None:
            self._armed_from.setdefault(r.client_order_id, legs_from)
        if r.oco_group:
            self._settle_group(order, at)
        return fill

    def _settle_group(self, filled: Order, at: datetime) -> None:
        """After a leg of an OCO group fills: shrink the other legs to the base still held, cancel them when none."""
        base = filled.request.symbol.split("/", 1)[0]
        held = self._free.get(base, Decimal(0))
        for other in self._open():
            if other is filled or other.request.oco_group != filled.request.oco_group or other.status.final:
                continue
            if held <= 0:
                other.move(OrderStatus.CANCELLED, at, f"one-cancels-other: {filled.client_order_id} filled")
            elif other.request.qty - other.filled_qty > held:
                other.request = other.request.with_(qty=other.filled_qty + held)

    def _check_funds(self, request: OrderRequest, last: Bar | None) -> None:
        base, quote = request.symbol.split("/", 1)
        if request.side is OrderSide.SELL:
            held = self._free.get(base, Decimal(0))
            if request.parent_id is None and request.qty > held:  # bracket legs wait for their entry
                raise OrderRejectedError(
                    f"cannot sell {request.qty.normalize():f} {base}: the account holds {held.normalize():f} {base}"
                )
            return
        px = request.price or request.stop_price or (Decimal(repr(last.close)) if last else None)
        fee = max(self._costs.taker_fee_bps, self._costs.maker_fee_bps) / _BPS
        if request.quote_qty is not None:
            need = request.quote_qty
        elif px is None:
            return
        else:
            need = request.qty * px * (1 + fee + self._costs.slippage_bps / _BPS)
        free = self._free.get(quote, Decimal(0)) - self._locked().get(quote, Decimal(0))
        if need > free:
            raise OrderRejectedError(
                f"not enough {quote}: the order needs about {need:.2f} and {max(free, Decimal(0)):.2f} is free"
            )

    def _locked(self) -> dict[str, Decimal]:
        """Quote held by working buy limits and stops (what the venue would lock)."""
        out: dict[str, Decimal] = {}
        for o in self._open():
            r = o.request
            if o.status.final or r.side is not OrderSide.BUY or r.order_type is OrderType.MARKET:
                continue
            quote = r.symbol.split("/", 1)[1]
            px = r.price or r.stop_price or Decimal(0)
            out[quote] = out.get(quote, Decimal(0)) + o.remaining_qty * px
        return out

    def _report(self, order: Order) -> BrokerOrder:
        r = order.request
        return BrokerOrder(
            client_order_id=r.client_order_id,
            broker_order_id=str(order.broker_order_id),
            symbol=r.symbol,
            side=r.side,
            order_type=r.order_type,
            status=order.status,
            qty=r.qty,
            filled_qty=order.filled_qty,
            avg_fill_price=order.avg_fill_price,
            price=r.price,
            stop_price=r.stop_price,
            fee=order.fees,
            fills=tuple(self._fills.get(r.client_order_id, ())),
            updated_at=order.history[-1].at if order.history else None,
            reason=order.history[-1].reason if order.history else "",
        )


def _quote(request: OrderRequest) -> str:
    return request.symbol.split("/", 1)[1]
