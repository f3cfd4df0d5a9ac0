"""``tsbot portfolio deposit|withdraw`` and ``tsbot order place|cancel|sync`` on a real database (SQLite file and
PostgreSQL): each command is a new process's view of the paper account, rebuilt from the ledger and the stored
fills; a resting order fills when candles after it are stored; refusals leave the account as it was."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from tests.integration.cli.conftest import Invoke, store_candles

from tsbot.market.models import Timeframe
from tsbot.trading.models import OrderStatus
from tsbot.wiring import Services


def test_deposit_trade_rest_sync_and_refusals(tsbot: Invoke, with_services: Callable[..., object]) -> None:
    hour = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)

    async def past(services: Services) -> None:  # bars up to the current hour: the last close is 100
        await store_candles(
            services, "binance", "BTC/USDT", Timeframe.H1, hour - timedelta(hours=5), [100.0] * 5
        )

    with_services(past)
    assert tsbot("portfolio", "create", "main", "--currency", "USDT").exit_code == 0
    done = tsbot("portfolio", "deposit", "main", "1000")
    assert done.exit_code == 0, done.stderr
    assert "deposited 1000 USDT" in done.stdout and "balances: USDT 1000" in done.stdout

    bought = tsbot("order", "place", "buy", "BTC/USDT", "2", "-p", "main")
    assert bought.exit_code == 0, bought.stderr
    assert "buy 2 BTC/USDT market -> filled, filled 2 at 100, fees 0.2" in bought.stdout
    assert "balances: BTC 2, USDT 799.8" in bought.stdout  # 1000 - 200 - 0.2 fee

    resting = tsbot(
        "order", "place", "buy", "BTC/USDT", "1", "--type", "limit", "--price", "90", "-p", "main"
    )
    assert resting.exit_code == 0, resting.stderr
    assert "-> open" in resting.stdout and "(90 held by orders)" in resting.stdout
    nothing = tsbot("order", "sync", "-p", "main")
    assert nothing.exit_code == 0 and "1 order(s) still resting" in nothing.stdout

    async def future(services: Services) -> None:  # two bars after the order: the second dips to 89.1
        start = hour + timedelta(hours=1)
        await store_candles(services, "binance", "BTC/USDT", Timeframe.H1, start, [95.0, 90.0])

    with_services(future)
    synced = tsbot("order", "sync", "-p", "main")
    assert synced.exit_code == 0, synced.stderr
    assert "filled: buy 1 BTC/USDT at 90 (fee 0.09 USDT)" in synced.stdout
    assert "0 order(s) still resting" in synced.stdout and "BTC 3, USDT 709.71" in synced.stdout

    # bad input: a sell of more than is held; a withdrawal of more than is free; a negative deposit
    oversold = tsbot("order", "place", "sell", "BTC/USDT", "10", "-p", "main")
    assert oversold.exit_code == 1 and "cannot sell 10 BTC: the account holds 3 BTC" in oversold.stderr
    greedy = tsbot("portfolio", "withdraw", "main", "5000")
    assert greedy.exit_code == 1 and "709.71 USDT is free" in greedy.stderr
    negative = tsbot("portfolio", "deposit", "main", "--", "-5")
    assert negative.exit_code == 1 and "positive" in negative.stderr
    # bad input: a quantity and an amount at once; an unknown order type; an unknown order id
    both = tsbot("order", "place", "buy", "BTC/USDT", "1", "--amount", "50", "-p", "main")
    assert both.exit_code == 2 and "one of them" in both.stderr
    kind = tsbot("order", "place", "buy", "BTC/USDT", "1", "--type", "iceberg", "-p", "main")
    assert kind.exit_code == 2 and "stop_limit" in kind.stderr
    unknown = tsbot("order", "cancel", "tsb-ffffffff", "-p", "main")
    assert unknown.exit_code == 1 and "no order" in unknown.stderr

    spent = tsbot("order", "place", "buy", "BTC/USDT", "--amount", "90.09", "-p", "main")
    assert spent.exit_code == 0, spent.stderr
    assert "filled 1 at 90, fees 0.09" in spent.stdout  # 90.09 pays for 1 BTC at 90 with its 0.1 % fee
    out = tsbot("portfolio", "withdraw", "main", "100")
    assert out.exit_code == 0 and "USDT 519.62" in out.stdout

    cancel_me = tsbot(
        "order", "place", "sell", "BTC/USDT", "1", "--type", "limit", "--price", "150", "-p", "main"
    )
    assert cancel_me.exit_code == 0, cancel_me.stderr
    cid = cancel_me.stdout.split("order ", 1)[1].split(":", 1)[0]
    gone = tsbot("order", "cancel", cid[:14], "-p", "main")
    assert gone.exit_code == 0, gone.stderr
    assert "-> cancelled" in gone.stdout

    async def stored(services: Services) -> OrderStatus:
        order = await services.orders.get(cid)
        assert order is not None
        return order.status

    assert with_services(stored) is OrderStatus.CANCELLED
