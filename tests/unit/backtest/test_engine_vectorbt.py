"""The engine agrees with vectorbt (``Portfolio.from_signals``) on an SMA(10)/SMA(50) crossover, all in,
long only.

Same conventions on both sides: fills at the signal bar's close (``FillAt.CLOSE``), a 0.1 % fee on every
fill, no slippage, each entry buys with all the cash so that cash = qty * price * (1 + fee) (vectorbt's
``size=np.inf``).

One difference is by design: vectorbt leaves the last trade open at the end of the data (``pf.trades``
counts it, ``final_value`` marks it at the last close without an exit fee), while this engine closes it at the
last close (``END_OF_DATA``) and pays the exit fee. So the trade counts are equal, and our final equity is
vectorbt's final value minus that one fee (``assets held at the end * last close * 0.001``). Measured: 274
trades, final equity equal to 3e-14 relative. Skipped where vectorbt is not installed.
"""

from __future__ import annotations

import numpy as np
import pytest

from tsbot.backtest.engine import run_series
from tsbot.backtest.models import TRADE_FIELDS, BacktestConfig, ExitReason, FillAt, OrderPlan
from tsbot.market.models import CandleFrame

vbt = pytest.importorskip("vectorbt")


def _sma(x: np.ndarray, window: int) -> np.ndarray:
    c = np.cumsum(np.insert(x, 0, 0.0))
    out = np.full(len(x), np.nan)
    out[window - 1 :] = (c[window:] - c[:-window]) / window
    return out


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore:The inplace keyword")
def test_sma_cross_matches_vectorbt() -> None:
    n = 20_000
    rng = np.random.default_rng(20_240_101)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, n)))
    open_ = np.r_[close[0], close[:-1]]
    candles = CandleFrame(
        1_704_067_200_000 + 3_600_000 * np.arange(n, dtype=np.int64), open_, np.maximum(open_, close) * 1.002,
        np.minimum(open_, close) * 0.998, close, np.ones(n),
    )  # fmt: skip
    fast, slow = _sma(close, 10), _sma(close, 50)
    above, at_or_below = fast > slow, fast <= slow
    entries = np.r_[False, above[1:] & at_or_below[:-1]]
    exits = np.r_[False, at_or_below[1:] & above[:-1]]

    config = BacktestConfig(
        initial_equity=10_000.0, fill=FillAt.CLOSE, taker_fee_bps=10, maker_fee_bps=10, slippage_bps=0,
        allow_short=False,
    )  # fmt: skip
    ours = run_series(candles, OrderPlan.market(entries.astype(np.int8), exits), config)
    pf = vbt.Portfolio.from_signals(close, entries, exits, fees=0.001, init_cash=10_000.0, size=np.inf)

    theirs = pf.trades.records_readable
    assert len(ours.trades) == pf.trades.count() > 100
    col = {name: i for i, name in enumerate(TRADE_FIELDS)}
    np.testing.assert_array_equal(ours.trades[:, col["entry_bar"]], theirs["Entry Timestamp"].to_numpy())
    np.testing.assert_allclose(ours.trades[:, col["qty"]], theirs["Size"].to_numpy(), rtol=1e-9)

    held_at_end = float(np.asarray(pf.assets())[-1])
    assert held_at_end > 0, "this seed ends with an open trade, the case the test is about"
    assert ours.trades[-1, col["exit_reason"]] == ExitReason.END_OF_DATA
    np.testing.assert_allclose(ours.trades[-1, col["qty"]], held_at_end, rtol=1e-9)
    expected = float(pf.final_value()) - held_at_end * close[-1] * 0.001
    assert ours.equity[-1] == pytest.approx(expected, rel=1e-6)
    # the closed trades agree one by one (vectorbt's PnL is after both fees, like ours)
    closed = theirs["Status"].to_numpy() == "Closed"
    np.testing.assert_allclose(ours.trades[closed, col["pnl"]], theirs["PnL"].to_numpy()[closed], rtol=1e-6)
