"""Backtest engine speed and agreement: tsbot against vectorbt and backtesting.py, in one process.

The reference strategy is an SMA(10) / SMA(50) crossover, long only, all in, filled at the signal bar's close,
0.1 % fee per side, on seeded random-walk prices:

* 1 symbol x 1,000,000 bars, and
* 100 symbols x 10,000 bars.

For each engine the timing covers the moving averages, the crossover signals and the simulation (best of
``--repeat`` runs after a warm-up that compiles what needs compiling). It prints trade counts (tsbot's must equal
vectorbt's), final-equity agreement, bars per second, and the ratio to vectorbt (goal: >= 20x).

backtesting.py simulates bar by bar in Python and buys whole units only; it runs on the first ``--bt-bars`` bars
of the single series and on the first ``--bt-symbols`` series, and its bars/s is measured on that share.

Peers are installed by the ``bench`` extra: ``pip install -e ".[bench]"``.

    python bench/backtest_peers.py [--repeat 3] [--bt-bars 100000] [--bt-symbols 10]
"""

from __future__ import annotations

import argparse
import os
import time
import warnings
from collections.abc import Callable
from dataclasses import replace
from functools import partial
from typing import Any

import numpy as np
import talib

from tsbot.backtest.engine import compile_kernels, run_backtest, run_series
from tsbot.backtest.models import BacktestConfig, FillAt, OrderPlan
from tsbot.backtest.strategies.reference import sma_cross_signals
from tsbot.core.memory import keep_freed_memory
from tsbot.market.models import CandleFrame, SeriesKey, Timeframe

FAST, SLOW = 10, 50
FEE = 0.001
#: Starting cash. The 1-million-bar run makes about 14,000 round trips at 0.2 % in fees each, which takes equity
#: down by a factor of about 1e12; vectorbt stops filling once an order's size is within its float tolerance of
#: zero, so the cash must start large enough for both engines to keep trading to the last crossover.
CASH = 1e10
CONFIG = BacktestConfig(
    initial_equity=CASH,
    fill=FillAt.CLOSE,
    taker_fee_bps=FEE * 1e4,
    maker_fee_bps=FEE * 1e4,
    slippage_bps=0.0,
    allow_short=False,
    skip_zero_volume=False,
)


def random_walks(symbols: int, bars: int, seed: int) -> np.ndarray:
    """Close prices ``(symbols, bars)``: geometric random walks from 100 with 1 % volatility per bar."""
    rng = np.random.default_rng(seed)
    return 100.0 * np.exp(np.cumsum(rng.normal(0.0, 0.01, (symbols, bars)), axis=1))


def frame_of(close: np.ndarray, time_ms: np.ndarray | None = None) -> CandleFrame:
    """Candles of one close series; open = previous close. ``time_ms``: a shared clock (one-minute bars from 0)."""
    n = close.shape[0]
    open_ = np.concatenate(([close[0]], close[:-1]))
    return CandleFrame(
        np.arange(n, dtype=np.int64) * 60_000 if time_ms is None else time_ms,
        open_,
        np.maximum(open_, close),
        np.minimum(open_, close),
        close,
        np.ones(n),
    )


def best_of(repeat: int, fn: Callable[[], Any]) -> tuple[float, Any]:
    best, out = float("inf"), None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t)
    return best, out


def sma_cross_plan(frame: CandleFrame) -> OrderPlan:
    entries, exits = sma_cross_signals(frame.close, FAST, SLOW)
    return OrderPlan.market(entries, exits)


def run_tsbot(frames: list[CandleFrame]) -> list[tuple[int, np.ndarray]]:
    """(trades, equity per bar) of each series: one series through ``run_series``, several through
    ``run_backtest`` (each series with the full starting cash, as vectorbt gives each column; each plan made
    when the engine reaches its series, as ``tsbot backtest`` does)."""
    if len(frames) == 1:
        res = run_series(frames[0], sma_cross_plan(frames[0]), CONFIG)
        return [(len(res.trades), res.equity)]
    keys = [SeriesKey("bench", f"S{i}", Timeframe.M1) for i in range(len(frames))]
    config = replace(CONFIG, initial_equity=CASH * len(frames))
    series = [(key, frame, partial(sma_cross_plan, frame)) for key, frame in zip(keys, frames, strict=True)]
    result = run_backtest(series, config)
    return [(len(s.trades), s.equity) for s in result.symbols]


def run_vectorbt(close: np.ndarray) -> Any:
    import pandas as pd
    import vectorbt as vbt

    frame = pd.DataFrame(close.T)
    fast = vbt.MA.run(frame, FAST)
    slow = vbt.MA.run(frame, SLOW)
    return vbt.Portfolio.from_signals(
        frame, fast.ma_crossed_above(slow), fast.ma_crossed_below(slow), fees=FEE, init_cash=CASH, size=np.inf
    )


def vectorbt_results(pf: Any) -> list[tuple[int, np.ndarray]]:
    """(trades, value per bar) of each column, read after the timing."""
    counts = np.atleast_1d(pf.trades.count().to_numpy())
    values = pf.value().to_numpy()
    return [(int(c), values[:, k]) for k, c in enumerate(counts)]


def equity_gap(ours: list[tuple[int, np.ndarray]], theirs: list[tuple[int, np.ndarray]]) -> float:
    """Largest relative difference of the equity curves, every bar but the last: vectorbt leaves the last position
    open and marks it at the close, tsbot closes it there (END_OF_DATA) and pays the exit fee."""
    gap = 0.0
    for (_, a), (_, b) in zip(ours, theirs, strict=True):
        gap = max(gap, float(np.max(np.abs(a[:-1] - b[:-1]) / np.abs(b[:-1]))))
    return gap


def run_backtesting_py(close: np.ndarray) -> list[tuple[int, float]]:
    import pandas as pd
    from backtesting import Backtest, Strategy
    from backtesting.lib import crossover

    class SmaCross(Strategy):  # type: ignore[misc]
        def init(self) -> None:
            self.fast = self.I(talib.SMA, self.data.Close, FAST)
            self.slow = self.I(talib.SMA, self.data.Close, SLOW)

        def next(self) -> None:
            if crossover(self.fast, self.slow):
                self.buy()
            elif crossover(self.slow, self.fast):
                self.position.close()

    out = []
    for row in close:
        index = pd.date_range("2020-01-01", periods=row.shape[0], freq="min")
        open_ = np.concatenate(([row[0]], row[:-1]))
        df = pd.DataFrame(
            {
                "Open": open_,
                "High": np.maximum(open_, row),
                "Low": np.minimum(open_, row),
                "Close": row,
                "Volume": 1.0,
            },
            index=index,
        )
        bt = Backtest(df, SmaCross, cash=CASH, commission=FEE, trade_on_close=True, finalize_trades=False)
        stats = bt.run()
        out.append((int(stats["# Trades"]), np.asarray(stats["_equity_curve"]["Equity"], dtype=np.float64)))
    return out


def compare(label: str, bars: int, close: np.ndarray, repeat: int, bt_rows: np.ndarray) -> None:
    # one clock for every series, as vectorbt gets one index for all its columns
    clock = np.arange(close.shape[1], dtype=np.int64) * 60_000
    frames = [frame_of(row, clock) for row in close]
    t_ts, ours = best_of(repeat, lambda: run_tsbot(frames))
    t_vbt, pf = best_of(repeat, lambda: run_vectorbt(close))
    theirs = vectorbt_results(pf)
    trades_ours = sum(t for t, _ in ours)
    trades_vbt = sum(t for t, _ in theirs)
    rel = equity_gap(ours, theirs)
    print(f"\n{label}: {close.shape[0]} symbol(s) x {close.shape[1]:,} bars = {bars:,} bars")
    print(
        f"  trades        tsbot {trades_ours:,}   vectorbt {trades_vbt:,}   identical: {trades_ours == trades_vbt}"
    )
    print(f"  equity        largest relative difference to vectorbt over all bars: {rel:.2e}")
    print(f"  tsbot          {t_ts * 1e3:9.1f} ms  {bars / t_ts:14,.0f} bars/s")
    print(f"  vectorbt       {t_vbt * 1e3:9.1f} ms  {bars / t_vbt:14,.0f} bars/s")
    print(f"  ratio tsbot / vectorbt: {t_vbt / t_ts:.1f}x   (goal >= 20x)")
    bt_bars = int(bt_rows.size)
    t_bt, bt_out = best_of(1, lambda: run_backtesting_py(bt_rows))
    ours_bt = run_tsbot([frame_of(row) for row in bt_rows])
    print(
        f"  backtesting.py {t_bt * 1e3:9.1f} ms  {bt_bars / t_bt:14,.0f} bars/s on {bt_bars:,} bars "
        f"(trades {sum(t for t, _ in bt_out):,} vs tsbot {sum(t for t, _ in ours_bt):,} on the same bars; "
        "whole units only)"
    )
    print(f"  ratio tsbot / backtesting.py: {(bt_bars / t_bt) ** -1 * (bars / t_ts):.0f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--bt-bars", type=int, default=100_000)
    parser.add_argument("--bt-symbols", type=int, default=10)
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    os.environ.setdefault("TQDM_DISABLE", "1")  # backtesting.py's progress bar
    # Both engines run in this one process with freed arrays kept for reuse, as `tsbot backtest` runs.
    keep_freed_memory()
    compile_kernels()
    warm = random_walks(2, 2_000, 0)
    run_tsbot([frame_of(r) for r in warm])
    run_vectorbt(warm)
    single = random_walks(1, 1_000_000, 42)
    compare("single series", single.size, single, args.repeat, single[:, : args.bt_bars])
    many = random_walks(100, 10_000, 43)
    compare("many series", many.size, many, args.repeat, many[: args.bt_symbols])


if __name__ == "__main__":
    main()
