/* tsbot web: paper trading on the dashboard. The portfolio's figures (GET /api/v1/portfolios/{id}), its open
 * positions and orders, the order ticket (POST /api/v1/orders: crypto pairs, stocks as TICKER/USD), cancelling a resting
 * order, and the "create paper account" flow for a user without a portfolio (POST /api/v1/portfolios, .../deposit). */
(function () {
  "use strict";
  const { api, h, $, fmt, toast, busy, showError, pill, emptyState, confirmDialog, formDialog } = window.TS;

  const PORTFOLIO_KEY = "tsbot.portfolio";
  const OPEN = ["new", "open", "partially_filled"];
  const DECIMAL = /^\d{1,20}(\.\d{1,18})?$/;
  const state = { portfolios: [], current: null, detail: null, orders: [], ctx: null, clientId: null };

  const els = {
    setup: $("#paper-setup"),
    form: $("#order-form"),
    note: $("#ticket-note"),
    select: $("#portfolio-select"),
    symbol: $("#order-symbol"),
    type: $("#order-type"),
    qty: $("#order-qty"),
    price: $("#order-price"),
    priceField: $("#order-price-field"),
    priceLabel: $("#order-price-label"),
    submit: $("#order-submit"),
    submitLabel: $("#order-submit-label"),
    error: $("#order-error"),
    positions: $("#positions-body"),
    orders: $("#orders-body"),
    addFunds: $("#add-funds"),
  };

  function newClientId() {
    const bytes = new Uint8Array(12);
    crypto.getRandomValues(bytes);
    return "web-" + Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  }
  function side() {
    return els.form.querySelector('input[name="side"]:checked').value;
  }
  function split(symbol) {
    const [base, quote] = String(symbol).split("/");
    return { base, quote: quote || "" };
  }
  /** Order symbol of a market symbol: a pair as it is, a stock in dollars (AAPL -> AAPL/USD, as the orders API prices it). */
  function orderSymbol(symbol) {
    return !symbol.includes("/") && state.ctx?.markets.get(symbol)?.asset_class === "stock" ? `${symbol}/USD` : symbol;
  }
  /** Market symbol (watchlist, chart) of an order symbol: AAPL/USD -> AAPL for a known stock, anything else as it is. */
  function marketSymbol(symbol) {
    const { base, quote } = split(symbol);
    return quote === "USD" && !state.ctx?.markets.has(symbol) && state.ctx?.markets.get(base)?.asset_class === "stock" ? base : symbol;
  }
  function balance(asset) {
    const b = state.detail && state.detail.balances.find((x) => x.asset === asset);
    return b ? b.free : "0";
  }
  function setKpi(id, text, cls) {
    const el = $(id);
    el.textContent = text;
    el.className = "kpi-value" + (cls ? " " + cls : "");
  }
  function signClass(v) {
    const n = Number(v);
    return n > 0 ? "up" : n < 0 ? "down" : "";
  }

  // ---- figures ----------------------------------------------------------------------------------------------

  function renderKpis() {
    const d = state.detail;
    if (!d) {
      ["#kpi-equity", "#kpi-upnl", "#kpi-cash", "#kpi-positions"].forEach((id) => setKpi(id, "–"));
      const cta = window.TS.can("write_portfolio") ? [" · ", h("a", { href: "#ticket-title" }, "Create one")] : [];
      $("#kpi-equity-sub").replaceChildren("No paper account yet", ...cta);
      $("#kpi-upnl-sub").textContent = "\u00a0";
      $("#kpi-cash-sub").textContent = "\u00a0";
      $("#kpi-orders-sub").textContent = "\u00a0";
      return;
    }
    const ccy = d.base_currency;
    setKpi("#kpi-equity", fmt.money(d.equity, ccy));
    $("#kpi-equity-sub").textContent = `${d.name} · realised ${fmt.signedMoney(d.realised_pnl, ccy)}`;
    setKpi("#kpi-upnl", fmt.signedMoney(d.unrealised_pnl, ccy), signClass(d.unrealised_pnl));
    const cost = d.positions.reduce((sum, p) => sum + Math.abs(Number(p.quantity)) * Number(p.average_entry || 0), 0);
    $("#kpi-upnl-sub").textContent = cost ? `${fmt.signedPct((Number(d.unrealised_pnl) / cost) * 100)} on ${fmt.money(cost, ccy)} at entry` : "No open positions";
    setKpi("#kpi-cash", fmt.money(d.cash, ccy));
    $("#kpi-cash-sub").textContent = `Fees paid ${fmt.money(d.fees, ccy)}`;
    setKpi("#kpi-positions", fmt.int(d.positions.length));
    const resting = state.orders.filter((o) => OPEN.includes(o.status)).length;
    $("#kpi-orders-sub").textContent = `${resting} resting order${resting === 1 ? "" : "s"}`;
  }

  function renderPositions() {
    const d = state.detail;
    $("#count-positions").textContent = d ? String(d.positions.length) : "0";
    if (!d || !d.positions.length) {
      els.positions.replaceChildren(h("tr", null, h("td", { colspan: 6 }, emptyState("No open positions", d ? "Place a paper order to open one." : null))));
      return;
    }
    els.positions.replaceChildren(
      ...d.positions.map((p) => {
        const qty = Number(p.quantity);
        const cost = Math.abs(qty) * Number(p.average_entry || 0);
        const pnlPct = cost ? (Number(p.unrealised_pnl) / cost) * 100 : null;
        return h(
          "tr",
          { class: "row-clickable", dataset: { symbol: p.symbol }, onclick: () => state.ctx.select(marketSymbol(p.symbol)) },
          h("td", null, h("div", { class: "sym" }, h("strong", null, p.symbol), h("small", null, qty < 0 ? "Short" : "Long"))),
          h("td", { class: "num" }, fmt.qty(p.quantity)),
          h("td", { class: "num" }, fmt.price(p.average_entry)),
          h("td", { class: "num" }, fmt.price(p.last_price)),
          h("td", { class: "num" }, fmt.money(p.value, d.base_currency)),
          h(
            "td",
            { class: "num " + signClass(p.unrealised_pnl) },
            fmt.signedMoney(p.unrealised_pnl, d.base_currency),
            pnlPct === null ? null : h("div", { class: "faint" }, fmt.signedPct(pnlPct))
          )
        );
      })
    );
  }

  function renderOrders() {
    $("#count-orders").textContent = String(state.orders.length);
    if (!state.orders.length) {
      els.orders.replaceChildren(h("tr", null, h("td", { colspan: 8 }, emptyState("No orders yet"))));
      return;
    }
    const canCancel = window.TS.can("delete_orders");
    els.orders.replaceChildren(
      ...state.orders.map((o) => {
        const price = o.average_fill_price || o.price || o.stop_price;
        const open = OPEN.includes(o.status);
        return h(
          "tr",
          { dataset: { order: o.order_id } },
          h("td", { title: fmt.fullTime(o.created_at) }, fmt.time(o.created_at)),
          h("td", null, h("strong", null, o.symbol)),
          h("td", { class: o.side === "buy" ? "up" : "down" }, o.side === "buy" ? "Buy" : "Sell"),
          h("td", { class: "muted" }, o.type.replace("_", " ")),
          h("td", { class: "num" }, o.status === "filled" ? fmt.qty(o.filled_quantity) : `${fmt.qty(o.filled_quantity)} / ${fmt.qty(o.quantity)}`),
          h("td", { class: "num" }, price ? fmt.price(price) : "Market"),
          h("td", null, pill(o.status.replace("_", " "), o.status)),
          h(
            "td",
            { class: "num" },
            open && canCancel
              ? h("button", { type: "button", class: "btn btn-ghost btn-sm", onclick: (e) => cancelOrder(o, e.currentTarget) }, "Cancel")
              : null
          )
        );
      })
    );
  }

  function renderTicketInfo() {
    const symbol = els.symbol.value;
    const { base, quote } = split(symbol);
    const last = state.ctx ? state.ctx.lastPrice(marketSymbol(symbol)) : null;
    $("#order-last").textContent = last === null ? "–" : fmt.price(last);
    const qty = Number(els.qty.value);
    const px = els.type.value === "market" ? last : Number(els.price.value) || last;
    $("#order-est").textContent = qty > 0 && px ? fmt.money(qty * px, quote) : "–";
    $("#order-avail").textContent = side() === "buy" ? fmt.money(balance(quote), quote) : `${fmt.qty(balance(base))} ${base}`;
    const held = state.detail && state.detail.positions.find((p) => p.symbol === symbol);
    $("#order-held").textContent = held ? `Holding ${fmt.qty(held.quantity)} ${base}` : "";
    const buy = side() === "buy";
    els.submit.className = "btn btn-block " + (buy ? "btn-buy" : "btn-sell");
    els.submitLabel.textContent = `${buy ? "Buy" : "Sell"} ${symbol || ""}`.trim();
    const type = els.type.value;
    els.priceField.hidden = type === "market";
    els.priceLabel.textContent = type === "stop" ? "Stop price" : "Limit price";
  }

  // ---- loading ----------------------------------------------------------------------------------------------

  async function refresh() {
    let list;
    try {
      list = await api("/portfolios", { query: { limit: 50 } });
    } catch (err) {
      els.note.textContent = err.status === 403 ? "Your role cannot see portfolios." : err.message;
      els.note.hidden = false;
      renderKpis();
      return;
    }
    state.portfolios = list.items;
    if (!state.portfolios.length) {
      state.current = null;
      state.detail = null;
      state.orders = [];
      const canCreate = window.TS.can("write_portfolio");
      els.setup.hidden = !canCreate;
      els.form.hidden = true;
      els.select.hidden = true;
      els.addFunds.hidden = true;
      els.note.hidden = canCreate;
      els.note.textContent = "Your role cannot create a paper account. Ask an administrator for the trader role.";
      renderKpis();
      renderPositions();
      renderOrders();
      return;
    }
    const saved = localStorage.getItem(PORTFOLIO_KEY);
    state.current = state.portfolios.find((p) => p.portfolio_id === (state.current || saved)) ? state.current || saved : state.portfolios[0].portfolio_id;
    els.select.replaceChildren(...state.portfolios.map((p) => h("option", { value: p.portfolio_id, selected: p.portfolio_id === state.current }, p.name)));
    els.select.hidden = state.portfolios.length < 2;
    const [detail, orders] = await Promise.all([
      api(`/portfolios/${encodeURIComponent(state.current)}`),
      window.TS.can("read_orders") ? api("/orders", { query: { portfolio_id: state.current, limit: 25 } }) : { items: [] },
    ]);
    state.detail = detail;
    state.orders = orders.items;
    els.setup.hidden = true;
    const canTrade = window.TS.can("write_orders");
    els.form.hidden = !canTrade;
    els.note.hidden = canTrade;
    if (!canTrade) els.note.textContent = "Your role can read portfolios but not place orders.";
    els.addFunds.hidden = !window.TS.can("write_portfolio");
    renderKpis();
    renderPositions();
    renderOrders();
    renderTicketInfo();
  }

  let refreshTimer = null;
  function refreshSoon() {
    clearTimeout(refreshTimer);
    refreshTimer = setTimeout(() => refresh().catch(() => null), 400);
  }

  // ---- actions ----------------------------------------------------------------------------------------------

  async function createPaperAccount(e) {
    e.preventDefault();
    const error = $("#paper-error");
    showError(error, "");
    const amount = $("#paper-amount").value.replace(/[,\s]/g, "");
    const asset = $("#paper-asset").value;
    if (!DECIMAL.test(amount) || Number(amount) <= 0) {
      showError(error, "Enter a positive amount, e.g. 10000.");
      return;
    }
    await busy($("#paper-create"), async () => {
      try {
        const made = await api("/portfolios", { method: "POST", body: { name: "Paper trading", base_currency: "USD" } });
        await api(`/portfolios/${encodeURIComponent(made.portfolio_id)}/deposit`, {
          method: "POST",
          body: { asset, amount, reason: "starting balance" },
        });
        state.current = made.portfolio_id;
        localStorage.setItem(PORTFOLIO_KEY, made.portfolio_id);
        toast(`${fmt.money(amount, asset)} of paper money is ready to trade.`, "ok", "Paper account created.");
        await refresh();
      } catch (err) {
        showError(error, err.message);
      }
    });
  }

  async function placeOrder(e) {
    e.preventDefault();
    showError(els.error, "");
    const type = els.type.value;
    const quantity = els.qty.value.replace(/[,\s]/g, "");
    const price = els.price.value.replace(/[,\s]/g, "");
    els.qty.setAttribute("aria-invalid", "false");
    els.price.setAttribute("aria-invalid", "false");
    if (!DECIMAL.test(quantity) || Number(quantity) <= 0) {
      els.qty.setAttribute("aria-invalid", "true");
      showError(els.error, "Enter a quantity above zero, e.g. 0.05.");
      els.qty.focus();
      return;
    }
    if (type !== "market" && (!DECIMAL.test(price) || Number(price) <= 0)) {
      els.price.setAttribute("aria-invalid", "true");
      showError(els.error, `Enter the ${type === "stop" ? "stop" : "limit"} price.`);
      els.price.focus();
      return;
    }
    const body = { portfolio_id: state.current, side: side(), symbol: els.symbol.value, type, quantity, client_id: state.clientId };
    if (type === "limit") body.price = price;
    if (type === "stop") body.stop_price = price;
    await busy(els.submit, async () => {
      try {
        const order = await api("/orders", { method: "POST", body });
        state.clientId = newClientId();
        const verb = order.side === "buy" ? "Bought" : "Sold";
        if (order.status === "filled") {
          toast(`${fmt.qty(order.filled_quantity)} ${order.symbol} at ${fmt.price(order.average_fill_price)}`, order.side === "buy" ? "buy" : "sell", verb);
        } else {
          toast(`${order.type} ${order.side} ${fmt.qty(order.quantity)} ${order.symbol} is ${order.status}.`, "info", "Order placed.");
        }
        els.qty.value = "";
        await refresh();
        selectTab(order.status === "filled" ? "positions" : "orders");
      } catch (err) {
        if (err.status !== 0) state.clientId = newClientId();
        showError(els.error, err.type === "order_rejected" ? `Rejected: ${err.message}` : err.message);
      }
    });
  }

  async function cancelOrder(order, button) {
    const ok = await confirmDialog({
      title: "Cancel this order?",
      body: `${order.type} ${order.side} ${fmt.qty(order.quantity)} ${order.symbol}`,
      confirmText: "Cancel order",
      danger: true,
    });
    if (!ok) return;
    await busy(button, async () => {
      try {
        const done = await api(`/orders/${encodeURIComponent(order.order_id)}`, { method: "DELETE" });
        toast(`${done.symbol} ${done.side} order ${done.status}.`, "info");
        await refresh();
      } catch (err) {
        toast(err.message, "error", "Could not cancel.");
        await refresh();
      }
    });
  }

  async function addFunds() {
    const values = await formDialog({
      title: "Add paper funds",
      submitText: "Deposit",
      fields: [
        { name: "amount", label: "Amount", value: "1000", inputmode: "decimal" },
        { name: "asset", label: "Currency", value: "USDT", options: ["USDT", "USD", "USDC"] },
      ],
    });
    if (!values) return;
    const amount = values.amount.replace(/[,\s]/g, "");
    if (!DECIMAL.test(amount) || Number(amount) <= 0) {
      toast("Enter a positive amount.", "error");
      return;
    }
    try {
      await api(`/portfolios/${encodeURIComponent(state.current)}/deposit`, { method: "POST", body: { asset: values.asset, amount } });
      toast(`${fmt.money(amount, values.asset)} added.`, "ok", "Deposit done.");
      await refresh();
    } catch (err) {
      toast(err.message, "error", "Deposit refused.");
    }
  }

  function selectTab(name) {
    ["positions", "orders"].forEach((tab) => {
      const on = tab === name;
      const button = $(`#tab-${tab}`);
      button.setAttribute("aria-selected", String(on));
      button.tabIndex = on ? 0 : -1;
      $(`#panel-${tab}`).hidden = !on;
    });
  }

  /** Offer the market symbol ``symbol`` (AAPL as AAPL/USD) in the ticket when tradable, and show its figures. */
  function setSymbol(symbol) {
    if ([...els.symbol.options].some((o) => o.value === orderSymbol(symbol))) els.symbol.value = orderSymbol(symbol);
    renderTicketInfo();
  }

  /** The ticket's symbols: the market's crypto pairs and its stocks as TICKER/USD, in a group each. */
  function symbolOptions(markets) {
    const pairs = [...markets.keys()].filter((s) => s.includes("/")).sort();
    const stocks = [...markets.keys()].map(orderSymbol).filter((s) => !pairs.includes(s) && s.includes("/")).sort();
    const group = (label, list) => h("optgroup", { label }, list.map((s) => h("option", { value: s }, s)));
    return [group("Crypto", pairs), group("Stocks", stocks)].filter((g) => g.children.length);
  }

  /** Wire the panel. ctx: {markets: market symbol -> overview item (Map), lastPrice(market symbol), select(market symbol)}. */
  function init(ctx) {
    state.ctx = ctx;
    state.clientId = newClientId();
    els.symbol.replaceChildren(...symbolOptions(ctx.markets));
    els.form.addEventListener("submit", placeOrder);
    els.form.addEventListener("input", renderTicketInfo);
    els.form.addEventListener("change", renderTicketInfo);
    $("#paper-form").addEventListener("submit", createPaperAccount);
    els.select.addEventListener("change", () => {
      state.current = els.select.value;
      localStorage.setItem(PORTFOLIO_KEY, state.current);
      refresh();
    });
    els.addFunds.addEventListener("click", addFunds);
    ["positions", "orders"].forEach((tab) => $(`#tab-${tab}`).addEventListener("click", () => selectTab(tab)));
    $(".tabs").addEventListener("keydown", (e) => {
      if (e.key !== "ArrowLeft" && e.key !== "ArrowRight") return;
      const next = $("#tab-positions").getAttribute("aria-selected") === "true" ? "orders" : "positions";
      selectTab(next);
      $(`#tab-${next}`).focus();
    });
    return refresh();
  }

  window.TS.trade = { init, refresh, refreshSoon, setSymbol, renderTicketInfo, state };
})();
