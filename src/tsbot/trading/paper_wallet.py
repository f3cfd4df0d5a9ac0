"""The paper broker's spot wallet: what a paper account holds per asset, what its working orders reserve, whether
a new order can be paid for, and what a fill moves between assets.

Balances are spot balances per asset. A buy needs the quote currency for price, fee and slippage; working buy
limits and stops reserve their quote (quantity left x limit or stop price, what a venue would lock), so
:meth:`SpotWallet.balances` reports it as ``locked`` and the rest of what is held as ``free``. A sell needs the base
asset: a sell of more than is held is refused when placed (bracket legs excepted: they wait for their entry), and
a resting sell reserves nothing, so a sell whose coins went to an earlier one is cancelled when it would fill.
Fees are charged in the quote currency.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal

from tsbot.trading.models import Balance, Order, OrderRejectedError, OrderRequest, OrderSide, OrderType

_BPS = Decimal(10_000)
_ZERO = Decimal(0)


@dataclass(frozen=True, slots=True)
class PaperCosts:
    """Fees and slippage in basis points (10 bps = 0.1 %), as in the backtest's ``BacktestConfig``."""

    taker_fee_bps: Decimal = Decimal(10)
    maker_fee_bps: Decimal = Decimal(10)
    slippage_bps: Decimal = Decimal(0)
    fill_at_close: bool = False
    stop_first: bool = True


def _assets(symbol: str) -> tuple[str, str]:
    base, quote = symbol.split("/", 1)
    return base, quote


class SpotWallet:
    """Holdings per asset of one paper account (see the module docstring).

    Args:
        balances: what the account holds per asset at the start (``{"USDT": Decimal("10000")}``).
        costs: the fees and slippage its fills pay.
    """

    def __init__(self, balances: Mapping[str, Decimal], costs: PaperCosts) -> None:
        self._held: dict[str, Decimal] = {a: Decimal(v) for a, v in balances.items()}
        self.costs = costs

    def held(self, asset: str) -> Decimal:
        """All the account holds of ``asset``, reserved or not (0 for an asset it never held)."""
        return self._held.get(asset, _ZERO)

    def credit(self, asset: str, amount: Decimal) -> None:
        """Add ``amount`` (negative: take it) to what is held of ``asset``: a deposit or a withdrawal."""
        self._held[asset] = self.held(asset) + amount

    def fee_ratio(self, taker: bool) -> Decimal:
        """The taker or maker fee as a ratio of the traded value (0.001 for 10 bps)."""
        return (self.costs.taker_fee_bps if taker else self.costs.maker_fee_bps) / _BPS

    def slipped(self, px: Decimal, side: OrderSide) -> Decimal:
        """``px`` moved against the trader by the slippage (up for a buy, down for a sell)."""
        return px * (1 + side.sign * self.costs.slippage_bps / _BPS)

    @staticmethod
    def reserved(working: Iterable[Order]) -> dict[str, Decimal]:
        """Quote held by the working buy limits and stops of ``working`` (orders not final), per quote currency:
        quantity left x limit price (a stop without one: x stop price)."""
        out: dict[str, Decimal] = {}
        for o in working:
            r = o.request
            if o.status.final or r.side is not OrderSide.BUY or r.order_type is OrderType.MARKET:
                continue
            quote = _assets(r.symbol)[1]
            px = r.price or r.stop_price or _ZERO
            out[quote] = out.get(quote, _ZERO) + o.remaining_qty * px
        return out

    def balances(self, working: Iterable[Order]) -> list[Balance]:
        """Non-zero balances per asset, by name: ``locked`` is what ``working`` reserves (never more than is held),
        ``free`` the rest of what is held, so ``total`` is what the account holds."""
        locked = self.reserved(working)
        out = []
        for asset in sorted(set(self._held) | set(locked)):
            held = self.held(asset)
            reserved = min(locked.get(asset, _ZERO), max(held, _ZERO))
            out.append(Balance(asset, held - reserved, reserved))
        return [b for b in out if b.total != 0]

    def check(self, request: OrderRequest, last_close: Decimal | None, working: Iterable[Order]) -> None:
        """Whether the account can pay for ``request`` now, next to the orders already ``working``: a sell of at
        most the base held (a bracket leg is not checked), a buy of at most the free quote at its limit, stop or
        ``last_close`` price with the larger fee and the slippage (a buy by quote amount: that amount).

        Raises:
            OrderRejectedError: not enough of the asset; the reason gives what is held or free.
        """
        base, quote = _assets(request.symbol)
        if request.side is OrderSide.SELL:
            held = self.held(base)
            if request.parent_id is None and request.qty > held:  # bracket legs wait for their entry
                raise OrderRejectedError(
                    f"cannot sell {request.qty.normalize():f} {base}: the account holds {held.normalize():f} {base}"
                )
            return
        px = request.price or request.stop_price or last_close
        fee = max(self.costs.taker_fee_bps, self.costs.maker_fee_bps) / _BPS
        if request.quote_qty is not None:
            need = request.quote_qty
        elif px is None:
            return
        else:
            need = request.qty * px * (1 + fee + self.costs.slippage_bps / _BPS)
        free = self.held(quote) - self.reserved(working).get(quote, _ZERO)
        if need > free:
            raise OrderRejectedError(
                f"not enough {quote}: the order needs about {need:.2f} and {max(free, _ZERO):.2f} is free"
            )

    def settle(
        self, request: OrderRequest, px: Decimal, qty: Decimal, taker: bool
    ) -> tuple[Decimal, Decimal] | str:
        """Move the assets of a fill of ``qty`` at ``px`` (quote currency, slippage included) and charge its fee.

        Returns ``(quantity filled, fee in the quote currency)``: a protective leg (reduce-only sell) sells at most
        what is left; or, when nothing moved, the reason the order cannot fill (not enough of an asset now).
        """
        base, quote = _assets(request.symbol)
        rate = self.fee_ratio(taker)
        fee = qty * px * rate
        if request.side is OrderSide.BUY:
            cost = qty * px + fee
            if self.held(quote) < cost:
                return f"not enough {quote} at fill time: needs {cost:f}"
            self._held[quote] = self.held(quote) - cost
            self._held[base] = self.held(base) + qty
            return qty, fee
        held = self.held(base)
        if held < qty and not request.reduce_only:
            return f"not enough {base} at fill time: holds {held}"
        if held < qty:
            qty = held  # a protective leg closes what is left
            if qty <= 0:
                return f"nothing left to sell: {base} position already closed"
            fee = qty * px * rate
        self._held[base] = held - qty
        self._held[quote] = self.held(quote) + qty * px - fee
        return qty, fee
