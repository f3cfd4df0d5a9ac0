"""Paper accounts that outlive a process.

A paper account keeps no balance of its own: its balances are its ledger (deposits and withdrawals) plus the
effect of its stored fills, so nothing can drift between two copies. :class:`PaperDesk` rebuilds a
:class:`~tsbot.trading.paper.PaperBroker` from the store on every start:

1. balances = ledger totals + every stored fill of the account (:func:`balances_after`);
2. the last stored candle of each symbol becomes its last price, worked before, so it fills nothing again;
3. the account's stored working orders go back to the broker, each working only in candles that open at or after
   its creation: :meth:`PaperDesk.work` works the candles that closed while nothing ran, so orders resting
   meanwhile fill as they would have, and an order placed mid-bar first works in the next bar. Paper fills are
   whole, so a working order has no fills yet and working it again is deterministic.

Fees are charged in the quote currency; a fee in the base asset (from a venue) comes out of the base balance.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Protocol

from tsbot.core.time import utc_now
from tsbot.trading.models import (
    Balance,
    Fill,
    MarketRules,
    Order,
    OrderRejectedError,
    OrderRequest,
    OrderSide,
)
from tsbot.trading.paper import Bar, PaperBroker, PaperCosts
from tsbot.trading.ports import OrderStore
from tsbot.trading.service import OrderCheck, OrderService


@dataclass(frozen=True, slots=True)
class LedgerEntry:
    """Money put into (positive ``amount``) or taken out of (negative) a paper account; ``at`` UTC."""

    account: str
    asset: str
    amount: Decimal
    reason: str
    at: datetime


class PaperLedger(Protocol):
    """Where deposits and withdrawals of paper accounts are kept (the database)."""

    async def add(self, account: str, asset: str, amount: Decimal, reason: str) -> LedgerEntry:
        """Record one entry (the store stamps the time)."""
        ...

    async def entries(self, account: str) -> list[LedgerEntry]:
        """The account's entries, oldest first."""
        ...


class AccountOrderStore(OrderStore, Protocol):
    """An order store that can also list every fill of some accounts."""

    async def account_fills(self, accounts: Sequence[str]) -> list[tuple[str, Fill]]:
        """Every stored fill of the orders of ``accounts`` as ``(account, fill)``, oldest first."""
        ...


def balances_after(start: Mapping[str, Decimal], fills: Iterable[Fill]) -> dict[str, Decimal]:
    """Balances per asset after ``fills`` on top of ``start``: a buy adds the base quantity and takes quantity x
    price from the quote; a sell the reverse; each fee comes out of the asset it was charged in."""
    out = {asset: Decimal(v) for asset, v in start.items()}
    for f in fills:
        base, _, quote = f.symbol.partition("/")
        value = f.qty * f.price
        sign = 1 if f.side is OrderSide.BUY else -1
        out[base] = out.get(base, Decimal(0)) + sign * f.qty
        out[quote] = out.get(quote, Decimal(0)) - sign * value
        if f.fee:
            asset = f.fee_currency or quote
            out[asset] = out.get(asset, Decimal(0)) - f.fee
    return out


def ledger_totals(entries: Iterable[LedgerEntry]) -> dict[str, Decimal]:
    """Sum of the ledger per asset."""
    out: dict[str, Decimal] = {}
    for e in entries:
        out[e.asset] = out.get(e.asset, Decimal(0)) + e.amount
    return out


class PaperDesk:
    """One paper account restored from the store (see the module docstring). Build with :meth:`open`."""

    def __init__(
        self,
        account: str,
        broker: PaperBroker,
        service: OrderService,
        ledger: PaperLedger,
        working: list[str],
    ) -> None:
        self.account = account
        self.broker = broker
        self.service = service
        self._ledger = ledger
        self._working = (
            working  # client ids of orders the broker works that were not final when last looked at
        )

    @classmethod
    async def open(
        cls,
        account: str,
        *,
        ledger: PaperLedger,
        store: AccountOrderStore,
        rules: Mapping[str, MarketRules],
        last_bars: Mapping[str, Bar],
        costs: PaperCosts | None = None,
        clock: Callable[[], datetime] = utc_now,
        checks: Sequence[OrderCheck] = (),
    ) -> PaperDesk:
        """Rebuild the account ``account`` (``paper:<portfolio id>``).

        Args:
            rules: market rules of every symbol it may trade (and of those it holds working orders in).
            last_bars: the newest stored candle per symbol, already worked (its close is the last price).
            costs: fees and slippage (default: 10 bps each side, no slippage, market orders fill at the last close).
            checks: the front end's own rules on each order placed (see :class:`OrderService`).
        """
        fills = [f for _, f in await store.account_fills([account])]
        balances = balances_after(ledger_totals(await ledger.entries(account)), fills)
        broker = PaperBroker(
            account,
            rules=rules,
            balances=balances,
            costs=costs or PaperCosts(fill_at_close=True),
            clock=clock,
        )
        broker.continue_numbering(len(fills))
        for symbol, bar in last_bars.items():
            broker.seed_price(symbol, bar)
        first_fill = {}
        for f in fills:
            first_fill.setdefault(f.client_order_id, f.filled_at)
        working = await store.working(account)
        for o in working:
            armed = first_fill.get(o.request.parent_id or "")
            broker.adopt(o, legs_armed_at=armed, works_from=o.history[0].at)
        service = OrderService(store, broker, account, clock=clock, checks=checks)
        return cls(account, broker, service, ledger, [o.client_order_id for o in working])

    @property
    def working(self) -> list[str]:
        """Client ids of the account's working orders (as of the last call)."""
        return list(self._working)

    async def work(self, bars: Mapping[str, Sequence[Bar]]) -> list[Fill]:
        """Work closed candles, all symbols in time order (a candle's open time, UTC), against the orders created
        before each candle opened; store every fill and status move. Returns the fills made, in order."""
        events = sorted(
            ((bar.open_at, symbol, n, bar) for symbol, seq in bars.items() for n, bar in enumerate(seq)),
            key=lambda e: (e[0], e[1], e[2]),
        )
        made: list[Fill] = []
        for _, symbol, _, bar in events:
            made.extend(self.broker.on_candle(symbol, bar))
        still: list[str] = []
        for cid in self._working:
            order = await self.service.refresh(cid)
            if not order.status.final:
                still.append(cid)
        self._working = still
        return made

    async def place(self, request: OrderRequest) -> Order:
        """Check, store and send an order (see :meth:`OrderService.submit`); a market order fills at once at the
        last close (with :class:`PaperCosts` ``fill_at_close``).

        Raises:
            OrderRejectedError: refused (the reason says why: funds, lot, tick, minimum notional, no price yet).
        """
        last = self.broker.last_close(request.symbol)
        order = await self.service.submit(request, reference_price=last)
        if not order.status.final:
            self._working.append(order.client_order_id)
        return order

    async def cancel(self, client_order_id: str) -> Order:
        """Cancel a working order of this account and store the result.

        Raises:
            OrderRejectedError: no such order on this account.
        """
        return await self.service.cancel(client_order_id)

    async def balances(self) -> list[Balance]:
        """Free and locked balances per asset (non-zero ones)."""
        return await self.broker.balances()

    async def deposit(self, asset: str, amount: Decimal, reason: str = "deposit") -> LedgerEntry:
        """Put ``amount`` of ``asset`` into the account.

        Raises:
            OrderRejectedError: the amount is not a positive number.
        """
        if not amount.is_finite() or amount <= 0:
            raise OrderRejectedError(f"a deposit must be a positive amount, got {amount}")
        entry = await self._ledger.add(self.account, asset.upper(), amount, reason)
        self.broker.credit(entry.asset, amount)
        return entry

    async def withdraw(self, asset: str, amount: Decimal, reason: str = "withdrawal") -> LedgerEntry:
        """Take ``amount`` of ``asset`` out of the account.

        Raises:
            OrderRejectedError: not a positive amount, or more than is free (locked by orders or not held).
        """
        if not amount.is_finite() or amount <= 0:
            raise OrderRejectedError(f"a withdrawal must be a positive amount, got {amount}")
        asset = asset.upper()
        free = {b.asset: b.free for b in await self.balances()}.get(asset, Decimal(0))
        if amount > free:
            raise OrderRejectedError(
                f"cannot withdraw {amount.normalize():f} {asset}: {max(free, Decimal(0)).normalize():f} {asset} is free"
            )
        entry = await self._ledger.add(self.account, asset, -amount, reason)
        self.broker.credit(asset, -amount)
        return entry
