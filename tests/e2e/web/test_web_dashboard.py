"""The web dashboard in Chromium against a running server (see conftest.py): signing in, a signal change arriving
over the WebSocket without a reload, the chart, a paper order from a brand-new account to its position, an admin
deactivating a user whose open page is then signed out, and the phone layout. Screenshots of each step go to the
artefacts folder.

Bad input tried: a wrong password at sign-in, and a deactivated account signing in again.
"""

from __future__ import annotations

import re

import httpx
import pytest
from playwright.sync_api import expect
from web_world import CRYPTO, PEOPLE

from conftest import PHONE, LiveServer, Tab, sign_in
from tsbot.adapters.storage.signal_queries import SignalFilter, SqlSignalQueries

pytestmark = pytest.mark.slow


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


def test_sign_in_then_a_signal_change_arrives_without_a_reload(open_tab, live_server: LiveServer) -> None:  # type: ignore[no-untyped-def]
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
    pending = live_server.pending
    symbol = pending.key.symbol
    for each in CRYPTO:
        expect(row(tab, each)).to_be_visible()
    expect(row(tab, symbol).locator(".action")).to_have_text(pending.from_action)
    tab.shot("03-dashboard")

    page.evaluate("window.__sameDocument = true")
    changes = live_server.close_pending_bar()
    assert [(c.key.symbol, c.to_action.value) for c in changes] == [(symbol, pending.to_action)]
    expect(row(tab, symbol).locator(".action")).to_have_text(pending.to_action, timeout=5_000)
    expect(row(tab, symbol)).to_have_class(re.compile(r"\bflash\b"))
    expect(page.locator(".toast").filter(has_text=symbol)).to_contain_text(pending.to_action)
    assert page.evaluate("window.__sameDocument") is True  # no reload happened
    changed = row(tab, symbol).get_attribute("data-changed-at")
    assert changed and changed.startswith(pending.closes_at.isoformat()[:16])
    page.wait_for_timeout(300)  # the toast's entrance
    tab.shot("04-signal-change")

    badge = page.locator("#bell-badge")
    expect(badge).to_have_text("1")  # the welcome notification
    live_server.notify_change("trader", changes[0])
    expect(badge).to_have_text("2")
    page.get_by_role("button", name=re.compile("^Notifications")).click()
    newest = page.locator("#notif-drawer .notif").first
    expect(newest).to_contain_text(symbol)
    expect(newest).to_have_class(re.compile("is-unread"))
    tab.shot("05-notifications")
    newest.click()
    expect(badge).to_have_text("1")

    page.goto("/")  # a signed-in browser goes on from the landing page
    page.wait_for_url("**/dashboard")
    assert not [e for e in tab.errors if "Content Security Policy" in e or "page error" in e], tab.errors


def test_opening_a_chart_draws_candles_indicators_and_signal_markers(
    open_tab, live_server: LiveServer
) -> None:  # type: ignore[no-untyped-def]
    latest, _ = live_server.call(
        lambda: SqlSignalQueries(live_server.services.db).newest_per_series(SignalFilter(symbols=CRYPTO))
    )
    directional = sorted(s.signal.key.symbol for s in latest if s.signal.action.value != "HOLD")
    assert directional, "the seeded history holds no BUY or SELL signal to mark"
    symbol = directional[0]
    tab = open_tab()
    sign_in(tab, "trader")
    wait_ready(tab)
    page = tab.page
    # the access token is about to expire: the next call refreshes it first
    page.evaluate(
        """() => { const s = JSON.parse(sessionStorage.getItem('tsbot.session'));
        s.access_expires_at = new Date(Date.now() + 5000).toISOString();
        sessionStorage.setItem('tsbot.session', JSON.stringify(s)); }"""
    )
    old_token = page.evaluate("JSON.parse(sessionStorage.getItem('tsbot.session')).access_token")
    with page.expect_response("**/api/v1/auth/refresh") as refreshed:
        row(tab, symbol).get_by_role("button", name=f"Open the {symbol} chart").click()
    assert refreshed.value.status == 200
    assert page.evaluate("JSON.parse(sessionStorage.getItem('tsbot.session')).access_token") != old_token
    expect(page.locator("#chart-symbol")).to_have_text(symbol)
    expect(page.locator("#chart .main-svg").first).to_be_visible()
    expect(page.locator("#chart-overlay")).to_be_hidden()
    traces = page.evaluate("document.getElementById('chart').data.map(t => [t.type, t.name])")
    types = {t for t, _ in traces}
    names = {n for _, n in traces}
    assert "candlestick" in types and {"SMA 20", "SMA 50", "RSI 14"} <= names
    assert names & {"BUY signal", "SELL signal"}
    shapes = page.evaluate(
        "document.getElementById('chart').layout.shapes.filter(s => s.yref === 'y').length"
    )
    assert shapes >= 2  # the latest signal's stop-loss and take-profit levels
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
