"""What the monitoring cycle needs from the outside world (implemented in :mod:`tsbot.adapters`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from tsbot.intake.tracking import TrackedSignal
from tsbot.market.models import SeriesKey
from tsbot.market.ports import SeriesInfo
from tsbot.monitor.models import CycleSummary, SeriesOutcome
from tsbot.signals.models import StatusChange
from tsbot.trading.bots import Approval, ApprovalStatus, BotConfig, BotStatus
from tsbot.trading.performance import DailySnapshot
from tsbot.trading.ports import Broker
from tsbot.trading.valuation import PortfolioInfo


class CycleStore(Protocol):
    """Cycle runs and their per-series results (``cycle_runs``, ``cycle_results``)."""

    async def start(self, summary: CycleSummary, series: int) -> None:
        """Record a cycle that began (its id, start, as-of time, mode and number of series)."""
        ...

    async def record(self, cycle_id: str, outcomes: Sequence[SeriesOutcome]) -> None:
        """Store the outcomes of some series; a series already recorded for this cycle keeps its first outcome."""
        ...

    async def results(self, cycle_id: str, keys: Sequence[SeriesKey] | None = None) -> list[SeriesOutcome]:
        """The outcomes recorded for a cycle (only those of ``keys`` when given)."""
        ...

    async def count(self, cycle_id: str) -> int:
        """How many series of a cycle have a recorded outcome."""
        ...

    async def finish(self, summary: CycleSummary) -> None:
        """Store a finished cycle's summary."""
        ...


class ChangeReader(Protocol):
    """Status changes as stored (:class:`tsbot.adapters.storage.signals.SqlSignalStore`)."""

    async def changes_at(self, wanted: Sequence[tuple[SeriesKey, datetime]]) -> list[StatusChange]:
        """The stored status changes of each (series, signal time) pair that has one."""
        ...


class Watchers(Protocol):
    """Who watches which symbol."""

    async def watchers(self, symbols: Sequence[str]) -> dict[str, list[str]]:
        """User ids watching each symbol (unwatched symbols absent)."""
        ...


class NotificationQueue(Protocol):
    """The notification outbox (:class:`tsbot.notify.service.NotificationService`)."""

    async def enqueue(self, requests: Sequence[Any], *, now: datetime) -> int:
        """Queue notifications (idempotent by user and deduplication key); the number newly queued."""
        ...


class ChangePublisher(Protocol):
    """Pushes stored status changes to live clients (WebSocket ``signals`` channel)."""

    async def publish_changes(self, changes: Sequence[StatusChange]) -> None:
        """Publish the changes; never raises for a delivery failure (it is logged)."""
        ...


class CandleRefresher(Protocol):
    """Fetches the newest candles of series from their exchange into the candle store."""

    async def refresh(self, keys: Sequence[SeriesKey], now: datetime) -> dict[SeriesKey, str]:
        """Bring ``keys`` up to ``now``; the reason of each series that failed (the others are fine)."""
        ...


class NewsRefresher(Protocol):
    """Collects new headlines and posts from the configured sources."""

    async def refresh(self, now: datetime) -> list[str]:
        """Collect and store new headlines; one line per source that failed."""
        ...


class Fanout(Protocol):
    """Runs per-series work somewhere (this process, or Dramatiq workers) and gathers the outcomes."""

    mode: str

    async def run(
        self, cycle_id: str, batches: Sequence[Sequence[SeriesInfo]], as_of: datetime | None
    ) -> list[SeriesOutcome]:
        """The outcome of every series of ``batches``; a series whose work never reported back within the
        cycle's time limit comes back as an ``error`` outcome saying so."""
        ...


class BotMemory(Protocol):
    """The memory of the bots the cycle runs (``bot_runs``): one JSON object per bot."""

    async def load(self, bot_ids: list[str]) -> dict[str, dict[str, Any]]:
        """The stored memory of each bot that has one."""
        ...

    async def save(self, bot_id: str, state: Mapping[str, Any], at: datetime) -> None:
        """Replace the bot's memory (``at``: UTC)."""
        ...


class BotRegistry(Protocol):
    """Bots, their event log and their approvals (:class:`tsbot.adapters.storage.bots.SqlBotStore`)."""

    async def list(self, owner: str | None = None, status: BotStatus | None = None) -> list[BotConfig]:
        """Bots, oldest first."""
        ...

    async def set_status(
        self, bot_id: str, status: BotStatus, reason: str, at: datetime, owner: str | None = None
    ) -> BotConfig:
        """Move a bot to ``status`` (logged as an event)."""
        ...

    async def add_event(
        self, bot_id: str, at: datetime, kind: str, message: str, data: Mapping[str, Any] | None = None
    ) -> None:
        """Append to the bot's event log."""
        ...

    async def propose(self, approval: Approval) -> Approval:
        """Store a pending approval (idempotent by client order id)."""
        ...

    async def approvals(self, owner: str, status: ApprovalStatus | None = None) -> list[Approval]:
        """The owner's approvals."""
        ...

    async def expire(self, now: datetime) -> int:
        """Mark pending approvals past their time as expired; how many."""
        ...


class ProviderSignals(Protocol):
    """The signals read from providers' posts (:class:`tsbot.adapters.storage.tracked_signals`)."""

    async def open_signals(self, provider: str, *, base: str | None = None) -> list[TrackedSignal]:
        """A provider's signals still open, newest first."""
        ...


@dataclass(frozen=True, slots=True)
class LiveAccount:
    """A live exchange account: the account name orders carry (``"<exchange>:<key id>"``), the user who owns its
    key, and the key's label (what a person calls it; never a credential)."""

    account: str
    owner: str
    label: str


class LiveBrokers(Protocol):
    """The live exchange accounts of the stored exchange keys, and their brokers
    (:class:`tsbot.adapters.brokers.key_brokers.StoredKeyBrokers`)."""

    async def accounts(self) -> list[LiveAccount]:
        """Every stored key's account (no credential is read)."""
        ...

    async def open(self, account: LiveAccount) -> Broker:
        """The account's broker, signing with the key's credentials (decrypted for it alone); close it after use.

        Raises:
            tsbot.core.errors.TsbotError: the key is gone or cannot be decrypted, no encryption key is configured,
                or its exchange has no broker. No message holds a credential.
        """
        ...


class PortfolioSnapshots(Protocol):
    """Portfolios and their daily equity snapshots (:class:`tsbot.adapters.storage.portfolios.SqlPortfolioStore`)."""

    async def with_accounts(self) -> list[PortfolioInfo]:
        """Every portfolio that holds at least one account."""
        ...

    async def save_snapshot(self, portfolio_id: str, snapshot: DailySnapshot) -> None:
        """Store the snapshot of its UTC day, replacing one stored for that day."""
        ...
