"""Market-data services: importing candle rows into a store with validation."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from tsbot.market.models import SeriesKey
from tsbot.market.ports import CandleStore
from tsbot.market.validation import Gap, validate_rows


@dataclass(slots=True)
class SeriesImportReport:
    """Outcome of importing one series: rows read, inserted, already present, rejected by reason, and gaps."""

    key: SeriesKey
    rows: int
    inserted: int
    unchanged: int
    rejected: dict[str, int] = field(default_factory=dict)
    gaps: list[Gap] = field(default_factory=list)

    @property
    def rejected_total(self) -> int:
        return sum(self.rejected.values())

    @property
    def missing_bars(self) -> int:
        return sum(g.missing for g in self.gaps)


async def import_candles(
    store: CandleStore, key: SeriesKey, asset_class: str, rows: np.ndarray
) -> SeriesImportReport:
    """Validate raw rows (shape ``(n, 6)``, see :mod:`tsbot.market.validation`) and store the clean ones.

    Idempotent: bars already stored at the same open time are left unchanged and counted as ``unchanged``.
    """
    result = validate_rows(rows, key.timeframe)
    written = await store.upsert(key, asset_class, result.frame)
    return SeriesImportReport(
        key=key,
        rows=int(len(rows)),
        inserted=written.inserted,
        unchanged=written.unchanged,
        rejected=result.rejected,
        gaps=result.gaps,
    )
