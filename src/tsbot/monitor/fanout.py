"""Running a cycle's per-series work in this process (:class:`InProcessFanout`)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from tsbot.market.ports import SeriesInfo
from tsbot.monitor.models import SeriesOutcome
from tsbot.monitor.work import SeriesWork


class InProcessFanout:
    """Runs every batch here, as one batch: one scan computes all series together (ML scored in one batch), and
    the work falls back to series one by one only when that fails."""

    mode = "in_process"

    def __init__(self, work: SeriesWork) -> None:
        self._work = work

    async def run(
        self, cycle_id: str, batches: Sequence[Sequence[SeriesInfo]], as_of: datetime | None
    ) -> list[SeriesOutcome]:
        infos = [info for batch in batches for info in batch]
        return await self._work.run(cycle_id, infos, as_of) if infos else []
