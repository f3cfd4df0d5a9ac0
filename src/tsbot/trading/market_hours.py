"""When a market is open: exchange sessions precomputed once, so a check during order flow is a bisect.

Stocks trade in their exchange's regular sessions (NYSE by default: 09:30-16:00 New York time, with the holidays and
early closes of the exchange's calendar, from ``exchange_calendars``). Crypto trades at all times: :data:`ALWAYS_OPEN`.
Every instant in and out is a timezone-aware :class:`~datetime.datetime`; results are in UTC.
"""

from __future__ import annotations

import warnings
from bisect import bisect_right
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Protocol

from tsbot.core.enums import AssetClass
from tsbot.trading.models import MarketRules, OrderRequest

#: How far the default range of :class:`MarketHours` reaches back and ahead of today (UTC).
DEFAULT_REACH = timedelta(days=2 * 365)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class TradingHours(Protocol):
    """What the risk checks ask of a market's hours."""

    def is_open(self, at: datetime) -> bool:
        """Whether the market trades at ``at`` (timezone-aware)."""
        ...

    def next_open(self, at: datetime) -> datetime:
        """The first session open strictly after ``at`` (UTC)."""
        ...


def _epoch_ms(at: datetime) -> int:
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError(f"market hours need a timezone-aware time (UTC), got the naive {at.isoformat()}")
    return int(at.timestamp() * 1000)


def _from_ms(ms: int) -> datetime:
    return _EPOCH + timedelta(milliseconds=ms)


def _midnight_ms(day: date) -> int:
    return int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp() * 1000)


class MarketHours:
    """The regular sessions of one exchange calendar over a date range, as sorted UTC epoch-ms bounds.

    Args:
        calendar: an ``exchange_calendars`` code (``"XNYS"``: New York Stock Exchange, also right for NASDAQ
            listings, which keep the same hours and holidays).
        start, end: the first and last day (UTC dates) covered; default two years before and after today (UTC).

    Building takes about 0.1 s (the calendar's rules); :meth:`is_open` then takes well under a microsecond of work
    beyond converting the time.

    Raises:
        ValueError: ``end`` before ``start``, or an unknown calendar code.
    """

    __slots__ = ("_bounds", "_hi_ms", "_lo_ms", "calendar", "end", "start")

    def __init__(self, calendar: str = "XNYS", start: date | None = None, end: date | None = None) -> None:
        import exchange_calendars as xcals
        import pandas as pd

        today = datetime.now(UTC).date()
        start = start if start is not None else today - DEFAULT_REACH
        end = end if end is not None else today + DEFAULT_REACH
        if end < start:
            raise ValueError(f"market hours range ends ({end}) before it starts ({start})")
        try:
            with warnings.catch_warnings():
                # exchange_calendars reads ``Series.values`` of tz-aware columns, which newer pandas deprecates
                warnings.filterwarnings("ignore", message=r"\w+\.values returning an ndarray")
                cal = xcals.get_calendar(calendar, start=pd.Timestamp(start), end=pd.Timestamp(end))
        except xcals.errors.InvalidCalendarName as exc:
            raise ValueError(f"unknown exchange calendar {calendar!r}") from exc
        schedule = cal.schedule.loc[pd.Timestamp(start) : pd.Timestamp(end)]
        opens, closes = (
            schedule[col].dt.tz_convert(None).to_numpy(dtype="datetime64[ms]").astype("int64").tolist()
            for col in ("open", "close")
        )
        bounds: list[int] = []
        for o, c in zip(opens, closes, strict=True):
            bounds.append(o)
            bounds.append(c)
        self.calendar = calendar
        self.start = start
        self.end = end
        self._bounds = bounds
        self._lo_ms = min(_midnight_ms(start), bounds[0]) if bounds else _midnight_ms(start)
        self._hi_ms = max(_midnight_ms(end + timedelta(days=1)), bounds[-1]) if bounds else _midnight_ms(end)

    def __repr__(self) -> str:
        return f"MarketHours({self.calendar!r}, {self.start}, {self.end}, {len(self._bounds) // 2} sessions)"

    def _ms_in_range(self, at: datetime) -> int:
        ms = _epoch_ms(at)
        if ms < self._lo_ms or ms >= self._hi_ms:
            raise ValueError(
                f"{_utc(at)} is outside the precomputed {self.calendar} sessions "
                f"({self.start} to {self.end}); build MarketHours with a wider start / end"
            )
        return ms

    def is_open(self, at: datetime) -> bool:
        """Whether ``at`` falls in a regular session (open inclusive, close exclusive: 16:00:00 is closed).

        Raises:
            ValueError: ``at`` is naive, or outside the precomputed range.
        """
        return bisect_right(self._bounds, self._ms_in_range(at)) & 1 == 1

    def next_open(self, at: datetime) -> datetime:
        """The first session open strictly after ``at``, in UTC (during a session: the next session's open).

        Raises:
            ValueError: ``at`` is naive, outside the precomputed range, or no session opens after it in the range.
        """
        ms = self._ms_in_range(at)
        i = bisect_right(self._bounds, ms)
        i += i & 1  # inside a session: skip its close; on a close or between sessions: the next open
        if i >= len(self._bounds):
            raise ValueError(
                f"no {self.calendar} session opens after {_utc(at)} in the precomputed "
                f"range ({self.start} to {self.end}); build MarketHours with a later end"
            )
        return _from_ms(self._bounds[i])

    def session_close(self, at: datetime) -> datetime | None:
        """The close of the session ``at`` falls in (UTC), or None when the market is closed at ``at``.

        Raises:
            ValueError: ``at`` is naive or outside the precomputed range.
        """
        i = bisect_right(self._bounds, self._ms_in_range(at))
        return _from_ms(self._bounds[i]) if i & 1 else None


class _AlwaysOpen:
    """A market that never closes (crypto venues)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "ALWAYS_OPEN"

    def is_open(self, at: datetime) -> bool:
        """Always True. Raises ValueError for a naive ``at``."""
        _epoch_ms(at)
        return True

    def next_open(self, at: datetime) -> datetime:
        """``at`` itself, in UTC: the market is open now. Raises ValueError for a naive ``at``."""
        _epoch_ms(at)
        return at.astimezone(UTC)


#: The hours of crypto markets: open at every instant.
ALWAYS_OPEN: TradingHours = _AlwaysOpen()


def is_open_for(asset_class: AssetClass, at: datetime, hours: TradingHours | None) -> bool:
    """Whether an instrument of ``asset_class`` trades at ``at``: crypto always; stocks when ``hours`` says so.

    Raises:
        ValueError: ``at`` is naive or outside ``hours``' range, or a stock is asked about with no ``hours``.
    """
    if asset_class is AssetClass.CRYPTO:
        return ALWAYS_OPEN.is_open(at)
    if hours is None:
        raise ValueError(f"the hours of a {asset_class.value} market are needed (a MarketHours)")
    return hours.is_open(at)


def closed_reason(symbol: str, at: datetime, hours: TradingHours | None) -> str | None:
    """Why ``symbol`` (traded in ``hours``) cannot trade at ``at``, as a sentence; None when its market is open.

    No ``hours``, or an ``at`` outside their range, gives a reason too (a check that cannot be made refuses).
    Raises ValueError for a naive ``at``.
    """
    if hours is None:
        return f"no market hours were given to check that {symbol} trades at {_utc(at)}"
    try:
        if hours.is_open(at):
            return None
        name = getattr(hours, "calendar", "market")
        nxt = _utc(hours.next_open(at))
        return f"{symbol} is outside market hours at {_utc(at)}: the {name} session opens next at {nxt}"
    except ValueError as exc:
        if at.tzinfo is None:
            raise
        return f"cannot check the market hours of {symbol}: {exc}"


def _utc(at: datetime) -> str:
    return f"{at.astimezone(UTC):%Y-%m-%d %H:%M} UTC"


class StockHoursCheck:
    """The market-hours rule of orders placed by hand (the paper desk behind the API, the web dashboard and the
    Telegram bot), as the risk manager applies it to bots (:meth:`tsbot.trading.risk.RiskManager.check` with
    ``stock_market_hours_only``): a stock order is refused outside its exchange's regular session, with the time
    the next session opens; nothing is queued for the open. A ``reduce_only`` order (a protective exit) passes, as
    it does for bots; crypto is never checked.

    Args:
        hours: the stock market's hours, asked for only when a stock order is checked (building them takes about
            0.1 s); None refuses stock orders, saying that no hours were given.
        clock: the current time, UTC (the replay clock when the process runs on one).
    """

    def __init__(self, hours: Callable[[], TradingHours | None], clock: Callable[[], datetime]) -> None:
        self._hours = hours
        self._clock = clock

    def __call__(self, request: OrderRequest, rules: MarketRules) -> str | None:
        """Why ``request`` cannot be placed now, or None when it may (an :data:`tsbot.trading.service.OrderCheck`)."""
        if rules.asset_class is not AssetClass.STOCK or request.reduce_only:
            return None
        return closed_reason(request.symbol, self._clock(), self._hours())
