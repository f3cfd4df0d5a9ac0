"""Which assets a text mentions: tickers, cashtags and names, matched by one precompiled regex.

Rules (all matches sit on word boundaries, so "ether" is not found inside "Ethereum" or "Tether"):

* a cashtag (``$BTC``, ``$btc``) always counts, in any case;
* a ticker written as an upper-case word counts (``BTC``, ``#BTC``, ``BTC/USDT``), also glued to a quote
  currency (``BTCUSDT``, ``ETHUSD``); tickers that are not English words also count in lower case
  (``btc``), while tickers that are everyday words (LINK, DOT, SOL, ADA, KO, SPY, BNB) count only
  upper-case or as cashtags;
* names count in any case (``bitcoin``, ``BITCOIN``), except names that are everyday English words (Apple,
  Ether, Ripple, Polygon, Avalanche), which count only capitalised or upper-case, so "a ripple effect" or
  "an avalanche of selling" mention nothing;
* hyphenated names also match with a space or nothing in place of the hyphen (``Coca Cola``).
"""

from __future__ import annotations

import re

from tsbot.core.errors import NotFoundError

ASSET_ALIASES: dict[str, tuple[str, ...]] = {
    "BTC": ("Bitcoin", "XBT"),
    "ETH": ("Ethereum", "Ether"),
    "BNB": ("Binance Coin",),
    "SOL": ("Solana",),
    "XRP": ("Ripple",),
    "ADA": ("Cardano",),
    "DOGE": ("Dogecoin", "Doge"),
    "LTC": ("Litecoin",),
    "LINK": ("Chainlink",),
    "MATIC": ("Polygon",),
    "AVAX": ("Avalanche",),
    "DOT": ("Polkadot",),
    "SPY": ("S&P 500", "S&P500"),
    "AAPL": ("Apple",),
    "MSFT": ("Microsoft",),
    "IBM": (),
    "KO": ("Coca-Cola",),
}
"""Base asset -> its other names (the ticker itself is not repeated). Crypto bases first, then stocks."""

_WORD_TICKERS = frozenset({"LINK", "DOT", "SOL", "ADA", "KO", "SPY", "BNB"})
_WORD_NAMES = frozenset({"apple", "ether", "ripple", "polygon", "avalanche"})
_QUOTES = "(?:USDT|USDC|BUSD|USD|EUR)?"


def _name_pattern(name: str) -> str:
    """Regex for one name: case-insensitive, or capitalised/upper-case only for everyday words."""
    if name.lower() in _WORD_NAMES:
        return f"(?:{re.escape(name[:1].upper() + name[1:].lower())}|{re.escape(name.upper())})"
    return "(?i:" + r"[- ]?".join(re.escape(p) for p in re.split(r"[- ]", name)) + ")"


def _asset_pattern(asset: str) -> str:
    """Regex with every way of mentioning ``asset``, without the word boundaries around it."""
    ticker = re.escape(asset)
    alternatives = [rf"\$(?i:{ticker})", f"{ticker}{_QUOTES}"]
    if asset not in _WORD_TICKERS:
        alternatives.append(f"(?i:{ticker})")
    alternatives += [_name_pattern(n) for n in ASSET_ALIASES[asset]]
    return "|".join(alternatives)


# The boundaries are shared by every alternative, so most positions fail on the first look-behind.
_PATTERN = re.compile(
    r"(?<!\w)(?:" + "|".join(f"(?P<{a}>{_asset_pattern(a)})" for a in ASSET_ALIASES) + r")(?!\w)"
)


def mentioned_assets(text: str) -> tuple[str, ...]:
    """Base assets ``text`` mentions, sorted and unique (``("BTC", "ETH")``); ``()`` when none.

    See the module docstring for the matching rules. Runs one precompiled regex over the text: linear in its
    length.
    """
    if not text:
        return ()
    return tuple(sorted({m.lastgroup for m in _PATTERN.finditer(text) if m.lastgroup}))


def aliases_for(asset: str) -> tuple[str, ...]:
    """Every string that names ``asset``: its ticker first, then its names (``("BTC", "Bitcoin", "XBT")``).

    Args:
        asset: a base asset of :data:`ASSET_ALIASES`, in any case.

    Raises:
        NotFoundError: the asset is not in :data:`ASSET_ALIASES`.
    """
    key = asset.strip().upper()
    if key not in ASSET_ALIASES:
        raise NotFoundError(f"no aliases for asset {asset!r}; known assets: {', '.join(ASSET_ALIASES)}")
    return (key, *ASSET_ALIASES[key])
