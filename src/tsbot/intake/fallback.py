"""A language-model second opinion for signal posts and typed commands the rules are unsure of.

The deterministic parsers rate each reading with a confidence in [0, 1]. Below a threshold
(``Settings.intake.llm.min_confidence``) the text goes to an OpenAI-compatible chat model through the
:class:`ChatModel` port, which must answer one JSON object. That answer is never trusted beyond what can be
checked:

* it is parsed strictly: the exact keys of ``TradeIntent.to_dict`` / ``SignalUpdate.to_dict``, enum values as in
  :mod:`tsbot.intake.models`, prices finite and > 0, leverage in [1, 250], ``target_index`` >= 1, ``kind``
  consistent with which of ``signal`` / ``update`` is set; a Markdown ```` ```json ```` fence is removed first;
* every price, leverage and profit percentage it returns must occur as a number in the post text itself
  (thousands separators removed; ``52K`` also counts as 52000), and the symbol's base and quote must be written
  in the post: the model may only pick out what the post says, never add to it;
* a model reading gets a confidence of at most :data:`LLM_CONFIDENCE_CAP`.

Anything else raises :class:`LlmAnswerError`. :class:`FallbackPostParser` and :class:`FallbackCommandParser`
keep the rule parser's reading whenever the model fails, and say why in a log event (and in
``ParsedPost.notes``).
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Callable, Iterable
from decimal import Decimal
from typing import Annotated, Any, Generic, Protocol, TypeVar

import structlog
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictInt,
    StrictStr,
    ValidationError,
    model_validator,
)

from tsbot.core.errors import DataError, OperationalError, TemporaryError
from tsbot.intake.models import (
    EntryKind,
    MarginMode,
    ParsedPost,
    PostKind,
    Side,
    SignalUpdate,
    TradeIntent,
    UpdateEvent,
    to_decimal,
)

log = structlog.get_logger(__name__)

#: The highest confidence a model reading may carry: a checked model answer is still less sure than a
#: confident rule reading (the rules' own scale puts clear posts at 0.9 and above).
LLM_CONFIDENCE_CAP = 0.8
#: Answers longer than this many characters are refused unread (a post answer is a few hundred).
MAX_ANSWER_CHARS = 20_000

T = TypeVar("T")
R = TypeVar("R")


class LlmAnswerError(DataError):
    """The model's answer is not valid JSON, breaks the schema, or states what the text does not say."""


class ChatModel(Protocol):
    """A chat model asked for one JSON object.

    ``complete_json`` sends a system and a user message and returns the raw text of the answer (which may still
    be malformed: callers validate it). Implementations raise :class:`~tsbot.core.errors.TemporaryError` when
    the endpoint times out or answers 429/5xx after their retries, :class:`~tsbot.core.errors.OperationalError`
    on other refusals (bad key, unknown model) and :class:`LlmAnswerError` on a malformed response envelope.
    """

    async def complete_json(self, system: str, user: str) -> str: ...


class _Confident(Protocol):
    confidence: float


C = TypeVar("C", bound=_Confident)


# --- numbers written in a text -------------------------------------------------------------------------------

_NUMBER = re.compile(r"\d[\d,]*(?:\.\d+)?|\.\d+")
_THOUSANDS = re.compile(r"\d{1,3}(?:,\d{3})+(?:\.\d+)?")


def numbers_in_text(text: str) -> frozenset[Decimal]:
    """Every number written in ``text``, as :class:`~decimal.Decimal` values (sign ignored).

    Commas in groups of three digits are thousands separators (``52,000`` -> 52000); other commas separate
    numbers (``0.11,0.12`` -> 0.11 and 0.12). A number directly followed by ``k`` or ``K`` also counts
    multiplied by 1000 (``52K`` -> 52 and 52000).
    """
    found: set[Decimal] = set()
    for match in _NUMBER.finditer(text):
        token = match.group(0).rstrip(",")
        parts = [token.replace(",", "")] if _THOUSANDS.fullmatch(token) else token.split(",")
        values = [Decimal(p) for p in parts if p.strip(".")]
        found.update(values)
        if values and text[match.end() : match.end() + 1] in ("k", "K"):
            found.add(values[-1] * 1000)
    return frozenset(found)


def _check_numbers(values: Iterable[tuple[str, Decimal]], text: str) -> None:
    written = numbers_in_text(text)
    missing = [f"{name}={value}" for name, value in values if abs(value) not in written]
    if missing:
        raise LlmAnswerError(f"answer gives numbers the text does not contain: {', '.join(missing)}")


# --- the strict answer schema --------------------------------------------------------------------------------


def _json_number(value: Any) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, int | Decimal):
        raise ValueError(f"must be a JSON number, not {type(value).__name__}")
    return to_decimal(value)


def _positive(value: Decimal) -> Decimal:
    if value <= 0:
        raise ValueError("must be greater than 0")
    return value


def _leverage(value: Decimal) -> Decimal:
    if not Decimal(1) <= value <= Decimal(250):
        raise ValueError("must be between 1 and 250")
    return value


_SYMBOL = re.compile(r"[A-Z0-9]{1,20}(?:/[A-Z0-9]{1,10})?")


def _symbol(value: str) -> str:
    if not _SYMBOL.fullmatch(value):
        raise ValueError("must be BASE/QUOTE or BASE in upper-case letters and digits")
    return value


Number = Annotated[Decimal, BeforeValidator(_json_number)]
Price = Annotated[Decimal, BeforeValidator(_json_number), AfterValidator(_positive)]
Leverage = Annotated[Decimal, BeforeValidator(_json_number), AfterValidator(_leverage)]
Symbol = Annotated[StrictStr, AfterValidator(_symbol)]
_ENTRY_COUNTS = {EntryKind.MARKET: (0, 0), EntryKind.SINGLE: (1, 1), EntryKind.ZONE: (2, 2)}


class _SignalAnswer(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    symbol: Symbol
    side: Side
    entry: list[Price]
    entry_kind: EntryKind
    targets: list[Price] = Field(max_length=30)
    stop: Price | None
    leverage: Leverage | None
    margin: MarginMode | None
    exchanges: list[StrictStr] = Field(max_length=20)

    @model_validator(mode="after")
    def _entry_matches_kind(self) -> _SignalAnswer:
        low, high = _ENTRY_COUNTS.get(self.entry_kind, (2, 20))
        if not low <= len(self.entry) <= high:
            raise ValueError(
                f"entry_kind {self.entry_kind.value!r} cannot have {len(self.entry)} entry prices"
            )
        return self


class _UpdateAnswer(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    symbol: Symbol | None
    event: UpdateEvent
    target_index: Annotated[StrictInt, Field(ge=1, le=50)] | None
    price: Price | None
    profit_pct: Number | None
    period: StrictStr | None


class _PostAnswer(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: PostKind
    signal: _SignalAnswer | None
    update: _UpdateAnswer | None

    @model_validator(mode="after")
    def _kind_matches_content(self) -> _PostAnswer:
        if (self.signal is not None) != (self.kind is PostKind.SIGNAL):
            raise ValueError(
                f"kind {self.kind.value!r} requires signal to be {_set_or_null(PostKind.SIGNAL, self)}"
            )
        if (self.update is not None) != (self.kind is PostKind.UPDATE):
            raise ValueError(
                f"kind {self.kind.value!r} requires update to be {_set_or_null(PostKind.UPDATE, self)}"
            )
        return self


def _set_or_null(kind: PostKind, answer: _PostAnswer) -> str:
    return "an object" if answer.kind is kind else "null"


def _describe(exc: ValidationError) -> str:
    parts = []
    for error in exc.errors(include_url=False):
        where = ".".join(str(p) for p in error.get("loc", ())) or "answer"
        parts.append(f"{where}: {error.get('msg', 'invalid')} (got {error.get('input')!r})")
    return "; ".join(parts)


_FENCE = re.compile(r"^```[a-zA-Z]*\s*\n?(.*?)\n?\s*```$", re.DOTALL)


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a finite number")


def decode_answer(raw: str) -> dict[str, Any]:
    """The JSON object in a model's answer, with every non-integer number as an exact ``Decimal``.

    A surrounding Markdown code fence (```` ```json ... ``` ````) is removed first.

    Raises
    ------
    LlmAnswerError
        The answer is empty, too long, not JSON, uses ``NaN``/``Infinity``, or is not a JSON object.
    """
    text = raw.strip()
    if len(text) > MAX_ANSWER_CHARS:
        raise LlmAnswerError(f"answer is {len(text)} characters long; at most {MAX_ANSWER_CHARS} are read")
    if fenced := _FENCE.match(text):
        text = fenced.group(1).strip()
    if not text:
        raise LlmAnswerError("answer is empty")
    try:
        data = json.loads(text, parse_float=Decimal, parse_constant=_reject_constant)
    except ValueError as exc:
        raise LlmAnswerError(f"answer is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise LlmAnswerError(f"answer must be a JSON object, not {type(data).__name__}")
    return data


# --- posts ---------------------------------------------------------------------------------------------------

_EVENTS = " | ".join(f'"{e.value}"' for e in UpdateEvent)

POST_SYSTEM_PROMPT = f"""You read one post from a crypto trading-signal channel and answer with exactly one JSON \
object, nothing else.

Answer shape (every key is required, no other keys):
{{"kind": "signal" | "update" | "other", "signal": SIGNAL or null, "update": UPDATE or null}}
"signal" is an object only when kind is "signal"; "update" is an object only when kind is "update"; when kind \
is "other" both are null.

SIGNAL, a new trade:
{{"symbol": string, "side": "long" | "short", "entry": [number, ...], \
"entry_kind": "zone" | "list" | "single" | "market", "targets": [number, ...], "stop": number or null, \
"leverage": number or null, "margin": "cross" | "isolated" or null, "exchanges": [string, ...]}}

UPDATE, a follow-up on an earlier trade:
{{"symbol": string or null, "event": {_EVENTS}, "target_index": integer >= 1 or null, \
"price": number or null, "profit_pct": number or null, "period": string or null}}

Conventions:
- symbol: BASE/QUOTE in upper case ("BTC/USDT", "1000PEPE/USDT"); the base alone when the post names no quote; \
null in an update that does not name it.
- side: "long" for buys (spot buys too), "short" for sells.
- entry: entry prices in the order written, never sorted. entry_kind "zone": two prices spanning a range; \
"list": two or more separate prices; "single": one price; "market": enter now, and then entry is [].
- targets: take-profit prices in the order written, duplicates kept.
- stop: the stop-loss price; null when the post gives none or only a percentage.
- leverage: the multiple (20 for "20x"); the upper value of a range ("10x-20x" gives 20); null when not given.
- exchanges: exchange names as written ("Binance Futures").
- target_index: 1-based number of the entry (entry_filled) or take-profit target (target_hit), else null.
- price: the price an update reports (average entry, exit), else null.
- profit_pct: profit in percent as reported; a loss is negative.
- period: time since the signal as written ("1 Days 20 Hours 53 Minutes"), else null.
- Numbers are JSON numbers, not strings, copied from the post without thousands separators ("52K" is 52000). \
Never compute, round or invent a number: use null or [] for what the post does not say.
- A post that is neither a trade nor a follow-up (news, ads, chat) is kind "other"."""


def _post_numbers(answer: _PostAnswer) -> list[tuple[str, Decimal]]:
    values: list[tuple[str, Decimal]] = []
    if (s := answer.signal) is not None:
        values += [(f"entry[{i}]", v) for i, v in enumerate(s.entry)]
        values += [(f"targets[{i}]", v) for i, v in enumerate(s.targets)]
        values += [(name, v) for name, v in (("stop", s.stop), ("leverage", s.leverage)) if v is not None]
    if (u := answer.update) is not None:
        values += [
            (name, v) for name, v in (("price", u.price), ("profit_pct", u.profit_pct)) if v is not None
        ]
    return values


def _check_symbol(symbol: str | None, text: str) -> None:
    if symbol is None:
        return
    upper = text.upper()
    missing = [part for part in symbol.split("/") if part not in upper]
    if missing:
        raise LlmAnswerError(
            f"answer names symbol {symbol!r} but the text does not contain {', '.join(missing)}"
        )


class LlmPostReader:
    """Reads one signal post through a :class:`ChatModel` and checks the answer against the post.

    Parameters
    ----------
    model:
        The chat model.
    confidence:
        Confidence given to a reading that passes every check; at most :data:`LLM_CONFIDENCE_CAP`.
    """

    def __init__(self, model: ChatModel, confidence: float = LLM_CONFIDENCE_CAP) -> None:
        self._model = model
        self._confidence = max(0.0, min(confidence, LLM_CONFIDENCE_CAP))

    async def read_post(self, text: str) -> ParsedPost:
        """The model's reading of ``text`` as a :class:`ParsedPost` (prices as exact decimals).

        Raises
        ------
        LlmAnswerError
            The answer is not JSON, breaks the schema, or gives a number or symbol the post does not contain.
        TemporaryError, OperationalError
            From the model (timeouts and 5xx after retries; refusals such as a bad key).
        """
        raw = await self._model.complete_json(POST_SYSTEM_PROMPT, f"Post:\n{text}")
        try:
            answer = _PostAnswer.model_validate(decode_answer(raw))
        except ValidationError as exc:
            raise LlmAnswerError(f"answer breaks the post schema: {_describe(exc)}") from None
        _check_numbers(_post_numbers(answer), text)
        _check_symbol(
            answer.signal.symbol if answer.signal else answer.update.symbol if answer.update else None, text
        )
        return ParsedPost(
            kind=answer.kind,
            signal=_intent(answer.signal) if answer.signal else None,
            update=_update(answer.update) if answer.update else None,
            confidence=self._confidence,
            notes=("read by the language model; every number checked against the post",),
        )


def _intent(s: _SignalAnswer) -> TradeIntent:
    return TradeIntent(
        symbol=s.symbol,
        side=s.side,
        entry=tuple(s.entry),
        entry_kind=s.entry_kind,
        targets=tuple(s.targets),
        stop=s.stop,
        leverage=s.leverage,
        margin=s.margin,
        exchanges=tuple(s.exchanges),
    )


def _update(u: _UpdateAnswer) -> SignalUpdate:
    return SignalUpdate(
        symbol=u.symbol,
        event=u.event,
        target_index=u.target_index,
        price=u.price,
        profit_pct=u.profit_pct,
        period=u.period,
    )


def _with_note(result: R, note: str) -> R:
    """``result`` with ``note`` appended to its ``notes`` when it is a dataclass that has them."""
    if dataclasses.is_dataclass(result) and not isinstance(result, type):
        notes = getattr(result, "notes", None)
        if isinstance(notes, tuple):
            return dataclasses.replace(result, notes=(*notes, note))  # type: ignore[type-var]
    return result


async def _fallback(kind: str, rule: R, confidence: float, read: Callable[[], Any]) -> Any:
    try:
        reading = await read()
    except (LlmAnswerError, TemporaryError, OperationalError) as exc:
        level = (
            log.error if isinstance(exc, OperationalError) and not isinstance(exc, DataError) else log.warning
        )
        level(
            "llm_fallback_failed",
            kind=kind,
            error=type(exc).__name__,
            reason=str(exc),
            rule_confidence=confidence,
        )
        return _with_note(rule, f"language-model fallback not used ({type(exc).__name__}): {exc}")
    log.info("llm_fallback_used", kind=kind, rule_confidence=confidence)
    return reading


class FallbackPostParser:
    """The rule parser first; the language model only for posts the rules rate below ``min_confidence``.

    Parameters
    ----------
    parse:
        The rule parser, ``str -> ParsedPost`` (normally :func:`tsbot.intake.posts.parse`).
    reader:
        The model reader; ``None`` switches the fallback off.
    min_confidence:
        Rule readings with a confidence at or above this (in [0, 1]) are returned as they are.
    """

    def __init__(
        self, parse: Callable[[str], ParsedPost], reader: LlmPostReader | None, min_confidence: float
    ) -> None:
        self._parse = parse
        self._reader = reader
        self._min_confidence = min_confidence

    async def parse(self, text: str) -> ParsedPost:
        """The best checked reading of ``text``.

        When the model fails (invalid answer, timeout, 5xx after retries, refusal) the rule reading is returned
        with one more note saying why; the failure is logged as ``llm_fallback_failed``. Exceptions of the rule
        parser propagate.
        """
        rule = self._parse(text)
        if self._reader is None or rule.confidence >= self._min_confidence:
            return rule
        reader = self._reader
        result: ParsedPost = await _fallback("post", rule, rule.confidence, lambda: reader.read_post(text))
        return result


# --- typed commands ------------------------------------------------------------------------------------------

COMMAND_SYSTEM_PROMPT = """You turn one trading command a user typed into exactly one JSON object, nothing else.

The object must follow this schema:
{schema}

Rules: use only the keys the schema names; numbers are JSON numbers, not strings, copied from the command as \
written; never compute, round or invent a value: use null for what the command does not say."""


def _numbers_in(value: Any, path: str = "") -> list[tuple[str, Decimal]]:
    if isinstance(value, bool) or value is None:
        return []
    if isinstance(value, int | Decimal):
        return [(path or "answer", Decimal(value))]
    if isinstance(value, dict):
        return [n for k, v in value.items() for n in _numbers_in(v, f"{path}.{k}" if path else str(k))]
    if isinstance(value, list):
        return [n for i, v in enumerate(value) for n in _numbers_in(v, f"{path}[{i}]")]
    return []


class LlmCommandReader:
    """Reads one typed command through a :class:`ChatModel` into the caller's command type.

    Parameters
    ----------
    model:
        The chat model.
    check_numbers:
        Refuse answers holding a number the command text does not contain (default); switch off only for
        schemas whose numbers are codes rather than amounts.
    """

    def __init__(self, model: ChatModel, *, check_numbers: bool = True) -> None:
        self._model = model
        self._check_numbers = check_numbers

    async def read_command(self, text: str, validate: Callable[[dict[str, Any]], T], schema: str) -> T:
        """The command the model reads in ``text``, built by ``validate`` from the decoded JSON object.

        ``schema`` is the command's JSON schema (or a precise description) as text; it goes into the system
        prompt. ``validate`` gets a dict whose non-integer numbers are ``Decimal``; it raises ``ValueError``
        (also ``KeyError``/``TypeError``) on bad data.

        Raises
        ------
        LlmAnswerError
            The answer is not a JSON object, holds a number the text does not contain, or ``validate`` refused it.
        TemporaryError, OperationalError
            From the model.
        """
        raw = await self._model.complete_json(
            COMMAND_SYSTEM_PROMPT.format(schema=schema), f"Command:\n{text}"
        )
        data = decode_answer(raw)
        if self._check_numbers:
            _check_numbers(_numbers_in(data), text)
        try:
            return validate(data)
        except (ValueError, KeyError, TypeError) as exc:
            raise LlmAnswerError(f"answer breaks the command schema: {exc}") from None


class FallbackCommandParser(Generic[C, T]):
    """The rule command parser first; the language model only below ``min_confidence``.

    Parameters
    ----------
    parse:
        The rule parser; its result has a ``confidence`` in [0, 1].
    reader:
        The model reader; ``None`` switches the fallback off.
    validate:
        Builds the command from the model's JSON object; raises ``ValueError`` on bad data.
    schema:
        The command's JSON schema as text, given to the model.
    min_confidence:
        Rule readings at or above this confidence are returned as they are.
    """

    def __init__(
        self,
        parse: Callable[[str], C],
        reader: LlmCommandReader | None,
        validate: Callable[[dict[str, Any]], T],
        schema: str,
        min_confidence: float,
    ) -> None:
        self._parse = parse
        self._reader = reader
        self._validate = validate
        self._schema = schema
        self._min_confidence = min_confidence

    async def parse(self, text: str) -> C | T:
        """The rule reading when confident enough or when the model fails (logged, and noted when the result
        is a dataclass with ``notes``); otherwise the model's validated reading."""
        rule = self._parse(text)
        if self._reader is None or rule.confidence >= self._min_confidence:
            return rule
        reader = self._reader
        return await _fallback(
            "command", rule, rule.confidence, lambda: reader.read_command(text, self._validate, self._schema)
        )
