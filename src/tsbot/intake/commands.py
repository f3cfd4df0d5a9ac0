"""Typed commands: what a user asks the bot in a chat or the web console, read by rules.

:func:`parse_command` turns one message into a :class:`Command`. It is a tokeniser plus context rules: no network,
no model, the same text always gives the same command, in well under a millisecond. What it understands
(case-insensitive, tolerant of punctuation, "pls"/"please", a leading ``@bot`` mention, a Telegram
``/command@bot``, common typos of the command words):

* **buy / sell**: "buy 0.1 BTC at market", "sell $500 of ETH limit 3200", "buy 500 usdt of eth", "buy eth with
  1000 usdt", "sell half my SOL", "sell 25% of my ETH", "sell all my BTC", "buy btc with half my usdt", "buy 0.25
  btc @ 60k", "buy 1 btc stop 62000", "sell 2 sol if it drops below 120" (a stop order), "buy 0.1 btc sl 58000 tp
  70000". "long"/"short" are buy/sell, usually with leverage: "long 0.5 eth 10x", "x10", "with 5x leverage".
  Order types: "market"/"mkt"/"at market", "limit"/"lmt"/"@"/"at", "stop".
* **close_position / close_all**: "close half my SOL", "close my BTC position", "exit my eth long", "flatten sol";
  "close all", "exit all", "flatten", "sell everything".
* **set_stop_loss / set_take_profit**: "set stop on BTC at 58000", "stop loss BTC 58000", "sl btc 58k", "move my
  stop on eth to 3000", "tp eth 4000", "take profit BTC 75000", "set target on link at 20".
* **price**: "price of AAPL", "what's BTC at", "btc price", "how much is solana", "ETH?", a bare ticker.
* **signal**: "signal for SOL", "signals", "should I buy btc", "is eth a buy?", "btc outlook", "signal BTC 4h".
* **portfolio / positions / orders**: "how is my portfolio", "pnl", "balance"; "positions", "what am I holding";
  "show open orders".
* **cancel_order**: "cancel order 42", "cancel #42", "cancel all orders", "cancel my btc orders".
* **price_alert**: "alert me when BTC crosses 70k", "notify me if eth drops below 3000", "alert btc > 72000".
* **backtest**: "backtest sma_cross on ETH/USDT 1h", "back test macd on sol daily".
* **help**: "help", "what can you do?", "/start".

Symbols are ``BASE`` or ``BASE/QUOTE`` upper case as the user wrote them ("ETHUSDT" and "eth-usdt" become
``ETH/USDT``); names resolve to tickers ("bitcoin" -> ``BTC``, "apple" -> ``AAPL``) through
:data:`tsbot.sentiment.aliases.ASSET_ALIASES` and the built-in lists below. Numbers may carry ``k``/``m``/``b``
("70k" = 70000), thousands separators ("$3,200"), a decimal comma ("0,5") or a currency sign.

Safety: the parser never turns a guess into an executable trade. Text it cannot read gives
``CommandIntent.UNKNOWN`` with a help hint; a trading command with something missing or ambiguous (no amount, no
asset, an unknown asset, two assets, both buy and sell, a negation, a typo in the verb, a stop-loss on the wrong
side of the entry...) keeps its best intent but carries a ``clarification`` question, so
:attr:`Command.is_executable` is false. :meth:`Command.from_dict` holds a language model's JSON answer to the same
rules.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field, fields
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Any

from tsbot.intake.models import to_decimal
from tsbot.market.models import Timeframe
from tsbot.sentiment.aliases import ASSET_ALIASES

# --- value objects ---------------------------------------------------------------------------------------------


class CommandIntent(StrEnum):
    """What a typed command asks for."""

    BUY = "buy"
    SELL = "sell"
    CLOSE_POSITION = "close_position"
    CLOSE_ALL = "close_all"
    SET_STOP_LOSS = "set_stop_loss"
    SET_TAKE_PROFIT = "set_take_profit"
    PRICE = "price"
    SIGNAL = "signal"
    PORTFOLIO = "portfolio"
    POSITIONS = "positions"
    ORDERS = "orders"
    CANCEL_ORDER = "cancel_order"
    PRICE_ALERT = "price_alert"
    BACKTEST = "backtest"
    HELP = "help"
    UNKNOWN = "unknown"


class AmountKind(StrEnum):
    """How an amount is given.

    ``QUANTITY``: units of the base asset ("0.1 BTC", "10 shares"); ``QUOTE``: value in a quote currency ("$500 of
    ETH", "500 usdt of eth"), the currency in :attr:`Command.amount_currency`; ``FRACTION``: a ratio in (0, 1] of
    the position held (sell, close) or of the quote balance (buy "with half my usdt"): "half" = 0.5, "25%" = 0.25,
    "all" = 1.
    """

    QUANTITY = "quantity"
    QUOTE = "quote"
    FRACTION = "fraction"


class OrderType(StrEnum):
    """Order type of a buy, sell or close. ``LIMIT`` and ``STOP`` need :attr:`Command.price`."""

    MARKET = "market"
    LIMIT = "limit"
    STOP = "stop"


class AlertDirection(StrEnum):
    """When a price alert fires: the price goes above, goes below, or crosses the level either way."""

    ABOVE = "above"
    BELOW = "below"
    CROSSES = "crosses"


#: Intents that change orders or positions; only these can be executable.
TRADING_INTENTS = frozenset(
    {
        CommandIntent.BUY,
        CommandIntent.SELL,
        CommandIntent.CLOSE_POSITION,
        CommandIntent.CLOSE_ALL,
        CommandIntent.SET_STOP_LOSS,
        CommandIntent.SET_TAKE_PROFIT,
        CommandIntent.CANCEL_ORDER,
    }
)

#: Highest leverage accepted (the largest offered by major futures exchanges).
MAX_LEVERAGE = Decimal(125)
#: Longer messages are not read as commands (a command is a line, not an essay).
MAX_COMMAND_CHARS = 500
#: ``order_id`` value meaning every open order (of :attr:`Command.symbol` when set).
ALL_ORDERS = "all"

HELP_HINT = (
    'Try "buy 0.1 BTC at market", "sell half my ETH", "price of SOL", "portfolio", '
    '"alert me when BTC crosses 70k" or "help".'
)

_ORDER_FIELDS = frozenset({"symbol", "amount", "amount_kind", "amount_currency", "order_type", "price"})
_FIELDS_BY_INTENT: dict[CommandIntent, frozenset[str]] = {
    CommandIntent.BUY: _ORDER_FIELDS | {"stop_loss", "take_profit", "leverage"},
    CommandIntent.SELL: _ORDER_FIELDS | {"stop_loss", "take_profit", "leverage"},
    CommandIntent.CLOSE_POSITION: _ORDER_FIELDS,
    CommandIntent.CLOSE_ALL: frozenset(),
    CommandIntent.SET_STOP_LOSS: frozenset({"symbol", "price"}),
    CommandIntent.SET_TAKE_PROFIT: frozenset({"symbol", "price"}),
    CommandIntent.PRICE: frozenset({"symbol"}),
    CommandIntent.SIGNAL: frozenset({"symbol", "timeframe"}),
    CommandIntent.PORTFOLIO: frozenset(),
    CommandIntent.POSITIONS: frozenset({"symbol"}),
    CommandIntent.ORDERS: frozenset({"symbol"}),
    CommandIntent.CANCEL_ORDER: frozenset({"symbol", "order_id"}),
    CommandIntent.PRICE_ALERT: frozenset({"symbol", "price", "direction"}),
    CommandIntent.BACKTEST: frozenset({"symbol", "strategy", "timeframe"}),
    CommandIntent.HELP: frozenset(),
    CommandIntent.UNKNOWN: frozenset({"symbol"}),
}
_SYMBOL_RE = re.compile(r"[A-Z0-9][A-Z0-9.]{0,14}(?:/[A-Z0-9]{2,10})?")
_ORDER_ID_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")
_STRATEGY_RE = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")
_CURRENCY_RE = re.compile(r"[A-Z]{2,6}")
_TIMEFRAMES = frozenset(t.value for t in Timeframe)


@dataclass(frozen=True, slots=True)
class Command:
    """One typed command, read by :func:`parse_command` or validated by :meth:`from_dict`.

    Invariants (checked on construction, ``ValueError`` otherwise): only the fields of the intent are set (a
    price alert has no amount); amounts, prices and leverage are positive; a fraction is at most 1; ``amount`` and
    ``amount_kind`` come together; a market order has no price; a buy's stop-loss is below and its take-profit
    above a limit/stop price (the reverse for a sell); and a command that lacks what its intent needs, like every
    ``UNKNOWN``, carries a ``clarification``.

    Attributes
    ----------
    intent:
        :class:`CommandIntent`.
    symbol:
        ``BASE`` or ``BASE/QUOTE`` upper case (``BTC``, ``ETH/USDT``, ``AAPL``), or ``None``.
    amount, amount_kind, amount_currency:
        Size of a buy, sell or close: a :class:`~decimal.Decimal` > 0 read as :class:`AmountKind` says (units of
        the base, quote-currency value, or a ratio in (0, 1]); ``amount_currency`` is the quote currency of a
        ``QUOTE`` amount (``"USD"`` for "$", ``"USDT"``) or the balance a buy's ``FRACTION`` is taken from
        (``None``: the account's cash).
    order_type, price:
        :class:`OrderType` and the limit/stop price in the quote currency. For ``SET_STOP_LOSS`` /
        ``SET_TAKE_PROFIT`` ``price`` is the new stop-loss / take-profit, for ``PRICE_ALERT`` the alert level.
    stop_loss, take_profit:
        Prices attached to a buy or sell ("buy 0.1 btc sl 58000 tp 70000").
    leverage:
        Leverage multiple in [1, :data:`MAX_LEVERAGE`] ("10x" -> 10).
    order_id:
        Order to cancel, or :data:`ALL_ORDERS`.
    strategy, timeframe:
        Backtest strategy name (lower case, ``sma_cross``) and a :class:`~tsbot.market.models.Timeframe` value
        (``"1h"``) for backtests and signals; ``None`` means the default.
    direction:
        :class:`AlertDirection` of a price alert.
    clarification:
        A question to ask the user instead of acting, or ``None``.
    confidence:
        How sure the reading is, in [0, 1]; below ``Settings.intake.llm.min_confidence`` a language model may
        take a second look.
    """

    intent: CommandIntent
    symbol: str | None = None
    amount: Decimal | None = None
    amount_kind: AmountKind | None = None
    amount_currency: str | None = None
    order_type: OrderType | None = None
    price: Decimal | None = None
    stop_loss: Decimal | None = None
    take_profit: Decimal | None = None
    leverage: Decimal | None = None
    order_id: str | None = None
    strategy: str | None = None
    timeframe: str | None = None
    direction: AlertDirection | None = None
    clarification: str | None = None
    confidence: float = 1.0

    def __post_init__(self) -> None:
        _validate(self)

    @property
    def is_trading(self) -> bool:
        """Whether the intent changes orders or positions (:data:`TRADING_INTENTS`)."""
        return self.intent in TRADING_INTENTS

    @property
    def is_complete(self) -> bool:
        """Whether the command holds everything its intent needs (it may still carry a clarification)."""
        return _is_complete(self)

    @property
    def is_executable(self) -> bool:
        """True only for a trading intent with everything it needs and no open clarification."""
        return self.is_trading and self.clarification is None and _is_complete(self)

    def summary(self) -> str:
        """The command in plain words ("buy 0.1 BTC at market"), for confirmations; ``?`` marks what is missing."""
        return _summary(self)

    def to_dict(self) -> dict[str, Any]:
        """Every field by name; enums as their values, numbers as :class:`~decimal.Decimal` (JSON through
        :func:`tsbot.intake.models.dumps`), ``confidence`` rounded to 3 decimals."""
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            out[f.name] = value.value if isinstance(value, StrEnum) else value
        out["confidence"] = round(self.confidence, 3)
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Command:
        """Strict inverse of :meth:`to_dict`, also used to validate a language model's JSON answer.

        Numbers may be JSON numbers, numeric strings or decimals; ``symbol`` is upper-cased, ``strategy``
        lower-cased; missing keys are ``None`` (``confidence`` 1.0).

        Raises
        ------
        ValueError
            Not a mapping, a key that is not a field, a missing or unknown ``intent``, an unknown enum value, a
            value of the wrong type, or any broken invariant of :class:`Command` (negative amount, fraction > 1,
            a field the intent does not take, an incomplete command without a clarification...).
        """
        if not isinstance(data, Mapping):
            raise ValueError(f"a command must be a JSON object, not {type(data).__name__}")
        extra = sorted(str(k) for k in data if k not in _FIELD_NAMES)
        if extra:
            raise ValueError(f"unknown command field(s): {', '.join(extra)}")
        if data.get("intent") is None:
            raise ValueError("a command needs an intent")
        confidence = data.get("confidence", 1.0)
        if isinstance(confidence, bool) or not isinstance(confidence, int | float | Decimal | str):
            raise ValueError(f"confidence must be a number, not {confidence!r}")
        try:
            confidence_value = float(confidence)
        except ValueError:
            raise ValueError(f"confidence must be a number, not {confidence!r}") from None
        return cls(
            intent=_enum(CommandIntent, data["intent"], "intent"),
            symbol=_text(data.get("symbol"), "symbol", str.upper),
            amount=_number(data.get("amount"), "amount"),
            amount_kind=_enum(AmountKind, data.get("amount_kind"), "amount_kind"),
            amount_currency=_text(data.get("amount_currency"), "amount_currency", str.upper),
            order_type=_enum(OrderType, data.get("order_type"), "order_type"),
            price=_number(data.get("price"), "price"),
            stop_loss=_number(data.get("stop_loss"), "stop_loss"),
            take_profit=_number(data.get("take_profit"), "take_profit"),
            leverage=_number(data.get("leverage"), "leverage"),
            order_id=_text(data.get("order_id"), "order_id", str, allow_int=True),
            strategy=_text(data.get("strategy"), "strategy", str.lower),
            timeframe=_text(data.get("timeframe"), "timeframe", str),
            direction=_enum(AlertDirection, data.get("direction"), "direction"),
            clarification=_text(data.get("clarification"), "clarification", str),
            confidence=confidence_value,
        )


_FIELD_NAMES = frozenset(f.name for f in fields(Command))
_ENTITY_FIELDS = _FIELD_NAMES - {"intent", "clarification", "confidence"}


def command_json_schema() -> dict[str, Any]:
    """JSON Schema (draft 2020-12) of :meth:`Command.to_dict`, for a language model's system prompt.

    The schema states shapes and enum values; the cross-field rules are those of :class:`Command`.
    """
    number = {"type": ["number", "null"], "exclusiveMinimum": 0}
    text = {"type": ["string", "null"]}

    def choice(enum: type[StrEnum]) -> dict[str, Any]:
        return {"enum": [m.value for m in enum] + [None]}

    return {
        "type": "object",
        "additionalProperties": False,
        "required": ["intent"],
        "properties": {
            "intent": {"enum": [m.value for m in CommandIntent]},
            "symbol": {**text, "description": "BASE or BASE/QUOTE upper case, e.g. BTC, ETH/USDT, AAPL"},
            "amount": {**number, "description": "quantity, quote value, or a fraction ratio in (0, 1]"},
            "amount_kind": choice(AmountKind),
            "amount_currency": {**text, "description": "quote currency of a quote amount, e.g. USD, USDT"},
            "order_type": choice(OrderType),
            "price": {**number, "description": "limit/stop price, new stop-loss/take-profit, or alert level"},
            "stop_loss": number,
            "take_profit": number,
            "leverage": {"type": ["number", "null"], "minimum": 1, "maximum": float(MAX_LEVERAGE)},
            "order_id": {**text, "description": f'order id, or "{ALL_ORDERS}"'},
            "strategy": text,
            "timeframe": {"enum": sorted(_TIMEFRAMES) + [None]},
            "direction": choice(AlertDirection),
            "clarification": {
                **text,
                "description": "question for the user when anything is missing or unclear",
            },
            "confidence": {"type": "number", "minimum": 0, "maximum": 1},
        },
    }


# --- validation --------------------------------------------------------------------------------------------------


def _enum(enum: type[StrEnum], value: Any, name: str) -> Any:
    if value is None or isinstance(value, enum):
        return value
    if not isinstance(value, str):
        raise ValueError(f"{name} must be a string, not {value!r}")
    try:
        return enum(value)
    except ValueError:
        allowed = ", ".join(m.value for m in enum)
        raise ValueError(f"{name} {value!r} is not one of: {allowed}") from None


def _number(value: Any, name: str) -> Decimal | None:
    if value is None:
        return None
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, not {value!r}")
    try:
        return to_decimal(value)
    except ValueError:
        raise ValueError(f"{name} must be a number, not {value!r}") from None


def _text(value: Any, name: str, norm: Any, *, allow_int: bool = False) -> str | None:
    if value is None:
        return None
    if allow_int and isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str):
        raise ValueError(f"{name} must be a string, not {value!r}")
    return str(norm(value.strip()))


def _check_type(value: Any, kind: type | tuple[type, ...], name: str) -> None:
    if value is not None and (not isinstance(value, kind) or isinstance(value, bool)):
        raise ValueError(f"{name} has the wrong type: {value!r}")


def _validate(cmd: Command) -> None:
    """Raise ``ValueError`` when ``cmd`` breaks an invariant listed in :class:`Command`."""
    if not isinstance(cmd.intent, CommandIntent):
        raise ValueError(f"intent must be a CommandIntent, not {cmd.intent!r}")
    _check_type(cmd.amount_kind, AmountKind, "amount_kind")
    _check_type(cmd.order_type, OrderType, "order_type")
    _check_type(cmd.direction, AlertDirection, "direction")
    for name in ("amount", "price", "stop_loss", "take_profit", "leverage"):
        value = getattr(cmd, name)
        _check_type(value, Decimal, name)
        if value is not None and not (value.is_finite() and value > 0):
            raise ValueError(f"{name} must be a positive number, not {value}")
    for name in ("symbol", "amount_currency", "order_id", "strategy", "timeframe", "clarification"):
        _check_type(getattr(cmd, name), str, name)
    if isinstance(cmd.confidence, bool) or not isinstance(cmd.confidence, int | float):
        raise ValueError(f"confidence must be a number, not {cmd.confidence!r}")
    if not 0.0 <= cmd.confidence <= 1.0:
        raise ValueError(f"confidence must be in [0, 1], not {cmd.confidence}")
    set_fields = {name for name in _ENTITY_FIELDS if getattr(cmd, name) is not None}
    stray = set_fields - _FIELDS_BY_INTENT[cmd.intent]
    if stray:
        raise ValueError(f"intent {cmd.intent.value} takes no {', '.join(sorted(stray))}")
    if cmd.symbol is not None and not _SYMBOL_RE.fullmatch(cmd.symbol):
        raise ValueError(f"symbol {cmd.symbol!r} is not BASE or BASE/QUOTE in upper case")
    if (cmd.amount is None) != (cmd.amount_kind is None):
        raise ValueError("amount and amount_kind come together")
    if cmd.amount_kind is AmountKind.FRACTION and cmd.amount is not None and cmd.amount > 1:
        raise ValueError(f"a fraction is at most 1 (all of it), not {cmd.amount}")
    if cmd.amount_currency is not None:
        if cmd.amount_kind not in (AmountKind.QUOTE, AmountKind.FRACTION):
            raise ValueError("amount_currency goes with a quote or fraction amount")
        if not _CURRENCY_RE.fullmatch(cmd.amount_currency):
            raise ValueError(f"amount_currency {cmd.amount_currency!r} is not a currency code")
    if cmd.order_type is OrderType.MARKET and cmd.price is not None:
        raise ValueError("a market order has no price")
    if cmd.leverage is not None and not Decimal(1) <= cmd.leverage <= MAX_LEVERAGE:
        raise ValueError(f"leverage must be within 1..{MAX_LEVERAGE}, not {cmd.leverage}")
    if cmd.order_id is not None and not _ORDER_ID_RE.fullmatch(cmd.order_id):
        raise ValueError(f"order_id {cmd.order_id!r} is not a valid order id")
    if cmd.strategy is not None and not _STRATEGY_RE.fullmatch(cmd.strategy):
        raise ValueError(f"strategy {cmd.strategy!r} must be a lower-case name like sma_cross")
    if cmd.timeframe is not None and cmd.timeframe not in _TIMEFRAMES:
        raise ValueError(f"timeframe {cmd.timeframe!r} is not one of: {', '.join(sorted(_TIMEFRAMES))}")
    if cmd.clarification is not None and not cmd.clarification.strip():
        raise ValueError("clarification must be a question, not blank")
    side_problem = _bracket_problem(cmd)
    if side_problem and cmd.clarification is None:
        raise ValueError(side_problem)
    if cmd.clarification is None and not _is_complete(cmd):
        raise ValueError(f"an incomplete {cmd.intent.value} command needs a clarification")


def _bracket_problem(cmd: Command) -> str | None:
    """Why the stop-loss / take-profit sit on the wrong side of a known entry price, or ``None``."""
    if cmd.intent not in (CommandIntent.BUY, CommandIntent.SELL):
        return None
    buy = cmd.intent is CommandIntent.BUY
    if (
        cmd.stop_loss is not None
        and cmd.take_profit is not None
        and (cmd.stop_loss >= cmd.take_profit if buy else cmd.stop_loss <= cmd.take_profit)
    ):
        where = "below" if buy else "above"
        return (
            f"the stop-loss {_fmt(cmd.stop_loss)} should be {where} the take-profit {_fmt(cmd.take_profit)}"
        )
    if cmd.price is None:
        return None
    if cmd.stop_loss is not None and (cmd.stop_loss >= cmd.price if buy else cmd.stop_loss <= cmd.price):
        where = "below" if buy else "above"
        return f"the stop-loss {_fmt(cmd.stop_loss)} should be {where} the entry {_fmt(cmd.price)}"
    if cmd.take_profit is not None and (
        cmd.take_profit <= cmd.price if buy else cmd.take_profit >= cmd.price
    ):
        where = "above" if buy else "below"
        return f"the take-profit {_fmt(cmd.take_profit)} should be {where} the entry {_fmt(cmd.price)}"
    return None


def _is_complete(cmd: Command) -> bool:
    intent = cmd.intent
    if intent in (CommandIntent.BUY, CommandIntent.SELL, CommandIntent.CLOSE_POSITION):
        if cmd.symbol is None or cmd.amount is None or cmd.order_type is None:
            return False
        return (cmd.price is not None) == (cmd.order_type is not OrderType.MARKET)
    if intent in (CommandIntent.SET_STOP_LOSS, CommandIntent.SET_TAKE_PROFIT):
        return cmd.symbol is not None and cmd.price is not None
    if intent in (CommandIntent.PRICE, CommandIntent.BACKTEST):
        return cmd.symbol is not None
    if intent is CommandIntent.CANCEL_ORDER:
        return cmd.order_id is not None or cmd.symbol is not None
    if intent is CommandIntent.PRICE_ALERT:
        return cmd.symbol is not None and cmd.price is not None and cmd.direction is not None
    return intent is not CommandIntent.UNKNOWN


def _fmt(value: Decimal | None) -> str:
    return "?" if value is None else format(value, "f")


def _summary(cmd: Command) -> str:
    sym = cmd.symbol or "?"
    intent = cmd.intent
    if intent in (CommandIntent.BUY, CommandIntent.SELL, CommandIntent.CLOSE_POSITION):
        verb = "close" if intent is CommandIntent.CLOSE_POSITION else intent.value
        if cmd.amount is None:
            size = sym
        elif cmd.amount_kind is AmountKind.QUANTITY:
            size = f"{_fmt(cmd.amount)} {sym}"
        elif cmd.amount_kind is AmountKind.QUOTE:
            money = (
                f"${_fmt(cmd.amount)}"
                if cmd.amount_currency in (None, "USD")
                else (f"{_fmt(cmd.amount)} {cmd.amount_currency}")
            )
            size = f"{money} of {sym}"
        else:
            share = "all" if cmd.amount == 1 else f"{_fmt(_clean_decimal(cmd.amount * 100))}%"
            of_what = cmd.amount_currency or "cash" if intent is CommandIntent.BUY else sym
            size = (
                f"{sym} with {share} of my {of_what}"
                if intent is CommandIntent.BUY
                else f"{share} of my {of_what}"
            )
        text = f"{verb} {size}"
        if cmd.order_type is OrderType.MARKET:
            text += " at market"
        elif cmd.order_type is not None:
            text += f", {cmd.order_type.value} at {_fmt(cmd.price)}"
        if cmd.leverage is not None:
            text += f" with {_fmt(cmd.leverage)}x leverage"
        if cmd.stop_loss is not None:
            text += f", stop-loss {_fmt(cmd.stop_loss)}"
        if cmd.take_profit is not None:
            text += f", take-profit {_fmt(cmd.take_profit)}"
        return text
    if intent is CommandIntent.SET_STOP_LOSS:
        return f"set the stop-loss on {sym} at {_fmt(cmd.price)}"
    if intent is CommandIntent.SET_TAKE_PROFIT:
        return f"set the take-profit on {sym} at {_fmt(cmd.price)}"
    if intent is CommandIntent.CANCEL_ORDER:
        if cmd.order_id in (None, ALL_ORDERS):
            return f"cancel all {cmd.symbol} orders" if cmd.symbol else "cancel all orders"
        return f"cancel order {cmd.order_id}"
    if intent is CommandIntent.PRICE_ALERT:
        words = {AlertDirection.ABOVE: "goes above", AlertDirection.BELOW: "goes below"}
        return f"alert when {sym} {words.get(cmd.direction, 'crosses')} {_fmt(cmd.price)}"
    if intent is CommandIntent.BACKTEST:
        text = f"backtest {cmd.strategy or 'the default strategy'} on {sym}"
        return f"{text} {cmd.timeframe}" if cmd.timeframe else text
    if intent is CommandIntent.PRICE:
        return f"price of {sym}"
    if intent is CommandIntent.SIGNAL:
        text = f"signal for {cmd.symbol}" if cmd.symbol else "latest signals"
        return f"{text} {cmd.timeframe}" if cmd.timeframe else text
    if intent in (CommandIntent.POSITIONS, CommandIntent.ORDERS) and cmd.symbol:
        return f"{intent.value} in {cmd.symbol}"
    return {CommandIntent.CLOSE_ALL: "close all positions"}.get(intent, intent.value)


# --- vocabulary --------------------------------------------------------------------------------------------------

# fmt: off
_CRYPTO_TICKERS = frozenset({
    "BTC", "ETH", "SOL", "XRP", "ADA", "DOGE", "BNB", "TRX", "TON", "DOT", "MATIC", "POL", "AVAX", "LINK",
    "LTC", "BCH", "SHIB", "UNI", "ATOM", "XLM", "ETC", "FIL", "APT", "ARB", "OP", "NEAR", "ICP", "HBAR",
    "VET", "ALGO", "INJ", "SUI", "SEI", "TIA", "PEPE", "WIF", "BONK", "FLOKI", "RNDR", "RENDER", "FET",
    "GRT", "AAVE", "MKR", "SNX", "CRV", "LDO", "RUNE", "EGLD", "SAND", "MANA", "AXS", "APE", "GALA", "IMX",
    "CHZ", "FTM", "KAS", "STX", "XMR", "EOS", "XTZ", "THETA", "ZEC", "DASH", "NEO", "COMP", "YFI", "SUSHI",
    "BAT", "ENJ", "ZIL", "ONE", "HOT", "GMX", "DYDX", "JUP", "PYTH", "WLD", "ORDI", "JASMY", "CAKE",
    "1INCH", "KSM", "FLOW", "QNT", "MINA", "ROSE", "CFX", "AR", "BLUR", "ENS", "LUNC", "LUNA", "TAO", "ENA",
    "ONDO", "STRK", "ZRO", "PENDLE", "BEAM", "NOT", "XBT"
})
# fmt: on
# fmt: off
_STOCK_TICKERS = frozenset({
    "AAPL", "MSFT", "AMZN", "GOOGL", "GOOG", "META", "NVDA", "TSLA", "BRK.B", "JPM", "V", "MA", "UNH", "HD",
    "PG", "JNJ", "XOM", "CVX", "KO", "PEP", "ABBV", "MRK", "LLY", "AVGO", "COST", "WMT", "BAC", "WFC", "C",
    "GS", "MS", "DIS", "NFLX", "ADBE", "CRM", "ORCL", "INTC", "AMD", "QCOM", "TXN", "IBM", "CSCO", "PYPL",
    "SQ", "SHOP", "UBER", "ABNB", "COIN", "MSTR", "PLTR", "SNOW", "NKE", "MCD", "SBUX", "BA", "CAT", "GE",
    "F", "GM", "T", "VZ", "TMUS", "PFE", "MRNA", "BABA", "TSM", "ASML", "SPY", "QQQ", "IWM", "DIA", "VTI",
    "VOO", "GLD", "SLV", "TLT", "ARKK", "XLF", "XLE", "SMCI", "ARM", "RIVN", "LCID", "HOOD", "SOFI", "AMC",
    "GME"
})
# fmt: on
#: Tickers that are everyday words: they name an asset only as ``$CASHTAG``, in a pair, or in upper case.
# fmt: off
_WORD_TICKERS = frozenset({
    "ONE", "HOT", "NEAR", "NOT", "APE", "OP", "AR", "TON", "ETC", "APT", "VET", "ALGO", "FLOW", "ROSE",
    "SAND", "BEAM", "CAKE", "BLUR", "COMP", "BAT", "V", "MA", "C", "MS", "DIS", "COST", "F", "GM", "T",
    "CAT", "ARM", "HOOD", "COIN", "SNOW", "SHOP", "GE"
})
# fmt: on
#: Quote currencies: amounts in them are values, and they end pairs ("BTC/USDT").
# fmt: off
_QUOTE_WORDS = {
    "usdt": "USDT", "usdc": "USDC", "busd": "BUSD", "fdusd": "FDUSD", "tusd": "TUSD", "dai": "DAI", "usd": "USD",
    "dollar": "USD", "dollars": "USD", "buck": "USD", "bucks": "USD", "eur": "EUR", "euro": "EUR",
    "euros": "EUR", "gbp": "GBP",
}
# fmt: on
_PAIR_QUOTES = frozenset({*(_QUOTE_WORDS.values()), "BTC", "ETH", "BNB"})
# fmt: off
_EXTRA_NAMES = {
    "etherium": "ETH", "eth": "ETH", "bitcoin cash": "BCH", "ethereum classic": "ETC", "tron": "TRX",
    "toncoin": "TON", "shiba": "SHIB", "shiba inu": "SHIB", "uniswap": "UNI", "cosmos": "ATOM", "stellar": "XLM",
    "filecoin": "FIL", "aptos": "APT", "arbitrum": "ARB", "optimism": "OP", "internet computer": "ICP",
    "hedera": "HBAR", "algorand": "ALGO", "injective": "INJ", "celestia": "TIA", "dogwifhat": "WIF",
    "the graph": "GRT", "maker": "MKR", "monero": "XMR", "tezos": "XTZ", "zcash": "ZEC", "kaspa": "KAS",
    "fantom": "FTM", "the sandbox": "SAND", "decentraland": "MANA", "apecoin": "APE", "immutable": "IMX",
    "chiliz": "CHZ", "worldcoin": "WLD", "bittensor": "TAO", "ethena": "ENA", "tesla": "TSLA", "nvidia": "NVDA",
    "amazon": "AMZN", "google": "GOOGL", "alphabet": "GOOGL", "facebook": "META", "netflix": "NFLX",
    "coke": "KO", "s&p": "SPY", "nasdaq": "QQQ", "nasdaq 100": "QQQ", "berkshire": "BRK.B", "jpmorgan": "JPM",
    "disney": "DIS", "intel": "INTC", "palantir": "PLTR", "coinbase": "COIN", "microstrategy": "MSTR",
    "boeing": "BA", "walmart": "WMT", "costco": "COST", "ripple": "XRP", "ether": "ETH", "apple": "AAPL",
}
# fmt: on


def _alias_names() -> dict[str, str]:
    names = dict(_EXTRA_NAMES)
    for ticker, aliases in ASSET_ALIASES.items():
        for alias in aliases:
            low = alias.lower()
            names[low] = ticker
            if "-" in low:
                names[low.replace("-", " ")] = ticker
    names["xbt"] = "BTC"
    return names


_NAMES = _alias_names()
_DEFAULT_KNOWN = frozenset(_CRYPTO_TICKERS | _STOCK_TICKERS | set(ASSET_ALIASES))

# Phrase -> (kind, canonical). Kinds: "kw" (command word), "filler" (dropped), "wh" (question word, dropped but
# noted), "unit" ("shares"), "tfw" (time unit word), "frac" (canonical is the ratio).
_VOCAB: dict[str, tuple[str, str]] = {}


def _add(kind: str, canonical: str, phrases: str) -> None:
    for phrase in phrases.split("|"):
        _VOCAB[phrase.strip()] = (kind, canonical)


_add("kw", "buy", "buy|buying|buys|purchase|ape into|ape in|bid on")
_add("kw", "long", "long|go long|longing|open long|open a long|a long on")
_add("kw", "sell", "sell|selling|sells|dump|offload|unload|get rid of")
_add("kw", "short", "short|go short|shorting|open short|open a short|a short on")
_add("kw", "close", "close|closing|exit|flatten|liquidate|close out|get out of|get out|square off|unwind")
_add("kw", "cancel", "cancel|cancelling|canceling|cxl|revoke|delete|remove|kill")
_add("kw", "sl", "sl|stop loss|stop-loss|stoploss|stop losses|stop-loss order")
_add("kw", "tp", "tp|take profit|take-profit|takeprofit|take profits|profit target|target|targets")
_add("kw", "stop", "stop|stop order|stop market|stop price|stops")
_add("kw", "limit", "limit|lmt|lim|limit order|limit price|lmt order")
_add(
    "kw",
    "market",
    "market|mkt|mrkt|at market|at mkt|market order|mkt order|market price|at market price"
    "|at the market|at the market price|marketprice",
)
_add("kw", "leverage", "leverage|lev|leveraged")
_add(
    "kw",
    "alert",
    "alert|alerts|alarm|notify|notify me|tell me when|tell me if|let me know|ping me|remind me"
    "|set an alert|set alert",
)
_add("kw", "backtest", "backtest|back test|back-test|backtesting|backtests")
_add(
    "kw",
    "signal",
    "signal|signals|outlook|analysis|analyse|analyze|prediction|predict|forecast|setup|opinion",
)
_add(
    "kw",
    "advice",
    "should i buy|should i sell|should i|worth buying|what do you think|thoughts on|recommend"
    "|recommendation|bullish|bearish",
)
_add(
    "kw",
    "portfolio",
    "portfolio|balance|balances|pnl|p&l|profit and loss|equity|account|net worth|networth"
    "|wallet|funds|cash|buying power|how am i doing|performance|profit|profits|gains"
    "|how much money",
)
_add(
    "kw",
    "positions",
    "positions|position|holdings|what am i holding|what do i hold|what do i own|open trades|trades|bags|bag",
)
_add("kw", "orders", "orders|order|open orders|working orders")
_add("kw", "price", "price|prices|quote|how much is|how much does|how much for|trading at")
_add(
    "kw",
    "help",
    "help|commands|command list|what can you do|how does this work|how do you work|how do i"
    "|how to|how to use|menu|start|usage",
)
_add("kw", "all", "all|everything|every")
_add(
    "kw",
    "above",
    "above|over|exceeds|exceed|higher than|greater than|more than|rises above|goes above"
    "|breaks above|climbs above|gets above|goes over|rises to|rises|pumps to|climbs to|is above",
)
_add(
    "kw",
    "below",
    "below|under|lower than|less than|drops below|falls below|dips below|goes below|goes under"
    "|falls under|drops under|drops to|falls to|dips to|drops|falls|dips|crashes to|dumps to"
    "|is below",
)
_add("kw", "crosses", "crosses|cross|crossing|hits|hit|reaches|reach|touches|touch|gets to")
_add("kw", "set", "set|move|update|change|adjust|put|place|modify|raise")
_add("kw", "breakeven", "breakeven|break even|break-even")
_add("kw", "with", "with|using|w/")
_add("kw", "for", "for")
_add("kw", "at", "at|@|=")
_add("kw", "of", "of|worth|worth of|in|into")
_add("kw", "on", "on")
_add("kw", "to", "to")
_add("kw", "if", "if|when|once|as soon as")
_add("kw", "not", "dont|don't|do not|never|not")
_add("kw", "and", "and|&|plus")
_add("kw", "or", "or")
_add("kw", "maybe", "maybe|perhaps|thinking about|considering|might|not sure")
_add("kw", "pct", "percent|pct|per cent")
_add("kw", "strategy", "strategy|strat|strategies")
_add("kw", "id", "number|nr")
_add("unit", "unit", "shares|share|units|unit|coins|coin|tokens|token|contracts|contract|lots|lot")
_add("tfw", "h", "hour|hours|hr|hrs|h")
_add("tfw", "m", "minute|minutes|min|mins")
_add("tfw", "d", "day|days|d")
_add("tfw", "w", "week|weeks|w")
_add("tfw", "1h", "hourly")
_add("tfw", "1d", "daily")
_add("tfw", "1w", "weekly")
_add("frac", "0.5", "half|a half|one half")
_NUMBER_WORDS = ("one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten")
for _value, _word in enumerate(_NUMBER_WORDS, start=1):
    _add("num", str(_value), _word)
_add("frac", "0.25", "quarter|a quarter|one quarter")
_add("frac", "0.75", "three quarters|three quarter|3 quarters")
_add("frac", "1", "whole|entire|full|the rest|rest")
_add("wh", "what", "what|whats|what's|what is|wat|wut")
_add("wh", "how", "how|hows|how's|how is")
_add("wh", "where", "where|wheres|where's|where is")
_add(
    "filler",
    "",
    "please|pls|plz|pleas|kindly|hey|hi|hello|yo|bot|ok|okay|thanks|thank|thank you|thx|ty|now|rn|asap|right now|"
    "immediately|quick|quickly|just|can|could|would|will|you|u|i|id|im|i'm|ill|want|wanna|need|like|me|my|mine|"
    "the|a|an|some|do|does|did|is|are|am|be|it|its|this|that|then|also|go|lets|let|us|make|execute|get|give|show|"
    "list|view|see|display|check|tell|current|currently|right|open|pending|active|working|live|latest|today|there|"
    "any|much|many|up|which|doing|trading|trade|size|amount|qty|quantity|our|your|about|from|via|new|again|entry|"
    "chart|timeframe|tf|candles|run|test|go ahead|for me|my current|so|too|too much|fast|lol|mate|bro|sir|pos|"
    "yes|yeah|sure|out|real|would like|i'd like|i would like|i want to|we|by|all time|level|value|hold|holding|own|"
    "off|have|has|either|other|others|guys|guy|lets go|amp|spot|futures|perp|perps|perpetual|isolated|binance|"
    "bybit|okx|kraken|kucoin|bitget|mexc|bitfinex|alpaca|exchange|account on",
)

_MAX_PHRASE = max(len(p.split()) for p in _VOCAB)
# fmt: off
_FUZZY_INTENT_WORDS = frozenset({
    "buy", "sell", "close", "cancel", "price", "portfolio", "positions", "orders", "alert", "backtest", "signal",
    "help", "limit", "market", "leverage", "above", "below", "crosses", "long", "short",
})
# fmt: on
#: Command words that a misspelt word is compared with (see :func:`_near`).
_FUZZY_TARGETS = {
    word: canonical
    for word, (kind, canonical) in _VOCAB.items()
    if kind == "kw" and " " not in word and len(word) >= 3 and canonical in _FUZZY_INTENT_WORDS
}
# fmt: off
_FUZZY_DECISIVE = frozenset({
    "buy", "sell", "close", "cancel", "long", "short", "limit", "market", "leverage", "above", "below", "crosses",
})
# fmt: on


# --- tokens ------------------------------------------------------------------------------------------------------


@dataclass(slots=True)
class _Tok:
    """One token: ``kind`` is kw, num, asset, quote, frac, unit, tfw, unk, id, op, q."""

    kind: str
    text: str
    raw: str
    value: Decimal | None = None
    unit: str = ""  # num: "", "pct", "lev", "ratio", "tf"
    currency: str | None = None
    tf: str | None = None
    fuzzy: bool = False
    words: str = ""  # the lower-case words as written (strategy names)
    used: bool = False


_TOKEN_RE = re.compile(
    r"""
    (?P<pair>(?<![\w$#])[A-Za-z0-9]{1,12}\s?/\s?[A-Za-z]{2,6})(?![A-Za-z0-9])
  | (?P<ratio>(?<![\w.])\d{1,2}/\d{1,2})(?![\d/])
  | (?P<lev>(?<![\w.])[xX]\d{1,4}(?:\.\d+)?)(?![\w.])
  | (?P<num>(?<![\w.])(?:[-+](?=[$€£.\d]))?(?:[$€£]\s?)?(?:\d[\d,]*(?:\.\d+)?|\.\d+))(?P<suf>[A-Za-z%$€£]*)
  | (?P<cash>[$#][A-Za-z][A-Za-z0-9]{0,11}(?:\.[A-Za-z])?)(?![\w])
  | (?P<hid>\#\d[\w-]{0,63})
  | (?P<word>[A-Za-z][A-Za-z0-9_&'-]*[A-Za-z0-9]|[A-Za-z]|w/)
  | (?P<op>[<>]=?|=)
  | (?P<q>\?)
  | (?P<at>@)
  | (?P<pct>%)
    """,
    re.VERBOSE,
)
_MULTIPLIERS = {"k": 10**3, "m": 10**6, "mm": 10**6, "mil": 10**6, "b": 10**9, "bn": 10**9}
_TF_SUFFIX = {"m": "m", "min": "m", "mins": "m", "h": "h", "hr": "h", "hrs": "h", "d": "d", "w": "w"}
_CURRENCY_SIGNS = {"$": "USD", "€": "EUR", "£": "GBP"}


def _clean_decimal(value: Decimal) -> Decimal:
    """``value`` without trailing zeros and never in exponent form (``Decimal("70E+3")`` -> ``70000``)."""
    value = value.normalize()
    if value == value.to_integral_value():
        return Decimal(int(value))  # exact for any size (quantize fails past the context precision)
    return value


def _parse_digits(text: str) -> list[Decimal]:
    """Digits with commas as thousands separators ("3,200"), a decimal comma ("0,5"), or a list ("1,2,3")."""
    if "," not in text:
        return [Decimal(text)]
    if re.fullmatch(r"\d{1,3}(?:,\d{3})+(?:\.\d+)?", text) and not text.startswith("0,"):
        return [Decimal(text.replace(",", ""))]
    if re.fullmatch(r"\d+,\d{1,2}|0,\d+", text):
        return [Decimal(text.replace(",", "."))]
    return [Decimal(p) for p in text.split(",") if p]


class _Lexer:
    """Splits cleaned text into :class:`_Tok` with the asset table of one call."""

    def __init__(self, known: frozenset[str], all_caps: bool) -> None:
        self.known = known
        self.all_caps = all_caps

    def run(self, text: str) -> list[_Tok]:
        pieces: list[tuple[str, str, re.Match[str]]] = []
        for m in _TOKEN_RE.finditer(text):
            kind = m.lastgroup or ""
            if kind == "suf":
                kind = "num"
            pieces.append((kind, m.group(kind), m))
        # Phrase keys: lower-case words and plain numbers ("s&p 500"), None breaks a phrase.
        keys = [
            raw.lower()
            if kind in ("word", "at", "pct")
            else raw
            if kind == "num" and not m.group("suf")
            else None
            for kind, raw, m in pieces
        ]
        toks: list[_Tok] = []
        i = 0
        while i < len(pieces):
            for size in range(min(_MAX_PHRASE, len(pieces) - i), 1, -1):
                span = keys[i : i + size]
                if None in span:
                    continue
                phrase = " ".join(span)  # type: ignore[arg-type]
                if phrase in _VOCAB or phrase in _NAMES:
                    toks.extend(self._phrase(phrase, " ".join(p[1] for p in pieces[i : i + size])))
                    i += size
                    break
            else:
                kind, raw, m = pieces[i]
                toks.extend(self._piece(kind, raw, m))
                i += 1
        return toks

    def _phrase(self, phrase: str, raw: str) -> list[_Tok]:
        if phrase in _VOCAB:
            kind, canonical = _VOCAB[phrase]
            if kind == "filler":
                return []
            if kind == "num":
                return [_Tok("num", canonical, raw, value=Decimal(canonical), words=phrase)]
            return [_Tok(kind, canonical, raw, words=phrase)]
        return [self._asset(_NAMES[phrase], raw, phrase)]

    def _asset(self, ticker: str, raw: str, words: str, fuzzy: bool = False) -> _Tok:
        if ticker.split("/")[0] in self.known:
            return _Tok("asset", ticker, raw, fuzzy=fuzzy, words=words)
        return _Tok("unk", ticker, raw, words=words)

    def _piece(self, kind: str, raw: str, m: re.Match[str]) -> list[_Tok]:
        if kind == "word":
            return self._word(raw)
        if kind == "num":
            return self._number(m)
        if kind == "pair":
            base, quote = (p.strip() for p in raw.split("/"))
            if quote.upper() not in _PAIR_QUOTES:
                return [t for part in (base, quote) if part for t in self._word(part)]
            return [self._pair(base, quote.upper(), raw)]
        if kind == "ratio":
            num, den = (Decimal(p) for p in raw.split("/"))
            if den == 0:
                return [_Tok("unk", raw, raw)]
            return [_Tok("num", raw, raw, value=_clean_decimal(num / den), unit="ratio")]
        if kind == "lev":
            return [_Tok("num", raw, raw, value=_clean_decimal(Decimal(raw[1:])), unit="lev")]
        if kind == "cash":
            body = raw[1:].lower()
            if body in _QUOTE_WORDS:
                return [_Tok("quote", _QUOTE_WORDS[body], raw)]
            ticker = _NAMES.get(body, body.upper())
            if ticker in self.known:
                return [_Tok("asset", ticker, raw, words=body)]
            return [_Tok("id" if raw[0] == "#" else "unk", raw[1:] if raw[0] == "#" else body.upper(), raw)]
        if kind == "hid":
            return [_Tok("id", raw[1:], raw)]
        if kind == "at":
            return [_Tok("kw", "at", raw, words="@")]
        if kind == "pct":
            return [_Tok("kw", "pct", raw, words="%")]
        if kind == "op":
            return [_Tok("kw", "at", raw, words=raw)] if raw == "=" else [_Tok("op", raw, raw)]
        return [_Tok("q", raw, raw)]

    def _pair(self, base: str, quote: str, raw: str) -> _Tok:
        low = base.lower()
        ticker = _NAMES.get(low, base.upper())
        if ticker in self.known and (low not in _VOCAB or low in _NAMES):
            return _Tok("asset", f"{ticker}/{quote}", raw, words=low)
        return _Tok("unk", f"{base.upper()}/{quote}", raw, words=low)

    def _word(self, raw: str) -> list[_Tok]:
        low = raw.lower().replace("'", "")
        if low in _VOCAB:
            return self._phrase(low, raw)
        if low in _QUOTE_WORDS:
            return [_Tok("quote", _QUOTE_WORDS[low], raw)]
        if low in _NAMES:
            return [self._asset(_NAMES[low], raw, low)]
        up = low.upper()
        if up in self.known:
            if up not in _WORD_TICKERS or (raw.isupper() and not self.all_caps):
                return [_Tok("asset", up, raw, words=low)]
            return [_Tok("unk", up, raw, words=low)]
        if "-" in low or "_" in low:
            base, _, quote = low.replace("_", "-").rpartition("-")
            if quote.upper() in _PAIR_QUOTES and re.fullmatch(r"[a-z0-9]+", base):
                return [self._pair(base, quote.upper(), raw)]
            if "-" in low:
                return [t for part in low.split("-") if part for t in self._word(part)]
            return [_Tok("unk", up, raw, words=low)]
        for quote in sorted(_PAIR_QUOTES, key=len, reverse=True):
            if up.endswith(quote) and up[: -len(quote)] in self.known and len(up) > len(quote) + 1:
                return [_Tok("asset", f"{up[: -len(quote)]}/{quote}", raw, words=low)]
        return [self._fuzzy(low, raw)]

    def _fuzzy(self, low: str, raw: str) -> _Tok:
        if low.isalpha():
            for word, canonical in _FUZZY_TARGETS.items():
                if _near(low, word):
                    return _Tok("kw", canonical, raw, fuzzy=True, words=low)
            if len(low) >= 6:
                for name, ticker in _NAMES.items():
                    if " " not in name and len(name) >= 6 and _near(low, name):
                        return self._asset(ticker, raw, low, fuzzy=True)
        return _Tok("unk", low.upper(), raw, words=low)

    def _number(self, m: re.Match[str]) -> list[_Tok]:
        body, suffix = m.group("num"), m.group("suf")
        raw = body + suffix
        sign = -1 if body.startswith("-") else 1
        body = body.lstrip("+-").strip()
        currency = _CURRENCY_SIGNS.get(body[:1])
        digits = body.lstrip("$€£").strip()
        suf = suffix.lower()
        if suf[-1:] in _CURRENCY_SIGNS:
            currency = _CURRENCY_SIGNS[suf[-1]]
            suf = suf[:-1]
        glued = (digits + suf) if suf else ""
        if glued and (glued.upper() in self.known or glued in _NAMES):
            return self._word(glued)
        try:
            values = _parse_digits(digits)
        except InvalidOperation:
            return [_Tok("unk", raw, raw)]
        extra: list[_Tok] = []
        unit, tf, mult = "", None, 1
        if suf == "%":
            unit = "pct"
        elif suf == "x":
            unit = "lev"
        elif suf in _MULTIPLIERS:
            mult = _MULTIPLIERS[suf]
            if suf == "m":
                tf = f"{values[-1]}m"
        elif suf in _TF_SUFFIX:
            unit, tf = "tf", f"{values[-1]}{_TF_SUFFIX[suf]}"
        elif suf in _QUOTE_WORDS:
            currency = _QUOTE_WORDS[suf]
        elif suf:
            extra = self._word(suffix)
        toks = [
            _Tok("num", raw, raw, value=_clean_decimal(sign * v * mult), unit=unit, currency=currency, tf=tf)
            for v in values
        ]
        return toks + extra


def _near(word: str, target: str) -> bool:
    """Damerau-Levenshtein distance of at most 1 (2 for words of 8+ letters); 3-letter words: swaps only."""
    if word == target or abs(len(word) - len(target)) > 2:
        return False
    limit = 2 if min(len(word), len(target)) >= 8 else 1
    if max(len(word), len(target)) <= 3:
        return len(word) == len(target) and sorted(word) == sorted(target) and _distance(word, target) == 1
    return _distance(word, target) <= limit


def _distance(a: str, b: str) -> int:
    """Optimal-string-alignment distance (Damerau-Levenshtein without repeated edits of one substring)."""
    prev2: list[int] = []
    prev = list(range(len(b) + 1))
    for i in range(1, len(a) + 1):
        cur = [i] + [0] * len(b)
        for j in range(1, len(b) + 1):
            cost = 0 if a[i - 1] == b[j - 1] else 1
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost)
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                cur[j] = min(cur[j], prev2[j - 2] + 1)
        prev2, prev = prev, cur
    return prev[-1]


# --- parsing -----------------------------------------------------------------------------------------------------

_ADVICE_RE = re.compile(r"\b(?:is|are)\b[^?.!]*\ba\s+(?:good\s+|strong\s+)?(?:buy|sell|long|short)\b")
_MENTION_RE = re.compile(r"^\s*@[A-Za-z_]\w*[:,]?")
_SLASH_RE = re.compile(r"^\s*/([A-Za-z_]+)(?:@\w+)?")
_APOSTROPHE_RE = re.compile(r"(?<=[A-Za-z])['’‘`](?=[A-Za-z])")
_PRICE_MARKERS = frozenset(
    {"sl", "tp", "stop", "limit", "above", "below", "crosses", "price", "market", "leverage"}
)
#: Words after which a number is a price, never a percentage.
_PRICE_WORDS = (_PRICE_MARKERS - {"leverage"}) | {"at"}
_ORDER_INTENTS = (CommandIntent.BUY, CommandIntent.SELL, CommandIntent.CLOSE_POSITION)
_CONFIRM = 'Send it again without "?" or "maybe" to go ahead.'
_GRAMMAR = frozenset({"at", "to", "on", "for", "of", "with", "and", "set"})
_ORDER_WORDS = _GRAMMAR | {"market", "if", "positions"}
#: Command words a trading reading may leave unused; any other word left over is asked about.
_ALLOWED: dict[CommandIntent, frozenset[str]] = {
    CommandIntent.BUY: _ORDER_WORDS | {"buy", "long", "portfolio", "orders"},
    CommandIntent.SELL: _ORDER_WORDS | {"sell", "short", "orders"},
    CommandIntent.CLOSE_POSITION: _ORDER_WORDS | {"close", "long", "short"},
    CommandIntent.CLOSE_ALL: frozenset({"close", "all", "positions", "portfolio", "sell", "of", "and"}),
    CommandIntent.SET_STOP_LOSS: _GRAMMAR | {"sl", "stop", "positions", "price"},
    CommandIntent.SET_TAKE_PROFIT: _GRAMMAR | {"tp", "positions", "price"},
    CommandIntent.CANCEL_ORDER: _GRAMMAR | {"cancel", "orders", "all", "id"},
}
#: Words that describe an order being cancelled ("cancel my buy limit order"), allowed when "order" is said.
_ORDER_DESCRIPTIONS = frozenset({"buy", "sell", "long", "short", "limit", "market", "stop"})
_CLEAR = 0.95
_ASK = 0.4


@dataclass(slots=True)
class _Ctx:
    """One message being read: tokens without fillers and what the dropped words said."""

    toks: list[_Tok]
    question: bool
    wh: bool
    advice: bool
    text: str
    penalty: float = 0.0
    notes: list[str] = field(default_factory=list)

    def kws(self) -> list[str]:
        return [t.text for t in self.toks if t.kind == "kw"]

    def has(self, *words: str) -> bool:
        return any(t.kind == "kw" and t.text in words for t in self.toks)

    def of_kind(self, kind: str) -> list[_Tok]:
        return [t for t in self.toks if t.kind == kind]

    def symbols(self) -> list[str]:
        seen: list[str] = []
        for t in self.toks:
            if t.kind == "asset" and not t.used and t.text not in seen:
                seen.append(t.text)
        return seen

    def fuzzy(self) -> bool:
        """Whether a typo was corrected in an asset or in a word that decides what a trade does."""
        return any(t.fuzzy and (t.kind == "asset" or t.text in _FUZZY_DECISIVE) for t in self.toks)


def parse_command(text: str, known_assets: Collection[str] | None = None) -> Command:
    """Read one typed command (see the module docstring for what is understood).

    Parameters
    ----------
    text:
        The message as the user typed it. Longer than :data:`MAX_COMMAND_CHARS` characters, empty, or mostly
        unreadable (replacement or control characters) gives ``UNKNOWN`` with confidence 1.0 (certainly not a
        command), without further reading.
    known_assets:
        Assets the deployment knows (``"BTC"``, ``"ETH/USDT"``, ``"AAPL"``; bases are taken from pairs). When
        given it replaces the built-in list: any other ticker or name is reported as unknown. ``None``: the
        built-in crypto and US stock tickers and :data:`~tsbot.sentiment.aliases.ASSET_ALIASES`.

    Returns
    -------
    Command
        Never raises for any string; :attr:`Command.is_executable` says whether it may go to a broker as is.

    Raises
    ------
    TypeError
        ``text`` is not a string.
    """
    if not isinstance(text, str):
        raise TypeError(f"text must be a str, not {type(text).__name__}")
    if len(text) > MAX_COMMAND_CHARS:
        return _unknown(
            f"That message is too long for a command (over {MAX_COMMAND_CHARS} characters). {HELP_HINT}"
        )
    if not text.strip():
        return _unknown(f"The message is empty. {HELP_HINT}")
    bad = sum(1 for ch in text if ch == "\ufffd" or (not ch.isprintable() and not ch.isspace()))
    if bad > max(2, len(text) // 5):
        return _unknown(f"I can't read that message. {HELP_HINT}")
    known = _DEFAULT_KNOWN if known_assets is None else _known_set(known_assets)
    ctx = _context(text, known)
    intent = _route(ctx)
    return _EXTRACTORS[intent](ctx, intent)


def _known_set(known_assets: Collection[str]) -> frozenset[str]:
    if isinstance(known_assets, str):
        raise TypeError("known_assets must be a collection of symbols, not one string")
    return frozenset(str(a).strip().upper().split("/")[0] for a in known_assets if str(a).strip())


def _unknown(question: str, *, symbol: str | None = None, confidence: float = 1.0) -> Command:
    return Command(CommandIntent.UNKNOWN, symbol=symbol, clarification=question, confidence=confidence)


def _context(text: str, known: frozenset[str]) -> _Ctx:
    text = unicodedata.normalize("NFKC", text)
    text = "".join(ch if ch.isprintable() else " " for ch in text)
    text = _SLASH_RE.sub(r"\1 ", _MENTION_RE.sub(" ", text))
    text = _APOSTROPHE_RE.sub("", text)
    letters = [ch for ch in text if ch.isalpha()]
    all_caps = len(letters) >= 4 and all(ch.isupper() for ch in letters)
    raw = _Lexer(known, all_caps).run(text)
    toks = [t for t in raw if t.kind not in ("wh", "q")]
    return _Ctx(
        toks=toks,
        question=any(t.kind == "q" for t in raw),
        wh=any(t.kind == "wh" for t in raw),
        advice=bool(_ADVICE_RE.search(text.lower())),
        text=text.strip(),
    )


def _route(ctx: _Ctx) -> CommandIntent:
    """The intent, from the command words present (the order of the checks is the precedence)."""
    kws = set(ctx.kws())
    assets, unks, nums = ctx.of_kind("asset"), ctx.of_kind("unk"), ctx.of_kind("num")
    buy, sell = bool(kws & {"buy", "long"}), bool(kws & {"sell", "short"})
    if ctx.text == "?" or ("help" in kws and not kws & {"buy", "long", "sell", "short", "close", "cancel"}):
        return CommandIntent.HELP
    if "backtest" in kws:
        return CommandIntent.BACKTEST
    if "alert" in kws:
        return CommandIntent.UNKNOWN if "cancel" in kws else CommandIntent.PRICE_ALERT
    if ctx.advice or kws & {"advice", "signal"}:
        return CommandIntent.SIGNAL
    if "cancel" in kws:
        return CommandIntent.CANCEL_ORDER
    if "not" in kws and (buy or sell or "close" in kws):
        return CommandIntent.UNKNOWN
    if "close" in kws:
        whole = (
            "all" in kws
            or "portfolio" in kws
            or any(t.words.endswith(("positions", "trades")) for t in ctx.toks)
        )
        alone = all(t.kind == "kw" and t.text == "close" for t in ctx.toks)
        flatten = alone and any(t.words in ("flatten", "liquidate") for t in ctx.toks)
        if not (assets or unks or nums or ctx.of_kind("frac")) and (whole or flatten):
            return CommandIntent.CLOSE_ALL
        return CommandIntent.CLOSE_POSITION
    if (
        sell
        and not buy
        and not (assets or unks or nums or ctx.of_kind("quote"))
        and kws & {"all", "portfolio"}
    ):
        return CommandIntent.CLOSE_ALL
    if not (buy or sell) and kws & {"sl", "tp"}:
        if "sl" not in kws and (ctx.of_kind("frac") or any(n.unit in ("pct", "ratio") for n in nums)):
            return CommandIntent.CLOSE_POSITION
        return CommandIntent.SET_STOP_LOSS if "sl" in kws else CommandIntent.SET_TAKE_PROFIT
    if buy and sell:
        return CommandIntent.UNKNOWN
    if buy:
        return CommandIntent.BUY
    if sell:
        return CommandIntent.SELL
    if "stop" in kws and (assets or unks or nums):
        return CommandIntent.SET_STOP_LOSS
    for word in ctx.kws():
        if word in ("portfolio", "positions", "orders"):
            return CommandIntent(word)
    asked = ctx.wh and (
        assets
        or any(_looks_like_asset(ctx, t) for t in unks)
        or _kw(ctx.toks[-1] if ctx.toks else None, "at")
    )
    if "price" in kws or asked:
        return CommandIntent.PRICE
    if assets and all(t.kind == "asset" for t in ctx.toks):
        return CommandIntent.PRICE
    return CommandIntent.UNKNOWN


def _name(tok: _Tok) -> str:
    return tok.text if tok.kind == "asset" else (tok.text or tok.raw).upper()


def _asset_question(ctx: _Ctx, ask: str, need: bool = True) -> tuple[str | None, str | None]:
    """``(symbol, clarification)``: the one asset named, or ``ask`` ("Which asset...?") after a word about an
    unknown or a second asset; no question when ``need`` is false and no unknown word sits in an asset's place."""
    symbols = ctx.symbols()
    unknown = [t for t in ctx.toks if t.kind == "unk" and not t.used]
    slot = [t for t in unknown if _looks_like_asset(ctx, t)]
    if len(symbols) > 1:
        return None, f"One asset at a time, please: {' or '.join(symbols[:3])}?"
    if symbols and slot:
        return symbols[0], f"I don't know the asset {_name(slot[0])}. Did you mean {symbols[0]} only?"
    if symbols:
        ctx.penalty += 0.1 * len(unknown)
        return symbols[0], None
    if unknown and (need or slot):
        pick = (slot or unknown)[0]
        return None, f"I don't know the asset {_name(pick)}; check the ticker. {ask}"
    return None, (ask if need else None)


def _looks_like_asset(ctx: _Ctx, tok: _Tok) -> bool:
    """An unknown word sits where an asset goes: a cashtag or pair, upper case, or after an amount or "of"."""
    if tok.raw[:1] in "$#" or "/" in tok.text or (tok.raw.isupper() and len(tok.raw) >= 2):
        return True
    i = ctx.toks.index(tok)
    prev = ctx.toks[i - 1] if i else None
    return prev is not None and (
        prev.kind in ("num", "unit", "frac")
        or (prev.kind == "kw" and prev.text in ("of", "for", "on", "all"))
    )


def _marker(toks: list[_Tok], i: int) -> tuple[str | None, int]:
    """The price word governing the number at ``i`` ("sl 58000", "limit @ 3200", "at 60k") and its index."""
    j = i - 1
    if j >= 0 and toks[j].kind == "op":
        return ("above" if ">" in toks[j].text else "below"), j
    if j >= 0 and toks[j].kind == "kw" and toks[j].text in ("at", "to"):
        k = j - 1
        if k >= 0 and toks[k].kind == "kw" and toks[k].text in _PRICE_MARKERS:
            return toks[k].text, k
        return "at", j
    if j >= 0 and toks[j].kind == "kw" and toks[j].text in _PRICE_MARKERS:
        return toks[j].text, j
    return None, -1


@dataclass(slots=True)
class _Order:
    """What the numbers of an order say, before the checks."""

    amounts: list[tuple[Decimal, AmountKind, str | None, int]] = field(default_factory=list)
    prices: list[tuple[OrderType | None, Decimal]] = field(default_factory=list)
    stop_loss: list[Decimal] = field(default_factory=list)
    take_profit: list[Decimal] = field(default_factory=list)
    leverage: list[Decimal] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    bare: list[int] = field(default_factory=list)


def _read_order_numbers(ctx: _Ctx, intent: CommandIntent) -> _Order:
    toks, out = ctx.toks, _Order()
    for i, t in enumerate(toks):
        if t.used:
            continue
        nxt = toks[i + 1] if i + 1 < len(toks) else None
        prev = toks[i - 1] if i else None
        if t.kind == "frac" or (t.kind == "kw" and t.text == "all"):
            out.amounts.append(
                (Decimal(t.text) if t.kind == "frac" else Decimal(1), AmountKind.FRACTION, None, i)
            )
            t.used = True
            continue
        if t.kind != "num" or t.value is None or t.unit == "tf":
            continue  # a timeframe means nothing in an order: it is left for the leftover check
        value = t.value
        t.used = True
        marker, at = _marker(toks, i)
        if at >= 0:
            toks[at].used = True
        if marker in _PRICE_WORDS and t.unit in ("pct", "ratio"):
            label = {"sl": "stop-loss", "tp": "take-profit"}.get(marker, "price")
            out.problems.append(f"Give the {label} as a price, not a percentage.")
        elif t.unit == "lev" or _kw(nxt, "leverage") or (_kw(prev, "leverage") and not t.unit):
            out.leverage.append(value)
            for near in (prev, nxt):
                if _kw(near, "leverage"):
                    near.used = True  # type: ignore[union-attr]
        elif marker in ("sl", "tp"):
            (out.stop_loss if marker == "sl" else out.take_profit).append(value)
        elif marker == "stop":
            if (at > 0 and _kw(toks[at - 1], "with", "and")) or out.prices or ctx.has("market"):
                out.stop_loss.append(value)
            elif toks[at].words != "stop":  # "stop order", "stop market", "stop price"
                out.prices.append((OrderType.STOP, value))
            else:
                out.problems.append(
                    f"A stop order that triggers at {_fmt(value)}, or a stop-loss at {_fmt(value)} "
                    f'("with stop-loss {_fmt(value)}")?'
                )
        elif marker in ("limit", "price", "at"):
            out.prices.append((OrderType.LIMIT, value))
        elif marker == "market":
            out.problems.append(f"A market order has no price: market, or limit at {_fmt(value)}?")
        elif marker in ("above", "below", "crosses"):
            if marker == "crosses":
                out.problems.append(f"Should the order trigger above or below {_fmt(value)}?")
            else:
                stop = (marker == "above") == (intent is CommandIntent.BUY)
                out.prices.append((OrderType.STOP if stop else OrderType.LIMIT, value))
        elif t.unit in ("pct", "ratio") or _kw(nxt, "pct"):
            if _kw(nxt, "pct"):
                nxt.used = True  # type: ignore[union-attr]
            out.amounts.append((value / 100 if t.unit != "ratio" else value, AmountKind.FRACTION, None, i))
        elif _kw(prev, "for") and not (t.currency or (nxt and nxt.kind in ("quote", "asset", "unk", "unit"))):
            if out.amounts:
                out.prices.append((OrderType.LIMIT, value))
            else:
                out.problems.append(f"Is {_fmt(value)} the amount or the price?")
        elif t.currency or (nxt is not None and nxt.kind == "quote"):
            currency = t.currency
            if nxt is not None and nxt.kind == "quote" and not currency:
                currency, nxt.used = nxt.text, True
            if prev is not None and prev.kind == "asset" and not out.amounts and not _later_amount(toks, i):
                sym = prev.text
                out.problems.append(
                    f"Do you mean {_money(value, currency)} worth of {sym}, or a price of {_fmt(value)}?"
                )
            elif out.amounts and prev is not None and prev.kind in ("asset", "num"):
                out.prices.append((OrderType.LIMIT, value))
            else:
                out.amounts.append((value, AmountKind.QUOTE, currency, i))
        elif nxt is not None and (
            nxt.kind in ("asset", "unk", "unit") or (_kw(nxt, "of") and _names_asset(toks, i + 2))
        ):
            out.amounts.append((value, AmountKind.QUANTITY, None, i))
        else:
            out.bare.append(i)
    verb = next((j for j, t in enumerate(toks) if _kw(t, "buy", "long", "sell", "short", "close")), 0)
    for i in out.bare:
        value = toks[i].value
        assert value is not None
        if i < verb:
            out.problems.append(f"I'm not sure what {_fmt(value)} refers to.")
            continue
        after_amount = out.amounts and i > out.amounts[0][3]
        beside_asset = i > 0 and (toks[i - 1].kind == "asset" or _after_asset_leverage(toks, i))
        if not out.amounts and (beside_asset or not ctx.symbols()) and not _kw(_at(toks, i + 1), "or"):
            out.amounts.append((value, AmountKind.QUANTITY, None, i))
            ctx.penalty += 0.05
        elif after_amount and not out.prices and toks[i - 1].kind in ("asset", "unit"):
            out.prices.append((OrderType.LIMIT, value))
            ctx.penalty += 0.1
        else:
            out.problems.append(f"I'm not sure what {_fmt(value)} refers to.")
    return out


def _at(toks: list[_Tok], i: int) -> _Tok | None:
    return toks[i] if 0 <= i < len(toks) else None


def _names_asset(toks: list[_Tok], i: int) -> bool:
    tok = _at(toks, i)
    return tok is not None and tok.kind in ("asset", "unk", "unit", "quote")


def _after_asset_leverage(toks: list[_Tok], i: int) -> bool:
    """``toks[i]`` follows "<asset> 10x" ("long btc x20 0.01")."""
    prev, before = _at(toks, i - 1), _at(toks, i - 2)
    return prev is not None and prev.unit == "lev" and before is not None and before.kind == "asset"


def _later_amount(toks: list[_Tok], i: int) -> bool:
    return any(t.kind in ("num", "frac") and t.unit not in ("lev", "tf") for t in toks[i + 1 :])


def _kw(tok: _Tok | None, *words: str) -> bool:
    return tok is not None and tok.kind == "kw" and tok.text in words


def _money(value: Decimal, currency: str | None) -> str:
    return f"${_fmt(value)}" if currency in (None, "USD") else f"{_fmt(value)} {currency}"


def _order(ctx: _Ctx, intent: CommandIntent) -> Command:
    """buy, sell and close_position: symbol, amount, order type and price, leverage, attached stop-loss/take-profit."""
    verb = {CommandIntent.BUY: "buy", CommandIntent.SELL: "sell"}.get(intent, "close")
    toks = ctx.toks
    questions: list[str] = []
    if ctx.has("or"):
        questions.append("Which one do you mean? Give one amount and one asset.")
    # A second asset after "with"/"for"/"to" is the quote of the pair: "buy 1 eth with btc", "sell 0.1 btc for eth".
    assets = [i for i, t in enumerate(toks) if t.kind == "asset"]
    pair_quote: str | None = None
    for i in assets[1:]:
        if toks[i].text in _PAIR_QUOTES and _kw(toks[i - 1], "with", "for", "to") and len(ctx.symbols()) == 2:
            pair_quote, toks[i].used = toks[i].text, True
    nums = _read_order_numbers(ctx, intent)
    questions += nums.problems
    ask = {
        "buy": "Which asset do you want to buy?",
        "sell": "Which asset do you want to sell?",
        "close": "Which position do you want to close?",
    }[verb]
    symbol, asset_q = _asset_question(ctx, ask)
    if asset_q and intent is CommandIntent.CLOSE_POSITION and symbol is None and not len(ctx.symbols()) > 1:
        asset_q += ' Say "close all" to close every position.'
    free_quotes = [t for t in toks if t.kind == "quote" and not t.used]
    entities: dict[str, Any] = {}
    amount_q = None
    if len({(a[0], a[1]) for a in nums.amounts}) > 1:
        amount_q = "I found more than one amount; how much exactly?"
    elif nums.amounts:
        value, kind, currency, _ = nums.amounts[0]
        if value <= 0:
            amount_q = f"The amount must be positive, not {_fmt(value)}."
        elif kind is AmountKind.FRACTION and value > 1:
            amount_q = f"You can't {verb} more than all of it ({_fmt(_clean_decimal(value * 100))}%)."
        else:
            if kind is AmountKind.FRACTION and intent is CommandIntent.BUY:
                if free_quotes:
                    currency, free_quotes[0].used = free_quotes[0].text, True
                elif not ctx.has("portfolio"):
                    amount_q = (
                        f'{_fmt(_clean_decimal(value * 100))}% of what? Say e.g. "buy {symbol or "BTC"} with '
                        f'{_fmt(_clean_decimal(value * 100))}% of my USDT".'
                    )
            if amount_q is None:
                entities.update(amount=_clean_decimal(value), amount_kind=kind, amount_currency=currency)
    elif intent is CommandIntent.CLOSE_POSITION:
        entities.update(amount=Decimal(1), amount_kind=AmountKind.FRACTION)
    if symbol is not None:
        if "/" not in symbol and not pair_quote:
            for t in free_quotes:
                if (
                    not t.used
                    and entities.get("amount_kind") is not AmountKind.FRACTION
                    and _kw(_at(toks, toks.index(t) - 1), "for", "with", "to", "of")
                ):
                    pair_quote, t.used = t.text, True
                    break
        symbol = f"{symbol}/{pair_quote}" if pair_quote and "/" not in symbol else symbol
        entities["symbol"] = symbol
    order_type, price, type_q = _order_type(ctx, nums)
    if order_type is OrderType.MARKET and nums.problems:
        order_type = None  # the open question may be about the price
    if order_type is not None:
        entities.update(order_type=order_type, price=price)
    if intent is not CommandIntent.CLOSE_POSITION:
        lev_q = _attached(entities, nums)
        if lev_q is None and ctx.has("leverage") and not nums.leverage:
            lev_q = "How much leverage (e.g. 5x)?"
    else:
        lev_q = None
        if nums.leverage or nums.stop_loss or nums.take_profit:
            lev_q = "Closing a position takes no leverage, stop-loss or take-profit; what should I do?"
    if "amount" not in entities and amount_q is None:
        amount_q = f"How much {symbol or ''} do you want to {verb}?".replace("  ", " ")
        if symbol is None and asset_q is None:
            amount_q = None
    if symbol is None and asset_q is None:
        asset_q = ask
    if asset_q == ask and "amount" in entities and entities["amount_kind"] is AmountKind.QUANTITY:
        asset_q = f"Which asset do you want to {verb} {_fmt(entities['amount'])} of?"
    for q in (asset_q, *questions, amount_q, type_q, lev_q):
        if q:
            return _ask(intent, entities, q)
    return _confirmable(ctx, intent, entities)


def _order_type(ctx: _Ctx, nums: _Order) -> tuple[OrderType | None, Decimal | None, str | None]:
    """``(order type, price, question)`` from the prices read and the words "market"/"limit"/"stop"."""
    prices = {(kind, value) for kind, value in nums.prices}
    stop_word = any(t.kind == "kw" and t.text == "stop" and not t.used for t in ctx.toks)
    if len(prices) > 1:
        return None, None, "I found more than one price; which one?"
    if prices:
        kind, value = prices.pop()
        for t in ctx.toks:
            if _kw(t, "limit" if kind is OrderType.LIMIT else "stop", "price"):
                t.used = True
        if value <= 0:
            return None, None, f"The price must be positive, not {_fmt(value)}."
        if ctx.has("market"):
            return None, None, f"Market order, or limit at {_fmt(value)}?"
        return kind, value, None
    if ctx.has("limit"):
        return OrderType.LIMIT, None, "At what price should the limit order be?"
    last = ctx.toks[-1] if ctx.toks else None
    if _kw(last, "at", "sl", "tp", "price"):
        return None, None, f'The command ends with "{last.words or last.raw}"; what comes after it?'
    if stop_word and not nums.stop_loss:
        return OrderType.STOP, None, "At what price should the stop order trigger?"
    return OrderType.MARKET, None, None


def _attached(entities: dict[str, Any], nums: _Order) -> str | None:
    """Leverage, stop-loss and take-profit of a buy/sell into ``entities``; a question when they are unclear."""
    for name, values, label in (
        ("leverage", nums.leverage, "leverage"),
        ("stop_loss", nums.stop_loss, "stop-loss"),
        ("take_profit", nums.take_profit, "take-profit"),
    ):
        if len(set(values)) > 1:
            return f"I found more than one {label}; which one?"
        if values:
            value = values[0]
            if value <= 0:
                return f"The {label} must be positive, not {_fmt(value)}."
            if name == "leverage" and not Decimal(1) <= value <= MAX_LEVERAGE:
                return f"Leverage must be between 1x and {MAX_LEVERAGE}x, not {_fmt(value)}x."
            entities[name] = value
    return None


def _build(
    intent: CommandIntent, entities: Mapping[str, Any], question: str | None, confidence: float
) -> Command:
    allowed = _FIELDS_BY_INTENT[intent]
    kept = {k: v for k, v in entities.items() if k in allowed and v is not None}
    return Command(
        intent, **kept, clarification=question, confidence=round(max(0.0, min(1.0, confidence)), 3)
    )


def _ask(intent: CommandIntent, entities: Mapping[str, Any], question: str) -> Command:
    return _build(intent, entities, question, _ASK)


def _confirmable(ctx: _Ctx, intent: CommandIntent, entities: dict[str, Any]) -> Command:
    """The finished command; a trading one read through a typo, a "maybe" or a "?" asks for confirmation."""
    draft = _build(intent, entities, "draft", _CLEAR)
    problem = _bracket_problem(draft)
    if problem:
        return _ask(intent, entities, problem[0].upper() + problem[1:] + "; please check the prices.")
    if intent in TRADING_INTENTS:
        if ctx.fuzzy():
            return _ask(intent, entities, f"Did you mean: {draft.summary()}?")
        left = _leftovers(ctx, intent)
        if left:
            unread = " ".join(t.raw for t in left)
            return _ask(intent, entities, f'I read "{draft.summary()}" but not "{unread}". Is that right?')
        if ctx.question or ctx.has("maybe"):
            return _ask(intent, entities, f"Should I {draft.summary()}? {_CONFIRM}")
    confidence = _CLEAR - ctx.penalty - (0.15 if any(t.fuzzy for t in ctx.toks) else 0.0)
    return _build(intent, entities, None, confidence)


def _says_order(ctx: _Ctx) -> bool:
    """The text says "order(s)", alone or in "limit order", "stop order"..."""
    return any(t.kind == "kw" and (t.text == "orders" or "order" in t.words) for t in ctx.toks)


def _leftovers(ctx: _Ctx, intent: CommandIntent) -> list[_Tok]:
    """Tokens a trading reading did not explain: numbers, ids, unknown words, command words of other intents."""
    allowed = _ALLOWED[intent]
    if intent is CommandIntent.CANCEL_ORDER and _says_order(ctx):
        allowed = allowed | _ORDER_DESCRIPTIONS
    if intent is CommandIntent.CLOSE_POSITION and not ctx.has("close"):
        allowed = allowed | {"tp"}  # "take profit on half my eth"
    return [
        t
        for t in ctx.toks
        if not t.used
        and t.kind != "asset"
        and not (t.kind == "kw" and t.text in allowed)
        and not (t.kind == "unit" and intent in _ORDER_INTENTS)
    ]


def _close_all(ctx: _Ctx, intent: CommandIntent) -> Command:
    return _confirmable(ctx, intent, {})


def _protect(ctx: _Ctx, intent: CommandIntent) -> Command:
    """set_stop_loss / set_take_profit: one asset and one price."""
    label = "stop-loss" if intent is CommandIntent.SET_STOP_LOSS else "take-profit"
    symbol, asset_q = _asset_question(ctx, f"Which position should the {label} be on?")
    entities: dict[str, Any] = {"symbol": symbol}
    nums = [t for t in ctx.toks if t.kind == "num" and t.unit not in ("lev", "tf")]
    values = {t.value for t in nums}
    question = None
    if ctx.has("sl") and ctx.has("tp"):
        question = "One at a time, please: the stop-loss or the take-profit?"
    elif any(t.unit in ("pct", "ratio") for t in nums):
        question = f'Give the {label} as a price, please (e.g. "sl BTC 58000").'
    elif len(values) > 1:
        question = f"I found more than one price; where should the {label} be?"
    elif values:
        value = values.pop()
        if value is None or value <= 0:
            question = f"The {label} must be a positive price."
        else:
            entities["price"] = value
            for t in nums:
                t.used = True
    elif ctx.has("breakeven"):
        question = f"Give the {label} as a price, please: I don't know your entry price here."
    else:
        question = f"At what price should the {label} on {symbol or 'the position'} be?"
    question = asset_q or question
    return _ask(intent, entities, question) if question else _confirmable(ctx, intent, entities)


def _cancel(ctx: _Ctx, intent: CommandIntent) -> Command:
    """cancel_order: an order id ("#42", "order 42"), all orders, or all orders of one asset."""
    symbol, asset_q = _asset_question(ctx, "Which asset?", need=False)
    if asset_q:
        return _ask(intent, {}, asset_q)
    ids: list[str] = []
    for t in ctx.toks:
        if t.kind == "id":
            ids.append(t.text)
        elif (
            t.kind == "num"
            and re.fullmatch(r"\+?\d{1,20}", t.raw)
            and _kw(_at(ctx.toks, ctx.toks.index(t) - 1), "cancel", "orders", "id")
        ):
            ids.append(t.raw.lstrip("+"))
        elif t.kind == "unk" and any(c.isdigit() for c in t.raw):
            ids.append(t.raw)
        else:
            continue
        t.used = True
    entities: dict[str, Any] = {"symbol": symbol}
    if len(set(ids)) > 1:
        return _ask(intent, entities, "Which order: " + " or ".join(sorted(set(ids))) + "?")
    if ids and _ORDER_ID_RE.fullmatch(ids[0]):
        entities["order_id"] = ids[0]
    elif ctx.has("all") or (symbol and _says_order(ctx)):
        entities["order_id"] = ALL_ORDERS
    elif symbol:
        entities["order_id"] = ALL_ORDERS
        return _ask(intent, entities, f"Do you mean: cancel all {symbol} orders?")
    else:
        return _ask(intent, entities, 'Which order? Give its id (see "orders") or say "cancel all orders".')
    return _confirmable(ctx, intent, entities)


def _alert(ctx: _Ctx, intent: CommandIntent) -> Command:
    """price_alert: asset, level, and direction (crosses when none is said)."""
    symbol, asset_q = _asset_question(ctx, "Which asset should the alert watch?")
    entities: dict[str, Any] = {"symbol": symbol}
    nums = {t.value for t in ctx.toks if t.kind == "num" and t.unit not in ("lev", "tf", "pct", "ratio")}
    direction = None
    for t in ctx.toks:
        if t.kind == "op":
            direction = AlertDirection.ABOVE if ">" in t.text else AlertDirection.BELOW
        elif t.kind == "kw" and t.text in ("above", "below", "crosses") and direction is None:
            direction = AlertDirection(t.text)
    if direction is None:
        ctx.penalty += 0.05
    entities["direction"] = direction or AlertDirection.CROSSES
    if asset_q:
        return _ask(intent, entities, asset_q)
    if len(nums) > 1:
        return _ask(intent, entities, "I found more than one price; which level should the alert watch?")
    value = nums.pop() if nums else None
    if value is None or value <= 0:
        return _ask(intent, entities, f"At what price should the alert on {symbol} fire?")
    entities["price"] = value
    return _confirmable(ctx, intent, entities)


def _timeframe(ctx: _Ctx) -> tuple[str | None, str | None]:
    """``(timeframe, question)`` from "1h", "15m", "4 hours", "hourly", "daily"."""
    toks = ctx.toks
    found: list[str] = []
    for i, t in enumerate(toks):
        nxt = toks[i + 1] if i + 1 < len(toks) else None
        if (
            t.kind == "num"
            and nxt is not None
            and nxt.kind == "tfw"
            and len(nxt.text) == 1
            and t.value is not None
        ):
            found.append(f"{t.raw}{nxt.text}")
            t.used = nxt.used = True
        elif t.kind == "num" and t.tf:
            found.append(t.tf)
            t.used = True
        elif t.kind == "tfw" and len(t.text) > 1 and not t.used:
            found.append(t.text)
            t.used = True
    if not found:
        return None, None
    if len(set(found)) > 1:
        return None, "Which timeframe: " + " or ".join(dict.fromkeys(found)) + "?"
    if found[0] not in _TIMEFRAMES:
        order = sorted(_TIMEFRAMES, key=lambda v: Timeframe(v).ms)
        return None, f"The timeframe {found[0]} is not supported; use one of {', '.join(order)}."
    return found[0], None


def _backtest(ctx: _Ctx, intent: CommandIntent) -> Command:
    """backtest: strategy name (the words after "backtest"), symbol, timeframe."""
    toks = ctx.toks
    start = next(i for i, t in enumerate(toks) if _kw(t, "backtest")) + 1
    words: list[str] = []
    for t in toks[start:]:
        if _kw(t, "of", "strategy") and not words:
            continue
        if _kw(t, "strategy"):
            continue
        if t.kind not in ("kw", "unk") or _kw(t, "on", "for", "with", "at", "to", "and", "if", "of"):
            break
        words.append((t.words or t.raw).lower())
        t.used = True
    strategy = "_".join(w.replace("-", "_").replace(" ", "_") for w in words) or None
    timeframe, tf_q = _timeframe(ctx)
    symbol, asset_q = _asset_question(ctx, "Which asset should the backtest run on?")
    entities = {"symbol": symbol, "timeframe": timeframe}
    if strategy is not None and not _STRATEGY_RE.fullmatch(strategy):
        return _ask(intent, entities, f"{strategy!r} is not a strategy name I can use; which strategy?")
    entities["strategy"] = strategy
    question = asset_q or tf_q
    return _ask(intent, entities, question) if question else _confirmable(ctx, intent, entities)


def _lookup(ctx: _Ctx, intent: CommandIntent) -> Command:
    """price, signal, positions, orders: an asset (required for price) and, for signals, a timeframe."""
    need = intent is CommandIntent.PRICE
    ask = {CommandIntent.PRICE: "Price of which asset?", CommandIntent.SIGNAL: "Signal for which asset?"}
    entities: dict[str, Any] = {}
    question = None
    if intent is CommandIntent.SIGNAL:
        entities["timeframe"], question = _timeframe(ctx)
    symbol, asset_q = _asset_question(ctx, ask.get(intent, "Which asset?"), need=need)
    if intent in (CommandIntent.POSITIONS, CommandIntent.ORDERS):
        asset_q = None
    entities["symbol"] = symbol
    question = asset_q or question
    return _ask(intent, entities, question) if question else _confirmable(ctx, intent, entities)


def _plain(ctx: _Ctx, intent: CommandIntent) -> Command:
    return _confirmable(ctx, intent, {})


def _not_understood(ctx: _Ctx, intent: CommandIntent) -> Command:
    kws = set(ctx.kws())
    symbols = ctx.symbols()
    symbol = symbols[0] if len(symbols) == 1 else None
    if "alert" in kws:
        question = f"I can set price alerts from a command, not remove them. {HELP_HINT}"
    elif "not" in kws:
        question = 'I won\'t act on that. Tell me what to do, e.g. "sell 0.1 BTC", without a negation.'
    elif kws & {"buy", "long"} and kws & {"sell", "short"}:
        question = f"Do you want to buy or sell{' ' + symbol if symbol else ''}? One order at a time, please."
    elif symbol:
        question = f"What do you want to do with {symbol}? {HELP_HINT}"
    else:
        question = f"I didn't understand that. {HELP_HINT}"
    return _unknown(question, symbol=symbol, confidence=0.1 if not ctx.toks else 0.3)


_EXTRACTORS = {
    CommandIntent.BUY: _order,
    CommandIntent.SELL: _order,
    CommandIntent.CLOSE_POSITION: _order,
    CommandIntent.CLOSE_ALL: _close_all,
    CommandIntent.SET_STOP_LOSS: _protect,
    CommandIntent.SET_TAKE_PROFIT: _protect,
    CommandIntent.PRICE: _lookup,
    CommandIntent.SIGNAL: _lookup,
    CommandIntent.POSITIONS: _lookup,
    CommandIntent.ORDERS: _lookup,
    CommandIntent.PORTFOLIO: _plain,
    CommandIntent.HELP: _plain,
    CommandIntent.CANCEL_ORDER: _cancel,
    CommandIntent.PRICE_ALERT: _alert,
    CommandIntent.BACKTEST: _backtest,
    CommandIntent.UNKNOWN: _not_understood,
}
