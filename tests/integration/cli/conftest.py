"""The ``tsbot`` command run in process (typer's CliRunner) on a fresh database (SQLite file and PostgreSQL), and
helpers that store orders with their fills, candles and snapshots the way tsbot's services do."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from click.testing import Result
from typer.testing import CliRunner

from tsbot.apps.cli.main import app
from tsbot.config import load_settings
from tsbot.market.models import CandleFrame, SeriesKey, Timeframe
from tsbot.trading.models import Fill, Order, OrderRequest, OrderSide, OrderStatus, OrderType
from tsbot.wiring import Services, open_services

Invoke = Callable[..., Result]


@pytest.fixture
def cli_env(database_url: str, tmp_path: Path) -> dict[str, str]:
    """Environment of a ``tsbot`` run on the test's database; wide enough that tables never wrap."""
    return {"TSBOT_DATABASE_URL": database_url, "TSBOT_DATA_DIR": str(tmp_path), "COLUMNS": "220"}


@pytest.fixture
def tsbot(cli_env: dict[str, str]) -> Invoke:
    """``tsbot(*args)``: run the command in process; the result has exit_code, stdout and stderr."""
    runner = CliRunner()

    def _invoke(*args: str) -> Result:
        return runner.invoke(app, list(args), env=cli_env)

    return _invoke


@pytest.fixture
def with_services(database_url: str, tmp_path: Path) -> Callable[..., object]:
    """``with_services(fn)``: run ``await fn(services)`` on the test's database and return its result."""
    settings = load_settings(database_url=database_url, data_dir=tmp_path)

    def _run(fn: Callable[[Services], object]) -> object:
        async def _go() -> object:
            async with open_services(settings) as services:
                return await fn(services)  # type: ignore[misc]

        return asyncio.run(_go())

    return _run


def request(
    cid: str,
    account: str,
    symbol: str,
    side: OrderSide,
    qty: str,
    order_type: OrderType = OrderType.MARKET,
    *,
    price: str | None = None,
    stop: str | None = None,
    reason: str = "",
) -> OrderRequest:
    return OrderRequest(
        client_order_id=cid,
        account=account,
        symbol=symbol,
        side=side,
        order_type=order_type,
        qty=Decimal(qty),
        price=None if price is None else Decimal(price),
        stop_price=None if stop is None else Decimal(stop),
        reason=reason,
    )


async def store_filled(
    services: Services,
    req: OrderRequest,
    at: datetime,
    fills: Sequence[tuple[str, str, str, str]],
) -> Order:
    """Store ``req`` as NEW at ``at``, then OPEN, then one fill per ``(qty, price, fee, fee_currency)`` a minute
    apart (PARTIALLY_FILLED until the last makes it FILLED), saving each step through the order store."""
    order = Order.new(req, at)
    assert await services.orders.add(order)
    order.move(OrderStatus.OPEN, at + timedelta(seconds=1), "accepted by the venue")
    await services.orders.save(order)
    for n, (qty, price, fee, currency) in enumerate(fills, start=1):
        fill = Fill(
            f"{req.client_order_id}-f{n}",
            req.client_order_id,
            req.symbol,
            req.side,
            Decimal(qty),
            Decimal(price),
            Decimal(fee),
            currency,
            at + timedelta(minutes=n),
        )
        order.add_fill(fill)
        done = order.filled_qty == req.qty
        status = OrderStatus.FILLED if done else OrderStatus.PARTIALLY_FILLED
        order.move(status, fill.filled_at, f"fill {n}: {qty} at {price}")
        await services.orders.save(order, [fill])
    return order


async def store_candles(
    services: Services,
    exchange: str,
    symbol: str,
    timeframe: Timeframe,
    start: datetime,
    closes: Sequence[float],
) -> None:
    """Bars of ``symbol`` from ``start``, one ``timeframe`` apart, opening and closing at ``closes``."""
    t0 = int(start.timestamp() * 1000)
    rows = [(t0 + i * timeframe.ms, c, c * 1.01, c * 0.99, c, 10.0) for i, c in enumerate(closes)]
    asset_class = "stock" if exchange == "alpaca" else "crypto"
    await services.candles.upsert(
        SeriesKey(exchange, symbol, timeframe), asset_class, CandleFrame.from_rows(rows)
    )
