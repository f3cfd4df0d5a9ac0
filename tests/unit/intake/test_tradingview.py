"""Reading TradingView alert bodies (JSON and text) as trades, and the webhook checks around them."""

from __future__ import annotations

import json
import sys
import types
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tsbot.core.errors import DataError
from tsbot.intake.models import (
    EntryKind,
    MarginMode,
    ParsedPost,
    PostKind,
    Side,
    SignalUpdate,
    TradeIntent,
    UpdateEvent,
    dumps,
)
from tsbot.intake.tradingview import AlertError, normalise_symbol, parse_alert, read_alert
from tsbot.intake.webhooks import (
    MemoryReplayGuard,
    MemoryTokenStore,
    ReplayedAlertError,
    StaleAlertError,
    UnknownTokenError,
    WebhookIntake,
    check_sent_at,
    replay_key,
    token_digest,
)

D = Decimal


@pytest.fixture
def posts_parser(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """A stand-in signal-post parser that reads nothing (and records what it was given), so these tests do not
    depend on the real one."""
    calls: list[str] = []

    def parse(text: str) -> ParsedPost:
        calls.append(text)
        return ParsedPost(kind=PostKind.OTHER, confidence=0.0)

    module = types.ModuleType("tsbot.intake.posts")
    module.parse = parse  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "tsbot.intake.posts", module)
    return calls


def intent(symbol: str, side: str, **fields: Any) -> dict[str, Any]:
    base = TradeIntent(symbol=symbol, side=Side(side)).to_dict()
    base.update(fields)
    return json.loads(dumps(base))


def read(body: Any, content_type: str | None = None) -> dict[str, Any]:
    return json.loads(dumps(parse_alert(body, content_type).to_dict()))


# -- JSON alerts --------------------------------------------------------------------------------------------

JSON_CASES = {
    "plain fields": (
        {"symbol": "BTCUSDT", "side": "buy", "price": 30000, "tp": 31000, "sl": 29000},
        intent("BTC/USDT", "long", entry=[30000], entry_kind="single", targets=[31000], stop=29000),
    ),
    "ticker with exchange prefix and .P, placeholders substituted as strings": (
        {"ticker": "BINANCE:BTCUSDT.P", "action": "sell", "price": "30000.5", "exchange": "BINANCE"},
        intent("BTC/USDT", "short", entry=[30000.5], entry_kind="single", exchanges=["BINANCE"]),
    ),
    "exchange only from the prefix": (
        {"ticker": "BYBIT:ETHUSDT.P", "side": "long"},
        intent("ETH/USDT", "long", exchanges=["BYBIT"]),
    ),
    "strategy.order.action as a dotted key, close as the price": (
        {"ticker": "ETHUSDT", "strategy.order.action": "buy", "close": "2500.10"},
        intent("ETH/USDT", "long", entry=[2500.1], entry_kind="single"),
    ),
    "strategy.order.action nested, market position agrees": (
        {
            "ticker": "SOLUSDT",
            "strategy": {"order": {"action": "sell", "price": 101.5}, "market_position": "short"},
        },
        intent("SOL/USDT", "short", entry=[101.5], entry_kind="single"),
    ),
    "no price means market": (
        {"symbol": "ETHUSDT", "side": "long", "leverage": 10},
        intent("ETH/USDT", "long", leverage=10),
    ),
    "order type market wins over a reference price": (
        {"symbol": "ETHUSDT", "side": "long", "type": "market", "price": 2500},
        intent("ETH/USDT", "long"),
    ),
    "entry written as market": (
        {"symbol": "ETHUSDT", "side": "short", "entry": "market", "stop_loss": "2600"},
        intent("ETH/USDT", "short", stop=2600),
    ),
    "targets list, numbers as strings, leverage '20x', isolated": (
        {
            "symbol": "1000PEPEUSDT",
            "side": "LONG",
            "entry": "0.0105",
            "targets": ["0.011", "0.0115", 0.012],
            "stop": "0.0099",
            "leverage": "20x",
            "margin": "Isolated",
        },
        intent(
            "1000PEPE/USDT",
            "long",
            entry=[0.0105],
            entry_kind="single",
            targets=[0.011, 0.0115, 0.012],
            stop=0.0099,
            leverage=20,
            margin="isolated",
        ),
    ),
    "take_profit as a comma-separated string and thousands separator": (
        {"symbol": "BTCUSDT", "side": "buy", "entry": "30,000", "take_profit": "31000, 32000,33000"},
        intent("BTC/USDT", "long", entry=[30000], entry_kind="single", targets=[31000, 32000, 33000]),
    ),
    "numbered tp1..tp3 after the main tp, in number order": (
        {"symbol": "XRPUSDT", "side": "sell", "tp3": 0.4, "tp1": 0.5, "tp2": 0.45},
        intent("XRP/USDT", "short", targets=[0.5, 0.45, 0.4]),
    ),
    "two entries are a list": (
        {"symbol": "ADAUSDT", "side": "buy", "entry": [0.31, 0.3]},
        intent("ADA/USDT", "long", entry=[0.31, 0.3], entry_kind="list"),
    ),
    "upper-case keys and exchanges list": (
        {"Symbol": "LTC/USDT", "Side": "Buy", "Exchanges": ["Binance Futures", "ByBit USDT"]},
        intent("LTC/USDT", "long", exchanges=["Binance Futures", "ByBit USDT"]),
    ),
    "cross margin and 'crossed'": (
        {"symbol": "DOTUSDT", "side": "short", "margin_mode": "crossed"},
        intent("DOT/USDT", "short", margin="cross"),
    ),
    "stock ticker stays alone": (
        {"ticker": "NASDAQ:AAPL", "action": "buy", "price": "189.5"},
        intent("AAPL", "long", entry=[189.5], entry_kind="single", exchanges=["NASDAQ"]),
    ),
    "message field holding a one-liner": (
        {"message": "short SOLUSDT @ 100 tp 90 sl 105"},
        intent("SOL/USDT", "short", entry=[100], entry_kind="single", targets=[90], stop=105),
    ),
    "position size positive after a buy": (
        {"ticker": "BTCUSDT", "strategy": {"order": {"action": "buy"}, "position_size": "0.5"}},
        intent("BTC/USDT", "long"),
    ),
}


@pytest.mark.parametrize("payload, expected", list(JSON_CASES.values()), ids=list(JSON_CASES))
def test_json_alert_shapes(payload: dict[str, Any], expected: dict[str, Any]) -> None:
    assert read(json.dumps(payload).encode(), "application/json") == expected


def test_json_without_content_type_and_as_text_and_with_bom() -> None:
    body = '{"symbol": "BTCUSDT", "side": "buy", "price": 30000.5}'
    expected = intent("BTC/USDT", "long", entry=[30000.5], entry_kind="single")
    assert read(body) == expected
    assert read(body, "text/plain; charset=utf-8") == expected
    assert read(b"\xef\xbb\xbf" + body.encode()) == expected


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b'{"action": "buy", "ticker": "BTCUSDT", "exchange": "\\ud800"}', "lone surrogate"),
        (b'{"action": "buy", "ticker": "BTC\\u0000USDT"}', "control character"),
        (b'{"action": "buy", "ticker": "BTCUSDT", "\\udfff": 1}', "lone surrogate"),
        (b'[{"action": "buy", "ticker": "BTCUSDT", "note": "\\u0007"}]', "control character"),
    ],
)
def test_escaped_control_characters_and_lone_surrogates_are_refused(body: bytes, reason: str) -> None:
    """Bad input: JSON escapes that decode to a NUL, a bell or a lone surrogate, in a value or a key."""
    with pytest.raises(AlertError, match=reason):
        read_alert(body, "application/json")


def test_json_prices_stay_exact_decimals() -> None:
    alert = parse_alert(b'{"symbol": "BTCUSDT", "side": "buy", "price": 0.1, "sl": 0.000065}', None)
    assert alert.entry == (D("0.1"),)
    assert alert.stop == D("0.000065")
    assert dumps(alert.to_dict()["stop"]) == "0.000065"


@pytest.mark.parametrize(
    "value, expected",
    [
        ("2024-05-01T12:00:00Z", datetime(2024, 5, 1, 12, tzinfo=UTC)),
        ("2024-05-01T14:00:00+02:00", datetime(2024, 5, 1, 12, tzinfo=UTC)),
        (1714564800000, datetime(2024, 5, 1, 12, tzinfo=UTC)),
        ("1714564800000", datetime(2024, 5, 1, 12, tzinfo=UTC)),
        (1714564800, datetime(2024, 5, 1, 12, tzinfo=UTC)),
    ],
    ids=["iso-z", "iso-offset", "ms", "ms-string", "seconds"],
)
def test_alert_time_is_read_as_aware_utc(value: Any, expected: datetime) -> None:
    alert = read_alert(json.dumps({"symbol": "BTCUSDT", "side": "buy", "time": value}), "application/json")
    assert alert.sent_at == expected
    assert alert.sent_at.tzinfo is not None


# -- text alerts --------------------------------------------------------------------------------------------

TEXT_CASES = {
    "BUY BTCUSDT @ 30000 TP 31000 SL 29000": intent(
        "BTC/USDT", "long", entry=[30000], entry_kind="single", targets=[31000], stop=29000
    ),
    "long ETHUSDT lev 10x": intent("ETH/USDT", "long", leverage=10),
    "order sell @ 2500 filled on BTCUSDT. New strategy position is -1": intent("BTC/USDT", "short"),
    "order buy @ 0.5 filled on BTCUSDT.P. New strategy position is 1.5": intent("BTC/USDT", "long"),
    "sell BINANCE:ETHUSDT.P entry=2500 tp=2400,2300 sl:2600 isolated": intent(
        "ETH/USDT",
        "short",
        entry=[2500],
        entry_kind="single",
        targets=[2400, 2300],
        stop=2600,
        margin="isolated",
        exchanges=["BINANCE"],
    ),
    "Short BTC/USDT at 30,500 TP1 30000 TP2 29500 stop loss 31000 leverage 5": intent(
        "BTC/USDT",
        "short",
        entry=[30500],
        entry_kind="single",
        targets=[30000, 29500],
        stop=31000,
        leverage=5,
    ),
    "buy solusdt @ market take profit 120/130 x20 cross": intent(
        "SOL/USDT", "long", targets=[120, 130], leverage=20, margin="cross"
    ),
    "BUY $ETH @ $2500": intent("ETH", "long", entry=[2500], entry_kind="single"),
    "long ETHBTC on Binance": intent("ETH/BTC", "long", exchanges=["Binance"]),
}


@pytest.mark.parametrize("text, expected", list(TEXT_CASES.items()), ids=list(TEXT_CASES))
def test_text_alerts(text: str, expected: dict[str, Any], posts_parser: list[str]) -> None:
    assert read(text.encode(), "text/plain") == expected
    assert posts_parser == []


def test_text_in_a_json_string_and_text_mislabelled_as_json(posts_parser: list[str]) -> None:
    expected = intent("BTC/USDT", "long", leverage=3)
    assert read('"long BTCUSDT lev 3"', "application/json") == expected
    assert read("long BTCUSDT lev 3", "application/json") == expected


def test_free_text_falls_back_to_the_post_parser(monkeypatch: pytest.MonkeyPatch) -> None:
    post = "🚀 #AVAX/USDT\nLong zone 35.6 - 39.9\nTargets: 41 / 43\nSL 33"
    signal = TradeIntent(
        symbol="AVAX/USDT",
        side=Side.LONG,
        entry=(D("35.6"), D("39.9")),
        entry_kind=EntryKind.ZONE,
        targets=(D("41"), D("43")),
        stop=D("33"),
    )
    seen: list[str] = []

    def parse(text: str) -> ParsedPost:
        seen.append(text)
        return ParsedPost(kind=PostKind.SIGNAL, signal=signal)

    module = types.ModuleType("tsbot.intake.posts")
    module.parse = parse  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "tsbot.intake.posts", module)
    alert = read_alert(post.encode(), "text/plain")
    assert alert.intent == signal
    assert alert.source == "post"
    assert seen == [post]


def test_follow_up_text_is_refused_by_name(monkeypatch: pytest.MonkeyPatch) -> None:
    """Bad input: a follow-up post ("target 1 hit") is not a trade to open."""
    module = types.ModuleType("tsbot.intake.posts")
    update = SignalUpdate(symbol="BTC/USDT", event=UpdateEvent.TARGET_HIT, target_index=1)
    module.parse = lambda text: ParsedPost(kind=PostKind.UPDATE, update=update)  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "tsbot.intake.posts", module)
    with pytest.raises(AlertError, match="follow-up .target_hit."):
        parse_alert("BTC/USDT Target 1 reached 🎯", "text/plain")


def test_a_failing_post_parser_reads_as_not_understood(monkeypatch: pytest.MonkeyPatch) -> None:
    """Bad input: free text while the post parser itself raises; the alert is refused, not crashed on."""
    module = types.ModuleType("tsbot.intake.posts")

    def parse(text: str) -> ParsedPost:
        raise RuntimeError("parser not finished")

    module.parse = parse  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "tsbot.intake.posts", module)
    with pytest.raises(AlertError, match="not understood"):
        parse_alert("the market looks interesting today", "text/plain")


# -- symbols ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("BTCUSDT", ("BTC/USDT", None)),
        ("BINANCE:BTCUSDT.P", ("BTC/USDT", "BINANCE")),
        ("BTCUSDTPERP", ("BTC/USDT", None)),
        ("BTC-PERP", ("BTC", None)),
        ("ETHUSDC", ("ETH/USDC", None)),
        ("BNBBUSD", ("BNB/BUSD", None)),
        ("BTCUSD", ("BTC/USD", None)),
        ("ETHBTC", ("ETH/BTC", None)),
        ("LINKETH", ("LINK/ETH", None)),
        ("btc_usdt", ("BTC/USDT", None)),
        ("SOL-USDT", ("SOL/USDT", None)),
        ("WBTC", ("WBTC", None)),
        ("USDT", ("USDT", None)),
        ("AAPL", ("AAPL", None)),
        ("#1000PEPEUSDT", ("1000PEPE/USDT", None)),
    ],
)
def test_normalise_symbol(raw: str, expected: tuple[str, str | None]) -> None:
    assert normalise_symbol(raw) == expected


# -- bad input ----------------------------------------------------------------------------------------------

BAD_BODIES: dict[str, tuple[bytes | str, str | None, str]] = {
    "empty body": (b"", None, "empty"),
    "only whitespace": (" \n\t ", "text/plain", "empty"),
    "1 MB body": (b"B" * 1_000_000, "text/plain", "1000000 bytes; the limit is 65536"),
    "binary garbage (not UTF-8)": (bytes(range(128, 256)) * 4, None, "not UTF-8"),
    "binary garbage that is valid UTF-8 (control bytes)": (
        b"\x00\x01\x02PK\x03\x04",
        None,
        "control characters",
    ),
    "broken JSON": (b'{"symbol": "BTCUSDT", "side": ', "application/json", "not valid JSON"),
    "JSON with an unquoted placeholder": (
        b'{"symbol": "BTCUSDT", "side": "buy", "price": {{close}}}',
        "application/json",
        "placeholder",
    ),
    "JSON with NaN": (b'{"symbol": "BTCUSDT", "side": "buy", "price": NaN}', None, "NaN is not a number"),
    "JSON nested too deeply": (b"[" * 5000 + b"]" * 5000, None, "not valid JSON"),
    "JSON list of alerts": (b'[{"side": "buy"}, {"side": "sell"}]', None, "one object, got a list of 2"),
    "JSON number": (b"42", "application/json", "one object, got int"),
    "JSON missing side": (b'{"symbol": "BTCUSDT", "price": 1}', None, "no side"),
    "JSON missing symbol": (b'{"side": "buy", "price": 1}', None, "no symbol"),
    "JSON empty object": (b"{}", None, "no side"),
    "JSON side hold": (b'{"symbol": "BTCUSDT", "side": "hold"}', None, "'hold' opens no trade"),
    "JSON side close long": (b'{"symbol": "BTCUSDT", "action": "close long"}', None, "opens no trade"),
    "JSON side not a side": (b'{"symbol": "BTCUSDT", "side": "up"}', None, "'up' is not a side"),
    "JSON side placeholder left": (
        b'{"symbol": "BTCUSDT", "side": "{{strategy.order.action}}"}',
        None,
        "placeholder",
    ),
    "JSON symbol placeholder left": (b'{"ticker": "{{ticker}}", "side": "buy"}', None, "placeholder"),
    "JSON symbol not text": (b'{"symbol": 42, "side": "buy"}', None, "symbol must be text"),
    "JSON symbol not a ticker": (b'{"symbol": "BTC USDT!", "side": "buy"}', None, "not a ticker"),
    "JSON negative price": (b'{"symbol": "BTCUSDT", "side": "buy", "price": -5}', None, "positive"),
    "JSON zero stop": (b'{"symbol": "BTCUSDT", "side": "buy", "sl": "0"}', None, "sl must be a positive"),
    "JSON negative target in a list": (
        b'{"symbol": "BTCUSDT", "side": "buy", "tp": [1, -2]}',
        None,
        "positive",
    ),
    "JSON price not a number": (
        b'{"symbol": "BTCUSDT", "side": "buy", "price": "abc"}',
        None,
        "not a number",
    ),
    "JSON price a boolean": (b'{"symbol": "BTCUSDT", "side": "buy", "price": true}', None, "not a number"),
    "JSON two stops": (b'{"symbol": "BTCUSDT", "side": "buy", "sl": [1, 2]}', None, "one price"),
    "JSON negative leverage": (b'{"symbol": "BTCUSDT", "side": "buy", "leverage": "-3x"}', None, "leverage"),
    "JSON unknown margin": (
        b'{"symbol": "BTCUSDT", "side": "buy", "margin": "portfolio"}',
        None,
        "margin mode",
    ),
    "JSON bad time": (b'{"symbol": "BTCUSDT", "side": "buy", "time": "yesterday"}', None, "not an ISO-8601"),
    "JSON time out of range": (
        b'{"symbol": "BTCUSDT", "side": "buy", "time": 1e30}',
        None,
        "not an ISO-8601",
    ),
    "JSON flat market position": (
        b'{"ticker": "BTCUSDT", "strategy": {"order": {"action": "sell"}, "market_position": "flat"}}',
        None,
        "closes the position",
    ),
    "JSON sell that leaves the strategy long": (
        b'{"ticker": "BTCUSDT", "strategy.order.action": "sell", "strategy.market_position": "long"}',
        None,
        "reduces a position",
    ),
    "JSON position size zero": (
        b'{"ticker": "BTCUSDT", "action": "buy", "position_size": 0}',
        None,
        "closes the position",
    ),
    "text not understood": (b"hello there, nice weather", "text/plain", "not understood"),
    "text side hold": (b"hold BTCUSDT", "text/plain", "'hold' opens no trade"),
    "text missing side": (b"BTCUSDT @ 30000 TP 31000", "text/plain", "no side"),
    "text missing symbol": (b"BUY @ 30000 TP 31000", "text/plain", "no symbol"),
    "text negative stop": (b"BUY BTCUSDT SL -5", "text/plain", "stop-loss must be a positive"),
    "text zero entry": (b"SELL BTCUSDT @ 0", "text/plain", "entry must be a positive"),
    "default strategy text closing the position": (
        b"order sell @ 1 filled on BTCUSDT. New strategy position is 0",
        "text/plain",
        "closes the position",
    ),
    "default strategy text reducing a long": (
        b"order sell @ 1 filled on BTCUSDT. New strategy position is 2",
        "text/plain",
        "reduces a position",
    ),
}


@pytest.mark.parametrize("body, content_type, message", list(BAD_BODIES.values()), ids=list(BAD_BODIES))
def test_bad_bodies_raise_alert_error_naming_the_problem(
    body: bytes | str, content_type: str | None, message: str, posts_parser: list[str]
) -> None:
    with pytest.raises(AlertError, match=message.replace("(", r"\(").replace("[", r"\[")) as caught:
        parse_alert(body, content_type)
    assert isinstance(caught.value, DataError)


def test_body_limit_is_a_parameter() -> None:
    """Bad input: a 2 KiB body where the caller allows 1 KiB."""
    body = json.dumps({"symbol": "BTCUSDT", "side": "buy", "note": "x" * 2048})
    assert parse_alert(body, None).symbol == "BTC/USDT"
    with pytest.raises(AlertError, match="limit is 1024 bytes"):
        parse_alert(body, None, max_bytes=1024)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=st.one_of(st.binary(max_size=400), st.text(max_size=400)))
def test_any_body_is_a_trade_or_an_alert_error(body: bytes | str, posts_parser: list[str]) -> None:
    """Bad input: arbitrary bytes and text never raise anything but AlertError."""
    try:
        result = parse_alert(body, None)
    except AlertError:
        return
    assert isinstance(result, TradeIntent)


@settings(max_examples=200, deadline=None)
@given(
    data=st.dictionaries(
        st.sampled_from(
            ["symbol", "side", "price", "tp", "sl", "leverage", "margin", "time", "exchange", "x"]
        ),
        st.one_of(
            st.none(),
            st.booleans(),
            st.integers(),
            st.floats(allow_nan=False),
            st.text(max_size=12),
            st.lists(st.integers(), max_size=3),
        ),
    )
)
def test_any_json_object_is_a_trade_or_an_alert_error(data: dict[str, Any]) -> None:
    """Bad input: JSON objects with any values in the known fields."""
    try:
        result = parse_alert(json.dumps(data), "application/json")
    except AlertError:
        return
    assert isinstance(result, TradeIntent) and result.side in (Side.LONG, Side.SHORT)


# -- webhook checks -----------------------------------------------------------------------------------------

TOKEN = "tv-secret-0123456789abcdef"


def test_token_store_keeps_digests_only_and_finds_owners() -> None:
    store = MemoryTokenStore({TOKEN: "user-1"})
    issued = store.issue("user-2")
    assert store.owner_of(TOKEN) == "user-1"
    assert store.owner_of(issued) == "user-2"
    assert store.owner_of(TOKEN[:-1] + "X") is None
    assert store.owner_of("") is None
    assert TOKEN not in repr(vars(store)) and token_digest(TOKEN) in store._owners
    assert store.revoke(TOKEN) and store.owner_of(TOKEN) is None


def test_token_store_refuses_short_tokens() -> None:
    """Bad input: an 8-character token."""
    with pytest.raises(DataError, match="at least 16"):
        MemoryTokenStore({"short123": "user-1"})


async def test_memory_replay_guard_window_and_eviction() -> None:
    now = [100.0]
    guard = MemoryReplayGuard(clock=lambda: now[0])
    assert await guard.seen("a", 10) is False
    assert await guard.seen("a", 10) is True
    now[0] = 109.9
    assert await guard.seen("a", 10) is True
    assert await guard.seen("b", 60) is False
    now[0] = 110.0
    assert await guard.seen("a", 10) is False
    now[0] = 200.0
    await guard.seen("c", 1)
    assert len(guard) == 1
    await guard.forget("c")
    assert await guard.seen("c", 1) is False


def test_replay_key_depends_on_owner_and_body() -> None:
    assert replay_key("u1", b"x") == replay_key("u1", b"x")
    assert len({replay_key("u1", b"x"), replay_key("u2", b"x"), replay_key("u1", b"y")}) == 3


def test_check_sent_at_limits_skew_both_ways() -> None:
    received = datetime(2024, 5, 1, 12, tzinfo=UTC)
    check_sent_at(received - timedelta(seconds=300), received, 300)
    check_sent_at(received + timedelta(seconds=299), received, 300)
    with pytest.raises(StaleAlertError, match="301 s before"):
        check_sent_at(received - timedelta(seconds=301), received, 300)
    with pytest.raises(StaleAlertError, match="after"):
        check_sent_at(received + timedelta(hours=1), received, 300)


async def test_webhook_intake_checks_token_time_and_replay() -> None:
    intake = WebhookIntake(
        MemoryTokenStore({TOKEN: "user-1"}), MemoryReplayGuard(), replay_window_s=60, max_clock_skew_s=120
    )
    received = datetime(2024, 5, 1, 12, tzinfo=UTC)
    with pytest.raises(UnknownTokenError):
        intake.authenticate("tv-secret-wrong-wrong-wrong")
    owner = intake.authenticate(TOKEN)
    body = b'{"symbol": "BTCUSDT", "side": "buy", "time": "2024-05-01T11:59:00Z"}'
    accepted = await intake.accept(owner, body, "application/json", received)
    assert (accepted.owner, accepted.intent.symbol, accepted.received_at) == ("user-1", "BTC/USDT", received)
    with pytest.raises(ReplayedAlertError):
        await intake.accept(owner, body, "application/json", received)
    await intake.release(accepted)
    assert (await intake.accept(owner, body, "application/json", received)).intent.side is Side.LONG
    stale = b'{"symbol": "BTCUSDT", "side": "buy", "time": "2024-05-01T11:50:00Z"}'
    with pytest.raises(StaleAlertError):
        await intake.accept(owner, stale, "application/json", received)
    assert await intake.accept(owner, stale.replace(b"11:50", b"11:59:30"), None, received)


def test_margin_and_side_enums_in_results() -> None:
    result = parse_alert(b'{"symbol": "BTCUSDT", "side": "short", "margin": "cross"}', None)
    assert result.side is Side.SHORT and result.margin is MarginMode.CROSS
    assert result.entry_kind is EntryKind.MARKET and result.entry == ()
