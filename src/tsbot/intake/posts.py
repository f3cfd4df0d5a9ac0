"""Reading Telegram signal posts: ``parse(text) -> ParsedPost``.

Deterministic, no network, one pass of a handful of precompiled regular expressions per post.

How a post is read
------------------
1. **Clean-up** (:func:`clean`): Telegram markdown (``**``, ``__``), variation selectors and zero-width characters
   go; the Cyrillic ``х`` becomes ``x``; en/em dashes become ``-``; keycap digits (``1️⃣``) become list bullets;
   anti-copy watermarks written with spaced letters (``S e a r ch S e n t i n e l``) are dropped; time-horizon
   phrases (``Short Term``, ``Mid-Term``) are blanked so they are never read as a side.
2. **Follow-ups** (:mod:`tsbot.intake.updates`): Cornix bot templates (``#UMA/USDT Take-Profit target 4 ✅``),
   result cards with ticked targets and human-written progress notes become a :class:`SignalUpdate`.
3. **Signals**: the text is cut into *sections* at field labels found anywhere in it (so posts whose line breaks
   were lost, ``LONGLeverage: 10xEntry: 0.4280 - 0.36Targets: ...``, read like stacked ones): entry, take-profit,
   stop-loss, leverage, exchange, and labels whose content is ignored (``OTE``, ``Client``, ``Period``...). Prices are
   read from each section, skipping list numbering (``1)``, ``TP3``, ``Target 2 -``), allocation percentages
   (``- 12.5%``, ``40% of profit``) and emoji placeholders. The symbol, side, leverage, margin mode and exchanges
   are read from the whole post. A post without field labels is tried as prose (``Shorting BTC @ ~52K``).
4. **Kind**: a signal needs a symbol, a side (written, or inferred from the geometry of a complete setup) and an
   entry price or a "now" instruction; otherwise the post is ``other``.

The value conventions are those of the hand-labelled set of signal posts the parser is graded on: prices exactly as
written (thousands separators removed, ``~52K`` → 52000, scaled prices such as ``4528`` for 0.04528 kept as
written), entries in written order, targets with duplicates, a percentage-only stop read as no stop, a leverage
range read as its upper value.

Confidence is a heuristic in [0, 1]: high for templated posts with every field, lower for inferred sides, prose,
missing fields, and for ``other`` posts that nonetheless name a symbol next to a side word (a reader should look).
"""

from __future__ import annotations

import re
from decimal import Decimal

from tsbot.intake.models import (
    EntryKind,
    MarginMode,
    ParsedPost,
    PostKind,
    Side,
    TradeIntent,
    UpdateEvent,
    normalise,
    to_decimal,
)
from tsbot.intake.symbols import find_symbol
from tsbot.intake.updates import read_bot_update, read_human_update

#: Posts longer than this are cut before parsing (a signal post is a few hundred characters).
MAX_POST_CHARS = 20_000

_TRANSLATE = str.maketrans(
    {
        "х": "x",
        "Х": "X",
        "–": "-",
        "—": "-",
        "−": "-",
        "\u00a0": " ",
        "\u2009": " ",
        "\u202f": " ",
        "\ufe0f": None,
        "\ufe0e": None,
        "\u200b": None,
        "\u200c": None,
        "\u200d": None,
        "\u2060": None,
        "\r": "\n",
        "\t": " ",
        "’": "'",
    }
)
_MARKDOWN = re.compile(r"\*\*|__|`")
_KEYCAP = re.compile(r"(\d)\u20e3")
# Lines of single letters/pairs separated by spaces: "S e a r ch", "O n", "T e l e g r a m".
_WATERMARK_LINE = re.compile(r"(?m)^[ \t]*(?:[A-Za-z]{1,2}[ \t]+){1,}[A-Za-z]{1,2}[ \t]*$")
_HORIZON = re.compile(r"(?i)\b(?:short|mid|long)(?:[\s-]*(?:to|-)?[\s-]*(?:mid|long))?[\s-]*terms?\b")


_NEEDS_TRANSLATION = re.compile("[" + "".join(chr(c) for c in _TRANSLATE) + "]")


def clean(text: str) -> str:
    """Normalise a raw post for reading (see the module docstring, step 1)."""
    if _NEEDS_TRANSLATION.search(text):
        text = text.translate(_TRANSLATE)
    if "*" in text or "_" in text or "`" in text:
        text = _MARKDOWN.sub("", text)
    if "\u20e3" in text:
        text = _KEYCAP.sub("\n• ", text)
    if " " in text:
        text = _WATERMARK_LINE.sub(" ", text)
    return text


# --- field labels -------------------------------------------------------------------------------------------

_ENTRY, _TARGET, _STOP, _LEVERAGE, _EXCHANGE, _IGNORE, _END = range(7)


def _word(word: str) -> str:
    """``word`` not preceded by a letter, written literal-first so the regex engine can skip ahead fast."""
    return f"{word}(?<![a-z]{word})"


# Patterns run on the lower-cased post. Every alternative starts with a literal (fast scanning); order matters
# inside an alternation: longer phrases first.
_LABELS: list[tuple[int, str]] = [
    (_END, r"trailing\s*configuration|published\s*by|copy\s*signals|this\s*message\s*cannot|spot\s*tps?\b"),
    (
        _IGNORE,
        _word("ote") + r"\b|period\s*:|client\s*:|strategy\s*:|reasoning\s*:|signal\s*(?:id|type)\s*:?|"
        r"trade\s*type\s*:?|average\s*entry\s*price|direction\s*:|position\s*:",
    ),
    (
        _STOP,
        r"stop[\s-]*loss(?:es)?(?:\s*orders?)?|stop\s*targets?|stop\s*los{1,2}e?|stop[\s-]*lose|"
        + _word("stop")
        + r"(?![a-z])|"
        + _word("sl")
        + r"(?![a-z])|"
        + _word("stl")
        + r"(?![a-z])|"
        r"stolen\s*:|invalidation",
    ),
    (
        _TARGET,
        r"take[\s-]*profits?(?:\s*(?:targets?|orders?|in\s*usdt))?|profit\s*targets?|"
        r"t[a]+r[g]+e[a-z]{1,2}s?|tagrets?|tragets?|targets?(?:\s*in\s*usdt)?|"
        + _word("tp")
        + r"s?(?=\s*[\d:#\-\n(])|"
        + _word("tgt")
        + r"s?(?![a-z])|"
        + _word("sell")
        + r"\s*(?=:?\s*\$?\d)|"
        + _word("profits")
        + r"?(?=[ \t]*:?[ \t]*\n[ \t]*\$?\d)",
    ),
    (
        _ENTRY,
        r"ente?ry\s*(?:zone|range|price|targets?|orders?|point|area|level)?(?:\s*\(usdt\))?|entries|"
        r"buy\s*(?:zone|range)|"
        + _word("buy")
        + r"\s*(?:price|area|between|around)?(?=\s*[:@\-]?\s*\$?\d)|"
        + _word("enter")
        + r"\s*(?:at|between|around)?(?=\s*[:@\-]?\s*\$?\d)",
    ),
    (_LEVERAGE, r"leverage|levrage|" + _word("lev") + r"\b|" + _word("lvg") + r"\b"),
    (_EXCHANGE, r"exchanges?\s*(?::|->)"),
]
_LABEL_RE = re.compile("|".join(f"(?P<L{kind}_{i}>{pattern})" for i, (kind, pattern) in enumerate(_LABELS)))


def _find_labels(text: str) -> list[re.Match[str]]:
    lowered = text.lower()
    if len(lowered) != len(text):  # a few characters change length when lower-cased; keep positions aligned
        lowered = "".join(c if len(c.lower()) != 1 else c.lower() for c in text)
    return list(_LABEL_RE.finditer(lowered))


_GROUP_KIND = {f"L{kind}_{i}": kind for i, (kind, _) in enumerate(_LABELS)}

# A price: digits with optional thousands commas and decimals, an optional K multiplier, not part of a word.
_NUMBER = re.compile(
    r"(?<![A-Za-z\d.])(?P<num>\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?|\.\d+)"
    r"(?P<k>[kK](?![A-Za-z]))?(?P<after>[ \t]*%|\)|[A-Za-z]+|[ \t]+(?:x|h|hr|hrs|hours?|min|mins|days?)\b)?"
)
_PERCENT_RANGE = re.compile(r"(?<![\d.])\d{1,2}\s*-\s*\d{1,3}(?:\.\d+)?\s*%")
_TIMEFRAME_SUFFIX = re.compile(
    r"(?i)^(?:h|hr|hrs|hour|hours|m|min|mins|minutes?|d|days?|w|weeks?|x|th|st|nd|rd)$"
)
_ZONE_JOINER = re.compile(r"(?i)^\s*\$?\s*(?:-|~|to)\s*\$?\s*$")
_ZONE_WORD = re.compile(r"(?i)\b(?:zone|range|area|between)\b")


def _price(raw: str) -> Decimal:
    """A price as written, trailing decimal zeros dropped (``0.002580`` → ``0.00258``, ``20.0`` kept)."""
    whole, dot, decimals = raw.partition(".")
    if dot:
        decimals = decimals.rstrip("0") or "0"
        return Decimal(f"{whole or '0'}.{decimals}")
    return Decimal(raw)


class _Num:
    __slots__ = ("value", "start", "end", "text")

    def __init__(self, value: Decimal, start: int, end: int, text: str) -> None:
        self.value = value
        self.start = start
        self.end = end
        self.text = text


def _numbers(section: str) -> list[_Num]:
    """Prices in a section, without numbering, percentages, timeframes and leverage multiples."""
    out: list[_Num] = []
    percent_spans = [m.span() for m in _PERCENT_RANGE.finditer(section)] if "%" in section else []
    for match in _NUMBER.finditer(section):
        raw = match.group("num")
        start, end = match.span("num")
        after = (match.group("after") or "").strip()
        if after == "%" or any(a <= start < b for a, b in percent_spans):
            continue
        if after == ")":
            continue  # list numbering "1)"
        if after and (len(after) > 1 or _TIMEFRAME_SUFFIX.match(after)):
            continue  # "4H", "20x", "1st", "1Luud" (part of a word or a link)
        # "1." / "1 -" / "#1:" as numbering at the start of a line: an integer followed by a price on the line.
        if "." not in raw and "," not in raw and len(raw) <= 2:
            line_start = section.rfind("\n", 0, start) + 1
            at_line_start = line_start > 0 and not section[line_start:start].strip(" •-#>·*")
            rest = section[end : end + 40].split("\n", 1)[0]
            if at_line_start and re.match(r"^\s*[.:\-]\s*\$?\s*\d", rest):
                continue
        value = _price(raw.replace(",", "") if "," in raw else raw)
        if match.group("k"):
            value = normalise(value * 1000)
        out.append(_Num(value, start, match.end("k") if match.group("k") else end, raw))
    return out


# --- side ---------------------------------------------------------------------------------------------------

# Run on the lower-cased post; the letter before the word is checked in code (literal-first pattern, fast).
_SIDE_WORD = re.compile(
    r"(?P<word>long(?:ing)?|short(?:ing)?|buy(?:ing)?|sell(?:ing)?|bullish|bearish|spot)"
    r"(?:(?![a-z])|(?=leverage|lev\b|entry|exchange|pair|set-?up))"
)
_PRICE_LABEL_AFTER = re.compile(r"\s*(?:price)?\s*[:@\-]?\s*\$?\d")
_LONG_WORDS = {"long", "longing", "buy", "buying", "bullish", "spot"}


def _find_side(text: str) -> tuple[Side | None, bool]:
    """The written side and whether it came from a weak word (buy/sell/spot) rather than long/short."""
    low = text.lower()
    strong: Side | None = None
    weak: Side | None = None
    for match in _SIDE_WORD.finditer(low):
        start = match.start()
        if start:
            before = low[start - 1]
            # A letter right before means part of a word, except a glued leverage ("10XBuy Zone").
            if before.isalpha() and not (before == "x" and start >= 2 and low[start - 2].isdigit()):
                continue
        word = match.group("word")
        if word in ("long", "short", "longing", "shorting"):
            if strong is None:
                strong = Side.LONG if word.startswith("long") else Side.SHORT
            continue
        if word in ("bullish", "bearish"):
            continue
        # "Buy: 0.5" / "Sell: 0.6" are price labels, not sides.
        if _PRICE_LABEL_AFTER.match(low, match.end(), match.end() + 12):
            continue
        if weak is None:
            weak = Side.LONG if word in _LONG_WORDS else Side.SHORT
    if strong is not None:
        return strong, False
    return weak, weak is not None


def _infer_side(entry: list[Decimal], targets: list[Decimal], stop: Decimal | None) -> Side | None:
    if not entry or not targets:
        return None
    low, high = min(entry), max(entry)
    up = all(t > high for t in targets) and (stop is None or stop < low)
    down = all(t < low for t in targets) and (stop is None or stop > high)
    if up and stop is not None:
        return Side.LONG
    if down and stop is not None:
        return Side.SHORT
    if up and not down:
        return Side.LONG
    if down and not up:
        return Side.SHORT
    return None


# --- leverage, margin, exchanges ----------------------------------------------------------------------------

_LEVERAGE_AFTER_LABEL = re.compile(
    r"(?i)^[\s:=\-]*(?:(?:cross|isolated)[\s:]*)?\(?\s*[x]?\s*(?P<a>\d+(?:\.\d+)?)\s*[x]?"
    r"(?:\s*[x]?\s*(?:-|to)\s*[x]?\s*(?P<b>\d+(?:\.\d+)?)\s*x?)?"
)
_LEVERAGE_ANYWHERE = re.compile(
    r"(?i)(?<![A-Za-z\d.])(?:(?P<a>\d+(?:\.\d+)?)\s*x?\s*-\s*)?(?P<b>\d+(?:\.\d+)?)\s*x(?![A-Za-z\d])|"
    r"(?<![A-Za-z\d])x(?P<c>\d+(?:\.\d+)?)(?![\d.])"
)
_MARGIN = re.compile(r"(?i)\b(cross|isolated)\b")
_EXCHANGE_NAMES = re.compile(
    r"(?i)\b(binance(?:\s*futures)?|bybit(?:\s*usdt)?|kucoin(?:\s*futures)?|okx(?:\s*futures)?|mexc|bingx|"
    r"bitget|gate\.?io|huobi|htx|phemex|bitmex|kraken|coinbase|deribit)\b"
)
_EXCHANGE_HINT = re.compile(
    r"(?i)(?:\b(?P<excl>mexc|bingx|bitget|bybit|binance|kucoin|okx)\s+exclusive|available\s+on\s+(?P<on>\w+)|"
    r"exchange\s*->\s*(?P<arrow>\w+)|(?P<link>mexc)\.com\S*|^(?P<pair>[A-Z]{3,})pair\s*:)"
)


def _leverage(text: str, label_sections: list[str]) -> Decimal | None:
    for section in label_sections:
        match = _LEVERAGE_AFTER_LABEL.match(section)
        if match:
            return _leverage_value(match.group("a"), match.group("b"))
    match = _LEVERAGE_ANYWHERE.search(text)
    if match:
        if match.group("c"):
            return to_decimal(match.group("c"))
        return _leverage_value(match.group("a"), match.group("b"))
    return None


def _leverage_value(first: str | None, second: str | None) -> Decimal | None:
    values = [Decimal(v) for v in (first, second) if v]
    if not values:
        return None
    value = max(values)
    if value <= 0 or value > 500:
        return None
    return value


def _exchanges(text: str, label_sections: list[str]) -> list[str]:
    found: list[str] = []
    for section in label_sections:
        line = section.split("\n", 1)[0].strip(" :->")
        # Glued posts: "Bybit USDTLeverage" was already cut at the label.
        for part in re.split(r"\s*,\s*", line):
            part = part.strip()
            if part:
                found.append(part)
    if found:
        return found
    match = _EXCHANGE_HINT.search(text)
    if match:
        name = next(g for g in match.groups() if g)
        return [name.upper()]
    return []


# --- sections -----------------------------------------------------------------------------------------------


class _Sections:
    __slots__ = (
        "entry",
        "targets",
        "stop",
        "leverage",
        "exchange",
        "entry_labels",
        "target_labels",
        "first",
        "count",
        "entry_structural",
    )

    def __init__(self) -> None:
        self.entry: list[str] = []
        self.entry_labels: list[str] = []
        self.entry_structural: list[bool] = []
        self.targets: list[str] = []
        self.target_labels: list[str] = []
        self.stop: list[str] = []
        self.leverage: list[str] = []
        self.exchange: list[str] = []
        self.first = -1
        self.count = 0


def _sections(text: str) -> _Sections:
    out = _Sections()
    matches = _find_labels(text)
    for i, match in enumerate(matches):
        kind = _GROUP_KIND[match.lastgroup or ""]
        if kind == _END:
            break
        end = matches[i + 1].start() if i + 1 < len(matches) else len(text)
        body = text[match.end() : end]
        label = match.group(0)
        if kind == _TARGET and label.startswith("sell") and "buy" not in text[: match.start()].lower():
            continue
        if out.first < 0 and kind in (_ENTRY, _TARGET, _STOP):
            out.first = match.start()
        if kind == _ENTRY:
            out.entry.append(body)
            out.entry_labels.append(label)
            line_head = text[text.rfind("\n", 0, match.start()) + 1 : match.start()]
            out.entry_structural.append(
                not re.search(r"[A-Za-z]{2,}", line_head) or bool(re.match(r"\s*[:\-=]", body))
            )
            out.count += 1
        elif kind == _TARGET:
            out.targets.append(body)
            out.target_labels.append(label)
            out.count += 1
        elif kind == _STOP:
            out.stop.append(body)
            out.count += 1
        elif kind == _LEVERAGE:
            out.leverage.append(body)
        elif kind == _EXCHANGE:
            out.exchange.append(body)
    return out


_SINGULAR_TARGET = re.compile(r"(?i)^(?:target|tp|tgt|take[\s-]*profit)$")


def _read_targets(sections: _Sections) -> list[Decimal]:
    targets: list[Decimal] = []
    expected = 1
    for label, body in zip(sections.target_labels, sections.targets, strict=True):
        indexed = bool(_SINGULAR_TARGET.match(label.strip()))
        # "TP41.3100": the target index glued to the price; split it using the expected index.
        if indexed:
            glued = re.match(r"^\s*(\d+\.\d+)", body)
            if glued and body[:1].isdigit():
                digits = glued.group(1)
                prefix = str(expected)
                if digits.startswith(prefix) and len(digits.split(".")[0]) > len(prefix):
                    body = " " + digits[len(prefix) :] + body[glued.end() :]
            index = re.match(r"^\s*#?\s*(\d{1,2})(?![\d.,kK])\s*[:.)\-]?", body)
            if index and _NUMBER.search(body[index.end() :]):
                expected = int(index.group(1)) + 1
                body = body[index.end() :]
        for number in _numbers(body):
            targets.append(number.value)
    return targets


def _read_entry(sections: _Sections) -> tuple[list[Decimal], EntryKind | None]:
    # Prefer an entry label that starts a field ("Entry:", a line of its own) over "entry" inside prose.
    order = sorted(range(len(sections.entry)), key=lambda i: not sections.entry_structural[i])
    for i in order:
        label, body = sections.entry_labels[i], sections.entry[i]
        numbers = _numbers(body)
        if not numbers:
            continue
        values = [n.value for n in numbers]
        if len(numbers) == 1:
            return values, EntryKind.SINGLE
        if len(numbers) == 2:
            between = body[numbers[0].end : numbers[1].start]
            if _ZONE_JOINER.match(between) or (
                _ZONE_WORD.search(label) and "\n" not in between.strip(" ") and not re.search(r"\d\)", body)
            ):
                return values, EntryKind.ZONE
            if _ZONE_WORD.search(label) and re.match(
                r"^\s*-\s*$", body[: numbers[0].start].split("\n")[-1] or "-"
            ):
                return values, EntryKind.ZONE
        return values, EntryKind.LIST
    return [], None


def _read_stop(sections: _Sections) -> Decimal | None:
    for body in sections.stop:
        head = body.split("\n\n", 1)[0]
        if not head.strip():
            head = body
        numbers = _numbers(head[:80])
        if numbers:
            return numbers[0].value
        if re.search(r"\d", head[:40]):
            return None  # a percentage, "5-10", "4H": not a price
    return None


# --- prose --------------------------------------------------------------------------------------------------

_PROSE_ENTRY = re.compile(
    r"(?i)(?:(?<![A-Za-z])(?:around|at|near|entry|from)|@)\s*(?:the\s*)?~?\s*\$?"
    r"(?P<num>\d[\d,]*(?:\.\d+)?)(?P<k>[kK])?(?![\d.A-Za-z])"
)
_NOW_WORDS = re.compile(
    r"(?i)\b(?:buying|buy\s*(?:now|here|&|and)\s*hold|market\s*(?:price|entry|order)|"
    r"enter\s*now|cmp|now)\b"
)


def _prose(text: str) -> tuple[list[Decimal], EntryKind] | None:
    match = _PROSE_ENTRY.search(text)
    if match:
        value = _price(match.group("num").replace(",", ""))
        if match.group("k"):
            value *= 1000
        return [value], EntryKind.SINGLE
    return None


def _header_entry(text: str, symbol: str, first_label: int) -> tuple[list[Decimal], EntryKind] | None:
    """Entry prices written after the symbol and before the first field label ("Sell #EOS 0.82 - 0.84 | TP...")."""
    if first_label <= 0:
        return None
    base = symbol.split("/", 1)[0]
    at = text.upper().find(base)
    if at < 0 or at >= first_label:
        return None
    region = text[at + len(base) : first_label]
    slash = re.match(r"\s?/\s?[A-Za-z]{2,6}", region)
    if slash:
        region = region[slash.end() :]
    numbers = _numbers(region)
    if not numbers:
        return None
    values = [n.value for n in numbers]
    if len(numbers) == 1:
        return values, EntryKind.SINGLE
    if len(numbers) == 2 and _ZONE_JOINER.match(region[numbers[0].end : numbers[1].start]):
        return values, EntryKind.ZONE
    return values, EntryKind.LIST


_CALL_HEAD = re.compile(r"(?m)^[^\S\n]*[#$]?(?P<base>[A-Za-z0-9]{2,15})\s?/\s?(?:USDT|BUSD|USDC|BTC|ETH)\b")


def _first_call(text: str, symbol: str) -> tuple[str, list[str]]:
    """Cut a post holding several calls (one per symbol line) to its first call; name the others."""
    heads = list(_CALL_HEAD.finditer(text))
    if len(heads) < 2:
        return text, []
    base = symbol.split("/", 1)[0]
    labels = _find_labels(text)
    first_label = labels[0] if labels else None
    others: list[str] = []
    cut = None
    for head in heads:
        if head.group("base").upper() == base or first_label is None or head.start() < first_label.start():
            continue
        if cut is None:
            cut = head.start()
        others.append(head.group(0).strip().lstrip("#$").upper().replace(" ", ""))
    if cut is None:
        return text, []
    return text[:cut], others


# --- the parser ---------------------------------------------------------------------------------------------


def parse(text: str) -> ParsedPost:
    """Read one signal post.

    Parameters
    ----------
    text:
        The post as posted (any length; longer than :data:`MAX_POST_CHARS` is cut). Non-text input is an error of
        the caller (``TypeError``); empty or meaningless text gives ``kind=OTHER``.

    Returns
    -------
    ParsedPost
        ``SIGNAL`` with a :class:`TradeIntent`, ``UPDATE`` with a :class:`SignalUpdate`, or ``OTHER``.
    """
    if not isinstance(text, str):
        raise TypeError(f"parse() takes the post text as str, got {type(text).__name__}")
    if len(text) > MAX_POST_CHARS:
        text = text[:MAX_POST_CHARS]
    body = clean(text)
    if not body.strip():
        return ParsedPost(PostKind.OTHER, confidence=1.0, notes=("empty post",))

    update = read_bot_update(body)
    if update is not None and update.confidence >= 0.9:
        return ParsedPost(
            PostKind.UPDATE, update=update.update, confidence=update.confidence, notes=update.notes
        )
    signal = _read_signal(body)
    if signal is not None and signal.confidence >= 0.7:
        return signal
    if update is None:
        update = read_human_update(body)
    if signal is not None and (update is None or update.update.event is UpdateEvent.OTHER):
        return signal
    if update is not None:
        return ParsedPost(
            PostKind.UPDATE, update=update.update, confidence=update.confidence, notes=update.notes
        )
    return _other(body)


def _other(body: str) -> ParsedPost:
    # An "other" post naming a symbol next to a side word is where a reader should look twice.
    symbol = find_symbol(body)
    side, _ = _find_side(_HORIZON.sub(" ", body))
    if symbol is not None and side is not None:
        return ParsedPost(PostKind.OTHER, confidence=0.55, notes=("names a symbol and a side but no entry",))
    return ParsedPost(PostKind.OTHER, confidence=0.9)


def _read_signal(body: str) -> ParsedPost | None:
    text = _HORIZON.sub(" ", body) if "term" in body.lower() else body
    symbol = find_symbol(text)
    if symbol is None:
        return None
    notes: list[str] = []
    text, others = _first_call(text, symbol)
    if others:
        notes.append("several calls in one post; only the first is read: " + ", ".join(others))
    sections = _sections(text)
    side, weak_side = _find_side(text)
    entry, entry_kind = _read_entry(sections)
    targets = _read_targets(sections)
    stop = _read_stop(sections)
    confidence = 0.95
    if entry_kind is None:
        if sections.count == 0 or not (targets or stop is not None):
            prose = _prose(text) if side is not None else None
            if prose is None:
                if side is not None and _NOW_WORDS.search(text) and (targets or sections.count == 0):
                    entry, entry_kind = [], EntryKind.MARKET
                    confidence = 0.6
                else:
                    return None
            else:
                entry, entry_kind = prose
                confidence = 0.7
                notes.append("informal call read as prose")
        else:
            if side is None:
                return None
            header = _header_entry(text, symbol, sections.first)
            if header is not None:
                entry, entry_kind = header
                confidence = 0.85
                notes.append("entry read from the header line")
            else:
                entry, entry_kind = [], EntryKind.MARKET
                confidence = 0.75
                notes.append("no entry price: market entry")
    if side is None:
        side = _infer_side(entry, targets, stop)
        if side is None:
            return None
        notes.append("side inferred from targets and stop")
        confidence = min(confidence, 0.8)
    elif weak_side:
        confidence = min(confidence, 0.9)
    if not targets:
        confidence -= 0.1
    if stop is None:
        confidence -= 0.05
    leverage = _leverage(text, sections.leverage)
    margin_match = _MARGIN.search(text)
    margin = MarginMode(margin_match.group(1).lower()) if margin_match else None
    intent = TradeIntent(
        symbol=symbol,
        side=side,
        entry=tuple(entry),
        entry_kind=entry_kind,
        targets=tuple(targets),
        stop=stop,
        leverage=None if leverage is None else to_decimal(leverage),
        margin=margin,
        exchanges=tuple(_exchanges(text, sections.exchange)),
    )
    return ParsedPost(
        PostKind.SIGNAL, signal=intent, confidence=max(0.05, min(1.0, confidence)), notes=tuple(notes)
    )
