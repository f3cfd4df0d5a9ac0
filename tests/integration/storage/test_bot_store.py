"""The bot store on a real database (SQLite file and PostgreSQL): bots created, read back exactly and listed; a
repeated name refused; another owner's bot not found; status changes logged as events in one step; a stopped bot
never resumes; approvals proposed once per client order id, approved or rejected once (also when two people
decide at the same moment), and expired past their time."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal as D

import pytest

from tsbot.adapters.storage.bots import BotEventRow, SqlBotStore
from tsbot.adapters.storage.database import create_engine, upgrade
from tsbot.core.errors import ConfigError, NotFoundError
from tsbot.trading.bots import Approval, ApprovalStatus, BotConfig, BotMode, BotStatus, approval_summary
from tsbot.trading.models import InvalidTransitionError, OrderRequest, OrderSide, OrderType
from tsbot.trading.risk import RiskLimits

T0 = datetime(2026, 3, 2, 10, tzinfo=UTC)


@pytest.fixture
async def store(database_url: str) -> AsyncIterator[SqlBotStore]:
    engine = create_engine(database_url)
    await upgrade(engine)
    try:
        yield SqlBotStore(engine)
    finally:
        await engine.dispose()


def bot(name: str = "Swing BTC", owner: str = "alice", at: datetime = T0, **kw: object) -> BotConfig:
    args: dict[str, object] = {
        "strategy": "swing",
        "pairs": ["BTC/USDT", "eth/usdt"],
        "capital": D("1000.125"),
        "account": "paper:p1",
        "now": at,
    }
    args.update(kw)
    return BotConfig.new(owner, name, **args)  # type: ignore[arg-type]


def order(cid: str = "tsb-1", qty: str = "0.0100") -> OrderRequest:
    return OrderRequest(
        cid,
        "paper:p1",
        "BTC/USDT",
        OrderSide.BUY,
        OrderType.MARKET,
        D(qty),
        reason="signal at 2026-03-02 10:00",
    )


async def test_create_get_by_name_and_list(store: SqlBotStore) -> None:
    risk = RiskLimits(
        max_position_qty=D("0.000001"), cooldown_after_stop=None, drawdown_pause=timedelta(hours=6)
    )
    swing = bot(params={"stop_atr": 3.5}, timeframe="4h", risk=risk, approval=True)
    stored = await store.create(swing)
    assert stored == swing  # every field reads back exactly: capital, risk limits, params, times
    assert stored.capital == D("1000.125") and stored.risk.max_position_qty == D("0.000001")
    live = await store.create(
        bot(
            "Follow guru",
            at=T0 + timedelta(minutes=1),
            strategy="follow",
            provider="guru",
            account="binance:k1",
            mode="live",
        )
    )
    assert (live.strategy, live.provider, live.mode, live.account) == (
        "follow",
        "guru",
        BotMode.LIVE,
        "binance:k1",
    )
    await store.create(bot("Swing BTC", owner="bob"))  # another owner may use the same name
    assert await store.get(swing.id, owner="alice") == swing
    assert await store.by_name("alice", " Follow guru ") == live
    assert [b.name for b in await store.list("alice")] == ["Swing BTC", "Follow guru"]
    assert len(await store.list()) == 3 and await store.list("carol") == []
    await store.set_status(live.id, BotStatus.PAUSED, "by alice", T0 + timedelta(hours=1))
    assert [b.name for b in await store.list("alice", status=BotStatus.PAUSED)] == ["Follow guru"]
    assert [b.name for b in await store.list("alice", status=BotStatus.RUNNING)] == ["Swing BTC"]


async def test_duplicate_name_and_other_owners_are_refused(store: SqlBotStore) -> None:
    swing = await store.create(bot())
    with pytest.raises(ConfigError, match="a bot named Swing BTC exists"):
        await store.create(bot())  # bad input: a second bot of alice with the same name
    with pytest.raises(NotFoundError):
        await store.get(swing.id, owner="bob")  # bad input: bob asks for alice's bot
    with pytest.raises(NotFoundError):
        await store.by_name("bob", "Swing BTC")  # bad input: bob asks for alice's bot by name
    with pytest.raises(NotFoundError):
        await store.get("0" * 32)  # bad input: an id that does not exist
    with pytest.raises(NotFoundError):
        await store.set_status(swing.id, BotStatus.PAUSED, "bob", T0, owner="bob")  # bad input: bob pauses it
    assert (await store.get(swing.id)).status is BotStatus.RUNNING
    assert len(await store.list("alice")) == 1


async def test_status_changes_write_events_and_a_stopped_bot_never_resumes(store: SqlBotStore) -> None:
    swing = await store.create(bot())
    at = [T0 + timedelta(minutes=i) for i in range(1, 6)]
    paused = await store.set_status(swing.id, BotStatus.PAUSED, "paused by alice", at[0], owner="alice")
    assert (paused.status, paused.status_reason, paused.updated_at) == (
        BotStatus.PAUSED,
        "paused by alice",
        at[0],
    )
    await store.set_status(swing.id, BotStatus.RUNNING, "resumed by alice", at[1])
    await store.set_status(swing.id, BotStatus.KILLED, "daily loss 5 % reached the limit", at[2])
    await store.add_event(swing.id, at[2], "kill_switch", "daily loss 5 %", {"loss": "0.05"})
    await store.set_status(swing.id, BotStatus.RUNNING, "resumed after the kill switch", at[3])
    stopped = await store.set_status(swing.id, BotStatus.STOPPED, "done", at[4])
    assert stopped.status is BotStatus.STOPPED and stopped.created_at == T0
    with pytest.raises(InvalidTransitionError, match="stopped bot cannot be resumed; start a new one"):
        await store.set_status(swing.id, BotStatus.RUNNING, "again", at[4])  # bad input: resume a stopped bot
    with pytest.raises(InvalidTransitionError, match="already stopped|cannot be stopped"):
        await store.set_status(swing.id, BotStatus.STOPPED, "again", at[4])  # bad input: stop it twice
    events = await store.events(swing.id)
    assert [(e.kind, e.at) for e in events] == [
        ("status", at[4]),
        ("status", at[3]),
        ("kill_switch", at[2]),
        ("status", at[2]),
        ("status", at[1]),
        ("status", at[0]),
    ]
    data = {"from": "running", "to": "stopped", "reason": "done"}
    assert events[0] == BotEventRow(at[4], "status", "running -> stopped: done", data)
    assert events[2].data == {"loss": "0.05"}
    assert [e.at for e in await store.events(swing.id, limit=2)] == [at[4], at[3]]
    assert (await store.get(swing.id)).status is BotStatus.STOPPED  # the refused moves changed nothing
    with pytest.raises(NotFoundError):
        await store.add_event("f" * 32, T0, "note", "x")  # bad input: an event for no bot
    with pytest.raises(ConfigError, match="1-32"):
        await store.add_event(swing.id, T0, "k" * 33, "x")  # bad input: an over-long kind


async def test_approvals_are_proposed_once_and_decided_once(store: SqlBotStore) -> None:
    swing = await store.create(bot())
    first = Approval.new("alice", order(), approval_summary(swing.name, order()), now=T0, bot_id=swing.id)
    stored = await store.propose(first)
    assert stored == first and stored.summary.startswith("Swing BTC wants to BUY 0.01 BTC/USDT at market")
    assert str(stored.request.qty) == "0.0100"  # the request reads back digit for digit
    # The bot restarts and proposes the same order (same client id) again: the stored one comes back.
    again = Approval.new("alice", order(), "other words", now=T0 + timedelta(minutes=1), bot_id=swing.id)
    assert await store.propose(again) == first
    assert [a.id for a in await store.approvals("alice")] == [first.id]
    with pytest.raises(ConfigError, match="another user"):
        await store.propose(
            Approval.new("bob", order(), "s", now=T0)
        )  # bad input: the same client id for bob
    with pytest.raises(NotFoundError):
        # bad input: bob's approval names alice's bot
        await store.propose(Approval.new("bob", order("tsb-2"), "s", now=T0, bot_id=swing.id))

    approved = await store.decide(first.id, "alice", True, "alice@telegram", T0 + timedelta(minutes=2))
    assert (approved.status, approved.decided_by, approved.decided_at) == (
        ApprovalStatus.APPROVED,
        "alice@telegram",
        T0 + timedelta(minutes=2),
    )
    with pytest.raises(ConfigError, match="already approved by alice@telegram at 2026-03-02 10:02:00 UTC"):
        await store.decide(
            first.id, "alice", False, "alice@web", T0 + timedelta(minutes=3)
        )  # bad input: twice
    with pytest.raises(NotFoundError):
        await store.decide(first.id, "bob", True, "bob", T0 + timedelta(minutes=3))  # bad input: not bob's
    with pytest.raises(NotFoundError):
        await store.get_approval(first.id, "bob")  # bad input: bob reads alice's approval
    assert (await store.get_approval(first.id, "alice")).status is ApprovalStatus.APPROVED

    second = await store.propose(Approval.new("alice", order("tsb-2"), "s", now=T0, bot_id=swing.id))
    rejected = await store.decide(second.id, "alice", False, "alice", T0 + timedelta(minutes=4))
    assert rejected.status is ApprovalStatus.REJECTED
    with pytest.raises(ConfigError, match="already rejected"):
        await store.decide(
            second.id, "alice", True, "alice", T0 + timedelta(minutes=5)
        )  # bad input: reversal
    assert [a.id for a in await store.approvals("alice", ApprovalStatus.REJECTED)] == [second.id]
    assert await store.approvals("alice", ApprovalStatus.PENDING) == []


async def test_two_decisions_at_once_have_one_winner(store: SqlBotStore) -> None:
    proposed = await store.propose(Approval.new("alice", order(), "s", now=T0))
    at = T0 + timedelta(minutes=1)
    results = await asyncio.gather(
        store.decide(proposed.id, "alice", True, "alice@phone", at),
        store.decide(proposed.id, "alice", False, "alice@web", at),
        return_exceptions=True,
    )
    wins = [r for r in results if isinstance(r, Approval)]
    losses = [r for r in results if isinstance(r, ConfigError)]
    assert len(wins) == 1 and len(losses) == 1, results
    assert "already" in str(losses[0])
    assert await store.get_approval(proposed.id, "alice") == wins[0]


async def test_expiry(store: SqlBotStore) -> None:
    ttl = timedelta(minutes=10)
    late = await store.propose(Approval.new("alice", order("tsb-1"), "s", now=T0, ttl=ttl))
    old = await store.propose(
        Approval.new("alice", order("tsb-2"), "s", now=T0 - timedelta(minutes=5), ttl=ttl)
    )
    fresh = await store.propose(
        Approval.new("alice", order("tsb-3"), "s", now=T0 + timedelta(minutes=9), ttl=ttl)
    )
    with pytest.raises(ConfigError, match="expired at 2026-03-02 10:10:00 UTC"):
        await store.decide(late.id, "alice", True, "alice", T0 + ttl)  # bad input: approving at its expiry
    assert (await store.get_approval(late.id, "alice")).status is ApprovalStatus.EXPIRED  # stored as expired
    with pytest.raises(ConfigError, match="expired at"):
        await store.decide(late.id, "alice", True, "alice", T0)  # bad input: approving an expired one again
    assert await store.expire(T0 + timedelta(minutes=4)) == 0  # nothing is due yet
    assert await store.expire(T0 + timedelta(minutes=5)) == 1  # old expires at exactly 10:05
    assert await store.expire(T0 + timedelta(minutes=5)) == 0  # and is not counted twice
    pending = await store.approvals("alice", ApprovalStatus.PENDING)
    assert [a.id for a in pending] == [fresh.id]
    assert (await store.get_approval(old.id, "alice")).status is ApprovalStatus.EXPIRED
    assert (await store.decide(fresh.id, "alice", True, "alice", T0 + timedelta(minutes=18))).status is (
        ApprovalStatus.APPROVED
    )
