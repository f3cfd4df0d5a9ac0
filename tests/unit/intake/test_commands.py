"""Typed commands: the labelled set in tests/data/commands.jsonl, the bad inputs, and Command's strict checks."""

from __future__ import annotations

import json
import random
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tsbot.intake.commands import (
    ALL_ORDERS,
    HELP_HINT,
    MAX_COMMAND_CHARS,
    TRADING_INTENTS,
    AlertDirection,
    AmountKind,
    Command,
    CommandIntent,
    OrderType,
    command_json_schema,
    parse_command,
)
from tsbot.intake.models import dumps, to_decimal

DATA = Path(__file__).resolve().parents[2] / "data" / "commands.jsonl"
ROWS: list[dict[str, Any]] = [
    json.loads(line) for line in DATA.read_text(encoding="utf-8").splitlines() if line
]


def _same(expected: Any, got: Any) -> bool:
    if expected is None or got is None:
        return expected is None and got is None
    if isinstance(expected, int | float) and not isinstance(expected, bool):
        return to_decimal(expected) == got
    return str(expected) == str(got)


def _entities_match(row: dict[str, Any], command: Command) -> bool:
    """Every labelled entity equal, and a clarification exactly where the label asks for one."""
    expected = dict(row["entities"])
    wants_question = expected.pop("clarification", False)
    got = command.to_dict()
    return (
        all(_same(v, got[k]) for k, v in expected.items())
        and (command.clarification is not None) == wants_question
    )


# --- the labelled set ----------------------------------------------------------------------------------------


def test_labelled_set_is_broad() -> None:
    assert len(ROWS) >= 220
    assert len({r["text"] for r in ROWS}) == len(ROWS), "duplicate commands in the set"
    assert {r["intent"] for r in ROWS} == {i.value for i in CommandIntent}
    kinds = {r["entities"].get("amount_kind") for r in ROWS}
    assert {k.value for k in AmountKind} <= kinds
    assert sum(1 for r in ROWS if r["entities"].get("clarification")) >= 60


def test_labelled_set_accuracy() -> None:
    """Intent accuracy and entity exact match (all labelled entities plus clarification yes/no) over the set."""
    intent_hits = entity_hits = 0
    misses: list[str] = []
    for row in ROWS:
        command = parse_command(row["text"])
        intent_ok = command.intent.value == row["intent"]
        entities_ok = _entities_match(row, command)
        intent_hits += intent_ok
        entity_hits += entities_ok
        if not (intent_ok and entities_ok):
            misses.append(f"{row['text']!r}: {command.to_dict()}")
    intent_accuracy = intent_hits / len(ROWS)
    entity_exact = entity_hits / len(ROWS)
    print(
        f"\ncommands: n={len(ROWS)} intent accuracy={intent_accuracy:.3f} entity exact match={entity_exact:.3f}"
    )
    assert intent_accuracy >= 0.97, "\n".join(misses)
    assert entity_exact >= 0.93, "\n".join(misses)


def test_no_command_that_needs_a_question_is_executable() -> None:
    needing = [r for r in ROWS if r["entities"].get("clarification")]
    executable = [r["text"] for r in needing if parse_command(r["text"]).is_executable]
    assert executable == []


def test_every_labelled_command_round_trips_through_from_dict() -> None:
    for row in ROWS:
        command = parse_command(row["text"])
        assert Command.from_dict(command.to_dict()) == command, row["text"]
        assert Command.from_dict(json.loads(dumps(command.to_dict()))) == command, row["text"]


def test_parsing_is_fast_and_deterministic() -> None:
    texts = [r["text"] for r in ROWS]
    start = time.perf_counter()
    first = [parse_command(t) for t in texts]
    elapsed = time.perf_counter() - start
    assert [parse_command(t) for t in texts] == first
    assert elapsed < 1.0, f"{len(texts)} commands took {elapsed:.3f} s"


# --- what the brief promises, word for word ------------------------------------------------------------------


def test_brief_examples() -> None:
    buy = parse_command("buy 0.1 BTC at market")
    assert (buy.intent, buy.symbol, buy.amount, buy.amount_kind, buy.order_type) == (
        CommandIntent.BUY, "BTC", Decimal("0.1"), AmountKind.QUANTITY, OrderType.MARKET,
    )  # fmt: skip
    assert buy.is_executable and buy.summary() == "buy 0.1 BTC at market"
    sell = parse_command("sell $500 of ETH limit 3200")
    assert (sell.amount, sell.amount_kind, sell.amount_currency, sell.order_type, sell.price) == (
        Decimal(500), AmountKind.QUOTE, "USD", OrderType.LIMIT, Decimal(3200),
    )  # fmt: skip
    half = parse_command("close half my SOL")
    assert (half.intent, half.symbol, half.amount, half.amount_kind) == (
        CommandIntent.CLOSE_POSITION, "SOL", Decimal("0.5"), AmountKind.FRACTION,
    )  # fmt: skip
    assert parse_command("close all").intent is CommandIntent.CLOSE_ALL
    alert = parse_command("alert me when BTC crosses 70k")
    assert (alert.price, alert.direction) == (Decimal(70000), AlertDirection.CROSSES)
    assert parse_command("sell 1 ETH @ $3,200").price == Decimal(3200)
    backtest = parse_command("backtest sma_cross on ETH/USDT 1h")
    assert (backtest.strategy, backtest.symbol, backtest.timeframe) == ("sma_cross", "ETH/USDT", "1h")
    assert parse_command("long 0.5 eth x10").leverage == Decimal(10)
    assert parse_command("buy 1 sol with 5x leverage").leverage == Decimal(5)
    assert parse_command("cancel #42").order_id == "42"
    assert parse_command("cancel all orders").order_id == ALL_ORDERS


def test_missing_amount_asks_how_much() -> None:
    command = parse_command("buy BTC")
    assert command.intent is CommandIntent.BUY and command.symbol == "BTC"
    assert command.clarification == "How much BTC do you want to buy?"
    assert not command.is_executable


def test_missing_asset_asks_which() -> None:
    command = parse_command("buy 0.1")
    assert command.amount == Decimal("0.1") and command.symbol is None
    assert command.clarification == "Which asset do you want to buy 0.1 of?"
    assert not command.is_executable


def test_unknown_asset_is_named() -> None:
    """Bad input: FOO is no asset the bot knows."""
    command = parse_command("sell FOO")
    assert command.intent is CommandIntent.SELL and command.symbol is None
    assert command.clarification is not None and "FOO" in command.clarification
    assert not command.is_executable


def test_known_assets_replace_the_built_in_list() -> None:
    """Bad input: ETH outside the deployment's assets; then a ticker only the deployment knows."""
    refused = parse_command("buy 1 eth", known_assets={"BTC/USDT", "SOL"})
    assert not refused.is_executable and "ETH" in (refused.clarification or "")
    assert parse_command("buy 1 bitcoin", known_assets={"BTC/USDT"}).symbol == "BTC"
    custom = parse_command("buy 5 wxyz", known_assets={"WXYZ/USDT"})
    assert custom.symbol == "WXYZ" and custom.is_executable


def test_two_assets_in_one_order_ask_which() -> None:
    """Bad input: two symbols in one buy."""
    command = parse_command("buy BTC and ETH")
    assert command.intent is CommandIntent.BUY and command.symbol is None
    assert (
        command.clarification is not None
        and "BTC" in command.clarification
        and "ETH" in command.clarification
    )
    assert not command.is_executable


def test_buy_and_sell_together_is_not_a_trade() -> None:
    """Bad input: both directions in one message."""
    command = parse_command("buy and sell BTC")
    assert command.intent is CommandIntent.UNKNOWN and command.clarification
    assert not command.is_executable


@pytest.mark.parametrize("text", ["don't buy btc", "never sell my eth", "do not close my btc position"])
def test_negation_never_trades(text: str) -> None:
    """Bad input: an order word under a negation."""
    command = parse_command(text)
    assert command.intent is CommandIntent.UNKNOWN and not command.is_executable


@pytest.mark.parametrize("text", ["byu 0.1 btc", "sel 1 eth", "clsoe my btc", "cancle order 9"])
def test_typo_in_an_order_word_asks_for_confirmation(text: str) -> None:
    """Bad input: a misspelt trading verb; the reading is offered back, not executed."""
    command = parse_command(text)
    assert command.intent in TRADING_INTENTS
    assert command.clarification is not None and command.clarification.startswith("Did you mean: ")
    assert not command.is_executable


def test_gibberish_is_unknown_with_a_help_hint() -> None:
    """Bad input: words that are no command."""
    command = parse_command("asdkjh qwpeoiru zzkx")
    assert command.intent is CommandIntent.UNKNOWN
    assert command.clarification is not None and HELP_HINT in command.clarification


# --- hostile input -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("text", ["", "   ", "\n\t", "\u200b", "what", "how?", "please", "the"])
def test_empty_text(text: str) -> None:
    """Bad input: empty or blank text, or only words that carry no command (a question word, "please")."""
    command = parse_command(text)
    assert command.intent is CommandIntent.UNKNOWN and command.clarification
    assert not command.is_executable


def test_one_megabyte_is_fast_and_unknown() -> None:
    """Bad input: 1 MB of text, made of valid commands so that reading it would do harm."""
    text = ("buy 0.1 BTC at market " * 50_000)[: 1 << 20]
    assert len(text) == 1 << 20
    start = time.perf_counter()
    command = parse_command(text)
    assert time.perf_counter() - start < 1.0
    assert command.intent is CommandIntent.UNKNOWN and not command.is_executable
    assert command.confidence == 1.0  # certain: no model should be asked to read it


def test_longest_accepted_text_is_fast() -> None:
    """Bad input: a message at the length limit packed with numbers, tickers and command words."""
    text = ("buy 0.1 btc sl 5% tp 70k and " * 40)[:MAX_COMMAND_CHARS]
    start = time.perf_counter()
    command = parse_command(text)
    assert time.perf_counter() - start < 0.1
    assert not command.is_executable


@pytest.mark.parametrize("seed", range(20))
def test_binary_garbage(seed: int) -> None:
    """Bad input: random bytes decoded with errors="replace"."""
    rng = random.Random(seed)
    text = rng.randbytes(rng.randint(1, 400)).decode("utf-8", errors="replace")
    command = parse_command(text)
    assert command.intent is CommandIntent.UNKNOWN, (text, command)
    assert not command.is_executable


def test_text_must_be_a_string() -> None:
    """Bad input: bytes instead of text, and one string as the asset list."""
    with pytest.raises(TypeError):
        parse_command(b"buy 0.1 btc")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        parse_command("buy 0.1 btc", known_assets="BTC")


_PIECES = [
    "buy", "sell", "long", "short", "close", "all", "half", "my", "btc", "ETH", "$SOL", "FOO", "0.1", "-1", "0",
    "70k", "$500", "25%", "150%", "10x", "x500", "at", "@", "limit", "market", "stop", "sl", "tp", "of", "with",
    "usdt", "and", "or", "?", "cancel", "#42", "alert", "above", ">", "backtest", "1h", "2h", "price", "not",
    "1/2", "3,200", "0,5", "eth/usdt", "btcusdt", "\ufffd", "🚀", "for", "shares", "leverage", "breakeven", "what",
]  # fmt: skip


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(st.text(max_size=120), st.lists(st.sampled_from(_PIECES), max_size=12).map(" ".join)))
def test_any_text_gives_a_valid_command(text: str) -> None:
    """Bad input: arbitrary text and random mixes of command words; never raises, always a valid Command."""
    command = parse_command(text)
    assert Command.from_dict(command.to_dict()) == command
    assert 0.0 <= command.confidence <= 1.0
    if command.is_executable:
        assert command.intent in TRADING_INTENTS and command.clarification is None and command.is_complete


# --- Command and from_dict -----------------------------------------------------------------------------------


def _good() -> dict[str, Any]:
    return {
        "intent": "buy",
        "symbol": "BTC",
        "amount": 0.1,
        "amount_kind": "quantity",
        "order_type": "market",
    }


def test_from_dict_accepts_a_model_answer() -> None:
    command = Command.from_dict({**_good(), "symbol": "btc", "amount": "0.1", "confidence": 0.8})
    assert command.symbol == "BTC" and command.amount == Decimal("0.1") and command.is_executable
    cancel = Command.from_dict({"intent": "cancel_order", "order_id": 42})
    assert cancel.order_id == "42" and cancel.is_executable
    question = Command.from_dict({"intent": "buy", "symbol": "BTC", "clarification": "How much?"})
    assert not question.is_executable


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"intent": "teleport"}, "intent"),
        ({"intent": None}, "intent"),
        ({"amount": -1}, "positive"),
        ({"amount": 0}, "positive"),
        ({"amount": True}, "number"),
        ({"amount": "a lot"}, "number"),
        ({"amount": float("nan")}, "finite"),
        ({"amount": 1.5, "amount_kind": "fraction"}, "fraction"),
        ({"amount_kind": None}, "together"),
        ({"amount_kind": "handful"}, "amount_kind"),
        ({"price": 60000}, "market order has no price"),
        ({"order_type": "limit"}, "clarification"),
        ({"order_type": "iceberg"}, "order_type"),
        ({"symbol": None}, "clarification"),
        ({"symbol": "BTC USDT"}, "symbol"),
        ({"symbol": 7}, "string"),
        ({"leverage": 500}, "leverage"),
        ({"leverage": 0.5}, "leverage"),
        ({"direction": "above"}, "takes no direction"),
        ({"strategy": "sma_cross"}, "takes no strategy"),
        ({"amount_currency": "USD"}, "amount_currency"),
        ({"confidence": 1.5}, "confidence"),
        ({"confidence": "high"}, "confidence"),
        ({"confidence": True}, "confidence"),
        ({"clarification": "  "}, "blank"),
        ({"shoe_size": 42}, "unknown command field"),
        ({"order_type": "limit", "price": 60000, "stop_loss": 61000}, "stop-loss"),
        ({"stop_loss": 70000, "take_profit": 60000}, "stop-loss"),
    ],
)
def test_from_dict_rejects_bad_data(change: dict[str, Any], message: str) -> None:
    """Bad input: one broken field of an otherwise valid buy (named by ``change``)."""
    with pytest.raises(ValueError, match=message):
        Command.from_dict({**_good(), **change})


@pytest.mark.parametrize(
    "data",
    [
        None,
        ["buy"],
        "buy 0.1 btc",
        {},
        {"intent": "unknown"},
        {"intent": "price_alert", "symbol": "BTC", "price": 70000},
        {"intent": "backtest", "symbol": "BTC", "timeframe": "2h"},
        {"intent": "backtest", "symbol": "BTC", "strategy": "SMA Cross!"},
        {"intent": "cancel_order", "order_id": "42; DROP TABLE"},
        {"intent": "portfolio", "symbol": "BTC"},
    ],
)
def test_from_dict_rejects_bad_shapes(data: Any) -> None:
    """Bad input: not a mapping, no intent, an unknown without a question, an incomplete alert, a bad timeframe,
    strategy or order id, a field the intent does not take."""
    with pytest.raises(ValueError):
        Command.from_dict(data)


def test_commands_are_immutable_and_validated_on_construction() -> None:
    command = parse_command("buy 0.1 btc")
    with pytest.raises(AttributeError):
        command.amount = Decimal(5)  # type: ignore[misc]
    with pytest.raises(ValueError):
        Command(CommandIntent.BUY, symbol="BTC")
    with pytest.raises(ValueError):
        Command("buy", symbol="BTC", clarification="How much?")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("text", "executable"),
    [
        ("buy 0.1 btc", True),
        ("sell half my eth at 3500", True),
        ("close btc", True),
        ("flatten", True),
        ("sl btc 58k", True),
        ("cancel order 42", True),
        ("price of btc", False),
        ("alert btc > 70000", False),
        ("portfolio", False),
        ("buy 0.1 btc?", False),
        ("maybe sell 1 eth", False),
        ("buy 0.1 btc limit", False),
    ],
)
def test_is_executable(text: str, executable: bool) -> None:
    assert parse_command(text).is_executable is executable


def test_summaries() -> None:
    assert parse_command("sell 25% of my eth limit 3600").summary() == "sell 25% of my ETH, limit at 3600"
    assert parse_command("buy btc with half my usdt").summary() == "buy BTC with 50% of my USDT at market"
    assert parse_command("long 0.5 eth 10x sl 2900").summary() == (
        "buy 0.5 ETH at market with 10x leverage, stop-loss 2900"
    )
    assert parse_command("notify me if eth drops below 3000").summary() == "alert when ETH goes below 3000"
    assert parse_command("cancel my btc orders").summary() == "cancel all BTC orders"


def test_json_schema_names_every_field_and_intent() -> None:
    schema = command_json_schema()
    json.dumps(schema)
    assert set(schema["properties"]) == set(Command.__dataclass_fields__)
    assert schema["properties"]["intent"]["enum"] == [i.value for i in CommandIntent]
