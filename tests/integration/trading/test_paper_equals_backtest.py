"""Paper trading the bundled candles bar by bar gives the backtest's trades: same entries, exits and quantities,
P&L equal to the cent.

The bot reads each bar's signal from the candles up to that bar, sends market orders (buys by quote amount) through
the risk checks and the order service, places the stop-loss and take-profits when the entry fills, and the paper
broker fills them from the candles. The backtest runs the same strategy over the same window in one pass of the
numba kernel. Nothing is shared between the two but the strategy's code and the candles.

The market rules use a tick and lot of 1e-12 so that rounding to the venue's steps does not hide a difference (a
real BTC/USDT lot of 1e-5 moves each P&L by up to 1e-5 x the price move: see the lot-and-tick test).
"""

from __future__ import annotations

from decimal import Decimal

import numpy as np
import pytest
from tests.support.risk import OPEN_LIMITS

from tsbot.adapters.bundled import bundled_series, read_bundled_rows
from tsbot.backtest.models import TRADE_FIELDS, BacktestConfig, BacktestResult, ExitReason
from tsbot.backtest.runner import SeriesData, run_strategy
from tsbot.backtest.strategies import build_strategy
from tsbot.config import TradingConfig
from tsbot.market.models import CandleFrame, SeriesKey, Timeframe
from tsbot.market.validation import validate_rows
from tsbot.trading.bot import BotSettings, BotTrade, SignalBot
from tsbot.trading.memory import MemoryOrderStore
from tsbot.trading.models import MarketRules, OrderStatus
from tsbot.trading.paper import PaperBroker
from tsbot.trading.ports import OrderStore
from tsbot.trading.replay import ReplayClock, ReplayResult, paper_costs, replay
from tsbot.trading.service import OrderService

F = {name: i for i, name in enumerate(TRADE_FIELDS)}
FINE = Decimal("1e-12")
HOUR_MS = 3_600_000
WARMUP = 600
REASONS = {
    ExitReason.STOP_LOSS: "stop_loss",
    ExitReason.TAKE_PROFIT: "take_profit",
    ExitReason.TRAILING_STOP: "trailing_stop",
    ExitReason.MAX_HOLD: "max_hold",
    ExitReason.END_OF_DATA: "end_of_data",
    ExitReason.SIGNAL: "signal",
}


def bundled(symbol: str, bars: int) -> CandleFrame:
    item = next(s for s in bundled_series() if s.key.symbol == symbol)
    return validate_rows(read_bundled_rows(item), item.key.timeframe).frame.window(0, bars)


def ms(trade: BotTrade, which: str) -> int:
    return int(getattr(trade, which).timestamp() * 1000)


async def paper_run(
    strategy_name: str,
    frames: dict[str, CandleFrame],
    config: BacktestConfig,
    *,
    rules: dict[str, MarketRules] | None = None,
    store: OrderStore | None = None,
    capital: Decimal = Decimal(10_000),
) -> tuple[ReplayResult, OrderStore]:
    rules = rules or {s: MarketRules(s, FINE, FINE) for s in frames}
    clock = ReplayClock()
    account = "paper:equivalence"
    broker = PaperBroker(
        account, rules=rules, balances={"USDT": capital}, costs=paper_costs(config), clock=clock
    )
    store = store or MemoryOrderStore()
    service = OrderService(store, broker, account, clock=clock)
    strategy = build_strategy(strategy_name, TradingConfig())
    settings = BotSettings("bot-1", account, capital, tuple(frames), config, OPEN_LIMITS)
    bot = SignalBot(settings, strategy, service, rules=rules, clock=clock)
    start = int(next(iter(frames.values())).open_time_ms[WARMUP])
    return await replay(bot, broker, clock, frames, bar_ms=HOUR_MS, start_ms=start), store


def backtest(strategy_name: str, frames: dict[str, CandleFrame], config: BacktestConfig) -> BacktestResult:
    data = [SeriesData(SeriesKey("binance", s, Timeframe.parse("1h")), f) for s, f in frames.items()]
    start = int(next(iter(frames.values())).open_time_ms[WARMUP])
    return run_strategy(build_strategy(strategy_name, TradingConfig()), data, config, start_ms=start)


def assert_same_trades(
    result: BacktestResult, paper: ReplayResult, symbols: list[str], cent: float = 0.01
) -> None:
    expected = result.trades
    assert (
        result.rejected == {}
    )  # the engine refused no entry here (a bot closes such an entry at once instead)
    assert len(expected) > 10  # a comparison of a handful of trades would prove little
    got = sorted(paper.trades, key=lambda t: (ms(t, "entry_at"), symbols.index(t.symbol)))
    assert len(got) == len(expected)
    for row, trade in zip(expected, got, strict=True):
        where = f"trade of {trade.symbol} entered {trade.entry_at:%Y-%m-%d %H:%M}"
        assert trade.symbol == symbols[int(row[F["symbol"]])], where
        assert trade.side == int(row[F["side"]]), where
        assert ms(trade, "entry_at") == int(row[F["entry_time_ms"]]), where
        assert ms(trade, "exit_at") == int(row[F["exit_time_ms"]]), where
        assert float(trade.entry_price) == pytest.approx(row[F["entry_price"]], rel=1e-12), where
        assert float(trade.exit_price) == pytest.approx(row[F["exit_price"]], rel=1e-7), (
            where
        )  # split by lots
        # earlier trades' sub-cent differences are carried in the sleeve's cash (relative 1e-8)
        assert abs(float(trade.qty) - row[F["qty"]]) <= 1e-8 * row[F["qty"]], where
        assert trade.exits == int(row[F["exits"]]), where
        assert trade.exit_reason == REASONS[ExitReason(int(row[F["exit_reason"]]))], where
        assert abs(float(trade.pnl) - row[F["pnl"]]) < cent, where
        assert abs(float(trade.fees) - row[F["fees"]]) < cent, where
    assert abs(float(paper.equity) - result.equity[-1]) < cent


async def test_fused_strategy_paper_trades_equal_the_backtest_on_bundled_btc() -> None:
    frames = {"BTC/USDT": bundled("BTC/USDT", 4_000)}
    config = BacktestConfig(allow_short=False)  # a spot paper account cannot sell short
    paper, store = await paper_run("fused", frames, config)
    result = backtest("fused", frames, config)
    assert_same_trades(result, paper, list(frames))
    reasons = {t.exit_reason for t in paper.trades}
    assert {"stop_loss", "take_profit"} <= reasons  # both kinds of protective order filled along the way
    assert any(t.exits > 1 for t in paper.trades)  # and partial take-profits split a position
    assert isinstance(store, MemoryOrderStore)
    orders = store.all()
    assert not [o for o in orders if not o.status.final]  # nothing left working at the end
    assert {o.status for o in orders} <= {OrderStatus.FILLED, OrderStatus.CANCELLED}


async def test_swing_with_trailing_stop_breakeven_and_slippage_matches_on_eth() -> None:
    frames = {"ETH/USDT": bundled("ETH/USDT", 5_000)}
    config = BacktestConfig(allow_short=False, slippage_bps=5, breakeven_after_first_target=True)
    paper, _ = await paper_run("swing", frames, config)
    result = backtest("swing", frames, config)
    assert_same_trades(result, paper, list(frames))
    assert "trailing_stop" in {t.exit_reason for t in paper.trades}


async def test_a_bot_on_the_sql_store_stores_every_order_and_fill(database_url: str) -> None:
    from sqlalchemy import func, select

    from tsbot.adapters.storage.database import create_engine, upgrade
    from tsbot.adapters.storage.orders import SqlOrderStore
    from tsbot.adapters.storage.tables import order_events, order_fills

    engine = create_engine(database_url)
    try:
        await upgrade(engine)
        frames = {"BTC/USDT": bundled("BTC/USDT", 1_800)}
        config = BacktestConfig(allow_short=False)
        store = SqlOrderStore(engine)
        paper, _ = await paper_run("scalping", frames, config, store=store)
        assert_same_trades(backtest("scalping", frames, config), paper, list(frames))
        assert await store.working("paper:equivalence") == []
        async with engine.connect() as conn:
            filled = (await conn.execute(select(func.count()).select_from(order_fills))).scalar_one()
            moves = (await conn.execute(select(func.count()).select_from(order_events))).scalar_one()
        assert filled == sum(
            1 + t.exits for t in paper.trades
        )  # one entry fill and each exit fill, stored once
        assert moves > 2 * filled  # every order's moves (new, open, filled / cancelled) are stored with it
    finally:
        await engine.dispose()


async def test_with_the_venues_lot_and_tick_pnl_moves_by_at_most_lots_of_the_move() -> None:
    frames = {"BTC/USDT": bundled("BTC/USDT", 2_500)}
    config = BacktestConfig(allow_short=False)
    real = {"BTC/USDT": MarketRules("BTC/USDT", Decimal("0.01"), Decimal("0.00001"), Decimal("0.00001"))}
    paper, _ = await paper_run("fused", frames, config, rules=real)
    result = backtest("fused", frames, config)
    assert len(paper.trades) == len(result.trades)
    for row, trade in zip(result.trades, paper.trades, strict=True):
        assert ms(trade, "entry_at") == int(row[F["entry_time_ms"]])
        assert ms(trade, "exit_at") == int(row[F["exit_time_ms"]])
        # the paper quantity is rounded down to the lot from equity that itself drifted by earlier roundings
        qty_gap = abs(row[F["qty"]] - float(trade.qty))
        assert qty_gap < 2 * 0.00001
        # each exit: its share rounded to a lot (of a move under 10 % here) and its price to a tick
        exits = int(row[F["exits"]])
        bound = (
            (qty_gap + exits * 0.00001) * 0.1 * row[F["entry_price"]] + exits * 0.01 * float(trade.qty) + 0.01
        )
        assert abs(float(trade.pnl) - row[F["pnl"]]) <= bound
    assert abs(float(paper.equity) - result.equity[-1]) < 1e-4 * result.equity[-1]


@pytest.mark.slow
async def test_every_bundled_pair_in_one_bot_matches_a_multi_series_backtest() -> None:
    symbols = [s.key.symbol for s in bundled_series() if s.key.symbol.endswith("/USDT")]
    frames = {s: bundled(s, 3_000) for s in symbols}
    starts = {int(f.open_time_ms[0]) for f in frames.values()}
    assert len(starts) == 1 and len(symbols) >= 10  # one clock for all pairs, as the bot steps them together
    config = BacktestConfig(initial_equity=120_000.0, allow_short=False, slippage_bps=2)  # 10,000 a pair
    paper, _ = await paper_run("fused", frames, config, capital=Decimal(120_000))
    result = backtest("fused", frames, config)
    assert_same_trades(result, paper, symbols)
    assert np.isfinite(result.equity).all()
