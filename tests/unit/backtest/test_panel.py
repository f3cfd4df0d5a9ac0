"""A panel (several series on one clock) run by ``run_panel`` gives exactly what ``run_backtest`` gives for the
same series and plans, whatever the group size; and the panel's bad inputs are refused by name."""

from __future__ import annotations

import numpy as np
import pytest
from tests.unit.backtest.engine_bars import T0, H, random_candles, random_plan

from tsbot.backtest import kernel
from tsbot.backtest.engine import compile_kernels, run_backtest
from tsbot.backtest.models import BacktestConfig, BacktestResult, FillAt, OrderPlan
from tsbot.backtest.panel import CandlePanel, run_panel
from tsbot.core.errors import ConfigError, DataError
from tsbot.market.models import CandleFrame, SeriesKey, Timeframe

KEYS = tuple(SeriesKey("binance", f"C{i}/USDT", Timeframe.H1) for i in range(7))


def panel_of(rng: np.random.Generator, m: int, n: int) -> CandlePanel:
    """``m`` random series (NaN bars, zero volumes) on the clock of the first."""
    frames = [random_candles(rng, n) for _ in range(m)]
    clock = frames[0].open_time_ms
    frames = [CandleFrame(clock, f.open, f.high, f.low, f.close, f.volume) for f in frames]
    return CandlePanel.from_frames(KEYS[:m], frames)


def assert_same(a: BacktestResult, b: BacktestResult) -> None:
    np.testing.assert_array_equal(a.time_ms, b.time_ms)
    np.testing.assert_array_equal(a.equity, b.equity)
    assert a.keys == b.keys
    for x, y in zip(a.symbols, b.symbols, strict=True):
        assert x.key == y.key and x.rejected == y.rejected
        np.testing.assert_array_equal(x.equity, y.equity)
        np.testing.assert_array_equal(x.trades, y.trades)
        np.testing.assert_array_equal(x.fills, y.fills)
        np.testing.assert_array_equal(x.candles.close, y.candles.close)


def config(fill: FillAt, allow_short: bool) -> BacktestConfig:
    return BacktestConfig(
        initial_equity=70_000.0, fill=fill, taker_fee_bps=10, maker_fee_bps=2, slippage_bps=3, leverage=3.0,
        allow_short=allow_short, max_hold_bars=9,
    )  # fmt: skip


@pytest.mark.parametrize("threads", [1, 3], ids=["1-thread", "3-threads"])
@pytest.mark.parametrize("group", [1, 3, 16])
@pytest.mark.parametrize("fill", list(FillAt))
def test_per_series_plans_with_stops_targets_and_limit_entries_match_run_backtest(
    group: int, fill: FillAt, threads: int
) -> None:
    rng = np.random.default_rng(group)
    panel = panel_of(rng, 7, 300)
    plans = [random_plan(rng, panel.frame(i), 2) for i in range(7)]
    split = plans[0].take_profit_split  # a panel plan has one split for every series
    plans = [OrderPlan(p.entry, p.exit, p.entry_kind, p.entry_price, p.stop_loss, p.take_profit, split,
                       p.trailing_stop) for p in plans]  # fmt: skip
    stacked = OrderPlan(*(np.stack([getattr(p, f) for p in plans]) for f in (
        "entry", "exit", "entry_kind", "entry_price", "stop_loss", "take_profit")), split,
        np.stack([p.trailing_stop for p in plans]))  # fmt: skip
    cfg = config(fill, allow_short=True)
    ours = run_panel(panel, stacked, cfg, group=group, threads=threads)
    theirs = run_backtest(
        [(k, panel.frame(i), p) for i, (k, p) in enumerate(zip(KEYS, plans, strict=True))], cfg
    )
    assert_same(ours, theirs)
    assert sum(len(s.trades) for s in ours.symbols) > 20


def test_market_plans_made_per_group_share_their_constant_columns_and_match_run_backtest() -> None:
    rng = np.random.default_rng(7)
    panel = panel_of(rng, 6, 400)
    entry = rng.choice(np.array([-1, 0, 0, 0, 0, 1], dtype=np.int8), (6, 400))
    exit_ = rng.random((6, 400)) < 0.05
    asked: list[tuple[int, int]] = []

    def plan(rows: slice) -> OrderPlan:
        asked.append((rows.start, rows.stop))
        return OrderPlan.market(entry[rows], exit_[rows])

    cfg = config(FillAt.NEXT_OPEN, allow_short=False)
    ours = run_panel(panel, plan, cfg, group=4)
    theirs = run_backtest([(k, panel.frame(i), OrderPlan.market(entry[i], exit_[i])) for i, k in
                           enumerate(KEYS[:6])], cfg)  # fmt: skip
    assert asked == [(0, 4), (4, 6)]
    assert_same(ours, theirs)
    assert all(len(s.trades) for s in ours.symbols)


def test_plans_made_on_several_threads_give_the_one_thread_result_bit_for_bit() -> None:
    rng = np.random.default_rng(11)
    panel = panel_of(rng, 7, 500)
    entry = rng.choice(np.array([-1, 0, 0, 0, 0, 1], dtype=np.int8), (7, 500))
    exit_ = rng.random((7, 500)) < 0.05
    asked: list[tuple[int, int]] = []

    def plan(rows: slice) -> OrderPlan:
        asked.append((rows.start, rows.stop))
        return OrderPlan.market(entry[rows], exit_[rows], stop_loss=np.nan_to_num(panel.close[rows]) * 0.98)

    cfg = config(FillAt.NEXT_OPEN, allow_short=True)
    one = run_panel(panel, plan, cfg, group=2)
    asked.clear()
    two = run_panel(panel, plan, cfg, group=2, threads=2)
    # rows 0-2 on one thread and 3-6 on the other, each cut into groups of 2
    assert sorted(asked) == [(0, 2), (2, 3), (3, 5), (5, 7)]
    assert_same(two, one)
    assert_same(run_panel(panel, plan, cfg, group=2, threads=50), one)  # more threads than series: one each
    assert sum(len(s.trades) for s in one.symbols) > 20


def test_with_several_threads_the_first_bad_series_in_panel_order_is_named() -> None:
    panel = panel_of(np.random.default_rng(3), 6, 30)
    entry = np.zeros((6, 30), dtype=np.int8)
    entry[1, 7] = 2  # on the first thread's run
    entry[4, 3] = -5  # on the second's, at an earlier bar
    with pytest.raises(DataError, match=rf"{KEYS[1]}.* at bar 7: entry must be -1, 0 or"):
        run_panel(panel, OrderPlan.market(entry), config(FillAt.CLOSE, True), threads=2)


@pytest.mark.parametrize("threads", [0, -1])
def test_fewer_than_one_thread_is_refused(threads: int) -> None:
    panel = panel_of(np.random.default_rng(4), 2, 30)
    with pytest.raises(ConfigError, match="threads must be at least 1"):
        run_panel(panel, OrderPlan.market(np.ones((2, 30), dtype=np.int8)), config(FillAt.CLOSE, False),
                  threads=threads)  # fmt: skip


def test_one_column_per_series_and_the_others_shared() -> None:
    rng = np.random.default_rng(9)
    panel = panel_of(rng, 5, 250)
    entry = rng.choice(np.array([0, 0, 0, 1], dtype=np.int8), (5, 250))
    close = np.nan_to_num(panel.close, nan=100.0)
    stop = close * 0.97  # per series; entry kind, price, trailing stop and targets left shared
    cfg = config(FillAt.CLOSE, allow_short=False)
    ours = run_panel(panel, OrderPlan.market(entry, stop_loss=stop), cfg, group=2)
    theirs = run_backtest([(k, panel.frame(i), OrderPlan.market(entry[i], stop_loss=stop[i])) for i, k in
                           enumerate(KEYS[:5])], cfg)  # fmt: skip
    assert_same(ours, theirs)
    assert any(s.trades[:, 14].tolist().count(1) for s in ours.symbols if len(s.trades))  # stop-loss exits


def test_the_kernel_keeps_one_compiled_specialisation() -> None:
    compile_kernels()
    panel = panel_of(np.random.default_rng(1), 3, 50)
    entry = np.ones((3, 50), dtype=np.int8)
    run_panel(panel, OrderPlan.market(entry), config(FillAt.CLOSE, False))
    # one column per series, one series per group: the shared columns are repeated per series, not broadcast
    # (a broadcast view is read-only, which would compile the kernel again)
    run_panel(
        panel, OrderPlan.market(entry, stop_loss=np.full((3, 50), 1.0)), config(FillAt.CLOSE, False), group=1
    )
    assert len(kernel.simulate.signatures) == 1


def test_an_invalid_plan_value_names_its_series_and_bar() -> None:
    panel = panel_of(np.random.default_rng(2), 4, 30)
    entry = np.zeros((4, 30), dtype=np.int8)
    entry[2, 11] = 3
    with pytest.raises(DataError, match=rf"{KEYS[2]}.* at bar 11: entry must be -1, 0 or"):
        run_panel(panel, OrderPlan.market(entry), config(FillAt.CLOSE, False), group=2)


def test_a_plan_that_does_not_fit_its_rows_is_refused() -> None:
    panel = panel_of(np.random.default_rng(3), 4, 30)
    with pytest.raises(DataError, match=r"OrderPlan.entry has shape \(3, 30\); 4 series of 30 bars"):
        run_panel(
            panel,
            lambda rows: OrderPlan.market(np.zeros((3, 30), dtype=np.int8)),
            config(FillAt.CLOSE, False),
        )
    with pytest.raises(DataError, match="OrderPlan.stop_loss has shape"):
        bad = OrderPlan.market(np.zeros((4, 30), dtype=np.int8), stop_loss=np.ones(29))
        run_panel(panel, bad, config(FillAt.CLOSE, False))


def test_an_empty_panel_and_prices_of_the_wrong_shape_are_refused() -> None:
    empty = CandlePanel((), np.arange(3, dtype=np.int64), *(np.empty((0, 3)) for _ in range(5)))
    with pytest.raises(DataError, match="no series"):
        run_panel(empty, OrderPlan.market(np.zeros((0, 3), dtype=np.int8)), BacktestConfig())
    short = CandlePanel(
        KEYS[:2], np.arange(3, dtype=np.int64), np.ones((2, 2)), *(np.ones((2, 3)) for _ in range(4))
    )
    with pytest.raises(DataError, match=r"open has shape \(2, 2\), expected \(2, 3\)"):
        run_panel(short, OrderPlan.market(np.zeros((2, 3), dtype=np.int8)), BacktestConfig())


def test_series_on_other_bar_times_do_not_make_a_panel() -> None:
    a = random_candles(np.random.default_rng(4), 10)
    b = CandleFrame(a.open_time_ms + H, a.open, a.high, a.low, a.close, a.volume)
    with pytest.raises(DataError, match="share one clock"):
        CandlePanel.from_frames(KEYS[:2], [a, b])
    with pytest.raises(DataError, match="one key per series"):
        CandlePanel.from_frames(KEYS[:1], [a, a])


def test_a_panel_row_is_its_series() -> None:
    a = random_candles(np.random.default_rng(5), 12)
    b = CandleFrame(a.open_time_ms, a.open * 2, a.high * 2, a.low * 2, a.close * 2, a.volume)
    panel = CandlePanel.from_frames(KEYS[:2], [a, b])
    assert len(panel) == 12 and panel.open_time_ms[0] >= T0
    np.testing.assert_array_equal(panel.frame(1).close, b.close)
    np.testing.assert_array_equal(panel.frame(0).open_time_ms, a.open_time_ms)
