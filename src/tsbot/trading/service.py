"""Sending orders safely and keeping the stored view equal to the venue's.

:class:`OrderService` stores an order (NEW) before it sends it, so a process killed between sending and recording
the acknowledgement leaves a NEW order behind with its deterministic client id. :meth:`OrderService.reconcile` (on
start and periodically) asks the venue about every stored order that is not final and about the venue's open
orders: a difference is fixed (status moves, missing fills) or reported, never ignored. Sending the same request
again after a restart finds the stored order and asks the venue by client id instead of placing a second order.

A NEW order the venue has never seen was lost on its way (or its request is still in flight). Within
``resend_within`` of its creation it is sent now, under the same client id, so a restart that reconciles before
the bot retries its signal loses nothing and a request still in flight cannot become a second order (the venue
refuses a client id twice and the broker returns the first). An older one is cancelled: its decision is stale.
An order tsbot recorded as final that the venue still lists as open is cancelled at the venue and reported.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

from tsbot.core.errors import TemporaryError
from tsbot.core.time import utc_now
from tsbot.trading.models import (
    TRANSITIONS,
    BrokerOrder,
    Fill,
    MarketRules,
    Order,
    OrderRejectedError,
    OrderRequest,
    OrderStatus,
)
from tsbot.trading.orders import prepare_order
from tsbot.trading.ports import Broker, OrderStore

#: A front end's own rule on an order about to be sent: the reason it is refused (a sentence), or None to let it go.
OrderCheck = Callable[[OrderRequest, MarketRules], str | None]


@dataclass(slots=True)
class ReconcileReport:
    """What one reconciliation found. Every list entry is a sentence a person can read."""

    checked: int = 0
    fixed: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    unknown_at_venue: list[BrokerOrder] = field(default_factory=list)


class OrderService:
    """Orders of one account on one broker, stored before they are sent.

    Args:
        store: the order store.
        broker: the account's broker.
        account: the account name orders carry.
        clock: the current time (UTC).
        client_prefix: our client ids start with it (``tsb-``); the venue's other open orders are reported.
        resend_within: a NEW order the venue never saw is sent by reconciliation while younger than this
            (default 5 minutes); an older one is cancelled as stale.
        checks: rules of the front end run after the market's own checks (the desk's stock market hours,
            :class:`~tsbot.trading.market_hours.StockHoursCheck`); a refusal is stored as REJECTED like theirs.
    """

    def __init__(
        self,
        store: OrderStore,
        broker: Broker,
        account: str,
        *,
        clock: Callable[[], datetime] = utc_now,
        client_prefix: str = "tsb-",
        resend_within: timedelta = timedelta(minutes=5),
        checks: Sequence[OrderCheck] = (),
    ) -> None:
        self._store = store
        self._broker = broker
        self._account = account
        self._clock = clock
        self._prefix = client_prefix
        self._resend_within = resend_within
        self._checks = tuple(checks)

    async def submit(self, request: OrderRequest, *, reference_price: Decimal | None = None) -> Order:
        """Check, store, then send an order; returns it with the venue's answer applied.

        A request whose client id is already stored is not sent again: the stored order is returned, brought up to
        date from the venue first when it never got an acknowledgement.

        Raises:
            OrderRejectedError: refused by the checks (stored as REJECTED with the reason) or by the venue.
            TemporaryError: the venue did not answer; the order stays NEW and reconciliation settles it.
        """
        if request.account != self._account:
            raise OrderRejectedError(f"order for account {request.account} sent to {self._account}")
        stored = await self._store.get(request.client_order_id)
        if stored is not None:
            if stored.status is OrderStatus.NEW:
                await self._settle(stored, ReconcileReport(), resend=request)
            return stored
        now = self._clock()
        try:
            rules = await self._broker.market_rules(request.symbol)
            request = prepare_order(request, rules, reference_price)
            for check in self._checks:
                if (reason := check(request, rules)) is not None:
                    raise OrderRejectedError(reason)
        except OrderRejectedError as refused:
            order = Order.new(request, now)
            order.move(OrderStatus.REJECTED, now, refused.reason)
            await self._store.add(order)
            raise
        order = Order.new(request, now)
        await self._store.add(order)
        await self._send(order)
        return order

    async def cancel(self, client_order_id: str) -> Order:
        """Cancel a working order at the venue and store the result.

        Raises:
            OrderRejectedError: no such order on this account.
        """
        order = await self._own(client_order_id)
        if not order.status.final:
            answer = await self._broker.cancel(client_order_id, order.request.symbol)
            await self._apply(order, answer)
        return order

    async def refresh(self, client_order_id: str) -> Order:
        """Bring one stored order up to date from the venue (new fills, status) and return it; used when a fill is
        reported (a paper candle, a venue's execution message) instead of waiting for the next reconciliation.

        Raises:
            OrderRejectedError: no such order on this account.
        """
        order = await self._own(client_order_id)
        if not order.status.final:
            await self._settle(order, ReconcileReport())
        return order

    async def reconcile(self) -> ReconcileReport:
        """Compare every stored working order and the venue's open orders; fix or report each difference."""
        report = ReconcileReport()
        working = await self._store.working(self._account)
        for order in working:
            report.checked += 1
            await self._settle(order, report)
        mine = {o.client_order_id for o in working}
        for venue_order in await self._broker.open_orders():
            if venue_order.client_order_id in mine:
                continue
            stored = await self._store.get(venue_order.client_order_id)
            if stored is not None and stored.request.account == self._account:
                await self._cancel_straggler(stored, venue_order, report)
            elif stored is None:
                report.unknown_at_venue.append(venue_order)
                whose = (
                    "ours, but never stored"
                    if venue_order.client_order_id.startswith(self._prefix)
                    else "placed elsewhere"
                )
                report.problems.append(
                    f"open order {venue_order.client_order_id} ({venue_order.side.value} {venue_order.qty} "
                    f"{venue_order.symbol}) is at the venue but not in tsbot ({whose}); left untouched"
                )
        return report

    # --- internals -------------------------------------------------------------------------------------------
    async def _cancel_straggler(
        self, stored: Order, venue_order: BrokerOrder, report: ReconcileReport
    ) -> None:
        """An order recorded as final here that the venue lists as open (a request that arrived after tsbot gave
        up on it): cancel it at the venue and report it with what had filled."""
        cid = stored.client_order_id
        try:
            answer = await self._broker.cancel(cid, stored.request.symbol)
        except TemporaryError as exc:
            report.problems.append(
                f"order {cid} is {stored.status.value} in tsbot but open at the venue; cancelling it failed "
                f"({exc}); retried at the next reconciliation"
            )
            return
        filled = max(answer.filled_qty, venue_order.filled_qty)
        unbooked = (
            f"; {filled} {stored.request.symbol} had filled there and is not booked in tsbot: check the position"
            if filled > 0
            else ""
        )
        report.problems.append(
            f"order {cid} is {stored.status.value} in tsbot but was open at the venue: cancelled there{unbooked}"
        )

    async def _own(self, client_order_id: str) -> Order:
        """The stored order of this account; OrderRejectedError when there is none."""
        order = await self._store.get(client_order_id)
        if order is None or order.request.account != self._account:
            raise OrderRejectedError(f"no order {client_order_id} on {self._account}")
        return order

    async def _send(self, order: Order) -> None:
        try:
            answer = await self._broker.place(order.request)
        except OrderRejectedError as refused:
            order.move(
                OrderStatus.REJECTED, self._clock(), f"refused by {self._broker.name}: {refused.reason}"
            )
            await self._store.save(order)
            raise
        except TemporaryError:
            raise  # stays NEW: the venue may or may not have it; reconciliation asks by client id
        await self._apply(order, answer)

    async def _settle(
        self, order: Order, report: ReconcileReport, resend: OrderRequest | None = None
    ) -> None:
        """Bring one stored order up to date from the venue."""
        cid = order.client_order_id
        answer = await self._broker.fetch_order(cid, order.request.symbol)
        if answer is not None:
            before = order.status
            await self._apply(order, answer)
            if order.status is not before:
                report.fixed.append(f"order {cid}: {before.value} -> {order.status.value} from the venue")
            return
        now = self._clock()
        age = now - order.history[0].at
        if order.status is OrderStatus.NEW and (resend is not None or age <= self._resend_within):
            if resend is not None:
                await self._send(order)  # the caller's retry: its errors are the caller's
            else:
                try:
                    await self._send(order)
                except OrderRejectedError as refused:
                    report.problems.append(
                        f"order {cid} never reached the venue; sent now and refused: {refused}"
                    )
                    return
                except TemporaryError as exc:
                    report.problems.append(
                        f"order {cid} never reached the venue; sending it now failed ({exc}); tried again at the "
                        "next reconciliation"
                    )
                    return
            report.fixed.append(f"order {cid} never reached the venue: sent now")
            return
        if order.status is OrderStatus.NEW:
            order.move(
                OrderStatus.CANCELLED,
                now,
                f"never reached the venue and was created {_minutes(age)} ago (over "
                f"{_minutes(self._resend_within)}): not sent, its decision is stale",
            )
        else:
            order.move(
                OrderStatus.CANCELLED, now, f"the venue no longer knows this {order.status.value} order"
            )
        await self._store.save(order)
        report.problems.append(f"order {cid}: {order.history[-1].reason}")

    async def _apply(self, order: Order, answer: BrokerOrder) -> None:
        """Take the venue's view of an order: its id, new fills and its status, then store it."""
        now = answer.updated_at or self._clock()
        order.broker_order_id = answer.broker_order_id or order.broker_order_id
        if order.request.quote_qty is not None and answer.qty > 0 and answer.qty != order.request.qty:
            order.request = order.request.with_(
                qty=answer.qty
            )  # bought by amount: the venue set the quantity
        new_fills = await self._new_fills(order, answer, now)
        for fill in new_fills:
            order.add_fill(fill)
            if order.filled_qty < order.request.qty and answer.status is not OrderStatus.FILLED:
                order.move(OrderStatus.PARTIALLY_FILLED, fill.filled_at, f"filled {fill.qty} at {fill.price}")
        target = answer.status
        if target is not order.status and target in TRANSITIONS[order.status]:
            order.move(target, now, answer.reason or f"{target.value} at {self._broker.name}")
        elif order.status is OrderStatus.NEW and target is OrderStatus.NEW:
            order.move(OrderStatus.OPEN, now, f"acknowledged by {self._broker.name}")
        await self._store.save(order, new_fills)

    async def _new_fills(self, order: Order, answer: BrokerOrder, now: datetime) -> list[Fill]:
        stored = await self._store.fills(order.client_order_id)
        known = {f.fill_id for f in stored}
        fresh = [f for f in answer.fills if f.fill_id not in known]
        counted = order.filled_qty + sum((f.qty for f in fresh), Decimal(0))
        missing = answer.filled_qty - counted
        if missing > 0 and answer.avg_fill_price is not None:
            # the venue reports only cumulative figures: one fill for the difference, priced so the average holds
            value = answer.avg_fill_price * answer.filled_qty
            value -= (order.avg_fill_price or Decimal(0)) * order.filled_qty + sum(
                (f.price * f.qty for f in fresh), Decimal(0)
            )
            side = order.request.side
            quote = order.request.symbol.split("/", 1)[-1]
            # the venue's cumulative fee is in the quote currency: subtract what the fills already charged in it
            charged = sum((f.fee for f in (*stored, *fresh) if f.fee_currency == quote), Decimal(0))
            fee = max(answer.fee - charged, Decimal(0))
            fill_id = f"{answer.broker_order_id}:{answer.filled_qty}"
            fresh.append(
                Fill(
                    fill_id,
                    order.client_order_id,
                    order.request.symbol,
                    side,
                    missing,
                    value / missing,
                    fee,
                    quote,
                    now,
                )
            )
        return fresh


def _minutes(span: timedelta) -> str:
    """``12 min`` (whole minutes, at least 0)."""
    return f"{max(int(span.total_seconds() // 60), 0)} min"
