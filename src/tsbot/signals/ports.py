"""Ports of the signals domain."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from tsbot.market.models import SeriesKey
from tsbot.signals.models import Signal, StatusChange


class SignalStore(Protocol):
    """Stored signals and the status changes between them."""

    async def save(self, signals: Sequence[Signal]) -> list[StatusChange]:
        """Store signals (one per series and ``as_of``; a re-run replaces the values). A signal whose action
        differs from the series' previous stored signal (or that is the series' first) records a status change;
        the changes recorded by this call are returned."""
        ...

    async def latest(self, key: SeriesKey) -> Signal | None:
        """The newest stored signal of a series, or None."""
        ...

    async def status_changes(self, key: SeriesKey | None = None, *, limit: int = 100) -> list[StatusChange]:
        """Status changes, newest first, of one series or of all."""
        ...
