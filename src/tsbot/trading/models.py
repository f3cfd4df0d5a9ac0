"""Value objects of trading: order requests, orders and their lifecycle, fills, market rules, balances, positions.

Money, prices and quantities are :class:`~decimal.Decimal` in the instrument's quote / base units. Times are
timezone-aware UTC (``*_at``). Symbols are ``BASE/QUOTE`` (``BTC/USDT``) for crypto and the ticker with the account
currency (``AAPL/USD``) for stocks, so one portfolio holds both.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from tsbot.core.enums import AssetClass
from tsbot.core.errors import OperationalError


class OrderSide(StrEnum):
    """Buy or sell. A long opens with BUY; a short (where the venue allows it) with SELL."""

    BUY = "buy"
    SELL = "sell"

    @property
    def sign(self) -> int:
        """+1 for BUY, -1 for SELL: the change of the held quantity per unit filled."""
        return 1 if self is OrderSide.BUY else -1

    @property
    def opposite(self) -> OrderSide:
        return OrderSide.SELL if self is OrderSide.BUY else OrderSide.BUY


class OrderType(StrEnum):
    """How an order fills.

    MARKET: now, at the best price. LIMIT: at ``price`` or better. STOP: becomes a market order when the price
    trades through ``stop_price``. STOP_LIMIT: becomes a limit order at ``price`` when ``stop_price`` trades.
    """

    MARKET = "market"
    LIMIT = "limit"
    STOP = "stop"
    STOP_LIMIT = "stop_limit"


class OrderStatus(StrEnum):
    """Lifecycle: NEW (created, not yet acknowledged by the broker) -> OPEN (working) -> PARTIALLY_FILLED ->
    FILLED; or CANCELLED / REJECTED / EXPIRED. FILLED, CANCELLED, REJECTED and EXPIRED are final."""

    NEW = "new"
    OPEN = "open"
    PARTIALLY_FILLED = "partially_filled"
    FILLED = "filled"
    CANCELLED = "cancelled"
    REJECTED = "rejected"
    EXPIRED = "expired"

    @property
    def final(self) -> bool:
        return self in _FINAL


_FINAL = frozenset({OrderStatus.FILLED, OrderStatus.CANCELLED, OrderStatus.REJECTED, OrderStatus.EXPIRED})

#: Allowed lifecycle moves. A broker may skip steps (a market order goes NEW -> FILLED), never go back.
TRANSITIONS: dict[OrderStatus, frozenset[OrderStatus]] = {
    OrderStatus.NEW: frozenset(
        {
            OrderStatus.OPEN,
            OrderStatus.PARTIALLY_FILLED,
            OrderStatus.FILLED,
            OrderStatus.CANCELLED,
            OrderStatus.REJECTED,
            OrderStatus.EXPIRED,
        }
    ),
    OrderStatus.OPEN: frozenset(
        {OrderStatus.PARTIALLY_FILLED, OrderStatus.FILLED, OrderStatus.CANCELLED, OrderStatus.EXPIRED}
    ),
    OrderStatus.PARTIALLY_FILLED: frozenset(
        {OrderStatus.PARTIALLY_FILLED, OrderStatus.FILLED, OrderStatus.CANCELLED, OrderStatus.EXPIRED}
    ),
    OrderStatus.FILLED: frozenset(),
    OrderStatus.CANCELLED: frozenset(),
    OrderStatus.REJECTED: frozenset(),
    OrderStatus.EXPIRED: frozenset(),
}


class OrderRejectedError(OperationalError):
    """An order was refused before sending (rules, risk, balance) or by the broker. ``reason`` is readable by a
    person ("below the minimum notional of 10 USDT")."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


class InvalidTransitionError(OperationalError):
    """An order was asked to move to a status its lifecycle does not allow (e.g. FILLED -> OPEN)."""


@dataclass(frozen=True, slots=True)
class MarketRules:
    """What a venue accepts for one instrument.

    Attributes:
        symbol: ``BASE/QUOTE``.
        tick_size: smallest price increment, quote currency (0.01 USDT).
        lot_size: smallest quantity increment, base units (0.00001 BTC; 1 share for most stocks).
        min_qty: smallest quantity, base units.
        min_notional: smallest ``qty * price``, quote currency (Binance: 5 or 10 USDT).
        max_qty: largest quantity per order (None: no limit).
        asset_class: crypto or stock (stocks trade only in market hours).
        shortable: whether a SELL may open a short.
    """

    symbol: str
    tick_size: Decimal
    lot_size: Decimal
    min_qty: Decimal = Decimal(0)
    min_notional: Decimal = Decimal(0)
    max_qty: Decimal | None = None
    asset_class: AssetClass = AssetClass.CRYPTO
    shortable: bool = False


@dataclass(frozen=True, slots=True)
class OrderRequest:
    """An order as tsbot wants it sent; ``client_order_id`` is deterministic (see :mod:`tsbot.trading.orders`), so
    sending it twice can never open two orders.

    Attributes:
        client_order_id: our id, at most 36 characters of ``[A-Za-z0-9_-]`` (what Binance, Kraken, Coinbase and
            Alpaca all accept).
        account: the broker account (a user's portfolio on one venue): ``"paper:<portfolio id>"`` or
            ``"<exchange>:<key id>"``.
        symbol: ``BASE/QUOTE``.
        side, order_type: see :class:`OrderSide`, :class:`OrderType`.
        qty: base units, > 0.
        price: limit price (LIMIT, STOP_LIMIT), quote currency.
        stop_price: trigger price (STOP, STOP_LIMIT), quote currency.
        reduce_only: only closes (part of) a position, never opens one (take-profits and stop-losses).
        parent_id: the bracket's entry order (its take-profit and stop legs point to it); ``oco_group``: legs of
            which the first fill cancels the others.
        leverage: for margin / futures accounts (1 for spot).
        reason: why the order exists, for a person ("signal BTC/USDT BUY 0.62 at 2026-11-21 10:00").
        quote_qty: for a MARKET BUY only: the quote currency the buy spends in all, fees included (Binance's
            ``quoteOrderQty``, Alpaca's ``notional``); the venue sets the quantity from its fill price. ``qty`` is then
            the estimate at the last price (used for checks and by venues that cannot buy by amount).
    """

    client_order_id: str
    account: str
    symbol: str
    side: OrderSide
    order_type: OrderType
    qty: Decimal
    price: Decimal | None = None
    stop_price: Decimal | None = None
    reduce_only: bool = False
    parent_id: str | None = None
    oco_group: str | None = None
    leverage: Decimal = Decimal(1)
    reason: str = ""
    quote_qty: Decimal | None = None

    def with_(self, **changes: Any) -> OrderRequest:
        return replace(self, **changes)


@dataclass(frozen=True, slots=True)
class Fill:
    """One execution: ``qty`` base units at ``price`` (quote), ``fee`` in ``fee_currency``, at ``filled_at`` (UTC).
    ``fill_id`` is the venue's trade id (unique per order), so a fill seen twice is counted once."""

    fill_id: str
    client_order_id: str
    symbol: str
    side: OrderSide
    qty: Decimal
    price: Decimal
    fee: Decimal
    fee_currency: str
    filled_at: datetime


@dataclass(frozen=True, slots=True)
class StatusChange:
    """One stored move of an order's lifecycle: from ``status_from`` to ``status_to`` at ``at`` (UTC), and why."""

    status_from: OrderStatus | None
    status_to: OrderStatus
    at: datetime
    reason: str


@dataclass(slots=True)
class Order:
    """An order and its lifecycle. Change it only through :meth:`move` so every change is recorded."""

    request: OrderRequest
    status: OrderStatus = OrderStatus.NEW
    broker_order_id: str | None = None
    filled_qty: Decimal = Decimal(0)
    avg_fill_price: Decimal | None = None
    fees: Decimal = Decimal(0)
    history: list[StatusChange] = field(default_factory=list)

    @classmethod
    def new(cls, request: OrderRequest, at: datetime, reason: str = "created") -> Order:
        """A NEW order whose history starts with its creation at ``at`` (UTC)."""
        return cls(request, history=[StatusChange(None, OrderStatus.NEW, at, reason)])

    @property
    def client_order_id(self) -> str:
        return self.request.client_order_id

    @property
    def remaining_qty(self) -> Decimal:
        return self.request.qty - self.filled_qty

    def move(self, status: OrderStatus, at: datetime, reason: str) -> bool:
        """Move to ``status`` and record it. Returns False (and records nothing) when already there, except for
        PARTIALLY_FILLED, which is recorded again for each partial fill.

        Raises:
            InvalidTransitionError: the lifecycle does not allow the move.
        """
        if status == self.status and status is not OrderStatus.PARTIALLY_FILLED:
            return False
        if status not in TRANSITIONS[self.status]:
            raise InvalidTransitionError(
                f"order {self.client_order_id} cannot go from {self.status.value} to {status.value}"
            )
        self.history.append(StatusChange(self.status, status, at, reason))
        self.status = status
        return True

    def add_fill(self, fill: Fill) -> None:
        """Count a fill: filled quantity, average price (quantity-weighted) and fees in the quote currency.

        A fee charged in the base asset (a Binance buy without BNB) counts at the fill's price; a fee in a third
        asset (BNB) cannot be priced here and is not added to ``fees`` (it stays on the stored fill)."""
        total = self.filled_qty + fill.qty
        if total > self.request.qty:
            raise InvalidTransitionError(
                f"order {self.client_order_id}: fills of {total} exceed its quantity {self.request.qty}"
            )
        prev = (self.avg_fill_price or Decimal(0)) * self.filled_qty
        self.avg_fill_price = (prev + fill.price * fill.qty) / total
        self.filled_qty = total
        base, _, quote = self.request.symbol.partition("/")
        if fill.fee_currency == quote or not fill.fee_currency:
            self.fees += fill.fee
        elif fill.fee_currency == base:
            self.fees += fill.fee * fill.price


@dataclass(frozen=True, slots=True)
class BrokerOrder:
    """An order as the broker reports it (the reconciliation's view of the venue).

    ``status`` is mapped to :class:`OrderStatus`; ``filled_qty`` and ``avg_fill_price`` are cumulative; ``fills``
    holds the executions the broker returned with it (may be empty: then reconcile from the cumulative figures).
    """

    client_order_id: str
    broker_order_id: str
    symbol: str
    side: OrderSide
    order_type: OrderType
    status: OrderStatus
    qty: Decimal
    filled_qty: Decimal
    avg_fill_price: Decimal | None
    price: Decimal | None = None
    stop_price: Decimal | None = None
    fee: Decimal = Decimal(0)
    fills: tuple[Fill, ...] = ()
    updated_at: datetime | None = None
    reason: str = ""


@dataclass(frozen=True, slots=True)
class Balance:
    """Holdings of one asset on one account: ``free`` can be spent, ``locked`` is held by open orders."""

    asset: str
    free: Decimal
    locked: Decimal = Decimal(0)

    @property
    def total(self) -> Decimal:
        return self.free + self.locked


@dataclass(frozen=True, slots=True)
class BrokerPosition:
    """A position the broker reports: signed ``qty`` (base units, negative for a short), average entry price."""

    symbol: str
    qty: Decimal
    avg_entry_price: Decimal
