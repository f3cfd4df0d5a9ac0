/* tsbot web: the sign-in page. Email + password (+ the two-factor code when the account asks for it) ->
 * POST /api/v1/auth/login; the tokens go to sessionStorage (localStorage with "keep me signed in"). */
(function () {
  "use strict";
  const { $, api, session, showError, busy, ENDED_MESSAGES } = window.TS;

  const params = new URLSearchParams(location.search);
  const ended = params.get("ended");
  const next = params.get("next");
  const target = next && /^\/[a-z]*$/.test(next) && next !== "/login" ? next : "/dashboard";

  if (!ended && session.get()) {
    location.replace(target);
    return;
  }
  const banner = $("#login-banner");
  if (ended && ENDED_MESSAGES[ended]) {
    banner.textContent = ENDED_MESSAGES[ended];
    banner.className = "banner" + (ended === "deactivated" || ended === "deleted" ? " bad" : ended === "signed_out" ? " ok" : "");
    banner.hidden = false;
    history.replaceState(null, "", "/login" + (next ? "?next=" + encodeURIComponent(next) : ""));
  }

  const form = $("#login-form");
  const email = $("#email");
  const password = $("#password");
  const totpField = $("#totp-field");
  const totp = $("#totp");
  const error = $("#login-error");
  const submit = $("#login-submit");

  $("#toggle-password").addEventListener("click", (e) => {
    const show = password.type === "password";
    password.type = show ? "text" : "password";
    e.currentTarget.textContent = show ? "Hide" : "Show";
    e.currentTarget.setAttribute("aria-pressed", String(show));
    e.currentTarget.setAttribute("aria-label", show ? "Hide password" : "Show password");
  });

  function messageOf(err) {
    if (err.status === 401 && /two-factor code required/i.test(err.message)) return null;
    if (err.status === 401) {
      return totpField.hidden ? "Wrong email or password." : "Wrong email, password or two-factor code.";
    }
    if (err.type === "account_inactive") return "This account is deactivated. Contact your administrator.";
    if (err.type === "email_not_verified") return "Confirm your email address first: follow the link we sent you.";
    if (err.status === 429) {
      const s = Number(err.retryAfter);
      const wait = Number.isFinite(s) && s > 0 ? ` Try again in ${Math.ceil(s / 60)} min.` : " Try again later.";
      return "Too many sign-in attempts." + wait;
    }
    if (err.status === 422) return "Enter your email and password.";
    return err.message || "Sign-in failed.";
  }

  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    showError(error, "");
    const body = { email: email.value.trim(), password: password.value };
    if (!body.email || !body.password) {
      showError(error, "Enter your email and password.");
      (body.email ? password : email).focus();
      return;
    }
    if (!totpField.hidden && totp.value.trim()) body.totp_code = totp.value.trim();
    await busy(submit, async () => {
      try {
        const tokens = await api("/auth/login", { method: "POST", body, auth: false });
        session.save(tokens, $("#remember").checked);
        location.replace(target);
      } catch (err) {
        const message = messageOf(err);
        if (message === null) {
          totpField.hidden = false;
          banner.hidden = true;
          showError(error, "Enter the code from your authenticator app (or a recovery code).");
          totp.focus();
          return;
        }
        showError(error, message);
        password.setAttribute("aria-invalid", String(err.status === 401));
      }
    });
  });
})();
