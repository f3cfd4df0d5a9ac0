"""Saving signals in one batch gives what saving them one at a time gives (SQLite and PostgreSQL): stored rows,
status changes and the changes returned, with several signals of one series in a batch, out of time order and
repeated, and with a re-run where one action flips. A batch takes a handful of statements, not some per signal."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from sqlalchemy import event

from tsbot.adapters.storage.signals import SqlSignalStore
from tsbot.core.enums import Action
from tsbot.market.models import SeriesKey, Timeframe
from tsbot.signals.models import Components, Signal, StatusChange
from tsbot.wiring import Services

T0 = datetime(2022, 1, 1, tzinfo=UTC)
BATCH, SINGLE = "batch", "single"  # the two ways of saving write to separate exchanges of one database


def _signal(
    symbol: str, hour: int, action: Action, score: float = 0.0, timeframe: Timeframe = Timeframe.H1
) -> Signal:
    return Signal(
        key=SeriesKey(BATCH, symbol, timeframe),
        as_of=T0 + timedelta(hours=hour),
        action=action,
        score=score,
        confidence=0.5,
        price=100.0 + hour,
        stop_loss=None,
        take_profit=[],
        components=Components(score, None, None),
        reasons=[f"{symbol} at {hour}"],
    )


def _on(exchange: str, items: Sequence[Signal]) -> list[Signal]:
    return [replace(s, key=replace(s.key, exchange=exchange)) for s in items]


def _plain(changes: Sequence[StatusChange]) -> list[tuple[object, ...]]:
    """Changes without the exchange, so that the two ways of saving compare."""
    return [
        (c.key.symbol, c.key.timeframe, c.changed_at, c.from_action, c.to_action, c.score) for c in changes
    ]


async def _one_at_a_time(store: SqlSignalStore, items: Sequence[Signal]) -> list[StatusChange]:
    changes: list[StatusChange] = []
    for sig in _on(SINGLE, items):
        changes += await store.save([sig])
    return changes


async def _stored(store: SqlSignalStore, exchange: str) -> list[tuple[object, ...]]:
    changes = [c for c in await store.status_changes(limit=1_000) if c.key.exchange == exchange]
    return _plain(changes)


# Backfill of BTC 1h (hours 1-6, hour 5 given before hour 4 and hour 2 given twice), ETH 1h and BTC 4h beside it.
FIRST = [
    _signal("BTC/USDT", 1, Action.HOLD, 0.0),
    _signal("ETH/USDT", 3, Action.BUY, 0.4),
    _signal("BTC/USDT", 2, Action.BUY, 0.3),
    _signal("BTC/USDT", 3, Action.BUY, 0.35),
    _signal("BTC/USDT", 5, Action.SELL, -0.4),
    _signal("BTC/USDT", 4, Action.HOLD, 0.1),
    _signal("BTC/USDT", 2, Action.SELL, -0.3),  # the same time again: replaces the values just saved
    _signal("BTC/USDT", 4, Action.HOLD, 0.1, Timeframe.H4),
    _signal("BTC/USDT", 6, Action.SELL, -0.5),
    _signal("ETH/USDT", 4, Action.BUY, 0.45),
]


async def test_a_batch_with_several_signals_of_one_series_equals_saving_them_one_at_a_time(
    services: Services,
) -> None:
    store = services.signals
    batch = await store.save(FIRST)
    assert _plain(batch) == _plain(await _one_at_a_time(store, FIRST))
    assert [(c.key.symbol, c.changed_at.hour, c.from_action, c.to_action) for c in batch] == [
        ("BTC/USDT", 1, None, Action.HOLD),
        ("ETH/USDT", 3, None, Action.BUY),
        ("BTC/USDT", 2, Action.HOLD, Action.BUY),  # then replaced by SELL: a second, different change
        ("BTC/USDT", 5, Action.BUY, Action.SELL),  # hour 4 was not stored yet when hour 5 was saved
        ("BTC/USDT", 4, Action.BUY, Action.HOLD),
        ("BTC/USDT", 2, Action.HOLD, Action.SELL),
        ("BTC/USDT", 4, None, Action.HOLD),
    ]
    assert await _stored(store, BATCH) == await _stored(store, SINGLE)
    # hour 3 is not recomputed when hour 2 is replaced later in the batch, just as one at a time
    assert not any(c.changed_at.hour == 3 and c.key.symbol == "BTC/USDT" for c in batch)

    # a re-run of the same signals, one action flipped (hour 3 BUY -> SELL) and a new first hour for BTC 1h
    second = [_signal("BTC/USDT", 0, Action.BUY, 0.2)] + [
        replace(s, action=Action.SELL) if (s.key.symbol, s.as_of.hour) == ("BTC/USDT", 3) else s
        for s in FIRST
    ]
    batch = await store.save(second)
    assert _plain(batch) == _plain(await _one_at_a_time(store, second))
    assert await _stored(store, BATCH) == await _stored(store, SINGLE)
    assert [(c.key.symbol, c.changed_at.hour, c.from_action, c.to_action) for c in batch] == [
        ("BTC/USDT", 0, None, Action.BUY),
        ("BTC/USDT", 1, Action.BUY, Action.HOLD),
        ("BTC/USDT", 2, Action.HOLD, Action.BUY),
        ("BTC/USDT", 3, Action.BUY, Action.SELL),
        ("BTC/USDT", 5, Action.HOLD, Action.SELL),
        ("BTC/USDT", 4, Action.SELL, Action.HOLD),
        ("BTC/USDT", 2, Action.HOLD, Action.SELL),
    ]
    # the signals once each, in time order: the changes settle, and saving them again returns nothing
    settled = sorted({(s.key, s.as_of): s for s in second}.values(), key=lambda s: (s.key.symbol, s.as_of))
    assert _plain(await store.save(settled)) == _plain(await _one_at_a_time(store, settled))
    assert await _stored(store, BATCH) == await _stored(store, SINGLE)
    assert await store.save(settled) == []
    assert await _one_at_a_time(store, settled) == []
    for key in (SeriesKey(BATCH, "BTC/USDT", Timeframe.H1), SeriesKey(BATCH, "ETH/USDT", Timeframe.H1)):
        latest, single = await store.latest(key), await store.latest(replace(key, exchange=SINGLE))
        assert latest is not None and single is not None
        assert replace(latest, key=single.key) == single


async def test_a_batch_of_many_series_takes_a_handful_of_statements(services: Services) -> None:
    statements: list[str] = []

    def _count(conn: object, cursor: object, statement: str, *args: object) -> None:
        statements.append(statement)

    items = [
        _signal(f"S{n}/USDT", hour, Action.BUY if (n + hour) % 3 else Action.SELL, 0.1)
        for n in range(100)
        for hour in (1, 2, 3)
    ]
    event.listen(services.db.sync_engine, "before_cursor_execute", _count)
    try:
        first = await services.signals.save(items)
        # lookup, upsert, status changes (none to delete yet), the revision
        assert len(statements) <= 4, statements
        statements.clear()
        flipped = [replace(s, action=Action.HOLD) if s.as_of.hour == 2 else s for s in items]
        again = await services.signals.save(flipped)
        # lookup, upsert, delete and insert status changes, the revision
        assert len(statements) <= 5, statements
    finally:
        event.remove(services.db.sync_engine, "before_cursor_execute", _count)
    # each series has one SELL among BUYs: 2 changes when it is at hour 1 or 3 (67 series), 3 at hour 2 (33)
    assert len(first) == 67 * 2 + 33 * 3
    # hour 2 now HOLD differs from hour 1 in every series, and hour 3 from hour 2
    assert sorted({c.changed_at.hour for c in again}) == [2, 3] and len(again) == 200
