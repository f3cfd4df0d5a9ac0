/* tsbot web: numbers, money, quantities and times as a trader reads them; times in the user's time zone
 * (set by ui.js from the profile or the browser). */
(function () {
  "use strict";

  // ---- formatting -------------------------------------------------------------------------------------------

  let timeZone = "UTC";
  const cache = new Map();
  function nf(key, opts) {
    if (!cache.has(key)) cache.set(key, new Intl.NumberFormat(undefined, opts));
    return cache.get(key);
  }
  function df(key, opts) {
    const k = key + "|" + timeZone;
    if (!cache.has(k)) cache.set(k, new Intl.DateTimeFormat(undefined, Object.assign({ timeZone }, opts)));
    return cache.get(k);
  }
  function toNumber(v) {
    if (v === null || v === undefined || v === "") return null;
    const n = typeof v === "number" ? v : Number(v);
    return Number.isFinite(n) ? n : null;
  }
  const DASH = "–";

  const fmt = {
    /** A price with precision by size: 2 decimals from 10, 4 from 1, 4 significant digits below. */
    price(v) {
      const n = toNumber(v);
      if (n === null) return DASH;
      const a = Math.abs(n);
      if (a >= 10) return nf("p2", { minimumFractionDigits: 2, maximumFractionDigits: 2 }).format(n);
      if (a >= 1) return nf("p4", { minimumFractionDigits: 4, maximumFractionDigits: 4 }).format(n);
      return nf("ps", { maximumSignificantDigits: 4 }).format(n);
    },
    num(v, digits) {
      const n = toNumber(v);
      if (n === null) return DASH;
      const d = digits === undefined ? 2 : digits;
      return nf("n" + d, { minimumFractionDigits: d, maximumFractionDigits: d }).format(n);
    },
    int(v) {
      const n = toNumber(v);
      return n === null ? DASH : nf("int", { maximumFractionDigits: 0 }).format(n);
    },
    /** A signed number (``+0.31``, ``−0.12``). */
    signed(v, digits) {
      const n = toNumber(v);
      if (n === null) return DASH;
      const d = digits === undefined ? 2 : digits;
      const zero = Math.abs(n) < 0.5 * 10 ** -d;
      return (zero ? "" : n > 0 ? "+" : "−") + fmt.num(zero ? 0 : Math.abs(n), d);
    },
    /** A ratio as a percent (0.052 -> ``5.2%``). */
    pct(ratio, digits) {
      const n = toNumber(ratio);
      if (n === null) return DASH;
      return fmt.num(n * 100, digits === undefined ? 1 : digits) + "%";
    },
    signedPct(percent, digits) {
      const n = toNumber(percent);
      if (n === null) return DASH;
      return fmt.signed(n, digits === undefined ? 2 : digits) + "%";
    },
    /** Money from a decimal string: ``12,345.67 USDT`` (``$12,345.67`` for USD). */
    money(v, currency) {
      const n = toNumber(v);
      if (n === null) return DASH;
      const body = fmt.num(n, 2);
      if (currency === "USD") return (n < 0 ? "−$" : "$") + fmt.num(Math.abs(n), 2);
      return currency ? body + " " + currency : body;
    },
    signedMoney(v, currency) {
      const n = toNumber(v);
      if (n === null) return DASH;
      const sign = n > 0 ? "+" : n < 0 ? "−" : "";
      return sign + fmt.money(Math.abs(n), currency);
    },
    /** A quantity from a decimal string: up to 8 decimals, trailing zeros dropped. */
    qty(v) {
      const n = toNumber(v);
      return n === null ? DASH : nf("q", { maximumFractionDigits: 8 }).format(n);
    },
    bytes(v) {
      const n = toNumber(v);
      if (n === null) return DASH;
      const units = ["B", "KB", "MB", "GB", "TB"];
      let i = 0;
      let x = n;
      while (x >= 1024 && i < units.length - 1) {
        x /= 1024;
        i += 1;
      }
      return fmt.num(x, i ? 1 : 0) + " " + units[i];
    },
    /** ``Jul 6, 14:00`` in the user's time zone (with the year when it is not this year). */
    time(iso) {
      if (!iso) return DASH;
      const d = new Date(iso);
      if (Number.isNaN(d.getTime())) return DASH;
      const sameYear = df("y", { year: "numeric" }).format(d) === df("y", { year: "numeric" }).format(new Date());
      const opts = { month: "short", day: "numeric", hour: "2-digit", minute: "2-digit", hourCycle: "h23" };
      if (!sameYear) opts.year = "numeric";
      return df(sameYear ? "t" : "ty", opts).format(d);
    },
    /** ``14:00`` in the user's time zone. */
    clock(iso) {
      return iso ? df("clock", { hour: "2-digit", minute: "2-digit", hourCycle: "h23" }).format(new Date(iso)) : DASH;
    },
    /** ``6 Jul`` (``6 Jul 2022`` in another year) in the user's time zone. */
    day(iso) {
      if (!iso) return DASH;
      const d = new Date(iso);
      const sameYear = df("y", { year: "numeric" }).format(d) === df("y", { year: "numeric" }).format(new Date());
      return df(sameYear ? "d" : "dy", sameYear ? { month: "short", day: "numeric" } : { month: "short", day: "numeric", year: "numeric" }).format(d);
    },
    /** Full date and time with the zone, for tooltips. */
    fullTime(iso) {
      if (!iso) return "";
      const d = new Date(iso);
      return df("full", {
        year: "numeric",
        month: "short",
        day: "numeric",
        hour: "2-digit",
        minute: "2-digit",
        second: "2-digit",
        hourCycle: "h23",
        timeZoneName: "short",
      }).format(d);
    },
    /** ``5 min ago``, ``3 days ago``. */
    ago(iso) {
      if (!iso) return DASH;
      const s = (new Date(iso).getTime() - Date.now()) / 1000;
      const rtf = cache.get("rtf") || new Intl.RelativeTimeFormat(undefined, { numeric: "auto", style: "short" });
      cache.set("rtf", rtf);
      const steps = [
        [60, "second"],
        [3600, "minute", 60],
        [86400, "hour", 3600],
        [86400 * 30, "day", 86400],
        [86400 * 365, "month", 86400 * 30],
        [Infinity, "year", 86400 * 365],
      ];
      for (const [limit, unit, div] of steps) {
        if (Math.abs(s) < limit) return rtf.format(Math.round(s / (div || 1)), unit);
      }
      return DASH;
    },
    /** A time as plotly's date axis wants it: ``YYYY-MM-DD HH:MM:SS`` in the user's time zone. */
    plotTime(iso) {
      const parts = df("plot", {
        year: "numeric",
        month: "2-digit",
        day: "2-digit",
        hour: "2-digit",
        minute: "2-digit",
        second: "2-digit",
        hourCycle: "h23",
      }).formatToParts(new Date(iso));
      const p = {};
      parts.forEach((x) => {
        p[x.type] = x.value;
      });
      return `${p.year}-${p.month}-${p.day} ${p.hour}:${p.minute}:${p.second}`;
    },
  };

  function setTimeZone(zone) {
    try {
      new Intl.DateTimeFormat(undefined, { timeZone: zone });
      timeZone = zone;
    } catch (e) {
      timeZone = "UTC";
    }
  }
  function zoneLabel() {
    return timeZone === "UTC" ? "UTC" : timeZone.replace(/_/g, " ");
  }

  Object.assign(window.TS, { fmt, setTimeZone, zoneLabel, zone: () => timeZone, toNumber });
})();
