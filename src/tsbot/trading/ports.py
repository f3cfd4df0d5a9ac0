"""The ports trading needs from the outside world. Adapters live in :mod:`tsbot.adapters.brokers`."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from tsbot.trading.models import Balance, BrokerOrder, BrokerPosition, Fill, MarketRules, Order, OrderRequest


class Broker(Protocol):
    """One trading account on one venue (a paper portfolio, a Binance key, an Alpaca account).

    Every method is async. Errors: :class:`~tsbot.trading.models.OrderRejectedError` when the venue refuses an
    order (its message kept in ``reason``); :class:`~tsbot.core.errors.ExchangeUnavailableError` (temporary: retry)
    on timeouts, HTTP 429 and 5xx after the adapter's own retries; :class:`~tsbot.core.errors.ExchangeError` for
    other refusals (unknown symbol, bad credentials).

    Idempotency: :meth:`place` with a ``client_order_id`` the venue already knows must not create a second order;
    it returns the existing one (adapters look it up by client id when the venue reports a duplicate).
    """

    name: str

    async def market_rules(self, symbol: str) -> MarketRules:
        """Tick, lot and minimum sizes of ``symbol`` (``BASE/QUOTE``). Raises ExchangeError for an unknown
        symbol."""
        ...

    async def place(self, request: OrderRequest) -> BrokerOrder:
        """Send an order; returns the venue's acknowledgement (status OPEN, or already FILLED / REJECTED)."""
        ...

    async def cancel(self, client_order_id: str, symbol: str) -> BrokerOrder:
        """Cancel a working order; cancelling a final order returns it unchanged."""
        ...

    async def fetch_order(self, client_order_id: str, symbol: str) -> BrokerOrder | None:
        """The order with our client id, or None when the venue has never seen it."""
        ...

    async def open_orders(self, symbol: str | None = None) -> list[BrokerOrder]:
        """Working orders (OPEN / PARTIALLY_FILLED), of one symbol or all."""
        ...

    async def balances(self) -> list[Balance]:
        """Balances with a non-zero total."""
        ...

    async def positions(self) -> list[BrokerPosition]:
        """Open positions (margin / futures / stock accounts); spot venues report none."""
        ...

    async def close(self) -> None:
        """Release connections."""
        ...


class OrderStore(Protocol):
    """Where orders, their status moves and fills are kept (the database). Writes are idempotent."""

    async def add(self, order: Order) -> bool:
        """Store a new order with its history; False (nothing written) when its client id is already stored."""
        ...

    async def get(self, client_order_id: str) -> Order | None:
        """The order with its whole history, or None."""
        ...

    async def save(self, order: Order, fills: Sequence[Fill] = ()) -> None:
        """Write the order's current state, the history entries not stored yet, and the fills not stored yet
        (matched by venue fill id). Raises NotFoundError for an order never added."""
        ...

    async def fills(self, client_order_id: str) -> list[Fill]:
        """The stored fills of an order, in the order they happened."""
        ...

    async def working(self, account: str) -> list[Order]:
        """Orders of an account that are not final (NEW, OPEN, PARTIALLY_FILLED), oldest first."""
        ...
