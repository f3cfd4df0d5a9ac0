"""The scan service on a real database (SQLite and PostgreSQL) with bundled candles and headlines."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pytest

from tsbot.adapters.bundled import bundled_series, read_bundled_headlines, read_bundled_rows
from tsbot.adapters.memory import FrameCandleStore
from tsbot.core.enums import Action
from tsbot.core.errors import EmptyStoreError, NoDataBeforeError, NotFoundError, UnknownSymbolError
from tsbot.market.models import Timeframe
from tsbot.market.service import import_candles
from tsbot.market.validation import validate_rows
from tsbot.sentiment.default_model import load_default_model
from tsbot.sentiment.service import import_headlines
from tsbot.signals.service import ScanService
from tsbot.wiring import Services

SUBSET = {"BTC/USDT", "ETH/USDT", "AAPL"}
JSON_KEYS = {
    "symbol",
    "exchange",
    "timeframe",
    "as_of",
    "action",
    "score",
    "confidence",
    "price",
    "stop_loss",
    "take_profit",
    "components",
    "reasons",
    "headlines",
}


async def _load_subset(services: Services) -> None:
    for item in bundled_series():
        if item.key.symbol in SUBSET:
            await import_candles(services.candles, item.key, item.asset_class.value, read_bundled_rows(item))
    await import_headlines(services.headlines, load_default_model(), read_bundled_headlines())


async def test_empty_store_tells_the_user_to_import(services: Services) -> None:
    with pytest.raises(EmptyStoreError, match="tsbot data import"):
        await services.scan_service().scan()


async def test_scan_stores_signals_and_status_changes(services: Services) -> None:
    await _load_subset(services)
    scan = services.scan_service()
    result = await scan.scan()
    assert {s.key.symbol for s in result.signals} == SUBSET
    for sig in result.signals:
        d = sig.to_dict()
        assert set(d) == JSON_KEYS
        assert set(d["components"]) == {"technical", "sentiment", "ml"}
        assert d["reasons"] and all(isinstance(r, str) for r in d["reasons"])
        if sig.action is Action.HOLD:
            assert d["stop_loss"] is None and d["take_profit"] == []
        else:
            assert len(d["take_profit"]) == 3
    assert len(result.status_changes) == 3  # the first signal of each series is a change from nothing
    again = await scan.scan()
    assert again.status_changes == []  # same as_of, same action: nothing new
    stored = await services.signals.latest(result.signals[0].key)
    assert stored is not None and stored.action is result.signals[0].action


async def test_as_of_inside_the_news_period_uses_headlines(services: Services) -> None:
    await _load_subset(services)
    result = await services.scan_service().scan(
        ["btc"], as_of=datetime(2022, 1, 21, 15, 30, tzinfo=UTC), store=False
    )
    (sig,) = result.signals
    assert sig.key.symbol == "BTC/USDT"
    assert sig.as_of == datetime(2022, 1, 21, 15, tzinfo=UTC)  # close of the last bar closed by 15:30
    assert sig.components.sentiment is not None
    assert any(r.startswith("news ") for r in sig.reasons)
    # The headlines that moved sentiment come with the signal, biggest contribution first, all known by then.
    top = sig.headlines
    assert 0 < len(top) <= 5
    assert [abs(h.contribution) for h in top] == sorted((abs(h.contribution) for h in top), reverse=True)
    assert all(h.published_at <= sig.as_of and h.title and h.url for h in top)
    assert all(abs(h.contribution) <= 1.0 and -1.0 <= h.score <= 1.0 for h in top)
    assert sig.to_dict()["headlines"][0]["title"] == top[0].title


async def test_stored_signals_keep_their_top_headlines(services: Services) -> None:
    await _load_subset(services)
    result = await services.scan_service().scan(["btc"], as_of=datetime(2022, 1, 21, 15, 30, tzinfo=UTC))
    (sig,) = result.signals
    stored = await services.signals.latest(sig.key)
    assert stored is not None and stored.headlines  # stored rounded as shown: 4 decimals
    assert [h.to_dict() for h in stored.headlines] == [h.to_dict() for h in sig.headlines]


async def test_thin_news_evidence_is_said_in_the_reasons(services: Services) -> None:
    await _load_subset(services)
    # One hour after a single headline about an asset: fewer than min_headlines (3) count.
    base = services.scan_service()
    thin_cfg = services.settings.trading.model_copy(
        update={"sentiment": services.settings.trading.sentiment.model_copy(update={"min_headlines": 10_000})}
    )
    scan = ScanService(services.candles, services.headlines, None, thin_cfg)
    result = await scan.scan(["btc"], as_of=datetime(2022, 1, 21, 15, 30, tzinfo=UTC), store=False)
    normal = await base.scan(["btc"], as_of=datetime(2022, 1, 21, 15, 30, tzinfo=UTC), store=False)
    assert any("thin evidence" in r for r in result.signals[0].reasons)
    assert not any("thin evidence" in r for r in normal.signals[0].reasons)


async def test_bad_requests_get_clear_errors(services: Services) -> None:
    await _load_subset(services)
    scan = services.scan_service()
    with pytest.raises(UnknownSymbolError) as info:
        await scan.scan(["DOGE/EUR"])
    assert "AAPL" in str(info.value) and "BTC/USDT" in str(info.value)
    with pytest.raises(NoDataBeforeError, match="before the first closed candle"):
        await scan.scan(["BTC/USDT"], as_of=datetime(2019, 1, 1, tzinfo=UTC))
    with pytest.raises(NotFoundError, match="timeframe 4h"):
        await scan.scan(timeframe=Timeframe.H4)
    early = await scan.scan(["BTC/USDT"], as_of=datetime(2021, 1, 3, tzinfo=UTC), store=False)
    assert early.signals == [] and "bars" in early.skipped[0].reason  # inside the warm-up: skipped, said why


async def test_sql_point_in_time_load_equals_a_cut_store(services: Services) -> None:
    """The SQL store's point-in-time load is the same cut the no-look-ahead test makes in memory."""
    await _load_subset(services)
    memory = FrameCandleStore()
    for item in bundled_series():
        if item.key.symbol in SUBSET:
            await memory.upsert(
                item.key,
                item.asset_class.value,
                validate_rows(read_bundled_rows(item), item.key.timeframe).frame,
            )
    rng = np.random.default_rng(7)
    for info in await services.candles.series():
        for end in rng.integers(info.first_open_ms, info.last_open_ms, 5).tolist():
            sql = await services.candles.load(info.key, end_ms=end, limit=500)
            mem = await memory.cut(end).load(info.key, limit=500)
            np.testing.assert_array_equal(sql.open_time_ms, mem.open_time_ms)
            np.testing.assert_array_equal(sql.close, mem.close)
