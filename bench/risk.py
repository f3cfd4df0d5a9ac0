"""Benchmark: the risk check every order passes before it is sent.

Times ``RiskManager.check`` on a realistic portfolio: 100,000 USD of equity, 10 open positions (crypto and US
stocks), a stop-out earlier in the day, equity a little under its peak and under the day's start, and every rule on
(risk per trade, position ratio and quantity caps, open positions, leverage, daily loss, cooldown, drawdown, NYSE
hours). The order is a new stock position with a stop-loss during a session, so every rule is evaluated and it
passes. Also timed, for reference: an order the sizing cuts down (its reason is written) and a crypto order.

Each figure is over ``--n`` calls after a warm-up, one ``perf_counter`` pair per call. Goal: median under 100 us,
against a required budget of 10 ms per check.

Signal to order (paper): a ``fused`` bot paper-trades bundled BTC/USDT 1h candles bar by bar on an SQLite order
store. Timed from a closed bar reaching the bot to its entry order stored and accepted by the paper broker: the
signal computed from the candles up to the bar (the same code as ``tsbot scan``), the risk check, the order stored
NEW, sent, acknowledged and stored OPEN. Only bars that produced an entry order count. Goal: median under 50 ms,
against a required budget of 300 ms.

Run: ``python bench/risk.py [--n 20000] [--bars 4000]``.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from rich.console import Console
from rich.table import Table

from tsbot.core.enums import AssetClass
from tsbot.trading.market_hours import MarketHours
from tsbot.trading.models import MarketRules, OrderRequest, OrderSide, OrderType
from tsbot.trading.risk import RiskDecision, RiskLimits, RiskManager, RiskState

GOAL_US = 100.0
BUDGET_MS = 10.0  # the budget a risk check is required to stay within
SIGNAL_GOAL_MS = 50.0
SIGNAL_BUDGET_MS = 300.0  # the budget from a closed bar to its order
NOW = datetime(2026, 11, 24, 16, 0, tzinfo=UTC)  # a Tuesday, 11:00 in New York
console = Console()

LIMITS = RiskLimits(
    risk_per_trade_ratio=Decimal("0.01"),
    max_position_ratio=Decimal("0.15"),
    max_position_qty=Decimal(5000),
    max_open_positions=12,
    max_leverage=Decimal(2),
    max_daily_loss_ratio=Decimal("0.05"),
    cooldown_after_stop=timedelta(hours=2),
    max_drawdown_ratio=Decimal("0.2"),
    drawdown_pause=timedelta(days=1),
    stock_market_hours_only=True,
    allow_short=True,
)
POSITIONS = {
    "BTC/USD": (Decimal("0.12"), Decimal(95000)),
    "ETH/USD": (Decimal("2.5"), Decimal(3400)),
    "SOL/USD": (Decimal(40), Decimal(180)),
    "AAPL/USD": (Decimal(40), Decimal(230)),
    "NVDA/USD": (Decimal(50), Decimal(140)),
    "AMZN/USD": (Decimal(-30), Decimal(200)),
    "JPM/USD": (Decimal(25), Decimal(240)),
    "XOM/USD": (Decimal(60), Decimal(115)),
    "KO/USD": (Decimal(100), Decimal(70)),
    "SPY/USD": (Decimal(10), Decimal(590)),
}


def stock_rules(symbol: str) -> MarketRules:
    return MarketRules(
        symbol, Decimal("0.01"), Decimal(1), Decimal(1), Decimal(1), None, AssetClass.STOCK, True
    )


def portfolio() -> RiskState:
    """The benchmark's state: 10 open positions, a stop-out 30 minutes ago, 3 % under the peak, 1 % down today."""
    state = RiskState(equity=Decimal(100000), peak_equity=Decimal(103000), day_start_equity=Decimal(101000))
    for symbol, (qty, price) in POSITIONS.items():
        state.positions[symbol] = qty
        state.position_values[symbol] = qty * price
    state.last_stop_out_at["TSLA/USD"] = NOW - timedelta(minutes=30)
    return state


def order(symbol: str, qty: str) -> OrderRequest:
    return OrderRequest("tsb-bench", "paper:bench", symbol, OrderSide.BUY, OrderType.LIMIT, Decimal(qty))


def timings(call: Callable[[], RiskDecision], n: int) -> list[float]:
    """Microseconds per call of ``call``, ``n`` calls after 200 warm-up calls."""
    for _ in range(200):
        call()
    clock = time.perf_counter
    out = []
    for _ in range(n):
        start = clock()
        call()
        out.append((clock() - start) * 1e6)
    return out


def checker(
    request: OrderRequest, rules: MarketRules, price: str, stop: str, hours: MarketHours | None
) -> Callable[[], RiskDecision]:
    """One ``RiskManager.check`` of ``request`` on a fresh :func:`portfolio`, as a call without arguments."""
    manager, state, p, s = RiskManager(), portfolio(), Decimal(price), Decimal(stop)

    def call() -> RiskDecision:
        return manager.check(
            request, state=state, limits=LIMITS, rules=rules, price=p, stop_loss=s, now=NOW, hours=hours
        )

    return call


def risk_check_timings(n: int, hours: MarketHours | None = None) -> list[float]:
    """Microseconds per ``RiskManager.check`` of a new stock position (MSFT, 30 shares at 420 USD, stop 410)
    during a NYSE session on :func:`portfolio`, ``n`` calls (``hours``: NYSE 2026-2027 when not given). The check
    passes every rule unchanged; each call sees the same state (a passing check changes nothing)."""
    hours = hours or MarketHours(start=date(2026, 1, 1), end=date(2027, 12, 31))
    call = checker(order("MSFT/USD", "30"), stock_rules("MSFT/USD"), "420", "410", hours)
    decision = call()
    assert decision.allowed and not decision.reasons, decision
    return timings(call, n)


def other_timings(n: int, hours: MarketHours) -> dict[str, list[float]]:
    """Reference cases: an order the sizing cuts down, and a crypto order (no market hours)."""
    big = checker(order("MSFT/USD", "100"), stock_rules("MSFT/USD"), "420", "410", hours)
    assert big().qty == Decimal(35), big()  # 15 % of 100,000 USD at 420 USD
    crypto = MarketRules("LINK/USD", Decimal("0.001"), Decimal("0.01"), Decimal("0.01"), Decimal(1))
    link = checker(order("LINK/USD", "300"), crypto, "20", "19.5", None)
    assert link().allowed, link()
    return {
        "order cut by sizing (reason written)": timings(big, n),
        "crypto order (no market hours)": timings(link, n),
    }


async def _signal_to_order(bars: int, folder: str) -> tuple[list[float], list[float]]:
    from tsbot.adapters.bundled import bundled_series, read_bundled_rows
    from tsbot.adapters.storage.database import create_engine, upgrade
    from tsbot.adapters.storage.orders import SqlOrderStore
    from tsbot.backtest.models import BacktestConfig
    from tsbot.backtest.strategies import build_strategy
    from tsbot.config import TradingConfig
    from tsbot.market.validation import validate_rows
    from tsbot.trading.bot import BotSettings, SignalBot
    from tsbot.trading.paper import Bar, PaperBroker
    from tsbot.trading.replay import ReplayClock, paper_costs
    from tsbot.trading.service import OrderService

    item = next(s for s in bundled_series() if s.key.symbol == "BTC/USDT")
    frame = validate_rows(read_bundled_rows(item), item.key.timeframe).frame.window(0, bars)
    engine = create_engine(f"sqlite+aiosqlite:///{folder}/bench.sqlite")
    await upgrade(engine)
    config = BacktestConfig(allow_short=False)
    rules = {
        "BTC/USDT": MarketRules(
            "BTC/USDT", Decimal("0.01"), Decimal("0.00001"), Decimal("0.00001"), Decimal(5)
        )
    }
    clock = ReplayClock()
    account = "paper:bench"
    broker = PaperBroker(
        account, rules=rules, balances={"USDT": Decimal(10_000)}, costs=paper_costs(config), clock=clock
    )
    service = OrderService(SqlOrderStore(engine), broker, account, clock=clock)
    limits = RiskLimits(max_position_ratio=Decimal(1), cooldown_after_stop=None, max_daily_loss_ratio=None)
    settings = BotSettings("bench", account, Decimal(10_000), ("BTC/USDT",), config, limits)
    bot = SignalBot(settings, build_strategy("fused", TradingConfig()), service, rules=rules, clock=clock)
    entries: list[float] = []
    every: list[float] = []
    try:
        for i in range(len(frame)):
            t = int(frame.open_time_ms[i])
            clock.now = datetime.fromtimestamp((t + 3_600_000) / 1000, UTC)
            bar = Bar.of(frame, i)
            await bot.on_fills(broker.open_bar("BTC/USDT", bar))
            await bot.on_fills(broker.close_bar("BTC/USDT", bar))
            before = len(bot.events)
            start = time.perf_counter()
            await bot.on_close("BTC/USDT", frame.window(0, i + 1))
            took = (time.perf_counter() - start) * 1e3
            every.append(took)
            if any(e.kind == "order" and e.message.startswith("fused ") for e in bot.events[before:]):
                entries.append(took)
    finally:
        await engine.dispose()
    return entries, every


def signal_to_order_timings(bars: int) -> tuple[list[float], list[float]]:
    """Milliseconds from a closed bar to its stored, accepted entry order (bars that made one), and of every
    bar's decision, over the first ``bars`` bundled BTC/USDT 1h candles (see the module docstring)."""
    import asyncio
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        return asyncio.run(_signal_to_order(bars, folder))


def p99(values: list[float]) -> float:
    return statistics.quantiles(values, n=100)[98]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=20_000, help="timed calls per case")
    parser.add_argument("--bars", type=int, default=4_000, help="bundled BTC/USDT bars for signal to order")
    args = parser.parse_args()

    start = time.perf_counter()
    hours = MarketHours(start=date(2026, 1, 1), end=date(2027, 12, 31))
    build_ms = (time.perf_counter() - start) * 1e3
    main_us = risk_check_timings(args.n, hours)
    rows = {"new stock position, every rule passes": main_us, **other_timings(args.n, hours)}

    table = Table(title=f"RiskManager.check, 10 open positions, every rule on, {args.n:,} calls per case")
    table.add_column("case")
    table.add_column("median (µs)", justify="right")
    table.add_column("p99 (µs)", justify="right")
    for name, values in rows.items():
        table.add_row(name, f"{statistics.median(values):.1f}", f"{p99(values):.1f}")
    console.print(table)
    median = statistics.median(main_us)
    verdict = "[green]met[/]" if median < GOAL_US else "[red]not met[/]"
    console.print(
        f"goal: median under {GOAL_US:.0f} µs: {verdict} ({median:.1f} µs, p99 {p99(main_us):.1f} µs); "
        f"{BUDGET_MS * 1e3 / median:,.0f} x under the {BUDGET_MS:.0f} ms budget per check",
        highlight=False,
    )
    console.print(f"market hours built once in {build_ms:.0f} ms (NYSE sessions 2026-2027)", highlight=False)

    entries, every = signal_to_order_timings(args.bars)
    median = statistics.median(entries)
    p90 = statistics.quantiles(entries, n=10, method="inclusive")[8]
    verdict = "[green]met[/]" if median < SIGNAL_GOAL_MS else "[red]not met[/]"
    console.print(
        f"signal to order (paper, SQLite store), {len(entries)} entry orders over {len(every):,} bars: median "
        f"{median:.1f} ms, p90 {p90:.1f} ms, max {max(entries):.1f} ms (every bar's decision: median "
        f"{statistics.median(every):.2f} ms); goal: median under {SIGNAL_GOAL_MS:.0f} ms: {verdict}; "
        f"{SIGNAL_BUDGET_MS / median:,.0f} x under the {SIGNAL_BUDGET_MS:.0f} ms budget",
        highlight=False,
    )


if __name__ == "__main__":
    main()
