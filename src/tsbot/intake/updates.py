"""Reading follow-up posts: Cornix bot templates, result cards with ticked targets, human progress notes.

Cornix templates (``#UMA/USDT Take-Profit target 4 ✅``, ``All entry targets achieved``, ``Stoploss ⛔``...) map
to :class:`UpdateEvent` as the labelling guide says; ``Profit: X%`` gives ``profit_pct`` X and ``Loss: X%`` gives
−X; ``Period:`` is kept as written without the clock emoji. When one post states several events the most decisive
is kept (:data:`tsbot.intake.models.EVENT_PRIORITY`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal

from tsbot.intake.models import EVENT_PRIORITY, SignalUpdate, UpdateEvent, to_decimal
from tsbot.intake.symbols import find_symbol, normalise_symbol


@dataclass(frozen=True, slots=True)
class UpdateReading:
    """A follow-up read from a post, with how sure the reader is."""

    update: SignalUpdate
    confidence: float
    notes: tuple[str, ...] = ()


_E = UpdateEvent
_TEMPLATES: list[tuple[re.Pattern[str], UpdateEvent]] = [
    (re.compile(r"(?i)closed\s+due\s+to\s+opposite\s+direction"), _E.CLOSED),
    (re.compile(r"(?i)closed\s+at\s+(?:trailing\s+)?stop[\s-]*loss"), _E.STOP_HIT),
    (
        re.compile(r"(?i)manually\s+cancell?ed|\bcancell?ed\s*❌|target\s+achieved\s+before\s+entering"),
        _E.CANCELLED,
    ),
    (re.compile(r"(?i)stop\s*target\s*hit|\bstop[\s-]*loss\s*⛔|\bstoploss\s*⛔|⛔"), _E.STOP_HIT),
    (re.compile(r"(?i)all\s+take[\s-]*profit\s+targets\s+achieved"), _E.ALL_TARGETS_HIT),
    (re.compile(r"(?i)take[\s-]*profit\s+target\s+(?P<n>\d+)\s*✅"), _E.TARGET_HIT),
    (re.compile(r"(?i)all\s+entry\s+targets\s+achieved"), _E.ALL_ENTRIES_FILLED),
    (re.compile(r"(?i)entered\s+entry\s+zone"), _E.ENTERED_ZONE),
    (re.compile(r"(?i)\bentry\s+(?P<n>\d+)\s*✅"), _E.ENTRY_FILLED),
]
_PROFIT = re.compile(r"(?i)\b(?P<kind>profit|loss)\s*:?\s*(?P<num>-?\d+(?:\.\d+)?)\s*%")
_PERIOD = re.compile(r"(?i)\bperiod\s*:\s*(?P<p>[^\n⏰]+?)\s*(?:⏰|\n|$)")
_AVERAGE = re.compile(r"(?i)average\s+entry\s+price\s*:\s*(?P<num>\d+(?:\.\d+)?)")

# Result cards: "Target 3: 86.5✅", "Short Term Target 1: 1,880✅"
_TICKED = re.compile(r"(?i)\b(?:target|tp)\s*(?P<n>\d{1,2})\s*[:\-]?\s*[\d,.]+\s*\$?\s*✅")
_ALL_TARGETS = re.compile(
    r"(?i)\ball\s+(?:the\s+)?(?:\d+\s+)?(?:targets?|tps?|take[\s-]*profits?)\s+"
    r"(?:(?:were|are|have\s+been|got|been)\s+)?(?:hit|achieved|done|reached|smashed|blown|"
    r"completed|destroyed)"
)
_RESULT_PROFIT = re.compile(r"(?P<num>\d+(?:\.\d+)?)\s*%\s*(?:profit|gain)", re.IGNORECASE)

# Human-written follow-ups: one alternation, the most decisive event wins.
_HUMAN_ALTERNATIVES = (
    (
        "h_stop",
        r"stop(?:ped)?\s*out|(?:trailing\s*)?stop\s*(?:loss\s*)?hit|"
        r"(?:sl|stop[\s-]*loss)\s*(?:got\s*|was\s*|has\s*been\s*)?(?:hit|triggered|touched)",
    ),
    ("h_cancel", r"cancell?(?:ed)?|invalidated?|no\s*longer\s*valid"),
    ("h_all_entries", r"all\s+entr(?:y|ies)(?:\s+targets?)?\s+(?:filled|hit|achieved|reached|done)"),
    ("h_zone", r"entry\s*zone\s*(?:reached|hit|entered)|entered\s*(?:the\s*)?(?:entry\s*)?zone"),
    (
        "h_close",
        r"(?:^|\n)\s*(?:close|exit)\b|"
        r"(?:close[ds]?|exit(?:ed)?)\s*(?:it\b|the\s*trade|all\b|(?:the\s*)?position|now|here|at\s*entry|"
        r"(?:in|with)\s*(?:profit|loss))",
    ),
    (
        "h_all_tp",
        r"all\s+(?:the\s+)?(?:targets?|tps?)\s+(?:were\s+|are\s+|got\s+)?"
        r"(?:hit|achieved|done|reached|smashed)",
    ),
    (
        "h_tp",
        r"(?:tp|target)\s*#?\s*(?P<h_tp_n>\d{1,2})\s*(?:is\s*)?(?:hit|done|reached|achieved|smashed|✅)|"
        r"hit\s*(?P<h_tp_m>\d{1,2})\s*(?:tps?|targets?)|(?P<h_tp_k>\d{1,2})\s*(?:tps?|targets?)\s*(?:hit|done|reached|"
        r"achieved|smashed|destroyed)",
    ),
    (
        "h_move",
        r"(?:(?:move[ds]?|moving|set|put)\s*(?:your\s*|the\s*|our\s*)?)?(?:sl|stop[\s-]*loss|stops?)\s*"
        r"(?:moved\s*)?(?:to|at)\s*(?:entry|entries|break[\s-]*even|be\b)",
    ),
    ("h_entry", r"(?:entry|entries)\s*(?P<h_entry_n>\d)?\s*(?:hit|filled|triggered|reached)|\bfilled\b"),
)
_HUMAN_EVENT_OF = {
    "h_stop": _E.STOP_HIT,
    "h_cancel": _E.CANCELLED,
    "h_close": _E.CLOSED,
    "h_all_tp": _E.ALL_TARGETS_HIT,
    "h_tp": _E.TARGET_HIT,
    "h_move": _E.MOVE_STOP,
    "h_entry": _E.ENTRY_FILLED,
    "h_all_entries": _E.ALL_ENTRIES_FILLED,
    "h_zone": _E.ENTERED_ZONE,
}
_HUMAN_EVENT = re.compile(
    "|".join(f"(?P<{name}>{pattern})" for name, pattern in _HUMAN_ALTERNATIVES), re.IGNORECASE
)
_NEGATION = re.compile(r"(?i)(?:\bnot|n't|\b(?:dont|doesnt|didnt|wont|cant|never|no|unless))\s*(?:\w+\s*)?$")
_HUMAN_PROFIT = re.compile(
    r"(?i)\b(?:hit|up|made|gave|gained|profit\s*of|already|over)\s*(?:\w+\s){0,2}?"
    r"\+?(?P<num>\d+(?:\.\d+)?)\s*%"
)
_GENERIC_ADVICE = re.compile(r"(?i)\b(?:always|remember|tip|rule|psa|recommend(?:ed)?|should|if\s+you)\b")
_TAGGED_SYMBOL = re.compile(r"[#$][A-Za-z][A-Za-z0-9]{1,14}(?:/[A-Za-z]{3,5})?")


def read_update(text: str) -> UpdateReading | None:
    """A follow-up read from a cleaned post (bot template, result card or human note), or ``None``."""
    return read_bot_update(text) or read_human_update(text)


def read_bot_update(text: str) -> UpdateReading | None:
    """A bot-template follow-up or a result card with ticked targets, or ``None``."""
    reading = _template(text)
    if reading is not None:
        return reading
    return _result_card(text)


def read_human_update(text: str) -> UpdateReading | None:
    """A human-written follow-up ("SL hit", "TP2 done", "move SL to entry"), or ``None``."""
    return _human(text)


# The Cornix layout: "#UMA/USDT Take-Profit target 4 ✅" - the pair right before the event, one pass over the text.
_EVENT_ALTERNATIVES = (
    ("closed", r"closed\s+due\s+to\s+opposite\s+direction"),
    ("stop_after_tp", r"closed\s+at\s+(?:trailing\s+)?stop[\s-]*loss"),
    ("cancelled", r"manually\s+cancell?ed|cancell?ed\s*❌"),
    ("stop", r"stop\s*target\s*hit|stop[\s-]*loss\s*⛔"),
    ("all_tp", r"all\s+take[\s-]*profit\s+targets\s+achieved"),
    ("tp", r"take[\s-]*profit\s+target\s+(?P<tp_n>\d+)"),
    ("all_entries", r"all\s+entry\s+targets\s+achieved"),
    ("zone", r"entered\s+entry\s+zone"),
    ("entry", r"entry\s+(?P<entry_n>\d+)\s*✅"),
)
_EVENT_OF_GROUP = {
    "closed": _E.CLOSED,
    "stop_after_tp": _E.STOP_HIT,
    "cancelled": _E.CANCELLED,
    "stop": _E.STOP_HIT,
    "all_tp": _E.ALL_TARGETS_HIT,
    "tp": _E.TARGET_HIT,
    "all_entries": _E.ALL_ENTRIES_FILLED,
    "zone": _E.ENTERED_ZONE,
    "entry": _E.ENTRY_FILLED,
}
_CORNIX = re.compile(
    r"#(?P<sym>[A-Za-z0-9]{1,20}(?:/[A-Za-z]{2,6})?)[ \t]+(?:"
    + "|".join(f"(?P<{name}>{pattern})" for name, pattern in _EVENT_ALTERNATIVES)
    + ")",
    re.IGNORECASE,
)


def _pair(raw: str) -> str | None:
    base, _, quote = raw.partition("/")
    if quote:
        return normalise_symbol(base, quote)
    return find_symbol("#" + raw + " ")


def _template(text: str) -> UpdateReading | None:
    if "#" not in text and "ancel" not in text:
        return None
    best: tuple[int, UpdateEvent, re.Match[str]] | None = None
    for match in _CORNIX.finditer(text):
        event = _EVENT_OF_GROUP[match.lastgroup or ""]
        if best is None or EVENT_PRIORITY[event] > EVENT_PRIORITY[best[1]]:
            best = (EVENT_PRIORITY[event], event, match)
    if best is not None:
        _, event, match = best
        symbol = _pair(match.group("sym"))
        index_text = match.group("tp_n") or match.group("entry_n")
        confidence = 0.98
    else:
        loose = _loose_template(text)
        if loose is None:
            return None
        event, symbol, index_text = loose
        confidence = 0.9 if symbol else 0.8
    index = int(index_text) if index_text else None
    period_match = _PERIOD.search(text) if "eriod" in text else None
    price: Decimal | None = None
    if event in (_E.ENTRY_FILLED, _E.ALL_ENTRIES_FILLED):
        average = _AVERAGE.search(text)
        if average:
            price = to_decimal(average.group("num"))
    return UpdateReading(
        SignalUpdate(
            symbol=symbol,
            event=event,
            target_index=index if event in (_E.TARGET_HIT, _E.ENTRY_FILLED) else None,
            price=price,
            profit_pct=_profit(text) if ("rofit" in text or "oss" in text) else None,
            period=period_match.group("p").strip() if period_match else None,
        ),
        confidence=confidence,
        notes=("bot follow-up template",),
    )


_LOOSE_HINT = re.compile(
    r"(?i)achieved|⛔|cancell?ed|opposite\s+direction|entered\s+entry|"
    r"take[\s-]*profit\s+target\s+\d|"
    r"closed\s+at\s+(?:trailing\s+)?stop"
)


def _loose_template(text: str) -> tuple[UpdateEvent, str | None, str | None] | None:
    """Template phrases whose pair is not right before them (other bots' layouts)."""
    if not _LOOSE_HINT.search(text):
        return None
    best: tuple[int, UpdateEvent, re.Match[str]] | None = None
    for pattern, event in _TEMPLATES:
        match = pattern.search(text)
        if match and (best is None or EVENT_PRIORITY[event] > EVENT_PRIORITY[best[1]]):
            best = (EVENT_PRIORITY[event], event, match)
    if best is None:
        return None
    _, event, match = best
    index = match.groupdict().get("n")
    return event, find_symbol(text), index


def _profit(text: str) -> Decimal | None:
    match = _PROFIT.search(text)
    if not match:
        return None
    value = to_decimal(match.group("num"))
    if match.group("kind").lower() == "loss" and value > 0:
        value = -value
    return value


def _result_card(text: str) -> UpdateReading | None:
    if "✅" not in text:
        return None
    ticks = [int(m.group("n")) for m in _TICKED.finditer(text)]
    if not ticks:
        return None
    # A signal card with ticked *entries* is a signal, not a result: require ticked targets, and no entry list.
    symbol = find_symbol(text)
    profit = _human_profit(text)
    if _ALL_TARGETS.search(text):
        update = SignalUpdate(symbol=symbol, event=_E.ALL_TARGETS_HIT, profit_pct=profit)
    else:
        update = SignalUpdate(symbol=symbol, event=_E.TARGET_HIT, target_index=max(ticks), profit_pct=profit)
    return UpdateReading(
        update, confidence=0.92 if symbol else 0.7, notes=("result card with ticked targets",)
    )


def _human(text: str) -> UpdateReading | None:
    if len(text) > 400 or "http" in text:
        return None
    tagged = _TAGGED_SYMBOL.search(text) if ("#" in text or "$" in text) else None
    symbol = find_symbol(tagged.group(0) + " ") if tagged else None
    best: tuple[int, UpdateEvent, re.Match[str]] | None = None
    matches = list(_HUMAN_EVENT.finditer(text))
    if symbol is None and matches:
        symbol = find_symbol(text)
    for match in matches:
        if _NEGATION.search(text[max(0, match.start() - 16) : match.start()]):
            continue
        event = _HUMAN_EVENT_OF[match.lastgroup or ""]
        if best is None or EVENT_PRIORITY[event] > EVENT_PRIORITY[best[1]]:
            best = (EVENT_PRIORITY[event], event, match)
    profit = _human_profit(text) if "%" in text else None
    if best is None:
        if symbol is None or profit is None:
            return None
        return UpdateReading(
            SignalUpdate(symbol=symbol, event=_E.OTHER, profit_pct=profit),
            confidence=0.6,
            notes=("progress note on a named trade",),
        )
    if _GENERIC_ADVICE.search(text):
        return None  # "always move your SL to entry after TP1" is advice, not an event of a trade
    _, event, match = best
    index_text = (
        match.group("h_tp_n") or match.group("h_tp_m") or match.group("h_tp_k") or match.group("h_entry_n")
    )
    index = int(index_text) if event in (_E.TARGET_HIT, _E.ENTRY_FILLED) and index_text else None
    price = None
    if event in (_E.ENTRY_FILLED, _E.ALL_ENTRIES_FILLED):
        at_price = _FILL_PRICE.search(text)
        price = to_decimal(at_price.group("num")) if at_price else None
    period_match = _PERIOD.search(text) if "eriod" in text else None
    period = period_match.group("p").strip() if period_match else None
    if symbol is None:
        # A reply in a channel: the trade is known only from the reply context.
        update = SignalUpdate(None, event, index, price, profit, period)
        return UpdateReading(
            update, confidence=0.5, notes=("human-written follow-up without a symbol (a reply)",)
        )
    update = SignalUpdate(symbol, event, index, price, profit, period)
    return UpdateReading(update, confidence=0.7, notes=("human-written follow-up",))


_FILL_PRICE = re.compile(
    r"(?i)(?:average(?:\s*entry)?\s*price|filled\s*at|\bat)\s*:?\s*\$?(?P<num>\d+(?:\.\d+)?)"
)
_SIGNED_PCT = re.compile(r"(?<![\d.])(?P<sign>[+-])(?P<num>\d+(?:\.\d+)?)\s*%")


def _human_profit(text: str) -> Decimal | None:
    """``Profit: 12%`` / ``Loss: 5%`` / ``+32%`` / ``-25%`` / ``already up 40%``; a loss is negative."""
    labelled = _profit(text)
    if labelled is not None:
        return labelled
    signed = _SIGNED_PCT.search(text)
    if signed:
        value = to_decimal(signed.group("num"))
        return -value if signed.group("sign") == "-" else value
    loose = _HUMAN_PROFIT.search(text) or _RESULT_PROFIT.search(text)
    if loose:
        return to_decimal(loose.group("num"))
    return None
