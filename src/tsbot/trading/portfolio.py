"""The portfolio book: positions built from fills across accounts (exchanges, brokers) and asset classes, valued in
one base currency, and rebalancing to target weights.

Method: **average cost.** A fill that adds to a position (or opens one) moves the average entry price to the
quantity-weighted average of the old entry and the fill price. A fill that reduces a position realises
``(price - avg_entry) * closed_qty`` for a long and the negative of that for a short, and keeps the average entry. A
fill that crosses zero realises the closing part and opens the rest at the fill price. Realised P&L is before fees;
fees are summed apart, so the net result is ``realised + unrealised - fees``.

Fees. A fee in the symbol's quote currency counts as it is. A fee in the base asset (Binance takes a buy's fee from
the coins bought unless BNB pays it) is valued at the fill price for the fee figure, and the base asset it took is
removed from the position: a buy of 1 BTC with a 0.001 BTC fee holds 0.999 BTC; a sell of 1 BTC with a 0.001 BTC
fee lowers the position by 1.001 BTC (the fee's coins count as sold at the fill price, so nothing is counted
twice). A fee in any other currency (BNB) is kept in that currency (:attr:`Holding.other_fees`) and converted when
the book is valued.

Symbols are ``BASE/QUOTE`` (stocks ``AAPL/USD``); quantities are base units; prices and money are Decimal in the
quote currency unless a figure says it is in the base currency.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from decimal import Decimal, InvalidOperation

from tsbot.core.enums import AssetClass
from tsbot.core.errors import ConfigError, DataError
from tsbot.trading.models import Fill, MarketRules, OrderSide
from tsbot.trading.orders import round_to_step

ZERO = Decimal(0)
#: Dollar currencies taken at par with each other unless ``fx`` says otherwise (a stablecoin depeg is not seen).
DOLLARS = frozenset({"USD", "USDT", "USDC"})


def split_symbol(symbol: str) -> tuple[str, str]:
    """``("BTC", "USDT")`` for ``"BTC/USDT"``. Raises DataError for a symbol without one ``/``."""
    base, sep, quote = symbol.partition("/")
    if not sep or not base or not quote or "/" in quote:
        raise DataError(f"symbol {symbol!r} must be BASE/QUOTE (BTC/USDT, or AAPL/USD for a stock)")
    return base, quote


@dataclass(frozen=True, slots=True)
class Holding:
    """One symbol on one account.

    Attributes:
        account: the trading account (``"paper:<id>"``, ``"binance:<key id>"``).
        symbol: ``BASE/QUOTE``.
        asset_class: crypto or stock (compares equal to ``"crypto"`` / ``"stock"``).
        qty: signed base units; negative for a short, 0 when closed.
        avg_entry: average entry price, quote currency; None when flat.
        realised_pnl: realised P&L before fees, quote currency.
        fees: fees paid in the quote currency or the base asset, in the quote currency.
        other_fees: fees paid in other currencies (BNB), ``((currency, amount), ...)`` sorted by currency.
    """

    account: str
    symbol: str
    asset_class: AssetClass
    qty: Decimal
    avg_entry: Decimal | None
    realised_pnl: Decimal
    fees: Decimal
    other_fees: tuple[tuple[str, Decimal], ...] = ()

    @property
    def quote(self) -> str:
        """The quote currency (``USDT`` of ``BTC/USDT``): the currency of prices, P&L and fees."""
        return split_symbol(self.symbol)[1]


@dataclass(slots=True)
class _Position:
    asset_class: AssetClass
    qty: Decimal = ZERO
    avg: Decimal | None = None
    realised: Decimal = ZERO
    fees: Decimal = ZERO
    other_fees: dict[str, Decimal] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class HoldingValue:
    """A holding valued at ``price`` (quote currency); ``value`` and ``unrealised_pnl`` are in the base currency
    (signed: a short's value is negative), ``rate`` converts its quote currency to the base currency."""

    holding: Holding
    price: Decimal
    rate: Decimal
    value: Decimal
    unrealised_pnl: Decimal


@dataclass(frozen=True, slots=True)
class Valuation:
    """The book valued in ``base_currency``; every money figure is in that currency.

    ``equity = cash + positions_value``; the net result of trading is ``realised_pnl + unrealised_pnl - fees``.
    Realised P&L and fees are converted at the valuation's rates, not at the rates of the day they were made.
    """

    base_currency: str
    holdings: tuple[HoldingValue, ...]
    positions_value: Decimal
    unrealised_pnl: Decimal
    cash: Decimal
    equity: Decimal
    realised_pnl: Decimal
    fees: Decimal


class Book:
    """Positions per (account, symbol), built by :meth:`apply` from fills, in the order they happened."""

    def __init__(self) -> None:
        self._positions: dict[tuple[str, str], _Position] = {}
        self._seen: set[tuple[str, str, str]] = set()

    def apply(self, account: str, fill: Fill, asset_class: str = "crypto") -> None:
        """Count ``fill`` on ``account`` (average-cost method and fee handling: see the module docstring). A fill
        already applied (same account, ``client_order_id`` and ``fill_id``) is ignored.

        Raises:
            DataError: a quantity or price that is not positive, a malformed symbol, an unknown asset class or one
                that differs from the one the symbol already has on this account, a base-asset fee as large as the
                quantity bought.
        """
        key = (account, fill.client_order_id, fill.fill_id)
        if key in self._seen:
            return
        base, quote = split_symbol(fill.symbol)
        if not (fill.qty.is_finite() and fill.qty > 0 and fill.price.is_finite() and fill.price > 0):
            raise DataError(f"fill {fill.fill_id} of {fill.symbol}: qty and price must be > 0")
        try:
            kind = AssetClass(asset_class)
        except ValueError:
            raise DataError(f"asset class {asset_class!r} is not one of crypto, stock") from None
        pos = self._positions.get((account, fill.symbol)) or _Position(kind)
        if pos.asset_class is not kind:
            raise DataError(f"{fill.symbol} on {account} is {pos.asset_class.value}, not {kind.value}")
        delta = fill.side.sign * fill.qty
        if fill.fee != 0 and fill.fee_currency == base:
            if fill.side is OrderSide.BUY and fill.fee >= fill.qty:
                raise DataError(f"fill {fill.fill_id}: a fee of {fill.fee} {base} takes all of {fill.qty}")
            delta -= fill.fee
            pos.fees += fill.fee * fill.price
        elif fill.fee != 0 and fill.fee_currency == quote:
            pos.fees += fill.fee
        elif fill.fee != 0:
            pos.other_fees[fill.fee_currency] = pos.other_fees.get(fill.fee_currency, ZERO) + fill.fee
        _trade(pos, delta, fill.price)
        self._positions[(account, fill.symbol)] = pos
        self._seen.add(key)

    def holdings(self) -> list[Holding]:
        """Every (account, symbol) that had a fill, open or closed (a closed one keeps its realised P&L and fees),
        sorted by account then symbol."""
        return [
            Holding(
                acc, sym, p.asset_class, p.qty, p.avg, p.realised, p.fees, tuple(sorted(p.other_fees.items()))
            )
            for (acc, sym), p in sorted(self._positions.items())
        ]

    def open_holdings(self) -> list[Holding]:
        """The holdings whose quantity is not zero."""
        return [h for h in self.holdings() if h.qty != 0]

    def realised_pnl(self) -> dict[str, Decimal]:
        """Realised P&L before fees per quote currency (``{"USDT": ..., "USD": ...}``)."""
        return self._per_quote(lambda p: p.realised)

    def fees(self) -> dict[str, Decimal]:
        """Fees per quote currency (fees paid in other currencies: :attr:`Holding.other_fees`)."""
        return self._per_quote(lambda p: p.fees)

    def quantities(self, account: str | None = None) -> dict[str, Decimal]:
        """Open quantity per symbol, summed over accounts (or of one ``account``): the input of :func:`rebalance`."""
        out: dict[str, Decimal] = {}
        for (acc, symbol), p in sorted(self._positions.items()):
            if p.qty != 0 and account in (None, acc):
                out[symbol] = out.get(symbol, ZERO) + p.qty
        return out

    def value(
        self,
        prices: Mapping[str, Decimal],
        cash: Mapping[str, Decimal],
        *,
        base_currency: str = "USD",
        fx: Mapping[str, Decimal] | None = None,
    ) -> Valuation:
        """The book valued in ``base_currency``.

        Args:
            prices: symbol -> last price, quote currency; needed for every open holding.
            cash: currency -> amount held (free and locked) over the book's accounts. Pass cash only: assets the
                book holds as positions (the BTC of ``BTC/USDT``) must not be passed again.
            base_currency: the currency of every figure of the result.
            fx: currency -> value of one unit in ``base_currency`` (``{"EUR": Decimal("1.08")}``). The base
                currency is 1; USD, USDT and USDC are taken at par with each other when the base is one of them
                (stablecoins are assumed at par) unless ``fx`` gives a rate.

        Raises:
            DataError: an open holding without a positive price (it is never valued at 0), or a currency (quote,
                cash, fee) without a rate, naming it.
        """
        rates = dict(fx or {})

        def rate(currency: str) -> Decimal:
            if currency in rates:
                return rates[currency]
            if currency == base_currency or (currency in DOLLARS and base_currency in DOLLARS):
                return Decimal(1)
            raise DataError(f"no exchange rate from {currency} to {base_currency}: pass it in fx")

        rows: list[HoldingValue] = []
        realised = fees = ZERO
        for h in self.holdings():
            r = rate(h.quote)
            realised += h.realised_pnl * r
            fees += h.fees * r + sum((amount * rate(cur) for cur, amount in h.other_fees), ZERO)
            if h.qty == 0:
                continue
            price = prices.get(h.symbol)
            if price is None or not price.is_finite() or price <= 0:
                raise DataError(f"no price for {h.symbol} (held {h.qty} on {h.account}); cannot value it")
            unrealised = (price - (h.avg_entry or price)) * h.qty * r
            rows.append(HoldingValue(h, price, r, h.qty * price * r, unrealised))
        positions = sum((v.value for v in rows), ZERO)
        cash_total = sum((amount * rate(cur) for cur, amount in sorted(cash.items())), ZERO)
        return Valuation(
            base_currency=base_currency,
            holdings=tuple(rows),
            positions_value=positions,
            unrealised_pnl=sum((v.unrealised_pnl for v in rows), ZERO),
            cash=cash_total,
            equity=cash_total + positions,
            realised_pnl=realised,
            fees=fees,
        )

    def _per_quote(self, figure: Callable[[_Position], Decimal]) -> dict[str, Decimal]:
        out: dict[str, Decimal] = {}
        for (_, symbol), p in sorted(self._positions.items()):
            quote = split_symbol(symbol)[1]
            out[quote] = out.get(quote, ZERO) + figure(p)
        return out


def _trade(pos: _Position, delta: Decimal, price: Decimal) -> None:
    """Move ``pos`` by the signed ``delta`` base units at ``price`` (average cost)."""
    if delta == 0:
        return
    if pos.qty == 0 or (pos.qty > 0) == (delta > 0):
        new = pos.qty + delta
        pos.avg = (abs(pos.qty) * (pos.avg or ZERO) + abs(delta) * price) / abs(new)
        pos.qty = new
        return
    closed = min(abs(delta), abs(pos.qty))
    direction = 1 if pos.qty > 0 else -1
    pos.realised += (price - (pos.avg or price)) * closed * direction
    pos.qty += delta
    if pos.qty == 0:
        pos.avg = None
    elif abs(delta) > closed:
        pos.avg = price


def validate_weights(weights: Mapping[str, Decimal | str | int | float]) -> dict[str, Decimal]:
    """``weights`` (symbol -> share of equity) checked: every symbol ``BASE/QUOTE``, every weight in [0, 1], the sum
    at most 1 (the rest stays cash). Returns them as a plain dict of Decimals.

    Raises:
        ConfigError: with the symbol and the value at fault.
    """
    out: dict[str, Decimal] = {}
    for symbol, raw in weights.items():
        if symbol.count("/") != 1 or symbol.startswith("/") or symbol.endswith("/"):
            raise ConfigError(f"target weights: symbol {symbol!r} must be BASE/QUOTE (BTC/USDT, AAPL/USD)")
        try:
            w = Decimal(str(raw)) if isinstance(raw, float) else Decimal(raw)
        except (InvalidOperation, TypeError, ValueError):
            raise ConfigError(f"target weight of {symbol} must be a number, got {raw!r}") from None
        if not w.is_finite() or w < 0 or w > 1:
            raise ConfigError(f"target weight of {symbol} must be between 0 and 1, got {raw}")
        out[symbol] = w
    total = sum(out.values(), ZERO)
    if total > 1:
        raise ConfigError(f"target weights add up to {total}, more than 1 (all of the equity); lower some")
    return out


@dataclass(frozen=True, slots=True)
class RebalanceOrder:
    """One order of a rebalance: ``qty`` base units (on the lot grid) worth ``notional`` (the currency of the
    prices) at the price given, and a reason a person can read."""

    symbol: str
    side: OrderSide
    qty: Decimal
    notional: Decimal
    reason: str


@dataclass(frozen=True, slots=True)
class RebalancePlan:
    """The orders of a rebalance, sells before buys (iterating the plan gives them), and the orders dropped
    (below the minimum quantity or notional after rounding), each with the reason it was dropped."""

    orders: tuple[RebalanceOrder, ...]
    skipped: tuple[RebalanceOrder, ...] = ()

    def __iter__(self) -> Iterator[RebalanceOrder]:
        return iter(self.orders)

    def __len__(self) -> int:
        return len(self.orders)


def rebalance(
    targets: Mapping[str, Decimal],
    holdings_qty: Mapping[str, Decimal],
    prices: Mapping[str, Decimal],
    equity: Decimal,
    rules: Mapping[str, MarketRules],
    *,
    tolerance_ratio: Decimal = Decimal("0.01"),
) -> RebalancePlan:
    """Orders that move the holdings to ``targets`` (symbol -> share of ``equity``; the rest is cash).

    A symbol whose value differs from its target by less than ``tolerance_ratio * equity`` is left alone. A symbol
    held but absent from ``targets`` (or with weight 0) is closed in full whatever its size. Quantities round down
    to the lot size and are capped at the market's maximum; an order then under the minimum quantity or notional is
    dropped and listed in :attr:`RebalancePlan.skipped`. Sells come first so that they fund the buys. ``prices``
    and ``equity`` must be in one currency (the quote currency of the symbols; dollar stablecoins count as USD).

    Args:
        holdings_qty: symbol -> signed quantity held (:meth:`Book.quantities`).
        prices: symbol -> last price, for every symbol targeted or held.
        equity: the portfolio's equity (> 0).
        rules: symbol -> :class:`MarketRules`, for every symbol to trade.

    Raises:
        ConfigError: invalid weights (see :func:`validate_weights`) or a negative tolerance.
        DataError: equity not positive; a symbol to trade without a positive price or without market rules.
    """
    weights = validate_weights(targets)
    if not tolerance_ratio >= 0:
        raise ConfigError(f"tolerance_ratio must be >= 0, got {tolerance_ratio}")
    if not (equity.is_finite() and equity > 0):
        raise DataError(f"cannot rebalance a portfolio whose equity is {equity}")
    orders: list[RebalanceOrder] = []
    skipped: list[RebalanceOrder] = []
    held = {s: q for s, q in holdings_qty.items() if q != 0}
    for symbol in sorted(set(weights) | set(held)):
        qty_now = held.get(symbol, ZERO)
        weight = weights.get(symbol, ZERO)
        if weight == 0 and qty_now == 0:
            continue
        price = prices.get(symbol)
        if price is None or not price.is_finite() or price <= 0:
            raise DataError(f"no price for {symbol}; cannot rebalance it")
        value_now = qty_now * price
        if weight == 0:
            delta = -qty_now
            why = f"{symbol} not in the targets: close {qty_now}"
        else:
            gap = weight * equity - value_now
            if abs(gap) < tolerance_ratio * equity:
                continue
            delta = gap / price
            why = f"{symbol} weight {value_now / equity:.4f} -> {weight}"
        rule = rules.get(symbol)
        if rule is None:
            raise DataError(f"no market rules for {symbol}; cannot size its rebalance order")
        side = OrderSide.BUY if delta > 0 else OrderSide.SELL
        qty = round_to_step(abs(delta), rule.lot_size)
        if rule.max_qty is not None and qty > rule.max_qty:
            qty, why = rule.max_qty, f"{why} (capped at the maximum quantity {rule.max_qty})"
        order = RebalanceOrder(symbol, side, qty, qty * price, why)
        if qty <= 0:
            skipped.append(_why(order, f"{abs(delta):.8g} rounds to 0 at the lot size {rule.lot_size}"))
        elif qty < rule.min_qty:
            skipped.append(_why(order, f"quantity {qty} after rounding is under the minimum {rule.min_qty}"))
        elif qty * price < rule.min_notional:
            skipped.append(_why(order, f"notional {qty * price} is under the minimum {rule.min_notional}"))
        else:
            orders.append(order)
    orders.sort(key=lambda o: (o.side is OrderSide.BUY, o.symbol))
    return RebalancePlan(tuple(orders), tuple(skipped))


def _why(order: RebalanceOrder, reason: str) -> RebalanceOrder:
    return replace(order, reason=f"{order.reason}: skipped, {reason}")
