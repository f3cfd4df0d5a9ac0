/* tsbot web: the dashboard's reading panels. News sentiment of the selected asset (GET /api/v1/sentiment/{asset},
 * as of the selected signal's time, so the reading is the one that signal used) and the signal providers with
 * their replayed scores (GET /api/v1/intake/providers). */
(function () {
  "use strict";
  const { api, h, $, fmt, emptyState } = window.TS;

  function scoreClass(v) {
    if (v === null || v === undefined) return "zero";
    return v > 0.05 ? "pos" : v < -0.05 ? "neg" : "zero";
  }
  function mood(v) {
    if (v === null || v === undefined) return ["No reading", "flat"];
    if (v >= 0.15) return ["Bullish", "bull"];
    if (v <= -0.15) return ["Bearish", "bear"];
    return ["Neutral", "flat"];
  }
  function baseOf(symbol) {
    return String(symbol).split("/")[0];
  }

  let sentimentSeq = 0;
  /** Show the sentiment of ``symbol``'s base asset as of ``at`` (ISO; the selected signal's time). */
  async function sentiment(symbol, at) {
    const body = $("#sentiment-body");
    const sub = $("#sentiment-sub");
    const seq = ++sentimentSeq;
    const asset = baseOf(symbol);
    sub.textContent = `${asset} · loading…`;
    let reading;
    try {
      reading = await api(`/sentiment/${encodeURIComponent(asset)}`, { query: { at, top: 6 } });
    } catch (err) {
      if (seq !== sentimentSeq) return;
      sub.textContent = asset;
      body.replaceChildren(
        err.status === 404
          ? emptyState(`No news coverage for ${asset}`, "No stored headline mentions this asset.")
          : emptyState("Sentiment unavailable", err.message)
      );
      return;
    }
    if (seq !== sentimentSeq) return;
    const [label, cls] = mood(reading.score);
    sub.textContent = `${asset} · ${fmt.num(reading.window_hours, 0)} h to ${fmt.time(reading.as_of)}`;
    const gauge = h("div", { class: "gauge " + cls, role: "img", "aria-label": `Sentiment score ${fmt.signed(reading.score)}` },
      h("strong", null, reading.score === null ? "–" : fmt.signed(reading.score)));
    const evidence = h("div", { class: "meter", title: `Evidence ${fmt.pct(reading.evidence_ratio, 0)}` }, h("i"));
    evidence.firstChild.style.width = `${Math.round((reading.evidence_ratio || 0) * 100)}%`;
    const head = h(
      "div",
      { class: "sentiment-score" },
      gauge,
      h(
        "div",
        null,
        h("div", null, h("strong", null, label), reading.thin ? h("span", { class: "muted" }, " · thin evidence") : null),
        h("div", { class: "muted" }, `${fmt.int(reading.headlines)} headline${reading.headlines === 1 ? "" : "s"} in the window`),
        evidence
      )
    );
    const items = (reading.top_headlines || []).map((x) =>
      h(
        "li",
        null,
        h(
          "div",
          null,
          h("a", { href: /^https?:\/\//i.test(x.url) ? x.url : null, target: "_blank", rel: "noopener noreferrer" }, x.title),
          h("div", { class: "meta" }, `${x.source} · ${fmt.time(x.published_at)}`)
        ),
        h("span", { class: "score-chip " + scoreClass(x.score), title: `Headline score; contribution ${fmt.signed(x.contribution)}` }, fmt.signed(x.score))
      )
    );
    body.replaceChildren(
      head,
      items.length ? h("ul", { class: "headlines", "aria-label": `Headlines about ${asset}` }, items) : emptyState("No headlines in the window")
    );
  }

  /** The providers table. */
  async function providers() {
    const box = $("#providers-body");
    let page;
    try {
      page = await api("/intake/providers", { query: { limit: 20 } });
    } catch (err) {
      box.replaceChildren(emptyState(err.status === 403 ? "Providers are not available to your role" : "Providers unavailable", err.status === 403 ? null : err.message));
      return;
    }
    if (!page.items.length) {
      box.replaceChildren(
        emptyState("No providers tracked yet", "Signals read from Telegram channels and TradingView alerts are scored here.")
      );
      return;
    }
    const rows = page.items.map((p) =>
      h(
        "tr",
        null,
        h("td", null, h("div", { class: "sym" }, h("strong", null, p.provider), h("small", null, `${fmt.int(p.signals)} signals · ${fmt.int(p.filled)} filled`))),
        h("td", { class: "num" }, fmt.pct(p.win_rate, 0)),
        h("td", { class: "num " + (p.average_r > 0 ? "up" : p.average_r < 0 ? "down" : "") }, fmt.signed(p.average_r) + "R"),
        h("td", { class: "num hide-sm" }, p.profit_factor === null ? "∞" : fmt.num(p.profit_factor)),
        h("td", { class: "num " + (p.total_return_ratio > 0 ? "up" : p.total_return_ratio < 0 ? "down" : "") }, fmt.signedPct(p.total_return_ratio * 100, 1)),
        h("td", { class: "num hide-sm" }, fmt.pct(p.max_drawdown_ratio, 1))
      )
    );
    box.replaceChildren(
      h(
        "table",
        { class: "table" },
        h(
          "thead",
          null,
          h(
            "tr",
            null,
            h("th", { scope: "col" }, "Provider"),
            h("th", { scope: "col", class: "num" }, "Win rate"),
            h("th", { scope: "col", class: "num" }, "Avg R"),
            h("th", { scope: "col", class: "num hide-sm" }, "Profit factor"),
            h("th", { scope: "col", class: "num" }, "Return"),
            h("th", { scope: "col", class: "num hide-sm" }, "Max DD")
          )
        ),
        h("tbody", null, rows)
      )
    );
  }

  window.TS.panels = { sentiment, providers };
})();
