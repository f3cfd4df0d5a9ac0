"""``tsbot portfolio create|list|show|targets|rebalance`` on a real database (SQLite file and PostgreSQL): orders
and fills stored through the order store on two accounts, candles through the candle store, snapshots through the
portfolio store; the figures printed are checked against values worked out by hand."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal as D

import numpy as np
from tests.integration.cli.conftest import Invoke, request, store_candles, store_filled

from tsbot.market.models import Timeframe
from tsbot.trading.models import OrderSide, OrderType
from tsbot.trading.performance import DailySnapshot
from tsbot.wiring import Services

T0 = datetime(2026, 3, 2, 10, tzinfo=UTC)
BUY, SELL = OrderSide.BUY, OrderSide.SELL
# Daily equity: up 100 a day to a peak of 41000 on day 10, down to 38950 on day 12 (-5.00 %), back to 41000 on
# day 15 (5 days under water), then up 150 a day to 42350 on day 24.
EQUITY = [40000 + 100 * i for i in range(11)] + [39975, 38950, 40000, 40900, 41000]
EQUITY += [41000 + 150 * i for i in range(1, 10)]
DAY0 = date(2026, 2, 6)


def q(text: str) -> D:
    """A JSON decimal string rounded to 1e-8."""
    return D(text).quantize(D("1e-8"))


def _create(tsbot: Invoke, name: str, *extra: str) -> str:
    result = tsbot("portfolio", "create", name, *extra)
    assert result.exit_code == 0, result.output
    found = re.search(r"id: ([0-9a-f]{32})", result.stdout)
    assert found is not None and f"account: paper:{found.group(1)}" in result.stdout
    return found.group(1)


async def _book(services: Services, pid: str) -> None:
    """Paper account: buy 0.5 BTC at 40000 (fee 10) and 0.5 at 42000 in two fills (fees 5 + 5.5): 1 BTC at an
    average 41000; sell 0.25 at 45000 (fee 5): realised (45000 - 41000) * 0.25 = 1000, 0.75 BTC left.
    Exchange account binance:k1: buy 2 ETH at 2500 (fee 1 USDT).
    Candles: BTC/USDT binance 1h closes at 44000 (newest bar); a kraken 1d series closing at 30000 ends earlier
    and must not be used. ETH/USDT binance 1h closes at 2600."""
    await services.portfolios.attach_account(pid, "binance:k1", "binance", "crypto")
    paper = f"paper:{pid}"
    await store_filled(
        services, request("c-btc-1", paper, "BTC/USDT", BUY, "0.5"), T0, [("0.5", "40000", "10", "USDT")]
    )
    limit = request("c-btc-2", paper, "BTC/USDT", BUY, "0.5", OrderType.LIMIT, price="42000")
    await store_filled(
        services,
        limit,
        T0 + timedelta(hours=1),
        [("0.2", "42000", "5", "USDT"), ("0.3", "42000", "5.5", "USDT")],
    )
    sell = request("c-btc-3", paper, "BTC/USDT", SELL, "0.25")
    await store_filled(services, sell, T0 + timedelta(hours=2), [("0.25", "45000", "5", "USDT")])
    eth = request("c-eth-1", "binance:k1", "ETH/USDT", BUY, "2")
    await store_filled(services, eth, T0 + timedelta(hours=3), [("2", "2500", "1", "USDT")])
    await store_candles(services, "binance", "BTC/USDT", Timeframe.H1, T0, [43000.0, 43500.0, 44000.0])
    await store_candles(
        services, "kraken", "BTC/USDT", Timeframe.D1, T0 - timedelta(days=3), [30000.0, 30000.0]
    )
    await store_candles(services, "binance", "ETH/USDT", Timeframe.H1, T0, [2550.0, 2600.0])


async def _snapshots(services: Services, pid: str) -> None:
    for i, equity in enumerate(EQUITY):
        cash = D(10000)
        eq = D(equity)
        snap = DailySnapshot(DAY0 + timedelta(days=i), eq, cash, eq - cash, D(0), D(0), D(0))
        await services.portfolios.save_snapshot(pid, snap)


def test_create_list_and_show_holdings_totals_and_performance(
    tsbot: Invoke, with_services: Callable[..., object]
) -> None:
    pid = _create(tsbot, "Main")
    _create(tsbot, "Spot", "--currency", "usdt", "--owner", "alice")
    again = tsbot("portfolio", "create", "Main")  # bad input: a name the owner already uses
    assert again.exit_code == 1 and "portfolio Main exists" in again.stderr
    listed = json.loads(tsbot("portfolio", "list", "--json").stdout)
    assert [(p["name"], p["id"], p["base_currency"]) for p in listed] == [("Main", pid, "USD")]
    assert listed[0]["accounts"] == [{"account": f"paper:{pid}", "venue": "paper", "asset_class": "crypto"}]
    alice = tsbot("portfolio", "list", "--owner", "alice")
    assert (
        alice.exit_code == 0
        and "Spot" in alice.stdout
        and "USDT" in alice.stdout
        and "Main" not in alice.stdout
    )

    with_services(lambda s: _book(s, pid))
    bare = tsbot("portfolio", "show", "Main")
    assert bare.exit_code == 0, bare.output
    # BTC: 0.75 * 44000 = 33000, unrealised (44000 - 41000) * 0.75 = +2250, fees 10 + 5 + 5.5 + 5 = 25.50.
    # ETH: 2 * 2600 = 5200, unrealised +200, fees 1. Totals: 38200, +2450, realised +1000, fees 26.50.
    btc_row = re.search(
        rf"paper:{pid}\s+BTC/USDT\s+0\.75\s+41000\s+44000\s+33000\.00\s+\+2250\.00\s+\+1000\.00\s+25\.50",
        bare.stdout,
    )
    assert btc_row is not None, bare.stdout
    assert re.search(
        r"binance:k1\s+ETH/USDT\s+2\s+2500\s+2600\s+5200\.00\s+\+200\.00\s+\+0\.00\s+1\.00", bare.stdout
    )
    assert re.search(r"total\s+38200\.00\s+\+2450\.00\s+\+1000\.00\s+26\.50", bare.stdout)
    assert "cash: unknown, no snapshot yet" in bare.stdout
    # Net: 1000 + 2450 - 26.50 = 3423.50; equity without cash = 38200.
    assert "equity: 38200.00 USD; net P&L: +3423.50 USD" in bare.stdout
    assert "performance (30d): no daily snapshot yet" in bare.stdout

    with_services(lambda s: _snapshots(s, pid))
    shown = tsbot("portfolio", "show", "Main")
    assert shown.exit_code == 0, shown.output
    assert "cash: 10000.00 USD (snapshot of 2026-03-02)" in shown.stdout
    assert "equity: 48200.00 USD" in shown.stdout  # 10000 cash + 38200 positions
    returns = np.array(EQUITY[1:], dtype=float) / np.array(EQUITY[:-1], dtype=float) - 1
    sharpe = returns.mean() / returns.std(ddof=1) * np.sqrt(365)
    var = max(0.0, -float(np.quantile(returns, 0.05)))  # about 2.09 %: between the 2nd and 3rd worst day
    assert "25 daily snapshots" in shown.stdout
    assert "return: +5.88 %" in shown.stdout  # 42350 / 40000 - 1
    assert f"Sharpe: {sharpe:.2f}" in shown.stdout
    assert "max drawdown: 5.00 % over 5 days" in shown.stdout  # 41000 -> 38950, back on day 15
    assert f"VaR 95 % (1 day): {var * 100:.2f} %" in shown.stdout and f"{var * 100:.2f}" == "2.09"

    week = tsbot("portfolio", "show", "Main", "--period", "7d")
    assert "return: +2.54 %" in week.stdout  # 42350 / 41300 - 1 over the last 8 snapshots
    assert "VaR 95 % (1 day): - (needs 21 daily snapshots, has 8)" in week.stdout

    data = json.loads(tsbot("portfolio", "show", "Main", "--json").stdout)
    assert data["portfolio"]["id"] == pid and len(data["portfolio"]["accounts"]) == 2
    eth, btc = data["holdings"]  # sorted by account: binance:k1 before paper:<id>
    # The average entry is a quotient of Decimals (40571.428... after the fill of 0.2 at 42000): compare to 1e-8.
    btc_figures = [
        q(btc[k]) for k in ("qty", "avg_entry", "last_price", "unrealised_pnl", "realised_pnl", "fees")
    ]
    assert btc["symbol"] == "BTC/USDT" and btc_figures == [D("0.75"), 41000, 44000, 2250, 1000, D("25.5")]
    assert btc["price_source"]["exchange"] == "binance" and btc["price_source"]["timeframe"] == "1h"
    assert (eth["account"], D(eth["value"])) == ("binance:k1", 5200)
    totals = data["totals"]
    assert {k: q(totals[k]) for k in ("positions_value", "unrealised_pnl", "cash", "equity", "net_pnl")} == {
        "positions_value": 38200,
        "unrealised_pnl": 2450,
        "cash": 10000,
        "equity": 48200,
        "net_pnl": D("3423.5"),
    }
    perf = data["performance"]
    assert (
        perf["snapshots"] == 25 and perf["max_drawdown_days"] == 5 and abs(perf["var_95_ratio"] - var) < 1e-12
    )
    assert abs(perf["return_ratio"] - 0.05875) < 1e-12 and abs(perf["sharpe"] - sharpe) < 1e-9

    bad_period = tsbot("portfolio", "show", "Main", "--period", "2w")  # bad input: an unknown period
    assert bad_period.exit_code == 2 and "period '2w' is not one of" in bad_period.stderr
    other = tsbot("portfolio", "show", "Main", "--owner", "bob")  # bad input: another owner's portfolio name
    assert other.exit_code == 1 and "no portfolio named Main" in other.stderr
    missing = tsbot("portfolio", "show", "Nope")  # bad input: a name nobody uses
    assert missing.exit_code == 1 and "no portfolio named Nope" in missing.stderr


def test_targets_and_rebalance_plan(tsbot: Invoke, with_services: Callable[..., object]) -> None:
    pid = _create(tsbot, "Main")
    with_services(lambda s: _book(s, pid))
    # AAPL/USD is priced from the stock series of ticker AAPL (alpaca), last close 600.
    with_services(
        lambda s: store_candles(s, "alpaca", "AAPL", Timeframe.D1, T0 - timedelta(days=2), [590.0, 600.0])
    )
    no_targets = tsbot("portfolio", "rebalance", "Main", "--equity", "100000")  # bad input: no targets yet
    assert no_targets.exit_code == 1 and "has no target weights" in no_targets.stderr
    for bad, why in (
        ("BTC/USDT=1.5", "must be between 0 and 1, got 1.5"),  # bad input: a weight above 1
        ("BTC/USDT=abc", "must be a number, got 'abc'"),  # bad input: not a number
        ("BTC/USDT", "must be SYMBOL=WEIGHT"),  # bad input: no weight
        ("BTCUSDT=0.5", "must be BASE/QUOTE"),  # bad input: no quote currency
    ):
        result = tsbot("portfolio", "targets", "Main", bad)
        assert result.exit_code == 2 and why in result.stderr, (bad, result.output)
    over = tsbot(
        "portfolio", "targets", "Main", "BTC/USDT=0.7", "ETH/USDT=0.4"
    )  # bad input: 1.1 of the equity
    assert over.exit_code == 2 and "add up to 1.1" in over.stderr
    assert json.loads(tsbot("portfolio", "list", "--json").stdout)[0]["target_weights"] == {}

    done = tsbot("portfolio", "targets", "Main", "btc/usdt=0.5", "ETH/USDT=0.3", "AAPL/USD=0.011")
    assert done.exit_code == 0 and "AAPL/USD 0.011, BTC/USDT 0.5, ETH/USDT 0.3; cash 0.189" in done.stdout
    assert "BTC/USDT 0.5" in tsbot("portfolio", "list").stdout

    no_equity = tsbot("portfolio", "rebalance", "Main")  # bad input: no snapshot and no --equity
    assert no_equity.exit_code == 1 and "pass --equity" in no_equity.stderr
    bad_equity = tsbot("portfolio", "rebalance", "Main", "--equity", "-5")  # bad input: a negative equity
    assert bad_equity.exit_code == 2 and "--equity must be above 0" in bad_equity.stderr

    # Equity 100000. BTC: 50000 wanted, 33000 held: buy 17000 / 44000 = 0.38636363 (lot 1e-8), 16999.99972.
    # ETH: 30000 wanted, 5200 held: buy 24800 / 2600 = 9.53846153, 24799.999978. AAPL: 1100 / 600 -> 1 share, 600.
    plan = tsbot("portfolio", "rebalance", "Main", "--equity", "100000")
    assert plan.exit_code == 0, plan.output
    out = plan.stdout
    assert "equity 100000.00 USD (given with --equity)" in out
    assert re.search(r"buy\s+AAPL/USD\s+1\s+600\.00\s+AAPL/USD weight 0\.0000 -> 0\.011", out)
    assert re.search(r"buy\s+BTC/USDT\s+0\.38636363\s+17000\.00\s+BTC/USDT weight 0\.3300 -> 0\.5", out)
    assert re.search(r"buy\s+ETH/USDT\s+9\.53846153\s+24800\.00\s+ETH/USDT weight 0\.0520 -> 0\.3", out)
    assert "nothing was sent" in out

    with_services(lambda s: _snapshots(s, pid))
    # Equity of the newest snapshot: 42350. BTC: 21175 wanted, 33000 held: sell 11825 / 44000 = 0.26875.
    # ETH: 12705 wanted: buy 7505 / 2600 = 2.88653846. AAPL: 465.85 wanted, above the 1 % tolerance (423.50),
    # but 0.776 share rounds to 0 at the lot of 1 share: skipped.
    plan = tsbot("portfolio", "rebalance", "Main")
    out = plan.stdout
    assert plan.exit_code == 0 and "equity 42350.00 USD (snapshot of 2026-03-02)" in out
    sell = re.search(r"sell\s+BTC/USDT\s+0\.26875\s+11825\.00", out)
    buy = re.search(r"buy\s+ETH/USDT\s+2\.88653846\s+7505\.00", out)
    assert (
        sell is not None and buy is not None and sell.start() < buy.start()
    )  # sells first: they fund the buys
    assert "skipped buy 0 AAPL/USD" in out and "rounds to 0 at the lot size 1" in out

    both = tsbot("portfolio", "targets", "Main", "--clear", "BTC/USDT=0.5")  # bad input: pairs and --clear
    assert both.exit_code == 2 and "not both" in both.stderr
    cleared = tsbot("portfolio", "targets", "Main", "--clear")
    assert cleared.exit_code == 0 and "portfolio Main: no target weights" in cleared.stdout
    assert json.loads(tsbot("portfolio", "list", "--json").stdout)[0]["target_weights"] == {}


def test_a_held_symbol_without_candles_is_named(tsbot: Invoke, with_services: Callable[..., object]) -> None:
    pid = _create(tsbot, "Alts")

    async def _sol(services: Services) -> None:
        sol = request("c-sol-1", f"paper:{pid}", "SOL/USDT", BUY, "3")
        await store_filled(services, sol, T0, [("3", "150", "0.1", "USDT")])

    with_services(_sol)
    shown = tsbot("portfolio", "show", "Alts")  # bad input: SOL/USDT is held but no candle of it is stored
    assert shown.exit_code == 1
    assert f"no candles stored for SOL/USDT (held on paper:{pid})" in shown.stderr
    with_services(lambda s: store_candles(s, "binance", "SOL/USDT", Timeframe.H1, T0, [160.0]))
    shown = tsbot("portfolio", "show", "Alts")
    # 3 * 160 = 480; unrealised (160 - 150) * 3 = +30.
    assert shown.exit_code == 0 and re.search(r"SOL/USDT\s+3\s+150\s+160\s+480\.00\s+\+30\.00", shown.stdout)


def test_a_held_stock_shows_as_stock_beside_crypto(
    tsbot: Invoke, with_services: Callable[..., object]
) -> None:
    """The paper account (stored as a crypto account) holds AAPL/USD, priced by the stock series AAPL, and
    BTC/USDT: ``portfolio show`` labels each by its market, as the API does, and sizes AAPL in whole shares."""
    pid = _create(tsbot, "Mixed")

    async def _hold(services: Services) -> None:
        paper = f"paper:{pid}"
        aapl = request("c-aapl-1", paper, "AAPL/USD", BUY, "2")
        await store_filled(services, aapl, T0, [("2", "590", "0.59", "USD")])
        btc = request("c-btc-9", paper, "BTC/USDT", BUY, "0.1")
        await store_filled(services, btc, T0, [("0.1", "43000", "4.3", "USDT")])
        await store_candles(services, "alpaca", "AAPL", Timeframe.D1, T0 - timedelta(days=2), [590.0, 600.0])
        await store_candles(services, "binance", "BTC/USDT", Timeframe.H1, T0, [44000.0])

    with_services(_hold)
    shown = tsbot("portfolio", "show", "Mixed", "--json")
    assert shown.exit_code == 0, shown.output
    data = json.loads(shown.stdout)
    assert data["portfolio"]["accounts"] == [
        {"account": f"paper:{pid}", "venue": "paper", "asset_class": "crypto"}
    ]
    labels = {h["symbol"]: h["asset_class"] for h in data["holdings"]}
    assert labels == {"AAPL/USD": "stock", "BTC/USDT": "crypto"}
    aapl = next(h for h in data["holdings"] if h["symbol"] == "AAPL/USD")
    assert D(aapl["value"]) == 1200 and aapl["price_source"]["exchange"] == "alpaca"  # 2 shares at 600

    assert tsbot("portfolio", "targets", "Mixed", "AAPL/USD=0.5").exit_code == 0
    plan = tsbot("portfolio", "rebalance", "Mixed", "--equity", "3000")
    # 1500 wanted, 1200 held: 300 / 600 = 0.5 share, which rounds to 0 at the stock lot of 1 share (crypto: 1e-8)
    assert plan.exit_code == 0 and "rounds to 0 at the lot size 1" in plan.stdout, plan.output
