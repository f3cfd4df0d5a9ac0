"""Price alerts checked against new prices and candles: above, below, crosses; one-shot and repeating; the
inputs that are refused."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from tsbot.core.errors import DataError
from tsbot.signals.alerts import (
    AlertCondition,
    PriceAlert,
    PriceQuote,
    check_alerts,
    parse_price,
    validate_note,
)

T0 = datetime(2024, 3, 1, 12, tzinfo=UTC)


def _alert(condition: str, price: str, **kw: object) -> PriceAlert:
    return PriceAlert(
        id=f"a-{condition}-{price}",
        user_id="u1",
        symbol="BTC/USDT",
        condition=AlertCondition(condition),
        price=Decimal(price),
        **kw,  # type: ignore[arg-type]
    )


def _last(price: str, minutes: int = 0, symbol: str = "BTC/USDT") -> PriceQuote:
    return PriceQuote(symbol, T0 + timedelta(minutes=minutes), Decimal(price))


def _run(alert: PriceAlert, prices: list[str]) -> tuple[PriceAlert, list[int]]:
    """Check ``alert`` against the prices in turn; the final state and the indices of the prices that fired."""
    fired: list[int] = []
    for i, price in enumerate(prices):
        result = check_alerts([alert], _last(price, i))
        alert = result.updated[0] if result.updated else alert  # an inactive alert is no longer checked
        if result.triggered:
            fired.append(i)
    return alert, fired


def test_above_fires_once_at_or_over_the_level_then_goes_inactive() -> None:
    alert, fired = _run(_alert("above", "100"), ["99", "99.99", "100", "105", "90", "120"])
    assert fired == [2]
    assert not alert.active and alert.trigger_count == 1 and alert.triggered_at == T0 + timedelta(minutes=2)
    assert alert.last_price == Decimal("100")  # the last check that saw it: inactive alerts are not checked


def test_below_fires_at_or_under_the_level() -> None:
    alert, fired = _run(_alert("below", "0.000065"), ["0.00007", "0.000066", "0.000065"])
    assert fired == [2] and not alert.active


def test_repeating_above_rearms_only_after_a_check_below_the_level() -> None:
    alert, fired = _run(_alert("above", "100", repeat=True), ["101", "102", "103", "99", "98", "100", "101"])
    assert fired == [0, 5]  # staying above does not fire again; dropping below re-arms
    assert alert.active and alert.trigger_count == 2


def test_crosses_needs_a_previous_price_and_fires_both_ways() -> None:
    # The first price only records a reference; then each crossing of 100 fires (repeating).
    alert, fired = _run(_alert("crosses", "100", repeat=True), ["105", "101", "99", "98", "100", "100", "97"])
    assert fired == [2, 4]  # 101 -> 99 crosses down, 98 -> 100 reaches the level from below
    assert alert.trigger_count == 2
    one_shot, fired = _run(_alert("crosses", "100"), ["95", "99", "101", "90"])
    assert fired == [2] and not one_shot.active


def test_candles_use_high_and_low_and_their_open_as_reference() -> None:
    candle = PriceQuote.of_candle("BTC/USDT", T0, open_=95.0, high=101.5, low=94.0, close=96.0)
    assert candle.price == Decimal("96.0") and candle.high == Decimal("101.5")
    above, below, crosses, far = (
        _alert("above", "101"),
        _alert("below", "94.5"),
        _alert("crosses", "100"),
        _alert("above", "102"),
    )
    result = check_alerts([above, below, crosses, far], candle)
    assert [t.alert.id for t in result.triggered] == [above.id, below.id, crosses.id]
    assert all(a.last_price == Decimal("96.0") for a in result.updated)
    assert result.triggered[0].message == "BTC/USDT above 101 (now 96.0)"
    # crosses without a stored price and without an open: nothing to compare with, nothing fires
    bare = PriceQuote("BTC/USDT", T0, Decimal("96"), high=Decimal("101.5"), low=Decimal("94"))
    assert check_alerts([crosses], bare).triggered == []


def test_other_symbols_and_inactive_alerts_are_left_out() -> None:
    active = _alert("above", "1", note="take profit")
    stopped = replace(_alert("above", "2"), active=False)
    result = check_alerts([active, stopped], _last("5", symbol="ETH/USDT"))
    assert result.triggered == [] and result.updated == []
    result = check_alerts([active, stopped], _last("5"))
    assert [a.id for a in result.updated] == [active.id]
    assert result.triggered[0].message == "BTC/USDT above 1 (now 5): take profit"


@pytest.mark.parametrize("text", ["0", "-5", "abc", "NaN", "Infinity", "1e15", "", "1,000"])
def test_parse_price_refuses_zero_negative_text_nan_infinite_huge_empty_and_separators(text: str) -> None:
    with pytest.raises(DataError):
        parse_price(text)


def test_parse_price_and_note_accept_plain_values() -> None:
    assert parse_price(" 0.000065 ") == Decimal("0.000065")
    assert parse_price(Decimal("70000")) == Decimal("70000")
    assert validate_note("  sell half \n") == "sell half"
    with pytest.raises(DataError, match="500"):
        validate_note("x" * 501)
    with pytest.raises(DataError, match="control"):
        validate_note("bell\x07")
