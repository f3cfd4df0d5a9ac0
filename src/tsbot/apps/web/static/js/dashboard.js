/* tsbot web: the dashboard. The watchlist's newest signals (GET /api/v1/signals/latest, last prices from
 * /market-data/all/overview) kept current by the WebSocket's "signals" channel with a flash on each change; the
 * selected symbol's chart, explanation and news; and the paper-trading, provider and notification panels. */
(async function () {
  "use strict";
  const TS = window.TS;
  const { api, h, $, fmt, toast, actionBadge, emptyState, symbolPath } = TS;

  const SYMBOL_KEY = "tsbot.symbol";
  const SHOW_KEY = "tsbot.chart";
  const INDICATORS = "sma_20,sma_50,ema_20,bb_upper,bb_middle,bb_lower,rsi_14";
  const RANGES = [
    ["1D", 864e5],
    ["3D", 3 * 864e5],
    ["1W", 7 * 864e5],
    ["1M", 30 * 864e5],
    ["3M", 91 * 864e5],
    ["1Y", 365 * 864e5],
  ];
  const DEFAULT_SHOW = { sma_20: true, sma_50: true, ema_20: false, bb: false, volume: true, rsi: true, signals: true };

  const state = {
    rows: new Map(), // series key -> {signal, action, score, since, key}
    overview: new Map(), // symbol -> overview item
    watchlist: [],
    showingAll: false,
    selected: null,
    rangeMs: null,
    show: Object.assign({}, DEFAULT_SHOW, JSON.parse(localStorage.getItem(SHOW_KEY) || "{}")),
    chartSeq: 0,
  };

  const keyOf = (s) => `${s.symbol}|${s.exchange}|${s.timeframe}`;

  // ---- watchlist --------------------------------------------------------------------------------------------

  /** When each series' current action began, from the newest stored signals (newest first). */
  function sinceTimes(history) {
    const since = new Map();
    const done = new Set();
    history.forEach((s) => {
      const k = keyOf(s);
      if (done.has(k)) return;
      const current = since.get(k);
      if (!current) since.set(k, { action: s.action, at: s.as_of });
      else if (current.action === s.action) current.at = s.as_of;
      else done.add(k);
    });
    return since;
  }

  async function loadWatchlist() {
    const mine = TS.can("read_signals") ? await api("/signals/watchlist") : { symbols: [] };
    state.watchlist = mine.symbols;
    state.showingAll = !mine.symbols.length;
    const query = { watchlist: state.showingAll ? null : true, limit: 200 };
    const [latest, history] = await Promise.all([
      api("/signals/latest", { query }),
      api("/signals", { query: { watchlist: query.watchlist, limit: 500 } }),
    ]);
    const since = sinceTimes(history.items);
    state.rows.clear();
    latest.items.forEach((s) => {
      const k = keyOf(s);
      const run = since.get(k);
      state.rows.set(k, { key: k, signal: s, action: s.action, score: s.score, since: run ? run.at : s.as_of });
    });
    if (!state.showingAll) {
      state.watchlist.forEach((symbol) => {
        if (![...state.rows.values()].some((r) => r.signal && r.signal.symbol === symbol)) {
          const item = state.overview.get(symbol);
          state.rows.set(`${symbol}||`, { key: `${symbol}||`, signal: null, symbol, exchange: item ? item.exchange : "", action: null, score: null, since: null });
        }
      });
    }
    renderWatchlist();
  }

  function rowSymbol(row) {
    return row.signal ? row.signal.symbol : row.symbol;
  }

  /** up / down / muted by the sign of ``v``, a value that rounds to zero (two decimals) being muted. */
  function scoreClass(v) {
    return v >= 0.005 ? "up" : v <= -0.005 ? "down" : "muted";
  }

  function buildRow(row) {
    const s = row.signal;
    const symbol = rowSymbol(row);
    const item = state.overview.get(symbol);
    const watched = state.watchlist.includes(symbol);
    const canWrite = TS.can("write_signals");
    const star = h(
      "button",
      {
        type: "button",
        class: "star",
        "aria-pressed": String(watched),
        "aria-label": (watched ? "Remove " : "Add ") + symbol + (watched ? " from" : " to") + " the watchlist",
        title: canWrite ? (watched ? "Remove from watchlist" : "Add to watchlist") : "Your role cannot change the watchlist",
        disabled: !canWrite,
        onclick: (e) => {
          e.stopPropagation();
          toggleWatch(symbol, watched);
        },
      },
      watched ? "★" : "☆"
    );
    const price = item ? item.last_price : s ? s.price : null;
    const change = item ? item.change_24h_pct : null;
    const venue = s ? `${s.exchange} · ${s.timeframe}` : item ? `${item.exchange} · no signal yet` : "no signal yet";
    const tr = h(
      "tr",
      {
        class: "row-clickable" + (symbol === state.selected ? " is-selected" : ""),
        dataset: { key: row.key, symbol, action: row.action || "" },
        onclick: () => selectSymbol(symbol),
      },
      h(
        "td",
        null,
        h(
          "div",
          { class: "sym-btn-wrap" },
          star,
          " ",
          h(
            "button",
            { type: "button", class: "sym-btn", "aria-label": `Open the ${symbol} chart` },
            h("span", { class: "sym" }, h("strong", null, symbol), h("small", null, venue))
          )
        )
      ),
      h("td", { class: "cell-action" }, actionBadge(row.action)),
      h(
        "td",
        { class: "num cell-score" },
        h("span", { class: scoreClass(row.score) }, row.score === null ? "–" : fmt.signed(row.score)),
        h("span", { class: "cell-sub", title: "Confidence" }, s ? `${fmt.pct(s.confidence, 0)} conf.` : "")
      ),
      h(
        "td",
        { class: "num" },
        h("span", { class: "cell-price" }, fmt.price(price)),
        h("span", { class: "cell-sub cell-change " + scoreClass(change) }, change === null ? "" : fmt.signedPct(change))
      ),
      h(
        "td",
        { class: "num cell-since", title: row.since ? `${row.action} since ${fmt.fullTime(row.since)}` : null },
        row.since ? fmt.clock(row.since) : "–",
        h("span", { class: "cell-sub" }, row.since ? fmt.day(row.since) : "")
      )
    );
    if (row.changedAt) tr.dataset.changedAt = row.changedAt;
    if (row.flashUntil && Date.now() < row.flashUntil) {
      tr.classList.add("flash", "flash-" + row.action);
      setTimeout(() => tr.classList.remove("flash", "flash-" + row.action), row.flashUntil - Date.now());
    }
    return tr;
  }

  function renderWatchlist() {
    const body = $("#watch-body");
    const rows = [...state.rows.values()].sort((a, b) => rowSymbol(a).localeCompare(rowSymbol(b)));
    if (!rows.length) {
      body.replaceChildren(
        h(
          "tr",
          null,
          h("td", { colspan: 5 }, emptyState("No signals yet", "Signals appear here as soon as a scan stores them."))
        )
      );
    } else {
      body.replaceChildren(...rows.map(buildRow));
    }
    const sub = $("#watch-sub");
    sub.textContent = state.showingAll
      ? "No watchlist yet: every symbol is shown. Star ☆ the ones you follow."
      : `${state.watchlist.length} symbol${state.watchlist.length === 1 ? "" : "s"} · updates live`;
    const add = $("#watch-add");
    const choices = [...state.overview.keys()].filter((s) => !state.watchlist.includes(s)).sort();
    add.hidden = state.showingAll || !TS.can("write_signals") || !choices.length;
    $("#watch-add-symbol").replaceChildren(...choices.map((s) => h("option", { value: s }, s)));
    renderSignalKpis();
  }

  function renderSignalKpis() {
    const counts = { BUY: 0, SELL: 0, HOLD: 0 };
    let newest = null;
    state.rows.forEach((r) => {
      if (r.action) counts[r.action] += 1;
      if (r.signal && (!newest || r.signal.as_of > newest)) newest = r.signal.as_of;
    });
    $("#kpi-signals").replaceChildren(
      ...Object.entries(counts).map(([a, n]) => h("span", { class: `action action-${a}`, title: `${n} ${a}` }, `${n} ${a}`))
    );
    $("#kpi-signals-sub").textContent = newest ? `Latest as of ${fmt.time(newest)}` : "No signals yet";
  }

  async function toggleWatch(symbol, watched) {
    try {
      if (watched) await api(`/signals/watchlist/${symbolPath(symbol)}`, { method: "DELETE" });
      else await api(`/signals/watchlist/${symbolPath(symbol)}`, { method: "POST" });
      toast(`${symbol} ${watched ? "removed from" : "added to"} your watchlist.`, "ok");
      await loadWatchlist();
    } catch (err) {
      toast(err.message, "error", "Watchlist not changed.");
    }
  }

  /** Replace the row of ``key`` (it flashes for 3 s after a live change). */
  function updateRow(key) {
    const row = state.rows.get(key);
    const old = document.querySelector(`#watch-body tr[data-key="${CSS.escape(key)}"]`);
    if (row && old) old.replaceWith(buildRow(row));
  }

  // ---- live events ------------------------------------------------------------------------------------------

  async function onSignal(d) {
    const key = keyOf(d);
    const row = state.rows.get(key) || [...state.rows.values()].find((r) => !r.signal && r.symbol === d.symbol);
    const watched = !!row;
    if (watched) {
      if (row.key !== key) {
        state.rows.delete(row.key);
        row.key = key;
        state.rows.set(key, row);
        document.querySelector(`#watch-body tr[data-key="${CSS.escape(`${d.symbol}||`)}"]`)?.setAttribute("data-key", key);
      }
      row.action = d.to_action;
      row.score = d.score;
      row.since = d.changed_at;
      row.changedAt = d.changed_at;
      row.flashUntil = Date.now() + 3000;
      updateRow(key);
      renderSignalKpis();
      const kind = { BUY: "buy", SELL: "sell", HOLD: "hold" }[d.to_action];
      toast(`${d.from_action || "new"} → ${d.to_action} · score ${fmt.signed(d.score)}`, kind, d.symbol, `signal:${d.symbol}`);
    }
    if (!watched && d.symbol !== state.selected) return;
    try {
      const found = await api(`/signals/${symbolPath(d.symbol)}`, { query: { exchange: d.exchange, timeframe: d.timeframe } });
      const s = found.signals[0];
      const current = state.rows.get(key);
      const item = state.overview.get(d.symbol);
      if (s && item && Date.parse(s.as_of) > Date.parse(item.last_close_at)) {
        item.last_price = s.price; // fresher than the cached overview
        item.last_close_at = s.as_of;
      }
      if (s && current && (!current.signal || s.as_of >= current.signal.as_of)) {
        current.signal = s;
        current.action = s.action;
        current.score = s.score;
        updateRow(key);
      }
      if (d.symbol === state.selected) {
        showDetail(s);
        loadChart();
      }
    } catch (err) {
      console.warn("signal refresh failed", err);
    }
  }

  function onPrice(d) {
    const price = TS.toNumber(d.price !== undefined ? d.price : d.close);
    const item = state.overview.get(d.symbol);
    if (price === null || !item) return;
    const before = item.last_price;
    item.last_price = price;
    document.querySelectorAll(`#watch-body tr[data-symbol="${CSS.escape(d.symbol)}"] .cell-price`).forEach((cell) => {
      cell.textContent = fmt.price(price);
      cell.classList.remove("tick-up", "tick-down");
      void cell.offsetWidth;
      cell.classList.add(price >= before ? "tick-up" : "tick-down");
    });
    if (d.symbol === state.selected) $("#chart-price").textContent = fmt.price(price);
  }

  // ---- chart and explanation --------------------------------------------------------------------------------

  function latestOf(symbol) {
    const rows = [...state.rows.values()].filter((r) => r.signal && r.signal.symbol === symbol);
    rows.sort((a, b) => (a.signal.as_of < b.signal.as_of ? 1 : -1));
    return rows.length ? rows[0].signal : null;
  }

  function renderRanges(tfMs) {
    const box = $("#chart-range");
    const usable = RANGES.filter(([, ms]) => ms / tfMs >= 12 && ms / tfMs <= 1000);
    if (!state.rangeMs || !usable.some(([, ms]) => ms === state.rangeMs)) {
      const best = usable.reduce((a, b) => (Math.abs(b[1] / tfMs - 170) < Math.abs(a[1] / tfMs - 170) ? b : a), usable[0] || RANGES[2]);
      state.rangeMs = best[1];
    }
    box.replaceChildren(
      ...usable.map(([label, ms]) =>
        h(
          "button",
          {
            type: "button",
            "aria-pressed": String(ms === state.rangeMs),
            onclick: () => {
              state.rangeMs = ms;
              loadChart();
            },
          },
          label
        )
      )
    );
  }

  async function loadChart() {
    const symbol = state.selected;
    if (!symbol) return;
    const seq = ++state.chartSeq;
    const overlay = $("#chart-overlay");
    const item = state.overview.get(symbol);
    const tfMs = TS.chart.TF_MS[item ? item.timeframe : "1h"] || 36e5;
    renderRanges(tfMs);
    overlay.textContent = "Loading chart…";
    overlay.hidden = false;
    try {
      const limit = Math.max(12, Math.min(1000, Math.round(state.rangeMs / tfMs)));
      const md = await api(`/market-data/${symbolPath(symbol)}`, { query: { limit, indicators: INDICATORS } });
      if (seq !== state.chartSeq) return;
      const first = md.candles.length ? md.candles[0].open_time : null;
      const history = TS.can("read_signals")
        ? await api("/signals", { query: { symbol, exchange: md.exchange, timeframe: md.timeframe, since: first, limit: 500 } }).catch(() => ({ items: [] }))
        : { items: [] };
      if (seq !== state.chartSeq) return;
      const latest = latestOf(symbol);
      await TS.chart.render($("#chart"), md, history.items, latest, state.show);
      overlay.hidden = true;
      const last = md.candles[md.candles.length - 1];
      const closeAt = last ? new Date(Date.parse(last.open_time) + tfMs).toISOString() : null;
      if (item && last && Date.parse(closeAt) > Date.parse(item.last_close_at)) {
        item.last_price = last.close; // the chart's candles are fresher than the cached overview
        item.last_close_at = closeAt;
        TS.trade.renderTicketInfo();
      }
      $("#chart-venue").textContent = `${md.exchange} · ${md.timeframe}`;
      $("#chart-price").textContent = last ? fmt.price(last.close) : "";
      const change = item ? item.change_24h_pct : null;
      const ch = $("#chart-change");
      ch.textContent = change === null ? "" : `${fmt.signedPct(change)} 24h`;
      ch.className = "chart-change " + scoreClass(change);
      $("#chart-asof").textContent = last ? `Last bar ${fmt.time(last.open_time)} · ${TS.zoneLabel()}` : "";
      $("#chart").setAttribute("aria-label", `${symbol} candlestick chart, ${md.candles.length} ${md.timeframe} bars`);
    } catch (err) {
      if (seq !== state.chartSeq) return;
      overlay.textContent = err.status === 404 ? `No candles stored for ${symbol}.` : `Chart unavailable: ${err.message}`;
      overlay.hidden = false;
    }
  }

  function comp(label, value) {
    const bar = h("div", { class: "diverge" });
    if (value !== null && value !== undefined) {
      const fill = h("i", { class: value >= 0 ? "pos" : "neg" });
      fill.style.width = `${Math.min(50, Math.abs(value) * 50)}%`;
      bar.append(fill);
    }
    return h(
      "div",
      { class: "comp" },
      h("span", { class: "label" }, label),
      bar,
      h("span", { class: "val " + (value === null || value === undefined ? "muted" : scoreClass(value)) }, value === null || value === undefined ? "n/a" : fmt.signed(value))
    );
  }

  function showDetail(s) {
    const detail = $("#signal-detail");
    const head = $("#chart-action");
    if (!s) {
      detail.hidden = true;
      head.replaceChildren();
      return;
    }
    head.replaceChildren(
      actionBadge(s.action, true),
      h("span", { class: "muted" }, ` score ${fmt.signed(s.score)} · confidence ${fmt.pct(s.confidence, 0)}`)
    );
    $("#signal-reasons").replaceChildren(...(s.reasons.length ? s.reasons : ["No reasons recorded."]).map((r) => h("li", null, r)));
    const levels = [["Signal price", fmt.price(s.price)], ["As of", fmt.time(s.as_of)]];
    if (s.stop_loss !== null) levels.push(["Stop-loss", fmt.price(s.stop_loss)]);
    s.take_profit.forEach((p, i) => levels.push([`Target ${i + 1}`, fmt.price(p)]));
    $("#signal-levels").replaceChildren(...levels.map(([k, v]) => h("div", { class: "level" }, h("span", null, k), h("strong", null, v))));
    $("#signal-components").replaceChildren(
      comp("Technical", s.components.technical),
      comp("Sentiment", s.components.sentiment),
      comp("ML model", s.components.ml),
      comp("Fused", s.score)
    );
    detail.hidden = false;
  }

  async function selectSymbol(symbol) {
    state.selected = symbol;
    localStorage.setItem(SYMBOL_KEY, symbol);
    document.querySelectorAll("#watch-body tr").forEach((tr) => tr.classList.toggle("is-selected", tr.dataset.symbol === symbol));
    $("#chart-symbol").textContent = symbol;
    const latest = latestOf(symbol);
    showDetail(latest);
    TS.trade.setSymbol(symbol);
    const item = state.overview.get(symbol);
    const at = latest ? latest.as_of : item ? item.last_close_at : null;
    if (TS.can("read_market")) TS.panels.sentiment(symbol, at);
    await loadChart();
  }

  function bindChips() {
    document.querySelectorAll("#chart-indicators .chip").forEach((chip) => {
      const name = chip.dataset.ind;
      chip.setAttribute("aria-pressed", String(!!state.show[name]));
      chip.addEventListener("click", () => {
        state.show[name] = !state.show[name];
        chip.setAttribute("aria-pressed", String(state.show[name]));
        localStorage.setItem(SHOW_KEY, JSON.stringify(state.show));
        loadChart();
      });
    });
  }

  // ---- start ------------------------------------------------------------------------------------------------

  async function loadOverview() {
    if (!TS.can("read_market")) return;
    const page = await api("/market-data/all/overview", { query: { limit: 500 } }).catch(() => ({ items: [] }));
    page.items.forEach((item) => state.overview.set(item.symbol, item));
  }

  try {
    await TS.boot();
    const channels = [
      ["signals", "read_signals"],
      ["prices", "read_market"],
      ["trades", "read_orders"],
      ["notifications", null],
    ]
      .filter(([, perm]) => !perm || TS.can(perm))
      .map(([name]) => name);
    const live = new TS.Live(channels);
    TS.bindLiveStatus(live);
    live
      .on("signals", onSignal)
      .on("prices", onPrice)
      .on("trades", () => TS.trade.refreshSoon())
      .on("notifications", (d) => TS.notifications.onEvent(d));
    live.start();
    TS.notifications.load();
    bindChips();
    $("#watch-add").addEventListener("submit", (e) => {
      e.preventDefault();
      const symbol = $("#watch-add-symbol").value;
      if (symbol) toggleWatch(symbol, false);
    });

    await loadOverview();
    if (TS.can("read_signals")) await loadWatchlist();
    else $("#watch-body").replaceChildren(h("tr", null, h("td", { colspan: 5 }, emptyState("Signals are not available to your role"))));
    const lastPrice = (symbol) => {
      const item = state.overview.get(symbol);
      return item ? item.last_price : null;
    };
    const trading = TS.trade.init({ markets: state.overview, lastPrice, select: selectSymbol }).catch((err) => toast(err.message, "error", "Portfolio unavailable."));
    TS.panels.providers();
    const saved = localStorage.getItem(SYMBOL_KEY);
    const shown = [...state.rows.values()].map(rowSymbol);
    const first = shown.includes(saved) ? saved : shown[0] || [...state.overview.keys()][0];
    if (first) await selectSymbol(first);
    await trading;
    document.body.dataset.ready = "true";
    setInterval(async () => {
      await loadOverview();
      document.querySelectorAll("#watch-body tr[data-symbol]").forEach((tr) => {
        const item = state.overview.get(tr.dataset.symbol);
        const cell = tr.querySelector(".cell-price");
        if (item && cell) cell.textContent = fmt.price(item.last_price);
      });
    }, 60000);
  } catch (err) {
    if (err instanceof TS.ApiError && (err.status === 401 || err.type === "account_inactive")) return;
    console.error(err);
    toast(err.message || String(err), "error", "The dashboard could not load.");
  }
})();
