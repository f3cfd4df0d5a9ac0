"""A bot process killed with SIGKILL while it submits an order, then a restart that reconciles, on a real database
(SQLite file and PostgreSQL) against the local Binance-shaped venue.

The child (``tests.support.crash_child``) stores the order NEW and sends it; the test kills it at a known point:
after the venue has recorded the order but before the answer arrives (the venue holds it), or while the request is
still on its way (it went to a port that never passes it on). A fresh store, broker and service in this process then
play the restarted bot.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import pytest
from tests.support.crash_child import API_KEY, SECRET, crash_request
from tests.support.fake_binance import FakeBinance

from tsbot.adapters.brokers.ccxt_broker import CcxtBroker
from tsbot.config import load_settings
from tsbot.trading.models import Order, OrderRequest, OrderStatus, OrderType
from tsbot.trading.service import OrderService, ReconcileReport
from tsbot.wiring import open_services

ORDER = "/api/v3/order"
ROOT = Path(__file__).resolve().parents[3]
WAIT_S = 30.0  # every wait on the child or the venue gives up after this, so a hang fails the test (a busy
# 2-core machine running the suite in two processes needs well over 8 s to start a child that imports tsbot)


@pytest.fixture
def venue() -> Iterator[FakeBinance]:
    with FakeBinance(api_key=API_KEY) as server:
        server.set_price("BTC/USDT", "61000.50")
        yield server


class Blackhole:
    """A local port that accepts connections and reads what arrives but never answers nor passes anything on: a
    request sent here is lost on its way to the venue."""

    def __init__(self) -> None:
        self._server = socket.create_server(("127.0.0.1", 0))
        self._server.settimeout(0.02)
        self._conns: list[socket.socket] = []
        self.received = b""

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.getsockname()[1]}"

    def poll(self) -> bytes:
        """Accept and read what is waiting (without blocking for long); all bytes received so far."""
        try:
            conn, _ = self._server.accept()
            conn.settimeout(0.02)
            self._conns.append(conn)
        except TimeoutError:
            pass
        for conn in self._conns:
            try:
                self.received += conn.recv(65536)
            except TimeoutError:
                continue
        return self.received

    def close(self) -> None:
        for conn in self._conns:
            conn.close()
        self._server.close()


def start_child(
    database_url: str, tmp_path: Path, public: str, private: str, leg: str, *extra: str
) -> subprocess.Popen[bytes]:
    log = (tmp_path / f"child-{leg}.log").open("wb")
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
    }
    args = ["--database-url", database_url, "--data-dir", str(tmp_path / "child-data")]
    args += ["--public-url", public, "--private-url", private, "--signal", "sig-42", "--leg", leg, *extra]
    try:
        return subprocess.Popen(
            [sys.executable, "-m", "tests.support.crash_child", *args],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    finally:
        log.close()


def wait_then_kill(child: subprocess.Popen[bytes], ready: Callable[[], bool], what: str, log: Path) -> None:
    """Wait (at most WAIT_S) until ``ready()``, then SIGKILL the child and check it died of that signal."""
    deadline = time.monotonic() + WAIT_S
    while not ready():
        if child.poll() is not None:
            pytest.fail(f"the child exited ({child.returncode}) before {what}:\n{log.read_text()}")
        if time.monotonic() > deadline:
            child.kill()
            child.wait(WAIT_S)
            pytest.fail(f"no {what} within {WAIT_S}s:\n{log.read_text()}")
        time.sleep(0.01)
    os.kill(child.pid, signal.SIGKILL)
    child.wait(WAIT_S)
    assert child.returncode == -signal.SIGKILL, log.read_text()


def posts_for(venue: FakeBinance, cid: str) -> int:
    return sum(
        1
        for m, path, p in venue.requests
        if m == "POST" and path == ORDER and p.get("newClientOrderId") == cid
    )


def venue_orders_for(venue: FakeBinance, cid: str) -> list[dict[str, object]]:
    return [o for o in venue.orders.values() if o["clientOrderId"] == cid]


@dataclass(slots=True)
class Restarted:
    """What the restarted bot saw: the reconcile report (None when it retried the signal first), the order as
    stored at the end, what the retried ``submit`` returned, and the stored fills."""

    report: ReconcileReport | None
    stored: Order
    again: Order
    fills: list[tuple[str, Decimal, Decimal, Decimal, str]]


async def restart(
    database_url: str, tmp_path: Path, venue: FakeBinance, first: str, request: OrderRequest
) -> Restarted:
    """The restarted bot: fresh services and broker. ``first`` is what it does first: ``"reconcile"`` (then it
    retries the signal) or ``"resubmit"`` (the signal's retry, then a reconcile that must find nothing amiss)."""
    settings = load_settings(database_url=database_url, data_dir=tmp_path / "restart-data")
    broker = CcxtBroker(
        "binance", api_key=API_KEY, secret=SECRET, api_urls=venue.api_urls, timeout_s=3, retries=0
    )
    try:
        async with open_services(settings) as services:
            before = await services.orders.get(request.client_order_id)
            assert before is not None and before.status is OrderStatus.NEW  # stored, never acknowledged
            assert before.broker_order_id is None and [c.status_to for c in before.history] == [
                OrderStatus.NEW
            ]
            service = OrderService(services.orders, broker, request.account)
            report = None
            if first == "reconcile":
                report = await service.reconcile()
                again = await service.submit(request)
            else:
                again = await service.submit(request)
                later = await service.reconcile()
                assert (later.fixed, later.problems, later.unknown_at_venue) == ([], [], [])
            stored = await services.orders.get(request.client_order_id)
            assert stored is not None
            fills = [
                (f.fill_id, f.qty, f.price, f.fee, f.fee_currency)
                for f in await services.orders.fills(request.client_order_id)
            ]
    finally:
        await broker.close()
    return Restarted(report, stored, again, fills)


@pytest.mark.parametrize("first", ["reconcile", "resubmit"])
async def test_killed_after_the_venue_recorded_the_order_reconcile_finds_it_and_nothing_is_placed_twice(
    database_url: str, tmp_path: Path, venue: FakeBinance, first: str
) -> None:
    # the bad case: SIGKILL after the venue recorded (and filled) the order, before its answer was read
    request = crash_request("sig-42", "held")
    release = venue.hold_next_order()  # the venue records the POST, then keeps the answer
    child = start_child(database_url, tmp_path, venue.api_urls["public"], venue.api_urls["private"], "held")
    try:
        wait_then_kill(child, venue.order_received.is_set, "order at the venue", tmp_path / "child-held.log")
    finally:
        release.set()  # the answer now goes to a dead process
    (at_venue,) = venue_orders_for(venue, request.client_order_id)
    assert at_venue["status"] == "FILLED" and posts_for(venue, request.client_order_id) == 1

    seen = await restart(database_url, tmp_path, venue, first, request)
    report, stored, again, fills = seen.report, seen.stored, seen.again, seen.fills

    cid = request.client_order_id
    if report is not None:
        assert report.checked == 1 and report.fixed == [f"order {cid}: new -> filled from the venue"]
        assert report.problems == [] and report.unknown_at_venue == []
    assert stored.status is OrderStatus.FILLED and stored.broker_order_id == str(at_venue["orderId"])
    assert (stored.filled_qty, stored.avg_fill_price) == (Decimal("0.01"), Decimal("61000.50"))
    assert [(c.status_from, c.status_to) for c in stored.history] == [
        (None, OrderStatus.NEW),
        (OrderStatus.NEW, OrderStatus.FILLED),
    ]
    (trade,) = [t for t in venue.trades if t["orderId"] == at_venue["orderId"]]
    assert fills == [(str(trade["id"]), Decimal("0.01"), Decimal("61000.50"), Decimal("0.00001"), "BTC")]
    # the retried signal returned the stored order and sent nothing: one POST, one order at the venue
    assert again.status is OrderStatus.FILLED and again.broker_order_id == stored.broker_order_id
    assert posts_for(venue, cid) == 1 and len(venue_orders_for(venue, cid)) == 1


@pytest.mark.parametrize("first", ["reconcile", "resubmit"])
async def test_killed_before_the_order_reached_the_venue(
    database_url: str, tmp_path: Path, venue: FakeBinance, first: str
) -> None:
    # the bad case: SIGKILL after the order was stored NEW and sent, while the request never reached the venue
    request = crash_request("sig-42", "lost", OrderType.LIMIT, "0.01", "59000")
    cid = request.client_order_id
    hole = Blackhole()  # the order request goes here and never reaches the venue
    try:
        child = start_child(
            database_url,
            tmp_path,
            venue.api_urls["public"],
            hole.url + "/api/v3",
            "lost",
            *("--type", "limit", "--price", "59000"),
        )
        wait_then_kill(
            child,
            lambda: b"POST /api/v3/order" in hole.poll(),
            "order request sent",
            tmp_path / "child-lost.log",
        )
    finally:
        hole.close()
    assert cid.encode() in hole.received  # the killed child did send this order, into the void
    assert posts_for(venue, cid) == 0 and venue.orders == {}

    seen = await restart(database_url, tmp_path, venue, first, request)
    report, stored, again, fills = seen.report, seen.stored, seen.again, seen.fills

    if first == "reconcile":
        # Reconcile finds the order young (under its resend window) and unknown to the venue: it sends it now under
        # the same client id; the retried signal then gets that order back and sends nothing more.
        assert (
            report is not None
            and report.checked == 1
            and report.problems == []
            and report.unknown_at_venue == []
        )
        assert report.fixed == [f"order {cid} never reached the venue: sent now"]
    # either way the order is at the venue once, open at its limit price
    (at_venue,) = venue_orders_for(venue, cid)
    assert (
        posts_for(venue, cid) == 1 and at_venue["status"] == "NEW" and at_venue["price"] == "59000.00000000"
    )
    assert again.status is OrderStatus.OPEN and again.broker_order_id == str(at_venue["orderId"])
    assert stored.status is OrderStatus.OPEN and stored.broker_order_id == again.broker_order_id
    assert fills == []
