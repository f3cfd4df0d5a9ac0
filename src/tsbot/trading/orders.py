"""Making orders safe to send: deterministic client order ids, rounding to the market's tick and lot sizes, and the
checks every venue applies (minimum quantity and notional), done before anything leaves the process.
"""

from __future__ import annotations

import hashlib
import re
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal

from tsbot.trading.models import MarketRules, OrderRejectedError, OrderRequest, OrderSide, OrderType

#: Venues accept client ids of up to 36 characters from this set (Binance ``newClientOrderId``, Alpaca
#: ``client_order_id`` 48, Coinbase ``client_order_id`` UUID-length). Kraken's ``cl_ord_id`` takes only a UUID,
#: 32 hex digits or up to 18 characters: its broker sends a UUID derived from our id and maps it back.
CLIENT_ID_MAX = 36
_CLIENT_ID_RE = re.compile(r"^[A-Za-z0-9_-]{1,36}$")


def client_order_id(*parts: object, prefix: str = "tsb") -> str:
    """A deterministic client order id from what makes the order unique (the account, the bot, the signal or
    intent id, the leg): the same parts always give the same id, so a retry or a restart that rebuilds the order
    sends the same id and the venue refuses a second order. Format ``<prefix>-<32 hex>`` (SHA-256 of the parts
    joined by ``\\x1f``), 36 characters with the default prefix.

    Raises:
        ValueError: no parts, or a prefix that is not 1-3 characters of ``[A-Za-z0-9]``.
    """
    if not parts:
        raise ValueError("client_order_id needs at least one part (account, signal id, leg)")
    if not re.fullmatch(r"[A-Za-z0-9]{1,3}", prefix):
        raise ValueError(f"client order id prefix must be 1-3 letters or digits, got {prefix!r}")
    digest = hashlib.sha256("\x1f".join(str(p) for p in parts).encode()).hexdigest()
    return f"{prefix}-{digest[:32]}"


def valid_client_order_id(value: str) -> bool:
    return bool(_CLIENT_ID_RE.match(value))


def round_to_step(value: Decimal, step: Decimal, *, up: bool = False) -> Decimal:
    """``value`` rounded down (or up) to a whole multiple of ``step`` (a step <= 0 means no rounding)."""
    if step <= 0:
        return value
    steps = (value / step).to_integral_value(rounding=ROUND_CEILING if up else ROUND_FLOOR)
    return (steps * step).quantize(step) if step.as_tuple().exponent < 0 else steps * step


def round_price(price: Decimal, rules: MarketRules, side: OrderSide, *, passive: bool = True) -> Decimal:
    """A price on the tick grid. ``passive`` (limit prices): a buy rounds down and a sell up, so rounding never
    makes the order more aggressive than asked; otherwise (stop triggers) a buy stop rounds up and a sell stop
    down, so it never triggers earlier than asked."""
    up = (side is OrderSide.SELL) if passive else (side is OrderSide.BUY)
    return round_to_step(price, rules.tick_size, up=up)


def prepare_order(request: OrderRequest, rules: MarketRules, reference_price: Decimal | None) -> OrderRequest:
    """The request rounded to ``rules`` and checked, ready to send.

    Quantities round down to the lot size (never more than asked); prices round as :func:`round_price` says.
    ``reference_price`` values a market order for the notional check (the last price; None skips that check for
    market orders only).

    Raises:
        OrderRejectedError: with a reason a person can read: a quantity that is not positive, a price that is not
            positive or missing for its order type, a quantity under the minimum or over the maximum after
            rounding, a notional under the minimum, an invalid client order id, a symbol that does not match.
    """
    if request.symbol != rules.symbol:
        raise OrderRejectedError(f"order is for {request.symbol} but the market rules are for {rules.symbol}")
    if not valid_client_order_id(request.client_order_id):
        raise OrderRejectedError(
            f"client order id {request.client_order_id!r} must be 1-{CLIENT_ID_MAX} characters of A-Z a-z 0-9 _ -"
        )
    if not request.qty.is_finite() or request.qty <= 0:
        raise OrderRejectedError(f"quantity must be positive, got {request.qty}")
    if request.quote_qty is not None:
        if request.order_type is not OrderType.MARKET or request.side is not OrderSide.BUY:
            raise OrderRejectedError("an amount in the quote currency (quote_qty) is for market buys only")
        if not request.quote_qty.is_finite() or request.quote_qty <= 0:
            raise OrderRejectedError(f"quote amount must be positive, got {request.quote_qty}")
    needs_price = request.order_type in (OrderType.LIMIT, OrderType.STOP_LIMIT)
    needs_stop = request.order_type in (OrderType.STOP, OrderType.STOP_LIMIT)
    price = request.price
    stop = request.stop_price
    for name, value, needed in (("limit price", price, needs_price), ("stop price", stop, needs_stop)):
        if needed and value is None:
            raise OrderRejectedError(f"a {request.order_type.value} order needs a {name}")
        if value is not None and (not value.is_finite() or value <= 0):
            raise OrderRejectedError(f"{name} must be positive, got {value}")
    if not needs_price:
        price = None
    if not needs_stop:
        stop = None
    if price is not None:
        price = round_price(price, rules, request.side)
    if stop is not None:
        stop = round_price(stop, rules, request.side, passive=False)
    if (price is not None and price <= 0) or (stop is not None and stop <= 0):
        raise OrderRejectedError(f"price is below one tick ({rules.tick_size}) of {rules.symbol}")
    qty = round_to_step(request.qty, rules.lot_size)
    if qty <= 0 or qty < rules.min_qty:
        raise OrderRejectedError(
            f"quantity {request.qty} is below the minimum of {max(rules.min_qty, rules.lot_size)} {_base(rules)} "
            f"for {rules.symbol} (lot size {rules.lot_size})"
        )
    if rules.max_qty is not None and qty > rules.max_qty:
        raise OrderRejectedError(f"quantity {qty} is above the maximum of {rules.max_qty} for {rules.symbol}")
    value_price = price if price is not None else stop if stop is not None else reference_price
    value = request.quote_qty or (None if value_price is None else qty * value_price)
    if value is not None and not request.reduce_only and value < rules.min_notional:
        raise OrderRejectedError(
            f"order value {value:f} {_quote(rules)} is below the minimum notional of "
            f"{rules.min_notional} {_quote(rules)} for {rules.symbol}"
        )
    return request.with_(qty=qty, price=price, stop_price=stop)


def _base(rules: MarketRules) -> str:
    return rules.symbol.split("/", 1)[0]


def _quote(rules: MarketRules) -> str:
    return rules.symbol.split("/", 1)[-1]
