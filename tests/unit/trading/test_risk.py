"""The risk manager: each rule refused and passed with its reason, sizing from the stop distance with worked
numbers, merged limits, the daily-loss kill switch, reduce-only orders, stock hours, and the time per check."""

from __future__ import annotations

import statistics
import time as clock
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal as D
from zoneinfo import ZoneInfo

import pytest

from tsbot.core.enums import AssetClass
from tsbot.trading.market_hours import MarketHours
from tsbot.trading.models import MarketRules, OrderRequest, OrderSide, OrderType
from tsbot.trading.risk import RiskDecision, RiskLimits, RiskManager, RiskState, merged

NY = ZoneInfo("America/New_York")
NOW = datetime(2026, 11, 24, 15, 0, tzinfo=UTC)  # a Tuesday, 10:00 in New York
BTC = MarketRules(
    "BTC/USDT", tick_size=D("0.01"), lot_size=D("0.00001"), min_qty=D("0.00001"), min_notional=D(5)
)
AAPL = MarketRules(
    "AAPL/USD",
    D("0.01"),
    lot_size=D(1),
    min_qty=D(1),
    min_notional=D(1),
    asset_class=AssetClass.STOCK,
    shortable=True,
)
RM = RiskManager()


@pytest.fixture(scope="module")
def hours() -> MarketHours:
    return MarketHours(start=date(2026, 1, 1), end=date(2027, 12, 31))


def state(equity: str = "10000", **kw: object) -> RiskState:
    e = D(equity)
    st = RiskState(equity=e, peak_equity=e, day_start_equity=e)
    for k, v in kw.items():
        setattr(st, k, v)
    return st


def order(
    qty: str = "0.02", side: OrderSide = OrderSide.BUY, symbol: str = "BTC/USDT", **kw: object
) -> OrderRequest:
    return OrderRequest("tsb-1", "paper:1", symbol, side, OrderType.MARKET, D(qty), **kw)  # type: ignore[arg-type]


def check(
    req: OrderRequest,
    st: RiskState,
    limits: RiskLimits | None = None,
    rules: MarketRules = BTC,
    price: str = "50000",
    stop: str | None = "49000",
    now: datetime = NOW,
    hours: MarketHours | None = None,
) -> RiskDecision:
    return RM.check(
        req,
        state=st,
        limits=limits or RiskLimits(),
        rules=rules,
        price=D(price),
        stop_loss=None if stop is None else D(stop),
        now=now,
        hours=hours,
    )


def refused(decision: RiskDecision, *reasons: str) -> None:
    assert decision == RiskDecision(False, D(0), reasons, decision.kill_switch)


# --- sizing ---------------------------------------------------------------------------------------------------


def test_size_from_stop_distance_with_known_numbers() -> None:
    wide = RiskLimits(max_position_ratio=D(1))
    # 10,000 x 1 % = 100 at risk; stop 2 below 100 -> 50 shares
    assert RM.size(D(10000), D(100), D(98), wide, AAPL) == D(50)
    # stop 3 below: 33.3 -> rounded down to the 1-share lot
    assert RM.size(D(10000), D(100), D(97), wide, AAPL) == D(33)
    # a short's stop above the price sizes the same way
    assert RM.size(D(10000), D(100), D(103), wide, AAPL) == D(33)
    # BTC: 100 USDT at risk over 1,000 USDT of stop distance = 0.1 BTC
    assert RM.size(D(10000), D(50000), D(49000), wide, BTC) == D("0.1")


def test_size_is_capped_by_position_ratio_quantity_and_market_max() -> None:
    # the default 20 % cap: 2,000 USDT / 50,000 = 0.04 BTC, below the 0.1 BTC the stop allows
    assert RM.size(D(10000), D(50000), D(49000), RiskLimits(), BTC) == D("0.04")
    capped = RiskLimits(max_position_ratio=D(1), max_position_qty=D("0.03"))
    assert RM.size(D(10000), D(50000), D(49000), capped, BTC) == D("0.03")
    venue_max = MarketRules("BTC/USDT", D("0.01"), D("0.00001"), max_qty=D("0.025"))
    assert RM.size(D(10000), D(50000), D(49000), capped, venue_max) == D("0.025")
    # no stop: the position cap alone
    assert RM.size(D(10000), D(100), None, RiskLimits(), AAPL) == D(20)


def test_size_is_zero_below_market_minimum_or_without_equity() -> None:
    tiny = MarketRules("BTC/USDT", D("0.01"), D("0.00001"), min_notional=D(200))
    assert RM.size(D(10000), D(50000), D(40000), RiskLimits(), tiny) == D("0.01")  # 100 / 10,000 = 500 USDT
    assert RM.size(D(1000), D(50000), D(40000), RiskLimits(), tiny) == D(0)  # 0.001 BTC = 50 USDT < 200
    min_qty = MarketRules("BTC/USDT", D("0.01"), D("0.00001"), min_qty=D("0.002"))
    assert RM.size(D(1000), D(50000), D(40000), RiskLimits(), min_qty) == D(0)  # 0.001 BTC < 0.002
    assert RM.size(D(0), D(50000), D(49000), RiskLimits(), BTC) == D(0)


def test_size_rejects_stop_at_price_bad_price_and_no_limits() -> None:
    with pytest.raises(ValueError, match="stop-loss 100 is at the price"):
        RM.size(D(10000), D(100), D(100), RiskLimits(), AAPL)
    with pytest.raises(ValueError, match="price must be positive"):
        RM.size(D(10000), D(0), D(95), RiskLimits(), AAPL)
    none = RiskLimits(risk_per_trade_ratio=None, max_position_ratio=None)
    with pytest.raises(ValueError, match="cannot size"):
        RM.size(D(10000), D(100), D(95), none, AAPL)


# --- limits ---------------------------------------------------------------------------------------------------


def test_merged_takes_the_stricter_of_each_rule() -> None:
    user = RiskLimits(
        risk_per_trade_ratio=D("0.02"),
        max_position_ratio=D("0.3"),
        max_position_qty=None,
        max_open_positions=5,
        max_leverage=D(2),
        max_daily_loss_ratio=None,
        cooldown_after_stop=timedelta(hours=1),
        max_drawdown_ratio=D("0.25"),
        drawdown_pause=None,
        stock_market_hours_only=False,
        allow_short=True,
    )
    bot = RiskLimits(
        risk_per_trade_ratio=D("0.01"),
        max_position_ratio=D("0.5"),
        max_position_qty=D(3),
        max_open_positions=None,
        max_leverage=D(3),
        max_daily_loss_ratio=D("0.04"),
        cooldown_after_stop=timedelta(hours=4),
        max_drawdown_ratio=D("0.3"),
        drawdown_pause=timedelta(hours=12),
        stock_market_hours_only=True,
        allow_short=False,
    )
    expected = RiskLimits(
        risk_per_trade_ratio=D("0.01"),
        max_position_ratio=D("0.3"),
        max_position_qty=D(3),
        max_open_positions=5,
        max_leverage=D(2),
        max_daily_loss_ratio=D("0.04"),
        cooldown_after_stop=timedelta(hours=4),
        max_drawdown_ratio=D("0.25"),
        drawdown_pause=timedelta(hours=12),
        stock_market_hours_only=True,
        allow_short=False,
    )
    assert merged(user, bot) == expected
    assert merged(bot, user) == expected
    assert merged(user, None) is user


@pytest.mark.parametrize(
    ("bad", "match"),
    [
        ({"risk_per_trade_ratio": D("1.5")}, "risk_per_trade_ratio must be in"),
        ({"max_daily_loss_ratio": D(0)}, "max_daily_loss_ratio must be in"),
        ({"max_leverage": D(-1)}, "max_leverage must be positive"),
        ({"max_position_qty": D("NaN")}, "max_position_qty must be positive"),
        ({"max_open_positions": -1}, "max_open_positions must not be negative"),
        ({"cooldown_after_stop": timedelta(minutes=-5)}, "cooldown_after_stop must not be negative"),
    ],
)
def test_limits_reject_out_of_range_values(bad: dict[str, object], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        RiskLimits(**bad)  # type: ignore[arg-type]


# --- the rules ------------------------------------------------------------------------------------------------


def test_order_within_every_limit_passes_unchanged() -> None:
    assert check(order("0.02"), state()) == RiskDecision(True, D("0.02"), ())


def test_naive_now_is_rejected() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        check(order(), state(), now=datetime(2026, 11, 24, 15, 0))


def test_symbol_mismatch_and_zero_quantity_are_refused() -> None:
    refused(
        check(order(symbol="ETH/USDT"), state()),
        "order is for ETH/USDT but the market rules are for BTC/USDT",
    )
    refused(check(order("0"), state()), "quantity (0) and price (50000) must be positive")


def test_daily_loss_trips_the_kill_switch_until_midnight() -> None:
    st = state(day_start_equity=D(10000), peak_equity=D(10000))
    st.equity = D(9520)  # 4.8 %: under the 5 % limit
    assert check(order(), st).allowed
    st.equity = D(9480)  # 5.2 %
    reason = "daily loss 5.2 % reached the limit of 5 %: trading stopped until 00:00 UTC"
    tripped = check(order(), st)
    assert tripped == RiskDecision(False, D(0), (reason,), kill_switch=True)
    assert st.kill_switch_reason == reason
    assert st.kill_switch_until == datetime(2026, 11, 25, tzinfo=UTC)
    again = check(order(), st, now=NOW + timedelta(hours=3))
    assert again == RiskDecision(False, D(0), (f"kill switch active: {reason}",), kill_switch=False)
    # closing still works while stopped
    st.positions["BTC/USDT"] = D("0.05")
    close = check(order("0.05", OrderSide.SELL, reduce_only=True), st)
    assert close == RiskDecision(True, D("0.05"), ())
    del st.positions["BTC/USDT"]
    # the next day, once the day starts afresh, trading resumes
    st.start_day()
    assert st.kill_switch_reason is None and st.day_start_equity == D(9480)
    assert check(order(), st, now=datetime(2026, 11, 25, 0, 1, tzinfo=UTC)).allowed


def test_kill_switch_set_by_a_person_stays_until_reset() -> None:
    st = state(kill_switch_reason="stopped by the user")
    refused(check(order(), st, now=NOW + timedelta(days=5)), "kill switch active: stopped by the user")
    st.resume()
    assert check(order(), st).allowed


def test_drawdown_pauses_trading_then_resumes_after_the_pause() -> None:
    st = state(peak_equity=D(12600))  # equity 10,000: 20.6 % down from the peak
    refused(
        check(order(), st),
        "drawdown 20.6 % from the peak equity of 12,600.00 reached the limit of 20 %: trading paused until "
        "2026-11-25 15:00 UTC",
    )
    assert st.paused_until == NOW + timedelta(days=1)
    refused(
        check(order(), st, now=NOW + timedelta(hours=23)),
        "trading is paused after a drawdown until 2026-11-25 15:00 UTC",
    )
    later = check(order(), st, now=NOW + timedelta(days=1, minutes=1))
    assert later.allowed and st.paused_until is None and st.peak_equity == D(10000)


def test_drawdown_under_the_limit_passes_and_no_pause_means_until_resumed() -> None:
    assert check(order(), state(peak_equity=D(12400))).allowed  # 19.4 %
    st = state(peak_equity=D(12600))
    decision = check(order(), st, limits=RiskLimits(drawdown_pause=None))
    assert decision.reasons[0].endswith("trading paused until a person resumes it")
    assert st.paused_until is None


def test_cooldown_after_a_stop_out_on_that_symbol() -> None:
    st = state(last_stop_out_at={"BTC/USDT": NOW - timedelta(minutes=30)})
    refused(
        check(order(), st),
        "BTC/USDT was stopped out at 2026-11-24 14:30 UTC: no new entry before 2026-11-24 15:30 UTC "
        "(cooldown of 1 h)",
    )
    assert check(order(), st, now=NOW + timedelta(minutes=31)).allowed
    eth = MarketRules("ETH/USDT", D("0.01"), D("0.0001"))
    assert check(order("0.5", symbol="ETH/USDT"), st, rules=eth, price="3000", stop="2950").allowed
    assert check(order(), st, limits=RiskLimits(cooldown_after_stop=None)).allowed


@pytest.mark.parametrize(
    ("at", "next_open"),
    [
        (datetime(2026, 11, 28, 11, 0, tzinfo=NY), "2026-11-30 14:30 UTC"),  # Saturday
        (datetime(2026, 11, 26, 11, 0, tzinfo=NY), "2026-11-27 14:30 UTC"),  # Thanksgiving
        (datetime(2026, 11, 24, 9, 29, tzinfo=NY), "2026-11-24 14:30 UTC"),  # a minute before the open
        (datetime(2026, 11, 24, 16, 0, tzinfo=NY), "2026-11-25 14:30 UTC"),  # the close
        (datetime(2026, 11, 27, 13, 0, tzinfo=NY), "2026-11-30 14:30 UTC"),  # the early close
    ],
)
def test_stock_order_outside_market_hours_is_refused(
    hours: MarketHours, at: datetime, next_open: str
) -> None:
    decision = check(
        order("5", symbol="AAPL/USD"), state(), rules=AAPL, price="200", stop="196", now=at, hours=hours
    )
    utc = at.astimezone(UTC).strftime("%Y-%m-%d %H:%M")
    refused(
        decision, f"AAPL/USD is outside market hours at {utc} UTC: the XNYS session opens next at {next_open}"
    )


@pytest.mark.parametrize(
    "at",
    [
        datetime(2026, 11, 24, 9, 30, tzinfo=NY),
        datetime(2026, 11, 24, 15, 59, tzinfo=NY),
        datetime(2026, 11, 27, 12, 59, tzinfo=NY),  # before the 13:00 early close
    ],
)
def test_stock_order_inside_market_hours_passes(hours: MarketHours, at: datetime) -> None:
    decision = check(
        order("5", symbol="AAPL/USD"), state(), rules=AAPL, price="200", stop="196", now=at, hours=hours
    )
    assert decision == RiskDecision(True, D(5), ())


def test_stock_hours_switched_off_missing_and_crypto_on_a_saturday(hours: MarketHours) -> None:
    saturday = datetime(2026, 11, 28, 16, 0, tzinfo=UTC)
    aapl = order("5", symbol="AAPL/USD")
    off = RiskLimits(stock_market_hours_only=False)
    assert check(aapl, state(), off, AAPL, "200", "196", saturday, hours).allowed
    refused(
        check(aapl, state(), None, AAPL, "200", "196", saturday, None),
        "no market hours were given to check that AAPL/USD trades at 2026-11-28 16:00 UTC",
    )
    assert check(order(), state(), now=saturday).allowed


def test_max_open_positions_counts_only_new_symbols() -> None:
    held = {f"C{i}/USDT": D(1) for i in range(10)}
    st = state(positions={**held}, position_values={s: D(100) for s in held})
    refused(check(order(), st), "10 positions are open, the limit is 10: no new position in BTC/USDT")
    st.positions["BTC/USDT"] = D("0.01")
    st.position_values["BTC/USDT"] = D(500)
    assert check(order(), st).allowed  # adding to a held symbol
    assert check(order(), state(positions={**held}), RiskLimits(max_open_positions=11)).allowed


def test_max_leverage_on_gross_exposure_and_on_the_order() -> None:
    st = state(
        positions={"ETH/USDT": D(3), "SOL/USDT": D(-20)},
        position_values={"ETH/USDT": D(9000), "SOL/USDT": D(-500)},
    )
    limits = RiskLimits(allow_short=True)
    refused(
        check(order("0.02"), st, limits),  # 9,000 + 500 + 1,000 = 10,500 on 10,000 of equity
        "the order would take exposure to 10,500.00 USDT, 1.05 x the equity of 10,000.00 USDT, above the leverage "
        "limit of 1 x",
    )
    assert check(order("0.01"), st, limits).allowed  # 10,000: at the limit
    refused(
        check(order(leverage=D(3)), state(), RiskLimits(max_leverage=D(2))),
        "order asks for 3 x leverage, the limit is 2 x",
    )
    assert check(order(leverage=D(2)), state(), RiskLimits(max_leverage=D(2))).allowed


def test_max_position_size_reduces_the_quantity_when_the_rest_is_tradeable() -> None:
    st = state(positions={"BTC/USDT": D("0.03")}, position_values={"BTC/USDT": D(1500)})
    decision = check(order("0.02"), st)  # cap: 20 % of 10,000 = 2,000 USDT = 0.04 BTC; room 0.01
    assert decision == RiskDecision(
        True,
        D("0.01"),
        (
            "quantity reduced from 0.02 to 0.01 BTC: the position would be 0.05 BTC (2,500.00 USDT), over 20 % of "
            "equity (2,000.00 USDT)",
        ),
    )


def test_max_position_qty_reduces_and_full_position_refuses() -> None:
    limits = RiskLimits(max_position_ratio=None, max_position_qty=D("0.015"))
    reduced = check(order("0.02"), state(), limits)
    assert reduced.qty == D("0.015")
    assert reduced.reasons == (
        "quantity reduced from 0.02 to 0.015 BTC: the position would be 0.02 BTC (1,000.00 USDT), over 0.015 BTC",
    )
    st = state(positions={"BTC/USDT": D("0.04")}, position_values={"BTC/USDT": D(2000)})
    refused(
        check(order("0.01"), st),
        "order of 0.01 BTC refused: the position would be 0.05 BTC (2,500.00 USDT), over 20 % of equity "
        "(2,000.00 USDT); none fits",
    )


def test_max_position_size_refuses_when_the_room_is_under_the_minimum_notional() -> None:
    rules = MarketRules("BTC/USDT", D("0.01"), D("0.00001"), min_notional=D(1000))
    st = state(positions={"BTC/USDT": D("0.03")}, position_values={"BTC/USDT": D(1500)})
    refused(
        check(order("0.02"), st, rules=rules),
        "order of 0.02 BTC refused: the position would be 0.05 BTC (2,500.00 USDT), over 20 % of equity "
        "(2,000.00 USDT); the 0.01 BTC that fits is under the market's minimum",
    )


def test_risk_per_trade_reduces_an_order_whose_stop_risks_too_much() -> None:
    decision = check(order("0.04"), state(), stop="47000")  # 0.04 x 3,000 = 120 USDT at risk > 100
    assert decision.allowed and decision.qty == D("0.03333")
    assert decision.reasons == (
        "quantity reduced from 0.04 to 0.03333 BTC: with the stop-loss at 47000 it risks 120.00 USDT, more than "
        "1 % of equity (100.00 USDT)",
    )
    refused(
        check(order(), state(), stop="51000"), "the stop-loss 51000 must be below the price of a buy (50000)"
    )


def test_shorting_not_allowed() -> None:
    refused(
        check(order("0.01", OrderSide.SELL), state(), stop="51000"),
        "sell of 0.01 BTC would open a short, and shorting is not allowed: the risk limits do not allow it",
    )
    st = state(positions={"BTC/USDT": D("0.005")}, position_values={"BTC/USDT": D(250)})
    refused(
        check(order("0.01", OrderSide.SELL), st, stop="51000"),
        "sell of 0.01 BTC is more than the 0.005 BTC held, and shorting is not allowed: the risk limits do not "
        "allow it",
    )
    allow = RiskLimits(allow_short=True)
    refused(
        check(order("0.01", OrderSide.SELL), state(), allow, stop="51000"),
        "sell of 0.01 BTC would open a short, and shorting is not allowed: BTC/USDT is not shortable",
    )


def test_short_passes_where_allowed_and_the_market_is_shortable(hours: MarketHours) -> None:
    decision = check(
        order("5", OrderSide.SELL, "AAPL/USD"),
        state(),
        RiskLimits(allow_short=True),
        AAPL,
        "200",
        "204",
        hours=hours,
    )
    assert decision == RiskDecision(True, D(5), ())


def test_plain_sell_that_only_reduces_skips_exposure_rules() -> None:
    st = state(
        positions={"BTC/USDT": D("0.5")},
        position_values={"BTC/USDT": D(25000)},
        last_stop_out_at={"BTC/USDT": NOW - timedelta(minutes=5)},
    )
    assert check(order("0.3", OrderSide.SELL), st, stop=None) == RiskDecision(True, D("0.3"), ())


def test_reduce_only_sell_of_more_than_held_is_refused() -> None:
    st = state(positions={"BTC/USDT": D("0.5")}, position_values={"BTC/USDT": D(25000)})
    refused(
        check(order("0.6", OrderSide.SELL, reduce_only=True), st, stop=None),
        "reduce-only sell of 0.6 BTC is more than the 0.5 BTC held in BTC/USDT",
    )
    refused(
        check(order("0.1", reduce_only=True), st, stop=None),
        "reduce-only buy of 0.1 BTC reduces nothing in BTC/USDT",
    )
    assert check(order("0.5", OrderSide.SELL, reduce_only=True), st, stop=None) == RiskDecision(
        True, D("0.5"), ()
    )


def test_reduce_only_passes_every_other_rule(hours: MarketHours) -> None:
    st = state(
        positions={"AAPL/USD": D(100)},
        position_values={"AAPL/USD": D(20000)},
        kill_switch_reason="stopped by the user",
        last_stop_out_at={"AAPL/USD": NOW},
    )
    saturday = datetime(2026, 11, 28, 16, 0, tzinfo=UTC)
    close = order("100", OrderSide.SELL, "AAPL/USD", reduce_only=True)
    assert check(close, st, None, AAPL, "200", None, saturday, hours) == RiskDecision(True, D(100), ())


def test_refusals_from_several_rules_are_all_reported(hours: MarketHours) -> None:
    st = state(last_stop_out_at={"AAPL/USD": NOW - timedelta(hours=2)})
    saturday = datetime(2026, 11, 28, 16, 0, tzinfo=UTC)
    decision = check(
        order("5", symbol="AAPL/USD"),
        st,
        RiskLimits(cooldown_after_stop=timedelta(days=7)),
        AAPL,
        "200",
        "196",
        saturday,
        hours,
    )
    assert not decision.allowed and len(decision.reasons) == 2
    assert decision.reasons[0].startswith("AAPL/USD is outside market hours")
    assert decision.reasons[1].endswith("(cooldown of 168 h)")


def test_check_takes_under_100_microseconds_with_ten_positions(hours: MarketHours) -> None:
    held = {f"C{i}/USDT": D("1.5") for i in range(9)}
    st = state(
        "100000",
        positions={**held, "BTC/USDT": D("0.1")},
        position_values={**{s: D(3000) for s in held}, "BTC/USDT": D(5000)},
    )
    st.peak_equity = D(104000)
    st.day_start_equity = D(101000)
    st.last_stop_out_at = {"C1/USDT": NOW - timedelta(hours=3)}
    req = order("0.05")
    assert check(req, st, hours=hours).allowed
    timings = []
    for _ in range(2000):
        start = clock.perf_counter()
        check(req, st, hours=hours)
        timings.append((clock.perf_counter() - start) * 1e6)
    assert statistics.median(timings) < 100.0
