"""What a bot trades with and what it reports: its settings, closed trades, events, and each pair's sleeve."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal

from tsbot.backtest.models import BacktestConfig, Sizing
from tsbot.intake.models import Side
from tsbot.intake.tracking import TrackedSignal
from tsbot.trading.market_hours import TradingHours
from tsbot.trading.models import Fill
from tsbot.trading.risk import RiskLimits

_ZERO = Decimal(0)


def dec(x: float) -> Decimal:
    """A float price or quantity as the Decimal of its shortest repr (what the float prints as)."""
    return Decimal(repr(float(x)))


def opt(x: float) -> Decimal | None:
    """A plan price as a Decimal; None for NaN (none asked for)."""
    return None if x != x else dec(x)


def utc_text(ms: int) -> str:
    """Milliseconds since the epoch as ``YYYY-MM-DD HH:MM UTC``."""
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M UTC")


def engine_config(risk: RiskLimits) -> BacktestConfig:
    """The engine rules a bot trades by, from its risk limits: sized from the stop distance at the risk per trade
    (else a fixed fraction), at most the largest position share of equity, shorts only when allowed."""
    fraction = float(risk.max_position_ratio) if risk.max_position_ratio is not None else 1.0
    if risk.risk_per_trade_ratio is None:
        return BacktestConfig(fraction_ratio=min(fraction, 1.0), allow_short=risk.allow_short)
    return BacktestConfig(
        sizing=Sizing.RISK,
        risk_per_trade_ratio=float(risk.risk_per_trade_ratio),
        fraction_ratio=min(fraction, 1.0),
        allow_short=risk.allow_short,
    )


@dataclass(frozen=True, slots=True)
class BotSettings:
    """What a bot trades with.

    Attributes:
        bot_id: the bot's id (part of every client order id, so a restart never sends an order twice).
        account: the broker account its orders carry.
        capital: quote currency it may use, split equally over ``pairs``.
        pairs: ``BASE/QUOTE`` symbols.
        config: the backtest's broker rules it follows (sizing, fraction / risk ratio, fees for sizing, fill
            timing, max hold, break-even, shorts); the strategy's own adjustments (``Strategy.broker``) applied.
        limits: risk limits checked before every order.
        hours: stock market hours per symbol (``MarketHours``); crypto needs none.
    """

    bot_id: str
    account: str
    capital: Decimal
    pairs: tuple[str, ...]
    config: BacktestConfig
    limits: RiskLimits
    hours: Mapping[str, TradingHours] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class BotTrade:
    """One closed position: entry to its last exit. Prices and P&L in the quote currency (P&L after fees)."""

    symbol: str
    side: int
    entry_at: datetime
    entry_price: Decimal
    exit_at: datetime
    exit_price: Decimal
    qty: Decimal
    pnl: Decimal
    fees: Decimal
    exit_reason: str
    exits: int


@dataclass(frozen=True, slots=True)
class BotEvent:
    """Something a person should see: ``kind`` is ``order``, ``refused``, ``kill_switch``, ``note``."""

    at: datetime
    kind: str
    symbol: str
    message: str


@dataclass(slots=True)
class EntryPlan:
    """The protection an entry signal asked for: side (+1 / -1), stop-loss, take-profit prices with the share of
    the position each closes, and the trailing-stop distance (quote currency; None: none)."""

    side: int
    stop: Decimal | None
    targets: list[Decimal]
    split: list[Decimal]
    trail: Decimal | None


@dataclass(slots=True)
class Sleeve:
    """One pair's share of a bot's capital and the position it holds (see :class:`~tsbot.trading.bot.SignalBot`)."""

    symbol: str
    cash: Decimal
    bar: int = -1
    last_close: Decimal = _ZERO
    side: int = 0
    qty: Decimal = _ZERO
    qty0: Decimal = _ZERO
    entry_px: Decimal = _ZERO
    entry_bar: int = 0
    entry_at: datetime | None = None
    fees: Decimal = _ZERO
    gross: Decimal = _ZERO
    exit_value: Decimal = _ZERO
    exits: int = 0
    plan: EntryPlan | None = None
    pending: dict[str, EntryPlan] = field(default_factory=dict)  # entry client id -> its stop and targets
    entry_cid: str = ""
    next_target: int = 0
    base_stop: Decimal | None = None  # the plan's stop, or the entry price after break-even
    stop: Decimal | None = None  # where the stop order sits: the base stop or the trail, whichever is closer
    trailing: bool = False  # the stop order is the trail
    trail_ref: Decimal = _ZERO
    breakeven: int = 0  # 0 not yet, 1 due at this bar's close, 2 done
    stop_leg: str | None = None
    seq: int = 0  # legs placed for this position (part of their client ids)
    legs: list[str] = field(default_factory=list)
    exiting: str | None = None
    exit_reason: str = ""

    def position_value(self) -> Decimal:
        """What the position is worth at the last close: its cost plus its unrealised P&L (0 when flat)."""
        if not self.side:
            return _ZERO
        return self.qty * self.entry_px + self.qty * (self.last_close - self.entry_px) * self.side

    def open(self, plan: EntryPlan, fill: Fill, bar: int) -> None:
        """A position opened by ``fill`` (its first) at bar number ``bar``, with ``plan``'s protection."""
        self.side, self.qty, self.qty0 = plan.side, fill.qty, fill.qty
        self.entry_px, self.entry_cid, self.entry_bar, self.entry_at = (
            fill.price,
            fill.client_order_id,
            bar,
            fill.filled_at,
        )
        self.fees, self.gross, self.exit_value, self.exits = fill.fee, _ZERO, _ZERO, 0
        self.plan, self.next_target, self.trail_ref, self.breakeven = plan, 0, fill.price, 0
        self.base_stop = self.stop = plan.stop
        self.trailing, self.legs, self.stop_leg, self.exiting = False, [], None, None


@dataclass(frozen=True, slots=True)
class ProviderSignal:
    """A followed provider's signal as a bot acts on it: ``side`` 1 long, -1 short; ``at`` when it was posted
    (UTC); the entry zone, stop-loss and take-profits in the quote currency (empty / None when not given)."""

    signal_id: str
    symbol: str
    side: int
    at: datetime
    entry: tuple[Decimal, ...] = ()
    stop: Decimal | None = None
    targets: tuple[Decimal, ...] = ()
    source: str = "provider"

    @classmethod
    def from_tracked(cls, tracked: TrackedSignal) -> ProviderSignal:
        """The signal of a tracked provider post (:mod:`tsbot.intake.tracking`)."""
        intent = tracked.intent
        return cls(
            str(tracked.id if tracked.id is not None else tracked.post_id),
            tracked.symbol,
            1 if intent.side is Side.LONG else -1,
            tracked.posted_at,
            tuple(intent.entry),
            intent.stop,
            tuple(intent.targets),
            tracked.provider,
        )
