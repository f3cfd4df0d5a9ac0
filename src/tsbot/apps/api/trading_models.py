"""Request and answer bodies of the portfolio, order and position routes.

Money, prices and quantities are decimal strings in plain notation (``"0.015"``, never a float); in requests they may
carry a sign, so a negative quantity reaches the domain and is refused with its reason. Ratios are floats
(``0.05`` = 5 %). Times are ISO-8601 UTC; days are UTC dates.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, model_validator

from tsbot.trading.models import OrderSide, OrderStatus, OrderType
from tsbot.trading.performance import Period

#: A signed decimal number as a string: up to 20 digits before the point and 18 after.
DECIMAL_PATTERN = r"^-?\d{1,20}(\.\d{1,18})?$"
DecimalIn = Annotated[
    str,
    Field(
        pattern=DECIMAL_PATTERN, max_length=40, examples=["0.5"], description="a decimal number as a string"
    ),
]
#: ``BASE/QUOTE`` (letters and digits), case ignored.
SYMBOL_PATTERN = r"^[A-Za-z0-9]{1,20}/[A-Za-z0-9]{1,20}$"
SymbolIn = Annotated[
    str, Field(pattern=SYMBOL_PATTERN, max_length=41, examples=["BTC/USDT"], description="BASE/QUOTE")
]
#: Ids of portfolios and bots: 32 hex digits (other text simply matches nothing).
IdIn = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]
Money = Annotated[str, Field(description="decimal string, plain notation")]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


# --- orders ---------------------------------------------------------------------------------------------------
class OrderIn(_Strict):
    """A paper order on one of your portfolios. Give ``quantity`` (base units) or ``quote_amount`` (market buys:
    quote currency to spend, fees included), not both. A market order fills at once at the last stored close;
    limit and stop orders rest until a later candle reaches them."""

    portfolio_id: IdIn
    side: OrderSide
    symbol: SymbolIn
    type: OrderType = OrderType.MARKET
    quantity: DecimalIn | None = None
    quote_amount: DecimalIn | None = None
    price: DecimalIn | None = Field(None, description="limit price (limit, stop_limit)")
    stop_price: DecimalIn | None = Field(None, description="trigger price (stop, stop_limit)")
    client_id: str | None = Field(
        None,
        min_length=1,
        max_length=64,
        pattern=r"^[A-Za-z0-9_-]+$",
        description="your id for this order: a retry with the same id returns the same order (200)",
    )

    @model_validator(mode="after")
    def _one_size(self) -> OrderIn:
        if (self.quantity is None) == (self.quote_amount is None):
            raise ValueError("give quantity or quote_amount (one of them)")
        return self


class EventOut(BaseModel):
    """One move of the order's status, and why."""

    status_from: OrderStatus | None
    status_to: OrderStatus
    at: datetime
    reason: str


class FillOut(BaseModel):
    fill_id: str
    side: OrderSide
    quantity: Money
    price: Money
    fee: Money
    fee_currency: str
    filled_at: datetime


class OrderOut(BaseModel):
    """An order; ``events`` and ``fills`` only on the one-order routes."""

    order_id: str = Field(description="the client order id")
    portfolio_id: str | None
    account: str
    symbol: str
    side: OrderSide
    type: OrderType
    quantity: Money
    quote_amount: Money | None
    price: Money | None
    stop_price: Money | None
    reduce_only: bool
    parent_id: str | None
    reason: str
    status: OrderStatus
    filled_quantity: Money
    average_fill_price: Money | None
    fees: Money = Field(description="quote currency")
    created_at: datetime | None
    updated_at: datetime | None
    events: list[EventOut] | None = None
    fills: list[FillOut] | None = None


# --- portfolios -----------------------------------------------------------------------------------------------
class PortfolioIn(_Strict):
    """A new portfolio (its paper account ``paper:<id>`` is created with it)."""

    name: str = Field(min_length=1, max_length=64, description="unique among your portfolios")
    base_currency: str = Field(
        "USD", min_length=1, max_length=16, pattern=r"^[A-Za-z0-9]+$", description="currency of its figures"
    )


class AccountOut(BaseModel):
    account: str = Field(description="the account orders carry: paper:<portfolio id> or <exchange>:<key id>")
    venue: str
    asset_class: str


class PortfolioOut(BaseModel):
    """A portfolio without its figures (the list)."""

    portfolio_id: str
    name: str
    base_currency: str
    accounts: list[AccountOut]
    target_weights: dict[str, Money] = Field(description="symbol -> share of equity (the rest is cash)")
    created_at: datetime


class BalanceOut(BaseModel):
    """One asset of the paper account: ``free`` may be spent, ``locked`` is held by resting orders."""

    asset: str
    free: Money
    locked: Money
    total: Money


class PositionOut(BaseModel):
    """An open position. Prices, realised P&L and fees in the symbol's quote currency; ``value`` and
    ``unrealised_pnl`` in the portfolio's base currency, at ``last_price`` (the last stored close)."""

    portfolio_id: str
    account: str
    symbol: str
    asset_class: str
    quantity: Money = Field(description="signed: negative for a short")
    average_entry: Money | None
    last_price: Money
    price_at: datetime = Field(description="open time of the bar whose close is last_price")
    value: Money
    unrealised_pnl: Money
    realised_pnl: Money
    fees: Money


class PortfolioDetailOut(PortfolioOut):
    """A portfolio with its paper balances, open positions and totals in ``base_currency``.

    ``equity = cash + positions_value``; ``unvalued_assets`` are balances without a rate to the base currency
    (shown in ``balances``, not counted)."""

    balances: list[BalanceOut]
    positions: list[PositionOut]
    cash: Money
    positions_value: Money
    unrealised_pnl: Money
    realised_pnl: Money
    fees: Money
    equity: Money
    unvalued_assets: list[str]


class FundsIn(_Strict):
    """Paper money moved into or out of the portfolio's paper account."""

    asset: str = Field(min_length=1, max_length=16, pattern=r"^[A-Za-z0-9]+$", examples=["USDT"])
    amount: DecimalIn
    reason: str | None = Field(None, max_length=200, description="kept in the ledger")


class FundsOut(BaseModel):
    portfolio_id: str
    asset: str
    amount: Money = Field(description="signed: a withdrawal is negative")
    at: datetime
    balances: list[BalanceOut]


class SnapshotOut(BaseModel):
    """The portfolio at the end of one UTC day, base currency; realised P&L and fees cumulative."""

    day: date
    equity: Money
    cash: Money
    positions_value: Money
    realised_pnl: Money
    unrealised_pnl: Money
    fees: Money


class PerformanceOut(BaseModel):
    """Figures of ``period`` from the daily snapshots; null where the period holds too few (``needs``: figure ->
    snapshots it needs). ``return_ratio``: end / start equity - 1; ``sharpe``: annualised (365 days), risk-free 0;
    ``max_drawdown_ratio``: largest fall below a peak (positive); ``var_95_ratio``: one-day historical 95 % VaR."""

    portfolio_id: str
    period: Period
    base_currency: str
    snapshots: int = Field(ge=0)
    needs: dict[str, int]
    start_day: date | None = None
    end_day: date | None = None
    days: int | None = None
    start_equity: Money | None = None
    end_equity: Money | None = None
    return_ratio: float | None = None
    sharpe: float | None = None
    max_drawdown_ratio: float | None = None
    max_drawdown_days: int | None = None
    var_95_ratio: float | None = None
    series: list[SnapshotOut]


class RebalanceIn(_Strict):
    """Target weights (symbol -> share of equity, each 0-1, summing to at most 1; the rest stays cash). Without
    ``weights`` the portfolio's stored targets are used."""

    weights: dict[SymbolIn, DecimalIn] | None = Field(None, max_length=50)
    dry_run: bool = Field(
        True, description="only plan; false: place the planned market orders (write_orders)"
    )
    save_targets: bool = Field(False, description="store the weights as the portfolio's targets")


class PlannedOrderOut(BaseModel):
    symbol: str
    side: OrderSide
    quantity: Money
    notional: Money = Field(description="quantity x last price, quote currency")
    reason: str
    order: OrderOut | None = Field(None, description="the order placed (dry_run false)")
    error: str | None = Field(None, description="why placing it was refused (dry_run false)")


class RebalanceOut(BaseModel):
    """Orders that move the paper account to the targets at the last closes (sells first), and those skipped."""

    portfolio_id: str
    base_currency: str
    equity: Money
    dry_run: bool
    target_weights: dict[str, Money]
    orders: list[PlannedOrderOut]
    skipped: list[PlannedOrderOut]
