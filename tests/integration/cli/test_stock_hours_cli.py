"""``tsbot order place`` on a stock follows the rule of the API's desk (SQLite file and PostgreSQL): a stock paper
order is placed only in the NYSE's regular session; outside it the command exits with code 1 and the desk's own
reason (the time the next session opens), the refused order is stored as rejected and the account is left as it
was. Crypto trades at any time.

The command's clock is fixed as the API tests fix ``services.clock``: every ``tsbot`` run of a test gets services
whose clock reads the time the test set, with the NYSE calendar of 2025.

Bad input tried: a stock buy on a Saturday, at 03:00 New York time on a weekday, a limit order at 22:00, and a
sell of a held stock on a Saturday.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from tests.integration.cli.conftest import Invoke, store_candles

from tsbot.apps.cli import paper_trade
from tsbot.config import Settings
from tsbot.market.models import Timeframe
from tsbot.trading.market_hours import MarketHours
from tsbot.trading.models import OrderStatus
from tsbot.wiring import Services, open_services

NEW_YORK = ZoneInfo("America/New_York")
SATURDAY = datetime(2025, 3, 8, 11, tzinfo=NEW_YORK)
NIGHT = datetime(2025, 3, 5, 3, tzinfo=NEW_YORK)  # a Wednesday, 03:00 in New York
EVENING = datetime(2025, 3, 5, 22, tzinfo=NEW_YORK)
IN_SESSION = datetime(2025, 3, 5, 11, tzinfo=NEW_YORK)  # a Wednesday, 11:00 in New York
T0 = datetime(2025, 2, 3, tzinfo=UTC)


@pytest.fixture
def clock_at(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[datetime], None]]:
    """``clock_at(t)``: the ``tsbot order`` runs from now on read ``t`` as the current time (NYSE hours of 2025)."""
    hours = MarketHours("XNYS", date(2025, 1, 1), date(2025, 12, 31))
    now: dict[str, datetime] = {}

    @asynccontextmanager
    async def pinned(settings: Settings, **kwargs: Any) -> AsyncIterator[Services]:
        async with open_services(settings, **kwargs) as services:
            services.clock = lambda: now["at"]
            services.stock_hours_built = hours
            yield services

    monkeypatch.setattr(paper_trade, "open_services", pinned)
    yield lambda at: now.__setitem__("at", at)


def _orders(tsbot: Invoke, status: str) -> list[dict[str, Any]]:
    listed = tsbot("order", "list", "--status", status, "--json")
    assert listed.exit_code == 0, listed.output
    found: list[dict[str, Any]] = json.loads(listed.stdout)
    return found


def test_stock_orders_outside_nyse_hours_are_refused_and_crypto_is_not(
    tsbot: Invoke, with_services: Callable[..., object], clock_at: Callable[[datetime], None]
) -> None:
    async def market(services: Services) -> None:
        await store_candles(services, "alpaca", "AAPL", Timeframe.D1, T0, [200.0] * 20)
        await store_candles(services, "binance", "BTC/USDT", Timeframe.H1, T0, [100.0] * 5)

    with_services(market)
    assert tsbot("portfolio", "create", "stocks", "--currency", "USD").exit_code == 0
    assert tsbot("portfolio", "deposit", "stocks", "1000", "--asset", "USD").exit_code == 0
    assert tsbot("portfolio", "deposit", "stocks", "500", "--asset", "USDT").exit_code == 0

    refused = {
        "Saturday": (SATURDAY, ["buy", "AAPL/USD", "1"], "2025-03-10 13:30 UTC"),
        "03:00 on a Wednesday": (NIGHT, ["buy", "AAPL/USD", "1"], "2025-03-05 14:30 UTC"),
        "a limit order at 22:00": (
            EVENING,
            ["buy", "AAPL/USD", "1", "--type", "limit", "--price", "150"],
            "2025-03-06 14:30 UTC",
        ),
    }
    for when, (at, args, opens) in refused.items():
        clock_at(at)
        result = tsbot("order", "place", *args, "-p", "stocks")
        assert result.exit_code == 1, (when, result.output)
        message = " ".join(result.stderr.split())  # rich may wrap the line
        assert "error: AAPL/USD is outside market hours" in message, (when, message)
        assert f"the XNYS session opens next at {opens}" in message, (when, message)
        assert result.stdout == "", (when, result.stdout)
        crypto = tsbot("order", "place", "buy", "BTC/USDT", "0.1", "-p", "stocks")
        assert crypto.exit_code == 0 and "-> filled" in crypto.stdout, (when, crypto.output)

    rejected = _orders(tsbot, "rejected")
    assert [(o["symbol"], o["status"]) for o in rejected] == [("AAPL/USD", "rejected")] * len(refused)

    async def why(services: Services) -> list[str]:
        found = await services.orders.recent(statuses=[OrderStatus.REJECTED], limit=10)
        return [o.history[-1].reason for o in found]

    reasons = with_services(why)
    assert isinstance(reasons, list) and len(reasons) == len(refused)
    assert all(r.startswith("AAPL/USD is outside market hours") for r in reasons), reasons
    nothing = tsbot("order", "sync", "-p", "stocks")
    assert nothing.exit_code == 0, nothing.output
    assert "0 order(s) still resting" in nothing.stdout  # the limit order was not queued for the open
    assert "AAPL" not in nothing.stdout and "USD 1000" in nothing.stdout  # the account is as it was

    clock_at(IN_SESSION)
    bought = tsbot("order", "place", "buy", "AAPL/USD", "2", "-p", "stocks")
    assert bought.exit_code == 0, bought.output
    assert "buy 2 AAPL/USD market -> filled, filled 2 at 200" in bought.stdout
    assert "AAPL 2" in bought.stdout
    filled = _orders(tsbot, "filled")
    assert sorted(o["symbol"] for o in filled) == ["AAPL/USD"] + ["BTC/USDT"] * len(refused)
    # an exit (a sell of what is held) outside the session is refused as well: the desk checks every hand order
    clock_at(SATURDAY + timedelta(days=7))
    sold = tsbot("order", "place", "sell", "AAPL/USD", "1", "-p", "stocks")
    assert sold.exit_code == 1 and "outside market hours" in " ".join(sold.stderr.split()), sold.output
