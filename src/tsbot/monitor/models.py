"""What one monitoring cycle produced: per-series outcomes and the cycle summary."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from tsbot.market.models import SeriesKey, Timeframe
from tsbot.signals.models import Action, StatusChange


class OutcomeStatus(StrEnum):
    """How one series fared in a cycle: computed (``ok``), left out with a reason (``skipped``: too few bars), or
    failed (``error``: the reason says why; the cycle goes on with the other series)."""

    OK = "ok"
    SKIPPED = "skipped"
    ERROR = "error"


@dataclass(frozen=True, slots=True)
class SeriesOutcome:
    """The result of one series in one cycle: its status, the status changes stored for it as of the cycle's bar
    (each at most once however often the work ran), and the reason of a skip or an error."""

    key: SeriesKey
    status: OutcomeStatus
    changes: tuple[StatusChange, ...] = ()
    reason: str | None = None

    def changes_json(self) -> list[dict[str, Any]]:
        """The changes as JSON objects (``changed_at`` ISO 8601 UTC; actions as their values)."""
        return [change_to_json(c) for c in self.changes]


def change_to_json(change: StatusChange) -> dict[str, Any]:
    """One status change as a JSON object: ``exchange, symbol, timeframe, changed_at, from_action, to_action,
    score``."""
    return {
        "exchange": change.key.exchange,
        "symbol": change.key.symbol,
        "timeframe": change.key.timeframe.value,
        "changed_at": change.changed_at.isoformat(),
        "from_action": change.from_action.value if change.from_action else None,
        "to_action": change.to_action.value,
        "score": change.score,
    }


def change_from_json(obj: dict[str, Any]) -> StatusChange:
    """The :class:`StatusChange` of :func:`change_to_json`'s object.

    Raises:
        KeyError, ValueError: the object is malformed.
    """
    return StatusChange(
        SeriesKey(str(obj["exchange"]), str(obj["symbol"]), Timeframe(obj["timeframe"])),
        datetime.fromisoformat(str(obj["changed_at"])),
        Action(obj["from_action"]) if obj.get("from_action") else None,
        Action(obj["to_action"]),
        float(obj["score"]),
    )


@dataclass(slots=True)
class CycleSummary:
    """One cycle's summary: ``monitored`` series computed, ``updated`` status changes stored, ``errors`` (series or
    sources that failed), ``duration_s`` (wall seconds), plus the alerts fired and notifications queued.

    Attributes:
        cycle_id: the run's id (``cycle_runs.id``).
        started_at: when the cycle began, UTC (wall clock).
        as_of: the time signals were computed as of (the replay clock); None: the latest stored candles.
        mode: ``in_process`` or ``workers``.
        skipped: series left out for too few bars (not errors).
        bots, bot_fills: users' paper bots run, and the fills of their orders taken
            (:class:`tsbot.monitor.bot_runner.BotRunner`).
        snapshots: daily equity snapshots written (:class:`tsbot.monitor.snapshots.SnapshotWriter`).
        error_details: one line per failure (``"BTC/USDT 1h: database is locked"``), at most 50 kept.
    """

    cycle_id: str
    started_at: datetime
    as_of: datetime | None
    mode: str
    monitored: int = 0
    updated: int = 0
    errors: int = 0
    skipped: int = 0
    duration_s: float = 0.0
    alerts_triggered: int = 0
    notifications: int = 0
    bots: int = 0
    bot_fills: int = 0
    snapshots: int = 0
    changes: list[StatusChange] = field(default_factory=list)
    error_details: list[str] = field(default_factory=list)

    def add_error(self, text: str) -> None:
        """Count one failure and keep its line (the first 50)."""
        self.errors += 1
        if len(self.error_details) < 50:
            self.error_details.append(text)

    def to_json(self) -> dict[str, Any]:
        """The summary as the JSON object logged each cycle (``changes`` as a count)."""
        return {
            "cycle_id": self.cycle_id,
            "started_at": self.started_at.isoformat(),
            "as_of": self.as_of.isoformat() if self.as_of else None,
            "mode": self.mode,
            "monitored": self.monitored,
            "updated": self.updated,
            "errors": self.errors,
            "skipped": self.skipped,
            "duration_s": round(self.duration_s, 4),
            "alerts_triggered": self.alerts_triggered,
            "notifications": self.notifications,
            "bots": self.bots,
            "bot_fills": self.bot_fills,
            "snapshots": self.snapshots,
            "error_details": list(self.error_details),
        }
