"""Performance statistics of a backtest: returns, risk-adjusted ratios, drawdowns and trade figures.

Conventions (every function here follows them):

* **Equity points.** ``equity[i]`` is the equity at the close of bar ``i`` (bar open time ``time_ms[i]``, int64 ms
  UTC). The run starts with ``initial_equity`` at the open of bar 0, so a curve of ``n`` bars has ``n + 1`` points
  and ``n`` per-bar simple returns ``r_i = equity[i] / equity[i - 1] - 1``, the initial equity standing before
  bar 0. A return after the equity reached zero or less is 0 (nothing is left to earn or lose).
* **Span.** ``start_ms`` is the open of the first bar, ``end_ms`` the close of the last (its open + one timeframe);
  years are wall time: ``(end_ms - start_ms) / (365.25 days)``.
* **Annualisation.** Per-bar figures are scaled by ``sqrt(bars_per_year)`` (see :func:`bars_per_year`).

Formulas and sources:

* Sharpe ratio (Sharpe 1966, "Mutual Fund Performance"; Sharpe 1994, "The Sharpe Ratio"):
  ``mean(r - rf) / std(r, ddof=1) * sqrt(bars_per_year)``, ``rf = (1 + risk_free_ratio) ** (1 / bars_per_year) - 1``
  per bar. 0.0 when fewer than two returns or their standard deviation is 0 (below 1e-12: a flat curve).
* Sortino ratio (Sortino & Price 1994, "Performance Measurement in a Downside Risk Framework"):
  ``mean(r - rf) / DD * sqrt(bars_per_year)`` with the downside deviation ``DD = sqrt(mean(min(r - rf, 0) ** 2))``
  over all returns (the target is the per-bar risk-free return: 0 by default). When ``DD`` is 0 it is ``inf`` for a
  positive mean excess return and 0.0 otherwise.
* CAGR: ``(final / initial) ** (1 / years) - 1``; -1.0 when the final equity is zero or less. Over spans much shorter
  than a year it extrapolates wildly (it may be ``inf``); read it with the span.
* Calmar ratio (Young 1991, "Calmar Ratio: A Smoother Tool", Futures): ``CAGR / max_drawdown_ratio``; ``inf`` with a
  positive CAGR and no drawdown, 0.0 with neither.
* Drawdown: ``1 - equity / running peak`` (see :func:`drawdown`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, fields
from typing import Any

import numpy as np

from tsbot.backtest.dsr import deflated_sharpe_ratio
from tsbot.backtest.models import FILL_FIELDS, TRADE_FIELDS, BacktestResult
from tsbot.core.errors import DataError
from tsbot.market.models import SeriesKey, Timeframe

DAY_MS = 86_400_000
YEAR_MS = 365.25 * DAY_MS
#: Trading days per year of US stock exchanges (the usual convention for daily stock bars).
STOCK_DAYS_PER_YEAR = 252
#: Length of the US regular session, 09:30-16:00 New York time, in ms (extended hours are not counted).
STOCK_SESSION_MS = 390 * 60_000

_PNL = TRADE_FIELDS.index("pnl")
_R = TRADE_FIELDS.index("r_multiple")
_FEE = FILL_FIELDS.index("fee")
#: A per-bar return standard deviation below this counts as a flat curve (rounding noise, not risk).
_FLAT_STD = 1e-12


def json_float(value: float, digits: int = 10) -> float | None:
    """``value`` rounded to ``digits`` significant digits for JSON; ``None`` for NaN and +-inf."""
    x = float(value)
    if not math.isfinite(x):
        return None
    return float(f"{x:.{digits}g}")


def bars_per_year(keys: Sequence[SeriesKey]) -> float:
    """How many bars make a year, for annualising per-bar figures.

    Crypto trades around the clock: ``365.25 days / timeframe`` (8766 for 1h bars). A run made only of stocks
    (symbols without ``"/"``) uses 252 trading days of one 6.5-hour regular session: 252 for daily bars,
    ``252 * 390 min / timeframe`` intraday (1638 for 1h). With several timeframes the shortest one counts.

    Raises:
        DataError: ``keys`` is empty.
    """
    if not keys:
        raise DataError("cannot annualise: the backtest has no series")
    tf_ms = min(k.timeframe.ms for k in keys)
    if any("/" in k.symbol for k in keys):
        return YEAR_MS / tf_ms
    if tf_ms >= Timeframe.D1.ms:
        return float(STOCK_DAYS_PER_YEAR) * Timeframe.D1.ms / tf_ms
    return STOCK_DAYS_PER_YEAR * STOCK_SESSION_MS / tf_ms


def drawdown(equity: np.ndarray) -> np.ndarray:
    """Drawdown of an equity curve as a ratio below its running peak.

    Args:
        equity: float64 ``(n,)`` equity in quote currency.

    Returns:
        float64 ``(n,)``: ``1 - equity[i] / max(equity[:i + 1])``; 0.25 = 25 % below the peak, 0 at a new high,
        1 when the equity is gone. 0 while the running peak is zero or less.
    """
    eq = np.asarray(equity, dtype=np.float64)
    if eq.size == 0:
        return np.empty(0)
    peak = np.maximum.accumulate(eq)
    out = np.zeros_like(eq)
    pos = peak > 0
    out[pos] = 1.0 - eq[pos] / peak[pos]
    return out


def bar_returns(equity: np.ndarray, initial_equity: float) -> np.ndarray:
    """Per-bar simple returns, float64 ``(n,)``: ``equity[i] / equity[i - 1] - 1`` with ``initial_equity`` before
    bar 0; 0 where the previous equity is zero or less."""
    eq = np.concatenate([[float(initial_equity)], np.asarray(equity, dtype=np.float64)])
    prev, cur = eq[:-1], eq[1:]
    out = np.zeros(cur.shape[0])
    alive = prev > 0
    out[alive] = cur[alive] / prev[alive] - 1.0
    return out


@dataclass(frozen=True, slots=True)
class EquityStats:
    """Figures of one equity curve (see the module docstring for conventions and formulas).

    Attributes:
        start_ms: open of the first bar, ms UTC.
        end_ms: close of the last bar, ms UTC.
        bars: number of bars.
        initial_equity: equity before the first bar, quote currency.
        final_equity: equity at the last close, quote currency.
        total_return_ratio: ``final / initial - 1``; 0.12 = +12 %.
        cagr_ratio: compound annual growth rate; 0.12 = +12 % a year.
        sharpe: annualised Sharpe ratio.
        sortino: annualised Sortino ratio.
        calmar: CAGR / max drawdown.
        max_drawdown_ratio: largest peak-to-trough fall, positive; 0.25 = 25 %.
        max_drawdown_duration_bars: longest time under a previous peak, in bars: from the bar that set the peak
            (the start counts as a peak of the initial equity) to the first bar closing at or above it again, or to
            the last bar when it never recovered.
        max_drawdown_duration_days: the same stretch in wall-clock days.
    """

    start_ms: int
    end_ms: int
    bars: int
    initial_equity: float
    final_equity: float
    total_return_ratio: float
    cagr_ratio: float
    sharpe: float
    sortino: float
    calmar: float
    max_drawdown_ratio: float
    max_drawdown_duration_bars: int
    max_drawdown_duration_days: float


def _ratio(num: float, den: float, neither: float) -> float:
    """``num / den`` for ``den > 0``; else ``inf`` for a positive ``num`` and ``neither`` otherwise."""
    if den > 0:
        return num / den
    return math.inf if num > 0 else neither


def _sharpe_sortino(r: np.ndarray, rf: float, scale: float) -> tuple[float, float]:
    if r.size < 2:
        return 0.0, 0.0
    excess = r - rf
    mean = float(excess.mean())
    std = float(r.std(ddof=1))
    sharpe = 0.0 if std < _FLAT_STD else mean / std * scale
    down = math.sqrt(float(np.mean(np.minimum(excess, 0.0) ** 2)))
    return sharpe, _ratio(mean * scale, down, 0.0)


def _longest_underwater(points: np.ndarray, times: np.ndarray) -> tuple[int, float]:
    """Longest stretch (bars, ms) from a peak to its recovery or the end, over ``points`` at ``times``."""
    under = points < np.maximum.accumulate(points)
    if not under.any():
        return 0, 0.0
    edges = np.diff(np.r_[0, under.astype(np.int8), 0])
    starts, stops = (
        np.flatnonzero(edges == 1),
        np.flatnonzero(edges == -1),
    )  # stops: first bar back at the peak
    last = points.shape[0] - 1
    ends = np.minimum(stops, last)  # an unrecovered stretch ends at the last bar
    peaks = starts - 1
    lengths = ends - peaks
    k = int(np.argmax(lengths))
    return int(lengths[k]), float(times[ends[k]] - times[peaks[k]])


def equity_stats(
    time_ms: np.ndarray,
    equity: np.ndarray,
    *,
    initial_equity: float,
    bar_ms: int,
    bars_per_year: float,
    risk_free_ratio: float = 0.0,
) -> EquityStats:
    """Return, risk and drawdown figures of one equity curve (a run's, or stitched walk-forward test folds').

    Args:
        time_ms: int64 ``(n,)`` bar open times, ms UTC, increasing.
        equity: float64 ``(n,)`` equity at each bar's close, quote currency.
        initial_equity: equity before the first bar, > 0.
        bar_ms: length of one bar in ms (the timeframe).
        bars_per_year: annualisation factor (:func:`bars_per_year`).
        risk_free_ratio: annual risk-free return; 0.03 = 3 % a year.

    Raises:
        DataError: no bars, shapes differ, a non-finite equity, or ``initial_equity`` not positive.
    """
    t = np.asarray(time_ms, dtype=np.int64)
    eq = np.asarray(equity, dtype=np.float64)
    if eq.ndim != 1 or t.shape != eq.shape:
        raise DataError(f"time_ms and equity must be 1-D of equal length, got {t.shape} and {eq.shape}")
    if eq.size == 0:
        raise DataError("the equity curve has no bars; run the backtest over a period with candles")
    if not np.all(np.isfinite(eq)):
        raise DataError("the equity curve holds NaN or inf values; check the candles the backtest ran on")
    if not initial_equity > 0:
        raise DataError(f"initial equity must be > 0, got {initial_equity}")
    n = int(eq.size)
    start_ms, end_ms = int(t[0]), int(t[-1]) + int(bar_ms)
    final = float(eq[-1])
    total = final / initial_equity - 1.0
    years = (end_ms - start_ms) / YEAR_MS
    if final <= 0:
        cagr = -1.0
    else:
        try:
            cagr = math.exp(math.log(final / initial_equity) / years) - 1.0 if years > 0 else 0.0
        except OverflowError:
            cagr = math.inf
    rf = (1.0 + risk_free_ratio) ** (1.0 / bars_per_year) - 1.0
    sharpe, sortino = _sharpe_sortino(bar_returns(eq, initial_equity), rf, math.sqrt(bars_per_year))
    points = np.concatenate([[float(initial_equity)], eq])
    times = np.concatenate([[start_ms], t + int(bar_ms)])
    max_dd = float(drawdown(points).max())
    dd_bars, dd_ms = _longest_underwater(points, times)
    calmar = _ratio(cagr, max_dd, 0.0)
    return EquityStats(
        start_ms=start_ms,
        end_ms=end_ms,
        bars=n,
        initial_equity=float(initial_equity),
        final_equity=final,
        total_return_ratio=total,
        cagr_ratio=cagr,
        sharpe=sharpe,
        sortino=sortino,
        calmar=calmar,
        max_drawdown_ratio=max_dd,
        max_drawdown_duration_bars=dd_bars,
        max_drawdown_duration_days=dd_ms / DAY_MS,
    )


def _buy_and_hold(result: BacktestResult) -> float:
    rets = []
    for s in result.symbols:
        close = np.asarray(s.candles.close, dtype=np.float64)
        ok = np.flatnonzero(np.isfinite(close) & (close > 0))
        if ok.size:
            rets.append(close[ok[-1]] / close[ok[0]] - 1.0)
    return float(np.mean(rets)) if rets else math.nan


def _exposure(result: BacktestResult) -> float:
    t = np.asarray(result.time_ms, dtype=np.int64)
    held = np.zeros(t.shape[0], dtype=np.bool_)
    for s in result.symbols:
        if len(s.candles) == 0:
            continue
        idx = np.searchsorted(s.candles.open_time_ms, t, side="right") - 1
        pos = np.asarray(s.position, dtype=np.float64)
        ok = idx >= 0
        held[ok] |= pos[idx[ok]] != 0
    return float(held.mean()) if t.size else 0.0


@dataclass(frozen=True, slots=True)
class Stats:
    """Headline statistics of a backtest. Money is in quote currency; times are ms UTC.

    Attributes:
        start_ms: open time of the first bar, ms UTC.
        end_ms: close time of the last bar (its open + one timeframe), ms UTC.
        bars: bars of the portfolio's time grid.
        bars_per_year: annualisation factor used (:func:`bars_per_year`).
        total_return_ratio: ratio: 0.12 = +12 % from the initial to the final equity.
        cagr_ratio: compound annual growth rate, ratio per year: 0.12 = +12 % a year (wall-clock years).
        sharpe: annualised Sharpe ratio of per-bar returns (dimensionless).
        sortino: annualised Sortino ratio, downside deviation below the risk-free return (dimensionless).
        calmar: CAGR / max drawdown (dimensionless).
        max_drawdown_ratio: largest peak-to-trough fall, positive ratio: 0.25 = 25 %.
        max_drawdown_duration_bars: longest time under a previous peak until recovered (or the end), in bars.
        max_drawdown_duration_days: the same, in wall-clock days.
        profit_factor: gross profit / gross loss of the trades; inf with profits and no losses, NaN without trades
            (or when every trade broke even).
        win_rate_ratio: share of trades with pnl > 0: 0.55 = 55 %; NaN without trades.
        expectancy: mean pnl per trade after fees, quote currency; NaN without trades.
        expectancy_r: mean R multiple over trades whose R is known (those with a stop-loss); NaN when none.
        avg_win: mean pnl of winning trades, quote currency; NaN when none.
        avg_loss: mean pnl of losing trades, quote currency, negative; NaN when none.
        exposure_ratio: share of bars at whose close at least one position is open: 0.3 = 30 %.
        trades: number of closed trades.
        buy_and_hold_return_ratio: ratio: equal-weight buy-and-hold of the run's symbols, each bought at its first
            close and valued at its last close, no fees: ``mean(last_close / first_close - 1)``.
        final_equity: equity at the last close, quote currency.
        initial_equity: equity at the start, quote currency.
        fees: fees paid on all fills, quote currency.
        deflated_sharpe: probability in [0, 1] that the true Sharpe ratio exceeds the one the best of ``trials``
            configurations without skill would show (:func:`tsbot.backtest.dsr.deflated_sharpe_ratio`); None
            unless several configurations were tried (and the run has at least 3 bars).
        trials: number of configurations tried (1 when only this one).
    """

    start_ms: int
    end_ms: int
    bars: int
    bars_per_year: float
    total_return_ratio: float
    cagr_ratio: float
    sharpe: float
    sortino: float
    calmar: float
    max_drawdown_ratio: float
    max_drawdown_duration_bars: int
    max_drawdown_duration_days: float
    profit_factor: float
    win_rate_ratio: float
    expectancy: float
    expectancy_r: float
    avg_win: float
    avg_loss: float
    exposure_ratio: float
    trades: int
    buy_and_hold_return_ratio: float
    final_equity: float
    initial_equity: float
    fees: float
    deflated_sharpe: float | None
    trials: int

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict: floats to 10 significant digits, NaN and inf as None, ints as ints."""
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            out[f.name] = json_float(value) if isinstance(value, float) else value
        return out


def _mean_or_nan(x: np.ndarray) -> float:
    return float(x.mean()) if x.size else math.nan


def compute_stats(
    result: BacktestResult,
    *,
    trials_sharpe: Sequence[float] | None = None,
    risk_free_ratio: float = 0.0,
) -> Stats:
    """Statistics of a backtest run (conventions and formulas in the module docstring).

    Args:
        result: the run; its portfolio ``equity`` over ``time_ms`` starts from ``config.initial_equity``.
        trials_sharpe: per-bar (non-annualised) Sharpe ratios of every configuration tried, this one included
            (:func:`tsbot.backtest.dsr.sharpe_per_period` of each run's :func:`bar_returns`). With two or more the
            Deflated Sharpe Ratio is computed.
        risk_free_ratio: annual risk-free return for Sharpe and Sortino; 0.03 = 3 % a year.

    Raises:
        DataError: the run has no bars or series, or its equity holds NaN / inf.
    """
    bpy = bars_per_year(result.keys)
    bar_ms = min(k.timeframe.ms for k in result.keys)
    initial = float(result.config.initial_equity)
    eq = equity_stats(
        result.time_ms,
        result.equity,
        initial_equity=initial,
        bar_ms=bar_ms,
        bars_per_year=bpy,
        risk_free_ratio=risk_free_ratio,
    )
    trades = result.trades
    pnl = trades[:, _PNL].astype(np.float64)
    wins, losses = pnl[pnl > 0], pnl[pnl < 0]
    gross_profit, gross_loss = float(wins.sum()), float(-losses.sum())
    profit_factor = _ratio(gross_profit, gross_loss, math.nan)
    r = trades[:, _R].astype(np.float64)
    fees = float(sum(float(s.fills[:, _FEE].sum()) for s in result.symbols if len(s.fills)))
    n_trials = len(trials_sharpe) if trials_sharpe is not None else 1
    dsr: float | None = None
    if trials_sharpe is not None and n_trials >= 2 and eq.bars >= 3:
        dsr = deflated_sharpe_ratio(bar_returns(result.equity, initial), trials_sharpe)
    return Stats(
        start_ms=eq.start_ms,
        end_ms=eq.end_ms,
        bars=eq.bars,
        bars_per_year=bpy,
        total_return_ratio=eq.total_return_ratio,
        cagr_ratio=eq.cagr_ratio,
        sharpe=eq.sharpe,
        sortino=eq.sortino,
        calmar=eq.calmar,
        max_drawdown_ratio=eq.max_drawdown_ratio,
        max_drawdown_duration_bars=eq.max_drawdown_duration_bars,
        max_drawdown_duration_days=eq.max_drawdown_duration_days,
        profit_factor=profit_factor,
        win_rate_ratio=float(wins.size) / pnl.size if pnl.size else math.nan,
        expectancy=_mean_or_nan(pnl),
        expectancy_r=_mean_or_nan(r[np.isfinite(r)]),
        avg_win=_mean_or_nan(wins),
        avg_loss=_mean_or_nan(losses),
        exposure_ratio=_exposure(result),
        trades=int(pnl.size),
        buy_and_hold_return_ratio=_buy_and_hold(result),
        final_equity=eq.final_equity,
        initial_equity=initial,
        fees=fees,
        deflated_sharpe=dsr,
        trials=n_trials,
    )
