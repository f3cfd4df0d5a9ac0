"""Pages of stored signals (SQLite and PostgreSQL): every page size and offset gives the items and the total that a
full listing gives, whether the database counts the matches (full pages, empty pages past the first) or the page
itself tells them (a page with room left)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import event

from tsbot.adapters.storage.signal_queries import SignalFilter, SqlSignalQueries
from tsbot.core.enums import Action
from tsbot.market.models import SeriesKey, Timeframe
from tsbot.signals.models import Components, Signal
from tsbot.wiring import Services

T0 = datetime(2023, 5, 1, tzinfo=UTC)
STORED = 7


def _signal(hour: int) -> Signal:
    return Signal(
        key=SeriesKey("binance", "ETH/USDT", Timeframe.H1),
        as_of=T0 + timedelta(hours=hour),
        action=Action.BUY if hour % 2 else Action.HOLD,
        score=0.1 * hour,
        confidence=0.5,
        price=2_000.0 + hour,
        stop_loss=None,
        take_profit=[],
        components=Components(0.1, None, None),
        reasons=[f"hour {hour}"],
    )


@pytest.mark.parametrize(
    ("limit", "offset"),
    [(5, 0), (5, 5), (7, 0), (10, 0), (3, 6), (5, 7), (5, 10), (1, 0), (7, 7)],
    ids=["full", "rest", "exact", "room", "last-one", "past-end", "far-past-end", "one", "exact-past-end"],
)
async def test_pages_agree_with_the_full_listing(services: Services, limit: int, offset: int) -> None:
    """Bad input: offsets at and past the end of the matches."""
    await services.signals.save([_signal(h) for h in range(STORED)])
    queries = SqlSignalQueries(services.db)
    everything, total = await queries.page(SignalFilter(), limit=500)
    assert total == STORED and [s.signal.as_of for s in everything] == sorted(
        (s.signal.as_of for s in everything), reverse=True
    )
    counted: list[str] = []
    event.listen(
        services.db.sync_engine,
        "before_cursor_execute",
        lambda *a: counted.append(a[2]) if "count(" in a[2].lower() else None,
    )
    items, total = await queries.page(SignalFilter(), limit=limit, offset=offset)
    assert [s.id for s in items] == [s.id for s in everything[offset : offset + limit]]
    assert total == STORED
    page_has_room = len(items) < limit and (items or offset == 0)
    assert len(counted) == (0 if page_has_room else 1)


async def test_no_match_is_a_total_of_zero(services: Services) -> None:
    """Bad input: a filter no stored signal matches (an action none has), first page and past it."""
    await services.signals.save([_signal(h) for h in range(STORED)])
    queries = SqlSignalQueries(services.db)
    none = SignalFilter(action=Action.SELL)
    assert await queries.page(none, limit=5) == ([], 0)
    assert await queries.page(none, limit=5, offset=5) == ([], 0)
    buys = SignalFilter(action=Action.BUY)
    items, total = await queries.page(buys, limit=2, offset=2)
    assert total == 3 and len(items) == 1
