"""The SQL stores on a real database (SQLite file and PostgreSQL): candles, headlines, signals, migrations."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from sqlalchemy import inspect

from tsbot.adapters.storage.database import create_engine, downgrade, normalise_url, upgrade
from tsbot.core.enums import Action
from tsbot.core.errors import ConfigError
from tsbot.market.models import CandleFrame, SeriesKey, Timeframe
from tsbot.market.service import import_candles
from tsbot.sentiment.models import Headline
from tsbot.signals.models import Components, Signal
from tsbot.wiring import Services

H = Timeframe.H1.ms
T0 = 1_609_459_200_000
KEY = SeriesKey("binance", "BTC/USDT", Timeframe.H1)


def _rows(n: int, start: int = 0) -> np.ndarray:
    i = np.arange(start, start + n, dtype=float)
    close = 100 + i
    return np.column_stack([T0 + i * H, close - 0.5, close + 1, close - 1, close, 10 + i])


async def test_upsert_and_load_round_trip(services: Services) -> None:
    store = services.candles
    frame = CandleFrame.from_rows(_rows(50))
    first = await store.upsert(KEY, "crypto", frame)
    assert (first.inserted, first.unchanged) == (50, 0)
    again = await store.upsert(KEY, "crypto", frame)
    assert (again.inserted, again.unchanged) == (0, 50)  # idempotent
    loaded = await store.load(KEY)
    np.testing.assert_array_equal(loaded.open_time_ms, frame.open_time_ms)
    np.testing.assert_array_equal(loaded.close, frame.close)  # float64 exact
    assert await store.last_open_ms(KEY) == T0 + 49 * H


async def test_point_in_time_load_cuts_at_end_and_limits(services: Services) -> None:
    store = services.candles
    await store.upsert(KEY, "crypto", CandleFrame.from_rows(_rows(100)))
    part = await store.load(KEY, end_ms=T0 + 59 * H, limit=10)
    assert part.open_time_ms.tolist() == [T0 + k * H for k in range(50, 60)]
    assert len(await store.load(KEY, end_ms=T0 - 1)) == 0
    assert len(await store.load(SeriesKey("binance", "NOPE/USDT", Timeframe.H1))) == 0
    assert await store.last_open_ms(SeriesKey("binance", "NOPE/USDT", Timeframe.H1)) is None


async def test_load_many_gives_each_series_its_last_bars_up_to_its_own_end(services: Services) -> None:
    store = services.candles
    eth = SeriesKey("binance", "ETH/USDT", Timeframe.H1)
    btc_4h = SeriesKey("binance", "BTC/USDT", Timeframe.H4)
    other = SeriesKey("kraken", "BTC/USDT", Timeframe.H1)
    rng = np.random.default_rng(5)
    stored = {}
    for key, n, start in ((KEY, 120, 0), (eth, 80, 30), (btc_4h, 40, 0), (other, 5, 0)):
        rows = _rows(n, start)
        rows[:, 1:5] *= rng.uniform(
            0.5, 2.0
        )  # prices that are not round numbers: float64 must come back exact
        frame = CandleFrame.from_rows(rows)
        await store.upsert(key, "crypto", frame)
        stored[key] = frame
    nope = SeriesKey("binance", "NOPE/USDT", Timeframe.H1)
    ends = {KEY: T0 + 99 * H, eth: T0 + 99 * H, other: T0 - H}  # btc_4h and nope: no end (the last bar)
    many = await store.load_many([KEY, eth, btc_4h, other, nope], end_ms=ends, limit=30)
    assert list(many) == [KEY, eth, btc_4h, other, nope]
    for key in (KEY, eth, btc_4h):
        one = await store.load(key, end_ms=ends.get(key), limit=30)
        assert len(one) == 30
        for name in ("open_time_ms", "open", "high", "low", "close", "volume"):
            np.testing.assert_array_equal(getattr(many[key], name), getattr(one, name))
        assert many[key].open_time_ms.dtype == np.int64
    assert many[KEY].open_time_ms[-1] == T0 + 99 * H
    assert many[btc_4h].open_time_ms[-1] == stored[btc_4h].open_time_ms[-1]
    assert len(many[other]) == 0 and len(many[nope]) == 0  # ends before its first bar; never stored
    everything = await store.load_many([eth], limit=1_000)
    np.testing.assert_array_equal(everything[eth].close, stored[eth].close)


async def test_series_listing(services: Services) -> None:
    store = services.candles
    await store.upsert(KEY, "crypto", CandleFrame.from_rows(_rows(30)))
    spy = SeriesKey("us", "SPY", Timeframe.D1)
    daily = _rows(5)
    daily[:, 0] = T0 + np.arange(5) * Timeframe.D1.ms
    await store.upsert(spy, "stock", CandleFrame.from_rows(daily))
    listing = {str(s.key): s for s in await store.series()}
    assert listing["binance:BTC/USDT:1h"].count == 30
    assert listing["binance:BTC/USDT:1h"].first_open_ms == T0
    assert listing["us:SPY:1d"].asset_class == "stock"


async def test_import_rejects_corrupt_rows_and_stays_idempotent(services: Services) -> None:
    rows = _rows(10)
    rows[3, 4] = np.nan  # NaN close
    rows[5, 3] = rows[5, 2] + 5  # low above high
    rows = np.vstack([rows, rows[7]])  # duplicate time
    report = await import_candles(services.candles, KEY, "crypto", rows)
    assert report.inserted == 8
    assert report.rejected["nan"] == 1
    assert report.rejected["high_below_low"] == 1
    assert report.rejected["duplicate_time"] == 1
    assert report.rejected_total == 3
    assert [(g.start_ms, g.missing) for g in report.gaps] == [(T0 + 3 * H, 1), (T0 + 5 * H, 1)]
    second = await import_candles(services.candles, KEY, "crypto", rows)
    assert (second.inserted, second.unchanged) == (0, 8)


def _headline(hours: float, url: str, assets: tuple[str, ...], score: float) -> Headline:
    return Headline(
        published_at=datetime(2022, 1, 1, tzinfo=UTC) + timedelta(hours=hours),
        source="test",
        title=f"title {url}",
        summary="",
        url=url,
        assets=assets,
        score=score,
    )


async def test_headlines_point_in_time_and_dedup(services: Services) -> None:
    store = services.headlines
    items = [
        _headline(0, "u1", ("BTC",), 0.5),
        _headline(1, "u2", ("BTC", "ETH"), -0.2),
        _headline(5, "u3", ("ETH",), 0.9),
    ]
    assert await store.add(items) == 3
    assert await store.add(items + [_headline(6, "u4", (), 0.0)]) == 1  # only the new URL
    assert await store.count() == 4
    t = datetime(2022, 1, 1, tzinfo=UTC)
    btc = await store.for_asset("BTC", start=t, end=t + timedelta(hours=1))
    assert [h.url for h in btc] == ["u1", "u2"]
    assert btc[1].assets == ("BTC", "ETH")
    assert btc[0].published_at == t and btc[0].published_at.tzinfo is not None
    series = await store.scored_series("ETH", start=t, end=t + timedelta(hours=4, minutes=59))
    assert series.scores.tolist() == [-0.2]
    assert series.known_ms.tolist() == [int((t + timedelta(hours=1)).timestamp() * 1000)]


def _signal(hour: int, action: Action, score: float) -> Signal:
    return Signal(
        key=KEY,
        as_of=datetime(2022, 1, 1, hour, tzinfo=UTC),
        action=action,
        score=score,
        confidence=0.5,
        price=100.0,
        stop_loss=95.0 if action is Action.BUY else None,
        take_profit=[105.0, 110.0, 115.0] if action is Action.BUY else [],
        components=Components(score, None, None),
        reasons=["because"],
    )


async def test_signals_record_status_changes(services: Services) -> None:
    store = services.signals
    changes = await store.save([_signal(1, Action.HOLD, 0.0), _signal(2, Action.HOLD, 0.05)])
    assert [(c.from_action, c.to_action) for c in changes] == [(None, Action.HOLD)]
    changes = await store.save([_signal(3, Action.BUY, 0.3)])
    assert [(c.from_action, c.to_action) for c in changes] == [(Action.HOLD, Action.BUY)]
    # storing the same time again replaces the values and records no second change
    assert await store.save([replace(_signal(3, Action.BUY, 0.31))]) == []
    assert len(await store.status_changes(KEY)) == 2
    latest = await store.latest(KEY)
    assert latest is not None
    assert latest.action is Action.BUY and latest.score == pytest.approx(0.31)
    assert latest.take_profit == [105.0, 110.0, 115.0]
    assert latest.as_of == datetime(2022, 1, 1, 3, tzinfo=UTC)


async def test_migrations_go_down_and_up(database_url: str) -> None:
    engine = create_engine(database_url)
    try:
        await upgrade(engine)
        await downgrade(engine, "base")
        async with engine.connect() as conn:
            names = await conn.run_sync(lambda c: inspect(c).get_table_names())
        assert "candles" not in names
        await upgrade(engine)
        async with engine.connect() as conn:
            names = await conn.run_sync(lambda c: inspect(c).get_table_names())
        assert {
            "candles",
            "headlines",
            "headline_assets",
            "signals",
            "signal_status_changes",
            "instruments",
        } <= set(names)
    finally:
        await engine.dispose()


@pytest.mark.parametrize("url", ["mysql://u@h/db", "not a url at all"])
def test_unsupported_database_url_is_a_config_error(url: str) -> None:
    with pytest.raises(ConfigError, match="database_url"):
        normalise_url(url)


def test_plain_urls_get_async_drivers() -> None:
    assert normalise_url("sqlite:///x.db").startswith("sqlite+aiosqlite:///")
    assert normalise_url("postgresql://u@h/db").startswith("postgresql+asyncpg://")


async def test_status_change_follows_a_replaced_action(services: Services) -> None:
    store = services.signals
    await store.save([_signal(1, Action.HOLD, 0.0), _signal(2, Action.BUY, 0.3)])
    changes = await store.save([_signal(2, Action.HOLD, 0.1)])  # recomputed: no longer a change
    assert changes == []
    assert [(c.from_action, c.to_action) for c in await store.status_changes(KEY)] == [(None, Action.HOLD)]
    changes = await store.save([_signal(2, Action.SELL, -0.3)])
    assert [(c.from_action, c.to_action) for c in changes] == [(Action.HOLD, Action.SELL)]


async def test_headlines_are_selected_by_first_seen_time(services: Services) -> None:
    """A headline published long before tsbot saw it is invisible before its first-seen time (no look-ahead)."""
    store = services.headlines
    t = datetime(2022, 1, 1, tzinfo=UTC)
    old_news = replace(_headline(0, "late", ("BTC",), 0.7), first_seen_at=t + timedelta(hours=10))
    assert await store.add([old_news, _headline(2, "ontime", ("BTC",), -0.1)]) == 2
    before = await store.scored_series("BTC", start=t, end=t + timedelta(hours=9))
    assert before.scores.tolist() == [-0.1] and before.sources == ("test",)
    after = await store.scored_series("BTC", start=t, end=t + timedelta(hours=10))
    assert after.known_ms.tolist() == [int((t + timedelta(hours=h)).timestamp() * 1000) for h in (2, 10)]
    assert after.scores.tolist() == [-0.1, 0.7] and after.ids.dtype == np.int64
    rows = await store.by_ids(after.ids.tolist())
    assert rows[int(after.ids[1])].url == "late" and rows[int(after.ids[1])].first_seen_at == t + timedelta(
        hours=10
    )
    assert (
        rows[int(after.ids[0])].first_seen_at == rows[int(after.ids[0])].published_at
    )  # None means published_at
    listed = await store.for_asset("BTC", start=t, end=t + timedelta(hours=5))
    assert [h.url for h in listed] == ["ontime"] and listed[0].id == int(after.ids[0])
    assert await store.known_urls(["late", "nope"]) == {"late"}
    assert await store.titles_seen(start=t + timedelta(hours=9), end=t + timedelta(hours=11)) == [
        "title late"
    ]
    assert [h.url for h in await store.latest(asset="BTC", limit=1)] == ["late"]


async def test_migration_0004_backfills_first_seen_with_published(database_url: str) -> None:
    """Rows written under schema 0003 (no first_seen_at) get first_seen_at = published_at, on both backends."""
    from sqlalchemy import insert

    from tsbot.adapters.storage.headlines import SqlHeadlineStore
    from tsbot.adapters.storage.tables import headline_assets, headlines

    engine = create_engine(database_url)
    try:
        await upgrade(engine)
        await downgrade(engine, "0003")
        async with engine.begin() as conn:
            cols = await conn.run_sync(lambda c: {x["name"] for x in inspect(c).get_columns("headlines")})
            assert "first_seen_at" not in cols
            # Written through the table definitions (so SQLite stores times as tsbot does), 0003's columns only.
            t0 = datetime(2022, 3, 1, 12, 0, tzinfo=UTC)
            await conn.execute(
                insert(headlines).values(
                    id=7,
                    url="u7",
                    published_at=t0,
                    source="src",
                    title="Bitcoin up",
                    summary="",
                    assets="BTC",
                    score=0.5,
                    model="default",
                )
            )
            await conn.execute(insert(headline_assets).values(asset="BTC", published_at=t0, headline_id=7))
        await upgrade(engine)
        store = SqlHeadlineStore(engine)
        t = datetime(2022, 3, 1, 12, 0, tzinfo=UTC)
        (h,) = await store.for_asset("BTC", start=t, end=t)
        assert h.first_seen_at == h.published_at == t and h.id == 7
        assert (await store.scored_series("BTC", start=t, end=t)).ids.tolist() == [7]
    finally:
        await engine.dispose()
