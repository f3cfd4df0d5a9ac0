"""An in-memory :class:`~tsbot.trading.ports.OrderStore`: for paper replays that keep nothing (``tsbot bot replay``)
and for unit tests. Orders go in and come out as copies, so a caller changing an order it holds changes nothing
stored until it saves it, as with the database."""

from __future__ import annotations

import copy
from collections.abc import Sequence

from tsbot.core.errors import NotFoundError
from tsbot.trading.models import Fill, Order


class MemoryOrderStore:
    """Orders, their status moves and fills in dictionaries (one process, no persistence)."""

    def __init__(self) -> None:
        self._orders: dict[str, Order] = {}
        self._fills: dict[str, list[Fill]] = {}

    async def add(self, order: Order) -> bool:
        cid = order.client_order_id
        if cid in self._orders:
            return False
        self._orders[cid] = copy.deepcopy(order)
        self._fills[cid] = []
        return True

    async def get(self, client_order_id: str) -> Order | None:
        order = self._orders.get(client_order_id)
        return None if order is None else copy.deepcopy(order)

    async def save(self, order: Order, fills: Sequence[Fill] = ()) -> None:
        cid = order.client_order_id
        if cid not in self._orders:
            raise NotFoundError(f"order {cid} was never stored")
        self._orders[cid] = copy.deepcopy(order)
        known = {f.fill_id for f in self._fills[cid]}
        self._fills[cid].extend(f for f in fills if f.fill_id not in known)

    async def fills(self, client_order_id: str) -> list[Fill]:
        return list(self._fills.get(client_order_id, ()))

    async def working(self, account: str) -> list[Order]:
        return [
            copy.deepcopy(o)
            for o in self._orders.values()
            if o.request.account == account and not o.status.final
        ]

    async def account_fills(self, accounts: Sequence[str]) -> list[tuple[str, Fill]]:
        """Every stored fill of the orders of ``accounts`` as ``(account, fill)``, oldest first."""
        wanted = set(accounts)
        found = [
            (o.request.account, f)
            for cid, o in self._orders.items()
            if o.request.account in wanted
            for f in self._fills[cid]
        ]
        return sorted(found, key=lambda pair: pair[1].filled_at)

    def all(self) -> list[Order]:
        """Every stored order (copies), oldest first."""
        return [copy.deepcopy(o) for o in self._orders.values()]
