"""Translation between Alpaca's trading API JSON and tsbot's trading value objects (used by
:mod:`tsbot.adapters.brokers.alpaca_broker`).

Alpaca writes numbers as text; they become :class:`~decimal.Decimal` through ``str`` and go back as plain decimal
text, so no amount ever passes through a float. Symbols are ``TICKER/USD`` in tsbot and the bare ticker at Alpaca.
"""

from __future__ import annotations

import json
from decimal import Decimal, InvalidOperation
from typing import Any

from alpaca.common.exceptions import APIError

from tsbot.core.errors import DataError, ExchangeError
from tsbot.core.time import parse_utc
from tsbot.trading.models import BrokerOrder, BrokerPosition, OrderSide, OrderStatus, OrderType

QUOTE = "USD"

#: Alpaca order status -> ours; every status not listed (new, accepted, pending_new, held, pending_cancel ...) is
#: a working order: OPEN, or PARTIALLY_FILLED once shares filled (``calculated`` is resolved in :func:`_status`).
_STATUSES: dict[str, OrderStatus] = {
    "partially_filled": OrderStatus.PARTIALLY_FILLED,
    "filled": OrderStatus.FILLED,
    **dict.fromkeys(("canceled", "replaced"), OrderStatus.CANCELLED),
    **dict.fromkeys(("expired", "done_for_day"), OrderStatus.EXPIRED),
    "rejected": OrderStatus.REJECTED,
}
_TYPES: dict[str, OrderType] = {t.value: t for t in OrderType} | {"trailing_stop": OrderType.STOP}


def to_alpaca_symbol(symbol: str) -> str:
    """``"AAPL/USD"`` -> ``"AAPL"`` (a bare ticker passes unchanged).

    Raises:
        ExchangeError: the quote currency is not USD.
    """
    ticker, _, quote = symbol.partition("/")
    if quote and quote.upper() != QUOTE:
        raise ExchangeError(f"alpaca trades US stocks in USD; {symbol!r} is quoted in {quote}")
    if not ticker:
        raise ExchangeError(f"not a stock symbol: {symbol!r} (expected e.g. AAPL/USD)")
    return ticker.upper()


def from_alpaca_symbol(ticker: str) -> str:
    """``"AAPL"`` -> ``"AAPL/USD"``."""
    return f"{ticker}/{QUOTE}"


def decimal_of(value: Any, default: Decimal | None = None) -> Decimal | None:
    """A Decimal of Alpaca's number text (through ``str``); None / "" give ``default``.

    Raises:
        DataError: the value is not a number.
    """
    if value is None or value == "":
        return default
    try:
        return Decimal(str(value))
    except InvalidOperation:
        raise DataError(f"alpaca sent a number that is not one: {value!r}") from None


def decimal_text(value: Decimal) -> str:
    """Decimal as plain text for Alpaca (never exponent notation: 1E-9 -> "0.000000001")."""
    return format(value.normalize(), "f")


def _status(raw: dict[str, Any], qty: Decimal, filled: Decimal) -> OrderStatus:
    """Our status of an Alpaca order JSON with ``qty`` ordered and ``filled`` done (shares)."""
    name = str(raw.get("status", "")).lower()
    if name == "calculated":  # done for the day, settlement figures pending
        return OrderStatus.FILLED if filled >= qty > 0 else OrderStatus.EXPIRED
    status = _STATUSES.get(name, OrderStatus.OPEN)
    if status is OrderStatus.OPEN and filled > 0:
        return OrderStatus.PARTIALLY_FILLED
    return status


def order_from_alpaca(raw: dict[str, Any]) -> BrokerOrder:
    """A :class:`BrokerOrder` from Alpaca's order JSON (quantities in shares, prices in USD, times UTC)."""
    filled = decimal_of(raw.get("filled_qty"), Decimal(0))
    qty = decimal_of(raw.get("qty"), None)
    if qty is None:  # a notional (dollar amount) order: its share count is known only once filled
        qty = filled
    kind = str(raw.get("type") or raw.get("order_type") or "market").lower()
    updated = raw.get("updated_at") or raw.get("submitted_at") or raw.get("created_at")
    return BrokerOrder(
        client_order_id=str(raw.get("client_order_id", "")),
        broker_order_id=str(raw.get("id", "")),
        symbol=from_alpaca_symbol(str(raw.get("symbol", ""))),
        side=OrderSide(str(raw.get("side", "buy")).lower()),
        order_type=_TYPES.get(kind, OrderType.MARKET),
        status=_status(raw, qty, filled),
        qty=qty,
        filled_qty=filled,
        avg_fill_price=decimal_of(raw.get("filled_avg_price")),
        price=decimal_of(raw.get("limit_price")),
        stop_price=decimal_of(raw.get("stop_price")),
        updated_at=parse_utc(str(updated)) if updated else None,
    )


def position_from_alpaca(raw: dict[str, Any]) -> BrokerPosition:
    """A :class:`BrokerPosition` from Alpaca's position JSON: signed shares (a ``short`` side is negative whatever
    the sign of ``qty``), average entry price in USD."""
    qty = abs(decimal_of(raw.get("qty"), Decimal(0)))
    sign = -1 if str(raw.get("side", "long")).lower() == "short" else 1
    entry = decimal_of(raw.get("avg_entry_price"), Decimal(0))
    return BrokerPosition(from_alpaca_symbol(str(raw["symbol"])), sign * qty, entry)


def api_message(exc: APIError) -> str:
    """Alpaca's ``message`` from the JSON body of an HTTP error (``{"code": ..., "message": ...}``), or the body
    itself, shortened to 300 characters. Never the request (which holds the key headers)."""
    raw = str(exc)
    try:
        body = json.loads(raw)
    except ValueError:
        return raw[:300] or "no message"
    if isinstance(body, dict) and body.get("message"):
        return str(body["message"])
    return raw[:300]
