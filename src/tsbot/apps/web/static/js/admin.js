/* tsbot web: the administration page. Figures (GET /api/v1/admin/dashboard), users with deactivate / activate
 * (POST /admin/users/{id}/deactivate, PATCH /admin/users/{id}), the activity log (GET /admin/activity), messages to
 * the admins and a message to every user (GET /messages, POST /admin/messages/bulk) and system status
 * (GET /ready). Every action is the API's to allow: a user without the permission sees the refusal. */
(async function () {
  "use strict";
  const TS = window.TS;
  const { api, h, $, fmt, toast, busy, pill, emptyState, confirmDialog, showError } = TS;

  const PAGE = 25;
  const state = { activityOffset: 0, emails: new Map() };

  // ---- figures and system -----------------------------------------------------------------------------------

  async function loadFigures() {
    const d = await api("/admin/dashboard");
    $("#k-users").textContent = fmt.int(d.users_total);
    $("#k-users-sub").textContent = `${fmt.int(d.users_active)} active · ${fmt.int(d.users_inactive)} deactivated`;
    $("#k-signins").textContent = fmt.int(d.sign_ins_24h);
    $("#k-signins-sub").textContent = `${fmt.int(d.failed_sign_ins_24h)} refused`;
    $("#k-signals").textContent = fmt.int(d.signals_total);
    $("#k-signals-sub").textContent = `${fmt.int(d.signals_24h)} in the last 24 h`;
    $("#k-orders").textContent = fmt.int(d.orders_total);
    const filled = d.orders_by_status.filled || 0;
    $("#k-orders-sub").textContent = `${fmt.int(filled)} filled · ${fmt.int(d.bots_running)} bots running`;
    $("#k-live").textContent = fmt.int(d.live_connections);
    $("#k-db").textContent = d.database_bytes === null ? "Database size n/a" : `Database ${fmt.bytes(d.database_bytes)}`;
  }

  async function loadSystem() {
    const box = $("#system-checks");
    let checks;
    let ready;
    const started = performance.now();
    try {
      const answer = await fetch(TS.API + "/ready", { cache: "no-store", headers: { Accept: "application/json" } });
      const body = await answer.json().catch(() => ({}));
      ready = answer.ok;
      checks = ready ? body.checks : (body.details && body.details.checks) || {};
    } catch (e) {
      ready = false;
      checks = {};
    }
    const took = Math.round(performance.now() - started);
    $("#system-pill").replaceChildren(pill(ready ? "Ready" : "Not ready", ready ? "ok" : "bad"));
    $("#system-sub").textContent = `Checked ${fmt.time(new Date().toISOString())} · answered in ${took} ms`;
    const rows = Object.entries(checks).map(([name, c]) =>
      h(
        "div",
        { class: "check-row" },
        h("span", { class: "name" }, name),
        h(
          "span",
          null,
          c.latency_ms !== undefined ? h("span", { class: "muted" }, `${fmt.num(c.latency_ms, 1)} ms `) : null,
          pill(c.status === "ok" ? "OK" : c.status === "down" ? `Down${c.error ? ": " + c.error : ""}` : "Not configured", c.status === "ok" ? "ok" : c.status === "down" ? "bad" : "not_configured")
        )
      )
    );
    box.replaceChildren(...(rows.length ? rows : [emptyState("The readiness check did not answer")]));
  }

  // ---- users ------------------------------------------------------------------------------------------------

  function userRow(u) {
    const self = u.id === TS.me.id;
    const action = u.is_active
      ? h("button", { type: "button", class: "btn btn-danger btn-sm", disabled: self, title: self ? "Another administrator must deactivate your account" : null, onclick: (e) => setActive(u, false, e.currentTarget) }, "Deactivate")
      : h("button", { type: "button", class: "btn btn-sm", onclick: (e) => setActive(u, true, e.currentTarget) }, "Activate");
    return h(
      "tr",
      { dataset: { user: u.id, email: u.email } },
      h("td", null, h("div", { class: "sym" }, h("strong", null, u.display_name || u.email), h("small", null, u.email + (self ? " (you)" : "")))),
      h("td", null, h("span", { class: "role-tag" + (u.role === "admin" ? " admin" : "") }, u.role.replace("_", " "))),
      h("td", null, pill(u.is_active ? "Active" : "Deactivated", u.is_active ? "active" : "inactive"), u.totp_enabled ? h("span", { class: "faint", title: "Two-factor sign-in on" }, " 2FA") : null),
      h("td", { class: "hide-sm", title: fmt.fullTime(u.last_login_at) }, u.last_login_at ? fmt.ago(u.last_login_at) : "never"),
      h("td", { class: "hide-sm", title: fmt.fullTime(u.created_at) }, fmt.time(u.created_at)),
      h("td", { class: "num" }, TS.can("write_users") ? action : null)
    );
  }

  let usersSeq = 0;
  async function loadUsers() {
    const seq = ++usersSeq;
    const query = {
      email: $("#users-email").value.trim() || null,
      role: $("#users-role").value || null,
      active: $("#users-active").value || null,
      limit: 100,
    };
    const page = await api("/admin/users", { query });
    if (seq !== usersSeq) return;
    page.items.forEach((u) => state.emails.set(u.id, u.email));
    $("#users-body").replaceChildren(
      ...(page.items.length ? page.items.map(userRow) : [h("tr", null, h("td", { colspan: 6 }, emptyState("No user matches")))])
    );
    $("#users-sub").textContent = `${fmt.int(page.total)} user${page.total === 1 ? "" : "s"}`;
    const foot = $("#users-foot");
    foot.textContent = page.total > page.items.length ? `Showing the first ${page.items.length}; narrow the search to find others.` : "";
    foot.hidden = !foot.textContent;
  }

  async function setActive(user, active, button) {
    const who = user.display_name || user.email;
    const ok = await confirmDialog(
      active
        ? { title: `Activate ${who}?`, body: "They can sign in again.", confirmText: "Activate" }
        : {
            title: `Deactivate ${who}?`,
            body: "They are signed out everywhere at once: open pages, API tokens and API keys stop working. You can activate the account again later.",
            confirmText: "Deactivate",
            danger: true,
          }
    );
    if (!ok) return;
    await busy(button, async () => {
      try {
        if (active) await api(`/admin/users/${encodeURIComponent(user.id)}`, { method: "PATCH", body: { is_active: true } });
        else await api(`/admin/users/${encodeURIComponent(user.id)}/deactivate`, { method: "POST" });
        toast(active ? `${who} can sign in again.` : `${who} was deactivated and signed out.`, active ? "ok" : "sell");
      } catch (err) {
        toast(err.message, "error", "Not changed.");
      }
    });
    await Promise.all([loadUsers(), loadFigures(), loadActivity(true)]);
  }

  // ---- activity ---------------------------------------------------------------------------------------------

  function details(obj) {
    const entries = Object.entries(obj || {});
    if (!entries.length) return "";
    return entries
      .slice(0, 4)
      .map(([k, v]) => `${k}: ${typeof v === "object" ? JSON.stringify(v) : v}`)
      .join(" · ");
  }

  async function loadActivity(reset) {
    if (!TS.can("read_audit")) {
      $("#activity-body").replaceChildren(h("tr", null, h("td", { colspan: 6 }, emptyState("The activity log needs the read_audit permission"))));
      return;
    }
    if (reset) state.activityOffset = 0;
    const page = await api("/admin/activity", { query: { limit: PAGE, offset: state.activityOffset } });
    const rows = page.items.map((e) =>
      h(
        "tr",
        null,
        h("td", { title: fmt.fullTime(e.at) }, fmt.time(e.at)),
        h("td", null, e.actor),
        h("td", null, h("span", { class: "mono" }, e.action)),
        h("td", { class: "muted", title: e.target || null }, (e.target && state.emails.get(e.target)) || e.target || "–"),
        h("td", { class: "hide-sm mono muted" }, e.ip || "–"),
        h("td", { class: "hide-sm muted" }, details(e.details))
      )
    );
    const body = $("#activity-body");
    if (reset) body.replaceChildren(...(rows.length ? rows : [h("tr", null, h("td", { colspan: 6 }, emptyState("No activity yet")))]));
    else body.append(...rows);
    state.activityOffset += page.items.length;
    $("#activity-more").hidden = state.activityOffset >= page.total;
  }

  // ---- messages ---------------------------------------------------------------------------------------------

  async function loadMessages() {
    const page = await api("/messages", { query: { limit: 10 } });
    const unread = page.items.filter((m) => !m.read).length;
    $("#messages-sub").textContent = `${fmt.int(page.total)} in your inbox${unread ? ` · ${unread} unread` : ""}`;
    const list = $("#messages-list");
    if (!page.items.length) {
      list.replaceChildren(emptyState("No messages", "Messages users send to the admins land here."));
      return;
    }
    list.replaceChildren(
      ...page.items.map((m) =>
        h(
          "article",
          {
            class: "msg" + (m.read ? "" : " is-unread"),
            tabindex: m.read ? null : "0",
            title: m.read ? null : "Mark as read",
            onclick: m.read ? null : () => markRead(m),
            onkeydown: m.read ? null : (e) => (e.key === "Enter" ? markRead(m) : null),
          },
          h(
            "div",
            { class: "msg-head" },
            h("span", null, m.sender ? m.sender.display_name : "deleted user", " ", m.read ? null : h("span", { class: "pill warn" }, "new")),
            h("time", { datetime: m.sent_at, title: fmt.fullTime(m.sent_at) }, fmt.ago(m.sent_at))
          ),
          h("h3", null, m.subject),
          h("p", null, m.body)
        )
      )
    );
  }

  async function markRead(message) {
    try {
      await api(`/messages/${encodeURIComponent(message.id)}/read`, { method: "POST" });
      await loadMessages();
    } catch (err) {
      toast(err.message, "error", "Could not mark it read.");
    }
  }

  async function sendBulk(e) {
    e.preventDefault();
    const error = $("#bulk-error");
    showError(error, "");
    const subject = $("#bulk-subject").value.trim();
    const body = $("#bulk-body").value.trim();
    if (!subject || !body) {
      showError(error, "Write a subject and a message.");
      return;
    }
    const role = $("#bulk-role").value || null;
    await busy($("#bulk-send"), async () => {
      try {
        const sent = await api("/admin/messages/bulk", { method: "POST", body: { subject, body, role } });
        toast(`Delivered to ${fmt.int(sent.recipient_count)} user${sent.recipient_count === 1 ? "" : "s"}.`, "ok", "Message sent.");
        $("#bulk-form").reset();
      } catch (err) {
        showError(error, err.message);
      }
    });
  }

  // ---- start ------------------------------------------------------------------------------------------------

  async function loadAll() {
    const users = loadUsers();
    await users.catch(() => null); // the activity log names users by email once they are known
    const results = await Promise.allSettled([users, loadFigures(), loadActivity(true), loadMessages(), loadSystem()]);
    results.forEach((r) => {
      if (r.status === "rejected" && !(r.reason instanceof TS.ApiError && r.reason.status === 401)) {
        toast(r.reason.message || String(r.reason), "error", "Part of the page did not load.");
      }
    });
  }

  try {
    await TS.boot();
    const live = new TS.Live(["notifications"]);
    TS.bindLiveStatus(live);
    live.on("notifications", (d) => TS.notifications.onEvent(d));
    live.start();
    TS.notifications.load();
    if (!TS.can("admin_access")) {
      $("#admin-denied").hidden = false;
      return;
    }
    $("#admin-content").hidden = false;
    let timer = null;
    $("#users-filter").addEventListener("input", () => {
      clearTimeout(timer);
      timer = setTimeout(() => loadUsers().catch((err) => toast(err.message, "error")), 250);
    });
    $("#users-filter").addEventListener("submit", (e) => e.preventDefault());
    $("#activity-more").addEventListener("click", () => loadActivity(false));
    $("#bulk-form").addEventListener("submit", sendBulk);
    $("#admin-refresh").addEventListener("click", (e) => busy(e.currentTarget, loadAll));
    await loadAll();
    document.body.dataset.ready = "true";
    setInterval(() => loadSystem(), 30000);
  } catch (err) {
    if (err instanceof TS.ApiError && err.status === 401) return;
    toast(err.message || String(err), "error", "The page could not load.");
  }
})();
