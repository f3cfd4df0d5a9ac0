"""The paper broker: the Broker port over simulated balances, filling orders from candles with the backtest
engine's fill rules (:mod:`tsbot.backtest.engine`), fees and slippage.

Candles come from outside: live (the monitoring cycle passes each closed bar) or replayed. :meth:`PaperBroker.on_candle`
works every order of that symbol against the bar, in this order:

1. Market orders waiting for an open (``FillAt.NEXT_OPEN``) fill at the bar's open, moved against the trader by
   the slippage.
2. Stop-loss legs (reduce-only STOP orders) before take-profits when ``stop_first`` (the engine's default for a bar
   that touches both); a stop the open gapped through fills at the open.
3. Limit orders at their price, or at the better open a gap gives; no slippage, maker fee.
4. Stop orders at their stop, or at the worse open a gap gives, plus slippage; taker fee. A stop-limit becomes a
   limit order at its trigger and can fill from the next bar (in the same bar only when the open already gapped
   through the trigger). The prices are :mod:`tsbot.trading.paper_fills`'s.

Bracket legs (``parent_id`` set) are held until their parent entry has filled, and work from the bar after that
fill, as the engine checks a position opened at a close from the next bar. Legs that share an ``oco_group`` close
one position: a take-profit fill shrinks the stop leg to what is left, and the leg that closes the rest cancels
the others. A bar with a NaN price or no volume fills nothing.

With ``FillAt.CLOSE`` a market order fills at once at the last close received (the engine's ``--fill close``).

Balances, funds checks and what resting orders reserve live in the spot wallet (:mod:`tsbot.trading.paper_wallet`);
:class:`Bar` and :class:`PaperCosts` can be imported from here.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from decimal import Decimal

from tsbot.core.errors import ExchangeError
from tsbot.trading.models import (
    Balance,
    BrokerOrder,
    BrokerPosition,
    Fill,
    MarketRules,
    Order,
    OrderRejectedError,
    OrderRequest,
    OrderStatus,
    OrderType,
)
from tsbot.trading.orders import prepare_order, round_to_step
from tsbot.trading.paper_fills import (
    Bar,
    broker_order,
    limit_fill_price,
    open_fill,
    stop_fill_price,
    stop_through_open,
    stop_touched,
    work_rank,
)
from tsbot.trading.paper_wallet import PaperCosts, SpotWallet

__all__ = ["Bar", "PaperBroker", "PaperCosts"]


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
        self._costs = costs or PaperCosts()
        self._wallet = SpotWallet(balances, self._costs)
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
        self._wallet.check(request, Decimal(repr(last.close)) if last else None, self._open())
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
        """Non-zero balances per asset, by name: ``locked`` is what working buy orders reserve, ``free`` the rest
        of what is held (:meth:`SpotWallet.balances <tsbot.trading.paper_wallet.SpotWallet.balances>`)."""
        return self._wallet.balances(self._open())

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
        if bar.traded:
            self._last[symbol] = bar

    def last_close(self, symbol: str) -> Decimal | None:
        """The close of the last bar received for ``symbol`` (quote currency), or None before the first."""
        last = self._last.get(symbol)
        return None if last is None else Decimal(repr(last.close))

    def credit(self, asset: str, amount: Decimal) -> None:
        """Add ``amount`` (negative: take it) to what the account holds of ``asset``: a deposit or a withdrawal."""
        self._wallet.credit(asset, amount)

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
        if not bar.traded:
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
        traded = bar.traded
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
        return sorted(live, key=lambda o: work_rank(o.request, self._costs.stop_first))

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
        hit = open_fill(r, o)
        if hit is None:
            return None
        px, taker = hit
        px = self._wallet.slipped(px, r.side) if taker else px
        return self._fill(order, px, order.remaining_qty, taker, at, (at, False))

    def _market_fill(self, order: Order, px: Decimal, at: datetime) -> Fill | None:
        """A market order at ``px`` before slippage; a buy by quote amount gets the quantity that amount pays for,
        fee included, rounded down to the lot. Its bracket legs work from this bar on."""
        r = order.request
        price = self._wallet.slipped(px, r.side)
        qty = order.remaining_qty
        if r.quote_qty is not None:
            rate = self._wallet.fee_ratio(True)
            qty = round_to_step(r.quote_qty / (price * (1 + rate)), self._rules[r.symbol].lot_size)
            if qty <= 0 or qty < self._rules[r.symbol].min_qty:
                order.move(
                    OrderStatus.CANCELLED,
                    at,
                    f"{r.quote_qty} {r.symbol.split('/', 1)[1]} buys less than the minimum lot",
                )
                return None
            order.request = r.with_(qty=qty)  # the venue sets the quantity of a buy by amount
        return self._fill(order, price, qty, True, at, (at, True))

    def _try(self, order: Order, o: Decimal, h: Decimal, lo: Decimal, at: datetime) -> Fill | None:
        r = order.request
        if r.order_type is OrderType.LIMIT or (
            r.order_type is OrderType.STOP_LIMIT and self._is_triggered(order, o)
        ):
            px = limit_fill_price(r, o, h, lo)
            return None if px is None else self._fill(order, px, order.remaining_qty, False, at, (at, False))
        if not stop_touched(r, h, lo):
            return None
        if r.order_type is OrderType.STOP_LIMIT:
            self._triggered.add(r.client_order_id)  # a limit order from the next bar
            return None
        px = self._wallet.slipped(stop_fill_price(r, o), r.side)
        return self._fill(order, px, order.remaining_qty, True, at, (at, False))

    def _is_triggered(self, order: Order, o: Decimal) -> bool:
        """Whether a stop-limit works as a limit in this bar: triggered earlier, or the open gapped through."""
        r = order.request
        if r.client_order_id in self._triggered:
            return True
        if stop_through_open(r, o):
            self._triggered.add(r.client_order_id)
            return True
        return False

    def _fill(
        self,
        order: Order,
        px: Decimal,
        qty: Decimal,
        taker: bool,
        at: datetime,
        legs_from: tuple[datetime, bool],
    ) -> Fill | None:
        """Fill ``qty`` at ``px``; ``legs_from`` (bar open time, same bar too) arms an entry's bracket legs. An
        order the wallet cannot pay for now is cancelled with the reason."""
        r = order.request
        settled = self._wallet.settle(r, px, qty, taker)
        if isinstance(settled, str):
            order.move(OrderStatus.CANCELLED, at, settled)
            return None
        qty, fee = settled
        quote = r.symbol.split("/", 1)[1]
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
        held = self._wallet.held(base)
        for other in self._open():
            if other is filled or other.request.oco_group != filled.request.oco_group or other.status.final:
                continue
            if held <= 0:
                other.move(OrderStatus.CANCELLED, at, f"one-cancels-other: {filled.client_order_id} filled")
            elif other.request.qty - other.filled_qty > held:
                other.request = other.request.with_(qty=other.filled_qty + held)

    def _report(self, order: Order) -> BrokerOrder:
        return broker_order(order, self._fills.get(order.client_order_id, ()))
