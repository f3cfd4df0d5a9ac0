"""TradingView alerts: the body of a webhook alert read as a :class:`~tsbot.intake.models.TradeIntent`.

TradingView posts the alert's message as is: ``application/json`` when the message is valid JSON, else
``text/plain``. Placeholders (``{{ticker}}``, ``{{close}}``, ``{{strategy.order.action}}``, ``{{timenow}}``) are
substituted by TradingView before sending; one left in a value is reported as such.

Accepted shapes
---------------
JSON object (keys case-insensitive; nested objects are read as dotted keys, so
``{"strategy": {"order": {"action": "buy"}}}`` is ``strategy.order.action``):

* symbol: ``symbol`` | ``ticker`` | ``pair`` | ``instrument`` | ``market`` | ``tickerid``;
* side: ``side`` | ``action`` | ``strategy.order.action`` | ``order_action`` | ``direction`` | ``signal``, with
  ``buy``/``long`` or ``sell``/``short``;
* entry: ``entry`` | ``price`` | ``entry_price`` | ``strategy.order.price`` | ``limit_price`` | ``close``
  (a number, a numeric string, a list, or ``"market"``); ``order_type``/``type`` ``"market"`` forces a market entry;
* take-profit: ``tp`` | ``take_profit`` | ``targets`` | ``target`` (number or list), then ``tp1``, ``tp2``...;
* stop-loss: ``sl`` | ``stop`` | ``stop_loss``; ``leverage`` (``10``, ``"10x"``); ``margin`` (cross | isolated);
  ``exchange`` (string or list); ``time`` (ISO-8601, or epoch milliseconds; see :func:`read_alert`);
* ``strategy.market_position`` / ``strategy.position_size`` when present must agree with the side: an order that
  leaves the strategy flat or reduces its position does not open a trade and is refused;
* an object with neither side nor symbol but a ``message`` / ``text`` string is read as that text.

Plain text: TradingView's default strategy message ("order sell @ 2 filled on BTCUSDT. New strategy position is
-2"; the number after ``@`` is the order's contracts, not a price, so the entry is at market) or a one-line order
("BUY BTCUSDT @ 30000 TP 31000 SL 29000", "long ETHUSDT lev 10x", "sell BINANCE:ETHUSDT.P entry=2500
tp=2400,2300 sl=2600 isolated"). Any other text is handed to the signal-post parser
(:func:`tsbot.intake.posts.parse`).

Symbols: the exchange prefix (``BINANCE:``, kept as the exchange) and a perpetual suffix (``.P``, ``PERP``) are
dropped; ``BTCUSDT`` becomes ``BTC/USDT`` when it ends in a known quote (:data:`QUOTES`), else the base stands alone.
No price gives ``EntryKind.MARKET``; one price ``SINGLE``; several ``LIST``.
"""

from __future__ import annotations

import json
import re
import unicodedata
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from tsbot.core.errors import DataError
from tsbot.core.time import from_ms, parse_utc
from tsbot.intake.models import EntryKind, MarginMode, PostKind, Side, TradeIntent, to_decimal

#: Largest body read, in bytes (the ``max_bytes`` default of :func:`read_alert`).
MAX_ALERT_BYTES = 65_536
#: Quote currencies split off glued symbols, tested in this order (``USDT`` before ``USD``).
QUOTES = ("USDT", "USDC", "BUSD", "USD", "BTC", "ETH")

_EXAMPLE = '\'BUY BTCUSDT @ 30000 TP 31000 SL 29000\' or {"symbol": "BTCUSDT", "side": "buy"}'
_SYMBOL_KEYS = ("symbol", "ticker", "pair", "instrument", "market", "tickerid", "syminfo.tickerid")
_SIDE_KEYS = (
    "side", "action", "strategy.order.action", "order.action", "order_action", "order_side", "direction",
    "signal",
)  # fmt: skip
_ENTRY_KEYS = (
    "entry", "entries", "entry_price", "price", "strategy.order.price", "order.price", "limit_price", "close",
)  # fmt: skip
_ORDER_TYPE_KEYS = ("order_type", "ordertype", "type", "entry_type")
_TARGET_KEYS = ("tp", "tps", "take_profit", "takeprofit", "take_profits", "targets", "target", "tp_price")
_NUMBERED_TARGET = re.compile(r"^(?:tp|take_?profit|target)_?(\d{1,2})$")
_STOP_KEYS = ("sl", "stop", "stop_loss", "stoploss", "stop_price", "sl_price")
_LEVERAGE_KEYS = ("leverage", "lev")
_MARGIN_KEYS = ("margin", "margin_mode", "margin_type")
_EXCHANGE_KEYS = ("exchange", "exchanges")
_TIME_KEYS = ("timenow", "time", "timestamp", "sent_at", "alert_time")
_POSITION_KEYS = ("strategy.market_position", "market_position")
_POSITION_SIZE_KEYS = ("strategy.position_size", "position_size")
_MESSAGE_KEYS = ("message", "text", "alert", "content", "comment")
_MARKET_WORDS = {"market", "mkt", "now", "cmp"}
_LONG_WORDS = {"buy", "long", "bull", "bullish"}
_SHORT_WORDS = {"sell", "short", "bear", "bearish"}
_NO_TRADE_WORDS = {"hold", "flat", "close", "exit", "neutral", "none", "cancel", "wait"}
_MARGINS = {"cross": MarginMode.CROSS, "crossed": MarginMode.CROSS, "isolated": MarginMode.ISOLATED}
_PLACEHOLDER = re.compile(r"\{\{\s*[\w.]+\s*\}\}")
_LIST_SPLIT = re.compile(r"[;|/\s]+|,(?!\d{3}(?!\d))")
_MAX_DEPTH = 8


class AlertError(DataError):
    """An alert body that cannot be read as a trade to open; the message names what is missing or wrong."""


@dataclass(frozen=True, slots=True)
class Alert:
    """A read alert: the trade, the time the alert says it was sent (aware UTC, or ``None``), and how it was read
    (``"json"``, ``"text"`` for the default strategy message and one-liners, ``"post"`` for the post parser)."""

    intent: TradeIntent
    sent_at: datetime | None = None
    source: str = "json"


def parse_alert(
    body: bytes | str, content_type: str | None, *, max_bytes: int = MAX_ALERT_BYTES
) -> TradeIntent:
    """The trade a TradingView alert body asks to open (see the module docstring for the shapes read).

    Parameters
    ----------
    body:
        The request body: UTF-8 bytes (a leading BOM is ignored) or text.
    content_type:
        The request's ``Content-Type`` or ``None``; a JSON type makes a body that is not JSON fall back to text
        unless it starts with ``{`` or ``[``.
    max_bytes:
        Bodies longer than this many bytes are refused.

    Raises
    ------
    AlertError
        The body is empty, too large, binary, broken JSON, unreadable text, names no side or no symbol, names a
        side that opens nothing ("hold", "close"), or carries a price that is not a positive number.
    """
    return read_alert(body, content_type, max_bytes=max_bytes).intent


def read_alert(body: bytes | str, content_type: str | None, *, max_bytes: int = MAX_ALERT_BYTES) -> Alert:
    """Like :func:`parse_alert`, also returning the alert's own ``time`` as ``sent_at``.

    ``time`` (or ``timenow``, ``timestamp``) is ISO-8601 (an offset-less value is UTC) or epoch milliseconds; an
    integer below 10**11 is taken as epoch seconds (10**11 ms is 1973, 10**11 s is year 5138).
    Raises :class:`AlertError` as :func:`parse_alert` does, and for an unreadable ``time``.
    """
    text = _decode(body, max_bytes)
    data = _load_json(text, content_type)
    if data is None:
        return _from_text(text)
    _check_texts(data)
    if isinstance(data, str):
        return _from_text(_decode(data, max_bytes))
    if isinstance(data, list) and len(data) == 1 and isinstance(data[0], dict):
        data = data[0]
    if not isinstance(data, dict):
        what = f"a list of {len(data)} items" if isinstance(data, list) else type(data).__name__
        raise AlertError(f"a JSON alert must be one object, got {what}; e.g. {_EXAMPLE}")
    return _from_mapping(_flatten(data))


def normalise_symbol(raw: str) -> tuple[str, str | None]:
    """``(symbol, exchange)`` of a TradingView ticker: ``"BINANCE:BTCUSDT.P"`` → ``("BTC/USDT", "BINANCE")``.

    Separators ``/ - _`` split base and quote; a glued symbol is split on the first of :data:`QUOTES` it ends in
    when at least two characters of base remain (``WBTC`` stays whole). Raises :class:`AlertError` for a value
    that is not a ticker.
    """
    text = raw.strip().upper().lstrip("#$")
    exchange = None
    if ":" in text:
        prefix, text = text.rsplit(":", 1)
        exchange = prefix or None
    text = re.sub(r"[._-]?PERP$", "", text)
    text = re.sub(r"\.P$", "", text)
    parts = [p for p in re.split(r"[/_-]", text) if p]
    if not parts or len(parts) > 2 or not all(re.fullmatch(r"[A-Z0-9]+", p) for p in parts):
        raise AlertError(f"symbol {raw!r} is not a ticker such as BTCUSDT or BINANCE:BTCUSDT.P")
    if not re.search(r"[A-Z]", parts[0]):
        raise AlertError(f"symbol {raw!r} is not a ticker such as BTCUSDT or BINANCE:BTCUSDT.P")
    if len(parts) == 2:
        return f"{parts[0]}/{parts[1]}", exchange
    for quote in QUOTES:
        if text.endswith(quote) and len(text) - len(quote) >= 2:
            return f"{text[: -len(quote)]}/{quote}", exchange
    return text, exchange


# -- body -------------------------------------------------------------------------------------------------------


def _decode(body: bytes | str, max_bytes: int) -> str:
    if isinstance(body, str):
        size = len(body.encode("utf-8", "replace"))
        text = body
    else:
        size = len(body)
        text = ""
    if size > max_bytes:
        raise AlertError(f"alert body is {size} bytes; the limit is {max_bytes} bytes")
    if isinstance(body, bytes | bytearray | memoryview):
        try:
            text = bytes(body).decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise AlertError(
                f"alert body is not UTF-8 text (byte 0x{exc.object[exc.start]:02x} at offset {exc.start}): "
                "binary data is not an alert"
            ) from None
    text = text.lstrip("\ufeff")
    controls = sum(1 for ch in text if ch not in "\t\n\r" and unicodedata.category(ch) == "Cc")
    if controls:
        raise AlertError(f"alert body holds {controls} control characters: binary data is not an alert")
    text = text.strip()
    if not text:
        raise AlertError(
            f"alert body is empty: the alert message must name a side and a symbol, e.g. {_EXAMPLE}"
        )
    return text


def _check_texts(data: Any) -> None:
    """Refuse a JSON value whose strings or keys hold, through escapes, a control character or a lone surrogate
    (``"\\u0000"``, ``"\\ud800"``): neither is text a person or TradingView writes, and neither can be stored."""
    stack = [data]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
        elif isinstance(item, str):
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                raise AlertError("alert holds an escaped lone surrogate (\\ud800-\\udfff): not text") from None
            if any(ch not in "\t\n\r" and unicodedata.category(ch) == "Cc" for ch in item):
                raise AlertError("alert holds an escaped control character: binary data is not an alert")


def _load_json(text: str, content_type: str | None) -> Any:
    """The decoded JSON value, or ``None`` when the body is to be read as text."""
    says_json = "json" in (content_type or "").lower()
    must_be_json = text[0] in "{["
    if not (must_be_json or says_json):
        return None
    try:
        return json.loads(text, parse_float=Decimal, parse_constant=_no_constant)
    except (ValueError, RecursionError) as exc:
        if not must_be_json:
            return None
        if isinstance(exc, json.JSONDecodeError):
            where = f" ({exc.msg} at line {exc.lineno} column {exc.colno})"
        else:
            where = " (nested too deeply)" if isinstance(exc, RecursionError) else f" ({exc})"
        hint = ""
        if _PLACEHOLDER.search(text):
            hint = "; it still holds a {{placeholder}}: quote placeholders and check their names"
        raise AlertError(f"alert body is not valid JSON{where}{hint}") from None


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number")


def _flatten(data: dict[str, Any], prefix: str = "", out: dict[str, Any] | None = None) -> dict[str, Any]:
    out = {} if out is None else out
    if prefix.count(".") >= _MAX_DEPTH:
        return out
    for key, value in data.items():
        name = prefix + re.sub(r"[\s-]+", "_", str(key).strip().lower())
        if isinstance(value, dict):
            _flatten(value, name + ".", out)
        elif value is not None and value != "" and value != []:
            out.setdefault(name, value)
    return out


# -- JSON objects -----------------------------------------------------------------------------------------------


def _pick(flat: dict[str, Any], keys: tuple[str, ...]) -> tuple[str, Any] | None:
    """The first key of ``keys`` present (exact dotted name first, then as the last part of a nested name)."""
    for key in keys:
        if key in flat:
            return key, flat[key]
    for key in keys:
        for name, value in flat.items():
            if name.endswith("." + key):
                return name, value
    return None


def _from_mapping(flat: dict[str, Any]) -> Alert:
    symbol_item = _pick(flat, _SYMBOL_KEYS)
    side_item = _pick(flat, _SIDE_KEYS)
    if symbol_item is None and side_item is None:
        message = _pick(flat, _MESSAGE_KEYS)
        if message is not None and isinstance(message[1], str):
            return _from_text(_decode(message[1], MAX_ALERT_BYTES))
    if side_item is None:
        raise AlertError("alert names no side: give 'side' (or 'action') as buy, sell, long or short")
    if symbol_item is None:
        raise AlertError("alert names no symbol: give 'symbol' (or 'ticker') such as BTCUSDT")
    side = _side(side_item[1], side_item[0])
    _check_position(flat, side)
    symbol, prefix_exchange = normalise_symbol(_text(symbol_item))
    entry, kind = _entry(flat)
    targets: list[Decimal] = []
    if (item := _pick(flat, _TARGET_KEYS)) is not None:
        targets.extend(_prices(item[1], item[0]))
    numbered = sorted(
        (int(m.group(1)), name)
        for name in flat
        if (m := _NUMBERED_TARGET.match(name.rsplit(".", 1)[-1])) is not None
    )
    for _, name in numbered:
        targets.extend(_prices(flat[name], name))
    stop = None
    if (item := _pick(flat, _STOP_KEYS)) is not None:
        stops = _prices(item[1], item[0])
        if len(stops) != 1:
            raise AlertError(f"{item[0]} must be one price, got {len(stops)}")
        stop = stops[0]
    leverage = None
    if (item := _pick(flat, _LEVERAGE_KEYS)) is not None:
        leverage = _leverage(item[1], item[0])
    margin = None
    if (item := _pick(flat, _MARGIN_KEYS)) is not None:
        margin = _margin(_text(item), item[0])
    exchanges = _exchanges(flat, prefix_exchange)
    sent_at = None
    if (item := _pick(flat, _TIME_KEYS)) is not None:
        sent_at = _time(item[1], item[0])
    intent = TradeIntent(
        symbol=symbol,
        side=side,
        entry=tuple(entry),
        entry_kind=kind,
        targets=tuple(targets),
        stop=stop,
        leverage=leverage,
        margin=margin,
        exchanges=exchanges,
    )
    return Alert(intent, sent_at, "json")


def _text(item: tuple[str, Any]) -> str:
    name, value = item
    if not isinstance(value, str):
        raise AlertError(f"{name} must be text, got {type(value).__name__} {value!r}")
    placeholder = _PLACEHOLDER.search(value)
    if placeholder:
        raise AlertError(f"{name} holds the TradingView placeholder {placeholder.group(0)} unsubstituted")
    return value


def _side(value: Any, name: str) -> Side:
    words = set(re.findall(r"[a-z]+", str(value).lower()))
    if _PLACEHOLDER.search(str(value)):
        raise AlertError(f"{name} holds the TradingView placeholder {value!r} unsubstituted")
    if words & _NO_TRADE_WORDS:
        raise AlertError(f"{name} {value!r} opens no trade; a side must be buy, sell, long or short")
    is_long, is_short = bool(words & _LONG_WORDS), bool(words & _SHORT_WORDS)
    if is_long == is_short:
        raise AlertError(f"{name} {value!r} is not a side; give buy, sell, long or short")
    return Side.LONG if is_long else Side.SHORT


def _check_position(flat: dict[str, Any], side: Side) -> None:
    """Refuse strategy orders that leave the position flat or reduce it instead of opening one."""
    after: Side | None = None
    if (item := _pick(flat, _POSITION_KEYS)) is not None:
        position = str(item[1]).strip().lower()
        if position == "flat":
            raise AlertError(f"{item[0]} is flat: the order closes the position and opens no trade")
        after = {"long": Side.LONG, "short": Side.SHORT}.get(position)
    elif (item := _pick(flat, _POSITION_SIZE_KEYS)) is not None:
        size = _number(item[1], item[0])
        if size == 0:
            raise AlertError(f"{item[0]} is 0: the order closes the position and opens no trade")
        after = Side.LONG if size > 0 else Side.SHORT
    if after is not None and after is not side:
        raise AlertError(
            f"a {side.value} order that leaves the strategy {after.value} reduces a position; it opens no trade"
        )


def _entry(flat: dict[str, Any]) -> tuple[list[Decimal], EntryKind]:
    order_type = _pick(flat, _ORDER_TYPE_KEYS)
    if order_type is not None and str(order_type[1]).strip().lower() in _MARKET_WORDS:
        return [], EntryKind.MARKET
    item = _pick(flat, _ENTRY_KEYS)
    if item is None or (isinstance(item[1], str) and item[1].strip().lower() in _MARKET_WORDS):
        return [], EntryKind.MARKET
    prices = _prices(item[1], item[0])
    return prices, (EntryKind.SINGLE if len(prices) == 1 else EntryKind.LIST)


def _prices(value: Any, name: str) -> list[Decimal]:
    """Positive prices of a number, a numeric string ("30,000.5", "31000, 32000") or a list of either."""
    if isinstance(value, list):
        items: list[Any] = []
        for item in value:
            if isinstance(item, dict):
                item = next((item[k] for k in ("price", "value", "tp") if k in item), None)
            items.extend(_prices(item, name))
        return items
    if isinstance(value, str):
        if _PLACEHOLDER.search(value):
            raise AlertError(f"{name} holds the TradingView placeholder {value.strip()!r} unsubstituted")
        parts = [p for p in _LIST_SPLIT.split(value.replace("$", "")) if p]
        if not parts:
            raise AlertError(f"{name} is empty; give a price")
        out = [_number(p, name) for p in parts]
    else:
        out = [_number(value, name)]
    for price in out:
        if price <= 0:
            raise AlertError(f"{name} must be a positive number, got {price}")
    return out


def _number(value: Any, name: str) -> Decimal:
    try:
        return to_decimal(value)
    except ValueError:
        raise AlertError(f"{name} {value!r} is not a number") from None


def _leverage(value: Any, name: str) -> Decimal:
    raw = value.strip().lower().strip("x") if isinstance(value, str) else value
    leverage = _number(raw, name)
    if leverage <= 0:
        raise AlertError(f"{name} must be a positive multiple such as 10 or '10x', got {value!r}")
    return leverage


def _margin(value: str, name: str) -> MarginMode:
    margin = _MARGINS.get(value.strip().lower())
    if margin is None:
        raise AlertError(f"{name} {value!r} is not a margin mode; give cross or isolated")
    return margin


def _exchanges(flat: dict[str, Any], prefix_exchange: str | None) -> tuple[str, ...]:
    names: list[str] = []
    if (item := _pick(flat, _EXCHANGE_KEYS)) is not None:
        values = item[1] if isinstance(item[1], list) else [item[1]]
        names = [_text((item[0], v)).strip() for v in values]
    if prefix_exchange and prefix_exchange.lower() not in {n.lower() for n in names}:
        names.append(prefix_exchange)
    return tuple(n for n in names if n)


def _time(value: Any, name: str) -> datetime:
    try:
        if isinstance(value, int | Decimal) and not isinstance(value, bool):
            number = Decimal(value)
        elif isinstance(value, str) and re.fullmatch(r"\s*\d+(\.\d+)?\s*", value):
            number = Decimal(value.strip())
        elif isinstance(value, str):
            return parse_utc(value)
        else:
            raise AlertError(f"{name} {value!r} is not a time")
        ms = number if number >= 10**11 else number * 1000
        return from_ms(int(ms))
    except (DataError, ValueError, OverflowError, ArithmeticError, OSError) as exc:
        if isinstance(exc, AlertError):
            raise
        raise AlertError(f"{name} {value!r} is not an ISO-8601 time or epoch milliseconds") from None


# -- text -------------------------------------------------------------------------------------------------------

_DEFAULT_STRATEGY = re.compile(
    r"order\s+(?P<action>buy|sell)\s+@\s+\S+\s+filled\s+on\s+(?P<ticker>\S+?)\.?\s+"
    r"new\s+strategy\s+position\s+is\s+(?P<position>[-+]?[\d.,]+)\.?",
    re.IGNORECASE,
)
_THOUSANDS = re.compile(r"(?<=\d),(?=\d{3}(?!\d))")
_KEY_VALUE = re.compile(r"^([a-z_]+\d*)[:=](.*)$", re.IGNORECASE)
_NUMBER = re.compile(r"^[-+]?\$?(?:\d+(?:\.\d*)?|\.\d+)$")
_LEVERAGE_TOKEN = re.compile(r"^(?:x(\d+(?:\.\d+)?)|(\d+(?:\.\d+)?)x)$")
_SYMBOL_TOKEN = re.compile(
    r"^[#$]?(?:[a-z0-9_]+:)?[a-z0-9]*[a-z][a-z0-9]*(?:[/_-][a-z0-9]+)?(?:\.p|\.perp)?$"
)
_SLOTS = {
    **dict.fromkeys(("@", "at", "price", "entry", "entries", "limit"), "entry"),
    **dict.fromkeys(("tp", "tps", "target", "targets", "take", "takeprofit", "take_profit"), "targets"),
    **dict.fromkeys(("sl", "stop", "stoploss", "stop_loss"), "stop"),
    **dict.fromkeys(("lev", "leverage"), "leverage"),
    **dict.fromkeys(("on", "exchange", "via"), "exchange"),
}
_FILLERS = {
    "order", "signal", "alert", "new", "trade", "open", "enter", "profit", "loss", "margin", "futures", "perp",
    "spot", "side", "action", "symbol", "ticker", "pair", "mode",
}  # fmt: skip


@dataclass(slots=True)
class _TextOrder:
    """What a one-line order or TradingView's default strategy message says, before checks."""

    side: Side | None = None
    no_trade: str | None = None
    symbol: str | None = None
    entry: list[Decimal] = field(default_factory=list)
    market: bool = False
    targets: list[Decimal] = field(default_factory=list)
    stop: Decimal | None = None
    leverage: Decimal | None = None
    margin: MarginMode | None = None
    exchanges: list[str] = field(default_factory=list)


def _from_text(text: str) -> Alert:
    order = _default_strategy_text(text) or _one_liner(text)
    problem = None
    if order is not None:
        problem = _missing(order)
        if problem is None:
            return Alert(_intent_of(order), None, "text")
    intent = _from_post(text)
    if intent is not None:
        return Alert(intent, None, "post")
    if problem is not None:
        raise AlertError(problem)
    raise AlertError(f"alert text is not understood: send JSON or a one-line order such as {_EXAMPLE}")


def _default_strategy_text(text: str) -> _TextOrder | None:
    """TradingView's default strategy message; the number after ``@`` is contracts, so the entry is at market."""
    match = _DEFAULT_STRATEGY.fullmatch(text)
    if match is None:
        return None
    side = Side.LONG if match["action"].lower() == "buy" else Side.SHORT
    position = _number(match["position"], "strategy position")
    if position == 0:
        raise AlertError(
            "the strategy position is 0 after this order: it closes the position and opens no trade"
        )
    if (position > 0) != (side is Side.LONG):
        after = "long" if position > 0 else "short"
        raise AlertError(
            f"a {match['action'].lower()} order that leaves the strategy {after} reduces a position"
        )
    return _TextOrder(side=side, symbol=match["ticker"], market=True)


def _one_liner(text: str) -> _TextOrder | None:
    """Read a short order written as keywords and values; ``None`` as soon as a word is not one of ours."""
    raw = [t for t in re.split(r"[\s,;|]+", _THOUSANDS.sub("", text).replace("@", " @ ")) if t]
    if len(raw) > 40:
        return None
    tokens: list[str] = []
    for token in raw:
        match = _KEY_VALUE.match(token)
        if match and _word_kind(match.group(1).lower()) is not None:
            tokens.extend(t for t in match.groups() if t)
        elif _NUMBER.match(token.split("/")[0]):
            tokens.extend(t for t in token.rstrip(":").split("/") if t)
        else:
            tokens.append(token.rstrip(":"))
    order, slot = _TextOrder(), None
    for token in tokens:
        word = token.lower().rstrip(".!")
        if _NUMBER.match(word):
            if not _put_number(order, slot, _number(word.replace("$", ""), slot or "number")):
                return None
            slot = None if slot in ("stop", "leverage") else slot
            continue
        if (lev := _LEVERAGE_TOKEN.match(word)) is not None:
            order.leverage, slot = _number(lev.group(1) or lev.group(2), "leverage"), None
            continue
        kind = _word_kind(word)
        if kind == "filler":
            continue
        if kind in ("long", "short"):
            side = Side(kind)
            if order.side not in (None, side):
                return None
            order.side, slot = side, None
        elif kind == "no_trade":
            order.no_trade, slot = word, None
        elif kind == "market":
            order.market, slot = True, None
        elif kind in ("cross", "isolated"):
            order.margin, slot = MarginMode(kind), None
        elif kind is not None:
            slot = kind
        elif slot == "exchange" and re.fullmatch(r"[a-z][a-z0-9_]*", word):
            order.exchanges.append(token.rstrip(".!"))
            slot = None
        elif order.symbol is None and len(word) >= 2 and _SYMBOL_TOKEN.match(word):
            order.symbol, slot = token.rstrip(".!"), None
        else:
            return None
    return order


def _word_kind(word: str) -> str | None:
    if word in _LONG_WORDS - {"bull", "bullish"}:
        return "long"
    if word in _SHORT_WORDS - {"bear", "bearish"}:
        return "short"
    if word in _NO_TRADE_WORDS:
        return "no_trade"
    if word in _MARKET_WORDS:
        return "market"
    if word in ("cross", "crossed", "isolated"):
        return "isolated" if word == "isolated" else "cross"
    if word in _SLOTS:
        return _SLOTS[word]
    if re.fullmatch(r"(?:tp|target)\d{1,2}", word):
        return "targets"
    return "filler" if word in _FILLERS else None


def _put_number(order: _TextOrder, slot: str | None, value: Decimal) -> bool:
    if slot == "entry":
        order.entry.append(value)
    elif slot == "targets":
        order.targets.append(value)
    elif slot == "stop" and order.stop is None:
        order.stop = value
    elif slot == "leverage":
        order.leverage = value
    else:
        return False
    return True


def _missing(order: _TextOrder) -> str | None:
    if order.no_trade:
        return f"side {order.no_trade!r} opens no trade; a side must be buy, sell, long or short"
    if order.side is None:
        return "alert names no side: write buy, sell, long or short"
    if order.symbol is None:
        return "alert names no symbol: write a ticker such as BTCUSDT"
    return None


def _intent_of(order: _TextOrder) -> TradeIntent:
    assert order.side is not None and order.symbol is not None
    symbol, prefix_exchange = normalise_symbol(order.symbol)
    entry = [] if order.market else [_checked(p, "entry") for p in order.entry]
    exchanges = list(order.exchanges)
    if prefix_exchange and prefix_exchange.lower() not in {e.lower() for e in exchanges}:
        exchanges.append(prefix_exchange)
    return TradeIntent(
        symbol=symbol,
        side=order.side,
        entry=tuple(entry),
        entry_kind=EntryKind.MARKET if not entry else EntryKind.SINGLE if len(entry) == 1 else EntryKind.LIST,
        targets=tuple(_checked(p, "take-profit") for p in order.targets),
        stop=None if order.stop is None else _checked(order.stop, "stop-loss"),
        leverage=None if order.leverage is None else _checked(order.leverage, "leverage"),
        margin=order.margin,
        exchanges=tuple(exchanges),
    )


def _checked(value: Decimal, name: str) -> Decimal:
    if value <= 0:
        raise AlertError(f"{name} must be a positive number, got {value}")
    return value


def _from_post(text: str) -> TradeIntent | None:
    """The signal the post parser reads in ``text``, or ``None`` when it reads none (or is unavailable)."""
    try:
        from tsbot.intake.posts import parse as parse_post

        parsed = parse_post(text)
    except Exception:  # the post parser failing on odd text means the text is not understood
        return None
    if parsed.kind is PostKind.UPDATE and parsed.update is not None:
        raise AlertError(
            f"alert text reads as a follow-up ({parsed.update.event.value}) of a trade, not a trade to open"
        )
    signal = parsed.signal
    if parsed.kind is not PostKind.SIGNAL or signal is None:
        return None
    for price in (*signal.entry, *signal.targets, *((signal.stop,) if signal.stop is not None else ())):
        _checked(price, "price")
    return signal
