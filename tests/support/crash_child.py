"""A bot process that submits one order and is meant to be killed while doing so (the crash-recovery tests).

``python -m tests.support.crash_child --database-url URL --data-dir DIR --public-url URL --private-url URL
--signal ID --leg NAME [--type market|limit] [--qty Q] [--price P]`` opens tsbot's services on the database (which
migrates it, as every start does), builds a :class:`CcxtBroker` for ``binance`` with its API pointed at the given
URLs (``public`` serves the markets, ``private`` receives the order), and submits the order that
:func:`crash_request` describes through :class:`OrderService`. It waits for the venue's answer for up to
``--timeout`` seconds; the test kills it (SIGKILL) before that. Should it ever finish, it prints the order's status
and exits 0, or prints the error and exits 1, so a test that expected a kill can say what happened instead.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from decimal import Decimal
from pathlib import Path

from tsbot.trading.models import OrderRequest, OrderSide, OrderType
from tsbot.trading.orders import client_order_id

ACCOUNT = "binance:crash-test"
API_KEY = "crash-test-key-5d1a"
SECRET = "crash-test-secret-93be"


def crash_request(
    signal: str,
    leg: str,
    order_type: OrderType = OrderType.MARKET,
    qty: str = "0.01",
    price: str | None = None,
) -> OrderRequest:
    """The BTC/USDT buy a bot sends for ``signal`` / ``leg``: its client id is deterministic, so the killed child
    and the restarted test process build the very same request."""
    return OrderRequest(
        client_order_id=client_order_id(ACCOUNT, signal, leg),
        account=ACCOUNT,
        symbol="BTC/USDT",
        side=OrderSide.BUY,
        order_type=order_type,
        qty=Decimal(qty),
        price=Decimal(price) if price is not None else None,
        reason=f"signal {signal} leg {leg}",
    )


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description="Submit one order through OrderService, to be killed meanwhile.")
    p.add_argument("--database-url", required=True)
    p.add_argument("--data-dir", required=True, type=Path)
    p.add_argument("--public-url", required=True, help="ccxt urls['api']['public'] (exchangeInfo)")
    p.add_argument("--private-url", required=True, help="ccxt urls['api']['private'] (orders)")
    p.add_argument("--signal", required=True)
    p.add_argument("--leg", required=True)
    p.add_argument("--type", default="market", choices=[t.value for t in (OrderType.MARKET, OrderType.LIMIT)])
    p.add_argument("--qty", default="0.01")
    p.add_argument("--price", default=None)
    p.add_argument("--timeout", type=float, default=30.0, help="seconds to wait for the venue's answer")
    return p


async def _run(args: argparse.Namespace) -> str:
    from tsbot.adapters.brokers.ccxt_broker import CcxtBroker
    from tsbot.config import load_settings
    from tsbot.trading.service import OrderService
    from tsbot.wiring import open_services

    request = crash_request(args.signal, args.leg, OrderType(args.type), args.qty, args.price)
    settings = load_settings(database_url=args.database_url, data_dir=args.data_dir)
    broker = CcxtBroker(
        "binance",
        api_key=API_KEY,
        secret=SECRET,
        api_urls={"public": args.public_url, "private": args.private_url},
        timeout_s=args.timeout,
        retries=0,
    )
    try:
        async with open_services(settings) as services:
            service = OrderService(services.orders, broker, ACCOUNT)
            order = await service.submit(request)
            return f"{order.client_order_id} {order.status.value}"
    finally:
        await broker.close()


def main() -> None:
    args = _parser().parse_args()
    try:
        outcome = asyncio.run(_run(args))
    except Exception as exc:  # reported to the test, which expected to kill this process
        print(f"submit failed: {type(exc).__name__}: {exc}", file=sys.stderr, flush=True)
        sys.exit(1)
    print(f"submit returned: {outcome}", flush=True)


if __name__ == "__main__":
    main()
