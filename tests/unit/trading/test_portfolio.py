"""The portfolio book with hand-computed numbers: average cost, realised P&L on reductions, crossing zero, shorts,
fees in the quote, base and a third currency, idempotent fills, valuation in one base currency, and rebalancing
(lot rounding, minimum notional, tolerance, sells first, invalid weights)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal as D

import pytest

from tsbot.core.enums import AssetClass
from tsbot.core.errors import ConfigError, DataError
from tsbot.trading.models import Fill, MarketRules, OrderSide
from tsbot.trading.portfolio import Book, Holding, rebalance, validate_weights

T0 = datetime(2026, 3, 2, 10, tzinfo=UTC)
BUY, SELL = OrderSide.BUY, OrderSide.SELL
_seq = iter(range(1_000_000))


def fill(
    side: OrderSide,
    qty: str,
    price: str,
    symbol: str = "BTC/USDT",
    fee: str = "0",
    fee_currency: str = "USDT",
    order: str | None = None,
    fill_id: str | None = None,
) -> Fill:
    n = next(_seq)
    return Fill(
        fill_id or f"t{n}", order or f"o{n}", symbol, side, D(qty), D(price), D(fee), fee_currency, T0
    )


def only(book: Book, symbol: str = "BTC/USDT", account: str = "acc") -> Holding:
    [h] = [h for h in book.holdings() if h.symbol == symbol and h.account == account]
    return h


def test_adding_averages_the_entry_and_reducing_realises_against_it() -> None:
    book = Book()
    book.apply("acc", fill(BUY, "1", "100"))
    book.apply("acc", fill(BUY, "1", "110"))
    h = only(book)
    assert (h.qty, h.avg_entry, h.realised_pnl) == (D(2), D(105), D(0))  # (1*100 + 1*110) / 2
    book.apply("acc", fill(SELL, "1.5", "120"))
    h = only(book)
    # (120 - 105) * 1.5 = 22.5 realised; the rest keeps its entry.
    assert (h.qty, h.avg_entry, h.realised_pnl) == (D("0.5"), D(105), D("22.5"))
    assert h.quote == "USDT" and h.asset_class is AssetClass.CRYPTO
    book.apply("acc", fill(SELL, "0.5", "100"))
    h = only(book)
    # (100 - 105) * 0.5 = -2.5 more: 20 in all; flat, so no entry price.
    assert (h.qty, h.avg_entry, h.realised_pnl) == (D(0), None, D(20))
    assert book.open_holdings() == [] and [x.symbol for x in book.holdings()] == ["BTC/USDT"]
    assert book.realised_pnl() == {"USDT": D(20)}


def test_a_fill_crossing_zero_realises_the_long_and_opens_a_short_at_the_fill_price() -> None:
    book = Book()
    book.apply("acc", fill(BUY, "1", "100"))
    book.apply("acc", fill(SELL, "3", "90"))
    h = only(book)
    # Closing 1 long: (90 - 100) * 1 = -10; the other 2 open a short at 90.
    assert (h.qty, h.avg_entry, h.realised_pnl) == (D(-2), D(90), D(-10))
    book.apply("acc", fill(BUY, "2", "80"))
    h = only(book)
    # Covering 2 short at 80: (80 - 90) * 2 * (-1) = +20; -10 + 20 = 10.
    assert (h.qty, h.avg_entry, h.realised_pnl) == (D(0), None, D(10))


def test_a_short_averages_its_entry_and_gains_when_the_price_falls() -> None:
    book = Book()
    book.apply("acc", fill(SELL, "2", "50", symbol="TSLA/USD", fee_currency="USD"), asset_class="stock")
    book.apply("acc", fill(SELL, "2", "60", symbol="TSLA/USD", fee_currency="USD"), asset_class="stock")
    h = only(book, "TSLA/USD")
    assert (h.qty, h.avg_entry) == (D(-4), D(55))  # (2*50 + 2*60) / 4
    book.apply("acc", fill(BUY, "1", "40", symbol="TSLA/USD", fee_currency="USD"), asset_class="stock")
    h = only(book, "TSLA/USD")
    # Covering 1 at 40 against 55: (40 - 55) * 1 * (-1) = +15.
    assert (h.qty, h.avg_entry, h.realised_pnl, h.asset_class) == (D(-3), D(55), D(15), AssetClass.STOCK)
    # Valued at 50: a short's value is negative, -3 * 50 = -150; unrealised (50 - 55) * -3 = +15.
    v = book.value({"TSLA/USD": D(50)}, {"USD": D(1000)})
    assert (v.positions_value, v.unrealised_pnl, v.equity) == (D(-150), D(15), D(850))


def test_a_fee_in_the_base_asset_shrinks_the_position_and_counts_at_the_fill_price() -> None:
    book = Book()
    # Binance buy without BNB: 1 BTC bought, 0.001 BTC kept as the fee.
    book.apply("acc", fill(BUY, "1", "100", fee="0.001", fee_currency="BTC"))
    h = only(book)
    assert (h.qty, h.avg_entry, h.fees) == (D("0.999"), D(100), D("0.1"))  # 0.001 BTC * 100
    # Started with 1000 USDT, spent 100: valued at 110, equity 900 + 0.999 * 110 = 1009.89.
    v = book.value({"BTC/USDT": D(110)}, {"USDT": D(900)})
    assert (v.positions_value, v.unrealised_pnl, v.equity, v.fees) == (
        D("109.89"),
        D("9.99"),  # (110 - 100) * 0.999
        D("1009.89"),
        D("0.1"),
    )
    # Net result = realised + unrealised - fees = 0 + 9.99 - 0.1 = 9.89 = equity - 1000.
    assert v.realised_pnl + v.unrealised_pnl - v.fees == v.equity - 1000
    # A sell with a base fee: 0.5 sold plus 0.0005 taken, both at 120 against 100.
    book.apply("acc", fill(SELL, "0.5", "120", fee="0.0005", fee_currency="BTC"))
    h = only(book)
    assert (h.qty, h.realised_pnl, h.fees) == (D("0.4985"), D("10.01"), D("0.16"))  # 20*0.5005; 0.1 + 0.06


def test_fees_in_the_quote_add_up_and_a_third_currency_needs_a_rate() -> None:
    book = Book()
    book.apply("acc", fill(BUY, "1", "100", fee="0.1"))
    book.apply("acc", fill(BUY, "1", "100", fee="0.075", fee_currency="BNB"))
    book.apply("acc", fill(BUY, "10", "2", symbol="ADA/USDT", fee="0.02"))
    assert book.fees() == {"USDT": D("0.12")}
    h = only(book)
    assert (h.qty, h.fees, h.other_fees) == (D(2), D("0.1"), (("BNB", D("0.075")),))
    prices = {"BTC/USDT": D(100), "ADA/USDT": D(2)}
    v = book.value(prices, {}, fx={"BNB": D(600)})
    assert v.fees == D("45.12")  # 0.1 + 0.02 + 0.075 * 600
    # Bad input: no BNB rate, so the BNB fee cannot be valued.
    with pytest.raises(DataError, match="BNB"):
        book.value(prices, {})


def test_a_fill_applied_twice_counts_once_per_account() -> None:
    book = Book()
    f = fill(BUY, "1", "100", fee="0.1", order="o-1", fill_id="t-1")
    book.apply("acc", f)
    book.apply("acc", f)  # bad input: the same fill replayed (a reconnect, a restart)
    assert (only(book).qty, only(book).fees) == (D(1), D("0.1"))
    book.apply("other", f)  # the same ids on another account are another fill
    assert book.quantities() == {"BTC/USDT": D(2)} and book.quantities("other") == {"BTC/USDT": D(1)}


def test_bad_fills_are_refused_with_the_reason() -> None:
    book = Book()
    with pytest.raises(DataError, match="BASE/QUOTE"):
        book.apply("acc", fill(BUY, "1", "100", symbol="BTCUSDT"))  # bad input: a symbol without its quote
    with pytest.raises(DataError, match="must be > 0"):
        book.apply("acc", fill(BUY, "0", "100"))  # bad input: zero quantity
    with pytest.raises(DataError, match="must be > 0"):
        book.apply("acc", fill(BUY, "1", "-5"))  # bad input: negative price
    with pytest.raises(DataError, match="bond"):
        book.apply("acc", fill(BUY, "1", "100"), asset_class="bond")  # bad input: unknown asset class
    with pytest.raises(DataError, match="takes all"):
        book.apply("acc", fill(BUY, "1", "100", fee="1", fee_currency="BTC"))  # bad input: fee eats the buy
    book.apply("acc", fill(BUY, "1", "100"))
    with pytest.raises(DataError, match="is crypto, not stock"):
        book.apply("acc", fill(BUY, "1", "100"), asset_class="stock")  # bad input: asset class changes
    assert only(book).qty == D(1)  # refused fills left nothing behind


def test_valuation_converts_every_quote_currency_to_the_base() -> None:
    book = Book()
    book.apply("binance:k1", fill(BUY, "0.5", "40000"))
    book.apply(
        "alpaca:k2", fill(BUY, "10", "200", symbol="AAPL/USD", fee_currency="USD"), asset_class="stock"
    )
    book.apply("kraken:k3", fill(BUY, "2", "1000", symbol="ETH/EUR", fee_currency="EUR"))
    prices = {"BTC/USDT": D(42000), "AAPL/USD": D(210), "ETH/EUR": D(1100)}
    cash = {"USDT": D(1000), "USD": D(500), "EUR": D(100)}
    v = book.value(prices, cash, fx={"EUR": D("1.1")})
    # Positions: 0.5*42000 (USDT at par) + 10*210 + 2*1100*1.1 = 21000 + 2100 + 2420 = 25520.
    assert v.positions_value == D(25520)
    # Unrealised: 0.5*2000 + 10*10 + 2*100*1.1 = 1000 + 100 + 220 = 1320.
    assert v.unrealised_pnl == D(1320)
    assert v.cash == D(1610) and v.equity == D(27130)  # 1000 + 500 + 100*1.1
    assert [hv.holding.account for hv in v.holdings] == ["alpaca:k2", "binance:k1", "kraken:k3"]
    # The stablecoin is at par unless fx says otherwise.
    assert book.value(prices, {}, fx={"EUR": D("1.1"), "USDT": D("0.99")}).positions_value == D(25310)
    # Bad input: a held symbol without a price is refused, never valued at 0.
    with pytest.raises(DataError, match="AAPL/USD"):
        book.value({"BTC/USDT": D(42000), "ETH/EUR": D(1100)}, cash, fx={"EUR": D("1.1")})
    # Bad input: EUR without a rate.
    with pytest.raises(DataError, match="EUR to USD"):
        book.value(prices, cash)


ETH = MarketRules("ETH/USDT", D("0.01"), D("0.01"), D("0.01"), D(10))
BTC = MarketRules("BTC/USDT", D("0.01"), D("0.001"), D("0.001"), D(10))
SOL = MarketRules("SOL/USDT", D("0.01"), D("0.1"), D("0.1"), D(10))
LINK = MarketRules("LINK/USDT", D("0.001"), D("0.01"), D("0.01"), D(100))
AAPL = MarketRules("AAPL/USD", D("0.01"), D(1), D(1), D(1), asset_class=AssetClass.STOCK)
RULES = {r.symbol: r for r in (ETH, BTC, SOL, LINK, AAPL)}
PRICES = {
    "BTC/USDT": D(40000),
    "ETH/USDT": D(2100),
    "SOL/USDT": D(20),
    "LINK/USDT": D(10),
    "AAPL/USD": D(250),
}


def test_rebalance_sells_first_rounds_to_the_lot_and_reports_what_it_drops() -> None:
    held = {"BTC/USDT": D("0.1"), "SOL/USDT": D(10), "LINK/USDT": D(5)}
    # Equity 10000: BTC 4000 (0.4), SOL 200 and LINK 50 not in the targets, the rest cash.
    plan = rebalance(
        {"BTC/USDT": D("0.5"), "ETH/USDT": D("0.3"), "AAPL/USD": D("0.02")}, held, PRICES, D(10000), RULES
    )
    got = [(o.side, o.symbol, o.qty, o.notional) for o in plan]
    assert got == [
        (SELL, "SOL/USDT", D("10.0"), D(200)),  # not in the targets: closed in full
        (BUY, "BTC/USDT", D("0.025"), D(1000)),  # 5000 - 4000 = 1000 / 40000
        (BUY, "ETH/USDT", D("1.42"), D("2982.00")),  # 3000 / 2100 = 1.428.. down to the 0.01 lot
    ]
    assert len(plan) == 3 and "0.4000 -> 0.5" in plan.orders[1].reason
    skipped = {o.symbol: o.reason for o in plan.skipped}
    # LINK: 5 * 10 = 50 is under its 100 minimum notional; AAPL: 200 / 250 = 0.8 share rounds to 0.
    assert "notional 50.00 is under the minimum 100" in skipped["LINK/USDT"]
    assert "rounds to 0 at the lot size 1" in skipped["AAPL/USD"]
    assert set(skipped) == {"LINK/USDT", "AAPL/USD"}


def test_rebalance_leaves_drift_under_the_tolerance_and_caps_at_the_maximum() -> None:
    # BTC 0.12375 * 40000 = 4950: 50 from the 5000 target, under 1 % of 10000.
    assert rebalance({"BTC/USDT": D("0.5")}, {"BTC/USDT": D("0.12375")}, PRICES, D(10000), RULES).orders == ()
    capped = {"BTC/USDT": MarketRules("BTC/USDT", D("0.01"), D("0.001"), max_qty=D("0.01"))}
    [order] = rebalance({"BTC/USDT": D("0.5")}, {}, PRICES, D(10000), capped)
    assert (order.side, order.qty) == (BUY, D("0.01")) and "capped" in order.reason
    # A short is covered towards its target: -0.05 BTC, target 0 -> buy 0.05.
    [cover] = rebalance({}, {"BTC/USDT": D("-0.05")}, PRICES, D(10000), RULES)
    assert (cover.side, cover.qty) == (BUY, D("0.050"))


def test_rebalance_refuses_bad_weights_and_missing_inputs() -> None:
    with pytest.raises(ConfigError, match="add up to 1.1"):
        rebalance({"BTC/USDT": D("0.7"), "ETH/USDT": D("0.4")}, {}, PRICES, D(1000), RULES)  # bad input: > 1
    with pytest.raises(ConfigError, match="between 0 and 1"):
        validate_weights({"BTC/USDT": D("-0.1")})  # bad input: a negative weight (no shorts by weight)
    with pytest.raises(ConfigError, match="between 0 and 1"):
        validate_weights({"BTC/USDT": D("1.5")})  # bad input: one weight over 1
    with pytest.raises(ConfigError, match="BASE/QUOTE"):
        validate_weights({"BTC": D("0.5")})  # bad input: a symbol without its quote
    with pytest.raises(ConfigError, match="a number"):
        validate_weights({"BTC/USDT": "half"})  # bad input: not a number
    with pytest.raises(DataError, match="no price for ETH/USDT"):
        rebalance({"ETH/USDT": D("0.5")}, {}, {}, D(1000), RULES)  # bad input: missing price
    with pytest.raises(DataError, match="no market rules for DOGE/USDT"):
        rebalance({"DOGE/USDT": D("0.5")}, {}, {"DOGE/USDT": D("0.1")}, D(1000), RULES)  # bad input: no rules
    with pytest.raises(DataError, match="equity is 0"):
        rebalance({"ETH/USDT": D("0.5")}, {}, PRICES, D(0), RULES)  # bad input: nothing to rebalance
    assert validate_weights({"BTC/USDT": 0.25, "ETH/USDT": D("0.75")}) == {
        "BTC/USDT": D("0.25"),
        "ETH/USDT": D("0.75"),
    }
