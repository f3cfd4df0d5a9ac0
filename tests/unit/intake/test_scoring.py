"""Replaying a provider's signals over hand-built candles: every fill, exit and scoring rule, numbers by hand."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import numpy as np
import pytest

from tsbot.config import ProviderScoringConfig
from tsbot.intake.models import EntryKind, ParsedPost, PostKind, Side, SignalUpdate, TradeIntent, UpdateEvent
from tsbot.intake.scoring import (
    NO_STOP_RISK_RATIO,
    ExitReason,
    Post,
    PostReading,
    ReplayedTrade,
    equity_curve,
    max_drawdown_ratio,
    parse_posted_at,
    read_all,
    read_posts,
    replay_signal,
    resolve_symbol,
    score_readings,
    score_trades,
    wanted_series,
)
from tsbot.market.models import CandleFrame, Timeframe

H = timedelta(hours=1)
#: Open time of bar 0, the bar that contains every post of these tests; bar 1 opens at T0 + 1 h.
T0 = datetime(2022, 3, 1, tzinfo=UTC)
POSTED = T0 + timedelta(minutes=30)
NO_FEES = ProviderScoringConfig(fee_ratio=0.0, entry_expiry_hours=48, max_hold_hours=240)
#: Bar 0, the one the post falls in: it would fill and hit everything if it were (wrongly) used.
WILD = (100.0, 1000.0, 1.0, 100.0)


def frame(*bars: tuple[float, float, float, float]) -> CandleFrame:
    """Hourly candles from (open, high, low, close) tuples, bar 0 opening at T0."""
    t0 = int(T0.timestamp() * 1000)
    rows = [(t0 + i * 3_600_000, o, h, lo, c, 1.0) for i, (o, h, lo, c) in enumerate(bars)]
    return CandleFrame.from_rows(rows)


def intent(
    side: Side = Side.LONG,
    entry: tuple[float, ...] = (),
    kind: EntryKind | None = None,
    targets: tuple[float, ...] = (),
    stop: float | None = None,
) -> TradeIntent:
    if kind is None:
        kind = EntryKind.MARKET if not entry else EntryKind.SINGLE if len(entry) == 1 else EntryKind.LIST
    return TradeIntent(
        symbol="BTC/USDT",
        side=side,
        entry=tuple(Decimal(str(p)) for p in entry),
        entry_kind=kind,
        targets=tuple(Decimal(str(t)) for t in targets),
        stop=None if stop is None else Decimal(str(stop)),
        leverage=Decimal(20),
    )


def replay(
    signal: TradeIntent, candles: CandleFrame, config: ProviderScoringConfig = NO_FEES
) -> ReplayedTrade:
    return replay_signal(signal, POSTED, candles, Timeframe.H1, config, post_id="p1", provider="chan")


# ------------------------------------------------------------------------------------------------------- entries


def test_market_entry_fills_at_the_open_of_the_first_bar_after_the_post() -> None:
    candles = frame(WILD, (101, 102, 100.5, 101.5), (101.5, 111, 101, 110))
    trade = replay(intent(targets=(110,), stop=90), candles)
    assert trade.filled_at == T0 + H and trade.entry == 101
    assert trade.exit_reason is ExitReason.TARGET and trade.exit == 110 and trade.exit_at == T0 + 2 * H
    assert trade.r == pytest.approx(9 / 11)  # (110 - 101) / (101 - 90)


def test_limit_entry_fills_at_its_price_and_targets_wait_for_the_next_bar() -> None:
    candles = frame(
        WILD,
        (105, 106, 101, 104),  # low 101 > 100: no fill
        (103, 111, 99, 100),  # fills at 100 inside the bar; the high of 111 may have come first
        (100, 110.5, 99.5, 110),  # take-profit 110
    )
    trade = replay(intent(entry=(100,), targets=(110,), stop=95), candles)
    assert trade.filled_at == T0 + 2 * H and trade.entry == 100
    assert trade.exit_at == T0 + 3 * H and trade.exit == 110
    assert trade.r == pytest.approx(2.0)  # 10 / 5


def test_a_bar_opening_through_the_entry_fills_at_its_open_and_may_take_profit_at_once() -> None:
    candles = frame(WILD, (98, 111, 97, 109))
    trade = replay(intent(entry=(100,), targets=(110,), stop=90), candles)
    assert trade.entry == 98 and trade.exit == 110 and trade.exit_at == T0 + H
    assert trade.r == pytest.approx(1.5)  # (110 - 98) / (98 - 90)


def test_zone_splits_the_position_over_its_edges_and_averages() -> None:
    candles = frame(
        WILD,
        (101, 101.5, 99, 100),  # upper edge 100 fills
        (99, 99.5, 95, 97),  # lower edge 96 fills
        (97, 104.5, 96.5, 104),  # take-profit 104
    )
    trade = replay(intent(entry=(100, 96), kind=EntryKind.ZONE, targets=(104,), stop=90), candles)
    assert trade.entries_filled == 2 and trade.entry == pytest.approx(98)
    assert trade.r == pytest.approx(0.75)  # (104 - 98) / (98 - 90)


def test_unfilled_entries_are_cancelled_when_the_first_target_is_hit() -> None:
    candles = frame(
        WILD,
        (101, 101.5, 99.5, 100.5),  # entry 100 fills
        (101, 103.5, 100.5, 103),  # target 1 (103): half closes; the order at 96 is cancelled
        (102, 102.5, 95.5, 97),  # would fill 96 if it were still open
        (97, 106.5, 96.5, 106),  # target 2 (106)
    )
    trade = replay(intent(entry=(100, 96), targets=(103, 106), stop=94), candles)
    assert trade.entries_filled == 1 and trade.entry == 100
    assert trade.targets_hit == 2 and trade.exit == pytest.approx(104.5)
    assert trade.r == pytest.approx(0.75)  # ((103 - 100) + (106 - 100)) / 2 / (100 - 94)


def test_the_bar_that_contains_the_post_is_never_used() -> None:
    candles = frame((100, 100, 99, 99.5), (105, 106, 104, 105))
    limit = replay(intent(entry=(99.5,), targets=(110,), stop=90), candles)
    assert limit.exit_reason is ExitReason.NOT_FILLED  # bar 0 touched 99.5, bar 1 did not
    market = replay(intent(targets=(110,), stop=90), candles)
    assert market.entry == 105 and market.filled_at == T0 + H
    # A post at the very open of a bar: that bar is the one containing it; the next bar is the first used.
    on_open = frame(WILD, (105, 106, 104, 105), (107, 108, 106, 107))
    exact = replay_signal(intent(targets=(110,), stop=90), T0 + H, on_open, Timeframe.H1, NO_FEES)
    assert exact.entry == 107 and exact.filled_at == T0 + 2 * H


def test_a_signal_whose_first_target_comes_before_any_entry_is_not_filled() -> None:
    candles = frame(WILD, (105, 111, 104, 110), (110, 110, 99, 100))
    trade = replay(intent(entry=(100,), targets=(110,), stop=95), candles)
    assert trade.exit_reason is ExitReason.NOT_FILLED and trade.r is None and not trade.filled


# --------------------------------------------------------------------------------------------------------- exits


def test_a_bar_touching_stop_and_target_is_taken_as_a_stop() -> None:
    candles = frame(WILD, (100, 101, 99.5, 100), (100, 106, 94, 104))
    trade = replay(intent(targets=(105,), stop=95), candles)
    assert trade.exit_reason is ExitReason.STOP and trade.exit == 95 and trade.targets_hit == 0
    assert trade.r == pytest.approx(-1.0)


def test_a_bar_opening_through_the_stop_exits_at_its_worse_open() -> None:
    candles = frame(WILD, (100, 101, 99.5, 100), (93, 94, 92, 93))
    trade = replay(intent(targets=(105,), stop=95), candles)
    assert trade.exit == 93 and trade.r == pytest.approx(-1.4)  # (93 - 100) / 5


def test_targets_close_equal_fractions_and_the_stop_stays_put() -> None:
    candles = frame(
        WILD,
        (100, 102.5, 99.5, 102),  # target 1: 102
        (102, 104.2, 101, 104),  # target 2: 104
        (103, 103.5, 95, 96),  # stop 96 (not moved to break-even) closes the last third
    )
    trade = replay(intent(targets=(102, 104, 106), stop=96), candles)
    assert trade.exit_reason is ExitReason.STOP and trade.targets_hit == 2
    assert trade.exit == pytest.approx((102 + 104 + 96) / 3)
    assert trade.r == pytest.approx((2 + 4 - 4) / 3 / 4)  # 1/6


def test_a_bar_opening_beyond_a_target_takes_it_at_the_open() -> None:
    candles = frame(WILD, (100, 101, 99.5, 100.5), (105, 105.5, 104.5, 105))
    trade = replay(intent(targets=(102, 104), stop=96), candles)
    assert trade.exit_reason is ExitReason.TARGET and trade.exit == 105  # both halves at the open of 105
    assert trade.r == pytest.approx(5 / 4)


def test_entries_expire_after_entry_expiry_hours() -> None:
    config = ProviderScoringConfig(fee_ratio=0, entry_expiry_hours=3, max_hold_hours=24)
    # Posted at 00:30, expiry at 03:30: bars opening at 01:00, 02:00, 03:00 may fill; the 04:00 bar may not.
    candles = frame(WILD, (95, 96, 94, 95), (95, 96, 94, 95), (95, 96, 94, 95), (95, 96, 89, 90))
    trade = replay(intent(entry=(90,), targets=(100,), stop=85), candles, config)
    assert trade.exit_reason is ExitReason.EXPIRED and trade.r is None
    ok = replay(intent(entry=(94,), targets=(100,), stop=85), candles, config)
    assert ok.filled


def test_a_trade_is_closed_at_a_bar_close_after_max_hold_hours() -> None:
    config = ProviderScoringConfig(fee_ratio=0, entry_expiry_hours=3, max_hold_hours=3)
    bars = [(100, 101, 99, 100), (100, 101, 99, 101), (101, 102, 100, 102), (102, 103, 101, 103)]
    trade = replay(intent(targets=(110,), stop=90), frame(WILD, *bars), config)
    # Filled at the 01:00 open; the 03:00 bar closes at 04:00 = fill + 3 h, at 102.
    assert trade.exit_reason is ExitReason.TIMEOUT and trade.exit_at == T0 + 3 * H and trade.exit == 102
    assert trade.r == pytest.approx(0.2)


def test_a_trade_still_open_when_the_candles_end_closes_at_the_last_close() -> None:
    trade = replay(intent(targets=(110,), stop=90), frame(WILD, (100, 101, 99, 100), (100, 102, 99, 104)))
    assert trade.exit_reason is ExitReason.END_OF_DATA and trade.exit == 104 and trade.r == pytest.approx(0.4)


# ---------------------------------------------------------------------------------------------- shorts, no stop


def test_short_mirrors_fills_targets_and_stop() -> None:
    candles = frame(
        WILD,
        (98, 100.5, 97.5, 100),  # sell limit 100 fills inside the bar
        (99, 99.5, 94.5, 95),  # target 1: 95
        (96, 96.5, 89, 90),  # target 2: 90
    )
    trade = replay(intent(Side.SHORT, entry=(100,), targets=(95, 90), stop=105), candles)
    assert trade.side is Side.SHORT and trade.entry == 100 and trade.exit == pytest.approx(92.5)
    assert trade.exit_reason is ExitReason.TARGET and trade.r == pytest.approx(1.5)  # (5 + 10) / 2 / 5

    gap = replay(
        intent(Side.SHORT, entry=(100,), targets=(95,), stop=105), frame(WILD, (101, 102, 100.5, 101))
    )
    assert gap.entry == 101  # opened above the sell limit: filled at the better open

    stopped = frame(WILD, (100, 100.5, 99.5, 100), (107, 108, 94, 100))  # gap through the stop, target too
    worse = replay(intent(Side.SHORT, targets=(95,), stop=105), stopped)
    assert worse.exit_reason is ExitReason.STOP and worse.exit == 107 and worse.r == pytest.approx(-1.4)


def test_a_signal_without_stop_uses_a_ten_percent_risk_for_r() -> None:
    win = replay(intent(targets=(105,)), frame(WILD, (100, 101, 99, 100), (100, 106, 60, 104)))
    assert NO_STOP_RISK_RATIO == 0.10
    assert not win.has_stop and win.exit_reason is ExitReason.TARGET and win.r == pytest.approx(0.5)
    config = ProviderScoringConfig(fee_ratio=0, entry_expiry_hours=3, max_hold_hours=2)
    loss = replay(intent(targets=(105,)), frame(WILD, (100, 101, 85, 85), (85, 86, 79, 80)), config)
    assert loss.exit_reason is ExitReason.TIMEOUT and loss.r == pytest.approx(-2.0)  # -20 / 10: beyond 1 R
    score = score_trades("chan", [win, loss], config)
    assert score.signals_without_stop == 2


def test_fees_are_paid_on_every_fill_and_leverage_does_not_change_r() -> None:
    config = ProviderScoringConfig(fee_ratio=0.001, entry_expiry_hours=48, max_hold_hours=240)
    trade = replay(intent(targets=(110,), stop=90), frame(WILD, (100, 111, 99, 110)), config)
    assert trade.r == pytest.approx((10 - 0.1 - 0.11) / 10)  # fees 0.1 % of 100 in, 0.1 % of 110 out


# ------------------------------------------------------------------------------------------ equity and the score


def closed(r: float, filled_h: int, exit_h: int, post_id: str = "p") -> ReplayedTrade:
    return ReplayedTrade(
        post_id,
        "chan",
        "BTC/USDT",
        Side.LONG,
        T0,
        ExitReason.TARGET if r > 0 else ExitReason.STOP,
        filled_at=T0 + filled_h * H,
        exit_at=T0 + exit_h * H,
        entry=100.0,
        exit=100.0 + r,
        r=r,
    )


def test_equity_compounds_at_the_fill_and_applies_trades_in_exit_order() -> None:
    trades = [closed(2, 1, 2), closed(-1, 3, 4), closed(-1, 5, 6), closed(3, 7, 8)]
    times, equity = equity_curve(trades, 0.01)
    expected = [1.0, 1.02, 1.0098, 0.999702, 1.02969306]  # 1.0098 = 1.02 - 0.0102; then -1 %, then +3 %
    assert equity == pytest.approx(expected)
    assert times[0] == int((T0 + H).timestamp() * 1000)
    assert max_drawdown_ratio(equity) == pytest.approx((1.02 - 0.999702) / 1.02)

    score = score_trades("chan", trades, ProviderScoringConfig(risk_per_trade_ratio=0.01))
    assert (score.filled, score.wins, score.losses) == (4, 2, 2)
    assert score.win_rate == 0.5 and score.average_r == pytest.approx(0.75)
    assert score.profit_factor == pytest.approx(2.5)  # (2 + 3) / (1 + 1)
    assert score.total_return_ratio == pytest.approx(0.02969306)
    assert score.max_drawdown_ratio == pytest.approx(0.0199)


def test_overlapping_trades_risk_the_equity_known_at_their_fill() -> None:
    # A fills at 1 h and exits at 4 h (+10 R); B fills at 2 h, before A's exit, and exits at 5 h (+10 R).
    _, equity = equity_curve([closed(10, 1, 4), closed(10, 2, 5), closed(-1, 6, 7)], 0.01)
    assert equity == pytest.approx([1.0, 1.1, 1.2, 1.188])  # B risks 1 % of 1.0, not of 1.1; C 1 % of 1.2
    # Exit order, not post order: the later-posted short trade exits first.
    _, reordered = equity_curve([closed(1, 1, 9), closed(-1, 2, 3)], 0.01)
    assert reordered == pytest.approx([1.0, 0.99, 1.0])
    assert max_drawdown_ratio(reordered) == pytest.approx(0.01)


def test_profit_factor_is_infinite_without_losses_and_none_without_trades() -> None:
    config = ProviderScoringConfig()
    assert math.isinf(score_trades("a", [closed(1, 1, 2)], config).profit_factor or 0.0)
    assert score_trades("a", [closed(1, 1, 2)], config).to_dict()["profit_factor"] == "inf"
    empty = score_trades("a", [], config)
    assert empty.profit_factor is None and empty.fill_rate == 0.0 and empty.max_drawdown_ratio == 0.0
    assert max_drawdown_ratio(np.array([1.0])) == 0.0


# --------------------------------------------------------------------------------------------------- bad input


def test_bad_lines_of_a_posts_file_are_reported_with_their_number_and_skipped() -> None:
    lines = [
        '{"id": "1", "provider": "chan", "posted_at": "2022-03-01T00:30:00Z", "text": "BTC LONG"}',
        '{"id": "2", "provider": "chan", "posted_at": "2022-03-01T00:30:00Z", "text": ',  # bad input: cut JSON
        '{"id": "3", "provider": "chan", "text": "no time"}',  # bad input: posted_at missing
        "",
        '{"id": 4, "channel": "other", "posted_at": 1646094600000, "text": "ms epoch and channel"}',
        '{"id": "5", "provider": "chan", "posted_at": "2022-03-01T00:30:00", "text": "naive"}',  # bad: no zone
        '["a", "list"]',  # bad input: not an object
        '{"id": "7", "provider": "chan", "posted_at": "yesterday", "text": "x"}',  # bad input: unreadable time
        '{"id": "8", "posted_at": "2022-03-01T00:30:00+02:00", "text": "no provider"}',  # bad input: no provider
    ]
    result = read_posts(lines)
    assert [p.id for p in result.posts] == ["1", "4"]
    assert result.posts[1].provider == "other" and result.posts[1].posted_at == POSTED
    assert result.posts[1].line_no == 5
    reasons = {s.line_no: s.reason for s in result.skipped}
    assert sorted(reasons) == [2, 3, 6, 7, 8, 9]
    assert "not valid JSON" in reasons[2] and reasons[3] == "missing posted_at"
    assert "no time zone" in reasons[6] and "not a JSON object" in reasons[7]
    assert "ISO-8601" in reasons[8] and reasons[9] == "missing provider"
    assert parse_posted_at("2022-03-01T02:30:00+02:00") == POSTED


def test_a_post_before_the_candles_start_or_after_they_end_has_no_data() -> None:
    candles = frame((100, 101, 99, 100), (100, 101, 99, 100))
    early = replay_signal(intent(), T0 - 2 * H, candles, Timeframe.H1, NO_FEES)
    assert early.exit_reason is ExitReason.NO_DATA and "before the first candle" in early.note
    late = replay_signal(intent(), T0 + 5 * H, candles, Timeframe.H1, NO_FEES)
    assert late.exit_reason is ExitReason.NO_DATA and "after the last candle" in late.note
    empty = replay_signal(intent(), T0, CandleFrame.empty(), Timeframe.H1, NO_FEES)
    assert empty.exit_reason is ExitReason.NO_DATA


def test_symbols_map_to_the_store_and_unknown_ones_count_as_no_data() -> None:
    known = ["BTC/USDT", "SOL/USDT"]
    assert resolve_symbol("SOL", known) == "SOL/USDT" and resolve_symbol("solusdt", known) == "SOL/USDT"
    assert resolve_symbol("SOL/USDT", known) == "SOL/USDT" and resolve_symbol("REEF/USDT", known) is None
    assert resolve_symbol("SOL/BTC", known) is None

    def post(i: int, provider: str = "chan") -> Post:
        return Post(str(i), provider, POSTED, f"text {i}", line_no=i)

    def signal(symbol: str) -> ParsedPost:
        return ParsedPost(PostKind.SIGNAL, signal=TradeIntent(symbol, Side.LONG, targets=(Decimal(110),)))

    texts = {
        "text 1": signal("SOL"),  # base only: SOL/USDT
        "text 2": signal("REEF/USDT"),  # bad input: a symbol with no candles
        "text 3": ParsedPost(PostKind.UPDATE, update=SignalUpdate("SOL/USDT", UpdateEvent.TARGET_HIT, 1)),
        "text 4": ParsedPost(PostKind.OTHER),
    }

    def parse(text: str) -> ParsedPost:
        if text not in texts:
            raise ValueError("unreadable")  # bad input: the parser fails on post 5
        return texts[text]

    readings = read_all([post(1), post(2), post(3), post(4), post(5), post(6, "quiet")], parse)
    assert readings[4].parsed is None and "unreadable" in (readings[4].error or "")
    frames = {"SOL/USDT": frame(WILD, (100, 111, 99, 110))}
    assert wanted_series(readings, ["SOL/USDT", "BTC/USDT"]) == {"SOL/USDT": (POSTED, POSTED)}
    report = score_readings(readings, frames, Timeframe.H1, NO_FEES)
    chan = report.providers[0]
    assert [p.provider for p in report.providers] == ["chan", "quiet"]
    assert (chan.posts, chan.signals, chan.updates, chan.other) == (5, 2, 1, 1)
    assert chan.no_data == 1 and chan.no_data_symbols == ("REEF/USDT",)
    assert chan.filled == 1 and chan.fill_rate == 1.0  # no-data signals are not counted as unfilled
    assert chan.trades[0].symbol == "SOL/USDT" and chan.trades[0].r == pytest.approx(1.0)
    assert chan.skipped_lines == (5,) and report.skipped[0].reason.startswith("parser failed")
    assert report.total.signals == 2 and report.total.posts == 6
    assert isinstance(readings[0], PostReading)
