"""SQL implementation of :class:`tsbot.trading.ports.OrderStore`. Decimals are stored as plain-notation strings."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

from sqlalchemy import func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from tsbot.adapters.storage.tables import order_events, order_fills, orders
from tsbot.core.errors import NotFoundError
from tsbot.trading.models import Fill, Order, OrderRequest, OrderSide, OrderStatus, OrderType, StatusChange


def _text(value: Decimal | None) -> str | None:
    return None if value is None else format(value, "f")


def _dec(value: str | None) -> Decimal | None:
    return None if value is None else Decimal(value)


class SqlOrderStore:
    """Orders in the ``orders``, ``order_events`` and ``order_fills`` tables."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def add(self, order: Order) -> bool:
        r = order.request
        created = order.history[0].at if order.history else None
        if created is None:
            raise ValueError(
                f"order {r.client_order_id} needs its first status move (created) before storing"
            )
        row = {
            "client_order_id": r.client_order_id,
            "account": r.account,
            "symbol": r.symbol,
            "side": r.side.value,
            "order_type": r.order_type.value,
            "qty": _text(r.qty),
            "quote_qty": _text(r.quote_qty),
            "price": _text(r.price),
            "stop_price": _text(r.stop_price),
            "reduce_only": r.reduce_only,
            "parent_id": r.parent_id,
            "oco_group": r.oco_group,
            "leverage": _text(r.leverage),
            "reason": r.reason,
            "created_at": created,
            **self._state(order),
        }
        try:
            async with self._engine.begin() as conn:
                await conn.execute(insert(orders).values(**row))
                await self._add_events(conn, order, 0)
        except IntegrityError:
            return False
        return True

    async def get(self, client_order_id: str) -> Order | None:
        async with self._engine.connect() as conn:
            row = (
                await conn.execute(select(orders).where(orders.c.client_order_id == client_order_id))
            ).first()
            if row is None:
                return None
            return await self._order(conn, row._mapping)

    async def save(self, order: Order, fills: Sequence[Fill] = ()) -> None:
        cid = order.client_order_id
        async with self._engine.begin() as conn:
            done = await conn.execute(
                update(orders).where(orders.c.client_order_id == cid).values(**self._state(order))
            )
            if done.rowcount == 0:
                raise NotFoundError(f"order {cid} was never stored")
            stored = await conn.scalar(
                select(func.count()).select_from(order_events).where(order_events.c.client_order_id == cid)
            )
            await self._add_events(conn, order, int(stored or 0))
            known = set(
                (
                    await conn.execute(
                        select(order_fills.c.fill_id).where(order_fills.c.client_order_id == cid)
                    )
                )
                .scalars()
                .all()
            )
            new = [f for f in fills if f.fill_id not in known]
            if new:
                await conn.execute(insert(order_fills), [self._fill_row(f) for f in new])

    async def fills(self, client_order_id: str) -> list[Fill]:
        async with self._engine.connect() as conn:
            rows = await conn.execute(
                select(order_fills)
                .where(order_fills.c.client_order_id == client_order_id)
                .order_by(order_fills.c.filled_at, order_fills.c.id)
            )
            return [self._fill(r._mapping) for r in rows]

    async def working(self, account: str) -> list[Order]:
        live = [OrderStatus.NEW.value, OrderStatus.OPEN.value, OrderStatus.PARTIALLY_FILLED.value]
        async with self._engine.connect() as conn:
            rows = (
                await conn.execute(
                    select(orders)
                    .where(orders.c.account == account, orders.c.status.in_(live))
                    .order_by(orders.c.created_at, orders.c.client_order_id)
                )
            ).all()
            return [await self._order(conn, r._mapping) for r in rows]

    async def recent(
        self,
        *,
        accounts: Sequence[str] | None = None,
        statuses: Sequence[OrderStatus] | None = None,
        limit: int = 100,
    ) -> list[Order]:
        """Orders of ``accounts`` (None: all) in ``statuses`` (None: any), newest first, at most ``limit``."""
        query = (
            select(orders).order_by(orders.c.created_at.desc(), orders.c.client_order_id.desc()).limit(limit)
        )
        if accounts is not None:
            query = query.where(orders.c.account.in_(list(accounts)))
        if statuses is not None:
            query = query.where(orders.c.status.in_([s.value for s in statuses]))
        async with self._engine.connect() as conn:
            rows = (await conn.execute(query)).all()
            return [await self._order(conn, r._mapping) for r in rows]

    async def account_fills(self, accounts: Sequence[str]) -> list[tuple[str, Fill]]:
        """Every stored fill of the orders of ``accounts`` as ``(account, fill)``, oldest first."""
        query = (
            select(orders.c.account, order_fills)
            .join(orders, orders.c.client_order_id == order_fills.c.client_order_id)
            .where(orders.c.account.in_(list(accounts)))
            .order_by(order_fills.c.filled_at, order_fills.c.id)
        )
        async with self._engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        return [(r._mapping["account"], self._fill(r._mapping)) for r in rows]

    @staticmethod
    def _fill(m: Mapping[str, Any]) -> Fill:
        return Fill(
            m["fill_id"],
            m["client_order_id"],
            m["symbol"],
            OrderSide(m["side"]),
            Decimal(m["qty"]),
            Decimal(m["price"]),
            Decimal(m["fee"]),
            m["fee_currency"],
            m["filled_at"],
        )

    @staticmethod
    def _state(order: Order) -> dict[str, Any]:
        return {
            "qty": _text(order.request.qty),  # a buy by quote amount gets its quantity from the venue
            "status": order.status.value,
            "broker_order_id": order.broker_order_id,
            "filled_qty": _text(order.filled_qty),
            "avg_fill_price": _text(order.avg_fill_price),
            "fees": _text(order.fees),
            "updated_at": order.history[-1].at,
        }

    @staticmethod
    async def _add_events(conn: AsyncConnection, order: Order, stored: int) -> None:
        rows = [
            {
                "client_order_id": order.client_order_id,
                "seq": seq,
                "status_from": None if c.status_from is None else c.status_from.value,
                "status_to": c.status_to.value,
                "at": c.at,
                "reason": c.reason,
            }
            for seq, c in enumerate(order.history)
            if seq >= stored
        ]
        if rows:
            await conn.execute(insert(order_events), rows)

    @staticmethod
    def _fill_row(f: Fill) -> dict[str, Any]:
        return {
            "client_order_id": f.client_order_id,
            "fill_id": f.fill_id,
            "symbol": f.symbol,
            "side": f.side.value,
            "qty": _text(f.qty),
            "price": _text(f.price),
            "fee": _text(f.fee),
            "fee_currency": f.fee_currency,
            "filled_at": f.filled_at,
        }

    @staticmethod
    async def _order(conn: AsyncConnection, m: Mapping[str, Any]) -> Order:
        request = OrderRequest(
            client_order_id=m["client_order_id"],
            account=m["account"],
            symbol=m["symbol"],
            side=OrderSide(m["side"]),
            order_type=OrderType(m["order_type"]),
            qty=Decimal(m["qty"]),
            price=_dec(m["price"]),
            stop_price=_dec(m["stop_price"]),
            reduce_only=bool(m["reduce_only"]),
            parent_id=m["parent_id"],
            oco_group=m["oco_group"],
            leverage=Decimal(m["leverage"]),
            reason=m["reason"],
            quote_qty=_dec(m["quote_qty"]),
        )
        events = await conn.execute(
            select(order_events)
            .where(order_events.c.client_order_id == m["client_order_id"])
            .order_by(order_events.c.seq)
        )
        history = [
            StatusChange(
                None if e["status_from"] is None else OrderStatus(e["status_from"]),
                OrderStatus(e["status_to"]),
                e["at"],
                e["reason"],
            )
            for e in (r._mapping for r in events)
        ]
        return Order(
            request=request,
            status=OrderStatus(m["status"]),
            broker_order_id=m["broker_order_id"],
            filled_qty=Decimal(m["filled_qty"]),
            avg_fill_price=_dec(m["avg_fill_price"]),
            fees=Decimal(m["fees"]),
            history=history,
        )
