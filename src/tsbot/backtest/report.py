"""A backtest as one self-contained HTML page (plotly charts with plotly.js inlined; opens offline).

The page holds, in order: the statistics table; for each symbol (the first :data:`MAX_SYMBOL_CHARTS`) a candlestick
chart with the entry fills (triangles up for longs, down for shorts) and exit fills (coloured by exit reason); the
portfolio equity curve; the drawdown (underwater) curve; monthly returns (UTC calendar months); and the trades table
(first :data:`MAX_TRADE_ROWS` rows). Walk-forward test folds, when given, are shaded on every time chart. Long runs
are thinned so the page stays light: candles above ``max_candles`` and equity / drawdown lines above
:data:`MAX_LINE_POINTS` points are grouped, and the chart titles say so.
Times on the charts are UTC bar open times; the equity plotted at a bar is its equity at that bar's close.
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import plotly.graph_objects as go
import plotly.io as pio
from plotly.offline import get_plotlyjs

from tsbot.backtest.export import iso_utc, trade_dicts
from tsbot.backtest.models import FILL_FIELDS, BacktestResult, ExitReason, SymbolResult
from tsbot.backtest.stats import Stats, drawdown
from tsbot.core.errors import DataError

MAX_SYMBOL_CHARTS = 6
MAX_TRADE_ROWS = 500
#: Points of the equity and drawdown lines above which bars are grouped (last equity, deepest drawdown per group).
MAX_LINE_POINTS = 50_000
_TEMPLATE = "plotly_white"
_FOLD_COLOUR = "rgba(99, 110, 250, 0.12)"
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_REASON_COLOUR = {
    ExitReason.SIGNAL: "#1f77b4",
    ExitReason.STOP_LOSS: "#d62728",
    ExitReason.TAKE_PROFIT: "#2ca02c",
    ExitReason.TRAILING_STOP: "#ff7f0e",
    ExitReason.LIQUIDATION: "#000000",
    ExitReason.MAX_HOLD: "#9467bd",
    ExitReason.END_OF_DATA: "#7f7f7f",
    ExitReason.REVERSAL: "#8c564b",
}
_F = {name: i for i, name in enumerate(FILL_FIELDS)}
_CSS = """
body { font-family: system-ui, sans-serif; margin: 1.5rem; color: #222; }
table { border-collapse: collapse; font-size: 0.85rem; margin-bottom: 1rem; }
th, td { border: 1px solid #ddd; padding: 0.2rem 0.5rem; text-align: right; }
th { background: #f4f4f4; } td.l, th.l { text-align: left; }
.note { color: #666; font-size: 0.85rem; }
"""


def _dt(ms: np.ndarray) -> np.ndarray:
    return np.asarray(ms, dtype=np.int64).astype("datetime64[ms]")


def _shade(fig: go.Figure, folds: Sequence[tuple[int, int]] | None) -> None:
    for start, end in folds or ():
        fig.add_vrect(
            x0=_dt(np.array([start]))[0],
            x1=_dt(np.array([end]))[0],
            fillcolor=_FOLD_COLOUR,
            line_width=0,
            layer="below",
        )


def _div(fig: go.Figure, height: int) -> str:
    fig.update_layout(template=_TEMPLATE, height=height, margin=dict(l=60, r=20, t=50, b=40))
    return pio.to_html(fig, full_html=False, include_plotlyjs=False, default_height=f"{height}px")


def downsample_candles(
    time_ms: np.ndarray, o: np.ndarray, h: np.ndarray, low: np.ndarray, c: np.ndarray, max_candles: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, int]:
    """Merge runs of ``k = ceil(n / max_candles)`` consecutive bars into one candle (first open, highest high,
    lowest low, last close, first open time); returns the five arrays and ``k`` (1: unchanged)."""
    n = int(len(time_ms))
    k = max(1, math.ceil(n / max(1, max_candles)))
    if k == 1:
        return time_ms, o, h, low, c, 1
    starts = np.arange(0, n, k)
    ends = np.minimum(starts + k, n) - 1
    return time_ms[starts], o[starts], np.fmax.reduceat(h, starts), np.fmin.reduceat(low, starts), c[ends], k


def _candle_chart(s: SymbolResult, folds: Sequence[tuple[int, int]] | None, max_candles: int) -> str:
    cf = s.candles
    t, o, h, low, c, k = downsample_candles(cf.open_time_ms, cf.open, cf.high, cf.low, cf.close, max_candles)
    title = f"Candles: {s.key.symbol} ({s.key.exchange}, {s.key.timeframe.value})"
    if k > 1:
        title += f", down-sampled: {k} bars per candle ({len(cf)} bars shown as {len(t)})"
    fig = go.Figure(
        go.Candlestick(x=_dt(t), open=o, high=h, low=low, close=c, name="candles", showlegend=False)
    )
    fills = s.fills
    if len(fills):
        entry = fills[:, _F["is_entry"]] == 1
        side = fills[:, _F["side"]]
        for mask, name, symbol, colour in (
            (entry & (side > 0), "long entry", "triangle-up", "#2ca02c"),
            (entry & (side < 0), "short entry", "triangle-down", "#d62728"),
        ):
            if mask.any():
                fig.add_trace(_markers(fills[mask], name, symbol, colour))
        reasons = fills[:, _F["reason"]]
        for reason, colour in _REASON_COLOUR.items():
            mask = ~entry & (reasons == int(reason))
            if mask.any():
                name = f"exit: {reason.name.lower().replace('_', ' ')}"
                fig.add_trace(_markers(fills[mask], name, "x", colour))
    fig.update_layout(title=title, xaxis_rangeslider_visible=False, yaxis_title="price (quote)")
    _shade(fig, folds)
    return _div(fig, 480)


def _markers(rows: np.ndarray, name: str, symbol: str, colour: str) -> go.Scatter:
    return go.Scatter(
        x=_dt(rows[:, _F["time_ms"]]),
        y=rows[:, _F["price"]],
        mode="markers",
        name=name,
        marker=dict(symbol=symbol, size=10, color=colour, line=dict(width=1, color="#333")),
        customdata=rows[:, _F["qty"]],
        hovertemplate="%{x}<br>price %{y}<br>qty %{customdata}<extra>" + name + "</extra>",
    )


def monthly_returns(
    time_ms: np.ndarray, equity: np.ndarray, initial_equity: float
) -> tuple[list[int], np.ndarray]:
    """Returns of UTC calendar months, for a heatmap.

    A month's return is its last close's equity over the previous month's last close (the initial equity for the
    first month) minus 1. Months without bars inside the span are 0; months outside it are NaN.

    Returns:
        ``(years, table)``: the calendar years covered, ascending, and float64 ``(len(years), 12)`` ratios
        (0.05 = +5 %), column 0 = January.
    """
    t = np.asarray(time_ms, dtype=np.int64)
    eq = np.asarray(equity, dtype=np.float64)
    if t.size == 0:
        return [], np.empty((0, 12))
    months = t.astype("datetime64[ms]").astype("datetime64[M]").astype(np.int64)  # months since 1970-01
    last_in_month = np.r_[months[1:] != months[:-1], True]
    m_ids, m_eq = months[last_in_month], eq[last_in_month]
    first_year, last_year = int(m_ids[0] // 12) + 1970, int(m_ids[-1] // 12) + 1970
    years = list(range(first_year, last_year + 1))
    table = np.full((len(years), 12), np.nan)
    for m in range(int(m_ids[0]), int(m_ids[-1]) + 1):
        table[m // 12 + 1970 - first_year, m % 12] = 0.0
    prev = float(initial_equity)
    for m, value in zip(m_ids, m_eq, strict=True):
        table[int(m) // 12 + 1970 - first_year, int(m) % 12] = value / prev - 1.0 if prev > 0 else 0.0
        prev = float(value)
    return years, table


def _equity_charts(
    result: BacktestResult, stats: Stats, folds: Sequence[tuple[int, int]] | None
) -> list[str]:
    equity = np.asarray(result.equity, dtype=np.float64)
    dd = drawdown(np.concatenate([[stats.initial_equity], equity]))[1:]
    t, k = np.asarray(result.time_ms, dtype=np.int64), 1
    if equity.size > MAX_LINE_POINTS:  # keep each group's last equity and its deepest drawdown
        k = math.ceil(equity.size / MAX_LINE_POINTS)
        starts = np.arange(0, equity.size, k)
        t, equity, dd = (
            t[starts],
            equity[np.minimum(starts + k, equity.size) - 1],
            np.maximum.reduceat(dd, starts),
        )
    note = f", {k} bars per point" if k > 1 else ""
    x = _dt(t)
    fig = go.Figure(go.Scatter(x=x, y=equity, mode="lines", name="equity", line=dict(color="#1f77b4")))
    fig.update_layout(
        title=f"Equity (portfolio, quote currency{note})", yaxis_title="equity", showlegend=False
    )
    _shade(fig, folds)
    under = go.Figure(
        go.Scatter(
            x=x, y=-100.0 * dd, mode="lines", fill="tozeroy", name="drawdown", line=dict(color="#d62728")
        )
    )
    under.update_layout(
        title=f"Drawdown (% below the running peak{note})", yaxis_title="drawdown %", showlegend=False
    )
    _shade(under, folds)
    years, table = monthly_returns(result.time_ms, result.equity, stats.initial_equity)
    pct = np.round(100.0 * table, 2)
    text = [["" if math.isnan(v) else f"{v:.2f}" for v in row] for row in pct]
    heat = go.Figure(
        go.Heatmap(
            z=pct,
            x=list(_MONTHS),
            y=[str(y) for y in years],
            text=text,
            texttemplate="%{text}",
            colorscale="RdYlGn",
            zmid=0.0,
            colorbar=dict(title="%"),
            hoverongaps=False,
        )
    )
    heat.update_layout(
        title="Monthly returns (%, UTC calendar months)", yaxis=dict(type="category", autorange="reversed")
    )
    return [_div(fig, 420), _div(under, 300), _div(heat, 140 + 40 * max(1, len(years)))]


def _fmt(name: str, value: object) -> str:
    if value is None:
        return "n/a (one configuration)" if name == "deflated_sharpe" else "n/a"
    if name in ("start_ms", "end_ms"):
        return iso_utc(int(value))  # type: ignore[call-overload]
    if isinstance(value, int):
        return f"{value:,}"
    x = float(value)  # type: ignore[arg-type]
    if math.isnan(x):
        return "n/a"
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    if name.endswith("_ratio"):
        return f"{100.0 * x:,.2f} %"
    return f"{x:,.4f}" if abs(x) < 100 else f"{x:,.2f}"


def _stats_table(stats: Stats) -> str:
    rows = []
    for name in stats.__dataclass_fields__:
        label = name.replace("_ratio", "").replace("_ms", "").replace("_", " ")
        unit = " (%)" if name.endswith("_ratio") else ""
        rows.append(
            f'<tr><th class="l">{html.escape(label + unit)}</th>'
            f"<td>{html.escape(_fmt(name, getattr(stats, name)))}</td></tr>"
        )
    return "<table>" + "".join(rows) + "</table>"


_TRADE_COLUMNS = (
    "symbol",
    "side",
    "entry_at",
    "entry_price",
    "exit_at",
    "exit_price",
    "qty",
    "pnl",
    "fees",
    "return_ratio",
    "r_multiple",
    "bars_held",
    "exit_reason",
    "exits",
)


def _cell(value: object) -> str:
    if value is None:
        return "<td>n/a</td>"
    if isinstance(value, float):
        return f"<td>{value:,.6g}</td>"
    if isinstance(value, int):
        return f"<td>{value}</td>"
    return f'<td class="l">{html.escape(str(value))}</td>'


def _trades_table(result: BacktestResult) -> str:
    trades = trade_dicts(result)
    head = "".join(f"<th>{html.escape(c)}</th>" for c in ("#", *_TRADE_COLUMNS))
    body = []
    for i, t in enumerate(trades[:MAX_TRADE_ROWS], start=1):
        body.append("<tr><td>" + str(i) + "</td>" + "".join(_cell(t[c]) for c in _TRADE_COLUMNS) + "</tr>")
    if not trades:
        note = '<p class="note">No trades.</p>'
    elif len(trades) > MAX_TRADE_ROWS:
        note = f'<p class="note">Showing the first {MAX_TRADE_ROWS} of {len(trades):,} trades.</p>'
    else:
        note = f'<p class="note">{len(trades):,} trades.</p>'
    return note + f"<table><tr>{head}</tr>{''.join(body)}</table>"


def write_report(
    result: BacktestResult,
    stats: Stats,
    path: Path,
    *,
    title: str,
    walk_forward_folds: Sequence[tuple[int, int]] | None = None,
    max_candles: int = 20_000,
) -> Path:
    """Write the report of a backtest to ``path`` (one HTML file, plotly.js inlined: no network needed to view it).

    Args:
        result: the run.
        stats: its :func:`tsbot.backtest.stats.compute_stats`.
        path: the file to write (parent folders are created); overwritten when it exists.
        title: page title (plain text; HTML in it is escaped).
        walk_forward_folds: ``(start_ms, end_ms)`` UTC of each walk-forward test fold, shaded on the time charts.
        max_candles: candles per symbol chart above which bars are merged (the chart title says so).

    Returns:
        ``path``.

    Raises:
        DataError: ``max_candles < 1``.
    """
    if max_candles < 1:
        raise DataError(f"max_candles must be >= 1, got {max_candles}")
    parts = [f"<h1>{html.escape(title)}</h1>", "<h2>Statistics</h2>", _stats_table(stats)]
    symbols = [s for s in result.symbols if len(s.candles)]
    if symbols:
        parts.append("<h2>Candles and fills</h2>")
    if len(symbols) > MAX_SYMBOL_CHARTS:
        rest = ", ".join(str(s.key) for s in symbols[MAX_SYMBOL_CHARTS:])
        parts.append(
            f'<p class="note">Charts for the first {MAX_SYMBOL_CHARTS} of {len(symbols)} symbols; '
            f"not charted: {html.escape(rest)}.</p>"
        )
    parts.extend(_candle_chart(s, walk_forward_folds, max_candles) for s in symbols[:MAX_SYMBOL_CHARTS])
    if walk_forward_folds:
        parts.append('<p class="note">Shaded: walk-forward test folds.</p>')
    parts.append("<h2>Equity, drawdown and monthly returns</h2>")
    parts.extend(_equity_charts(result, stats, walk_forward_folds))
    parts.append("<h2>Trades</h2>")
    parts.append(_trades_table(result))
    page = (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title><style>{_CSS}</style>"
        f'<script type="text/javascript">{get_plotlyjs()}</script></head>'
        f"<body>{''.join(parts)}</body></html>\n"
    )
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(page, encoding="utf-8")
    return path
