"""Mapping ccxt's unified structures (orders, trades, markets, errors) to tsbot's trading value objects, and the
per-venue settings and parameters ccxt needs for them.

Numbers go to :class:`~decimal.Decimal` through their text, never through float arithmetic; times are UTC.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import ccxt

from tsbot.trading.models import (
    BrokerOrder,
    Fill,
    MarketRules,
    OrderRequest,
    OrderSide,
    OrderStatus,
    OrderType,
)

_STATUS = {
    "closed": OrderStatus.FILLED,
    "canceled": OrderStatus.CANCELLED,
    "cancelled": OrderStatus.CANCELLED,
    "rejected": OrderStatus.REJECTED,
    "expired": OrderStatus.EXPIRED,
}
_DUPLICATE_MARKERS = (
    "duplicate order",
    "duplicate client",
    "duplicate_client",
    "clientorderid is duplicated",
)
_MAX_DETAIL = 300
_OPTIONS: dict[str, dict[str, Any]] = {
    "binance": {
        "defaultType": "spot",
        "fetchMarkets": {"types": ["spot"]},
        "fetchCurrencies": False,
        "fetchMargins": False,
        "fetchOpenOrders": {"warnWithoutSymbol": False},
    },
    "kraken": {},
    # balances from Advanced Trade's accounts (with what orders hold), not the Coinbase App's v2 accounts
    "coinbase": {"fetchCurrencies": False, "fetchBalance": "v3PrivateGetBrokerageAccounts"},
}
#: Capabilities switched off: ccxt's coinbase loads currencies from the Coinbase App API whatever its options say.
_HAS: dict[str, dict[str, bool]] = {"coinbase": {"fetchCurrencies": False}}
#: The create-order parameter ccxt forwards as the venue's client order id.
CLIENT_ID_PARAM = {"binance": "newClientOrderId", "kraken": "clientOrderId", "coinbase": "client_order_id"}
#: Kraken takes a ``cl_ord_id`` only as a UUID (36 characters with hyphens), 32 hex digits, or up to 18 characters.
_KRAKEN_CLIENT_ID = re.compile(
    r"^([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}|[0-9a-fA-F]{32}|[A-Za-z0-9_-]{1,18})$"
)


def dec(value: Any) -> Decimal | None:
    """A ccxt number (float, int or str) as a Decimal through its text, never through float arithmetic."""
    if value is None or value == "":
        return None
    return Decimal(str(value))


def _utc(ms: Any) -> datetime | None:
    return datetime.fromtimestamp(int(ms) / 1000, tz=UTC) if ms is not None else None


def _step(value: Any, precision_mode: int) -> Decimal:
    """A ccxt precision as a step: the value itself in TICK_SIZE mode, ``10**-value`` in DECIMAL_PLACES mode."""
    number = dec(value)
    if number is None:
        return Decimal(0)
    if precision_mode == ccxt.DECIMAL_PLACES:
        return Decimal(1).scaleb(-int(number))
    return number


def rules_from_market(market: Mapping[str, Any], precision_mode: int) -> MarketRules:
    """:class:`MarketRules` of one ccxt unified market (``exchange.markets[symbol]``).

    ``precision_mode`` is the exchange's ``precisionMode`` (``ccxt.TICK_SIZE`` or ``ccxt.DECIMAL_PLACES``).
    Missing limits become 0 (no minimum) and None (no maximum).
    """
    precision = market.get("precision") or {}
    limits = market.get("limits") or {}
    amount = limits.get("amount") or {}
    cost = limits.get("cost") or {}
    return MarketRules(
        symbol=market["symbol"],
        tick_size=_step(precision.get("price"), precision_mode),
        lot_size=_step(precision.get("amount"), precision_mode),
        min_qty=dec(amount.get("min")) or Decimal(0),
        min_notional=dec(cost.get("min")) or Decimal(0),
        max_qty=dec(amount.get("max")),
    )


def _order_type(data: Mapping[str, Any], trigger: Decimal | None) -> OrderType:
    raw = str(data.get("type") or "").lower().replace("-", "_")
    limit = "limit" in raw or (raw == "" and data.get("price") not in (None, 0))
    if trigger is not None or "stop" in raw or "take_profit" in raw:
        return OrderType.STOP_LIMIT if limit else OrderType.STOP
    return OrderType.LIMIT if limit else OrderType.MARKET


def ccxt_config(exchange_id: str) -> dict[str, Any]:
    """The ccxt constructor settings (``options``, ``has``) tsbot uses for ``exchange_id``: spot markets only,
    no currency list, Coinbase balances from Advanced Trade."""
    config: dict[str, Any] = {"options": dict(_OPTIONS[exchange_id])}
    if exchange_id in _HAS:
        config["has"] = dict(_HAS[exchange_id])
    return config


def venue_client_id(exchange_id: str, client_order_id: str) -> str:
    """The client order id as ``exchange_id`` accepts it: unchanged, except on Kraken, whose ``cl_ord_id`` must be
    a UUID, 32 hex digits or at most 18 characters: other ids (tsbot's ``tsb-<32 hex>``) become the UUID-shaped
    first 32 hex digits of their SHA-256, so the same id always maps to the same venue id."""
    if exchange_id != "kraken" or _KRAKEN_CLIENT_ID.match(client_order_id):
        return client_order_id
    h = hashlib.sha256(client_order_id.encode()).hexdigest()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:32]}"


def order_params(
    exchange_id: str, request: OrderRequest, client_id: str
) -> tuple[str, str | None, dict[str, Any]]:
    """ccxt ``create_order`` arguments for a prepared request: the ccxt order type, the limit price as text (None
    for market orders) and the params (our client id under the venue's name, the stop trigger).

    Kraken takes a stop trigger as ``stopLossPrice`` (ccxt ignores ``triggerPrice`` there). A Coinbase market buy
    is sent by base quantity (``market_market_ioc.base_size``), as Advanced Trade allows, instead of ccxt's
    default, a quote amount that needs a price tsbot does not send with market orders.

    A market buy by quote amount (``quote_qty``) goes as Binance's ``quoteOrderQty`` (ccxt's ``cost``) and as
    Coinbase's ``quote_size``; Kraken has no such order, so it gets the base quantity the caller estimated.
    """
    limit = request.order_type in (OrderType.LIMIT, OrderType.STOP_LIMIT)
    params: dict[str, Any] = {CLIENT_ID_PARAM[exchange_id]: client_id}
    if request.stop_price is not None and request.order_type in (OrderType.STOP, OrderType.STOP_LIMIT):
        params["stopLossPrice" if exchange_id == "kraken" else "triggerPrice"] = f"{request.stop_price:f}"
    by_quote = request.quote_qty is not None and request.order_type is OrderType.MARKET
    if exchange_id == "coinbase" and not limit and request.side is OrderSide.BUY:
        params["createMarketBuyOrderRequiresPrice"] = False
        size = {"quote_size": f"{request.quote_qty:f}"} if by_quote else {"base_size": f"{request.qty:f}"}
        params["order_configuration"] = {"market_market_ioc": size}
    elif exchange_id == "binance" and by_quote and request.side is OrderSide.BUY:
        params["cost"] = f"{request.quote_qty:f}"
    price = f"{request.price:f}" if request.price is not None and limit else None
    return ("limit" if limit else "market"), price, params


def _fills(
    trades: Iterable[Mapping[str, Any]], client_order_id: str, symbol: str, side: OrderSide
) -> list[Fill]:
    fills = []
    for n, trade in enumerate(trades):
        if trade.get("amount") is None or trade.get("price") is None:
            continue  # a trade known by its id only (Kraken lists an order's trade ids): no execution to count
        fee = trade.get("fee") or {}
        fills.append(
            Fill(
                fill_id=str(trade.get("id") or f"{trade.get('order') or client_order_id}-{n}"),
                client_order_id=client_order_id,
                symbol=trade.get("symbol") or symbol,
                side=OrderSide(trade.get("side") or side.value),
                qty=dec(trade.get("amount")) or Decimal(0),
                price=dec(trade.get("price")) or Decimal(0),
                fee=dec(fee.get("cost")) or Decimal(0),
                fee_currency=str(fee.get("currency") or ""),
                filled_at=_utc(trade.get("timestamp")) or datetime.now(UTC),
            )
        )
    return fills


def order_from_ccxt(
    data: Mapping[str, Any],
    *,
    symbol: str,
    client_order_id: str | None = None,
    request: OrderRequest | None = None,
) -> BrokerOrder:
    """A :class:`BrokerOrder` from ccxt's unified order dict.

    Status: ``open`` -> OPEN (PARTIALLY_FILLED once ``filled`` > 0), ``closed`` -> FILLED, ``canceled`` ->
    CANCELLED, ``rejected`` -> REJECTED, ``expired`` -> EXPIRED. Quantities are base units and prices quote
    currency, as Decimal through their text. ``fee`` totals the fees charged in the quote currency; each fill
    keeps its own fee and currency. ``request`` fills in what a terse acknowledgement leaves out.
    """
    cid = data.get("clientOrderId") or client_order_id or (request.client_order_id if request else "")
    side = OrderSide(data.get("side") or (request.side.value if request else "buy"))
    qty = dec(data.get("amount")) or (request.qty if request else Decimal(0))
    filled = dec(data.get("filled")) or Decimal(0)
    raw_status = str(data.get("status") or "open").lower()
    status = _STATUS.get(raw_status)
    if status is None:
        status = OrderStatus.PARTIALLY_FILLED if filled > 0 else OrderStatus.OPEN
    trigger = dec(data.get("triggerPrice") or data.get("stopPrice") or data.get("stopLossPrice")) or None
    order_type = _order_type(data, trigger) if data.get("type") else (request.order_type if request else None)
    order_type = order_type or _order_type(data, trigger)
    price = dec(data.get("price")) or None
    if order_type in (OrderType.MARKET, OrderType.STOP):
        price = None
    sym = data.get("symbol") or symbol
    quote = sym.split("/", 1)[-1]
    fills = _fills(data.get("trades") or (), cid, sym, side)
    fees = data.get("fees") or ([data["fee"]] if data.get("fee") else [])
    fee = sum(
        (dec(f.get("cost")) or Decimal(0) for f in fees if f and f.get("currency") == quote), Decimal(0)
    )
    if not fees and fills:
        fee = sum((f.fee for f in fills if f.fee_currency == quote), Decimal(0))
    updated = data.get("lastUpdateTimestamp") or data.get("lastTradeTimestamp") or data.get("timestamp")
    return BrokerOrder(
        client_order_id=cid,
        broker_order_id=str(data.get("id") or ""),
        symbol=sym,
        side=side,
        order_type=order_type,
        status=status,
        qty=qty,
        filled_qty=filled,
        avg_fill_price=(dec(data.get("average")) or None) if filled > 0 else None,
        price=price,
        stop_price=trigger,
        fee=fee,
        fills=tuple(fills),
        updated_at=_utc(updated),
        reason=raw_status if status is OrderStatus.REJECTED else "",
    )


def is_duplicate(exc: BaseException) -> bool:
    text = str(exc).lower()
    return any(marker in text for marker in _DUPLICATE_MARKERS)


def venue_message(exc: BaseException) -> str:
    """The venue's own words inside a ccxt error (``msg`` / ``message`` / ``error`` of a JSON body)."""
    text = str(exc).strip()
    start = text.find("{")
    if start >= 0:
        try:
            body = json.loads(text[start:])
        except ValueError:
            body = None
        if isinstance(body, dict) and isinstance(body.get("error_response"), dict):  # Coinbase order refusals
            inner = body["error_response"]
            code = inner.get("error") or inner.get("preview_failure_reason")
            message = inner.get("message") or inner.get("error_details")
            if message or code:
                return f"{message} ({code})" if message and code else str(message or code)
        if isinstance(body, dict):
            for key in ("msg", "message", "error", "error_details"):
                value = body.get(key)
                if value:
                    return "; ".join(map(str, value)) if isinstance(value, list) else str(value)
    line = text.splitlines()[0] if text else type(exc).__name__
    return line if len(line) <= _MAX_DETAIL else line[: _MAX_DETAIL - 1] + "…"
