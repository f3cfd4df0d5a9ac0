"""Backtest engine speed and agreement: tsbot against vectorbt and backtesting.py, in one process.

The reference strategy is an SMA(10) / SMA(50) crossover, long only, all in, filled at the signal bar's close,
0.1 % fee per side, on seeded random-walk prices:

* 1 symbol x 1,000,000 bars, and
* 100 symbols x 10,000 bars.

For each engine the timing covers the moving averages, the crossover signals and the simulation (best of
``--repeat`` rounds after a warm-up that compiles what needs compiling, the same for both engines; each round runs
every tsbot variant and vectorbt twice in a row, in turn, so a slow spell of a shared machine weighs on all alike).
It prints the processor it ran on first: the ratios depend on it. Each gets the
candles already in memory, as arrays (tsbot: a :class:`~tsbot.backtest.panel.CandlePanel`; vectorbt: the close
prices, one column per symbol). Results are read after the timing: vectorbt computes its value curve then, tsbot's
equity curves are made inside the timed run. tsbot runs one series through ``run_series``
and several through ``run_panel`` (a group of series planned and simulated per compiled call), on one thread and
on as many threads as the machine has cores (vectorbt's ``from_signals`` runs on one): one series then has its
signals streamed into the simulation (computed on a second thread while the simulation follows them, see
``StreamedPlan``), several are shared out between threads. For several series it also
times ``run_backtest`` (one call per series, as ``tsbot backtest`` runs them) and checks that both give the
same trades and equity. It prints trade counts (tsbot's must equal vectorbt's), final-equity agreement, bars per
second, and the ratio to vectorbt (goal: >= 20x).

backtesting.py simulates bar by bar in Python and buys whole units only; it runs on the first ``--bt-bars`` bars
of the single series and on the first ``--bt-symbols`` series, and its bars/s is measured on that share.

Peers are installed by the ``bench`` extra: ``pip install -e ".[bench]"``.

    python bench/backtest_peers.py [--repeat 5] [--bt-bars 100000] [--bt-symbols 10] [--cases single many]

``--bt-bars 0`` (single series) and ``--bt-symbols 0`` (many series) leave backtesting.py out.
"""

from __future__ import annotations

import argparse
import os
import platform
import time
import warnings
from collections.abc import Callable
from dataclasses import replace
from functools import partial
from typing import Any

import numpy as np
import talib

from tsbot.backtest.engine import compile_kernels, run_backtest, run_series
from tsbot.backtest.models import BacktestConfig, BacktestResult, FillAt, OrderPlan, SymbolResult
from tsbot.backtest.panel import CandlePanel, run_panel
from tsbot.backtest.strategies.reference import sma_cross_signals, sma_cross_stream
from tsbot.core.memory import keep_freed_memory
from tsbot.market.models import SeriesKey, Timeframe

FAST, SLOW = 10, 50
#: Threads for the many-series case run on several threads (``run_panel(threads=...)``): the machine's cores.
THREADS = os.cpu_count() or 1
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


def best_in_rounds(
    repeat: int, runs: dict[str, Callable[[], Any]], in_a_row: int = 2
) -> dict[str, tuple[float, Any]]:
    """The best time (s) and last result of each run over ``repeat`` rounds. Each round gives every run a turn of
    ``in_a_row`` runs back to back: a slow spell of a shared machine then falls on all of them alike instead of on
    one (as it can when one run's repeats all come before another's), and the later runs of a turn find the caches
    as a steady stream of runs leaves them, not as the other engine left them (vectorbt's runs touch far more
    memory than tsbot's, so a single run after one of them would measure its traces, not tsbot)."""
    best = {name: (float("inf"), None) for name in runs}
    for _ in range(repeat):
        for name, fn in runs.items():
            for _ in range(in_a_row):
                t = time.perf_counter()
                out = fn()
                best[name] = (min(best[name][0], time.perf_counter() - t), out)
    return best


def machine() -> str:
    """The processor's model name (``/proc/cpuinfo`` on Linux, else the platform's word for it) and core count."""
    name = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            name = next(
                (line.split(":", 1)[1].strip() for line in info if line.startswith("model name")), name
            )
    except OSError:
        pass
    return f"{name}, {os.cpu_count()} logical cores"


def panel_of(close: np.ndarray, time_ms: np.ndarray | None = None) -> CandlePanel:
    """Candles of close series ``(symbols, bars)``, one per row, on one clock (one-minute bars from 0): open =
    previous close, high / low = the larger / smaller of the two, volume 1."""
    m, n = close.shape
    open_ = np.concatenate((close[:, :1], close[:, :-1]), axis=1)
    return CandlePanel(
        tuple(SeriesKey("bench", f"S{i}", Timeframe.M1) for i in range(m)),
        np.arange(n, dtype=np.int64) * 60_000 if time_ms is None else time_ms,
        open_,
        np.maximum(open_, close),
        np.minimum(open_, close),
        close,
        np.ones((m, n)),
    )


def sma_cross_plan(close: np.ndarray) -> OrderPlan:
    """The plan of one series ``(n,)``, or of a panel's rows ``(m, n)``."""
    entries, exits = sma_cross_signals(close, FAST, SLOW)
    return OrderPlan.market(entries, exits)


def run_tsbot(panel: CandlePanel, threads: int = 1) -> SymbolResult | BacktestResult:
    """One series through ``run_series``: on one thread the plan is made, then simulated; on more, the signals
    are streamed into the simulation (``sma_cross_stream``: computed on a worker thread while the simulation
    follows them). Several series through ``run_panel`` on ``threads`` threads: the plans of a group of series
    made in one call when the engine reaches them, and the group simulated in one call. Each series has the full
    starting cash, as vectorbt gives each column."""
    if len(panel.keys) == 1:
        if threads > 1:
            return run_series(panel.frame(0), sma_cross_stream(panel.close[0], FAST, SLOW), CONFIG)
        return run_series(panel.frame(0), sma_cross_plan(panel.close[0]), CONFIG)
    config = replace(CONFIG, initial_equity=CASH * len(panel.keys))
    return run_panel(panel, lambda rows: sma_cross_plan(panel.close[rows]), config, threads=threads)


def run_tsbot_per_series(panel: CandlePanel) -> BacktestResult:
    """The same series through ``run_backtest``, as ``tsbot backtest`` runs them: each series' plan made when the
    engine reaches it, and each series simulated by its own call."""
    config = replace(CONFIG, initial_equity=CASH * len(panel.keys))
    frames = [panel.frame(i) for i in range(len(panel.keys))]
    series = [(key, f, partial(sma_cross_plan, f.close)) for key, f in zip(panel.keys, frames, strict=True)]
    return run_backtest(series, config)


def tsbot_results(result: SymbolResult | BacktestResult) -> list[tuple[int, np.ndarray]]:
    """(trades, equity per bar) of each series, read after the timing."""
    symbols = [result] if isinstance(result, SymbolResult) else result.symbols
    return [(len(s.trades), s.equity) for s in symbols]


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
    panel = panel_of(close)
    runs: dict[str, Callable[[], Any]] = {"tsbot": lambda: run_tsbot(panel)}
    if THREADS > 1:
        runs["threads"] = lambda: run_tsbot(panel, THREADS)
    if close.shape[0] > 1:
        runs["per series"] = lambda: run_tsbot_per_series(panel)
    runs["vectorbt"] = lambda: run_vectorbt(close)
    timed = best_in_rounds(repeat, runs)
    (t_ts, result), (t_vbt, pf) = timed["tsbot"], timed["vectorbt"]
    ours, theirs = tsbot_results(result), vectorbt_results(pf)
    trades_ours = sum(t for t, _ in ours)
    trades_vbt = sum(t for t, _ in theirs)
    rel = equity_gap(ours, theirs)
    print(f"\n{label}: {close.shape[0]} symbol(s) x {close.shape[1]:,} bars = {bars:,} bars")
    print(
        f"  trades        tsbot {trades_ours:,}   vectorbt {trades_vbt:,}   identical: {trades_ours == trades_vbt}"
    )
    print(f"  equity        largest relative difference to vectorbt over all bars: {rel:.2e}")
    print(f"  tsbot          {t_ts * 1e3:9.1f} ms  {bars / t_ts:14,.0f} bars/s")
    if THREADS > 1:
        t_th, threaded = timed["threads"]
        same = all(
            a == b and np.array_equal(x, y)
            for (a, x), (b, y) in zip(ours, tsbot_results(threaded), strict=True)
        ) and np.array_equal(result.equity, threaded.equity)
        how = "signals streamed into the simulation" if close.shape[0] == 1 else f"{THREADS} threads"
        print(
            f"  tsbot, {how}: {t_th * 1e3:.1f} ms  {bars / t_th:,.0f} bars/s  "
            f"({t_vbt / t_th:.1f}x vectorbt, which runs on one thread; same trades and equity: {same})"
        )
    if close.shape[0] > 1:
        t_ps, per_series = timed["per series"]
        same = all(
            a == b and np.array_equal(x, y)
            for (a, x), (b, y) in zip(ours, tsbot_results(per_series), strict=True)
        )
        print(
            f"  tsbot per series (run_backtest) {t_ps * 1e3:.1f} ms  {bars / t_ps:,.0f} bars/s  "
            f"({t_vbt / t_ps:.1f}x vectorbt; same trades and equity: {same})"
        )
    print(f"  vectorbt       {t_vbt * 1e3:9.1f} ms  {bars / t_vbt:14,.0f} bars/s")
    print(f"  ratio tsbot / vectorbt: {t_vbt / t_ts:.1f}x on one thread   (goal >= 20x)")
    if THREADS > 1:
        print(f"  ratio tsbot / vectorbt: {t_vbt / t_th:.1f}x with {THREADS} cores   (goal >= 20x)")
    bt_bars = int(bt_rows.size)
    if not bt_bars:
        return
    once = best_in_rounds(1, {"backtesting.py": lambda: run_backtesting_py(bt_rows)}, in_a_row=1)
    t_bt, bt_out = once["backtesting.py"]
    ours_bt = tsbot_results(run_tsbot(panel_of(bt_rows)))
    print(
        f"  backtesting.py {t_bt * 1e3:9.1f} ms  {bt_bars / t_bt:14,.0f} bars/s on {bt_bars:,} bars "
        f"(trades {sum(t for t, _ in bt_out):,} vs tsbot {sum(t for t, _ in ours_bt):,} on the same bars; "
        "whole units only)"
    )
    print(f"  ratio tsbot / backtesting.py: {(bt_bars / t_bt) ** -1 * (bars / t_ts):.0f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--bt-bars", type=int, default=100_000)
    parser.add_argument("--bt-symbols", type=int, default=10)
    parser.add_argument(
        "--cases",
        nargs="+",
        choices=("single", "many"),
        default=["single", "many"],
        help="which sizes to run",
    )
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    os.environ.setdefault("TQDM_DISABLE", "1")  # backtesting.py's progress bar
    # Both engines run in this one process with freed arrays kept for reuse, as `tsbot backtest` runs.
    keep_freed_memory()
    compile_kernels()
    print(
        f"machine: {machine()}; best of {args.repeat} rounds, each running tsbot and vectorbt in turn, twice in a row"
    )
    warm = random_walks(2, 2_000, 0)
    run_tsbot(panel_of(warm))
    run_tsbot(panel_of(warm[:1]))
    run_tsbot(panel_of(warm[:1]), THREADS)
    run_tsbot(panel_of(warm), THREADS)
    run_tsbot_per_series(panel_of(warm))
    run_vectorbt(warm)
    run_vectorbt(warm[:1])
    if "single" in args.cases:
        single = random_walks(1, 1_000_000, 42)
        compare("single series", single.size, single, args.repeat, single[:, : args.bt_bars])
    if "many" in args.cases:
        many = random_walks(100, 10_000, 43)
        compare("many series", many.size, many, args.repeat, many[: args.bt_symbols])


if __name__ == "__main__":
    main()
