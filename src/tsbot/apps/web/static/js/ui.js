/* tsbot web: page helpers. Elements built from text (never parsed HTML), badges, toasts, dialogs, and the frame
 * of a signed-in page: its top bar, user menu and time-zone choice (TS.boot). */
(function () {
  "use strict";
  const { API, STORE_KEY, session, endSession, scheduleRefresh, api, setTimeZone, zoneLabel } = window.TS;
  const TZ_KEY = "tsbot.tz";

  // ---- DOM helpers ------------------------------------------------------------------------------------------

  /** Build an element: h("td", {class: "num", title: "…", onclick: fn}, "text", childNode, [more]). Text is
   * always set as text (never parsed as HTML). */
  function h(tag, props, ...children) {
    const el = document.createElement(tag);
    if (props) {
      Object.entries(props).forEach(([k, v]) => {
        if (v === null || v === undefined || v === false) return;
        if (k === "class") el.className = v;
        else if (k === "text") el.textContent = v;
        else if (k === "dataset") Object.assign(el.dataset, v);
        else if (k.startsWith("on") && typeof v === "function") el.addEventListener(k.slice(2), v);
        else if (v === true) el.setAttribute(k, "");
        else el.setAttribute(k, String(v));
      });
    }
    children.flat(Infinity).forEach((c) => {
      if (c === null || c === undefined || c === false) return;
      el.append(c instanceof Node ? c : document.createTextNode(String(c)));
    });
    return el;
  }
  const $ = (sel, root) => (root || document).querySelector(sel);

  function actionBadge(action, large) {
    const a = action || "none";
    return h("span", { class: "action action-" + a + (large ? " lg" : "") }, action || "—");
  }
  function pill(text, kind) {
    return h("span", { class: "pill " + (kind || "neutral") }, text);
  }
  function emptyState(title, detail) {
    return h("div", { class: "empty" }, h("strong", null, title), detail ? h("span", null, detail) : null);
  }
  function showError(el, message) {
    if (!el) return;
    el.textContent = message || "";
    el.hidden = !message;
  }

  const toasted = new Map();
  /** Show a toast; one with the ``key`` of a toast shown in the last 8 s is left out (one event, one toast). */
  function toast(message, kind, title, key) {
    const box = $("#toasts");
    if (!box) return;
    if (key) {
      if (Date.now() - (toasted.get(key) || 0) < 8000) return;
      toasted.set(key, Date.now());
    }
    const node = h("div", { class: "toast " + (kind || "") }, h("div", null, title ? h("strong", null, title + " ") : null, message));
    box.append(node);
    while (box.children.length > 4) box.firstChild.remove();
    setTimeout(() => node.remove(), kind === "error" ? 8000 : 5000);
  }

  /** Run ``work`` with ``button`` disabled and spinning. */
  async function busy(button, work) {
    button.disabled = true;
    button.classList.add("is-busy");
    button.setAttribute("aria-busy", "true");
    try {
      return await work();
    } finally {
      button.disabled = false;
      button.classList.remove("is-busy");
      button.removeAttribute("aria-busy");
    }
  }

  /** A modal confirmation; resolves true when confirmed. */
  function confirmDialog({ title, body, confirmText, danger }) {
    return new Promise((resolve) => {
      const ok = h("button", { type: "button", class: "btn " + (danger ? "btn-sell" : "btn-primary"), value: "ok" }, confirmText || "Confirm");
      const cancel = h("button", { type: "button", class: "btn", value: "cancel" }, "Cancel");
      const dialog = h(
        "dialog",
        { class: "modal", "aria-labelledby": "modal-title" },
        h("div", { class: "modal-body" }, h("h2", { id: "modal-title" }, title), body ? h("p", null, body) : null),
        h("div", { class: "modal-actions" }, cancel, ok)
      );
      const done = (value) => {
        dialog.close();
        dialog.remove();
        resolve(value);
      };
      ok.addEventListener("click", () => done(true));
      cancel.addEventListener("click", () => done(false));
      dialog.addEventListener("cancel", (e) => {
        e.preventDefault();
        done(false);
      });
      document.body.append(dialog);
      dialog.showModal();
      ok.focus();
    });
  }

  /** A modal form: ``fields`` [{name, label, value, inputmode, type, options}]; resolves to the values or null. */
  function formDialog({ title, fields, submitText }) {
    return new Promise((resolve) => {
      const inputs = {};
      const rows = fields.map((f) => {
        const input = f.options
          ? h("select", { class: "input", name: f.name }, f.options.map((o) => h("option", { value: o, selected: o === f.value }, o)))
          : h("input", { class: "input", name: f.name, value: f.value || "", inputmode: f.inputmode, type: f.type || "text", required: true });
        inputs[f.name] = input;
        return h("label", { class: "field" }, h("span", null, f.label), input);
      });
      const form = h("form", { method: "dialog" },
        h("div", { class: "modal-body" }, h("h2", null, title), h("div", { class: "ticket" }, rows)),
        h("div", { class: "modal-actions" },
          h("button", { type: "button", class: "btn", value: "cancel" }, "Cancel"),
          h("button", { type: "submit", class: "btn btn-primary" }, submitText || "Save")));
      const dialog = h("dialog", { class: "modal" }, form);
      const done = (value) => {
        dialog.close();
        dialog.remove();
        resolve(value);
      };
      form.addEventListener("submit", (e) => {
        e.preventDefault();
        const out = {};
        Object.entries(inputs).forEach(([k, el]) => {
          out[k] = el.value.trim();
        });
        done(out);
      });
      form.querySelector('button[value="cancel"]').addEventListener("click", () => done(null));
      dialog.addEventListener("cancel", (e) => {
        e.preventDefault();
        done(null);
      });
      document.body.append(dialog);
      dialog.showModal();
    });
  }

  // ---- the signed-in page frame (top bar) -------------------------------------------------------------------

  function initials(user) {
    const base = (user.display_name || user.email || "?").trim();
    const parts = base.split(/[\s@._-]+/).filter(Boolean);
    return ((parts[0] || "?")[0] + (parts[1] ? parts[1][0] : "")).toUpperCase();
  }

  function bindMenu(button, menu) {
    const close = () => {
      menu.hidden = true;
      button.setAttribute("aria-expanded", "false");
    };
    button.addEventListener("click", (e) => {
      e.stopPropagation();
      const open = menu.hidden;
      menu.hidden = !open;
      button.setAttribute("aria-expanded", String(open));
    });
    document.addEventListener("click", (e) => {
      if (!menu.hidden && !menu.contains(e.target)) close();
    });
    document.addEventListener("keydown", (e) => {
      if (e.key === "Escape" && !menu.hidden) {
        close();
        button.focus();
      }
    });
  }

  async function signOut() {
    const current = session.get();
    if (current && current.refresh_token) {
      await fetch(API + "/auth/logout", {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ refresh_token: current.refresh_token }),
      }).catch(() => null);
    }
    endSession("signed_out");
  }

  /** Start a signed-in page: no session -> the sign-in page; else the profile (``/me``), the top bar, the
   * token refresh timer. Resolves to the user. */
  async function boot() {
    if (!session.get()) {
      endSession("");
      return new Promise(() => {});
    }
    scheduleRefresh();
    const me = await api("/me");
    const remembered = localStorage.getItem(TZ_KEY);
    const browserZone = Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";
    const profileZone = me.preferences && me.preferences.time_zone;
    setTimeZone(remembered === "utc" ? "UTC" : profileZone && profileZone !== "UTC" ? profileZone : browserZone);
    TS.me = me;
    const can = (p) => me.permissions.includes(p);
    TS.can = can;
    const admin = can("admin_access");
    ["#nav-admin", "#menu-admin"].forEach((sel) => {
      const el = $(sel);
      if (el) el.hidden = !admin;
    });
    const avatar = $("#user-avatar");
    if (avatar) avatar.textContent = initials(me);
    const name = $("#user-name");
    if (name) name.textContent = me.display_name || me.email;
    const email = $("#menu-email");
    if (email) email.textContent = me.email;
    const role = $("#menu-role");
    if (role) {
      role.textContent = me.role.replace("_", " ");
      role.classList.toggle("admin", me.role === "admin");
    }
    const tzLabel = $("#tz-label");
    if (tzLabel) tzLabel.textContent = zoneLabel();
    const tzToggle = $("#tz-toggle");
    if (tzToggle) {
      tzToggle.addEventListener("click", () => {
        localStorage.setItem(TZ_KEY, window.TS.zone() === "UTC" ? "local" : "utc");
        location.reload();
      });
    }
    const userBtn = $("#user-btn");
    if (userBtn) bindMenu(userBtn, $("#user-menu"));
    const out = $("#sign-out");
    if (out) out.addEventListener("click", signOut);
    window.addEventListener("storage", (e) => {
      if (e.key === STORE_KEY && e.newValue === null && !session.get()) endSession("signed_out");
    });
    document.addEventListener("visibilitychange", () => {
      if (document.visibilityState === "visible") scheduleRefresh();
    });
    return me;
  }

  /** Show the live connection state in the top bar. */
  function bindLiveStatus(live) {
    const el = $("#live-status");
    if (!el) return;
    const label = el.querySelector(".live-label");
    const text = { live: "Live", connecting: "Connecting", offline: "Offline" };
    live.onStatus((state, detail) => {
      el.dataset.state = state;
      label.textContent = state === "offline" && detail ? detail : text[state];
      el.title = "Live updates: " + (detail || text[state]);
    });
  }

  Object.assign(window.TS, {
    h,
    $,
    actionBadge,
    pill,
    emptyState,
    showError,
    toast,
    busy,
    confirmDialog,
    formDialog,
    boot,
    bindLiveStatus,
  });
})();
