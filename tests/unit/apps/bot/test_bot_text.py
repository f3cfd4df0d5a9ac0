"""The Telegram bot's pure parts: the order a Confirm button carries, numbers as the bot writes them, symbols as
people type them.

Bad input tried: button data that is truncated, not a number, NaN or infinite, a zero amount, a negative price,
another prefix, too long for Telegram's 64 bytes; a symbol nobody stores.
"""

from __future__ import annotations

from decimal import Decimal

import pytest

from tsbot.apps.bot.formatting import cash, num, pct, price
from tsbot.apps.bot.orders import MAX_CALLBACK_BYTES, Proposal
from tsbot.apps.bot.symbols import Known
from tsbot.core.errors import DataError, NotFoundError
from tsbot.trading.models import OrderSide, OrderType


@pytest.mark.parametrize(
    "proposal",
    [
        Proposal(OrderSide.BUY, OrderType.MARKET, "BTC/USDT", Decimal("0.1"), None, None, "0123456789ab"),
        Proposal(OrderSide.SELL, OrderType.LIMIT, "ETH/USDT", Decimal("2.5"), None, Decimal("3200.5"), "abc"),
        Proposal(OrderSide.BUY, OrderType.MARKET, "SOL/USDT", None, Decimal("500"), None, "abc"),
        Proposal(OrderSide.SELL, OrderType.STOP, "AAPL/USD", Decimal("3"), None, Decimal("120"), "abc"),
    ],
)
def test_a_proposal_survives_its_button(proposal: Proposal) -> None:
    data = proposal.encode()
    assert len(data.encode()) <= MAX_CALLBACK_BYTES
    assert Proposal.decode(data) == proposal


def test_descriptions() -> None:
    limit = Proposal(
        OrderSide.SELL, OrderType.LIMIT, "ETH/USDT", Decimal("2.5"), None, Decimal("3200.5"), "k"
    )
    assert limit.describe() == "SELL 2.5 ETH/USDT limit 3,200.5 USDT"
    spend = Proposal(OrderSide.BUY, OrderType.MARKET, "SOL/USDT", None, Decimal("500"), None, "k")
    assert spend.describe() == "BUY 500 USDT of SOL/USDT at market"
    stop = Proposal(OrderSide.SELL, OrderType.STOP, "BTC/USDT", Decimal("1"), None, Decimal("58000"), "k")
    assert stop.describe() == "SELL 1 BTC/USDT, stop: at market once 58,000 USDT trades"


@pytest.mark.parametrize(
    "data",
    [
        "o|b|m|q|0.1|BTC/USDT|",
        "o|b|m|q|abc|BTC/USDT||k",
        "o|b|m|q|0|BTC/USDT||k",
        "x|b|m|q|1|BTC/USDT||k",
        "o|z|m|q|1|BTC/USDT||k",
        "o|b|m|q|1|BTCUSDT||k",
        "o|b|m|q|1|BTC/USDT||",
        "o|b|m|q|NaN|BTC/USDT||k",
        "o|b|m|q|Infinity|BTC/USDT||k",
        "o|b|l|q|1|BTC/USDT|-5|k",
        "o|b|l|q|1|BTC/USDT|sNaN|k",
    ],
)
def test_button_data_that_holds_no_order_is_refused(data: str) -> None:
    with pytest.raises(DataError, match="does not hold an order"):
        Proposal.decode(data)


def test_an_order_too_long_for_a_button_is_refused() -> None:
    long = Proposal(
        OrderSide.BUY,
        OrderType.LIMIT,
        "1000000PEPE/USDT",
        Decimal("123456789.12345678"),
        None,
        Decimal("0.00000012345678"),
        "0123456789ab",
    )
    with pytest.raises(DataError, match="does not fit a Telegram button"):
        long.encode()


def test_numbers_carry_separators_units_and_no_exponent() -> None:
    assert num(Decimal("1234567.500")) == "1,234,567.5"
    assert num(Decimal("1E+3")) == "1,000"
    assert num(0.1) == "0.1"
    assert num(Decimal("-0.004"), 2) == "0"
    assert price(64123.456789, "USDT") == "64,123.5 USDT"
    assert price(Decimal("0.0000123456789"), "USDT") == "0.0000123457 USDT"
    assert cash(Decimal("1234.5"), "USD") == "1,234.50 USD"
    assert cash(Decimal("12.345"), "USDT", signed=True) == "+12.34 USDT"
    assert cash(Decimal("-3"), "USDT", signed=True) == "-3.00 USDT"
    assert pct(0.714) == "71%"


def test_symbols_as_people_type_them() -> None:
    known = Known(("AAPL", "BTC/USD", "BTC/USDT", "ETH/BTC", "ETH/USDT"), frozenset({"AAPL"}))
    assert known.match("btc") == "BTC/USDT"  # USDT comes first among the quotes
    assert known.match("btc-usd") == "BTC/USD"
    assert known.match("ETHBTC") == "ETH/BTC"
    assert known.match("$eth") == "ETH/USDT"
    assert known.match("aapl") == "AAPL" and known.tradable("AAPL") == "AAPL/USD"
    assert known.tradable("BTC/USDT") == "BTC/USDT"
    assert known.bases == {"AAPL", "BTC", "ETH"}
    with pytest.raises(NotFoundError, match="I know no symbol DOGE. Known: AAPL, BTC/USD"):
        known.resolve("DOGE")
