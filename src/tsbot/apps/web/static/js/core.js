/* tsbot web: the session and the server. Tokens kept in sessionStorage (localStorage with "keep me signed in")
 * and refreshed before they expire, API calls with the bearer token, and the live WebSocket. Formatting is in
 * fmt.js, page helpers in ui.js; pages build on window.TS. */
(function () {
  "use strict";

  const API = "/api/v1";
  const STORE_KEY = "tsbot.session";
  const REFRESH_EARLY_MS = 90 * 1000;
  const ENDED_MESSAGES = {
    deactivated: "Your account has been deactivated. Contact your administrator if you think this is a mistake.",
    deleted: "Your account has been deleted.",
    ended: "Your session ended. Please sign in again.",
    expired: "Your session expired. Please sign in again.",
    signed_out: "You signed out.",
  };

  // ---- session ----------------------------------------------------------------------------------------------

  function readStore(store) {
    try {
      const raw = store.getItem(STORE_KEY);
      return raw ? JSON.parse(raw) : null;
    } catch (e) {
      return null;
    }
  }

  const session = {
    get() {
      return readStore(window.sessionStorage) || readStore(window.localStorage);
    },
    save(tokens, remember) {
      const value = {
        access_token: tokens.access_token,
        refresh_token: tokens.refresh_token,
        access_expires_at: tokens.access_expires_at,
        refresh_expires_at: tokens.refresh_expires_at,
        session_id: tokens.session_id,
        remember: !!remember,
      };
      session.clear();
      (remember ? window.localStorage : window.sessionStorage).setItem(STORE_KEY, JSON.stringify(value));
      listeners.token.forEach((fn) => fn(value.access_token));
      scheduleRefresh();
    },
    clear() {
      [window.sessionStorage, window.localStorage].forEach((s) => {
        try {
          s.removeItem(STORE_KEY);
        } catch (e) {
          /* storage unavailable: nothing kept */
        }
      });
    },
  };

  const listeners = { token: [] };
  let ending = false;

  /** Leave for the sign-in page, saying why (a key of ENDED_MESSAGES). */
  function endSession(reason) {
    if (ending) return;
    ending = true;
    session.clear();
    const next = location.pathname === "/login" ? "" : "&next=" + encodeURIComponent(location.pathname);
    location.replace("/login?ended=" + encodeURIComponent(reason || "ended") + next);
  }

  let refreshing = null;
  let refreshTimer = null;

  /** Exchange the refresh token for a new pair once (concurrent callers share the attempt; other tabs holding
   * the same remembered session wait on a lock and reuse what the first one got). Resolves true on success. */
  function refreshTokens(staleAccess) {
    if (!refreshing) {
      const run = () => doRefresh(staleAccess);
      const locked =
        navigator.locks && navigator.locks.request ? navigator.locks.request("tsbot-refresh", run) : run();
      refreshing = Promise.resolve(locked).finally(() => {
        refreshing = null;
      });
    }
    return refreshing;
  }

  async function doRefresh(staleAccess) {
    const current = session.get();
    if (!current || !current.refresh_token) return false;
    const fresh = Date.parse(current.access_expires_at) - Date.now() > REFRESH_EARLY_MS;
    if (staleAccess && current.access_token !== staleAccess && fresh) return true; // another tab did it
    let res;
    try {
      res = await fetch(API + "/auth/refresh", {
        method: "POST",
        headers: { "Content-Type": "application/json", Accept: "application/json" },
        body: JSON.stringify({ refresh_token: current.refresh_token }),
        cache: "no-store",
      });
    } catch (e) {
      throw new ApiError(0, "network", "The server cannot be reached. Check your connection.");
    }
    if (!res.ok) {
      const body = await res.json().catch(() => ({}));
      if (body.type === "account_inactive") endSession("deactivated");
      return false;
    }
    session.save(await res.json(), current.remember);
    return true;
  }

  function scheduleRefresh() {
    clearTimeout(refreshTimer);
    const current = session.get();
    if (!current) return;
    const wait = Math.max(5000, Date.parse(current.access_expires_at) - Date.now() - REFRESH_EARLY_MS);
    refreshTimer = setTimeout(() => {
      refreshTokens(current.access_token)
        .then((ok) => ok || endSession("expired"))
        .catch(() => scheduleRefresh());
    }, Math.min(wait, 2 ** 31 - 1));
  }

  /** A valid access token, refreshed first when it is about to expire; null when there is no session. */
  async function accessToken() {
    let current = session.get();
    if (!current) return null;
    if (Date.parse(current.access_expires_at) - Date.now() < 15 * 1000) {
      if (!(await refreshTokens(current.access_token))) return null;
      current = session.get();
    }
    return current ? current.access_token : null;
  }

  // ---- API calls --------------------------------------------------------------------------------------------

  class ApiError extends Error {
    constructor(status, type, message, details, retryAfter) {
      super(message);
      this.status = status;
      this.type = type;
      this.details = details;
      this.retryAfter = retryAfter;
    }
  }

  /** Call the API: ``path`` under /api/v1 (``"/signals/latest"``). Options: method, body (JSON), query (object;
   * null and undefined values left out), auth (default true). Resolves to the parsed JSON (null for 204);
   * rejects with ApiError. A refused token is refreshed once; a session that cannot be renewed, or an account
   * found deactivated, leaves for the sign-in page. */
  async function api(path, options) {
    const opts = options || {};
    const method = opts.method || "GET";
    const auth = opts.auth !== false;
    let url = API + path;
    if (opts.query) {
      const params = new URLSearchParams();
      Object.entries(opts.query).forEach(([k, v]) => {
        if (v === null || v === undefined || v === "") return;
        (Array.isArray(v) ? v : [v]).forEach((item) => params.append(k, String(item)));
      });
      const qs = params.toString();
      if (qs) url += "?" + qs;
    }
    const headers = { Accept: "application/json" };
    if (opts.body !== undefined) headers["Content-Type"] = "application/json";
    let token = null;
    if (auth) {
      token = await accessToken();
      if (!token) {
        endSession("expired");
        throw new ApiError(401, "unauthorized", "Your session ended.");
      }
      headers.Authorization = "Bearer " + token;
    }
    let res;
    try {
      res = await fetch(url, {
        method,
        headers,
        body: opts.body === undefined ? undefined : JSON.stringify(opts.body),
        cache: "no-store",
      });
    } catch (e) {
      throw new ApiError(0, "network", "The server cannot be reached. Check your connection.");
    }
    if (res.status === 401 && auth) {
      if (!opts.retried && (await refreshTokens(token).catch(() => false))) {
        return api(path, Object.assign({}, opts, { retried: true }));
      }
      endSession("expired");
    }
    if (res.status === 204) return null;
    const text = await res.text();
    let data = null;
    if (text) {
      try {
        data = JSON.parse(text);
      } catch (e) {
        data = null;
      }
    }
    if (!res.ok) {
      const type = (data && data.type) || "http_" + res.status;
      const message = (data && data.message) || res.statusText || "Request failed";
      if (auth && res.status === 403 && type === "account_inactive") endSession("deactivated");
      throw new ApiError(res.status, type, message, data && data.details, res.headers.get("Retry-After"));
    }
    return data;
  }

  /** The API path segment of a symbol: ``BTC/USDT`` -> ``BTC-USDT``. */
  function symbolPath(symbol) {
    return encodeURIComponent(String(symbol).replace("/", "-"));
  }

  // ---- live events ------------------------------------------------------------------------------------------

  /** The WebSocket ``/api/v1/ws``: authenticates with the access token, subscribes to ``channels``, dispatches
   * events by channel, re-authenticates when the token is refreshed and reconnects with backoff. A connection
   * closed because the session ended (deactivated, deleted) leaves for the sign-in page. */
  class Live {
    constructor(channels) {
      this.channels = channels;
      this.handlers = {};
      this.statusHandlers = [];
      this.attempt = 0;
      this.ws = null;
      this.pinger = null;
      listeners.token.push((token) => this.reauth(token));
    }
    on(channel, fn) {
      (this.handlers[channel] = this.handlers[channel] || []).push(fn);
      return this;
    }
    onStatus(fn) {
      this.statusHandlers.push(fn);
      return this;
    }
    setStatus(state, detail) {
      this.state = state;
      this.statusHandlers.forEach((fn) => fn(state, detail));
    }
    start() {
      if (!this.channels.length) {
        this.setStatus("offline", "No live channels for your role");
        return;
      }
      this.connect();
      document.addEventListener("visibilitychange", () => {
        if (document.visibilityState === "visible" && (!this.ws || this.ws.readyState > 1)) this.connect();
      });
      window.addEventListener("online", () => {
        if (!this.ws || this.ws.readyState > 1) this.connect();
      });
    }
    connect() {
      clearTimeout(this.retry);
      const scheme = location.protocol === "https:" ? "wss://" : "ws://";
      const ws = new WebSocket(scheme + location.host + API + "/ws");
      this.ws = ws;
      this.setStatus("connecting");
      ws.onopen = async () => {
        const token = await accessToken().catch(() => null);
        if (!token) return endSession("expired");
        ws.send(JSON.stringify({ type: "auth", token }));
      };
      ws.onmessage = (msg) => {
        let data;
        try {
          data = JSON.parse(msg.data);
        } catch (e) {
          return;
        }
        if (data.type === "authenticated" && !ws.subscribed) {
          ws.subscribed = true;
          ws.send(JSON.stringify({ type: "subscribe", channels: this.channels }));
        } else if (data.type === "subscribed") {
          this.attempt = 0;
          this.setStatus("live");
          clearInterval(this.pinger);
          this.pinger = setInterval(() => {
            if (ws.readyState === 1) ws.send('{"type":"ping"}');
          }, 25000);
        } else if (data.type === "event") {
          (this.handlers[data.channel] || []).forEach((fn) => {
            try {
              fn(data.data || {}, data.at);
            } catch (e) {
              console.error("live handler failed", e);
            }
          });
        }
      };
      ws.onclose = (ev) => this.closed(ws, ev);
    }
    reauth(token) {
      if (this.ws && this.ws.readyState === 1) this.ws.send(JSON.stringify({ type: "auth", token }));
    }
    async closed(ws, ev) {
      if (ws !== this.ws) return;
      clearInterval(this.pinger);
      const reason = ev.reason || "";
      if (ev.code === 4401) {
        if (/deactivated/i.test(reason)) return endSession("deactivated");
        if (/deleted/i.test(reason)) return endSession("deleted");
        const stale = session.get();
        const ok = await refreshTokens(stale && stale.access_token).catch(() => null);
        if (ok === false) return endSession(/session ended/i.test(reason) ? "ended" : "expired");
        if (ok && /session ended/i.test(reason)) return location.reload(); // role changed: permissions differ
      } else if (ev.code === 4403) {
        this.setStatus("offline", reason || "Not allowed");
        return;
      }
      this.attempt += 1;
      const delay = Math.min(15000, 500 * 2 ** Math.min(this.attempt, 5)) + Math.random() * 400;
      this.setStatus("offline", "Reconnecting…");
      this.retry = setTimeout(() => this.connect(), delay);
    }
  }

  window.TS = {
    API,
    STORE_KEY,
    ApiError,
    ENDED_MESSAGES,
    api,
    accessToken,
    session,
    endSession,
    refreshTokens,
    scheduleRefresh,
    symbolPath,
    Live,
    me: null,
    can: () => false,
  };
})();
