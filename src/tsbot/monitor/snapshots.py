"""Daily equity snapshots of every portfolio, written by the monitoring cycle (:class:`SnapshotWriter`).

Each cycle values every portfolio that holds an account, the way the API does
(:meth:`tsbot.trading.valuation.PortfolioValuer.view`), and stores the result as the snapshot of the cycle's UTC
day (``performance_daily``): on a replay clock the replayed time's day, with prices of the bars closed by then;
otherwise the wall clock's day, at the last stored closes. A later cycle of the same day replaces the row, so the
day's last cycle wins; a day the process did not run has no row. The performance figures
(:mod:`tsbot.trading.performance`) are read from these rows.

A portfolio that cannot be valued (a position in a pair with no stored candles, a currency without a rate) is
logged and reported, and the others are still written. Nothing asks a venue: exchange accounts count by their stored
fills at the stored closes, without their cash at the venue.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import structlog

from tsbot.core.time import utc_now
from tsbot.monitor.ports import PortfolioSnapshots
from tsbot.trading.performance import snapshot_from
from tsbot.trading.valuation import PortfolioValuer

_log = structlog.get_logger("tsbot.monitor")


@dataclass(slots=True)
class SnapshotRun:
    """What one pass wrote: ``portfolios`` valued, ``written`` snapshots of UTC ``day``, the wall seconds it took,
    and one line per portfolio that failed."""

    day: str
    portfolios: int = 0
    written: int = 0
    duration_s: float = 0.0
    errors: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "day": self.day,
            "portfolios": self.portfolios,
            "written": self.written,
            "duration_s": round(self.duration_s, 4),
            "errors": list(self.errors),
        }


class SnapshotWriter:
    """Writes the day's equity snapshot of every portfolio with an account (see the module docstring)."""

    def __init__(self, portfolios: PortfolioSnapshots, valuer: PortfolioValuer) -> None:
        self._portfolios = portfolios
        self._valuer = valuer

    async def run(self, as_of: datetime | None = None) -> SnapshotRun:
        """Value and store every portfolio as of ``as_of`` (the replay clock, UTC; None: the wall clock and the last
        stored closes). One portfolio failing never stops the others: its line is in ``errors``.

        Raises:
            Whatever listing the portfolios raises (the store is down): no portfolio can be written then.
        """
        started = time.perf_counter()
        day = (as_of or utc_now()).astimezone(UTC).date()
        run = SnapshotRun(day.isoformat())
        valuer = self._valuer.for_one_pass()  # the stored series listed once per pass, not per portfolio
        for info in await self._portfolios.with_accounts():
            run.portfolios += 1
            try:
                view = await valuer.view(info, as_of=as_of)
                await self._portfolios.save_snapshot(info.id, snapshot_from(view.valuation, day))
            except Exception as exc:  # noqa: BLE001 - one portfolio failing must not stop the others
                reason = str(exc) or type(exc).__name__
                run.errors.append(f"portfolio {info.name} ({info.id}): {reason}")
                _log.warning(
                    "monitor.snapshot_failed", portfolio=info.id, error=reason, kind=type(exc).__name__
                )
                continue
            run.written += 1
        run.duration_s = time.perf_counter() - started
        if run.portfolios:
            _log.info("monitor.snapshots", **run.to_json())
        return run
