"""Fixtures of the browser tests: a real tsbot server (uvicorn in a thread serving
``create_app(services, routers=[web_router()])`` over a fresh SQLite database seeded by :mod:`web_world`) and
Debian's Chromium driven by Playwright.

Without ``/usr/bin/chromium`` the tests skip with the reason (locally) or fail (in CI, ``CI=true``). Screenshots go
to ``$TSBOT_ARTIFACTS_DIR/screenshots`` (default ``artifacts/screenshots`` under the repository root).
"""

from __future__ import annotations

import asyncio
import os
import socket
import threading
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from playwright.sync_api import Browser, BrowserContext, Page, Playwright, sync_playwright
from web_world import PASSWORD, PEOPLE, PendingChange, create_people, find_pending_change, seed

from tsbot.adapters.events import publish_status_changes
from tsbot.apps.api.app import create_app
from tsbot.apps.api.events import bus_of
from tsbot.apps.web.pages import web_router
from tsbot.config import load_settings
from tsbot.core.time import utc_now
from tsbot.market.service import import_candles
from tsbot.notify.models import NotificationRequest, NotificationType
from tsbot.signals.models import StatusChange
from tsbot.wiring import Services, open_services

CHROMIUM = Path("/usr/bin/chromium")
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
ROOT = Path(__file__).resolve().parents[3]
LAPTOP = {"width": 1440, "height": 900}
PHONE = {"width": 390, "height": 844}
T = TypeVar("T")


def artifacts_dir() -> Path:
    """Where screenshots go: ``$TSBOT_ARTIFACTS_DIR/screenshots``, else ``<repo>/artifacts/screenshots``."""
    base = Path(os.environ.get("TSBOT_ARTIFACTS_DIR") or ROOT / "artifacts")
    folder = base / "screenshots"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture(scope="session", autouse=True)
def _chromium_present() -> None:
    if not CHROMIUM.exists():
        reason = f"{CHROMIUM} is missing: install Debian's chromium package (apt-get install chromium)"
        if IN_CI:
            pytest.fail(reason)
        pytest.skip(reason)


@dataclass
class LiveServer:
    """The running server: its URL, app, services and event loop (run coroutines there with :meth:`call`)."""

    base_url: str
    app: FastAPI
    services: Services
    loop: asyncio.AbstractEventLoop
    pending: PendingChange
    people: dict[str, str]

    def call(self, make: Callable[[], Awaitable[T]], timeout: float = 20) -> T:
        """Run ``make()`` on the server's loop and wait for its result."""

        async def run() -> T:
            return await make()

        return asyncio.run_coroutine_threadsafe(run(), self.loop).result(timeout)

    def close_pending_bar(self) -> list[StatusChange]:
        """What the monitoring cycle does when the held-back bar of the live series closes: store it, scan the
        series, push the stored status changes to the WebSocket hub. Returns the changes."""
        pending = self.pending

        async def step() -> list[StatusChange]:
            await import_candles(self.services.candles, pending.key, pending.asset_class, pending.bar)
            result = await self.services.scan_service().scan(
                [pending.key.symbol], timeframe=pending.key.timeframe
            )
            await publish_status_changes(bus_of(self.app), result.status_changes)
            return list(result.status_changes)

        return self.call(step)

    def notify_change(self, who: str, change: StatusChange) -> None:
        """Notify ``who`` (a key of :data:`web_world.PEOPLE`) of ``change`` in the app and send it, as the
        monitoring cycle does: the in-app delivery is pushed on the WebSocket's ``notifications`` channel."""

        async def step() -> None:
            signal = await self.services.signals.latest(change.key)
            assert signal is not None
            request = NotificationRequest(
                self.people[who],
                NotificationType.SIGNAL_CHANGED,
                f"signal:{change.key}:{change.changed_at.isoformat()}",
                {
                    "symbol": change.key.symbol,
                    "timeframe": change.key.timeframe.value,
                    "exchange": change.key.exchange,
                    "from_action": change.from_action.value if change.from_action else None,
                    "to_action": change.to_action.value,
                    "score": round(change.score, 2),
                    "confidence": round(signal.confidence, 2),
                    "price": signal.price,
                    "reasons": signal.reasons[:2],
                    "changed_at": change.changed_at,
                },
            )
            service = self.services.notifications(bus_of(self.app))
            assert await service.enqueue([request], now=utc_now()) == 1
            await service.dispatch(now=utc_now())

        self.call(step)


@pytest.fixture(scope="module")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """The server on a free localhost port, for the module; stopped afterwards."""
    with pytest.MonkeyPatch.context() as env:
        for name in [n for n in os.environ if n.startswith("TSBOT_") and n != "TSBOT_ARTIFACTS_DIR"]:
            env.delenv(name)
        yield from _serve(tmp_path_factory)


def _serve(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    data_dir = tmp_path_factory.mktemp("tsbot-web")
    scratch = tmp_path_factory.mktemp("tsbot-probe")
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    started = threading.Event()
    box: dict[str, Any] = {}

    async def main() -> None:
        settings = load_settings(
            database_url=f"sqlite+aiosqlite:///{data_dir / 'tsbot.sqlite'}", data_dir=data_dir
        )
        pending = await find_pending_change(scratch)
        async with open_services(settings) as services:
            await seed(services, pending)
            app = create_app(services, routers=[web_router()])
            people = await create_people(services, app)
            server = uvicorn.Server(
                uvicorn.Config(app, log_level="warning", lifespan="on", ws="websockets-sansio")
            )
            task = asyncio.create_task(server.serve(sockets=[sock]))
            while not server.started and not task.done():
                await asyncio.sleep(0.02)
            loop = asyncio.get_running_loop()
            box.update(app=app, services=services, server=server, loop=loop, pending=pending, people=people)
            started.set()
            await task

    def run() -> None:
        try:
            asyncio.run(main())
        except BaseException as exc:  # surfaced to the fixture below
            box["error"] = exc
        finally:
            started.set()

    thread = threading.Thread(target=run, name="tsbot-web-server", daemon=True)
    thread.start()
    assert started.wait(120), "the server did not start within 120 s"
    if "error" in box or "server" not in box:
        raise RuntimeError(f"the server failed to start: {box.get('error')!r}")
    try:
        _trade_as(f"http://127.0.0.1:{port}", "trader")
        yield LiveServer(
            f"http://127.0.0.1:{port}",
            box["app"],
            box["services"],
            box["loop"],
            box["pending"],
            box["people"],
        )
    finally:
        box["server"].should_exit = True
        thread.join(30)
        sock.close()


def _trade_as(base_url: str, who: str) -> None:
    """Give ``who`` a funded paper portfolio with three filled buys and a resting limit order, through the API."""
    with httpx.Client(base_url=base_url + "/api/v1", timeout=20) as api:
        login = api.post("/auth/login", json={"email": PEOPLE[who].email, "password": PASSWORD})
        login.raise_for_status()
        api.headers["Authorization"] = f"Bearer {login.json()['access_token']}"
        made = api.post("/portfolios", json={"name": "Swing book", "base_currency": "USD"})
        made.raise_for_status()
        pid = made.json()["portfolio_id"]
        api.post(f"/portfolios/{pid}/deposit", json={"asset": "USDT", "amount": "25000"}).raise_for_status()
        orders = [
            {"symbol": "BTC/USDT", "quantity": "0.25"},
            {"symbol": "ETH/USDT", "quantity": "3"},
            {"symbol": "SOL/USDT", "quantity": "60"},
            {"symbol": "ETH/USDT", "quantity": "1", "type": "limit", "price": "1050"},
        ]
        for order in orders:
            api.post("/orders", json={"portfolio_id": pid, "side": "buy", **order}).raise_for_status()


@pytest.fixture(scope="module")
def playwright_driver() -> Iterator[Playwright]:
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="module")
def browser(playwright_driver: Playwright) -> Iterator[Browser]:
    chromium = playwright_driver.chromium.launch(
        executable_path=str(CHROMIUM), headless=True, args=["--no-sandbox", "--disable-dev-shm-usage"]
    )
    try:
        yield chromium
    finally:
        chromium.close()


@dataclass
class Tab:
    """A browser page with what went wrong in it: console errors, failed requests, CSP violations."""

    page: Page
    context: BrowserContext
    errors: list[str]

    def shot(self, name: str, *, full_page: bool = False) -> Path:
        """Save a screenshot ``<name>.png`` to the artefacts folder."""
        path = artifacts_dir() / f"{name}.png"
        self.page.screenshot(path=str(path), full_page=full_page)
        return path


@pytest.fixture
def open_tab(browser: Browser, live_server: LiveServer) -> Iterator[Callable[..., Tab]]:
    """``open_tab(viewport=LAPTOP)``: a new browser context and page on the server (closed after the test)."""
    contexts: list[BrowserContext] = []

    def make(viewport: dict[str, int] = LAPTOP, **options: Any) -> Tab:
        context = browser.new_context(
            base_url=live_server.base_url,
            viewport=viewport,
            timezone_id="Europe/Berlin",
            locale="en-GB",
            device_scale_factor=1,
            **options,
        )
        context.set_default_timeout(8_000)
        contexts.append(context)
        page = context.new_page()
        errors: list[str] = []
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda exc: errors.append(f"page error: {exc}"))
        return Tab(page, context, errors)

    yield make
    for context in contexts:
        context.close()


def sign_in(tab: Tab, who: str, *, remember: bool = False, target: str = "/dashboard") -> None:
    """Sign ``who`` (a key of :data:`web_world.PEOPLE`) in through the sign-in page and wait until the browser is
    on ``target`` (where the sign-in page sends it)."""
    page = tab.page
    page.goto(f"/login?next={target}")
    page.get_by_label("Email").fill(PEOPLE[who].email)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    if remember:
        page.get_by_label("Keep me signed in").check()
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"**{target}", wait_until="domcontentloaded")
