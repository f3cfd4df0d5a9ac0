/* tsbot web: the notifications bell and drawer of the top bar (GET /api/v1/notifications, POST .../{id}/read,
 * the WebSocket channel "notifications"). A server without the notifications routes (404) shows the bell off. */
(function () {
  "use strict";
  const { api, h, $, fmt, toast, emptyState } = window.TS;

  const state = { items: [], unread: 0, available: true, loaded: false };
  const bell = $("#bell");
  const badge = $("#bell-badge");
  const drawer = $("#notif-drawer");
  const list = $("#notif-list");
  const readAll = $("#notif-read-all");

  function renderBadge() {
    badge.hidden = !state.unread;
    badge.textContent = state.unread > 99 ? "99+" : String(state.unread);
    bell.setAttribute("aria-label", state.unread ? `Notifications, ${state.unread} unread` : "Notifications");
  }

  function render() {
    list.replaceChildren();
    readAll.hidden = !state.unread;
    if (!state.available) {
      list.append(emptyState("Notifications are not enabled", "This server does not deliver in-app notifications."));
      return;
    }
    if (!state.items.length) {
      list.append(emptyState("You're all caught up", "Signal changes, fills and messages will show up here."));
      return;
    }
    state.items.forEach((n) => {
      const unread = !n.read_at;
      list.append(
        h(
          "button",
          { type: "button", class: "notif" + (unread ? " is-unread" : ""), dataset: { id: n.id }, onclick: () => markRead(n) },
          h("span", { class: "unread-dot", "aria-hidden": "true" }),
          h(
            "span",
            null,
            h("strong", null, n.title || n.type || "Notification"),
            n.body ? h("p", null, n.body) : null,
            h("time", { datetime: n.created_at, title: fmt.fullTime(n.created_at) }, fmt.ago(n.created_at)),
            unread ? h("span", { class: "sr-only" }, " (unread)") : null
          )
        )
      );
    });
  }

  async function load() {
    try {
      const page = await api("/notifications", { query: { limit: 30 } });
      state.items = page.items || [];
      state.unread = typeof page.unread === "number" ? page.unread : state.items.filter((n) => !n.read_at).length;
      state.available = true;
    } catch (err) {
      if (err.status === 404 || err.status === 405) {
        state.available = false;
        state.items = [];
        state.unread = 0;
      } else if (state.loaded) {
        return;
      }
    }
    state.loaded = true;
    renderBadge();
    if (!drawer.hidden) render();
  }

  async function markRead(n) {
    if (n.read_at) return;
    try {
      await api(`/notifications/${encodeURIComponent(n.id)}/read`, { method: "POST" });
      n.read_at = new Date().toISOString();
      state.unread = Math.max(0, state.unread - 1);
      renderBadge();
      render();
    } catch (err) {
      toast(err.message, "error", "Could not mark it read.");
    }
  }

  readAll.addEventListener("click", async () => {
    try {
      await api("/notifications/read-all", { method: "POST" });
    } catch (err) {
      toast(err.message, "error", "Could not mark them read.");
    }
    await load();
    render();
  });

  function open(show) {
    drawer.hidden = !show;
    bell.setAttribute("aria-expanded", String(show));
    if (show) {
      render();
      const first = drawer.querySelector("button");
      if (first) first.focus();
    }
  }
  bell.addEventListener("click", (e) => {
    e.stopPropagation();
    open(drawer.hidden);
  });
  document.addEventListener("click", (e) => {
    if (!drawer.hidden && !drawer.contains(e.target)) open(false);
  });
  document.addEventListener("keydown", (e) => {
    if (e.key === "Escape" && !drawer.hidden) {
      open(false);
      bell.focus();
    }
  });

  let reloadTimer = null;
  /** A live notification: toast it and reload the list (debounced). */
  function onEvent(data) {
    const n = data.notification || data;
    const symbol = n.data && n.data.symbol;
    const key = n.type === "signal_changed" && symbol ? `signal:${symbol}` : n.id ? `notification:${n.id}` : null;
    if (n.title) toast(n.body || "", "info", n.title, key);
    clearTimeout(reloadTimer);
    reloadTimer = setTimeout(load, 300);
  }

  window.TS.notifications = { load, onEvent, state };
})();
