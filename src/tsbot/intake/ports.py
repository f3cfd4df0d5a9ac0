"""Ports of the intake domain."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from tsbot.intake.tracking import SignalStatus, TrackedSignal, UnmatchedUpdate


class TrackedSignalStore(Protocol):
    """Providers' tracked signals with their history, and the updates that matched none.

    Lists of signals are most recent first: ``posted_at`` descending, then id descending.
    """

    async def add(self, signal: TrackedSignal) -> TrackedSignal:
        """Store a new signal (its ``id`` is ignored) with its history; return it with the id it was given.

        Raises ``tsbot.core.errors.DataError`` when ``(provider, post_id)`` is stored already.
        """
        ...

    async def save_transition(self, signal: TrackedSignal) -> TrackedSignal:
        """Store the new state of a stored signal whose last history entry is the one new entry.

        Raises ``tsbot.intake.tracking.ConcurrentUpdateError`` when the stored signal does not hold exactly the
        history before that entry (someone else changed it since it was loaded), and
        ``tsbot.core.errors.NotFoundError`` when no signal has its id.
        """
        ...

    async def get(self, signal_id: int) -> TrackedSignal | None:
        """The signal with this id, or None."""
        ...

    async def find(self, provider: str, post_id: str) -> TrackedSignal | None:
        """The signal a provider posted in ``post_id``, or None."""
        ...

    async def open_signals(self, provider: str, *, base: str | None = None) -> list[TrackedSignal]:
        """``provider``'s pending and entered signals, of one base asset (upper-case, as
        ``tsbot.intake.symbols.split_symbol`` gives it) or of all."""
        ...

    async def by_status(
        self, status: SignalStatus, *, provider: str | None = None, limit: int = 100
    ) -> list[TrackedSignal]:
        """Signals in ``status``, of one provider or of all, at most ``limit``."""
        ...

    async def add_unmatched(self, item: UnmatchedUpdate) -> UnmatchedUpdate:
        """Keep an update that matched no signal; return it with its id."""
        ...

    async def unmatched(self, provider: str, *, limit: int = 100) -> list[UnmatchedUpdate]:
        """``provider``'s kept updates, newest ``received_at`` first, at most ``limit``."""
        ...
