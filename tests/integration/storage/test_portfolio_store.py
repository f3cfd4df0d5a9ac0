"""The portfolio store on a real database (SQLite file and PostgreSQL): several portfolios per owner, another
owner's portfolio not found, one portfolio per account, target weights kept exactly, one snapshot per day
(a second save of the day replaces the first), and period queries."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal as D

import pytest

from tsbot.adapters.storage.database import create_engine, upgrade
from tsbot.adapters.storage.portfolios import SqlPortfolioStore
from tsbot.core.enums import AssetClass
from tsbot.core.errors import ConfigError, NotFoundError
from tsbot.trading.performance import DailySnapshot, performance_stats

T0 = datetime(2026, 3, 2, 10, tzinfo=UTC)


@pytest.fixture
async def store(database_url: str) -> AsyncIterator[SqlPortfolioStore]:
    engine = create_engine(database_url)
    await upgrade(engine)
    ticks = iter(range(10_000))
    try:
        yield SqlPortfolioStore(engine, clock=lambda: T0 + timedelta(seconds=next(ticks)))
    finally:
        await engine.dispose()


def snap(day: date, equity: str, cash: str = "100.5") -> DailySnapshot:
    return DailySnapshot(day, D(equity), D(cash), D(equity) - D(cash), D("1.25"), D("-0.000000012"), D("0.1"))


async def test_create_list_get_and_another_owner_gets_not_found(store: SqlPortfolioStore) -> None:
    main = await store.create("alice", "Main")
    spot = await store.create("alice", "Spot only", base_currency="usdt")
    await store.create("bob", "Main")  # another owner may use the same name
    assert len(main.id) == 32 and (main.owner, main.name, main.base_currency) == ("alice", "Main", "USD")
    assert (spot.base_currency, spot.target_weights, spot.accounts) == ("USDT", {}, ())
    assert main.created_at == T0 and main.created_at.tzinfo is not None
    assert [p.name for p in await store.list("alice")] == ["Main", "Spot only"]
    assert await store.list("carol") == []
    assert await store.get(main.id, owner="alice") == main
    with pytest.raises(NotFoundError):
        await store.get(main.id, owner="bob")  # bad input: bob asks for alice's portfolio
    with pytest.raises(NotFoundError):
        await store.get("0" * 32)  # bad input: an id that does not exist
    with pytest.raises(ConfigError, match="portfolio Main exists"):
        await store.create("alice", "Main")  # bad input: a name alice already uses
    with pytest.raises(ConfigError, match="1-64"):
        await store.create("alice", "  ")  # bad input: an empty name


async def test_accounts_belong_to_one_portfolio(store: SqlPortfolioStore) -> None:
    main = await store.create("alice", "Main")
    other = await store.create("alice", "Other")
    info = await store.attach_account(main.id, "binance:k1", "binance", "crypto")
    await store.attach_account(main.id, "alpaca:k2", "alpaca", AssetClass.STOCK)
    assert [a.account for a in info.accounts] == ["binance:k1"]
    accounts = await store.accounts(main.id)
    assert [(a.account, a.venue, a.asset_class) for a in accounts] == [
        ("alpaca:k2", "alpaca", AssetClass.STOCK),
        ("binance:k1", "binance", AssetClass.CRYPTO),
    ]
    with pytest.raises(ConfigError, match="already in portfolio Main"):
        await store.attach_account(other.id, "binance:k1", "binance", "crypto")  # bad input: taken elsewhere
    with pytest.raises(ConfigError, match="already in this portfolio"):
        await store.attach_account(main.id, "binance:k1", "binance", "crypto")  # bad input: attached twice
    with pytest.raises(ConfigError, match="bond"):
        await store.attach_account(other.id, "ib:1", "ib", "bond")  # bad input: unknown asset class
    with pytest.raises(NotFoundError):
        await store.attach_account("f" * 32, "paper:1", "paper", "crypto")  # bad input: no such portfolio
    found = await store.portfolio_of("alpaca:k2")
    assert found is not None and found.id == main.id and len(found.accounts) == 2
    assert await store.portfolio_of("kraken:nope") is None
    assert (await store.get(other.id)).accounts == ()


async def test_targets_are_validated_and_kept_exactly(store: SqlPortfolioStore) -> None:
    p = await store.create("alice", "Main")
    info = await store.set_targets(p.id, {"BTC/USDT": D("0.4"), "AAPL/USD": D("0.333333333333")})
    assert info.target_weights == {"AAPL/USD": D("0.333333333333"), "BTC/USDT": D("0.4")}
    assert (await store.get(p.id)).target_weights == info.target_weights
    with pytest.raises(ConfigError, match="add up to 1.2"):
        await store.set_targets(p.id, {"BTC/USDT": D("0.6"), "ETH/USDT": D("0.6")})  # bad input: over 100 %
    assert (await store.get(p.id)).target_weights == info.target_weights  # the refused set changed nothing
    with pytest.raises(NotFoundError):
        await store.set_targets(p.id, {"BTC/USDT": D("0.1")}, owner="bob")  # bad input: not bob's portfolio
    assert (await store.set_targets(p.id, {})).target_weights == {}


async def test_one_snapshot_per_day_and_period_queries(store: SqlPortfolioStore) -> None:
    p = await store.create("alice", "Main")
    days = [date(2026, 3, 1) + timedelta(days=i) for i in range(10)]
    for i, d in enumerate(days):
        await store.save_snapshot(p.id, snap(d, str(1000 + 10 * i)))
    # The job runs again on 2026-03-05 (a restart): the day's row is replaced, not doubled.
    await store.save_snapshot(p.id, snap(days[4], "999.999999999999", cash="0"))
    stored = await store.snapshots(p.id)
    assert [s.day for s in stored] == days
    assert stored[4] == snap(days[4], "999.999999999999", cash="0")
    assert stored[0].unrealised_pnl == D("-0.000000012")  # every digit survives the round trip
    window = await store.snapshots(p.id, start=date(2026, 3, 3), end=date(2026, 3, 6))
    assert [s.day.day for s in window] == [3, 4, 5, 6]
    assert [s.day.day for s in await store.snapshots(p.id, end=date(2026, 3, 2))] == [1, 2]
    stats = performance_stats(stored, "7d")
    assert (stats.start_equity, stats.end_equity, stats.snapshots) == (D(1020), D(1090), 8)
    with pytest.raises(NotFoundError):
        await store.save_snapshot("f" * 32, snap(days[0], "1"))  # bad input: no such portfolio


async def test_deleting_a_portfolio_takes_its_accounts_and_snapshots(store: SqlPortfolioStore) -> None:
    p = await store.create("alice", "Main")
    keep = await store.create("alice", "Keep")
    await store.attach_account(p.id, "paper:1", "paper", "crypto")
    await store.save_snapshot(p.id, snap(date(2026, 3, 1), "1000"))
    await store.save_snapshot(keep.id, snap(date(2026, 3, 1), "500"))
    with pytest.raises(NotFoundError):
        await store.delete(p.id, owner="bob")  # bad input: bob deletes alice's portfolio
    await store.delete(p.id, owner="alice")
    with pytest.raises(NotFoundError):
        await store.get(p.id)
    assert await store.snapshots(p.id) == [] and await store.portfolio_of("paper:1") is None
    assert [s.equity for s in await store.snapshots(keep.id)] == [D(500)]
    await store.attach_account(keep.id, "paper:1", "paper", "crypto")  # the account is free again
