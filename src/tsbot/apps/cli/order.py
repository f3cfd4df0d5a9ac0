"""``tsbot order list|show|place|cancel|sync``: stored orders, newest first; one order with its status history and
fills; orders on a portfolio's paper account (:mod:`tsbot.apps.cli.paper_trade`).

Times are UTC. Money and quantities print as plain decimals; in ``--json`` they are strings (exact Decimals).
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Annotated, Any

import typer
from rich import box
from rich.table import Table
from sqlalchemy import select

from tsbot.adapters.storage.tables import orders as orders_table
from tsbot.apps.cli.common import console, run, settings_or_exit
from tsbot.core.errors import NotFoundError
from tsbot.trading.models import Fill, Order, OrderStatus
from tsbot.wiring import Services, open_services

order_app = typer.Typer(
    help="Orders: list stored orders, show one with its history and fills.", no_args_is_help=True
)

#: Characters of a client order id shown in tables (``tsb-`` and 8 hex digits); ``order show`` takes them.
SHORT_ID = 12
#: Fewest characters ``order show`` accepts as an id prefix.
MIN_PREFIX = 6
_TIME = "%Y-%m-%d %H:%M:%S"


def _num(value: Decimal | None) -> str:
    """At most 8 decimals, no trailing zeros; ``-`` for None."""
    if value is None:
        return "-"
    return format(value.quantize(Decimal("1e-8")).normalize(), "f")


def _dec(value: Decimal | None) -> str | None:
    """Plain notation, no trailing zeros (``1`` for ``1.0``): the JSON form of a Decimal."""
    return None if value is None else format(value.normalize(), "f")


def parse_statuses(values: list[str]) -> list[OrderStatus]:
    """Statuses named by ``values`` (case ignored).

    Raises:
        typer.BadParameter: a name that is not a status, listing the allowed ones.
    """
    out = []
    for value in values:
        try:
            out.append(OrderStatus(value.strip().lower()))
        except ValueError:
            allowed = ", ".join(s.value for s in OrderStatus)
            raise typer.BadParameter(
                f"status {value!r} is not one of {allowed}", param_hint="--status"
            ) from None
    return out


def order_dict(order: Order) -> dict[str, Any]:
    """The JSON form of an order (Decimals as strings, times ISO 8601 UTC), without history and fills."""
    r = order.request
    return {
        "client_order_id": r.client_order_id,
        "broker_order_id": order.broker_order_id,
        "account": r.account,
        "symbol": r.symbol,
        "side": r.side.value,
        "order_type": r.order_type.value,
        "qty": _dec(r.qty),
        "quote_qty": _dec(r.quote_qty),
        "price": _dec(r.price),
        "stop_price": _dec(r.stop_price),
        "reduce_only": r.reduce_only,
        "parent_id": r.parent_id,
        "oco_group": r.oco_group,
        "leverage": _dec(r.leverage),
        "reason": r.reason,
        "status": order.status.value,
        "filled_qty": _dec(order.filled_qty),
        "avg_fill_price": _dec(order.avg_fill_price),
        "fees": _dec(order.fees),
        "created_at": order.history[0].at.isoformat() if order.history else None,
        "updated_at": order.history[-1].at.isoformat() if order.history else None,
    }


def fill_dict(fill: Fill) -> dict[str, Any]:
    """The JSON form of a fill."""
    return {
        "fill_id": fill.fill_id,
        "side": fill.side.value,
        "qty": _dec(fill.qty),
        "price": _dec(fill.price),
        "fee": _dec(fill.fee),
        "fee_currency": fill.fee_currency,
        "filled_at": fill.filled_at.isoformat(),
    }


def _price_text(order: Order) -> str:
    r = order.request
    parts = []
    if r.price is not None:
        parts.append(_num(r.price))
    if r.stop_price is not None:
        parts.append(f"stop {_num(r.stop_price)}")
    return " / ".join(parts) or "-"


def _reason_text(order: Order) -> str:
    """The order's reason; for a cancelled, rejected or expired order also why it ended."""
    text = order.request.reason
    ended = (OrderStatus.CANCELLED, OrderStatus.REJECTED, OrderStatus.EXPIRED)
    if order.status in ended and order.history and order.history[-1].reason:
        why = f"{order.status.value}: {order.history[-1].reason}"
        text = f"{text}; {why}" if text else why
    return text or "-"


@order_app.command("list")
def list_command(
    account: Annotated[
        list[str] | None, typer.Option("--account", help="Only this account (repeatable).")
    ] = None,
    status: Annotated[
        list[str] | None,
        typer.Option(
            "--status", help="Only this status (repeatable): new, open, partially_filled, filled, ..."
        ),
    ] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, max=10_000, help="At most this many orders.")] = 50,
    as_json: Annotated[bool, typer.Option("--json", help="Print the orders as JSON.")] = False,
) -> None:
    """Recent orders, newest first: time, client id (short), account, symbol, side, type, quantity, price / stop,
    status, filled quantity, average fill price, fees, reason (and why a cancelled, rejected or expired one ended)."""
    statuses = parse_statuses(status) if status else None
    settings = settings_or_exit()

    async def _list() -> list[Order]:
        async with open_services(settings) as services:
            return await services.orders.recent(accounts=account or None, statuses=statuses, limit=limit)

    found = run(_list())
    if as_json:
        typer.echo(json.dumps([order_dict(o) for o in found], indent=2))
        return
    if not found:
        console.print("No orders match.", highlight=False)
        return
    table = Table(title="Orders (newest first, UTC)", box=box.SIMPLE_HEAD, pad_edge=False)
    heads = (
        "time",
        "id",
        "account",
        "symbol",
        "side",
        "type",
        "qty",
        "price",
        "status",
        "filled",
        "avg price",
    )
    for head in (*heads, "fees", "reason"):
        right = head in ("qty", "price", "filled", "avg price", "fees")
        table.add_column(head, justify="right" if right else "left", no_wrap=head != "reason")
    for o in found:
        r = o.request
        table.add_row(
            o.history[0].at.strftime(_TIME) if o.history else "-",
            r.client_order_id[:SHORT_ID],
            r.account,
            r.symbol,
            r.side.value,
            r.order_type.value,
            _num(r.qty),
            _price_text(o),
            o.status.value,
            _num(o.filled_qty),
            _num(o.avg_fill_price),
            _num(o.fees),
            _reason_text(o),
        )
    console.print(table)


async def find_order(services: Services, ref: str) -> Order:
    """The order whose client id is ``ref``, else the one order whose client id starts with ``ref`` (at least
    :data:`MIN_PREFIX` characters, as ``order list`` shows them).

    Raises:
        NotFoundError: no such order, or a prefix several orders share (naming them).
    """
    ref = ref.strip()
    order = await services.orders.get(ref)
    if order is not None:
        return order
    if len(ref) >= MIN_PREFIX:
        query = (
            select(orders_table.c.client_order_id)
            .where(orders_table.c.client_order_id.startswith(ref, autoescape=True))
            .order_by(orders_table.c.client_order_id)
            .limit(5)
        )
        async with services.db.connect() as conn:
            ids = list((await conn.execute(query)).scalars())
        if len(ids) > 1:
            raise NotFoundError(
                f"order id {ref} matches several orders ({', '.join(ids)}, ...); give more of it"
            )
        if ids:
            found = await services.orders.get(ids[0])
            if found is not None:
                return found
    raise NotFoundError(f"no order with client id {ref}")


@order_app.command("show")
def show_command(
    client_order_id: Annotated[
        str, typer.Argument(help="Client order id (or its start, as `order list` shows).")
    ],
    as_json: Annotated[bool, typer.Option("--json", help="Print the order as JSON.")] = False,
) -> None:
    """One order: its request and state, its whole status history (from -> to, time, reason) and its fills."""
    settings = settings_or_exit()

    async def _show() -> tuple[Order, list[Fill]]:
        async with open_services(settings) as services:
            order = await find_order(services, client_order_id)
            return order, await services.orders.fills(order.client_order_id)

    order, fills = run(_show())
    history = [
        {
            "from": None if c.status_from is None else c.status_from.value,
            "to": c.status_to.value,
            "at": c.at.isoformat(),
            "reason": c.reason,
        }
        for c in order.history
    ]
    if as_json:
        out = order_dict(order) | {"history": history, "fills": [fill_dict(f) for f in fills]}
        typer.echo(json.dumps(out, indent=2))
        return
    _print_order(order, fills)


def _print_order(order: Order, fills: list[Fill]) -> None:
    r = order.request
    lines = [
        f"order {r.client_order_id} ({order.status.value})",
        f"account: {r.account}   broker id: {order.broker_order_id or '-'}",
        f"{r.side.value} {_num(r.qty)} {r.symbol} {r.order_type.value}, price {_price_text(order)}"
        + (f", spend {_num(r.quote_qty)}" if r.quote_qty is not None else "")
        + (", reduce only" if r.reduce_only else ""),
        f"filled {_num(order.filled_qty)} at avg {_num(order.avg_fill_price)}, fees {_num(order.fees)}",
        f"reason: {r.reason or '-'}",
    ]
    if r.parent_id or r.oco_group:
        lines.append(f"parent: {r.parent_id or '-'}   oco group: {r.oco_group or '-'}")
    for line in lines:
        console.print(line, highlight=False)
    history = Table(title="Status history (UTC)", box=box.SIMPLE_HEAD, pad_edge=False)
    for head in ("time", "from", "to", "reason"):
        history.add_column(head, no_wrap=head != "reason")
    for c in order.history:
        history.add_row(
            c.at.strftime(_TIME),
            "-" if c.status_from is None else c.status_from.value,
            c.status_to.value,
            c.reason,
        )
    console.print(history)
    if not fills:
        console.print("no fills", highlight=False)
        return
    table = Table(title="Fills (UTC)", box=box.SIMPLE_HEAD, pad_edge=False)
    for head in ("time", "fill id", "side", "qty", "price", "fee"):
        table.add_column(head, justify="right" if head in ("qty", "price", "fee") else "left", no_wrap=True)
    for f in fills:
        table.add_row(
            f.filled_at.strftime(_TIME),
            f.fill_id,
            f.side.value,
            _num(f.qty),
            _num(f.price),
            f"{_num(f.fee)} {f.fee_currency}",
        )
    console.print(table)


# place, cancel and sync live in paper_trade, which looks orders up with find_order above
from tsbot.apps.cli.paper_trade import cancel_command, place_command, sync_command  # noqa: E402

order_app.command("place")(place_command)
order_app.command("cancel")(cancel_command)
order_app.command("sync")(sync_command)
