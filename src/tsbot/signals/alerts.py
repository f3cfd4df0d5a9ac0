"""Price alerts: a user's "tell me when BTC/USDT goes above 70,000", and the check that fires them.

An alert watches one symbol (``BTC/USDT``, ``AAPL``) for one :class:`AlertCondition` against a level ``price``
(quote currency, a positive ``Decimal``). :func:`check_alerts` takes the active alerts and a new
:class:`PriceQuote` (a last price, or a candle's high / low / close) and answers which alerts fire and the new state
of every alert it looked at; the monitoring cycle stores that state and sends the notifications.

Rules (``ref`` is the alert's ``last_price``: the price seen at the previous check, else the quote's open, else
nothing):

* ``above``: fires when the quote reaches the level from below: ``high >= price`` (a last price: ``price``
  itself is the high). A one-shot alert fires the first time this holds, then goes inactive.
* ``below``: fires when ``low <= price``, the mirror image.
* ``crosses``: fires when the quote reaches the level from the other side of ``ref``: ``ref < price <= high`` or
  ``ref > price >= low``. Without a ``ref`` it cannot fire (it only records the price).
* A repeating alert stays active and fires again only after the condition was false at a check in between
  (``above`` re-arms once a check ends below the level, ``below`` once one ends above it), so a price that stays
  above the level fires once, not on every candle.

Every function here is pure: no I/O, no clock.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Protocol

from tsbot.core.errors import DataError

#: Longest note a user may attach to an alert (characters).
MAX_NOTE_CHARS = 500
#: Largest level accepted (quote currency); anything larger is a typing mistake.
MAX_PRICE = Decimal("1e15")


class AlertCondition(StrEnum):
    """What an alert waits for (see the module docstring)."""

    ABOVE = "above"
    BELOW = "below"
    CROSSES = "crosses"


@dataclass(frozen=True, slots=True)
class PriceAlert:
    """One user's price alert.

    Attributes:
        id: opaque id (UUID text).
        user_id: the owner.
        symbol: the instrument's unified symbol (``BTC/USDT``, ``AAPL``).
        condition: above, below or crosses.
        price: the level, quote currency, > 0.
        note: the user's words, shown with the notification ("" when none).
        repeat: False: fires once, then goes inactive; True: stays active and re-arms.
        active: still watched.
        created_at: UTC.
        triggered_at: the last time it fired (UTC), or None.
        trigger_count: how many times it fired.
        last_price: the last price a check saw (the close of a candle), quote currency; None before the first.
        armed: a repeating alert may fire at the next check that meets its condition (False right after firing,
            until a check fails the condition).
    """

    id: str
    user_id: str
    symbol: str
    condition: AlertCondition
    price: Decimal
    note: str = ""
    repeat: bool = False
    active: bool = True
    created_at: datetime | None = None
    triggered_at: datetime | None = None
    trigger_count: int = 0
    last_price: Decimal | None = None
    armed: bool = True


@dataclass(frozen=True, slots=True)
class PriceQuote:
    """A new price of one symbol: a last trade price, or a candle.

    Attributes:
        symbol: unified symbol.
        at: when the price was observed (a candle: its close time), UTC.
        price: the last price (a candle: its close), quote currency.
        high, low: the highest and lowest price since the previous quote (a candle's high and low); None: the
            last price is both.
        open: the first price since the previous quote (a candle's open), used as ``ref`` by alerts that never
            saw a price; None when unknown.
    """

    symbol: str
    at: datetime
    price: Decimal
    high: Decimal | None = None
    low: Decimal | None = None
    open: Decimal | None = None

    @classmethod
    def of_candle(
        cls, symbol: str, close_at: datetime, open_: float, high: float, low: float, close: float
    ) -> PriceQuote:
        """A quote from one candle (floats as stored; converted through their shortest text form)."""
        return cls(
            symbol,
            close_at,
            Decimal(repr(float(close))),
            high=Decimal(repr(float(high))),
            low=Decimal(repr(float(low))),
            open=Decimal(repr(float(open_))),
        )

    @property
    def top(self) -> Decimal:
        """The highest price of the quote."""
        return self.high if self.high is not None else self.price

    @property
    def bottom(self) -> Decimal:
        """The lowest price of the quote."""
        return self.low if self.low is not None else self.price


@dataclass(frozen=True, slots=True)
class AlertTrigger:
    """An alert that fired: the alert as it is after firing, the quote that fired it and when."""

    alert: PriceAlert
    quote: PriceQuote

    @property
    def message(self) -> str:
        """One line for a notification: ``BTC/USDT above 70000 (now 70012.5)``, with the note when given."""
        a = self.alert
        text = f"{a.symbol} {a.condition.value} {a.price} (now {self.quote.price})"
        return f"{text}: {a.note}" if a.note else text


@dataclass(frozen=True, slots=True)
class AlertCheck:
    """The outcome of :func:`check_alerts`: the alerts that fired, in input order, and the new state of every
    alert of the quote's symbol that was checked (fired or not; store these)."""

    triggered: list[AlertTrigger]
    updated: list[PriceAlert]


class PriceAlertStore(Protocol):
    """Stored price alerts (the storage adapter implements it)."""

    async def active_for(self, symbols: Sequence[str]) -> list[PriceAlert]:
        """The active alerts of every user on any of ``symbols``, oldest first."""
        ...

    async def save_state(self, alerts: Sequence[PriceAlert]) -> None:
        """Store the check state of these alerts (active, triggered_at, trigger_count, last_price, armed)."""
        ...


def parse_price(text: str | Decimal) -> Decimal:
    """A level as a ``Decimal``: a plain decimal number (``"70000"``, ``"0.000065"``), > 0 and < 1e15.

    Raises:
        DataError: not a number, not finite, not positive, or too large.
    """
    try:
        value = text if isinstance(text, Decimal) else Decimal(str(text).strip())
    except InvalidOperation:
        raise DataError(f"price {text!r} is not a decimal number (write it like 70000 or 0.000065)") from None
    if not value.is_finite() or value <= 0:
        raise DataError(f"price must be a positive number, got {text!r}")
    if value >= MAX_PRICE:
        raise DataError(f"price {text!r} is too large (the limit is {MAX_PRICE:f})")
    return value


def validate_note(note: str) -> str:
    """The note stripped of surrounding blanks.

    Raises:
        DataError: longer than :data:`MAX_NOTE_CHARS` characters or containing control characters.
    """
    text = note.strip()
    if len(text) > MAX_NOTE_CHARS:
        raise DataError(f"the note is {len(text)} characters long; the limit is {MAX_NOTE_CHARS}")
    if any(ord(c) < 32 and c not in "\t\n" for c in text):
        raise DataError("the note contains control characters")
    return text


def _meets(alert: PriceAlert, quote: PriceQuote) -> bool:
    level = alert.price
    if alert.condition is AlertCondition.ABOVE:
        return quote.top >= level
    if alert.condition is AlertCondition.BELOW:
        return quote.bottom <= level
    ref = alert.last_price if alert.last_price is not None else quote.open
    if ref is None:
        return False
    return (ref < level <= quote.top) or (ref > level >= quote.bottom)


def _ends_clear(alert: PriceAlert, quote: PriceQuote) -> bool:
    """The quote ends on the far side of the level, so a repeating alert re-arms."""
    if alert.condition is AlertCondition.ABOVE:
        return quote.price < alert.price
    if alert.condition is AlertCondition.BELOW:
        return quote.price > alert.price
    return quote.price != alert.price


def check_alerts(alerts: Sequence[PriceAlert], quote: PriceQuote) -> AlertCheck:
    """Check ``alerts`` against a new quote.

    Alerts of other symbols and inactive alerts are ignored (they are in neither list of the result). For the
    rest, see the module docstring; every checked alert comes back in ``updated`` with ``last_price`` set to the
    quote's price, and a fired one with ``triggered_at = quote.at`` and ``trigger_count`` + 1 (one-shot: inactive).

    Returns:
        :class:`AlertCheck` with the fired alerts (input order) and the new states.
    """
    triggered: list[AlertTrigger] = []
    updated: list[PriceAlert] = []
    for alert in alerts:
        if not alert.active or alert.symbol != quote.symbol:
            continue
        fires = _meets(alert, quote) and (alert.armed or not alert.repeat)
        if fires:
            new = replace(
                alert,
                active=alert.repeat,
                triggered_at=quote.at,
                trigger_count=alert.trigger_count + 1,
                last_price=quote.price,
                armed=False,
            )
            # A crossing that ends on the far side already re-arms (it can cross back at the next check).
            if alert.repeat and alert.condition is AlertCondition.CROSSES:
                new = replace(new, armed=True)
            triggered.append(AlertTrigger(new, quote))
        else:
            rearm = alert.armed or _ends_clear(alert, quote)
            new = replace(alert, last_price=quote.price, armed=rearm)
        updated.append(new)
    return AlertCheck(triggered, updated)
