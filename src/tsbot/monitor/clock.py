"""Clocks for the monitoring cycle: the wall clock, or a replay clock that runs over stored history faster than
real time (``tsbot serve --replay --speed 60``: one hour of history per minute)."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Protocol

from tsbot.core.errors import DataError
from tsbot.core.time import from_ms
from tsbot.market.ports import SeriesInfo

#: Where a replay starts by default: this share of the stored history has passed (the rest is replayed).
DEFAULT_START_RATIO = 0.8


class Clock(Protocol):
    """Anything that tells the time the cycle computes as of (UTC)."""

    def now(self) -> datetime:
        """The time now, UTC."""
        ...


class ReplayClock:
    """Time that starts at ``start_at`` and runs ``speed`` times faster than the wall clock, up to ``end_at``.

    Parameters
    ----------
    start_at, end_at:
        The replayed span, UTC; past ``end_at`` the clock stands still (:attr:`finished`).
    speed:
        Replayed seconds per wall-clock second (> 0).
    monotonic:
        The wall clock in seconds (tests pass their own).

    Raises:
        ValueError: ``speed`` <= 0 or ``end_at`` before ``start_at``.
    """

    def __init__(
        self,
        start_at: datetime,
        end_at: datetime,
        speed: float,
        *,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        if speed <= 0:
            raise ValueError(f"replay speed must be above 0, got {speed}")
        if end_at < start_at:
            raise ValueError("the replay ends before it starts")
        self.start_at = start_at
        self.end_at = end_at
        self.speed = speed
        self._monotonic = monotonic
        self._began = monotonic()

    def now(self) -> datetime:
        """The replayed time now, UTC."""
        elapsed = (self._monotonic() - self._began) * self.speed
        return min(self.start_at + timedelta(seconds=elapsed), self.end_at)

    @property
    def finished(self) -> bool:
        """Whether the clock has reached the end of the replayed span."""
        return self.now() >= self.end_at

    def describe(self) -> str:
        """One line for the operator: span, speed and where the clock is."""
        return (
            f"replay {self.start_at:%Y-%m-%d %H:%M} -> {self.end_at:%Y-%m-%d %H:%M} UTC at {self.speed:g}x "
            f"(now {self.now():%Y-%m-%d %H:%M})"
        )


def replay_span(
    infos: Sequence[SeriesInfo], *, start_at: datetime | None = None, start_ratio: float = DEFAULT_START_RATIO
) -> tuple[datetime, datetime]:
    """The span a replay covers over stored series: from ``start_at`` (default: ``start_ratio`` of the way through
    the common history, on the hour, so signals have history behind them) to the last close of any series.

    Raises:
        DataError: no series are stored, or ``start_at`` is after the last stored candle.
    """
    if not infos:
        raise DataError("nothing to replay: the candle store is empty (run `tsbot data import`)")
    first = max(i.first_open_ms for i in infos)
    last_close = max(i.last_open_ms + i.key.timeframe.ms for i in infos)
    end_at = from_ms(last_close)
    if start_at is None:
        hour_ms = 3_600_000
        start_at = from_ms(int(first + (last_close - first) * start_ratio) // hour_ms * hour_ms)
    if start_at >= end_at:
        raise DataError(f"the replay start {start_at:%Y-%m-%d %H:%M} UTC is after the last stored candle")
    return start_at, end_at
