"""The HTML report: one offline file with its charts, markers, notes, escaped title and tables."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from tsbot.backtest import report
from tsbot.backtest.models import (
    FILL_FIELDS,
    TRADE_FIELDS,
    BacktestConfig,
    BacktestResult,
    ExitReason,
    SymbolResult,
)
from tsbot.backtest.report import downsample_candles, monthly_returns, write_report
from tsbot.backtest.stats import compute_stats
from tsbot.core.errors import DataError
from tsbot.market.models import CandleFrame, SeriesKey, Timeframe

H = Timeframe.H1.ms
D = Timeframe.D1.ms
T0 = 1_704_067_200_000  # 2024-01-01T00:00:00Z


def _fill(bar: int, side: int, price: float, is_entry: bool, reason: ExitReason | None = None) -> list[float]:
    values = dict(
        symbol=0,
        bar=bar,
        time_ms=T0 + bar * H,
        side=side,
        price=price,
        qty=1.0,
        fee=0.1,
        is_entry=int(is_entry),
        reason=-1 if reason is None else int(reason),
    )
    return [float(values[f]) for f in FILL_FIELDS]


def _trade(entry_bar: int, exit_bar: int, pnl: float) -> list[float]:
    row = dict.fromkeys(TRADE_FIELDS, 0.0)
    row.update(
        side=1,
        entry_bar=entry_bar,
        exit_bar=exit_bar,
        entry_time_ms=T0 + entry_bar * H,
        exit_time_ms=T0 + exit_bar * H,
        entry_price=100.0,
        exit_price=100.0 + pnl,
        qty=1.0,
        pnl=pnl,
        exit_reason=int(ExitReason.TAKE_PROFIT),
        exits=1,
        r_multiple=np.nan,
    )
    return [row[f] for f in TRADE_FIELDS]


def _result(n_symbols: int = 2, bars: int = 40, n_trades: int = 2) -> BacktestResult:
    t = T0 + np.arange(bars, dtype=np.int64) * H
    close = 100.0 + np.sin(np.arange(bars) / 3.0) * 5
    fills = np.array(
        [
            _fill(2, 1, 101.0, True),
            _fill(5, -1, 96.0, False, ExitReason.STOP_LOSS),
            _fill(8, -1, 104.0, True),
            _fill(12, 1, 99.0, False, ExitReason.TAKE_PROFIT),
        ]
    )
    trades = np.array([_trade(i % bars, (i % bars) + 1, 1.0 if i % 2 else -0.5) for i in range(n_trades)])
    trades = trades.reshape(-1, len(TRADE_FIELDS))
    symbols = []
    keys = [SeriesKey("binance", f"C{i}/USDT", Timeframe.H1) for i in range(n_symbols)]
    for i, key in enumerate(keys):
        symbols.append(
            SymbolResult(
                key,
                CandleFrame(t, close, close + 1, close - 1, close, np.ones(bars)),
                np.full(bars, 100.0),
                trades if i == 0 else np.empty((0, len(TRADE_FIELDS))),
                fills if i == 0 else np.empty((0, len(FILL_FIELDS))),
            )
        )
    equity = 1000.0 * (1 + 0.001 * np.arange(bars)) * (1 - 0.05 * (np.arange(bars) == 20))
    return BacktestResult(keys, symbols, t, equity, BacktestConfig(initial_equity=1000.0))


def _js(text: str) -> str:
    """``text`` as plotly writes strings into its figure JSON (HTML-sensitive characters as unicode escapes)."""
    return (
        text.replace("/", "\\u002f").replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    )


def _write(tmp_path: Path, result: BacktestResult, **kwargs) -> str:
    kwargs.setdefault("title", "Run 1")
    out = write_report(result, compute_stats(result), tmp_path / "r" / "report.html", **kwargs)
    assert out == tmp_path / "r" / "report.html" and out.is_file()
    return out.read_text(encoding="utf-8")


def test_report_is_one_offline_file_with_every_chart(tmp_path: Path) -> None:
    page = _write(tmp_path, _result())
    assert not re.search(r"<script[^>]+src=", page)  # nothing loaded from elsewhere: no cdn.plot.ly, no files
    assert "cdn.plot.ly/plotly" not in page
    assert page.count("Plotly.newPlot") == 2 + 3  # two candle charts, equity, drawdown, monthly returns
    assert len(page) > 3_000_000  # plotly.js itself (several MB) is inlined
    for title in (
        "Candles: C0/USDT (binance, 1h)",
        "Candles: C1/USDT (binance, 1h)",
        "Equity (portfolio",
        "Drawdown (% below the running peak)",
        "Monthly returns (%, UTC calendar months)",
    ):
        assert _js(title) in page
    for marker in (
        "long entry",
        "short entry",
        "exit: stop loss",
        "exit: take profit",
        "triangle-up",
        "triangle-down",
    ):
        assert marker in page
    assert "<h2>Statistics</h2>" in page and "max drawdown (%)" in page
    assert "2 trades." in page and "take_profit" in page


def test_title_is_escaped(tmp_path: Path) -> None:
    page = _write(tmp_path, _result(), title="<script>alert(1)</script> & more")
    assert "<script>alert(1)</script>" not in page
    assert "<title>&lt;script&gt;alert(1)&lt;/script&gt; &amp; more</title>" in page
    assert "<h1>&lt;script&gt;alert(1)&lt;/script&gt; &amp; more</h1>" in page


def test_folds_are_shaded_and_candles_down_sampled(tmp_path: Path) -> None:
    plain = _write(tmp_path, _result())
    assert '"type":"rect"' not in plain and "down-sampled" not in plain
    folds = [(T0 + 10 * H, T0 + 20 * H), (T0 + 20 * H, T0 + 30 * H)]
    page = _write(tmp_path, _result(), walk_forward_folds=folds, max_candles=15)
    # 2 folds on each of 2 candle charts, the equity and the drawdown chart
    assert page.count('"type":"rect"') == 2 * 4
    assert "Shaded: walk-forward test folds" in page
    assert "down-sampled: 3 bars per candle (40 bars shown as 14)" in page  # ceil(40 / 15) = 3


def test_long_equity_lines_are_thinned(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(report, "MAX_LINE_POINTS", 10)
    page = _write(tmp_path, _result())
    assert "Equity (portfolio, quote currency, 4 bars per point)" in page  # ceil(40 / 10) = 4
    assert _js("Drawdown (% below the running peak, 4 bars per point)") in page


def test_many_symbols_and_trades_are_cut_with_a_note(tmp_path: Path) -> None:
    page = _write(tmp_path, _result(n_symbols=7, n_trades=501))
    assert page.count("Plotly.newPlot") == 6 + 3
    assert "Charts for the first 6 of 7 symbols; not charted: binance:C6/USDT:1h." in page
    assert "Showing the first 500 of 501 trades." in page
    assert page.count("<tr><td>") == 500 and "<tr><td>500</td>" in page  # numbered trade rows


def test_downsample_candles_merges_runs_of_bars() -> None:
    t = np.arange(5, dtype=np.int64) * H
    o, h = np.array([1.0, 2, 3, 4, 5]), np.array([5.0, 9, 6, 7, np.nan])
    low, c = np.array([0.5, 1, 0.2, 3, 2]), np.array([1.5, 2.5, 3.5, 4.5, 5.5])
    tt, oo, hh, ll, cc, k = downsample_candles(t, o, h, low, c, 2)  # k = ceil(5 / 2) = 3: bars 0-2 and 3-4
    assert k == 3
    np.testing.assert_array_equal(tt, [0, 3 * H])
    np.testing.assert_array_equal(oo, [1.0, 4.0])
    np.testing.assert_array_equal(hh, [9.0, 7.0])  # a NaN high is skipped
    np.testing.assert_array_equal(ll, [0.2, 2.0])
    np.testing.assert_array_equal(cc, [3.5, 5.5])
    assert downsample_candles(t, o, h, low, c, 5)[-1] == 1
    with pytest.raises(DataError):
        write_report(_result(), compute_stats(_result()), Path("unused.html"), title="x", max_candles=0)


def test_monthly_returns_chain_month_end_equity() -> None:
    times = np.array(
        [T0 - 2 * D, T0 - D, T0 + 30 * D, T0 + 31 * D, T0 + 61 * D]
    )  # Dec 30, Dec 31, Jan 31, Feb 1, Mar 2
    equity = np.array([104.0, 110.0, 99.0, 90.0, 108.9])
    years, table = monthly_returns(times, equity, 100.0)
    assert years == [2023, 2024]
    assert table[0, 11] == pytest.approx(0.10)  # Dec: 100 -> 110
    assert table[1, 0] == pytest.approx(-0.10)  # Jan: 110 -> 99
    assert table[1, 1] == pytest.approx(90 / 99 - 1)  # Feb
    assert table[1, 2] == pytest.approx(108.9 / 90 - 1)  # Mar
    assert np.isnan(table[0, :11]).all() and np.isnan(table[1, 3:]).all()
