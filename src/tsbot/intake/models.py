"""Value objects of the intake: what a signal post, a webhook alert or a follow-up says.

Prices, leverage and percentages are :class:`decimal.Decimal` exactly as written in the source text (thousands
separators removed, trailing zeros of the decimals dropped), so nothing is lost to binary floating point on the way
to an order. ``to_dict`` gives the JSON shapes and value conventions of the labelling guide of the signal-post set
(field names ``symbol, side, entry, entry_kind, targets, stop, leverage, margin, exchanges`` and
``symbol, event, target_index, price, profit_pct, period``); numbers become JSON numbers in plain decimal notation
when written with :func:`dumps`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum
from typing import Any


class PostKind(StrEnum):
    """What a post is: a new trade, a follow-up of one, or anything else."""

    SIGNAL = "signal"
    UPDATE = "update"
    OTHER = "other"


class Side(StrEnum):
    """Direction of a trade. Spot buys are ``LONG``."""

    LONG = "long"
    SHORT = "short"


class EntryKind(StrEnum):
    """How the entry is given.

    ``ZONE``: two prices spanning a range (``0.11 - 0.12``, "zone 35.6 39.9");
    ``LIST``: two or more prices written as separate orders; ``SINGLE``: one price;
    ``MARKET``: no price, enter now.
    """

    ZONE = "zone"
    LIST = "list"
    SINGLE = "single"
    MARKET = "market"


class MarginMode(StrEnum):
    """Futures margin mode when the post names one."""

    CROSS = "cross"
    ISOLATED = "isolated"


class UpdateEvent(StrEnum):
    """Lifecycle event a follow-up post reports, from least to most decisive in :data:`EVENT_PRIORITY`."""

    ENTRY_FILLED = "entry_filled"
    ALL_ENTRIES_FILLED = "all_entries_filled"
    ENTERED_ZONE = "entered_zone"
    TARGET_HIT = "target_hit"
    ALL_TARGETS_HIT = "all_targets_hit"
    STOP_HIT = "stop_hit"
    CANCELLED = "cancelled"
    CLOSED = "closed"
    MOVE_STOP = "move_stop"
    OTHER = "other"


#: When one post states several events the most decisive one is kept (higher wins).
EVENT_PRIORITY: dict[UpdateEvent, int] = {
    UpdateEvent.OTHER: 0,
    UpdateEvent.ENTRY_FILLED: 1,
    UpdateEvent.ALL_ENTRIES_FILLED: 1,
    UpdateEvent.ENTERED_ZONE: 1,
    UpdateEvent.MOVE_STOP: 2,
    UpdateEvent.TARGET_HIT: 3,
    UpdateEvent.ALL_TARGETS_HIT: 4,
    UpdateEvent.CLOSED: 5,
    UpdateEvent.STOP_HIT: 5,
    UpdateEvent.CANCELLED: 5,
}


@dataclass(frozen=True, slots=True)
class TradeIntent:
    """A trade someone tells us to open.

    Attributes
    ----------
    symbol:
        ``BASE/QUOTE`` upper-case (``BTC/USDT``, ``1000PEPE/USDT``), or the base alone when no quote is given.
    side:
        :class:`Side`.
    entry:
        Entry prices in the quote currency, in written order (never sorted); empty for ``EntryKind.MARKET``.
    entry_kind:
        :class:`EntryKind`.
    targets:
        Take-profit prices in written order, duplicates kept.
    stop:
        Stop-loss price, or ``None`` when the post gives none or only a percentage.
    leverage:
        Leverage multiple (``20`` for "20x"); the upper value of a written range; ``None`` when not given.
    margin:
        :class:`MarginMode` or ``None``.
    exchanges:
        Exchange names as the post gives them (``["Binance Futures", "ByBit USDT"]``).
    """

    symbol: str
    side: Side
    entry: tuple[Decimal, ...] = ()
    entry_kind: EntryKind = EntryKind.MARKET
    targets: tuple[Decimal, ...] = ()
    stop: Decimal | None = None
    leverage: Decimal | None = None
    margin: MarginMode | None = None
    exchanges: tuple[str, ...] = ()

    @property
    def base(self) -> str:
        """The base asset (``BTC`` for ``BTC/USDT``)."""
        return self.symbol.split("/", 1)[0]

    def to_dict(self) -> dict[str, Any]:
        """The labelling-guide shape; prices stay :class:`~decimal.Decimal` (see :func:`dumps`)."""
        return {
            "symbol": self.symbol,
            "side": self.side.value,
            "entry": list(self.entry),
            "entry_kind": self.entry_kind.value,
            "targets": list(self.targets),
            "stop": self.stop,
            "leverage": self.leverage,
            "margin": self.margin.value if self.margin else None,
            "exchanges": list(self.exchanges),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TradeIntent:
        """Inverse of :meth:`to_dict`; numbers may be JSON numbers, strings or decimals.

        Raises ``ValueError`` or ``KeyError`` on a malformed mapping.
        """
        margin = data.get("margin")
        return cls(
            symbol=str(data["symbol"]),
            side=Side(data["side"]),
            entry=tuple(to_decimal(v) for v in data.get("entry") or ()),
            entry_kind=EntryKind(data.get("entry_kind") or "market"),
            targets=tuple(to_decimal(v) for v in data.get("targets") or ()),
            stop=None if data.get("stop") is None else to_decimal(data["stop"]),
            leverage=None if data.get("leverage") is None else to_decimal(data["leverage"]),
            margin=MarginMode(margin) if margin else None,
            exchanges=tuple(str(x) for x in data.get("exchanges") or ()),
        )


@dataclass(frozen=True, slots=True)
class SignalUpdate:
    """A follow-up on a trade: entry filled, target hit, stop hit, cancelled...

    Attributes
    ----------
    symbol:
        Same convention as :attr:`TradeIntent.symbol`; ``None`` when the post does not name it (a reply).
    event:
        :class:`UpdateEvent`.
    target_index:
        1-based index of the entry (``ENTRY_FILLED``) or take-profit target (``TARGET_HIT``), else ``None``.
    price:
        Price the post reports (average entry price, exit price), else ``None``.
    profit_pct:
        Profit in percent as reported (leveraged, as signal channels report it); a loss is negative.
    period:
        Time since the signal as written (``"1 Days 20 Hours 53 Minutes"``).
    """

    symbol: str | None
    event: UpdateEvent
    target_index: int | None = None
    price: Decimal | None = None
    profit_pct: Decimal | None = None
    period: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The labelling-guide shape; numbers stay :class:`~decimal.Decimal` (see :func:`dumps`)."""
        return {
            "symbol": self.symbol,
            "event": self.event.value,
            "target_index": self.target_index,
            "price": self.price,
            "profit_pct": self.profit_pct,
            "period": self.period,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SignalUpdate:
        """Inverse of :meth:`to_dict`. Raises ``ValueError`` or ``KeyError`` on a malformed mapping."""
        index = data.get("target_index")
        return cls(
            symbol=data.get("symbol"),
            event=UpdateEvent(data["event"]),
            target_index=None if index is None else int(index),
            price=None if data.get("price") is None else to_decimal(data["price"]),
            profit_pct=None if data.get("profit_pct") is None else to_decimal(data["profit_pct"]),
            period=data.get("period"),
        )


@dataclass(frozen=True, slots=True)
class ParsedPost:
    """Result of parsing one post.

    ``signal`` is set iff ``kind`` is ``SIGNAL``; ``update`` iff ``kind`` is ``UPDATE``. ``confidence`` in [0, 1]
    says how sure the parser is of the whole reading (kind and fields); ``notes`` lists the parser's
    non-obvious decisions (``"side inferred from targets and stop"``).
    """

    kind: PostKind
    signal: TradeIntent | None = None
    update: SignalUpdate | None = None
    confidence: float = 1.0
    notes: tuple[str, ...] = field(default=())

    def to_dict(self, post_id: str | None = None) -> dict[str, Any]:
        """``{"id", "kind", "signal", "update", "confidence"}`` as ``tsbot parse`` writes it."""
        return {
            "id": post_id,
            "kind": self.kind.value,
            "signal": self.signal.to_dict() if self.signal else None,
            "update": self.update.to_dict() if self.update else None,
            "confidence": round(self.confidence, 3),
        }


def to_decimal(value: Any) -> Decimal:
    """A JSON number, string or decimal as a :class:`~decimal.Decimal` without trailing decimal zeros.

    Floats go through ``repr`` so ``0.1`` stays ``0.1``. Raises ``ValueError`` for anything not a finite number.
    """
    if isinstance(value, bool):
        raise ValueError(f"not a number: {value!r}")
    if isinstance(value, Decimal):
        number = value
    elif isinstance(value, float):
        number = Decimal(repr(value))
    elif isinstance(value, int | str):
        try:
            number = Decimal(str(value).strip().replace(",", ""))
        except ArithmeticError as exc:
            raise ValueError(f"not a number: {value!r}") from exc
    else:
        raise ValueError(f"not a number: {value!r}")
    if not number.is_finite():
        raise ValueError(f"not a finite number: {value!r}")
    return normalise(number)


def normalise(number: Decimal) -> Decimal:
    """Drop trailing decimal zeros but never switch to exponent form (``Decimal("20.0")`` stays ``20.0``).

    ``20.0`` keeps one zero because a post that writes "20.0X" means the decimal leverage; ``0.00250`` becomes
    ``0.0025`` and ``27400`` stays ``27400``.
    """
    sign, digits, exponent = number.as_tuple()
    if not isinstance(exponent, int) or exponent >= 0:
        return number
    stripped = number.normalize()
    if stripped == stripped.to_integral_value():
        # 20.0 / 20.00 -> 20.0 ; integers written with decimals keep one decimal place.
        return stripped.quantize(Decimal("0.1"))
    return stripped


def dumps(value: Any) -> str:
    """JSON text of ``value`` with every :class:`~decimal.Decimal` as a plain-notation JSON number.

    ``dumps({"stop": Decimal("0.000065")})`` → ``'{"stop": 0.000065}'``. Non-ASCII text is kept as is.
    """
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, dict):
        items = (f"{json.dumps(str(k), ensure_ascii=False)}: {dumps(v)}" for k, v in value.items())
        return "{" + ", ".join(items) + "}"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(dumps(v) for v in value) + "]"
    return json.dumps(value, ensure_ascii=False)
