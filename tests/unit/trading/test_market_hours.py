"""NYSE regular sessions from the precomputed calendar: weekends, holidays, the open and close minutes, early
closes, the next open, and the inputs it refuses (naive times, times outside the range)."""

from __future__ import annotations

import random
import statistics
import time as clock
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import exchange_calendars as xcals
import pandas as pd
import pytest

from tsbot.core.enums import AssetClass
from tsbot.trading.market_hours import ALWAYS_OPEN, MarketHours, closed_reason, is_open_for

NY = ZoneInfo("America/New_York")


@pytest.fixture(scope="module")
def hours() -> MarketHours:
    return MarketHours("XNYS", start=date(2026, 1, 1), end=date(2027, 12, 31))


def ny(*args: int) -> datetime:
    return datetime(*args, tzinfo=NY)


@pytest.mark.parametrize(
    ("at", "expected"),
    [
        (ny(2026, 11, 28, 11, 0), False),  # Saturday
        (ny(2026, 11, 29, 11, 0), False),  # Sunday
        (ny(2026, 11, 26, 11, 0), False),  # Thanksgiving
        (ny(2026, 12, 25, 11, 0), False),  # Christmas
        (ny(2026, 11, 24, 9, 29), False),  # a minute before the open
        (ny(2026, 11, 24, 9, 29, 59), False),
        (ny(2026, 11, 24, 9, 30), True),  # the open minute
        (ny(2026, 11, 24, 12, 0), True),
        (ny(2026, 11, 24, 15, 59, 59), True),
        (ny(2026, 11, 24, 16, 0), False),  # the close is not part of the session
        (ny(2026, 11, 27, 12, 59), True),  # the day after Thanksgiving closes at 13:00
        (ny(2026, 11, 27, 13, 0), False),
        (ny(2026, 7, 2, 15, 30), True),  # summer time (UTC-4): 19:30 UTC
        (ny(2026, 7, 3, 12, 0), False),  # Independence Day observed (July 4th is a Saturday)
    ],
)
def test_is_open_on_weekends_holidays_and_session_edges(
    hours: MarketHours, at: datetime, expected: bool
) -> None:
    assert hours.is_open(at) is expected
    assert hours.is_open(at.astimezone(UTC)) is expected


def test_open_and_close_instants_in_utc_follow_daylight_saving(hours: MarketHours) -> None:
    # winter: 09:30 New York is 14:30 UTC; summer: 13:30 UTC
    assert hours.is_open(datetime(2026, 1, 6, 14, 30, tzinfo=UTC))
    assert not hours.is_open(datetime(2026, 1, 6, 14, 29, 59, tzinfo=UTC))
    assert hours.is_open(datetime(2026, 6, 2, 13, 30, tzinfo=UTC))
    assert not hours.is_open(datetime(2026, 6, 2, 20, 0, tzinfo=UTC))


@pytest.mark.filterwarnings(r"ignore:\w+\.values returning an ndarray")
def test_agrees_with_exchange_calendars_on_random_minutes(hours: MarketHours) -> None:
    cal = xcals.get_calendar("XNYS", start=pd.Timestamp("2025-12-01"), end=pd.Timestamp("2028-01-31"))
    rng = random.Random(11)
    start = datetime(2026, 1, 1, tzinfo=UTC)
    for _ in range(1500):
        at = start + timedelta(minutes=rng.randrange(0, 2 * 365 * 24 * 60 - 60))
        assert hours.is_open(at) is bool(cal.is_open_on_minute(pd.Timestamp(at))), at


def test_next_open_after_holiday_early_close_and_during_session(hours: MarketHours) -> None:
    thanksgiving = ny(2026, 11, 26, 11, 0)
    assert hours.next_open(thanksgiving) == datetime(2026, 11, 27, 14, 30, tzinfo=UTC)
    after_early_close = ny(2026, 11, 27, 13, 0)
    assert hours.next_open(after_early_close) == datetime(2026, 11, 30, 14, 30, tzinfo=UTC)
    during = ny(2026, 11, 24, 10, 0)
    assert hours.next_open(during) == datetime(2026, 11, 25, 14, 30, tzinfo=UTC)
    before = ny(2026, 11, 24, 9, 29)
    assert hours.next_open(before) == datetime(2026, 11, 24, 14, 30, tzinfo=UTC)
    assert hours.next_open(before).tzinfo is UTC


def test_session_close_is_the_early_close_on_the_day_after_thanksgiving(hours: MarketHours) -> None:
    assert hours.session_close(ny(2026, 11, 27, 10, 0)) == datetime(2026, 11, 27, 18, 0, tzinfo=UTC)
    assert hours.session_close(ny(2026, 11, 24, 10, 0)) == datetime(2026, 11, 24, 21, 0, tzinfo=UTC)
    assert hours.session_close(ny(2026, 11, 28, 10, 0)) is None


def test_naive_datetime_is_rejected(hours: MarketHours) -> None:
    naive = datetime(2026, 11, 24, 15, 0)
    for call in (
        hours.is_open,
        hours.next_open,
        hours.session_close,
        ALWAYS_OPEN.is_open,
        ALWAYS_OPEN.next_open,
    ):
        with pytest.raises(ValueError, match="timezone-aware"):
            call(naive)


def test_time_outside_the_precomputed_range_is_rejected(hours: MarketHours) -> None:
    with pytest.raises(ValueError, match="outside the precomputed XNYS sessions"):
        hours.is_open(datetime(2028, 1, 3, 15, 0, tzinfo=UTC))
    with pytest.raises(ValueError, match="outside the precomputed"):
        hours.next_open(datetime(2025, 12, 31, 15, 0, tzinfo=UTC))
    with pytest.raises(ValueError, match="no XNYS session opens after"):
        hours.next_open(datetime(2027, 12, 31, 23, 0, tzinfo=UTC))


def test_bad_range_and_unknown_calendar_are_rejected() -> None:
    with pytest.raises(ValueError, match="ends"):
        MarketHours(start=date(2026, 5, 1), end=date(2026, 4, 1))
    with pytest.raises(ValueError, match="unknown exchange calendar 'NOPE'"):
        MarketHours("NOPE", start=date(2026, 1, 1), end=date(2026, 2, 1))


def test_default_range_reaches_two_years_either_side_of_today() -> None:
    hours = MarketHours()
    today = datetime.now(UTC).date()
    assert hours.start == today - timedelta(days=730)
    assert hours.end == today + timedelta(days=730)
    hours.is_open(datetime.now(UTC) + timedelta(days=700))  # in range: no error
    with pytest.raises(ValueError, match="outside"):
        hours.is_open(datetime.now(UTC) + timedelta(days=740))


def test_crypto_is_always_open_and_stocks_need_hours(hours: MarketHours) -> None:
    saturday = ny(2026, 11, 28, 3, 0)
    assert ALWAYS_OPEN.is_open(saturday)
    assert ALWAYS_OPEN.next_open(saturday) == saturday
    assert is_open_for(AssetClass.CRYPTO, saturday, None)
    assert not is_open_for(AssetClass.STOCK, saturday, hours)
    assert is_open_for(AssetClass.STOCK, ny(2026, 11, 24, 10, 0), hours)
    with pytest.raises(ValueError, match="hours of a stock market"):
        is_open_for(AssetClass.STOCK, saturday, None)


def test_closed_reason_names_the_next_open(hours: MarketHours) -> None:
    assert closed_reason("AAPL/USD", ny(2026, 11, 24, 10, 0), hours) is None
    assert closed_reason("AAPL/USD", ny(2026, 11, 26, 10, 0), hours) == (
        "AAPL/USD is outside market hours at 2026-11-26 15:00 UTC: the XNYS session opens next at "
        "2026-11-27 14:30 UTC"
    )
    assert closed_reason("AAPL/USD", ny(2026, 11, 26, 10, 0), None) == (
        "no market hours were given to check that AAPL/USD trades at 2026-11-26 15:00 UTC"
    )
    far = closed_reason("AAPL/USD", datetime(2030, 1, 2, 15, 0, tzinfo=UTC), hours)
    assert far is not None and far.startswith("cannot check the market hours of AAPL/USD: ")


def test_is_open_takes_well_under_10_microseconds(hours: MarketHours) -> None:
    rng = random.Random(3)
    times = [
        datetime(2026, 1, 1, tzinfo=UTC) + timedelta(seconds=rng.randrange(0, 600 * 86400))
        for _ in range(2000)
    ]
    per_call = []
    for _ in range(5):
        start = clock.perf_counter()
        for at in times:
            hours.is_open(at)
        per_call.append((clock.perf_counter() - start) / len(times) * 1e6)
    assert statistics.median(per_call) < 10.0, per_call
