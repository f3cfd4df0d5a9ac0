"""Fixtures of the browser tests: ``tsbot serve --replay`` as a user runs it (a child process on a free port over a
fresh SQLite database, its users and accounts set up as :mod:`web_world` says), and Debian's Chromium driven by
Playwright.

Without ``/usr/bin/chromium`` the tests skip with the reason (locally) or fail (in CI, ``CI=true``). Screenshots go
to ``$TSBOT_ARTIFACTS_DIR/screenshots`` (default ``artifacts/screenshots`` under the repository root).
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, Page, Playwright, sync_playwright
from web_world import EXE, PASSWORD, PEOPLE, create_users, serve_env, set_up_accounts

CHROMIUM = Path("/usr/bin/chromium")
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
ROOT = Path(__file__).resolve().parents[3]
LAPTOP = {"width": 1440, "height": 900}
PHONE = {"width": 390, "height": 844}
#: Replayed seconds per second and seconds between cycles: each cycle moves the replay clock one hour on.
REPLAY_SPEED = "3600"
CYCLE_INTERVAL_S = "1"
#: Seconds ``tsbot serve`` may take to import the bundled data and answer /health.
START_TIMEOUT_S = 120.0


#: Read when the module is imported: the suite's autouse fixture clears every ``TSBOT_*`` variable during a test.
ARTIFACTS = Path(os.environ.get("TSBOT_ARTIFACTS_DIR") or ROOT / "artifacts")


def artifacts_dir() -> Path:
    """Where screenshots go: ``$TSBOT_ARTIFACTS_DIR/screenshots``, else ``<repo>/artifacts/screenshots``."""
    folder = ARTIFACTS / "screenshots"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture(scope="session", autouse=True)
def _chromium_present() -> None:
    if not CHROMIUM.exists():
        reason = f"{CHROMIUM} is missing: install Debian's chromium package (apt-get install chromium)"
        if IN_CI:
            pytest.fail(reason)
        pytest.skip(reason)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class LiveServer:
    """The running ``tsbot serve --replay`` child process: its URL and its combined output file."""

    base_url: str
    child: subprocess.Popen[bytes]
    log: Path

    def output(self, chars: int = 4000) -> str:
        """The last ``chars`` characters of the server's output (for failure messages)."""
        return self.log.read_text(errors="replace")[-chars:]

    def cycles_run(self) -> float:
        """Monitoring cycles run so far (the ``tsbot_cycle_runs_total`` metric)."""
        metrics = httpx.get(f"{self.base_url}/api/v1/metrics", timeout=5).text
        found = re.search(r"^tsbot_cycle_runs_total (\S+)$", metrics, re.M)
        return float(found.group(1)) if found else 0.0

    def wait_healthy(self) -> None:
        """Wait until /health answers 200 (the bundled data is imported by then).

        Raises:
            pytest.fail.Exception: the process ended, or did not answer within :data:`START_TIMEOUT_S`.
        """
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            if self.child.poll() is not None:
                pytest.fail(f"tsbot serve exited with {self.child.returncode}:\n{self.output()}")
            try:
                if httpx.get(f"{self.base_url}/api/v1/health", timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(
                    f"tsbot serve did not answer /health within {START_TIMEOUT_S} s:\n{self.output()}"
                )
            time.sleep(0.2)

    def stop(self) -> None:
        """SIGTERM, then SIGKILL after 30 s."""
        if self.child.poll() is None:
            self.child.terminate()
            try:
                self.child.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.child.kill()
                self.child.wait(timeout=10)


@pytest.fixture(scope="module")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """``tsbot serve --replay --speed 3600 --interval 1`` on a free localhost port over a fresh database, with the
    users of :data:`web_world.PEOPLE` and their accounts; stopped after the module."""
    data_dir = tmp_path_factory.mktemp("tsbot-serve")
    env = serve_env(data_dir)
    port = _free_port()
    log = data_dir / "serve.log"
    args = ["serve", "--replay", "--speed", REPLAY_SPEED, "--interval", CYCLE_INTERVAL_S, "--port", str(port)]
    with log.open("wb") as out:
        child = subprocess.Popen([EXE, *args], env=env, stdout=out, stderr=subprocess.STDOUT)
    server = LiveServer(f"http://127.0.0.1:{port}", child, log)
    try:
        server.wait_healthy()
        create_users(env, server.base_url)
        set_up_accounts(server.base_url)
        assert server.cycles_run() >= 1, server.output()
        yield server
    finally:
        server.stop()


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
