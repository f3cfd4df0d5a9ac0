"""In-process stores: the same contracts as the SQL stores, held in memory.

Used for scans over data already in memory (benchmarks, replays) and for point-in-time checks, where
:meth:`FrameCandleStore.cut` and :meth:`MemoryHeadlineStore.cut` build stores that hold only what was known at a
time. :class:`FrameCandleStore` keeps one clean :class:`CandleFrame` per series and cuts it with binary search.
"""

from __future__ import annotations

import bisect
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import datetime

import numpy as np

from tsbot.core.errors import DataError, NotFoundError
from tsbot.core.time import utc_now
from tsbot.intake.tracking import (
    ConcurrentUpdateError,
    SignalStatus,
    TrackedSignal,
    UnmatchedUpdate,
    symbol_key,
)
from tsbot.market.models import CandleFrame, SeriesKey
from tsbot.market.ports import SeriesInfo, UpsertResult
from tsbot.ml.models import ModelRecord
from tsbot.sentiment.aggregate import HeadlineSeries
from tsbot.sentiment.models import Headline
from tsbot.signals.models import Signal, StatusChange


class FrameCandleStore:
    """Candles as one validated frame per series. ``upsert`` merges by open time (stored bars win)."""

    def __init__(self, frames: dict[SeriesKey, tuple[str, CandleFrame]] | None = None) -> None:
        self.frames: dict[SeriesKey, tuple[str, CandleFrame]] = dict(frames or {})
        self._listing: list[SeriesInfo] | None = None

    def cut(self, end_ms: int) -> FrameCandleStore:
        """A store holding only the bars with open time <= ``end_ms`` (series left empty are dropped)."""
        out = {}
        for key, (ac, frame) in self.frames.items():
            part = frame.until(end_ms)
            if len(part):
                out[key] = (ac, part)
        return FrameCandleStore(out)

    async def upsert(self, key: SeriesKey, asset_class: str, frame: CandleFrame) -> UpsertResult:
        self._listing = None
        if key not in self.frames or not len(self.frames[key][1]):
            self.frames[key] = (asset_class, frame)
            return UpsertResult(len(frame), 0)
        old_class, old = self.frames[key]
        fresh = ~np.isin(frame.open_time_ms, old.open_time_ms)
        if not fresh.any():
            return UpsertResult(0, len(frame))
        cols = ("open_time_ms", "open", "high", "low", "close", "volume")
        merged = {c: np.concatenate([getattr(old, c), getattr(frame, c)[fresh]]) for c in cols}
        order = np.argsort(merged["open_time_ms"], kind="stable")
        self.frames[key] = (
            old_class,
            CandleFrame(**{c: np.ascontiguousarray(v[order]) for c, v in merged.items()}),
        )
        inserted = int(fresh.sum())
        return UpsertResult(inserted, len(frame) - inserted)

    async def load(
        self, key: SeriesKey, *, end_ms: int | None = None, limit: int | None = None
    ) -> CandleFrame:
        _, frame = self.frames.get(key, ("", CandleFrame.empty()))
        if end_ms is not None:
            frame = frame.until(end_ms)
        return frame.tail(limit) if limit is not None else frame

    async def load_many(
        self, keys: Sequence[SeriesKey], *, end_ms: Mapping[SeriesKey, int] | None = None, limit: int
    ) -> dict[SeriesKey, CandleFrame]:
        out = {}
        empty = CandleFrame.empty()
        for key in keys:
            entry = self.frames.get(key)
            frame = entry[1] if entry is not None else empty
            end = None if end_ms is None else end_ms.get(key)
            out[key] = (frame if end is None else frame.until(end)).tail(limit)
        return out

    async def series(self) -> list[SeriesInfo]:
        if self._listing is None:
            self._listing = self._list()
        return list(self._listing)

    def _list(self) -> list[SeriesInfo]:
        return sorted(
            (
                SeriesInfo(k, ac, len(f), int(f.open_time_ms[0]), int(f.open_time_ms[-1]))
                for k, (ac, f) in self.frames.items()
                if len(f)
            ),
            key=lambda s: (s.key.exchange, s.key.symbol, s.key.timeframe.value),
        )

    async def last_open_ms(self, key: SeriesKey) -> int | None:
        entry = self.frames.get(key)
        return int(entry[1].open_time_ms[-1]) if entry and len(entry[1]) else None


class MemoryHeadlineStore:
    """Scored headlines in memory, indexed per asset by first-seen time (``published_at`` where not given).

    Headlines get ids 1, 2, ... in the order they are added; ``cut`` keeps the ids.
    """

    def __init__(self, items: Sequence[Headline] = ()) -> None:
        self.items: list[Headline] = []
        self._urls: set[str] = set()
        self._by_id: dict[int, Headline] = {}
        self._index: dict[str, HeadlineSeries] = {}
        self._sync_add(items)

    def _sync_add(self, items: Sequence[Headline]) -> int:
        new = []
        for h in items:
            if h.url in self._urls:
                continue
            self._urls.add(h.url)
            stored = replace(h, first_seen_at=h.known_at, id=len(self._by_id) + 1)
            self._by_id[stored.id or 0] = stored
            new.append(stored)
        if new:
            self.items.extend(new)
            self.items.sort(key=lambda h: (h.known_at, h.id or 0))
            self._reindex()
        return len(new)

    def _reindex(self) -> None:
        per: dict[str, list[Headline]] = {}
        for h in self.items:
            if h.score is not None:
                for asset in h.assets:
                    per.setdefault(asset, []).append(h)
        self._index = {
            a: HeadlineSeries(
                np.array([int(h.known_at.timestamp() * 1000) for h in v], dtype=np.int64),
                np.array([h.score for h in v], dtype=np.float64),
                tuple(h.source for h in v),
                np.array([h.id for h in v], dtype=np.int64),
            )
            for a, v in per.items()
        }

    def cut(self, end: datetime) -> MemoryHeadlineStore:
        """A store holding only headlines first seen at or before ``end`` (nothing later is copied into it)."""
        end_ms = int(end.timestamp() * 1000)
        out = MemoryHeadlineStore()
        k = bisect.bisect_right([h.known_at for h in self.items], end)
        out.items = self.items[:k]
        out._urls = {h.url for h in out.items}
        out._by_id = {h.id or 0: h for h in out.items}
        out._index = {}
        for asset, s in self._index.items():
            n = int(np.searchsorted(s.known_ms, end_ms, side="right"))
            out._index[asset] = HeadlineSeries(
                s.known_ms[:n].copy(), s.scores[:n].copy(), s.sources[:n], s.ids[:n].copy()
            )
        return out

    async def add(self, items: Sequence[Headline]) -> int:
        return self._sync_add(items)

    async def known_urls(self, urls: Sequence[str]) -> set[str]:
        return {u for u in urls if u in self._urls}

    async def titles_seen(self, *, start: datetime, end: datetime) -> list[str]:
        return [h.title.strip() or h.summary for h in self.items if start <= h.known_at <= end]

    async def for_asset(self, asset: str, *, start: datetime, end: datetime) -> list[Headline]:
        return [h for h in self.items if asset in h.assets and start <= h.known_at <= end]

    async def latest(self, *, asset: str | None = None, limit: int = 20) -> list[Headline]:
        mine = [h for h in reversed(self.items) if asset is None or asset in h.assets]
        return mine[: max(0, limit)]

    async def scored_series(self, asset: str, *, start: datetime, end: datetime) -> HeadlineSeries:
        s = self._index.get(asset)
        if s is None:
            return HeadlineSeries.empty()
        lo = int(np.searchsorted(s.known_ms, int(start.timestamp() * 1000), side="left"))
        hi = int(np.searchsorted(s.known_ms, int(end.timestamp() * 1000), side="right"))
        return HeadlineSeries(s.known_ms[lo:hi], s.scores[lo:hi], s.sources[lo:hi], s.ids[lo:hi])

    async def by_ids(self, ids: Sequence[int]) -> dict[int, Headline]:
        return {int(i): self._by_id[int(i)] for i in ids if int(i) in self._by_id}

    async def count(self) -> int:
        return len(self.items)


class MemorySignalStore:
    """Signals per series and time; status changes as the SQL store records them."""

    def __init__(self) -> None:
        self.signals: dict[tuple[SeriesKey, datetime], Signal] = {}
        self.changes: list[StatusChange] = []

    async def save(self, signals: Sequence[Signal]) -> list[StatusChange]:
        out = []
        for sig in signals:
            self.signals[(sig.key, sig.as_of)] = sig
            earlier = [s for (k, t), s in self.signals.items() if k == sig.key and t < sig.as_of]
            prev = max(earlier, key=lambda s: s.as_of) if earlier else None
            old = [c for c in self.changes if c.key == sig.key and c.changed_at == sig.as_of]
            if prev is not None and prev.action == sig.action:
                self.changes = [c for c in self.changes if c not in old]
                continue
            change = StatusChange(sig.key, sig.as_of, prev.action if prev else None, sig.action, sig.score)
            if old and (old[0].from_action, old[0].to_action) == (change.from_action, change.to_action):
                continue  # recorded already
            self.changes = [c for c in self.changes if c not in old] + [change]
            out.append(change)
        return out

    async def latest(self, key: SeriesKey) -> Signal | None:
        mine = [s for (k, _), s in self.signals.items() if k == key]
        return max(mine, key=lambda s: s.as_of) if mine else None

    async def changes_at(self, wanted: Sequence[tuple[SeriesKey, datetime]]) -> list[StatusChange]:
        found = {(c.key, c.changed_at): c for c in self.changes}
        return [found[pair] for pair in wanted if pair in found]

    async def status_changes(self, key: SeriesKey | None = None, *, limit: int = 100) -> list[StatusChange]:
        mine = [c for c in self.changes if key is None or c.key == key]
        return sorted(mine, key=lambda c: c.changed_at, reverse=True)[:limit]


def _recent_first(signal: TrackedSignal) -> tuple[datetime, int]:
    return signal.posted_at, signal.id or 0


class MemoryTrackedSignalStore:
    """Tracked signals and unmatched updates in memory, with the checks of the SQL store (one signal per
    provider and post id, transitions saved only over the state they were made from)."""

    def __init__(self) -> None:
        self.signals: dict[int, TrackedSignal] = {}
        self.unmatched_items: list[UnmatchedUpdate] = []

    async def add(self, signal: TrackedSignal) -> TrackedSignal:
        if await self.find(signal.provider, signal.post_id) is not None:
            raise DataError(f"signal {signal.post_id} of {signal.provider} is stored already")
        stored = replace(signal, id=len(self.signals) + 1)
        self.signals[stored.id] = stored  # type: ignore[index]
        return stored

    async def save_transition(self, signal: TrackedSignal) -> TrackedSignal:
        current = self.signals.get(signal.id) if signal.id is not None else None
        if current is None:
            raise NotFoundError(f"no tracked signal with id {signal.id}")
        if not signal.history or current.history != signal.history[:-1]:
            raise ConcurrentUpdateError(f"tracked signal {signal.id} changed since it was loaded")
        self.signals[signal.id] = signal  # type: ignore[index]
        return signal

    async def get(self, signal_id: int) -> TrackedSignal | None:
        return self.signals.get(signal_id)

    async def find(self, provider: str, post_id: str) -> TrackedSignal | None:
        return next(
            (s for s in self.signals.values() if (s.provider, s.post_id) == (provider, post_id)), None
        )

    async def open_signals(self, provider: str, *, base: str | None = None) -> list[TrackedSignal]:
        mine = [
            s
            for s in self.signals.values()
            if s.provider == provider and s.is_open and (base is None or symbol_key(s.symbol)[0] == base)
        ]
        return sorted(mine, key=_recent_first, reverse=True)

    async def by_status(
        self, status: SignalStatus, *, provider: str | None = None, limit: int = 100
    ) -> list[TrackedSignal]:
        mine = [s for s in self.signals.values() if s.status is status and provider in (None, s.provider)]
        return sorted(mine, key=_recent_first, reverse=True)[:limit]

    async def add_unmatched(self, item: UnmatchedUpdate) -> UnmatchedUpdate:
        stored = replace(item, id=len(self.unmatched_items) + 1)
        self.unmatched_items.append(stored)
        return stored

    async def unmatched(self, provider: str, *, limit: int = 100) -> list[UnmatchedUpdate]:
        mine = [u for u in self.unmatched_items if u.provider == provider]
        return sorted(mine, key=lambda u: (u.received_at, u.id or 0), reverse=True)[:limit]


class MemoryModelRegistry:
    """:class:`tsbot.ml.ports.ModelRegistry` in memory: same numbering and activation rules as the SQL one."""

    def __init__(self) -> None:
        self._rows: dict[int, tuple[ModelRecord, bytes]] = {}

    async def save(self, record: ModelRecord, artifact: bytes) -> ModelRecord:
        if not artifact:
            raise DataError("a model needs its artifact bytes")
        last = max((r.version for r, _ in self._rows.values() if r.name == record.name), default=0)
        model_id = max(self._rows, default=0) + 1
        stored = replace(record, id=model_id, version=last + 1, created_at=utc_now(), is_active=False)
        self._rows[model_id] = (stored, bytes(artifact))
        return stored

    async def activate(self, model_id: int) -> ModelRecord:
        if model_id not in self._rows:
            raise NotFoundError(f"no model with id {model_id}: see `tsbot model list`")
        name = self._rows[model_id][0].name
        for key, (rec, art) in list(self._rows.items()):
            if rec.name == name:
                self._rows[key] = (replace(rec, is_active=key == model_id), art)
        return self._rows[model_id][0]

    async def active(self, name: str) -> tuple[ModelRecord, bytes] | None:
        for rec, art in self._rows.values():
            if rec.name == name and rec.is_active:
                return rec, art
        return None

    async def list(self, name: str | None = None) -> list[ModelRecord]:
        found = [r for r, _ in self._rows.values() if name is None or r.name == name]
        return sorted(found, key=lambda r: (r.name, -r.version))

    async def get(self, model_id: int) -> ModelRecord | None:
        row = self._rows.get(model_id)
        return row[0] if row is not None else None
