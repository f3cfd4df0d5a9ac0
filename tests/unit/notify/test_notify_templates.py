"""Templates: every type renders plain text from its context; missing keys, wrong shapes and broken templates never
fail a notification (bad input: an empty context, a string where a list belongs, template syntax inside values, a
template that raises, oversized values); times read as people write them, in the recipient's time zone (bad input:
a zone name that is no zone, a path as a zone name, naive and non-ISO times, a date without a time)."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from tsbot.notify.models import NotificationType
from tsbot.notify.templates import (
    LABELS,
    MAX_BODY_CHARS,
    MAX_TITLE_CHARS,
    MISSING,
    Templates,
    fallback,
    human_time,
    time_zone,
)

SIGNAL = {
    "symbol": "BTC/USDT",
    "timeframe": "1h",
    "exchange": "binance",
    "from_action": "HOLD",
    "to_action": "BUY",
    "score": 0.6251,
    "confidence": 0.71,
    "price": "70000.50",
    "reasons": ["RSI 28: oversold", "news positive"],
    "changed_at": "2024-01-01T10:00:00+00:00",
}


def test_signal_change_reads_like_a_trader_writes_it() -> None:
    out = Templates().render(NotificationType.SIGNAL_CHANGED, SIGNAL)
    assert out.title == "BTC/USDT 1h: HOLD → BUY"
    assert "changed from HOLD to BUY" in out.body and "(1h, binance)" in out.body
    assert "Score: 0.63" in out.body and "Confidence: 71%" in out.body and "Price: 70000.5" in out.body
    assert "- RSI 28: oversold\n- news positive" in out.body
    assert "<" not in out.body  # plain text, no markup


@pytest.mark.parametrize(
    ("type_", "context", "title", "in_body"),
    [
        (
            NotificationType.TRADE_EXECUTED,
            {"symbol": "BTC/USDT", "side": "buy", "quantity": "0.1", "price": "70000", "mode": "paper"},
            "BUY 0.1 BTC/USDT @ 70000 (paper)",
            "Paper trade executed",
        ),
        (
            NotificationType.PRICE_ALERT,
            {
                "symbol": "PEPE/USDT",
                "condition": "crosses",
                "level": "0.000065",
                "price": 6.5e-05,
                "note": "dip",
            },
            "PEPE/USDT crosses 0.000065",
            "crossed 0.000065: last price 0.000065.\nNote: dip",
        ),
        (
            NotificationType.APPROVAL_NEEDED,
            {"symbol": "ETH/USDT", "side": "sell", "quantity": "2", "reason": "over the size limit"},
            "Approval needed: SELL 2 ETH/USDT",
            "Why: over the size limit",
        ),
        (
            NotificationType.SYSTEM,
            {"title": "Exchange down", "message": "binance answers 503", "severity": "warning"},
            "[WARNING] Exchange down",
            "binance answers 503",
        ),
    ],
)
def test_each_type_has_a_title_and_body(
    type_: NotificationType, context: dict[str, object], title: str, in_body: str
) -> None:
    out = Templates().render(type_, context)
    assert out.title == title and in_body in out.body


@pytest.mark.parametrize("type_", list(NotificationType))
def test_an_empty_context_renders_placeholders_not_errors(type_: NotificationType) -> None:
    out = Templates().render(type_, {})  # bad input: every key missing
    assert out.title and out.body
    assert "\n" not in out.title and len(out.title) <= MAX_TITLE_CHARS


def test_missing_values_show_as_a_question_mark() -> None:
    out = Templates().render(NotificationType.SIGNAL_CHANGED, {"symbol": "ETH/USDT"})
    assert out.title == f"ETH/USDT {MISSING}: new → {MISSING}"


def test_wrong_shapes_and_template_syntax_in_values_stay_data() -> None:
    context = {"symbol": "{{ 7*7 }}", "reasons": "one reason, not a list", "score": "n/a"}
    out = Templates().render(NotificationType.SIGNAL_CHANGED, context)  # bad input: a string for a list
    assert "{{ 7*7 }}" in out.title and "49" not in out.title
    assert "- one reason, not a list" in out.body and "Score: n/a" in out.body


def test_a_template_that_fails_falls_back_to_the_context() -> None:
    broken = Templates({NotificationType.SYSTEM: ("{{ title }}", "{{ 1 // count }}")})  # bad input: raises
    out = broken.render(NotificationType.SYSTEM, {"title": "x", "count": 0})
    assert out == fallback(NotificationType.SYSTEM, {"title": "x", "count": 0})
    assert out.title == LABELS[NotificationType.SYSTEM] and out.body == "title: x\ncount: 0"


def test_long_text_is_cut() -> None:
    out = Templates().render(NotificationType.SYSTEM, {"title": "t" * 500, "message": "m" * 10_000})
    assert len(out.title) == MAX_TITLE_CHARS and out.title.endswith("…")
    assert len(out.body) == MAX_BODY_CHARS and out.body.endswith("…")


def test_a_series_first_signal_and_the_monitors_names_read_well() -> None:
    context = {
        "symbol": "ETH/USDT",
        "timeframe": "4h",
        "from_action": "none",  # bad input: the word none for "no earlier signal"
        "to_action": "sell",
        "score": -0.41,
        "stop_loss": 3900.0,
        "take_profit": [3500.0, 3300.5],
        "as_of": "2024-01-01T08:00:00+00:00",
    }
    out = Templates().render(NotificationType.SIGNAL_CHANGED, context)
    assert out.title == "ETH/USDT 4h: new → SELL"
    assert "changed to SELL." in out.body and "from" not in out.body
    assert "Stop-loss: 3900\nTake-profit: 3500, 3300.5\n" in out.body and out.body.endswith(
        "At: 2024-01-01 08:00 UTC"
    )
    alert = {
        "symbol": "BTC/USDT",
        "condition": "below",
        "level": "60000",
        "price": "59990",
        "at": "2024-01-02",
    }
    assert Templates().render(NotificationType.PRICE_ALERT, alert).body.endswith("At: 2024-01-02")


def test_times_are_shown_in_utc_when_no_zone_is_given() -> None:
    out = Templates().render(NotificationType.SIGNAL_CHANGED, SIGNAL)
    assert out.body.endswith("At: 2024-01-01 10:00 UTC") and "T10:00:00" not in out.body


@pytest.mark.parametrize(
    ("type_", "context", "line"),
    [
        (
            NotificationType.SIGNAL_CHANGED,
            {"changed_at": "2022-07-06T04:00:00+00:00"},
            "At: 2022-07-06 06:00 CEST",
        ),
        (NotificationType.SIGNAL_CHANGED, {"as_of": "2022-01-06T04:00:00+00:00"}, "At: 2022-01-06 05:00 CET"),
        (
            NotificationType.TRADE_EXECUTED,
            {"executed_at": "2022-07-06T22:30:00Z"},
            "At: 2022-07-07 00:30 CEST",
        ),
        (
            NotificationType.PRICE_ALERT,
            {"triggered_at": "2022-07-06T04:00:00+00:00"},
            "At: 2022-07-06 06:00 CEST",
        ),
        (NotificationType.PRICE_ALERT, {"at": "2022-07-06T04:00:00+00:00"}, "At: 2022-07-06 06:00 CEST"),
        (
            NotificationType.APPROVAL_NEEDED,
            {"summary": "BUY 1 BTC/USDT", "expires_at": "2022-07-06T04:15:00+00:00"},
            "Decide before 2022-07-06 06:15 CEST.",
        ),
    ],
    ids=["signal-summer", "signal-winter", "trade-next-day", "alert-triggered", "alert-at", "approval"],
)
def test_a_berlin_user_reads_times_in_berlin(
    type_: NotificationType, context: dict[str, str], line: str
) -> None:
    out = Templates().render(type_, context, time_zone_name="Europe/Berlin")
    assert line in out.body.splitlines()


@pytest.mark.parametrize("bad", ["Mars/Olympus", "../../etc/passwd", "not a zone", ""], ids=repr)
def test_a_zone_name_that_is_no_zone_falls_back_to_utc(bad: str) -> None:
    # bad input: the zone name, as a profile stored before a zone was renamed or a row edited by hand might hold it
    out = Templates().render(NotificationType.SIGNAL_CHANGED, SIGNAL, time_zone_name=bad)
    assert out.body.endswith("At: 2024-01-01 10:00 UTC") and out.title == "BTC/USDT 1h: HOLD → BUY"


def test_a_trailing_space_still_names_the_zone() -> None:
    assert time_zone("Europe/Berlin ") == ZoneInfo("Europe/Berlin")
    assert time_zone("Mars/Olympus") is UTC and time_zone(None) is UTC  # bad input: no such zone, no name


@pytest.mark.parametrize(
    ("value", "zone", "shown"),
    [
        (datetime(2022, 7, 6, 4, tzinfo=UTC), "America/New_York", "2022-07-06 00:00 EDT"),
        ("2022-07-06T04:00:00", "Europe/Berlin", "2022-07-06 06:00 CEST"),  # naive: UTC
        ("2022-07-06T04:00:00+02:00", "UTC", "2022-07-06 02:00 UTC"),
        (
            "2022-07-06T04:00:00+00:00",
            "America/Sao_Paulo",
            "2022-07-06 01:00 UTC-03",
        ),  # no letter abbreviation
        ("2024-01-02", "Asia/Tokyo", "2024-01-02"),  # a date alone is not moved to another day
        ("next Tuesday", "Europe/Berlin", "next Tuesday"),  # bad input: not ISO 8601
        (None, "Europe/Berlin", MISSING),
    ],
    ids=["datetime", "naive", "offset", "numeric-abbreviation", "date-only", "not-iso", "none"],
)
def test_human_time(value: object, zone: str, shown: str) -> None:
    assert human_time(value, time_zone(zone)) == shown
