"""Symbols as people type them to the bot (``btc``, ``BTCUSDT``, ``eth-usdt``, ``AAPL``), resolved to the symbols the
candle store holds.

Known symbols are those with stored candles (:func:`~tsbot.adapters.storage.watch.known_instruments`). A text
matches a known symbol when it equals it with case and separators (``/ - _ :`` and blanks) ignored; else a base
alone (``BTC``) matches the pairs of that base, the quote chosen in the order of
:data:`tsbot.intake.symbols.QUOTES` (``USDT`` first). Stocks are known by their ticker and traded as
``<TICKER>/USD``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from tsbot.adapters.storage.watch import known_instruments
from tsbot.core.enums import AssetClass
from tsbot.core.errors import NotFoundError
from tsbot.intake.symbols import QUOTES
from tsbot.wiring import Services

#: Known symbols an error message lists at most.
_LISTED = 12


def _norm(text: str) -> str:
    return "".join(ch for ch in text.upper() if ch not in "/-_: ")


@dataclass(frozen=True, slots=True)
class Known:
    """The stored symbols (sorted) and which of them are stock tickers."""

    symbols: tuple[str, ...]
    stocks: frozenset[str]

    @property
    def bases(self) -> frozenset[str]:
        """Base assets and tickers of the known symbols (for the command parser's ``known_assets``)."""
        return frozenset(s.split("/", 1)[0] for s in self.symbols)

    def match(self, text: str) -> str | None:
        """The known symbol ``text`` names (see the module docstring), or None."""
        wanted = _norm(text.lstrip("#$"))
        if not wanted:
            return None
        for symbol in self.symbols:
            if _norm(symbol) == wanted:
                return symbol
        pairs = {
            s.split("/", 1)[1]: s for s in self.symbols if "/" in s and _norm(s.split("/", 1)[0]) == wanted
        }
        for quote in QUOTES:
            if quote in pairs:
                return pairs[quote]
        return min(pairs.values(), default=None)

    def resolve(self, text: str) -> str:
        """The known symbol ``text`` names.

        Raises:
            NotFoundError: none (the message lists some known symbols).
        """
        found = self.match(text)
        if found is None:
            raise NotFoundError(unknown_symbol(text, self.symbols))
        return found

    def tradable(self, symbol: str) -> str:
        """The ``BASE/QUOTE`` a paper account trades for known ``symbol`` (``AAPL`` -> ``AAPL/USD``)."""
        return f"{symbol}/USD" if symbol in self.stocks and "/" not in symbol else symbol


def unknown_symbol(text: str, symbols: Iterable[str]) -> str:
    """``I know no symbol XYZ. Known: BTC/USDT, ETH/USDT`` (the first few, then how many more)."""
    known = sorted(set(symbols))
    if not known:
        return f"I know no symbol {text}: no candles are stored yet."
    more = f" and {len(known) - _LISTED} more" if len(known) > _LISTED else ""
    return f"I know no symbol {text}. Known: {', '.join(known[:_LISTED])}{more}."


async def known(services: Services) -> Known:
    """The symbols with stored candles."""
    found = await known_instruments(services.db)
    return Known(
        tuple(sorted({i.symbol for i in found})),
        frozenset(i.symbol for i in found if i.asset_class == AssetClass.STOCK),
    )
