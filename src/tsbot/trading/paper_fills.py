"""The paper broker's orders against a candle, with the backtest engine's fill rules (:mod:`tsbot.backtest.engine`):
the bar, the order in which a bar works orders, the prices limit and stop orders fill at, and an order as the
Broker port reports it.

* a limit buy fills when ``low <= price`` at ``min(open, price)`` (a gap down fills at the better open), a sell
  mirrored; no slippage, maker fee;
* a stop buy triggers when ``high >= stop`` and fills at ``max(open, stop)`` plus slippage, taker fee; a sell
  mirrored. A stop-limit becomes a limit order at its trigger.

An order the open already went through fills at the open. Prices are in the quote currency.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

from tsbot.market.models import CandleFrame
from tsbot.trading.models import BrokerOrder, Fill, Order, OrderRequest, OrderSide, OrderType


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

    @property
    def traded(self) -> bool:
        """Whether the bar can fill orders: every price a finite number and some volume."""
        return all(math.isfinite(p) for p in (self.open, self.high, self.low, self.close)) and self.volume > 0


def work_rank(request: OrderRequest, stop_first: bool) -> int:
    """Where a bar works an order (lowest first): market orders, then stop-loss legs (reduce-only stops) when
    ``stop_first``, then limits, then the other stops."""
    kind = request.order_type
    if kind is OrderType.MARKET:
        return 0
    if request.reduce_only and kind is OrderType.STOP:
        return 1 if stop_first else 3
    return 2 if kind is OrderType.LIMIT else 3


def open_fill(request: OrderRequest, o: Decimal) -> tuple[Decimal, bool] | None:
    """A limit or stop order that the bar's open ``o`` is at or through fills at the open: ``(o, taker)`` (a
    stop is a taker fill, slipped by the caller); None for one it is not, and for other order types."""
    if request.order_type is OrderType.LIMIT and limit_through_open(request, o):
        return o, False
    if request.order_type is OrderType.STOP and stop_through_open(request, o):
        return o, True
    return None


def limit_through_open(request: OrderRequest, o: Decimal) -> bool:
    """Whether the open ``o`` is at or through the limit price (a buy: at or below it)."""
    assert request.price is not None
    return (o <= request.price) if request.side is OrderSide.BUY else (o >= request.price)


def stop_through_open(request: OrderRequest, o: Decimal) -> bool:
    """Whether the open ``o`` is at or through the stop price (a buy: at or above it)."""
    assert request.stop_price is not None
    return (o >= request.stop_price) if request.side is OrderSide.BUY else (o <= request.stop_price)


def limit_fill_price(request: OrderRequest, o: Decimal, h: Decimal, lo: Decimal) -> Decimal | None:
    """The price a working limit order fills at in a bar (open ``o``, high ``h``, low ``lo``), or None when the
    bar does not reach it."""
    assert request.price is not None
    if request.side is OrderSide.BUY:
        return min(o, request.price) if lo <= request.price else None
    return max(o, request.price) if h >= request.price else None


def stop_touched(request: OrderRequest, h: Decimal, lo: Decimal) -> bool:
    """Whether a bar with high ``h`` and low ``lo`` trades at the stop price."""
    assert request.stop_price is not None
    return (h >= request.stop_price) if request.side is OrderSide.BUY else (lo <= request.stop_price)


def stop_fill_price(request: OrderRequest, o: Decimal) -> Decimal:
    """The price a touched stop order fills at before slippage: the stop, or the open when it gapped through."""
    assert request.stop_price is not None
    return max(o, request.stop_price) if request.side is OrderSide.BUY else min(o, request.stop_price)


def broker_order(order: Order, fills: Iterable[Fill]) -> BrokerOrder:
    """``order`` as the Broker port reports it, with its ``fills``; the time and reason of its last move."""
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
        fills=tuple(fills),
        updated_at=order.history[-1].at if order.history else None,
        reason=order.history[-1].reason if order.history else "",
    )
