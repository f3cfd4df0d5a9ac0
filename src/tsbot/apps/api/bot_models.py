"""Request and answer bodies of the bot routes (:mod:`tsbot.apps.api.bots`).

Ratios, quantities and money are decimal strings; durations are seconds; times ISO-8601 UTC.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field

from tsbot.apps.api.trading_models import DecimalIn, IdIn, SymbolIn
from tsbot.market.models import Timeframe
from tsbot.trading.bots import ApprovalStatus, BotMode, BotStatus
from tsbot.trading.models import OrderSide, OrderType

Seconds = Annotated[float, Field(ge=0, le=366 * 86_400, allow_inf_nan=False)]


class RiskIn(BaseModel):
    """The bot's own risk limits (:class:`~tsbot.trading.risk.RiskLimits`): a field left out keeps its default, an
    explicit null switches the rule off. Ratios are decimal strings in (0, 1]; durations are seconds."""

    risk_per_trade_ratio: DecimalIn | None = None
    max_position_ratio: DecimalIn | None = None
    max_position_qty: DecimalIn | None = None
    max_open_positions: int | None = Field(None, ge=0, le=10_000)
    max_leverage: DecimalIn | None = None
    max_daily_loss_ratio: DecimalIn | None = None
    cooldown_after_stop: Seconds | None = None
    max_drawdown_ratio: DecimalIn | None = None
    drawdown_pause: Seconds | None = None
    stock_market_hours_only: bool = True
    allow_short: bool = False

    model_config = {"extra": "forbid"}


class RiskOut(BaseModel):
    """The limits in force (null: rule off); ratios and quantities as decimal strings, durations in seconds."""

    risk_per_trade_ratio: str | None
    max_position_ratio: str | None
    max_position_qty: str | None
    max_open_positions: int | None
    max_leverage: str | None
    max_daily_loss_ratio: str | None
    cooldown_after_stop: float | None
    max_drawdown_ratio: str | None
    drawdown_pause: float | None
    stock_market_hours_only: bool
    allow_short: bool


class BotIn(BaseModel):
    """A new bot, started at once (running): in mode ``paper`` (the default) on the paper account of one of your
    portfolios (``portfolio_id``); in mode ``live``, asked for explicitly, on the exchange account of one of your
    stored exchange keys (``exchange_key_id``), placing real orders."""

    name: str = Field(min_length=1, max_length=64, description="unique among your bots")
    strategy: Literal["scalping", "swing", "ai_adaptive", "fused", "sma_cross", "follow"]
    provider: str | None = Field(None, min_length=1, max_length=128, description="with strategy follow only")
    mode: BotMode = Field(
        BotMode.PAPER, description="paper (default) or live: real orders on an exchange key's account"
    )
    portfolio_id: IdIn | None = Field(
        None, description="mode paper: the portfolio whose paper account it trades"
    )
    exchange_key_id: IdIn | None = Field(
        None, description="mode live: the id of one of your exchange keys (GET /api/v1/me/exchange-keys)"
    )
    pairs: list[SymbolIn] = Field(min_length=1, max_length=20)
    timeframe: Timeframe = Field(Timeframe.H1, description="the bar it trades on")
    capital: DecimalIn = Field(description="quote currency it may use, split equally over the pairs")
    params: dict[Annotated[str, Field(max_length=64)], Annotated[float, Field(allow_inf_nan=False)]] = Field(
        default_factory=dict, max_length=32, description="strategy parameters over its defaults"
    )
    risk: RiskIn = Field(default_factory=RiskIn)
    approval: bool = Field(False, description="each entry waits for your approval")

    model_config = {"extra": "forbid"}


class BotOut(BaseModel):
    bot_id: str
    name: str
    strategy: str
    provider: str | None
    portfolio_id: str | None = Field(description="the portfolio of its paper account (null for a live bot)")
    account: str = Field(description="'paper:<portfolio id>' or, live, '<exchange>:<exchange key id>'")
    mode: BotMode
    pairs: list[str]
    timeframe: str
    capital: str
    params: dict[str, float]
    risk: RiskOut
    approval: bool
    status: BotStatus
    status_reason: str
    created_at: datetime
    updated_at: datetime


class BotEventOut(BaseModel):
    at: datetime
    kind: str
    message: str
    data: dict[str, Any] | None


class BotDetailOut(BotOut):
    events: list[BotEventOut] = Field(description="latest first")
    pending_approvals: int = Field(ge=0)


class StatusIn(BaseModel):
    reason: str | None = Field(None, max_length=200, description="why, kept with the change")

    model_config = {"extra": "forbid"}


class ProposedOrderOut(BaseModel):
    client_order_id: str
    symbol: str
    side: OrderSide
    type: OrderType
    quantity: str
    quote_amount: str | None
    price: str | None
    stop_price: str | None
    reason: str


class ApprovalOut(BaseModel):
    """An order the bot proposes; ``status`` is ``expired`` once past ``expires_at`` undecided."""

    approval_id: str
    bot_id: str | None
    summary: str
    status: ApprovalStatus
    order: ProposedOrderOut
    created_at: datetime
    expires_at: datetime
    decided_at: datetime | None
    decided_by: str | None
