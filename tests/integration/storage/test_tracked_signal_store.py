"""The tracked-signal store on a real database (SQLite file and PostgreSQL): exact numbers, the lifecycle,
unmatched updates, the concurrency guard, and migration 0002 going down and up."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import inspect

from tsbot.adapters.memory import MemoryTrackedSignalStore
from tsbot.adapters.storage.database import create_engine, downgrade, upgrade
from tsbot.core.errors import DataError
from tsbot.intake.models import EntryKind, MarginMode, Side, SignalUpdate, TradeIntent, UpdateEvent
from tsbot.intake.ports import TrackedSignalStore
from tsbot.intake.tracking import (
    ConcurrentUpdateError,
    SignalStatus,
    SignalTracker,
    TrackOutcome,
    UnmatchedReason,
    apply_update,
)
from tsbot.wiring import Services

T0 = datetime(2024, 3, 1, 12, 0, tzinfo=UTC)
D = Decimal
E = UpdateEvent

AWKWARD = TradeIntent(
    symbol="1000PEPE/USDT",
    side=Side.SHORT,
    entry=(D("0.000065"), D("1.3498999999999999")),
    entry_kind=EntryKind.LIST,
    targets=(D("27400"), D("0.00000001"), D("27400")),
    stop=D("0.000065"),
    leverage=D("20.0"),
    margin=MarginMode.ISOLATED,
    exchanges=("Binance Futures", "ByBit USDT"),
)


def _sxp(stop: str = "1.0") -> TradeIntent:
    return TradeIntent(
        "SXP/USDT", Side.LONG, (D("1.2"), D("1.1")), EntryKind.LIST, (D("1.3"), D("1.4"), D("1.5")), D(stop)
    )


async def test_round_trip_keeps_every_digit(services: Services) -> None:
    tracker = SignalTracker(services.tracked_signals)
    stored = await tracker.record_signal("chan", "10", AWKWARD, T0)
    update = SignalUpdate("1000PEPE", E.ENTRY_FILLED, 1, D("0.0000650"), D("-1.3498999999999999"), "2 Hours")
    await tracker.apply("chan", "11", update, T0 + timedelta(minutes=5))
    loaded = await services.tracked_signals.get(stored.id or 0)
    assert loaded is not None
    assert loaded.intent == AWKWARD
    assert [str(p) for p in loaded.intent.entry] == ["0.000065", "1.3498999999999999"]
    assert [str(p) for p in loaded.intent.targets] == ["27400", "1E-8", "27400"]
    assert format(loaded.intent.targets[1], "f") == "0.00000001"
    assert (str(loaded.stop), str(loaded.intent.leverage)) == ("0.000065", "20.0")
    assert loaded.posted_at == T0 and loaded.posted_at.tzinfo is not None
    (step,) = loaded.history
    assert step.update == update
    assert str(step.update.price) == "0.0000650"  # as given, trailing zero included
    assert str(loaded.last_profit_pct) == "-1.3498999999999999"
    assert (step.at, step.post_id, step.from_status, step.to_status) == (
        T0 + timedelta(minutes=5),
        "11",
        SignalStatus.PENDING,
        SignalStatus.ENTERED,
    )


async def test_lifecycle_through_the_store(services: Services) -> None:
    store = services.tracked_signals
    tracker = SignalTracker(store)
    sig = await tracker.record_signal("chan", "1", _sxp(), T0)
    steps = [
        SignalUpdate("SXP", E.ENTRY_FILLED, 1, D("1.2")),
        SignalUpdate("#SXP", E.TARGET_HIT, 1, profit_pct=D("83.3")),
        SignalUpdate("SXP/USDT", E.MOVE_STOP),
        SignalUpdate("SXP", E.TARGET_HIT, 2, profit_pct=D("166.7")),
        SignalUpdate("SXP", E.STOP_HIT, price=D("1.2"), profit_pct=D("0")),
    ]
    statuses = []
    for n, update in enumerate(steps, start=2):
        result = await tracker.apply("chan", str(n), update, T0 + timedelta(hours=n))
        assert result.outcome is TrackOutcome.APPLIED, result.detail
        assert result.signal is not None
        statuses.append(result.signal.status)
    assert statuses == [SignalStatus.ENTERED] * 4 + [SignalStatus.STOPPED]
    final = await store.get(sig.id or 0)
    assert final is not None
    assert (final.targets_hit, final.filled_entries, final.stop, final.stop_moved_to_entry) == (
        2,
        1,
        D("1.2"),
        True,
    )
    assert final.note == "closed at stop-loss after reaching take-profit 2"
    assert (final.closed_at, final.exit_price, final.last_profit_pct) == (
        T0 + timedelta(hours=6),
        D("1.2"),
        D("0"),
    )
    assert [h.update for h in final.history] == steps
    assert [h.post_id for h in final.history] == ["2", "3", "4", "5", "6"]
    assert await tracker.open_signals("chan") == []
    assert [s.id for s in await tracker.signals_by_status(SignalStatus.STOPPED, provider="chan")] == [sig.id]
    assert await tracker.signals_by_status(SignalStatus.STOPPED, provider="nobody") == []


async def test_open_signals_most_recent_first_and_per_provider(services: Services) -> None:
    store = services.tracked_signals
    tracker = SignalTracker(store)
    older = await tracker.record_signal("chan", "1", _sxp(), T0)
    newer = await tracker.record_signal("chan", "2", _sxp("1.05"), T0 + timedelta(hours=1))
    elsewhere = await tracker.record_signal("other", "1", _sxp(), T0 + timedelta(hours=2))
    assert [s.id for s in await store.open_signals("chan")] == [newer.id, older.id]
    assert [s.id for s in await store.open_signals("chan", base="SXP")] == [newer.id, older.id]
    assert await store.open_signals("chan", base="BTC") == []
    result = await tracker.apply("chan", "3", SignalUpdate("SXP", E.CANCELLED), T0 + timedelta(hours=3))
    assert result.signal is not None and result.signal.id == newer.id
    assert (await store.get(elsewhere.id or 0)) == elsewhere
    assert [s.id for s in await store.open_signals("chan")] == [older.id]


async def test_unmatched_updates_are_kept(services: Services) -> None:
    tracker = SignalTracker(services.tracked_signals)
    sig = await tracker.record_signal("chan", "1", _sxp(), T0)
    at = T0 + timedelta(hours=1)
    # bad input: an update for a symbol never signalled, one with symbol None, one past the last target
    never = await tracker.apply("chan", "2", SignalUpdate("DOGE/USDT", E.TARGET_HIT, 1), at)
    no_symbol = await tracker.apply("chan", "3", SignalUpdate(None, E.STOP_HIT, profit_pct=D("-12.5")), at)
    too_far = await tracker.apply(
        "chan", "4", SignalUpdate("SXP", E.TARGET_HIT, 9), at + timedelta(minutes=1)
    )
    assert {never.outcome, no_symbol.outcome, too_far.outcome} == {TrackOutcome.UNMATCHED}
    kept = await tracker.unmatched_updates("chan")
    assert [(u.post_id, u.reason, u.signal_id) for u in kept] == [
        ("4", UnmatchedReason.INVALID_TRANSITION, sig.id),
        ("3", UnmatchedReason.NO_SYMBOL, None),
        ("2", UnmatchedReason.NO_OPEN_SIGNAL, None),
    ]
    assert kept[1].update == SignalUpdate(None, E.STOP_HIT, profit_pct=D("-12.5"))
    assert kept[1].received_at == at
    assert all(u.id is not None and u.detail for u in kept)
    assert await tracker.unmatched_updates("chan", limit=1) == kept[:1]
    assert await tracker.unmatched_updates("other") == []
    untouched = await services.tracked_signals.get(sig.id or 0)
    assert untouched is not None and untouched.history == () and untouched.status is SignalStatus.PENDING


async def test_store_refuses_duplicates_stale_states_and_long_names(services: Services) -> None:
    store = services.tracked_signals
    tracker = SignalTracker(store)
    sig = await tracker.record_signal("chan", "1", _sxp(), T0)
    # bad input: the same post stored twice
    with pytest.raises(DataError, match="stored already"):
        await store.add(sig)
    assert await tracker.record_signal("chan", "1", _sxp(), T0) == sig  # the tracker returns the stored one
    at = T0 + timedelta(hours=1)
    first = apply_update(sig, SignalUpdate("SXP", E.TARGET_HIT, 1), at)
    second = apply_update(sig, SignalUpdate("SXP", E.STOP_HIT), at)
    await store.save_transition(first)
    # bad input: a state made from an outdated copy
    with pytest.raises(ConcurrentUpdateError):
        await store.save_transition(second)
    stored = await store.get(sig.id or 0)
    assert stored is not None and stored.status is SignalStatus.ENTERED and len(stored.history) == 1
    # bad input: a provider name longer than the column
    with pytest.raises(DataError, match="at most 200"):
        await tracker.record_signal("x" * 201, "1", _sxp(), T0)


async def test_sql_and_memory_stores_agree(services: Services) -> None:
    script = [
        ("signal", "1", _sxp(), T0),
        ("signal", "2", AWKWARD, T0 + timedelta(minutes=1)),
        ("update", "3", SignalUpdate("PEPE", E.ENTERED_ZONE), T0 + timedelta(minutes=2)),
        (
            "update",
            "4",
            SignalUpdate("1000PEPE", E.ALL_TARGETS_HIT, profit_pct=D("310")),
            T0 + timedelta(hours=1),
        ),
        ("update", "5", SignalUpdate("SXP", E.MOVE_STOP, price=D("1.15")), T0 + timedelta(hours=2)),
        ("update", "6", SignalUpdate(None, E.CLOSED), T0 + timedelta(hours=3)),
    ]
    outcomes = []
    stores: list[TrackedSignalStore] = [services.tracked_signals, MemoryTrackedSignalStore()]
    for store in stores:
        tracker = SignalTracker(store)
        run = []
        for kind, post_id, payload, at in script:
            if kind == "signal":
                assert isinstance(payload, TradeIntent)
                run.append((await tracker.record_signal("chan", post_id, payload, at)).status)
            else:
                assert isinstance(payload, SignalUpdate)
                run.append((await tracker.apply("chan", post_id, payload, at)).outcome)
        signals = [replace(s, id=None) for s in await tracker.open_signals("chan")]
        closed = [replace(s, id=None) for s in await tracker.signals_by_status(SignalStatus.CLOSED)]
        unmatched = [replace(u, id=None) for u in await tracker.unmatched_updates("chan")]
        outcomes.append((run, signals, closed, unmatched))
    assert outcomes[0] == outcomes[1]
    run, signals, closed, unmatched = outcomes[0]
    assert run[2] is TrackOutcome.UNMATCHED  # "PEPE" is not "1000PEPE"
    assert [s.stop for s in signals] == [D("1.15")]
    assert [c.targets_hit for c in closed] == [3]
    assert len(unmatched) == 2


async def test_migration_0002_goes_down_and_up(database_url: str) -> None:
    engine = create_engine(database_url)
    ours = {"tracked_signals", "tracked_signal_events", "unmatched_updates"}
    try:
        await upgrade(engine)
        await downgrade(engine, "0001")
        async with engine.connect() as conn:
            names = set(await conn.run_sync(lambda c: inspect(c).get_table_names()))
        assert not names & ours
        assert {"candles", "signals", "headlines"} <= names
        await upgrade(engine)
        async with engine.connect() as conn:
            names = set(await conn.run_sync(lambda c: inspect(c).get_table_names()))
            indexes = await conn.run_sync(lambda c: inspect(c).get_indexes("tracked_signals"))
        assert ours <= names
        assert {"provider", "symbol", "status"} in [set(i["column_names"]) for i in indexes]
    finally:
        await engine.dispose()
