"""Unit tests of the incremental download service, with an in-memory store and a scripted source."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from tests.fakes.memory_candle_store import MemoryCandleStore

from tsbot.core.errors import ConfigError, ExchangeError, ExchangeUnavailableError
from tsbot.core.time import from_ms, to_ms
from tsbot.market.models import CandleFrame, SeriesKey, Timeframe
from tsbot.market.sync import download, expected_bars, valid_rows

H = Timeframe.H1.ms
T0 = to_ms(datetime(2024, 1, 1, tzinfo=UTC))


def bars(n: int, start_ms: int = T0) -> list[tuple[int, float, float, float, float, float]]:
    """``n`` consecutive plausible 1h bars starting at ``start_ms``."""
    out = []
    for i in range(n):
        p = 100.0 + i
        out.append((start_ms + i * H, p, p + 2.0, p - 1.0, p + 1.0, 10.0 + i))
    return out


class ScriptedSource:
    """A source over fixed rows that answers like an exchange: bars at or after ``since``, at most ``limit``.

    ``failures`` is consumed one exception per call before answering normally.
    """

    name = "testex"

    def __init__(
        self, rows_by_symbol: dict[str, list[tuple]], failures: list[Exception] | None = None
    ) -> None:
        self.rows = rows_by_symbol
        self.failures = list(failures or [])
        self.calls: list[tuple[str, int, int]] = []

    async def fetch_candles(
        self, symbol: str, timeframe: Timeframe, since_ms: int, limit: int
    ) -> CandleFrame:
        self.calls.append((symbol, since_ms, limit))
        if self.failures:
            raise self.failures.pop(0)
        if symbol not in self.rows:
            raise ExchangeError(f"testex does not list symbol {symbol!r}")
        rows = [r for r in self.rows[symbol] if r[0] >= since_ms][:limit]
        return CandleFrame.from_rows(rows)

    async def close(self) -> None:
        return None


class RecordingSleep:
    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


def key(symbol: str = "BTC/USDT") -> SeriesKey:
    return SeriesKey("testex", symbol, Timeframe.H1)


async def test_downloads_everything_in_pages_and_reports_progress():
    source = ScriptedSource({"BTC/USDT": bars(25)})
    store = MemoryCandleStore()
    seen: list[tuple[str, int, int]] = []
    report = await download(
        source,
        store,
        ["BTC/USDT"],
        Timeframe.H1,
        since=from_ms(T0),
        asset_class="crypto",
        page_limit=10,
        progress=lambda *a: seen.append(a),
        now=lambda: from_ms(T0 + 25 * H),
    )
    one = report.symbols[0]
    assert report.ok and one.error is None
    assert (one.fetched, one.inserted, one.rejected, one.retries) == (25, 25, 0, 0)
    assert one.first_open_at == from_ms(T0) and one.last_open_at == from_ms(T0 + 24 * H)
    assert [c[1] for c in source.calls] == [T0, T0 + 10 * H, T0 + 20 * H]
    assert seen[0] == ("BTC/USDT", 0, 25) and seen[-1] == ("BTC/USDT", 25, 25)
    stored = await store.load(key())
    assert np.array_equal(stored.open_time_ms, np.array([r[0] for r in bars(25)]))


async def test_starts_after_the_last_stored_bar():
    rows = bars(30)
    store = MemoryCandleStore()
    await store.upsert(key(), "crypto", CandleFrame.from_rows(rows[:12]))
    source = ScriptedSource({"BTC/USDT": rows})
    report = await download(
        source,
        store,
        ["BTC/USDT"],
        Timeframe.H1,
        since=from_ms(T0 - 100 * H),
        asset_class="crypto",
        now=lambda: from_ms(T0 + 30 * H),
    )
    assert source.calls[0][1] == T0 + 12 * H
    one = report.symbols[0]
    assert (one.fetched, one.inserted) == (18, 18)
    assert one.first_open_at == from_ms(T0 + 12 * H)
    calls_before = len(source.calls)
    again = await download(
        source,
        store,
        ["BTC/USDT"],
        Timeframe.H1,
        since=from_ms(T0),
        asset_class="crypto",
        now=lambda: from_ms(T0 + 30 * H),
    )
    assert again.symbols[0].inserted == 0 and again.symbols[0].note == "no new closed bars in range"
    assert len(source.calls) == calls_before  # nothing can have closed since: no request at all


async def test_since_later_than_stored_data_wins():
    rows = bars(30)
    store = MemoryCandleStore()
    await store.upsert(key(), "crypto", CandleFrame.from_rows(rows[:5]))
    source = ScriptedSource({"BTC/USDT": rows})
    await download(
        source,
        store,
        ["BTC/USDT"],
        Timeframe.H1,
        since=from_ms(T0 + 20 * H),
        asset_class="crypto",
        now=lambda: from_ms(T0 + 30 * H),
    )
    assert source.calls[0][1] == T0 + 20 * H


async def test_drops_the_bar_that_is_still_open():
    source = ScriptedSource({"BTC/USDT": bars(10)})
    store = MemoryCandleStore()
    now = from_ms(T0 + 9 * H + 30 * 60_000)  # the tenth bar opened half an hour ago
    report = await download(
        source, store, ["BTC/USDT"], Timeframe.H1, since=from_ms(T0), asset_class="crypto", now=lambda: now
    )
    one = report.symbols[0]
    assert one.fetched == 10 and one.inserted == 9 and one.rejected == 0
    assert await store.last_open_ms(key()) == T0 + 8 * H
    # Once it has closed, the next run picks it up.
    later = await download(
        source,
        store,
        ["BTC/USDT"],
        Timeframe.H1,
        since=from_ms(T0),
        asset_class="crypto",
        now=lambda: now + timedelta(hours=1),
    )
    assert later.symbols[0].inserted == 1
    assert await store.last_open_ms(key()) == T0 + 9 * H


async def test_bad_rows_are_counted_and_skipped():
    rows = bars(10)
    rows[2] = (rows[2][0], 0.0, *rows[2][2:])  # zero open
    rows[4] = (rows[4][0], rows[4][1], math.nan, *rows[4][3:])  # NaN high
    rows[5] = (rows[5][0], rows[5][1], 50.0, 200.0, *rows[5][4:])  # high below low
    rows[7] = (rows[6][0], *rows[7][1:])  # same time as the bar before
    rows[8] = (rows[8][0], *rows[8][1:5], -1.0)  # negative volume
    source = ScriptedSource({"BTC/USDT": rows})
    store = MemoryCandleStore()
    report = await download(
        source,
        store,
        ["BTC/USDT"],
        Timeframe.H1,
        since=from_ms(T0),
        asset_class="crypto",
        now=lambda: from_ms(T0 + 10 * H),
    )
    one = report.symbols[0]
    assert (one.fetched, one.rejected, one.inserted) == (10, 5, 5)
    stored = await store.load(key())
    assert list(stored.open_time_ms) == [T0 + i * H for i in (0, 1, 3, 6, 9)]


def test_valid_rows_needs_strictly_increasing_times_after_the_previous_bar():
    frame = CandleFrame.from_rows([r for r in bars(4)] + [bars(1, T0 + H)[0]])
    assert list(valid_rows(frame, None)) == [True, True, True, True, False]
    assert list(valid_rows(frame, T0 + H)) == [False, False, True, True, False]


async def test_temporary_errors_are_retried_with_exponential_backoff():
    flaky = [ExchangeUnavailableError("rate limited"), ExchangeUnavailableError("timed out")]
    source = ScriptedSource({"BTC/USDT": bars(5)}, failures=flaky)
    sleep = RecordingSleep()
    report = await download(
        source,
        MemoryCandleStore(),
        ["BTC/USDT"],
        Timeframe.H1,
        since=from_ms(T0),
        asset_class="crypto",
        backoff_s=0.5,
        sleep=sleep,
        now=lambda: from_ms(T0 + 5 * H),
    )
    assert report.ok and report.symbols[0].retries == 2 and report.symbols[0].inserted == 5
    assert sleep.waits == [0.5, 1.0]


async def test_a_symbol_that_keeps_failing_fails_alone():
    failures = [ExchangeUnavailableError("testex BTC/USDT 1h: request timed out")] * 4
    source = ScriptedSource({"BTC/USDT": bars(5), "ETH/USDT": bars(5)}, failures=failures)
    sleep = RecordingSleep()
    report = await download(
        source,
        MemoryCandleStore(),
        ["BTC/USDT", "ETH/USDT"],
        Timeframe.H1,
        since=from_ms(T0),
        asset_class="crypto",
        retries=3,
        backoff_s=0.1,
        sleep=sleep,
        now=lambda: from_ms(T0 + 5 * H),
    )
    btc, eth = report.symbols
    assert not report.ok and report.failed == [btc]
    assert btc.retries == 3 and "timed out" in btc.error and "gave up after 3 retries" in btc.error
    assert sleep.waits == pytest.approx([0.1, 0.2, 0.4])
    assert eth.ok and eth.inserted == 5


async def test_a_rejected_request_is_not_retried():
    source = ScriptedSource({"ETH/USDT": bars(3)})
    sleep = RecordingSleep()
    report = await download(
        source,
        MemoryCandleStore(),
        ["NOPE/USDT", "ETH/USDT"],
        Timeframe.H1,
        since=from_ms(T0),
        asset_class="crypto",
        sleep=sleep,
        now=lambda: from_ms(T0 + 3 * H),
    )
    nope, eth = report.symbols
    assert nope.error == "testex does not list symbol 'NOPE/USDT'" and nope.retries == 0
    assert sleep.waits == [] and eth.inserted == 3


async def test_until_is_exclusive_and_stops_paging():
    source = ScriptedSource({"BTC/USDT": bars(50)})
    store = MemoryCandleStore()
    report = await download(
        source,
        store,
        ["BTC/USDT"],
        Timeframe.H1,
        since=from_ms(T0),
        until=from_ms(T0 + 12 * H),
        asset_class="crypto",
        page_limit=5,
        now=lambda: from_ms(T0 + 50 * H),
    )
    one = report.symbols[0]
    assert one.inserted == 12 and one.last_open_at == from_ms(T0 + 11 * H)
    assert len(source.calls) == 3  # 0-4, 5-9, 10-14: the third page reaches until


def test_expected_bars_counts_closed_slots_in_range():
    assert expected_bars(T0, T0 + 10 * H, T0 + 100 * H, Timeframe.H1) == 10
    assert expected_bars(T0, T0 + 100 * H, T0 + 10 * H + 1, Timeframe.H1) == 10
    assert expected_bars(T0, T0 + 100 * H, T0 + 10 * H - 1, Timeframe.H1) == 9
    assert expected_bars(T0, T0, T0 + H, Timeframe.H1) == 0


async def test_invalid_arguments_raise_config_error():
    source, store = ScriptedSource({}), MemoryCandleStore()
    with pytest.raises(ConfigError):
        await download(
            source, store, ["X"], Timeframe.H1, since=from_ms(T0), asset_class="crypto", page_limit=0
        )
    with pytest.raises(ConfigError, match="until"):
        await download(
            source, store, ["X"], Timeframe.H1, since=from_ms(T0), until=from_ms(T0), asset_class="crypto"
        )
