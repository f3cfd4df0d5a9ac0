"""``tsbot order list|show`` on a real database (SQLite file and PostgreSQL): orders of two accounts in several
states stored through the order store, filtered by account and status, limited, shown with their status history
and fills, found by the short id the list prints; unknown ids and statuses refused."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from tests.integration.cli.conftest import Invoke, request, store_filled

from tsbot.trading.models import Order, OrderSide, OrderStatus, OrderType
from tsbot.trading.orders import client_order_id
from tsbot.wiring import Services

T0 = datetime(2026, 3, 2, 10, tzinfo=UTC)
PAPER, BINANCE = "paper:p1", "binance:k1"
FILLED = client_order_id(PAPER, "bot-1", "signal-7", "entry")
OPEN = client_order_id(PAPER, "bot-1", "signal-8", "entry")
CANCELLED = client_order_id(BINANCE, "manual", "stop-1")
REJECTED = "man-aaaa02"
NEAR_TWIN = "man-aaaa01"


async def _orders(services: Services) -> None:
    """Oldest first: a market buy of 1 BTC filled in two fills (0.4 at 50000 fee 20, 0.6 at 50100 fee 30.06:
    average (20000 + 30060) / 1 = 50060, fees 50.06); an open limit buy of 2 ETH at 2400; a stop-limit sell on
    binance:k1, cancelled; two manual orders with ids sharing the prefix man-aaaa0, one rejected."""
    entry = request(FILLED, PAPER, "BTC/USDT", OrderSide.BUY, "1", reason="signal BTC/USDT BUY 0.62")
    await store_filled(
        services, entry, T0, [("0.4", "50000", "20", "USDT"), ("0.6", "50100", "30.06", "USDT")]
    )
    limit = request(
        OPEN, PAPER, "ETH/USDT", OrderSide.BUY, "2", OrderType.LIMIT, price="2400", reason="dip buy"
    )
    waiting = Order.new(limit, T0 + timedelta(hours=1))
    waiting.move(OrderStatus.OPEN, T0 + timedelta(hours=1, seconds=2), "accepted by the venue")
    assert await services.orders.add(waiting)
    stop = request(
        CANCELLED,
        BINANCE,
        "BTC/USDT",
        OrderSide.SELL,
        "0.1",
        OrderType.STOP_LIMIT,
        price="47000",
        stop="47500",
    )
    gone = Order.new(stop, T0 + timedelta(hours=2))
    assert await services.orders.add(gone)
    gone.move(OrderStatus.OPEN, T0 + timedelta(hours=2, seconds=1), "accepted by the venue")
    gone.move(OrderStatus.CANCELLED, T0 + timedelta(hours=3), "cancelled by the user")
    await services.orders.save(gone)
    twin = Order.new(request(NEAR_TWIN, BINANCE, "SOL/USDT", OrderSide.BUY, "1"), T0 + timedelta(hours=4))
    assert await services.orders.add(twin)
    refused = Order.new(
        request(REJECTED, BINANCE, "SOL/USDT", OrderSide.BUY, "1000"), T0 + timedelta(hours=5)
    )
    refused.move(
        OrderStatus.REJECTED, T0 + timedelta(hours=5, seconds=1), "insufficient balance: needs 150000 USDT"
    )
    assert await services.orders.add(refused)


def test_list_filters_by_account_and_status_and_limits(
    tsbot: Invoke, with_services: Callable[..., object]
) -> None:
    empty = tsbot("order", "list")
    assert empty.exit_code == 0 and "No orders match." in empty.stdout
    with_services(_orders)
    listed = tsbot("order", "list")
    assert listed.exit_code == 0, listed.output
    lines = [line for line in listed.stdout.splitlines() if re.match(r"\s*2026-03-02 ", line)]
    ids = [REJECTED, NEAR_TWIN, CANCELLED[:12], OPEN[:12], FILLED[:12]]  # newest first
    assert [line.split()[2] for line in lines] == ids
    filled_row = (
        r"2026-03-02 10:00:00\s+{}\s+paper:p1\s+BTC/USDT\s+buy\s+market\s+1\s+-\s+filled\s+1\s+50060\s+50\.06"
    )
    assert re.search(filled_row.format(FILLED[:12]), listed.stdout)
    assert re.search(
        rf"{CANCELLED[:12]}\s+binance:k1\s+BTC/USDT\s+sell\s+stop_limit\s+0\.1\s+47000 / stop 47500",
        listed.stdout,
    )
    assert "rejected: insufficient balance: needs 150000 USDT" in listed.stdout
    assert "dip buy" in listed.stdout and "cancelled: cancelled by the user" in listed.stdout

    only_open = json.loads(tsbot("order", "list", "--status", "open", "--json").stdout)
    assert [(o["client_order_id"], o["price"], o["status"]) for o in only_open] == [(OPEN, "2400", "open")]
    final = json.loads(tsbot("order", "list", "--status", "FILLED", "--status", "cancelled", "--json").stdout)
    assert [o["client_order_id"] for o in final] == [CANCELLED, FILLED]
    assert (final[1]["filled_qty"], final[1]["avg_fill_price"], final[1]["fees"]) == ("1", "50060", "50.06")
    paper = json.loads(tsbot("order", "list", "--account", PAPER, "--json").stdout)
    assert [o["client_order_id"] for o in paper] == [OPEN, FILLED]
    both = json.loads(
        tsbot("order", "list", "--account", PAPER, "--account", BINANCE, "--limit", "2", "--json").stdout
    )
    assert [o["client_order_id"] for o in both] == [REJECTED, NEAR_TWIN]
    assert json.loads(tsbot("order", "list", "--account", "kraken:none", "--json").stdout) == []

    bad = tsbot("order", "list", "--status", "done")  # bad input: not a status
    assert (
        bad.exit_code == 2 and "status 'done' is not one of new, open, partially_filled, filled" in bad.stderr
    )
    zero = tsbot("order", "list", "--limit", "0")  # bad input: a limit under 1
    assert zero.exit_code == 2


def test_show_prints_history_and_fills(tsbot: Invoke, with_services: Callable[..., object]) -> None:
    with_services(_orders)
    shown = tsbot("order", "show", FILLED)
    assert shown.exit_code == 0, shown.output
    out = shown.stdout
    assert f"order {FILLED} (filled)" in out and "buy 1 BTC/USDT market, price -" in out
    assert "filled 1 at avg 50060, fees 50.06" in out and "reason: signal BTC/USDT BUY 0.62" in out
    history = [
        r"10:00:00\s+-\s+new\s+created",
        r"10:00:01\s+new\s+open\s+accepted by the venue",
        r"10:01:00\s+open\s+partially_filled\s+fill 1: 0\.4 at 50000",
        r"10:02:00\s+partially_filled\s+filled\s+fill 2: 0\.6 at 50100",
    ]
    found = [re.search(h, out) for h in history]
    starts = [m.start() for m in found if m is not None]
    assert len(starts) == 4 and starts == sorted(starts)  # every move, in the order they happened
    assert re.search(rf"10:01:00\s+{FILLED}-f1\s+buy\s+0\.4\s+50000\s+20 USDT", out)
    assert re.search(rf"10:02:00\s+{FILLED}-f2\s+buy\s+0\.6\s+50100\s+30\.06 USDT", out)

    data = json.loads(tsbot("order", "show", FILLED, "--json").stdout)
    assert [(h["from"], h["to"]) for h in data["history"]] == [
        (None, "new"),
        ("new", "open"),
        ("open", "partially_filled"),
        ("partially_filled", "filled"),
    ]
    assert [(f["qty"], f["price"], f["fee"]) for f in data["fills"]] == [
        ("0.4", "50000", "20"),
        ("0.6", "50100", "30.06"),
    ]
    assert data["created_at"] == "2026-03-02T10:00:00+00:00" and data["avg_fill_price"] == "50060"

    short = tsbot("order", "show", CANCELLED[:12])  # the short id `order list` prints
    assert short.exit_code == 0 and f"order {CANCELLED} (cancelled)" in short.stdout
    assert re.search(r"13:00:00\s+open\s+cancelled\s+cancelled by the user", short.stdout)
    assert "price 47000 / stop 47500" in short.stdout and "no fills" in short.stdout
    rejected = tsbot("order", "show", REJECTED, "--json")
    assert json.loads(rejected.stdout)["history"][-1]["reason"] == "insufficient balance: needs 150000 USDT"

    unknown = tsbot("order", "show", "tsb-doesnotexist")  # bad input: an id no order has
    assert unknown.exit_code == 1 and "no order with client id tsb-doesnotexist" in unknown.stderr
    shared = tsbot("order", "show", "man-aaaa0")  # bad input: a prefix two orders share
    assert shared.exit_code == 1 and "matches several orders (man-aaaa01, man-aaaa02" in shared.stderr
    wildcard = tsbot("order", "show", "man-aaaa_2")  # bad input: "_" is no wildcard; no id holds it
    assert wildcard.exit_code == 1 and "no order with client id man-aaaa_2" in wildcard.stderr
