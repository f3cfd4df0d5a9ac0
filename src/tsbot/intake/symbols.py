"""Finding the traded symbol in a post: ``#ATA/USDT``, ``CFXUSDT``, ``SUSHIUSDTPERP``, ``$EGLD``, ``#Ethereum``.

Symbols come out as ``BASE/QUOTE`` upper case when a quote is written (glued quotes USDT, BUSD, USDC, FDUSD, TUSD
are split; ``PERP`` and ``.P`` suffixes dropped), else the base alone (``AVAX``, ``SHIB2``). Coins written by name
become tickers through :data:`tsbot.sentiment.aliases.ASSET_ALIASES` plus a few common names.
"""

from __future__ import annotations

import re

from tsbot.sentiment.aliases import ASSET_ALIASES

QUOTES = ("USDT", "BUSD", "USDC", "FDUSD", "TUSD", "USD", "BTC", "ETH", "BNB", "EUR", "TRY")

_NAME_TO_TICKER: dict[str, str] = {}
for _ticker, _names in ASSET_ALIASES.items():
    for _name in _names:
        _NAME_TO_TICKER[_name.upper().replace(" ", "")] = _ticker
_NAME_TO_TICKER.update(
    {
        "BITCOIN": "BTC",
        "ETHEREUM": "ETH",
        "RIPPLE": "XRP",
        "SOLANA": "SOL",
        "CARDANO": "ADA",
        "DOGECOIN": "DOGE",
        "LITECOIN": "LTC",
        "POLKADOT": "DOT",
        "CHAINLINK": "LINK",
        "AVALANCHE": "AVAX",
        "POLYGON": "MATIC",
    }
)

_QUOTE_ALT = "|".join(QUOTES)
# BASE/QUOTE with optional spaces around the slash; the quote may be glued to the next word ("UNI/USDTLeverage").
_SLASHED = re.compile(
    rf"(?i)(?<![A-Za-z0-9])[#$]?\s?(?P<base>[A-Za-z0-9]{{1,15}})\s?/\s?(?P<quote>{_QUOTE_ALT})(?:\.?P\b|PERP)?"
)
# "Coin: SUI", "Pair: BTCUSDT", "Symbol: ETH" (a field label, then the ticker).
_LABELLED = re.compile(
    r"(?i)\b(?:coin|pair|symbol|asset|ticker)(?:\s*name)?\s*:\s*[#$]?(?P<base>[A-Z0-9]{2,12})\b"
)
# Tagged tickers: #EGLD, $ADA (letters, digits allowed after the first letter or a leading multiplier).
_TAGGED = re.compile(r"(?<![A-Za-z0-9&])[#$](?P<base>(?:\d{2,6})?[A-Za-z][A-Za-z0-9]{0,14})\b")
# A bare upper-case ticker right before a side word: "AVAX SHORT", "next shib2 short".
_BEFORE_SIDE = re.compile(
    r"(?i)(?<![A-Za-z0-9])(?P<base>[A-Za-z][A-Za-z0-9]{1,11})\s+(?:short|long)(?:\b|(?=leverage|lev\b|entry))"
)
# A ticker right after a side verb: "Shorting BTC @ ~52K", "Buying some $ETH".
_AFTER_SIDE = re.compile(
    r"(?i:\b(?:shorting|longing|short|long|buy(?:ing)?|sell(?:ing)?))\s+(?:(?i:some|more)\s+)?[#$]?"
    r"(?P<base>[A-Z][A-Z0-9]{1,11})\b"
)
_BEFORE_SIDE_STOP = {
    "GO",
    "THE",
    "TO",
    "A",
    "AN",
    "MY",
    "OUR",
    "NEXT",
    "IN",
    "ON",
    "AND",
    "OR",
    "FOR",
    "SCALP",
    "SPOT",
    "SWING",
    "RISKY",
    "SMALL",
    "TRADE",
    "SETUP",
    "SIGNAL",
    "FUTURES",
    "NOT",
    "NEW",
    "VIP",
    "ENTER",
    "OPEN",
    "CLOSE",
    "IS",
    "BE",
    "TAKE",
    "THIS",
    "THAT",
    "HEDGE",
    "GTC",
    "AT",
    "AS",
    "BIG",
    "QUICK",
    "NO",
}
_TAG_STOP = {
    "LONG",
    "SHORT",
    "SPOT",
    "BUY",
    "SELL",
    "SIGNAL",
    "VIP",
    "TP",
    "SL",
    "UPDATE",
    "NEW",
    "BTCDOM_",
    "DYOR",
    "FREE",
    "CORNIX",
    "ALTCOIN",
    "ALTCOINS",
    "CRYPTO",
    "BINANCE",
    "BYBIT",
    "MEXC",
    "USDT",
}


#: Quotes split off a glued symbol by :func:`split_symbol` unless told otherwise (stablecoins: ``SXPUSDT``).
STABLE_QUOTES = ("FDUSD", "USDT", "USDC", "BUSD", "TUSD")


def split_symbol(symbol: str, quotes: tuple[str, ...] = STABLE_QUOTES) -> tuple[str, str | None]:
    """``(BASE, QUOTE | None)`` of a symbol as posts, alerts and stores write it, upper-case.

    ``"SXP/USDT"``, ``"#sxp"``, ``"$SXP"``, ``"SXP-USDT"``, ``"SXPUSDT"``, ``"BINANCE:SXPUSDT.P"`` and
    ``"SXP/USDT:USDT"`` all have base ``SXP``; a glued quote is split only for the first of ``quotes`` the symbol
    ends in. The base is ``""`` when nothing is left.
    """
    text = symbol.strip().upper().lstrip("#$").strip()
    if ":" in text:
        head, tail = text.split(":", 1)
        text = head if "/" in head else tail  # ccxt settle suffix, or a TradingView exchange prefix
    text = text.removesuffix(".P")
    for sep in ("/", "-", "_"):
        if sep in text:
            base, quote = text.split(sep, 1)
            return base.strip(), quote.strip() or None
    for quote in quotes:
        if text.endswith(quote) and len(text) > len(quote):
            return text[: -len(quote)], quote
    return text, None


def normalise_symbol(base: str, quote: str | None) -> str:
    """``BASE/QUOTE`` upper case, or the base alone; names become tickers (``Ethereum`` → ``ETH``)."""
    base = base.upper()
    base = _NAME_TO_TICKER.get(base, base)
    if quote:
        return f"{base}/{quote.upper()}"
    return base


_GLUED_QUOTE = re.compile(r"usd[tc]|(?:fd|b|t)usd(?![tc])")
_GLUE_WORDS = ("exchange", "leverage", "long", "short", "entry", "lev ", "lev:", "target", "pair")


def _glued(text: str, low: str) -> tuple[int, str] | None:
    """The first glued pair (``CFXUSDT``, ``SUSHIUSDTPERP``, ``BTCUSDT.P``, ``celrusdt``) and its position."""
    for match in _GLUED_QUOTE.finditer(low):
        start = match.start()
        j = start
        limit = max(0, start - 16)  # a base is at most 15 characters: never walk further (linear time)
        while j > limit and text[j - 1].isascii() and text[j - 1].isalnum():
            j -= 1
        if j == limit and j > 0 and text[j - 1].isascii() and text[j - 1].isalnum():
            continue
        base = text[j:start]
        if not 2 <= len(base) <= 15 or base.isdigit() or base.upper() in ("USDT", "BUSD", "USDC"):
            continue
        end = match.end()
        if low.startswith("perp", end):
            end += 4
        elif low.startswith(".p", end) and not low[end + 2 : end + 3].isalnum():
            end += 2
        if low[end : end + 1].isalnum() and not low.startswith(_GLUE_WORDS, end):
            continue
        word = text[j : match.end()]
        # Mixed case only in the shape BASEUSDT (upper base); "Celrusdt"-like words are not pairs.
        if not (word.isupper() or word.islower() or base.isupper() or base[:1].isdigit()):
            continue
        return j, normalise_symbol(base, text[start : match.end()])
    return None


def find_symbol(text: str) -> str | None:
    """The first symbol a post names, or ``None`` (see the module docstring)."""
    best: tuple[int, str] | None = None
    if "/" in text:
        match = _SLASHED.search(text)
        if match and not match.group("base").isdigit():
            best = (match.start(), normalise_symbol(match.group("base"), match.group("quote")))
    low = text.lower()
    if "usd" in low:
        glued = _glued(text, low)
        if glued is not None and (best is None or glued[0] < best[0]):
            best = glued
    if best is not None:
        return best[1]
    if "#" in text or "$" in text:
        for tagged in _TAGGED.finditer(text):
            base = tagged.group("base").upper()
            if base in _TAG_STOP or len(base) > 12:
                continue
            return normalise_symbol(base, None)
    if ":" in text:
        labelled = _LABELLED.search(text)
        if labelled and not labelled.group("base").isdigit():
            return normalise_symbol(labelled.group("base"), None)
    if "short" in low or "long" in low:
        for bare in _BEFORE_SIDE.finditer(text):
            base = bare.group("base")
            if base.upper() in _BEFORE_SIDE_STOP:
                continue
            if base.isupper() or any(c.isdigit() for c in base) or base.upper() in _NAME_TO_TICKER:
                return normalise_symbol(base, None)
    if "short" in low or "long" in low or "buy" in low or "sell" in low:
        for after in _AFTER_SIDE.finditer(text):
            base = after.group("base")
            if base.upper() in _BEFORE_SIDE_STOP or base in ("TERM", "ONLY", "HERE", "NOW", "ALL"):
                continue
            return normalise_symbol(base, None)
    return None
