"""The web dashboard in Chromium against ``tsbot serve --replay`` (see conftest.py): signing in, a status change
the replayed monitoring cycle stores arriving over the WebSocket without a reload, the chart, a paper order from a
brand-new account to its position, an admin deactivating a user whose open page is then signed out, and the phone
layout. Screenshots of each step go to the artefacts folder.

Bad input tried: a wrong password at sign-in, a paper order of quantity zero, and a deactivated account signing in
again.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta

import httpx
import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError
from playwright.sync_api import expect
from web_world import PEOPLE, signed_in

from conftest import PHONE, LiveServer, Tab, sign_in

pytestmark = pytest.mark.slow

ACTIONS = ("BUY", "SELL", "HOLD")
#: Milliseconds to wait for the replay to push a status change of one of the trader's symbols.
CHANGE_WAIT_MS = 60_000

#: The watchlist rows now: symbol -> {action, changedAt}.
ROWS_JS = """() => Object.fromEntries([...document.querySelectorAll('#watch-body tr[data-symbol]')].map(
  (tr) => [tr.dataset.symbol, {action: tr.dataset.action, changedAt: tr.dataset.changedAt || null}]))"""
#: A row flashing for a change pushed since ``before`` was read, with the toast that announced it (null: none yet).
LIVE_CHANGE_JS = """(before) => {
  const toasts = [...document.querySelectorAll('#toasts .toast')].map((t) => t.textContent);
  for (const tr of document.querySelectorAll('#watch-body tr.flash')) {
    const symbol = tr.dataset.symbol, was = before[symbol], to = tr.dataset.action;
    if (!was || !tr.dataset.changedAt || tr.dataset.changedAt === was.changedAt) continue;
    const toast = toasts.find((t) => t.includes(symbol) && t.includes('→ ' + to));
    if (toast) return {symbol, from: was.action, to, changedAt: tr.dataset.changedAt, toast};
  }
  return null;
}"""
#: A watched symbol whose newest signal is BUY or SELL, other than those in the argument (null: none now).
DIRECTIONAL_JS = """(tried) => {
  const rows = [...document.querySelectorAll('#watch-body tr[data-action="BUY"], #watch-body tr[data-action="SELL"]')];
  const row = rows.find((tr) => !tried.includes(tr.dataset.symbol));
  return row ? row.dataset.symbol : null;
}"""
#: Horizontal price levels drawn on the price axis (the latest signal's stop-loss and take-profits).
LEVELS_JS = "document.getElementById('chart').layout.shapes.filter(s => s.yref === 'y').length"


def wait_ready(tab: Tab) -> None:
    """Wait until the page has loaded its data and its WebSocket is subscribed."""
    expect(tab.page.locator("body")).to_have_attribute("data-ready", "true", timeout=15_000)
    expect(tab.page.locator("#live-status")).to_have_attribute("data-state", "live")


def row(tab: Tab, symbol: str):  # type: ignore[no-untyped-def]
    return tab.page.locator(f'#watch-body tr[data-symbol="{symbol}"]')


def test_pages_carry_their_csp_and_static_files_are_versioned(live_server: LiveServer) -> None:
    with httpx.Client(base_url=live_server.base_url) as client:
        login = client.get("/login")
        css_url = re.search(r'href="(/static/css/base\.css\?v=\w+)"', login.text)
        plotly = client.get("/static/plotly.min.js", headers={"Accept-Encoding": "gzip"})
        missing = client.get("/static/nothing.js")
        health = client.get("/api/v1/health")
        schema = client.get("/api/v1/openapi.json").json()
    assert login.status_code == 200 and "script-src 'self'" in login.headers["content-security-policy"]
    assert css_url is not None
    assert health.headers["content-security-policy"].startswith("default-src 'none'; frame-ancestors")
    assert plotly.status_code == 200 and plotly.headers["content-encoding"] == "gzip"
    assert "plotly.js" in plotly.text[:200]
    assert missing.status_code == 404 and missing.json()["type"] == "not_found"
    assert not [p for p in schema["paths"] if not p.startswith("/api/v1")]  # pages stay out of the API schema


def test_sign_in_then_a_replayed_signal_change_arrives_without_a_reload(
    open_tab, live_server: LiveServer
) -> None:  # type: ignore[no-untyped-def]
    """Bad input: a wrong password first."""
    tab = open_tab()
    page = tab.page
    page.goto("/")
    expect(page.get_by_role("heading", level=1)).to_contain_text("Trading signals")
    tab.shot("01-landing")
    page.get_by_role("link", name="Sign in to the dashboard").click()
    page.wait_for_url("**/login")
    page.get_by_label("Email").fill(PEOPLE["trader"].email)
    page.get_by_label("Password", exact=True).fill("not the password")
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator("#login-error")).to_have_text("Wrong email or password.")
    tab.shot("02-login-refused")
    sign_in(tab, "trader")
    wait_ready(tab)
    watched = PEOPLE["trader"].watchlist
    for each in watched:
        expect(row(tab, each)).to_be_visible()
    before = page.evaluate(ROWS_JS)
    assert sorted(before) == sorted(watched)
    assert all(r["action"] in ACTIONS for r in before.values()), before  # every series has a stored signal
    tab.shot("03-dashboard")

    page.evaluate("window.__sameDocument = true")
    try:
        pushed = page.wait_for_function(LIVE_CHANGE_JS, arg=before, timeout=CHANGE_WAIT_MS, polling=100)
    except PlaywrightTimeoutError:
        pytest.fail(
            f"no status change pushed in {CHANGE_WAIT_MS} ms; the server said:\n{live_server.output()}"
        )
    change = pushed.json_value()
    page.wait_for_timeout(300)  # the toast's entrance
    tab.shot("04-signal-change")
    symbol, from_action, to_action = change["symbol"], change["from"], change["to"]
    assert to_action in ACTIONS and to_action != from_action, change
    assert page.evaluate("window.__sameDocument") is True  # no reload happened
    # the change is the one the replayed cycle stored: its signal at the replay's time, the one before it the old
    # action
    changed_at = datetime.fromisoformat(change["changedAt"])
    assert changed_at.year == 2022, change  # the replay clock's time, not the wall clock's
    with signed_in(live_server.base_url, "trader") as api:
        at = api.get("/signals", params={"symbol": symbol, "until": change["changedAt"], "limit": 1}).json()
        until = (changed_at - timedelta(seconds=1)).isoformat()
        earlier = api.get("/signals", params={"symbol": symbol, "until": until, "limit": 1}).json()
    assert datetime.fromisoformat(at["items"][0]["as_of"]) == changed_at
    assert at["items"][0]["action"] == to_action
    assert earlier["items"][0]["action"] == from_action

    # the trader watches the symbol: the cycle notified them in the app too
    badge = page.locator("#bell-badge")
    expect(badge).to_have_text(re.compile(r"^(\d+|99\+)$"))
    title = f"{symbol} 1h: {from_action} → {to_action}"
    page.get_by_role("button", name=re.compile("^Notifications")).click()
    notice = (
        page.locator("#notif-drawer .notif")
        .filter(has_text=title)
        .filter(has_text=changed_at.strftime("%Y-%m-%d %H:%M UTC"))  # the trader set no time zone
    )
    expect(notice).to_have_class(re.compile("is-unread"))
    tab.shot("05-notifications")
    notice.click()
    expect(notice).not_to_have_class(re.compile("is-unread"))

    page.goto("/")  # a signed-in browser goes on from the landing page
    page.wait_for_url("**/dashboard")
    assert not [e for e in tab.errors if "Content Security Policy" in e or "page error" in e], tab.errors


def open_directional_chart(tab: Tab) -> str:
    """Open the chart of a watched symbol whose newest signal is BUY or SELL and wait until it is drawn with that
    signal's stop-loss and take-profit levels; returns the symbol. The replay goes on meanwhile, so when the symbol
    turns HOLD before its chart is drawn, another is tried (at most four)."""
    page = tab.page
    tried: list[str] = []
    for _ in range(4):
        symbol = page.wait_for_function(DIRECTIONAL_JS, arg=tried, timeout=30_000).json_value()
        row(tab, symbol).get_by_role("button", name=f"Open the {symbol} chart").click()
        expect(page.locator("#chart-symbol")).to_have_text(symbol)
        expect(page.locator("#chart-overlay")).to_be_hidden()
        if page.evaluate(LEVELS_JS) >= 2 and re.search(
            "BUY|SELL", page.locator("#chart-action").inner_text()
        ):
            return symbol
        tried.append(symbol)
    pytest.fail(f"no chart with a BUY or SELL signal's levels among {tried}")


def test_opening_a_chart_draws_candles_indicators_and_signal_markers(open_tab) -> None:  # type: ignore[no-untyped-def]
    tab = open_tab()
    sign_in(tab, "trader")
    wait_ready(tab)
    page = tab.page
    old_token = page.evaluate("JSON.parse(sessionStorage.getItem('tsbot.session')).access_token")
    with page.expect_response("**/api/v1/auth/refresh") as refreshed:
        # the access token is about to expire: the next call refreshes it first
        page.evaluate(
            """() => { const s = JSON.parse(sessionStorage.getItem('tsbot.session'));
            s.access_expires_at = new Date(Date.now() + 5000).toISOString();
            sessionStorage.setItem('tsbot.session', JSON.stringify(s)); }"""
        )
        symbol = open_directional_chart(tab)
    assert refreshed.value.status == 200
    assert page.evaluate("JSON.parse(sessionStorage.getItem('tsbot.session')).access_token") != old_token
    expect(page.locator("#chart .main-svg").first).to_be_visible()
    traces = page.evaluate("document.getElementById('chart').data.map(t => [t.type, t.name])")
    types = {t for t, _ in traces}
    names = {n for _, n in traces}
    assert "candlestick" in types and {"SMA 20", "SMA 50", "RSI 14"} <= names
    assert names & {"BUY signal", "SELL signal"}, (symbol, names)  # the stored signals, marked
    expect(page.locator("#chart-asof")).to_contain_text("2022")  # bars up to the replay clock
    expect(page.locator("#signal-reasons li").first).to_be_visible()
    page.get_by_role("button", name="Bollinger").click()
    expect(page.get_by_role("button", name="Bollinger")).to_have_attribute("aria-pressed", "true")
    expect(page.locator("#chart .legendtext", has_text="Bollinger")).to_be_visible()
    expect(page.locator("#sentiment-body .gauge")).to_be_visible()
    tab.shot("06-chart")

    page.get_by_role("button", name="Tom Trader").click()
    page.get_by_role("menuitem", name="Sign out").click()
    page.wait_for_url("**/login**")
    expect(page.locator("#login-banner")).to_have_text("You signed out.")
    assert page.evaluate("sessionStorage.getItem('tsbot.session')") is None


def test_paper_order_from_a_new_account_shows_the_position(open_tab) -> None:  # type: ignore[no-untyped-def]
    """Bad input: a quantity of zero is refused before anything is sent."""
    tab = open_tab()
    sign_in(tab, "newcomer")
    wait_ready(tab)
    page = tab.page
    expect(page.get_by_text("No paper account yet", exact=True)).to_be_visible()
    page.get_by_role("button", name="Create paper account").click()
    form = page.locator("#order-form")
    expect(form).to_be_visible()
    expect(page.locator("#kpi-equity")).to_have_text("$10,000.00")
    # the bundled stocks are offered as TICKER/USD, the symbol the orders API trades them as
    expect(form.locator('optgroup[label="Stocks"] option[value="AAPL/USD"]')).to_have_count(1)
    form.get_by_label("Symbol").select_option("AAPL/USD")
    expect(form.get_by_role("button", name="Buy AAPL/USD")).to_be_visible()
    expect(page.locator("#order-last")).not_to_have_text("–")  # priced by the stock series AAPL
    form.get_by_label("Symbol").select_option("BTC/USDT")
    form.get_by_label("Quantity").fill("0")
    form.get_by_role("button", name="Buy BTC/USDT").click()
    expect(page.locator("#order-error")).to_contain_text("quantity above zero")
    form.get_by_label("Quantity").fill("0.05")
    form.get_by_role("button", name="Buy BTC/USDT").click()
    position = page.locator("#positions-body tr", has_text="BTC/USDT")
    expect(position).to_be_visible()
    expect(position.locator("td").nth(1)).to_have_text("0.05")
    expect(page.locator("#kpi-positions")).to_have_text("1")
    tab.shot("07-paper-position")

    form.get_by_label("Type").select_option("limit")
    form.get_by_label("Quantity").fill("0.01")
    form.get_by_label("Limit price").fill("1000")
    form.get_by_role("button", name="Buy BTC/USDT").click()
    expect(page.get_by_role("tab", name=re.compile("Orders"))).to_have_attribute("aria-selected", "true")
    expect(page.locator("#orders-body tr").first).to_contain_text("open")
    tab.shot("08-paper-orders")


def test_admin_deactivates_a_user_whose_open_page_is_signed_out(open_tab) -> None:  # type: ignore[no-untyped-def]
    """Bad input: the deactivated account signing in again."""
    leaver = open_tab()
    sign_in(leaver, "leaver")
    wait_ready(leaver)
    admin = open_tab()
    sign_in(admin, "admin", target="/admin")
    expect(admin.page.get_by_role("link", name="Admin", exact=True)).to_have_attribute("aria-current", "page")
    expect(admin.page.locator("body")).to_have_attribute("data-ready", "true", timeout=15_000)
    expect(admin.page.locator("#system-pill")).to_contain_text("Ready")
    user = admin.page.locator(f'#users-body tr[data-email="{PEOPLE["leaver"].email}"]')
    expect(user).to_contain_text("Active")
    admin.shot("09-admin")
    user.get_by_role("button", name="Deactivate").click()
    admin.page.get_by_role("dialog").get_by_role("button", name="Deactivate").click()
    expect(user).to_contain_text("Deactivated")

    leaver.page.wait_for_url("**/login**", timeout=8_000)
    expect(leaver.page.locator("#login-banner")).to_contain_text("deactivated")
    leaver.shot("10-deactivated-signed-out")
    expect(admin.page.locator("#activity-body")).to_contain_text("user.deactivated")
    admin.shot("11-admin-after")

    leaver.page.get_by_label("Email").fill(PEOPLE["leaver"].email)
    leaver.page.get_by_label("Password", exact=True).fill("correct horse battery staple 42")
    leaver.page.get_by_role("button", name="Sign in").click()
    expect(leaver.page.locator("#login-error")).to_contain_text("deactivated")


def test_phone_viewport_stacks_the_dashboard_without_horizontal_overflow(open_tab) -> None:  # type: ignore[no-untyped-def]
    tab = open_tab(PHONE, is_mobile=True, has_touch=True)
    sign_in(tab, "trader", remember=True)
    wait_ready(tab)
    page = tab.page
    assert page.evaluate("localStorage.getItem('tsbot.session') !== null")  # "keep me signed in"
    assert page.evaluate("sessionStorage.getItem('tsbot.session')") is None
    expect(page.locator("#chart .main-svg").first).to_be_visible()
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"the page is {overflow} px wider than the phone"
    boxes = [page.locator(sel).bounding_box() for sel in (".area-watch", ".area-chart", ".area-ticket")]
    assert all(b is not None and b["width"] <= PHONE["width"] for b in boxes)
    assert boxes[0]["y"] < boxes[1]["y"] < boxes[2]["y"]  # type: ignore[index]  # stacked, watchlist first
    tab.shot("12-dashboard-phone", full_page=True)
    page.get_by_role("button", name=re.compile("^Notifications")).click()
    expect(page.locator("#notif-drawer")).to_be_visible()
    tab.shot("13-phone-notifications")

    page.goto("/admin")  # a trader is no administrator: the page says so and loads no admin data
    expect(page.locator("#admin-denied")).to_be_visible()
    expect(page.locator("#admin-content")).to_be_hidden()
