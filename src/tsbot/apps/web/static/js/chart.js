/* tsbot web: the candlestick chart (plotly.js, served by the app itself). Candles with overlays (SMA, EMA,
 * Bollinger bands), volume, an RSI pane, the stored signals marked where their action changed, and the latest
 * signal's stop-loss and take-profit levels. Times are drawn in the user's time zone. */
(function () {
  "use strict";
  const { fmt } = window.TS;

  const COLORS = {
    up: "#22c98a",
    down: "#f25470",
    hold: "#e3b341",
    grid: "#182033",
    axis: "#6f7a92",
    text: "#aab3c5",
    sma_20: "#f0b429",
    sma_50: "#b388ff",
    ema_20: "#36c5f0",
    bb: "#7b8bb2",
    rsi: "#ff8a65",
  };
  const TF_MS = { "1m": 6e4, "5m": 3e5, "15m": 9e5, "30m": 18e5, "1h": 36e5, "4h": 144e5, "1d": 864e5, "1w": 6048e5 };
  const touch = window.matchMedia("(pointer: coarse)").matches;

  function line(x, y, name, color, extra) {
    return Object.assign(
      { type: "scatter", mode: "lines", x, y, name, line: { color, width: 1.4 }, hoverinfo: "skip", connectgaps: false },
      extra || {}
    );
  }

  /** Change points of ``signals`` (any order): the first signal and each whose action differs from the one
   * before, oldest first. */
  function changePoints(signals) {
    const sorted = signals.slice().sort((a, b) => Date.parse(a.as_of) - Date.parse(b.as_of));
    const out = [];
    let prev = null;
    sorted.forEach((s) => {
      if (s.action !== prev) out.push(s);
      prev = s.action;
    });
    return out;
  }

  /**
   * Draw the chart into ``el``.
   * md: the /market-data answer; signals: stored signals of the series (newest first); latest: the newest
   * signal or null; show: {sma_20, sma_50, ema_20, bb, volume, rsi, signals} booleans.
   * Resolves when plotly has drawn.
   */
  function render(el, md, signals, latest, show) {
    const candles = md.candles;
    const tfMs = TF_MS[md.timeframe] || 36e5;
    const x = candles.map((c) => fmt.plotTime(c.open_time));
    const byOpen = new Map(candles.map((c, i) => [Date.parse(c.open_time), i]));
    const ind = md.indicators || {};
    const traces = [];
    const priceAxis = show.rsi ? [0.3, 1] : [0, 1];

    traces.push({
      type: "candlestick",
      name: md.symbol,
      x,
      open: candles.map((c) => c.open),
      high: candles.map((c) => c.high),
      low: candles.map((c) => c.low),
      close: candles.map((c) => c.close),
      increasing: { line: { color: COLORS.up, width: 1 }, fillcolor: COLORS.up },
      decreasing: { line: { color: COLORS.down, width: 1 }, fillcolor: COLORS.down },
      whiskerwidth: 0,
      showlegend: false,
      yaxis: "y",
    });
    if (show.bb && ind.bb_upper && ind.bb_lower) {
      traces.push(line(x, ind.bb_upper, "BB upper", COLORS.bb, { line: { color: COLORS.bb, width: 1, dash: "dot" }, showlegend: false }));
      traces.push(
        line(x, ind.bb_lower, "Bollinger 20, 2σ", COLORS.bb, {
          line: { color: COLORS.bb, width: 1, dash: "dot" },
          fill: "tonexty",
          fillcolor: "rgba(123,139,178,0.07)",
        })
      );
    }
    ["sma_20", "sma_50", "ema_20"].forEach((name) => {
      if (show[name] && ind[name]) traces.push(line(x, ind[name], name.toUpperCase().replace("_", " "), COLORS[name]));
    });
    if (show.volume) {
      traces.push({
        type: "bar",
        name: "Volume",
        x,
        y: candles.map((c) => c.volume),
        marker: { color: candles.map((c) => (c.close >= c.open ? "rgba(34,201,138,0.28)" : "rgba(242,84,112,0.28)")) },
        yaxis: "y3",
        hovertemplate: "Vol %{y:,.2f}<extra></extra>",
        showlegend: false,
      });
    }
    if (show.signals) {
      const marks = { BUY: { x: [], y: [], text: [] }, SELL: { x: [], y: [], text: [] } };
      changePoints(signals).forEach((s) => {
        const m = marks[s.action];
        if (!m) return;
        const open = Date.parse(s.as_of) - tfMs;
        const i = byOpen.get(open);
        if (i === undefined) return;
        const c = candles[i];
        const span = Math.max(c.high - c.low, c.close * 0.002);
        m.x.push(x[i]);
        m.y.push(s.action === "BUY" ? c.low - span * 0.6 : c.high + span * 0.6);
        m.text.push(
          `${s.action} · score ${fmt.signed(s.score)} · confidence ${fmt.pct(s.confidence, 0)}<br>` +
            `${fmt.fullTime(s.as_of)} at ${fmt.price(s.price)}`
        );
      });
      [
        ["BUY", "triangle-up", COLORS.up],
        ["SELL", "triangle-down", COLORS.down],
      ].forEach(([action, symbol, color]) => {
        const m = marks[action];
        if (!m.x.length) return;
        traces.push({
          type: "scatter",
          mode: "markers",
          name: action + " signal",
          x: m.x,
          y: m.y,
          text: m.text,
          hovertemplate: "%{text}<extra></extra>",
          marker: { symbol, size: 12, color, line: { color: "#080b12", width: 1 } },
          yaxis: "y",
        });
      });
    }
    if (show.rsi && ind.rsi_14) {
      traces.push(line(x, ind.rsi_14, "RSI 14", COLORS.rsi, { yaxis: "y2", hoverinfo: undefined, hovertemplate: "RSI %{y:.1f}<extra></extra>", showlegend: false }));
    }

    const firstMs = candles.length ? Date.parse(candles[0].open_time) : 0;
    const lastMs = candles.length ? Date.parse(candles[candles.length - 1].open_time) : 0;
    const padBars = Math.max(3, Math.round(candles.length * 0.05));
    const rangeStart = fmt.plotTime(new Date(firstMs - tfMs).toISOString());
    const rangeEnd = fmt.plotTime(new Date(lastMs + padBars * tfMs).toISOString());
    const shapes = [];
    const annotations = [];
    if (show.rsi) {
      [30, 70].forEach((level) => {
        shapes.push({ type: "line", xref: "paper", x0: 0, x1: 1, yref: "y2", y0: level, y1: level, line: { color: "#2a3550", width: 1, dash: "dot" } });
      });
      annotations.push({ xref: "paper", yref: "y2 domain", x: 0, y: 1, xanchor: "left", yanchor: "top", text: "RSI 14", showarrow: false, font: { size: 10, color: COLORS.axis } });
    }
    if (latest && latest.action !== "HOLD" && candles.length) {
      const from = byOpen.has(Date.parse(latest.as_of) - tfMs) ? x[byOpen.get(Date.parse(latest.as_of) - tfMs)] : x[Math.max(0, x.length - 24)];
      const levels = [];
      if (latest.stop_loss !== null && latest.stop_loss !== undefined) levels.push(["SL", latest.stop_loss, COLORS.down]);
      (latest.take_profit || []).forEach((p, i) => levels.push([`TP${i + 1}`, p, COLORS.up]));
      levels.forEach(([label, price, color]) => {
        shapes.push({ type: "line", xref: "x", x0: from, x1: rangeEnd, yref: "y", y0: price, y1: price, line: { color, width: 1, dash: "dash" }, opacity: 0.8 });
        annotations.push({
          xref: "paper", x: 1, yref: "y", y: price, xanchor: "left", text: `${label} ${fmt.price(price)}`,
          showarrow: false, font: { size: 10, color: "#0b0f17" }, bgcolor: color, borderpad: 2,
        });
      });
    }

    const stock = md.timeframe === "1d" && !md.symbol.includes("/");
    const maxVol = Math.max(1, ...candles.map((c) => c.volume));
    const layout = {
      paper_bgcolor: "rgba(0,0,0,0)",
      plot_bgcolor: "rgba(0,0,0,0)",
      font: { family: getComputedStyle(document.body).fontFamily, size: 11, color: COLORS.text },
      margin: { l: 8, r: 76, t: 26, b: 28 },
      dragmode: touch ? false : "pan",
      hovermode: "x unified",
      hoverlabel: { bgcolor: "#161d2c", bordercolor: "#2a3550", font: { color: "#e8ecf4", size: 12 } },
      showlegend: true,
      legend: { orientation: "h", traceorder: "normal", x: 0, y: 1.005, xanchor: "left", yanchor: "bottom", bgcolor: "rgba(0,0,0,0)", font: { size: 10 } },
      xaxis: {
        type: "date",
        rangeslider: { visible: false },
        gridcolor: COLORS.grid,
        linecolor: COLORS.grid,
        tickfont: { color: COLORS.axis },
        showspikes: true,
        spikemode: "across",
        spikethickness: 1,
        spikecolor: "#3a4663",
        spikedash: "dot",
        rangebreaks: stock ? [{ bounds: ["sat", "mon"] }] : undefined,
        range: candles.length ? [rangeStart, rangeEnd] : undefined,
        domain: [0, 1],
      },
      yaxis: { domain: priceAxis, side: "right", gridcolor: COLORS.grid, zeroline: false, tickfont: { color: COLORS.axis }, tickformat: ",.6~g", fixedrange: false },
      yaxis2: { domain: [0, 0.22], side: "right", range: [0, 100], tickvals: [30, 50, 70], gridcolor: COLORS.grid, zeroline: false, tickfont: { color: COLORS.axis }, visible: !!show.rsi },
      yaxis3: { overlaying: "y", range: [0, maxVol * 4.5], visible: false, fixedrange: true },
      shapes,
      annotations,
      bargap: 0.15,
    };
    const config = { responsive: true, displaylogo: false, displayModeBar: false, scrollZoom: !touch };
    return window.Plotly.react(el, traces, layout, config);
  }

  window.TS.chart = { render, changePoints, TF_MS };
})();
