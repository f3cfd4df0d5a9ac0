"""Revisions of the stored signals (SQLite and PostgreSQL): every save that stores or changes a signal raises the
revision by one in its own transaction; an empty save, a read and a failed transaction leave it as it was; on
PostgreSQL two saves running at once are both counted."""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import UTC, datetime, timedelta

import pytest

from tsbot.adapters.storage.database import create_engine
from tsbot.adapters.storage.revisions import SIGNALS, SqlRevisions, bump_revision
from tsbot.adapters.storage.signal_queries import SignalFilter, SqlSignalQueries
from tsbot.adapters.storage.signals import SqlSignalStore
from tsbot.core.enums import Action
from tsbot.market.models import SeriesKey, Timeframe
from tsbot.signals.models import Components, Signal
from tsbot.wiring import Services

T0 = datetime(2024, 3, 1, tzinfo=UTC)


def _signal(hour: int, symbol: str = "BTC/USDT", score: float = 0.3) -> Signal:
    return Signal(
        key=SeriesKey("binance", symbol, Timeframe.H1),
        as_of=T0 + timedelta(hours=hour),
        action=Action.BUY,
        score=score,
        confidence=0.6,
        price=60_000.0 + hour,
        stop_loss=59_000.0,
        take_profit=[61_000.0],
        components=Components(score, None, None),
        reasons=[f"hour {hour}"],
    )


async def test_each_save_raises_the_revision_once(services: Services) -> None:
    revisions = SqlRevisions(services.db)
    assert await revisions.current(SIGNALS) == 0  # never changed: no row yet
    await services.signals.save([_signal(0), _signal(1), _signal(2, "ETH/USDT")])  # a batch is one change
    assert await revisions.current(SIGNALS) == 1
    await services.signals.save([])  # nothing stored
    await SqlSignalQueries(services.db).page(SignalFilter(), limit=10, offset=0)  # a read
    assert await revisions.current(SIGNALS) == 1
    await services.signals.save([dataclasses.replace(_signal(1), score=-0.4, action=Action.SELL)])  # replaced
    assert await revisions.current(SIGNALS) == 2
    await services.signals.save([_signal(1, score=-0.4)])  # the same values again still count as a write
    assert await revisions.current(SIGNALS) == 3
    assert await revisions.current("unknown data set") == 0


async def test_a_transaction_that_fails_leaves_the_revision(services: Services) -> None:
    """Bad input: a transaction that raised after raising the revision (rolled back with everything else)."""
    await services.signals.save([_signal(0)])
    with pytest.raises(RuntimeError, match="after the bump"):
        async with services.db.begin() as conn:
            await bump_revision(conn, SIGNALS)
            raise RuntimeError("failed after the bump")
    assert await SqlRevisions(services.db).current(SIGNALS) == 1


async def test_writers_in_other_processes_raise_the_revision_the_reader_sees(
    services: Services, database_url: str
) -> None:
    """A second engine stands for another process (a monitor, another API worker)."""
    other = create_engine(database_url)
    try:
        await SqlSignalStore(other).save([_signal(5)])
        assert await SqlRevisions(services.db).current(SIGNALS) == 1
        if services.db.dialect.name == "postgresql":  # concurrent writers: each waits for the other's commit
            store = SqlSignalStore(other)
            await asyncio.gather(
                services.signals.save([_signal(6)]), store.save([_signal(7)]), store.save([_signal(8)])
            )
            assert await SqlRevisions(services.db).current(SIGNALS) == 4
    finally:
        await other.dispose()
