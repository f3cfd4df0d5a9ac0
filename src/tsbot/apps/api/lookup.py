"""What a request names, looked up: instruments by symbol, and times given in query strings.

Symbols in paths and bodies: a symbol such as ``BTC/USDT`` holds a slash, which a path segment cannot, so every
route also takes ``BTC-USDT``, ``BTC_USDT``, ``BTCUSDT`` and ``btcusdt`` (case and separators are ignored), and the
base alone (``BTC``) when exactly one known symbol has that base. Stock tickers are written as they are (``AAPL``).
Known symbols are those the candle store holds candles for (``tsbot data import`` / ``tsbot data download``).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from tsbot.adapters.storage.watch import known_instruments
from tsbot.core.errors import DataError, TsbotError
from tsbot.core.time import to_utc
from tsbot.market.models import Instrument
from tsbot.wiring import Services

#: How to write a symbol in a path, for route descriptions.
SYMBOL_HELP = (
    "instrument symbol; write BTC/USDT as BTC-USDT, BTC_USDT or BTCUSDT (case-insensitive), or the base alone "
    "(BTC) when one known pair has it; stock tickers as they are (AAPL)"
)
#: Most known symbols an error message lists.
_LISTED = 20


def _norm(text: str) -> str:
    return "".join(ch for ch in text.upper() if ch not in "/-_ :")


def match_symbol(text: str, symbols: Iterable[str]) -> str | None:
    """The known symbol ``text`` names (see the module docstring), or None."""
    known = sorted(set(symbols))
    wanted = _norm(text)
    if not wanted:
        return None
    for sym in known:
        if _norm(sym) == wanted:
            return sym
    by_base = [sym for sym in known if "/" in sym and _norm(sym.split("/", 1)[0]) == wanted]
    return by_base[0] if len(by_base) == 1 else None


def unknown_symbol_message(text: str, symbols: Iterable[str]) -> str:
    """``unknown symbol 'XYZ'; known symbols: ...`` (the first 20, then how many more)."""
    known = sorted(set(symbols))
    listed = ", ".join(known[:_LISTED]) or "(none: import candles with `tsbot data import`)"
    more = f" and {len(known) - _LISTED} more" if len(known) > _LISTED else ""
    return f"unknown symbol {text!r}; known symbols: {listed}{more}"


async def instruments(services: Services) -> list[Instrument]:
    """Every instrument with stored candles, by exchange and symbol."""
    return await known_instruments(services.db)


async def resolve_symbol(services: Services, text: str, *, missing: type[TsbotError] = DataError) -> str:
    """The known symbol ``text`` names.

    Raises:
        DataError (422) by default, or the ``missing`` class given (``NotFoundError`` for a path segment): no known
            symbol matches; the message lists known symbols.
    """
    symbols = [i.symbol for i in await instruments(services)]
    found = match_symbol(text, symbols)
    if found is None:
        raise missing(unknown_symbol_message(text, symbols))
    return found


async def resolve_symbols(services: Services, texts: Iterable[str]) -> list[str]:
    """The known symbols ``texts`` name, in order, duplicates dropped.

    Raises:
        DataError: one of them matches no known symbol (the message names it and lists known symbols).
    """
    symbols = [i.symbol for i in await instruments(services)]
    out: list[str] = []
    for text in texts:
        found = match_symbol(text, symbols)
        if found is None:
            raise DataError(unknown_symbol_message(text, symbols))
        if found not in out:
            out.append(found)
    return out


def utc_param(value: datetime | None, name: str) -> datetime | None:
    """A time from a query string as aware UTC (a value without an offset is UTC).

    Raises:
        DataError: the value cannot be expressed in UTC (beyond year 1 or 9999 once shifted).
    """
    if value is None:
        return None
    try:
        return to_utc(value)
    except (OverflowError, ValueError):
        raise DataError(f"{name}: {value.isoformat()} is out of range once converted to UTC") from None


def time_range(since: datetime | None, until: datetime | None) -> tuple[datetime | None, datetime | None]:
    """``since`` and ``until`` in UTC (see :func:`utc_param`).

    Raises:
        DataError: out of range, or ``since`` is after ``until``.
    """
    start, end = utc_param(since, "since"), utc_param(until, "until")
    if start is not None and end is not None and start > end:
        raise DataError(f"since ({start.isoformat()}) is after until ({end.isoformat()})")
    return start, end
