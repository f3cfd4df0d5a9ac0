"""The kernel's pauses and streamed plans: a run that pauses (its tables full, or its plan's next row not written
yet) and goes on gives the same numbers, bit for bit, as one that never paused; a plan simulated while it is
written (:class:`StreamedPlan`) gives what the finished plan gives; and the bad inputs of a streamed plan."""

from __future__ import annotations

import threading
import time
from dataclasses import replace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tests.unit.backtest.engine_bars import KEY, T0, H, bars, config, flat, plan, random_candles, random_plan

from tsbot.backtest import engine
from tsbot.backtest import kernel as k
from tsbot.backtest.engine import FIRST_TRADE_ROWS, run_series
from tsbot.backtest.kernel_inputs import kernel_params
from tsbot.backtest.models import BacktestConfig, FillAt, OrderPlan, Sizing, StreamedPlan, SymbolResult
from tsbot.backtest.panel import CandlePanel, run_panel
from tsbot.backtest.strategies.reference import sma_cross_signals, sma_cross_stream
from tsbot.core.errors import DataError
from tsbot.market.models import CandleFrame


def same_result(a: SymbolResult, b: SymbolResult) -> None:
    assert np.array_equal(a.equity, b.equity)
    assert np.array_equal(a.trades, b.trades, equal_nan=True)
    assert np.array_equal(a.fills, b.fills, equal_nan=True)
    assert a.rejected == b.rejected


def run_with_pauses(
    candles: CandleFrame, order_plan: OrderPlan, cfg: BacktestConfig
) -> tuple[SymbolResult, int]:
    """The kernel called as the engine calls it, but with tables that start with the least room the kernel
    accepts and grow by one row per pause: it pauses before nearly every bar that may fill. Returns the result
    and the number of pauses."""
    _, _, inputs, _, _ = engine._prepare(KEY, candles, order_plan)
    levels = inputs[11].shape[1]
    params = kernel_params(cfg, cfg.initial_equity)
    state, counts = engine._scratch()
    equity = np.empty(len(candles))
    trades = np.empty((k.TRADES_PER_BAR, 16))
    fills = np.empty((levels + k.FILLS_PER_BAR, 9))
    ready = np.array([len(candles)], dtype=np.int64)
    pauses = 0
    status = k.simulate(*inputs, params, equity, engine._NO_TOTAL, trades, fills, state, counts, ready, False)
    while status != k.DONE:
        assert status == k.PAUSED_ROOM
        pauses += 1
        trades = np.concatenate((trades, np.empty((1, 16))))
        fills = np.concatenate((fills, np.empty((1, 9))))
        status = k.simulate(
            *inputs, params, equity, engine._NO_TOTAL, trades, fills, state, counts, ready, True
        )
    c = counts.tolist()
    rejected = {
        engine.REJECT_REASONS[i]: n for i, n in enumerate(c[k.C_REJECTED : k.C_REJECTED + k.N_REJECT]) if n
    }
    return SymbolResult(
        KEY, candles, equity, trades[: c[k.C_TRADES]], fills[: c[k.C_FILLS]], rejected
    ), pauses


@settings(max_examples=120, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(2, 80),
    levels=st.integers(0, 3),
    fill=st.sampled_from(list(FillAt)),
    leverage=st.sampled_from([1.0, 10.0]),
    sizing=st.sampled_from(list(Sizing)),
    stop_first=st.booleans(),
    allow_short=st.booleans(),
    breakeven=st.booleans(),
    max_hold=st.integers(0, 4),
    expiry=st.integers(1, 4),
)
def test_a_run_that_pauses_for_room_at_every_fill_gives_the_same_numbers(
    seed: int, n: int, levels: int, fill: FillAt, leverage: float, sizing: Sizing, stop_first: bool,
    allow_short: bool, breakeven: bool, max_hold: int, expiry: int,
) -> None:  # fmt: skip
    # random limit / stop entries, targets, trails, gaps and dead bars: pauses land with orders pending
    rng = np.random.default_rng(seed)
    candles = random_candles(rng, n)
    order_plan = random_plan(rng, candles, levels)
    cfg = BacktestConfig(
        initial_equity=10_000.0, fill=fill, taker_fee_bps=5, maker_fee_bps=2, slippage_bps=3, leverage=leverage,
        maintenance_margin_ratio=0.5 / leverage, sizing=sizing, stop_first=stop_first, allow_short=allow_short,
        breakeven_after_first_target=breakeven, max_hold_bars=max_hold, entry_expiry_bars=expiry,
    )  # fmt: skip
    paused, pauses = run_with_pauses(candles, order_plan, cfg)
    same_result(paused, run_series(candles, order_plan, cfg, key=KEY))


def test_a_long_run_pauses_for_room_many_times() -> None:
    rng = np.random.default_rng(11)
    candles = random_candles(rng, 600)
    order_plan = random_plan(rng, candles, 3)
    cfg = BacktestConfig(initial_equity=10_000.0, allow_short=True, taker_fee_bps=5, maker_fee_bps=2)
    paused, pauses = run_with_pauses(candles, order_plan, cfg)
    same_result(paused, run_series(candles, order_plan, cfg, key=KEY))
    # the fills table starts with room for one bar (3 + FILLS_PER_BAR rows) and gains a row per pause
    assert len(paused.fills) > 50
    assert pauses >= len(paused.fills) - (3 + k.FILLS_PER_BAR)


def test_tables_grow_past_their_first_size() -> None:
    # 5,000 round trips on 10,000 bars: more than the FIRST_TRADE_ROWS + n // 32 rows the tables start with
    n = 10_000
    assert n // 2 > FIRST_TRADE_ROWS + n // 32
    candles = bars(flat(n))
    order_plan = plan(n, {i: 1 for i in range(0, n, 2)}, exit=range(1, n, 2))
    result = run_series(candles, order_plan, config(), key=KEY)
    assert len(result.trades) == n // 2
    assert len(result.fills) == n
    panel = CandlePanel((KEY,), candles.open_time_ms, *(getattr(candles, f)[None] for f in CANDLE_FIELDS))
    same_result(
        result, run_panel(panel, replace(order_plan, entry=order_plan.entry[None]), config()).symbols[0]
    )


CANDLE_FIELDS = ("open", "high", "low", "close", "volume")


class SlowWriter:
    """Writes a finished plan's rows into the streamed plan's arrays in chunks, sleeping between them, as a slow
    strategy would: the simulation catches up and has to wait."""

    def __init__(self, source: OrderPlan, chunk: int, pause_s: float) -> None:
        n = len(source)
        self.source, self.chunk, self.pause_s = source, chunk, pause_s
        self.ready = np.zeros(1, dtype=np.int64)
        self.plan = OrderPlan(
            np.zeros(n, dtype=np.int8), np.zeros(n, dtype=np.bool_), np.zeros(n, dtype=np.int8), np.full(n, np.nan),
            np.full(n, np.nan), np.full(source.take_profit.shape, np.nan), source.take_profit_split.copy(),
            np.full(n, np.nan),
        )  # fmt: skip
        self.threads: set[str] = set()

    def __call__(self) -> None:
        self.threads.add(threading.current_thread().name)
        n = len(self.source)
        for a in range(0, n, self.chunk):
            b = min(n, a + self.chunk)
            for name in (
                "entry",
                "exit",
                "entry_kind",
                "entry_price",
                "stop_loss",
                "take_profit",
                "trailing_stop",
            ):
                getattr(self.plan, name)[a:b] = getattr(self.source, name)[a:b]
            self.ready[0] = (
                b  # numpy's store: a plain one, which x86 and ARM order after the rows' stores here
            )
            time.sleep(self.pause_s)

    def stream(self) -> StreamedPlan:
        return StreamedPlan(self.plan, self.ready, self)


def test_a_plan_written_slowly_is_simulated_as_it_comes(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(7)
    candles = random_candles(rng, 400)
    source = random_plan(rng, candles, 2)
    cfg = BacktestConfig(initial_equity=10_000.0, allow_short=True, taker_fee_bps=5, maker_fee_bps=2)
    expected = run_series(candles, source, cfg, key=KEY)
    waits: list[int] = []
    real_wait = engine._Writer.wait

    def counted(self: engine._Writer, row: int) -> None:
        waits.append(row)
        real_wait(self, row)

    monkeypatch.setattr(engine._Writer, "wait", counted)
    monkeypatch.setattr(engine, "_cores", lambda: 2)
    writer = SlowWriter(source, chunk=50, pause_s=0.03)  # longer than the kernel spins before it pauses
    same_result(run_series(candles, writer.stream(), cfg, key=KEY), expected)
    assert waits and waits == sorted(waits)  # it paused at rows not yet written, in order
    assert writer.threads and threading.current_thread().name not in writer.threads


@pytest.mark.parametrize("fill", list(FillAt))
@pytest.mark.parametrize("cores", [1, 2])
def test_sma_cross_stream_gives_what_the_finished_plan_gives(
    fill: FillAt, cores: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    # 50,000 bars: a dozen publications of progress; leading NaN closes move where the means start
    rng = np.random.default_rng(3)
    n = 50_000
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, n)))
    close[:7] = np.nan
    open_ = np.r_[100.0, close[:-1]]
    candles = CandleFrame(T0 + H * np.arange(n, dtype=np.int64), open_, np.fmax(open_, close) * 1.001,
                          np.fmin(open_, close) * 0.999, close, np.ones(n))  # fmt: skip
    cfg = config(fill=fill, taker_fee_bps=10, allow_short=False)
    up, down = sma_cross_signals(close, 10, 50)
    expected = run_series(candles, OrderPlan.market(up, down), cfg, key=KEY)
    monkeypatch.setattr(engine, "_cores", lambda: cores)
    stream = sma_cross_stream(close, 10, 50)
    same_result(run_series(candles, stream, cfg, key=KEY), expected)
    assert int(stream.ready[0]) == n
    assert len(expected.trades) > 500


def test_the_writers_error_is_raised_and_nothing_is_left_running() -> None:
    # bad input: a writer that fails half-way (its rows stop at 100 of 400)
    candles = bars(flat(400))
    ready = np.zeros(1, dtype=np.int64)
    entry = np.zeros(400, dtype=np.int8)
    finished = threading.Event()

    def failing() -> None:
        entry[10] = 1
        ready[0] = 100
        try:
            raise ValueError("the signal source went away at bar 100")
        finally:
            finished.set()

    with pytest.raises(ValueError, match="went away at bar 100"):
        run_series(candles, StreamedPlan(OrderPlan.market(entry), ready, failing), config(), key=KEY)
    assert finished.is_set()


@pytest.mark.parametrize("cores", [1, 2])
def test_a_writer_that_returns_early_is_an_error(cores: int, monkeypatch: pytest.MonkeyPatch) -> None:
    # bad input: a writer that returns after 30 of 60 rows without raising
    monkeypatch.setattr(engine, "_cores", lambda: cores)
    ready = np.zeros(1, dtype=np.int64)

    def short() -> None:
        ready[0] = 30

    stream = StreamedPlan(OrderPlan.market(np.zeros(60, dtype=np.int8)), ready, short)
    with pytest.raises(DataError, match="returned after 30"):
        run_series(bars(flat(60)), stream, config(), key=KEY)


def test_streamed_plans_the_engine_would_copy_or_with_a_bad_counter_are_refused() -> None:
    candles = bars(flat(20))
    writes: list[int] = []

    def write() -> None:
        writes.append(1)

    good = OrderPlan.market(np.zeros(20, dtype=np.int8))
    # bad inputs: a float32 stop-loss column (the engine converts it, so later rows would never be seen), a
    # counter of the wrong dtype, of the wrong shape, and one that does not start at 0
    copied = replace(good, stop_loss=np.full(20, np.nan, dtype=np.float32))
    with pytest.raises(DataError, match="stop_loss would be copied"):
        run_series(candles, StreamedPlan(copied, np.zeros(1, dtype=np.int64), write), config(), key=KEY)
    for ready, message in (
        (np.zeros(1, dtype=np.int32), "int64 array of shape"),
        (np.zeros(2, dtype=np.int64), "int64 array of shape"),
        (np.ones(1, dtype=np.int64), "must start at 0"),
    ):
        with pytest.raises(DataError, match=message):
            run_series(candles, StreamedPlan(good, ready, write), config(), key=KEY)
    assert writes == []  # refused before the writer was started
    with pytest.raises(DataError, match="has 20 rows but the candles have 21"):
        run_series(bars(flat(21)), StreamedPlan(good, np.zeros(1, dtype=np.int64), write), config(), key=KEY)
