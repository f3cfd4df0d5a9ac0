"""The risk checks every order passes before it is sent: sizing from the stop distance, position and leverage caps,
the daily-loss kill switch, the drawdown pause, the cooldown after a stop-out, stock market hours and shorting.

Money is :class:`~decimal.Decimal` in the portfolio's quote currency (USDT, USD); quantities are base units; ratios
are Decimals (``Decimal("0.01")`` = 1 %). Times are timezone-aware UTC. A refusal never raises:
:meth:`RiskManager.check` returns a :class:`RiskDecision` whose reasons a person can read.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from datetime import UTC, datetime, time, timedelta
from decimal import Decimal

from tsbot.core.enums import AssetClass
from tsbot.trading.market_hours import TradingHours, closed_reason
from tsbot.trading.models import MarketRules, OrderRequest
from tsbot.trading.orders import round_to_step

_ZERO = Decimal(0)
_DAY = timedelta(days=1)
_RATIOS_TO_ONE = ("risk_per_trade_ratio", "max_daily_loss_ratio", "max_drawdown_ratio")
_POSITIVE = ("max_position_ratio", "max_position_qty", "max_leverage")
_SMALLER_IS_STRICTER = (*_RATIOS_TO_ONE, *_POSITIVE, "max_open_positions")
_LONGER_IS_STRICTER = ("cooldown_after_stop", "drawdown_pause")


@dataclass(frozen=True, slots=True)
class RiskLimits:
    """The limits one order must respect; None switches a rule off.

    Attributes:
        risk_per_trade_ratio: share of equity an order may lose at its stop-loss; sizes it from the stop distance.
        max_position_ratio: largest value of one position as a share of equity.
        max_position_qty: largest position per symbol, base units.
        max_open_positions: most symbols held at once (checked for an order in a symbol not yet held).
        max_leverage: largest gross exposure (sum of absolute position values) over equity, and order leverage.
        max_daily_loss_ratio: loss since 00:00 UTC over the day's start equity that trips the kill switch until
            the next 00:00 UTC.
        cooldown_after_stop: no new entry in a symbol for this long after a stop-out in it.
        max_drawdown_ratio: drawdown from the peak equity that pauses trading for ``drawdown_pause`` (None:
            until a person resumes, :meth:`RiskState.resume`).
        stock_market_hours_only: stocks trade only in their regular sessions.
        allow_short: a sell may open or add to a short (where the market is shortable).

    Raises:
        ValueError: a risk, daily-loss or drawdown ratio outside (0, 1]; a position ratio, quantity or leverage
            that is not positive; a negative count or duration.
    """

    risk_per_trade_ratio: Decimal | None = Decimal("0.01")
    max_position_ratio: Decimal | None = Decimal("0.2")
    max_position_qty: Decimal | None = None
    max_open_positions: int | None = 10
    max_leverage: Decimal | None = Decimal(1)
    max_daily_loss_ratio: Decimal | None = Decimal("0.05")
    cooldown_after_stop: timedelta | None = timedelta(hours=1)
    max_drawdown_ratio: Decimal | None = Decimal("0.2")
    drawdown_pause: timedelta | None = timedelta(days=1)
    stock_market_hours_only: bool = True
    allow_short: bool = False

    def __post_init__(self) -> None:
        for name in (*_RATIOS_TO_ONE, *_POSITIVE):
            top = 1 if name in _RATIOS_TO_ONE else Decimal("Infinity")
            if (value := getattr(self, name)) is not None and not isinstance(value, Decimal):
                object.__setattr__(self, name, value := Decimal(str(value)))
            if value is not None and not (value.is_finite() and 0 < value <= top):
                raise ValueError(
                    f"risk limit {name} must be {'in (0, 1]' if top == 1 else 'positive'}, got {value}"
                )
        for name, zero in (("max_open_positions", 0), *((n, timedelta(0)) for n in _LONGER_IS_STRICTER)):
            if (value := getattr(self, name)) is not None and value < zero:
                raise ValueError(f"risk limit {name} must not be negative, got {value}")


def merged(user: RiskLimits, bot: RiskLimits | None) -> RiskLimits:
    """The stricter of each rule of a user's limits and a bot's own (``bot`` None: the user's).

    Stricter: the smaller ratio, quantity, count and leverage; the longer cooldown and pause; a rule on in either
    (None is off); market hours enforced if either asks; shorting only if both allow it.
    """
    if bot is None:
        return user
    values: dict[str, object] = {}
    for f in fields(RiskLimits):
        a, b = getattr(user, f.name), getattr(bot, f.name)
        if f.name in _SMALLER_IS_STRICTER:
            values[f.name] = a if b is None else b if a is None else min(a, b)
        elif f.name in _LONGER_IS_STRICTER:
            values[f.name] = a if b is None else b if a is None else max(a, b)
        else:
            values[f.name] = (a and b) if f.name == "allow_short" else (a or b)
    return RiskLimits(**values)  # type: ignore[arg-type]


@dataclass(slots=True)
class RiskState:
    """What the risk checks know of one portfolio; the caller keeps it current.

    Attributes:
        equity: the portfolio's value now, quote currency; ``peak_equity``: the highest seen (see
            :meth:`update_equity`); ``day_start_equity``: at 00:00 UTC today (see :meth:`start_day`).
        positions: symbol -> signed quantity (base units, negative for a short); no zero entries.
        position_values: symbol -> signed value (quantity x last price), quote currency.
        last_stop_out_at: symbol -> when its last stop-loss filled (UTC).
        kill_switch_reason: why trading was stopped (None: not stopped); ``kill_switch_until``: when it lifts by
            itself (UTC; None with a reason: when a person resets it).
        paused_until: end of the pause after a drawdown (UTC).
    """

    equity: Decimal
    peak_equity: Decimal
    day_start_equity: Decimal
    positions: dict[str, Decimal] = field(default_factory=dict)
    position_values: dict[str, Decimal] = field(default_factory=dict)
    last_stop_out_at: dict[str, datetime] = field(default_factory=dict)
    kill_switch_reason: str | None = None
    kill_switch_until: datetime | None = None
    paused_until: datetime | None = None

    def update_equity(self, equity: Decimal) -> None:
        """Record the current equity and raise the peak when it is a new high."""
        self.equity = equity
        self.peak_equity = max(self.peak_equity, equity)

    def start_day(self) -> None:
        """At 00:00 UTC: the current equity becomes the day's start, and a daily-loss kill switch lifts."""
        self.day_start_equity = self.equity
        if self.kill_switch_until is not None:
            self.kill_switch_reason = self.kill_switch_until = None

    def resume(self) -> None:
        """A person resumes trading: the kill switch and the pause clear, and drawdowns count from now."""
        self.kill_switch_reason = self.kill_switch_until = self.paused_until = None
        self.peak_equity = self.equity


@dataclass(frozen=True, slots=True)
class RiskDecision:
    """The verdict on one order.

    Attributes:
        allowed: the order may be sent, with ``qty`` (base units; reduced by sizing where a reason says so; 0 when
            refused).
        reasons: sentences a person can read: why it was refused, or why its quantity was reduced.
        kill_switch: this check tripped the kill switch: the caller stops the bot and tells the user.
    """

    allowed: bool
    qty: Decimal
    reasons: tuple[str, ...] = ()
    kill_switch: bool = False


def _refused(*reasons: str, kill_switch: bool = False) -> RiskDecision:
    return RiskDecision(False, _ZERO, reasons, kill_switch)


def _pct(ratio: Decimal) -> str:
    return f"{(ratio * 100).quantize(Decimal('0.1')):f}".removesuffix(".0")


def _num(value: Decimal) -> str:
    return f"{value.normalize():f}"


def _money(value: Decimal) -> str:
    return f"{value:,.2f}"


def _utc(at: datetime) -> str:
    return f"{at.astimezone(UTC):%Y-%m-%d %H:%M} UTC"


class RiskManager:
    """Checks orders against :class:`RiskLimits` and sizes them. Stateless: all it knows comes in each call."""

    __slots__ = ()

    def size(
        self,
        equity: Decimal,
        price: Decimal,
        stop_loss: Decimal | None,
        limits: RiskLimits,
        rules: MarketRules,
    ) -> Decimal:
        """The quantity (base units) to open at ``price`` (quote): ``equity * risk_per_trade_ratio /
        |price - stop_loss|``, capped by ``max_position_ratio * equity / price``, ``max_position_qty`` and the
        market's ``max_qty``, rounded down to the lot size. Without a stop-loss (or risk ratio) the caps alone size
        it. 0 when equity is not positive or the quantity is under the market's minimum quantity or notional.

        Raises:
            ValueError: a price that is not positive, a stop-loss at the price, or no limit to size from.
        """
        if price <= 0:
            raise ValueError(f"price must be positive to size an order, got {price}")
        caps: list[Decimal] = []
        if stop_loss is not None and limits.risk_per_trade_ratio is not None:
            if stop_loss == price:
                raise ValueError(f"stop-loss {stop_loss} is at the price: no distance to size from")
            caps.append(equity * limits.risk_per_trade_ratio / abs(price - stop_loss))
        if limits.max_position_ratio is not None:
            caps.append(equity * limits.max_position_ratio / price)
        if limits.max_position_qty is not None:
            caps.append(limits.max_position_qty)
        if not caps:
            raise ValueError("cannot size an order without a stop-loss and a risk ratio, or a position limit")
        if rules.max_qty is not None:
            caps.append(rules.max_qty)
        qty = round_to_step(min(caps), rules.lot_size) if equity > 0 else _ZERO
        return _ZERO if qty <= 0 or qty < rules.min_qty or qty * price < rules.min_notional else qty

    def check(
        self,
        request: OrderRequest,
        *,
        state: RiskState,
        limits: RiskLimits,
        rules: MarketRules,
        price: Decimal,
        stop_loss: Decimal | None,
        now: datetime,
        hours: TradingHours | None,
    ) -> RiskDecision:
        """Whether ``request`` may be sent at ``now``, and with what quantity.

        Args:
            request: the order. A ``reduce_only`` order passes every rule but one: it may not exceed the position.
                An order that only reduces a position skips the exposure rules (cooldown, shorting, open
                positions, position size, leverage).
            state: the portfolio's risk state, updated here when the kill switch (daily loss) or the drawdown
                pause trips, and when either ends.
            limits: the limits in force (see :func:`merged`); ``rules``: the market's rules for the symbol.
            price: what one unit is valued at, quote currency (the limit price or the last price).
            stop_loss: the order's protective stop, for the risk per trade (None: not checked).
            now: the time of the check, timezone-aware UTC.
            hours: a stock market's hours (:class:`~tsbot.trading.market_hours.MarketHours`), None for crypto; a
                stock checked without them is refused when market hours are enforced.

        Raises:
            ValueError: ``now`` is naive.
        """
        if now.tzinfo is None:
            raise ValueError(f"risk checks need a timezone-aware time (UTC), got the naive {now.isoformat()}")
        symbol = request.symbol
        qty = request.qty
        if symbol != rules.symbol:
            return _refused(f"order is for {symbol} but the market rules are for {rules.symbol}")
        if not (qty.is_finite() and qty > 0 and price.is_finite() and price > 0):
            return _refused(f"quantity ({qty}) and price ({price}) must be positive")
        base, _, quote = symbol.partition("/")
        held = state.positions.get(symbol, _ZERO)
        sign = request.side.sign
        if request.reduce_only:
            reducible = -sign * held
            if qty <= reducible:
                return RiskDecision(True, qty)
            what = f"is more than the {_num(reducible)} {base} held" if reducible > 0 else "reduces nothing"
            return _refused(f"reduce-only {request.side.value} of {_num(qty)} {base} {what} in {symbol}")

        halted = self._halted(state, limits, now)
        if halted is not None:
            return halted
        refusals: list[str] = []
        if rules.asset_class is AssetClass.STOCK and limits.stock_market_hours_only:
            closed = closed_reason(symbol, now, hours)
            if closed is not None:
                refusals.append(closed)
        if held and sign * held < 0 and qty <= abs(held):  # only reduces the position
            return _refused(*refusals) if refusals else RiskDecision(True, qty)

        cooldown = limits.cooldown_after_stop
        stopped_at = state.last_stop_out_at.get(symbol)
        if cooldown is not None and stopped_at is not None and now < stopped_at + cooldown:
            refusals.append(
                f"{symbol} was stopped out at {_utc(stopped_at)}: no new entry before {_utc(stopped_at + cooldown)} "
                f"(cooldown of {cooldown.total_seconds() / 3600:g} h)"
            )
        if held + sign * qty < 0 and not (limits.allow_short and rules.shortable):
            why = f"{symbol} is not shortable" if limits.allow_short else "the risk limits do not allow it"
            what = f"is more than the {_num(held)} {base} held" if held > 0 else "would open a short"
            refusals.append(f"sell of {_num(qty)} {base} {what}, and shorting is not allowed: {why}")
        if not held and limits.max_open_positions is not None:
            n = sum(1 for q in state.positions.values() if q)
            if n >= (most := limits.max_open_positions):
                refusals.append(f"{n} positions are open, the limit is {most}: no new position in {symbol}")
        equity = state.equity
        if equity <= 0:
            return _refused(*refusals, f"equity is {_money(equity)} {quote}: no new exposure")

        notes: list[str] = []
        qty = _sized(qty, held, sign, equity, price, stop_loss, limits, rules, refusals, notes)
        max_leverage = limits.max_leverage
        if max_leverage is not None:
            if request.leverage > max_leverage:
                asked = _num(request.leverage)
                refusals.append(f"order asks for {asked} x leverage, the limit is {_num(max_leverage)} x")
            values = state.position_values
            gross = sum(map(abs, values.values()), _ZERO) - abs(values.get(symbol, _ZERO))
            gross += abs(held + sign * qty) * price
            if gross > max_leverage * equity:
                refusals.append(
                    f"the order would take exposure to {_money(gross)} {quote}, {gross / equity:.2f} x the equity of "
                    f"{_money(equity)} {quote}, above the leverage limit of {_num(max_leverage)} x"
                )
        return _refused(*refusals) if refusals else RiskDecision(True, qty, tuple(notes))

    @staticmethod
    def _halted(state: RiskState, limits: RiskLimits, now: datetime) -> RiskDecision | None:
        """The refusal when the whole portfolio is stopped (kill switch, daily loss, drawdown), else None."""
        if state.kill_switch_reason is not None:
            if state.kill_switch_until is None or now < state.kill_switch_until:
                return _refused(f"kill switch active: {state.kill_switch_reason}")
            state.kill_switch_reason = state.kill_switch_until = None
        max_loss, day_start = limits.max_daily_loss_ratio, state.day_start_equity
        loss = (day_start - state.equity) / day_start if day_start > 0 else _ZERO
        if max_loss is not None and loss >= max_loss:
            state.kill_switch_reason = reason = (
                f"daily loss {_pct(loss)} % reached the limit of {_pct(max_loss)} %: trading stopped until 00:00 UTC"
            )
            state.kill_switch_until = datetime.combine(now.astimezone(UTC).date() + _DAY, time(), UTC)
            return _refused(reason, kill_switch=True)
        if state.paused_until is not None:
            if now < state.paused_until:
                return _refused(f"trading is paused after a drawdown until {_utc(state.paused_until)}")
            state.paused_until = None
            state.peak_equity = state.equity  # the next pause needs a new drawdown from here
        max_dd, peak = limits.max_drawdown_ratio, state.peak_equity
        if max_dd is not None and peak > 0 and (drawdown := (peak - state.equity) / peak) >= max_dd:
            pause = limits.drawdown_pause
            if pause is not None:
                state.paused_until = now + pause
            until = _utc(now + pause) if pause is not None else "a person resumes it"
            return _refused(
                f"drawdown {_pct(drawdown)} % from the peak equity of {_money(peak)} reached the limit of "
                f"{_pct(max_dd)} %: trading paused until {until}"
            )
        return None


def _sized(
    qty: Decimal,
    held: Decimal,
    sign: int,
    equity: Decimal,
    price: Decimal,
    stop_loss: Decimal | None,
    limits: RiskLimits,
    rules: MarketRules,
    refusals: list[str],
    notes: list[str],
) -> Decimal:
    """``qty`` (base units) cut to the room left under the position cap and to the risk per trade; appends to
    ``notes`` why when it is cut, or to ``refusals`` when nothing tradeable fits or the stop-loss is misplaced."""
    cap: Decimal | None = None
    position_cap = None
    if limits.max_position_ratio is not None:
        position_cap = equity * limits.max_position_ratio / price
    max_qty = limits.max_position_qty
    if max_qty is not None and (position_cap is None or max_qty < position_cap):
        position_cap = max_qty
    if position_cap is not None:
        cap = position_cap - abs(held) if sign * held >= 0 else position_cap + abs(held)
    ratio = limits.risk_per_trade_ratio
    distance = _ZERO
    if stop_loss is not None and ratio is not None:
        distance = (price - stop_loss) * sign
        if distance <= 0:
            side = "below the price of a buy" if sign > 0 else "above the price of a sell"
            refusals.append(f"the stop-loss {_num(stop_loss)} must be {side} ({_num(price)})")
            return qty
        risk_cap = equity * ratio / distance
        cap = risk_cap if cap is None else min(cap, risk_cap)
    if cap is None or qty <= cap:
        return qty
    base, _, quote = rules.symbol.partition("/")
    excess: list[str] = []
    after = abs(held + sign * qty)
    if position_cap is not None and after > position_cap:
        limit = f"{_num(position_cap)} {base}"
        if position_cap != limits.max_position_qty:
            limit = f"{_pct(limits.max_position_ratio or _ZERO)} % of equity ({_money(position_cap * price)} {quote})"
        value = _money(after * price)
        excess.append(f"the position would be {_num(after)} {base} ({value} {quote}), over {limit}")
    if ratio is not None and qty * distance > equity * ratio:
        excess.append(
            f"with the stop-loss at {_num(stop_loss or _ZERO)} it risks {_money(qty * distance)} {quote}, more "
            f"than {_pct(ratio)} % of equity ({_money(equity * ratio)} {quote})"
        )
    fitted = round_to_step(cap, rules.lot_size) if cap > 0 else _ZERO
    if fitted > 0 and fitted >= rules.min_qty and fitted * price >= rules.min_notional:
        notes.append(f"quantity reduced from {_num(qty)} to {_num(fitted)} {base}: " + "; ".join(excess))
        return fitted
    rest = f"the {_num(fitted)} {base} that fits is under the market's minimum" if fitted > 0 else "none fits"
    refusals.append(f"order of {_num(qty)} {base} refused: " + "; ".join(excess) + f"; {rest}")
    return qty
