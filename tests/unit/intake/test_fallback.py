"""Strict reading of language-model answers, and the fallback parsers, with a scripted in-process ChatModel."""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import pytest
import structlog.testing
from hypothesis import given
from hypothesis import strategies as st

from tsbot.core.errors import DataError, OperationalError, TemporaryError
from tsbot.intake.fallback import (
    LLM_CONFIDENCE_CAP,
    POST_SYSTEM_PROMPT,
    FallbackCommandParser,
    FallbackPostParser,
    LlmAnswerError,
    LlmCommandReader,
    LlmPostReader,
    decode_answer,
    numbers_in_text,
)
from tsbot.intake.models import (
    EntryKind,
    MarginMode,
    ParsedPost,
    PostKind,
    Side,
    SignalUpdate,
    TradeIntent,
    UpdateEvent,
)

SIGNAL_POST = """#BTC/USDT LONG
Entry: 52,000 - 52,500
Targets: 53K, 54000, 55,500.5
Stop loss: 50000
Leverage: Cross 10x-20x
Exchange: Binance Futures"""

SIGNAL_ANSWER: dict[str, Any] = {
    "kind": "signal",
    "signal": {
        "symbol": "BTC/USDT",
        "side": "long",
        "entry": [52000, 52500],
        "entry_kind": "zone",
        "targets": [53000, 54000, 55500.5],
        "stop": 50000,
        "leverage": 20,
        "margin": "cross",
        "exchanges": ["Binance Futures"],
    },
    "update": None,
}

UPDATE_POST = "#ETH/USDT Take-Profit target 2 ✅\nProfit: 45.5% 📈\nPeriod: 1 Days 20 Hours"

UPDATE_ANSWER: dict[str, Any] = {
    "kind": "update",
    "signal": None,
    "update": {
        "symbol": "ETH/USDT",
        "event": "target_hit",
        "target_index": 2,
        "price": None,
        "profit_pct": 45.5,
        "period": "1 Days 20 Hours",
    },
}


@dataclass
class ScriptedModel:
    """A ChatModel that returns (or raises) scripted answers in order and records what it was asked."""

    answers: list[str | Exception]
    calls: list[tuple[str, str]] = field(default_factory=list)

    async def complete_json(self, system: str, user: str) -> str:
        self.calls.append((system, user))
        item = self.answers.pop(0)
        if isinstance(item, Exception):
            raise item
        return item


def changed(base: dict[str, Any], path: str, value: Any) -> str:
    """JSON of ``base`` with the value at dotted ``path`` replaced (``...`` deletes the key)."""
    data = copy.deepcopy(base)
    *parents, last = path.split(".")
    node = data
    for key in parents:
        node = node[key]
    if value is ...:
        del node[last]
    else:
        node[last] = value
    return json.dumps(data)


async def read(text: str, answer: str) -> ParsedPost:
    return await LlmPostReader(ScriptedModel([answer])).read_post(text)


# --- valid answers -------------------------------------------------------------------------------------------


async def test_valid_signal_answer_becomes_exact_trade_intent() -> None:
    model = ScriptedModel([json.dumps(SIGNAL_ANSWER)])
    post = await LlmPostReader(model).read_post(SIGNAL_POST)
    assert post.kind is PostKind.SIGNAL and post.update is None
    assert post.signal == TradeIntent(
        symbol="BTC/USDT",
        side=Side.LONG,
        entry=(Decimal("52000"), Decimal("52500")),
        entry_kind=EntryKind.ZONE,
        targets=(Decimal("53000"), Decimal("54000"), Decimal("55500.5")),
        stop=Decimal("50000"),
        leverage=Decimal("20"),
        margin=MarginMode.CROSS,
        exchanges=("Binance Futures",),
    )
    assert str(post.signal.targets[2]) == "55500.5"  # exact decimal, not a float's repr
    assert post.confidence == LLM_CONFIDENCE_CAP
    assert post.notes
    system, user = model.calls[0]
    assert SIGNAL_POST in user
    assert system == POST_SYSTEM_PROMPT


async def test_valid_update_answer_becomes_signal_update() -> None:
    post = await read(UPDATE_POST, json.dumps(UPDATE_ANSWER))
    assert post.kind is PostKind.UPDATE and post.signal is None
    assert post.update == SignalUpdate(
        symbol="ETH/USDT",
        event=UpdateEvent.TARGET_HIT,
        target_index=2,
        profit_pct=Decimal("45.5"),
        period="1 Days 20 Hours",
    )


async def test_loss_is_negative_profit_of_a_number_written_without_sign() -> None:
    text = "SOL/USDT stopped out, loss 12.5%"
    answer = {"kind": "update", "signal": None, "update": {"symbol": "SOL/USDT", "event": "stop_hit",
              "target_index": None, "price": None, "profit_pct": -12.5, "period": None}}  # fmt: skip
    post = await read(text, json.dumps(answer))
    assert post.update is not None and post.update.profit_pct == Decimal("-12.5")


async def test_other_post_and_market_entry() -> None:
    other = await read("gm everyone, big week ahead", '{"kind": "other", "signal": null, "update": null}')
    assert other.kind is PostKind.OTHER and other.signal is None and other.update is None
    text = "Short DOGE now at market, stop 0.2"
    answer = {"kind": "signal", "update": None, "signal": {"symbol": "DOGE", "side": "short", "entry": [],
              "entry_kind": "market", "targets": [], "stop": 0.2, "leverage": None, "margin": None,
              "exchanges": []}}  # fmt: skip
    market = await read(text, json.dumps(answer))
    assert market.signal is not None and market.signal.entry == () and market.signal.stop == Decimal("0.2")


@pytest.mark.parametrize(
    "fenced",
    [
        "```json\n" + json.dumps(UPDATE_ANSWER) + "\n```",
        "```\n" + json.dumps(UPDATE_ANSWER) + "\n```",
        "  ```JSON " + json.dumps(UPDATE_ANSWER) + "```  ",
    ],
)
async def test_fenced_answer_is_unwrapped(fenced: str) -> None:
    post = await read(UPDATE_POST, fenced)
    assert post.update is not None and post.update.target_index == 2


async def test_confidence_is_capped() -> None:
    reader = LlmPostReader(ScriptedModel([json.dumps(UPDATE_ANSWER)]), confidence=0.99)
    assert (await reader.read_post(UPDATE_POST)).confidence == LLM_CONFIDENCE_CAP


def test_system_prompt_states_schema_and_conventions() -> None:
    for key in ("symbol", "side", "entry", "entry_kind", "targets", "stop", "leverage", "margin", "exchanges",
                "event", "target_index", "price", "profit_pct", "period"):  # fmt: skip
        assert f'"{key}"' in POST_SYSTEM_PROMPT
    for event in UpdateEvent:
        assert f'"{event.value}"' in POST_SYSTEM_PROMPT
    for convention in ("BASE/QUOTE", "order written", "entry is []", "only a percentage", "loss is negative"):
        assert convention in POST_SYSTEM_PROMPT


# --- invalid answers -----------------------------------------------------------------------------------------

BAD_SIGNAL_ANSWERS = {
    "not JSON": "Sure! Here is the JSON: {kind: signal}",
    "truncated JSON": json.dumps(SIGNAL_ANSWER)[:-10],
    "empty answer": "   ",
    "a JSON list, not an object": "[1, 2]",
    "NaN stop": json.dumps(SIGNAL_ANSWER).replace('"stop": 50000', '"stop": NaN'),
    "Infinity target": json.dumps(SIGNAL_ANSWER).replace("54000", "Infinity"),
    "extra top-level key": changed(SIGNAL_ANSWER, "confidence", 0.9),
    "extra signal key": changed(SIGNAL_ANSWER, "signal.quantity", 1),
    "missing key margin": changed(SIGNAL_ANSWER, "signal.margin", ...),
    "unknown side 'buy'": changed(SIGNAL_ANSWER, "signal.side", "buy"),
    "side in capitals": changed(SIGNAL_ANSWER, "signal.side", "LONG"),
    "unknown entry_kind": changed(SIGNAL_ANSWER, "signal.entry_kind", "range"),
    "unknown margin": changed(SIGNAL_ANSWER, "signal.margin", "portfolio"),
    "unknown kind 'news'": changed(SIGNAL_ANSWER, "kind", "news"),
    "price as string": changed(SIGNAL_ANSWER, "signal.stop", "50000"),
    "price as boolean": changed(SIGNAL_ANSWER, "signal.stop", True),
    "zero stop": changed(SIGNAL_ANSWER, "signal.stop", 0),
    "negative entry": changed(SIGNAL_ANSWER, "signal.entry", [-52000, 52500]),
    "leverage 0": changed(SIGNAL_ANSWER, "signal.leverage", 0),
    "leverage 300": changed(SIGNAL_ANSWER, "signal.leverage", 300),
    "lower-case symbol": changed(SIGNAL_ANSWER, "signal.symbol", "btc/usdt"),
    "symbol with spaces": changed(SIGNAL_ANSWER, "signal.symbol", "BTC / USDT"),
    "symbol as number": changed(SIGNAL_ANSWER, "signal.symbol", 42),
    "exchange as number": changed(SIGNAL_ANSWER, "signal.exchanges", [1]),
    "kind signal without signal": changed(SIGNAL_ANSWER, "signal", None),
    "kind signal with an update too": changed(SIGNAL_ANSWER, "update", UPDATE_ANSWER["update"]),
    "kind update with a signal": changed(SIGNAL_ANSWER, "kind", "update"),
    "kind other with a signal": changed(SIGNAL_ANSWER, "kind", "other"),
    "zone with three prices": changed(SIGNAL_ANSWER, "signal.entry", [52000, 52500, 53000]),
    "market with an entry price": changed(SIGNAL_ANSWER, "signal.entry_kind", "market"),
    "single with two prices": changed(SIGNAL_ANSWER, "signal.entry_kind", "single"),
    "entry not a list": changed(SIGNAL_ANSWER, "signal.entry", 52000),
}


@pytest.mark.parametrize("bad", BAD_SIGNAL_ANSWERS.values(), ids=BAD_SIGNAL_ANSWERS.keys())
async def test_invalid_signal_answer_is_rejected(bad: str) -> None:
    with pytest.raises(LlmAnswerError) as caught:
        await read(SIGNAL_POST, bad)
    assert isinstance(caught.value, DataError)
    assert str(caught.value)


BAD_UPDATE_ANSWERS = {
    "target_index 0": changed(UPDATE_ANSWER, "update.target_index", 0),
    "target_index as float": changed(UPDATE_ANSWER, "update.target_index", 2.0),
    "target_index as string": changed(UPDATE_ANSWER, "update.target_index", "2"),
    "unknown event 'tp_hit'": changed(UPDATE_ANSWER, "update.event", "tp_hit"),
    "period as number": changed(UPDATE_ANSWER, "update.period", 44),
    "negative price": changed(UPDATE_ANSWER, "update.price", -3),
    "profit_pct as string": changed(UPDATE_ANSWER, "update.profit_pct", "45.5%"),
    "kind signal with an update": changed(UPDATE_ANSWER, "kind", "signal"),
}


@pytest.mark.parametrize("bad", BAD_UPDATE_ANSWERS.values(), ids=BAD_UPDATE_ANSWERS.keys())
async def test_invalid_update_answer_is_rejected(bad: str) -> None:
    with pytest.raises(LlmAnswerError):
        await read(UPDATE_POST, bad)


async def test_error_message_names_the_field_and_the_value() -> None:
    bad = changed(SIGNAL_ANSWER, "signal.side", "buy")
    with pytest.raises(LlmAnswerError, match=r"signal\.side.*'buy'"):
        await read(SIGNAL_POST, bad)


# --- the answer may only say what the post says ---------------------------------------------------------------

NOT_IN_POST = {
    "invented stop": ("signal.stop", 49000),
    "rounded target": ("signal.targets", [53000, 54000, 55500]),
    "computed leverage": ("signal.leverage", 15),
    "entry scaled by 1000 without K": ("signal.entry", [52000000, 52500]),
    "symbol the post does not name": ("signal.symbol", "ETH/USDT"),
    "quote the post does not name": ("signal.symbol", "BTC/USDC"),
}


@pytest.mark.parametrize(("path", "value"), NOT_IN_POST.values(), ids=NOT_IN_POST.keys())
async def test_value_absent_from_post_is_rejected(path: str, value: Any) -> None:
    with pytest.raises(LlmAnswerError, match="text does not contain"):
        await read(SIGNAL_POST, changed(SIGNAL_ANSWER, path, value))


async def test_update_profit_absent_from_post_is_rejected() -> None:
    with pytest.raises(LlmAnswerError, match="profit_pct=46"):
        await read(UPDATE_POST, changed(UPDATE_ANSWER, "update.profit_pct", 46))


def test_numbers_in_text_reads_separators_and_k() -> None:
    found = numbers_in_text("Entry 52,000-52,500.5 TP 53K 54.5k; list 0.11,0.12 lev 20x #1000PEPE")
    for value in ("52000", "52500.5", "53", "53000", "54.5", "54500", "0.11", "0.12", "20", "1000"):
        assert Decimal(value) in found, value
    assert numbers_in_text("no numbers here, only BTC") == frozenset()
    # A thousands-separated number is one number, not its groups.
    assert numbers_in_text("stop 52,000") == {Decimal(52000)}


@given(st.decimals(min_value=Decimal("0.00000001"), max_value=Decimal("10000000"), places=8))
def test_any_price_written_with_thousands_separators_is_found(price: Decimal) -> None:
    written = f"Entry: {price:,f} USDT"
    assert price in numbers_in_text(written)


def test_decode_answer_keeps_decimals_exact() -> None:
    data = decode_answer('```json\n{"a": 0.1, "b": 3, "c": 1e-7}\n```')
    assert data == {"a": Decimal("0.1"), "b": 3, "c": Decimal("1e-7")}
    assert isinstance(data["b"], int)


# --- FallbackPostParser --------------------------------------------------------------------------------------

RULE_READING = ParsedPost(kind=PostKind.OTHER, confidence=0.3, notes=("no entry found",))


async def test_confident_rule_reading_never_asks_the_model() -> None:
    model = ScriptedModel([])
    confident = ParsedPost(kind=PostKind.OTHER, confidence=0.9)
    parser = FallbackPostParser(lambda text: confident, LlmPostReader(model), min_confidence=0.6)
    assert await parser.parse(SIGNAL_POST) is confident
    assert model.calls == []


async def test_unsure_rule_reading_is_replaced_by_a_valid_model_reading() -> None:
    model = ScriptedModel([json.dumps(SIGNAL_ANSWER)])
    parser = FallbackPostParser(lambda text: RULE_READING, LlmPostReader(model), min_confidence=0.6)
    post = await parser.parse(SIGNAL_POST)
    assert post.kind is PostKind.SIGNAL and post.signal is not None and post.signal.leverage == Decimal(20)
    assert len(model.calls) == 1


@pytest.mark.parametrize(
    "failure",
    [
        "not json at all",
        changed(SIGNAL_ANSWER, "signal.stop", 49000),
        TemporaryError("chat endpoint timed out"),
        OperationalError("chat endpoint refused the request with HTTP 401"),
    ],
    ids=["invalid JSON", "price not in post", "timeout", "HTTP 401"],
)
async def test_model_failure_keeps_the_rule_reading_and_says_why(failure: str | Exception) -> None:
    parser = FallbackPostParser(lambda text: RULE_READING, LlmPostReader(ScriptedModel([failure])), 0.6)
    post = await parser.parse(SIGNAL_POST)
    assert post.kind is RULE_READING.kind and post.confidence == RULE_READING.confidence
    assert post.notes[:-1] == RULE_READING.notes
    assert "language-model fallback not used" in post.notes[-1]


async def test_model_failure_is_logged_with_its_reason() -> None:
    parser = FallbackPostParser(lambda text: RULE_READING, LlmPostReader(ScriptedModel(["[]"])), 0.6)
    with structlog.testing.capture_logs() as logs:
        await parser.parse(SIGNAL_POST)
    (event,) = [e for e in logs if e["event"] == "llm_fallback_failed"]
    assert event["log_level"] == "warning" and event["error"] == "LlmAnswerError"
    assert "JSON object" in event["reason"] and event["rule_confidence"] == 0.3


async def test_without_reader_the_rule_reading_is_returned() -> None:
    parser = FallbackPostParser(lambda text: RULE_READING, None, 0.6)
    assert await parser.parse("anything") is RULE_READING


# --- commands ------------------------------------------------------------------------------------------------

COMMAND_SCHEMA = '{"action": "buy" | "sell", "symbol": string, "quantity": number, "price": number | null}'


@dataclass(frozen=True)
class Order:
    action: str
    symbol: str
    quantity: Decimal
    price: Decimal | None
    confidence: float = 1.0
    notes: tuple[str, ...] = ()

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Order:
        if set(data) != {"action", "symbol", "quantity", "price"} or data["action"] not in ("buy", "sell"):
            raise ValueError(f"not an order: {data}")
        price = data["price"]
        return cls(
            data["action"], data["symbol"], Decimal(data["quantity"]), None if price is None else price
        )


async def test_command_reader_validates_and_sends_the_schema() -> None:
    model = ScriptedModel(['{"action": "buy", "symbol": "BTC/USDT", "quantity": 0.1, "price": null}'])
    order = await LlmCommandReader(model).read_command(
        "buy 0.1 btc at market", Order.from_dict, COMMAND_SCHEMA
    )
    assert order == Order("buy", "BTC/USDT", Decimal("0.1"), None)
    assert COMMAND_SCHEMA in model.calls[0][0]
    assert "buy 0.1 btc at market" in model.calls[0][1]


@pytest.mark.parametrize(
    "bad",
    [
        '{"action": "hold", "symbol": "BTC/USDT", "quantity": 0.1, "price": null}',  # validate's ValueError
        '{"action": "buy", "symbol": "BTC/USDT", "quantity": 1.5, "price": null}',  # quantity not in text
        '["buy"]',  # not an object
        "buy it",  # not JSON
    ],
    ids=["rejected by validate", "number not in text", "JSON list", "not JSON"],
)
async def test_command_reader_rejects_bad_answers(bad: str) -> None:
    with pytest.raises(LlmAnswerError):
        await LlmCommandReader(ScriptedModel([bad])).read_command(
            "buy 0.1 btc", Order.from_dict, COMMAND_SCHEMA
        )


async def test_fallback_command_parser_uses_model_only_when_rules_are_unsure() -> None:
    unsure = Order("buy", "?", Decimal(0), None, confidence=0.2, notes=("symbol unknown",))
    good = '{"action": "sell", "symbol": "ETH/USDT", "quantity": 2, "price": 3100}'
    model = ScriptedModel([good, "nonsense"])
    parser = FallbackCommandParser(
        lambda text: unsure, LlmCommandReader(model), Order.from_dict, COMMAND_SCHEMA, 0.6
    )
    assert await parser.parse("sell 2 eth at 3100") == Order("sell", "ETH/USDT", Decimal(2), 3100)
    kept = await parser.parse("sell 2 eth at 3100")
    assert kept.confidence == 0.2 and kept.notes[0] == "symbol unknown" and len(kept.notes) == 2


async def test_fallback_command_parser_keeps_a_confident_rule_reading() -> None:
    sure = Order("buy", "BTC/USDT", Decimal("0.1"), None, confidence=0.95)
    model = ScriptedModel([])
    parser = FallbackCommandParser(
        lambda text: sure, LlmCommandReader(model), Order.from_dict, COMMAND_SCHEMA, 0.6
    )
    assert await parser.parse("buy 0.1 btc") is sure
    assert model.calls == []
