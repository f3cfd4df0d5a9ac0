"""A directional lexicon for financial news, written for tsbot: which way a quantity moved, and is that good.

Formal news states sentiment through direction and quantity rather than through opinion words:
"operating profit rose" is good news, "operating loss rose" is bad news, "costs were cut" is good news and
"jobs were cut" is bad news. :func:`cue_tokens` finds such statements in a text and returns placeholder tokens
that :class:`tsbot.sentiment.default_model.HashedFeaturizer` adds to a text's features; the weight of each cue
is learnt in training like any other feature, so the lexicon never overrides the model.

Rules (all on lower-cased words, numbers read as floats):

* a *direction word* (``DIRECTION``: +1 for "rose", "grew", "widened", "raised", "up"; -1 for "fell",
  "declined", "narrowed", "cut", "down") is tied to the nearest *quantity word* (``QUANTITY``: +1 when more is
  good, "profit", "sales", "dividend", "shares"; -1 when more is bad, "loss", "costs", "debt") among the
  ``_BEFORE`` words before it, else among the ``_AFTER`` words after it;
* a numeric comparison "from A to B", "to B from A", "B, compared with A", "B versus A" gives the direction
  ``sign(B - A)`` for the nearest quantity word before it;
* "to a profit" / "from a loss" (a swing into profit) and "to a loss" / "from a profit" (a swing into loss);
* a negator ("not", "no", "n't", "without") among the three words before a direction word flips it;
* direction times quantity gives ``_cue_pos_`` (product +1) or ``_cue_neg_`` (product -1); a direction with
  no quantity in reach gives ``_cue_up_`` or ``_cue_down_``; a word of ``POLAR`` (news words that are good or
  bad on their own, "record", "upgraded", "bankruptcy", "layoffs") gives ``_cue_good_`` or ``_cue_bad_``.

The word lists were written for tsbot from general financial-reporting vocabulary; none is copied from a
published sentiment lexicon.
"""

from __future__ import annotations

import re

_WORD = re.compile(r"[a-z]+(?:'[a-z]+)?|\d[\d,]*(?:\.\d+)?")
_NEGATORS = frozenset(
    {"not", "no", "never", "without", "nor", "didn't", "doesn't", "don't", "wasn't", "won't"}
)
_BEFORE = 6
_AFTER = 5
_COMPARE = frozenset({"compared", "versus", "vs", "against"})


def _forms(*verbs: str) -> list[str]:
    """Regular inflections of each verb: base, -s, -ed, -ing (a final "e" dropped; "y" after a consonant)."""
    out: list[str] = []
    for verb in verbs:
        if verb.endswith("e"):
            out += [verb, verb + "s", verb + "d", verb[:-1] + "ing"]
        elif verb.endswith("y") and verb[-2] not in "aeiou":
            out += [verb, verb[:-1] + "ies", verb[:-1] + "ied", verb + "ing"]
        else:
            out += [verb, verb + "s", verb + "ed", verb + "ing"]
    return out


_UP = _forms(
    "increase", "climb", "jump", "surge", "soar", "gain", "improve", "strengthen", "rally", "advance", "boost",
    "lift", "raise", "expand", "widen", "double", "triple", "recover", "rebound", "accelerate", "exceed",
    "outperform", "spike", "skyrocket", "swell", "upgrade", "enhance", "peak",
) + [
    "rise", "rises", "rose", "risen", "rising", "grow", "grows", "grew", "grown", "growing", "up", "higher",
    "increase", "growth", "upswing", "upturn", "doubled", "tripled", "more", "greater", "larger", "bigger",
    "stronger", "better", "upward", "upwards", "high", "highest", "record", "picked",
]  # fmt: skip
_DOWN = _forms(
    "decrease", "decline", "slump", "plunge", "tumble", "slide", "sink", "shrink", "lower", "reduce",
    "weaken", "narrow", "halve", "erode", "deteriorate", "slip", "dip", "dive", "crash", "collapse",
    "shed", "trim", "slash", "sag", "retreat", "downgrade", "worsen", "diminish",
) + [
    "fall", "falls", "fell", "fallen", "falling", "cut", "cuts", "cutting", "slid", "sank", "sunk", "shrank",
    "shrunk", "down", "lower", "lowest", "decline", "decrease", "drop", "less", "fewer", "smaller", "weaker",
    "worse", "downward", "downwards", "low", "lose", "loses", "lost", "losing", "halved", "miss", "missed",
    "misses", "missing", "dropped", "dropping", "drops", "slipped", "slipping", "dipped", "dipping",
    "trimmed", "trimming", "slashed", "contracted", "contracting",
]  # fmt: skip
DIRECTION: dict[str, int] = {**{w: 1 for w in _UP}, **{w: -1 for w in _DOWN}}

_GOOD = [
    "profit", "profits", "profitability", "sales", "revenue", "revenues", "turnover", "earnings", "income",
    "ebit", "ebitda", "eps", "margin", "margins", "order", "orders", "intake", "backlog", "dividend",
    "dividends", "payout", "demand", "volume", "volumes", "shares", "share", "stock", "stocks", "price",
    "prices", "guidance", "outlook", "forecast", "forecasts", "target", "rating", "ratings", "customers",
    "users", "subscribers", "deliveries", "production", "output", "capacity", "occupancy", "return", "returns",
    "ratio", "equity", "result", "results", "performance", "market", "value", "valuation", "cash", "flow",
    "inflows", "traffic", "passengers", "bookings", "growth", "savings", "synergies", "efficiency", "liquidity",
    "exports", "productivity", "bitcoin", "btc", "ether", "eth", "token", "tokens", "coin", "coins", "crypto",
    "index", "indices", "markets", "buyback", "headcount", "jobs", "employment", "workforce", "staff",
    "solana", "xrp", "cap", "capitalisation", "capitalization", "tvl", "hashrate", "adoption", "premium",
]  # fmt: skip
_BAD = [
    "loss", "losses", "cost", "costs", "expenses", "expense", "debt", "debts", "liabilities", "impairment",
    "impairments", "writedown", "writedowns", "charges", "charge", "provisions", "inflation", "unemployment",
    "layoffs", "redundancies", "deficit", "churn", "defaults", "arrears", "outflows", "risk", "risks",
    "leverage", "gearing", "penalty", "fines", "damages", "delays", "emissions", "volatility",
    "liquidations", "borrowings", "spending", "discount", "uncertainty", "headwinds", "combined",
]  # fmt: skip
QUANTITY: dict[str, int] = {**{w: 1 for w in _GOOD}, **{w: -1 for w in _BAD}}

_POS_WORDS = [
    "record", "upgrade", "upgraded", "upgrades", "beat", "beats", "outperformed", "outperform", "strong",
    "stronger", "robust", "solid", "profitable", "accretive", "won", "wins", "awarded", "secured", "approval",
    "approved", "breakthrough", "milestone", "expansion", "rebound", "recovery", "recovered", "improvement",
    "improved", "upbeat", "bullish", "buy", "overweight", "outperforming", "all-time", "best", "successful",
    "successfully", "exceeded", "favourable", "favorable", "positive", "optimistic", "rally", "surge",
]  # fmt: skip
_NEG_WORDS = [
    "warning", "warns", "warned", "downgrade", "downgraded", "downgrades", "miss", "missed", "misses", "weak",
    "weaker", "weakness", "bankruptcy", "bankrupt", "insolvency", "default", "defaulted", "layoffs", "redundancies",
    "lawsuit", "fraud", "hack", "hacked", "exploit", "recall", "recalled", "impairment", "writedown", "halted",
    "suspended", "suspends", "fined", "probe", "investigation", "strike", "disappointing", "bearish", "sell",
    "underweight", "underperform", "negative", "pessimistic", "slump", "plunge", "crash", "losses", "lawsuits",
    "closure", "shutdown", "laid", "delisted", "delisting", "scam", "collapse", "collapsed", "cuts", "shortfall",
]  # fmt: skip
POLAR: dict[str, int] = {**{w: 1 for w in _POS_WORDS}, **{w: -1 for w in _NEG_WORDS}}

_CUE = {1: "_cue_pos_", -1: "_cue_neg_"}
_BARE = {1: "_cue_up_", -1: "_cue_down_"}
_POLAR_CUE = {1: "_cue_good_", -1: "_cue_bad_"}
CUES = ("_cue_pos_", "_cue_neg_", "_cue_up_", "_cue_down_", "_cue_good_", "_cue_bad_")


def _number(token: str) -> float | None:
    if not token[0].isdigit():
        return None
    try:
        return float(token.replace(",", ""))
    except ValueError:
        return None


def _quantity(words: list[str], i: int) -> int:
    """Polarity of the quantity word nearest to position ``i``: before it first, then after; 0 when none."""
    for j in range(i - 1, max(-1, i - 1 - _BEFORE), -1):
        pol = QUANTITY.get(words[j])
        if pol:
            return pol
    for j in range(i + 1, min(len(words), i + 1 + _AFTER)):
        pol = QUANTITY.get(words[j])
        if pol:
            return pol
    return 0


def _next_number(words: list[str], i: int, reach: int = 4) -> float | None:
    for j in range(i + 1, min(len(words), i + 1 + reach)):
        value = _number(words[j])
        if value is not None:
            return value
    return None


def _comparison(words: list[str], i: int) -> int:
    """Direction of a numeric comparison that starts at word ``i`` ("to", "from", "compared", ...); 0 if none."""
    word = words[i]
    if word == "from":
        old = _next_number(words, i)
        if old is not None:
            for j in range(i + 2, min(len(words), i + 7)):
                if words[j] == "to":
                    new = _next_number(words, j)
                    return 0 if new is None or new == old else (1 if new > old else -1)
    elif word == "to":
        new = _next_number(words, i)
        if new is not None:
            for j in range(i + 2, min(len(words), i + 7)):
                if words[j] == "from":
                    old = _next_number(words, j)
                    return 0 if old is None or new == old else (1 if new > old else -1)
    elif word in _COMPARE:
        old = _next_number(words, i, 6)
        new = None
        for j in range(i - 1, max(-1, i - 7), -1):
            new = _number(words[j])
            if new is not None:
                break
        if old is not None and new is not None and new != old:
            return 1 if new > old else -1
    return 0


def _swing(words: list[str], i: int) -> int:
    """+1 for "to a profit" / "from a loss", -1 for "to a loss" / "from a profit" at word ``i``; else 0."""
    word = words[i]
    if word not in ("to", "from", "into"):
        return 0
    for j in range(i + 1, min(len(words), i + 5)):
        target = words[j]
        if target in ("profit", "profits", "black", "profitability"):
            return 1 if word != "from" else -1
        if target in ("loss", "losses", "red"):
            return -1 if word != "from" else 1
        if _number(target) is not None or target in ("the", "its", "their", "our"):
            return 0
    return 0


def cue_tokens(text: str) -> list[str]:
    """Placeholder tokens for the directional statements of ``text`` (see the module docstring).

    Args:
        text: any text; it is lower-cased here. Read in full, so bound it before calling.

    Returns:
        Cue tokens from :data:`CUES`, in order of appearance, possibly repeated; ``[]`` when none.
    """
    words = _WORD.findall(text.lower())
    out: list[str] = []
    swing_seen = False
    for i, word in enumerate(words):
        direction = DIRECTION.get(word, 0)
        if direction:
            if any(w in _NEGATORS or w.endswith("n't") for w in words[max(0, i - 3) : i]):
                direction = -direction
            quantity = _quantity(words, i)
            out.append(_CUE[direction * quantity] if quantity else _BARE[direction])
        polar = POLAR.get(word, 0)
        if polar:
            out.append(_POLAR_CUE[polar])
        if word in ("to", "from", "into") or word in _COMPARE:
            swing = 0 if swing_seen else _swing(words, i)
            if swing:
                swing_seen = True
                out.append(_CUE[swing])
                continue
            change = _comparison(words, i)
            if change:
                out.append(_CUE[change * (_quantity(words, i) or 1)])
    return out
