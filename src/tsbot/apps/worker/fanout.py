"""A cycle's per-series work on Dramatiq workers (:class:`DramatiqFanout`)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from datetime import datetime

from tsbot.apps.worker.actors import Actors, info_to_json
from tsbot.market.ports import SeriesInfo
from tsbot.monitor.models import OutcomeStatus, SeriesOutcome
from tsbot.monitor.ports import CycleStore

#: Seconds between two looks at how many results the workers have recorded.
POLL_S = 0.05


class DramatiqFanout:
    """Sends one ``tsbot.scan_series`` message per batch and waits until the workers have recorded an outcome for
    every series (read from the cycle store), at most ``timeout_s``; a series still missing then comes back as an
    ``error`` outcome ("no result from the workers ...")."""

    mode = "workers"

    def __init__(self, actors: Actors, cycles: CycleStore, *, timeout_s: float) -> None:
        self._actors = actors
        self._cycles = cycles
        self._timeout_s = timeout_s

    async def run(
        self, cycle_id: str, batches: Sequence[Sequence[SeriesInfo]], as_of: datetime | None
    ) -> list[SeriesOutcome]:
        keys = [info.key for batch in batches for info in batch]
        if not keys:
            return []
        when = as_of.isoformat() if as_of is not None else None
        messages = [
            self._actors.scan_series.message(cycle_id, [info_to_json(i) for i in batch], when)
            for batch in batches
            if batch
        ]
        # pika's connection blocks: send from a thread so the event loop keeps serving
        await asyncio.to_thread(lambda: [self._actors.scan_series.broker.enqueue(m) for m in messages])
        deadline = time.monotonic() + self._timeout_s
        while await self._cycles.count(cycle_id) < len(keys) and time.monotonic() < deadline:
            await asyncio.sleep(POLL_S)
        found = {o.key: o for o in await self._cycles.results(cycle_id)}
        missing = [
            SeriesOutcome(
                k,
                OutcomeStatus.ERROR,
                reason=f"no result from the workers within {self._timeout_s:g} s (are `tsbot worker`s running?)",
            )
            for k in keys
            if k not in found
        ]
        if missing:
            await self._cycles.record(cycle_id, missing)
        return [found[k] for k in keys if k in found] + missing
