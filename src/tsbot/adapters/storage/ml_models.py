"""SQL implementation of :class:`tsbot.ml.ports.ModelRegistry` (table ``ml_models``)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from tsbot.adapters.storage.tables import ml_models
from tsbot.core.errors import DataError, NotFoundError
from tsbot.core.time import utc_now
from tsbot.market.models import Timeframe
from tsbot.ml.models import ModelRecord

#: Attempts at numbering a new version when another writer takes the same number first.
_SAVE_ATTEMPTS = 5
_NAME_MAX = 64

_RECORD_COLUMNS = [c for c in ml_models.c if c.name != "artifact"]


def jsonable(value: Any) -> Any:
    """A JSON-safe copy: numpy scalars as Python numbers, NaN and infinities as None, tuples as lists."""
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if hasattr(value, "item") and callable(value.item):  # numpy scalar
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _metric(metrics: Mapping[str, Any], key: str) -> float | None:
    value = metrics.get(key)
    if isinstance(value, int | float) and math.isfinite(float(value)):
        return float(value)
    return None


def _record(row: Mapping[str, Any]) -> ModelRecord:
    return ModelRecord(
        id=int(row["id"]),
        name=row["name"],
        version=int(row["version"]),
        created_at=row["created_at"],
        timeframe=Timeframe(row["timeframe"]),
        symbols=tuple(row["symbols"]),
        train_start=row["train_start"],
        train_end=row["train_end"],
        metrics=dict(row["metrics"]),
        feature_importance=dict(row["feature_importance"]),
        hyperparameters=dict(row["hyperparameters"]),
        is_active=bool(row["is_active"]),
    )


class SqlModelRegistry:
    """Models in ``ml_models``: versions count up per name; a partial unique index keeps one active per name."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def save(self, record: ModelRecord, artifact: bytes) -> ModelRecord:
        """See :meth:`tsbot.ml.ports.ModelRegistry.save`. Raises DataError for a name over 64 characters or an
        empty artifact."""
        if not record.name or len(record.name) > _NAME_MAX:
            raise DataError(f"model name must be 1 to {_NAME_MAX} characters, got {record.name!r}")
        if not artifact:
            raise DataError("a model needs its artifact bytes")
        t = ml_models
        values = {
            "name": record.name,
            "timeframe": record.timeframe.value,
            "symbols": list(record.symbols),
            "train_start": record.train_start,
            "train_end": record.train_end,
            "accuracy": _metric(record.metrics, "accuracy"),
            "precision": _metric(record.metrics, "precision"),
            "recall": _metric(record.metrics, "recall"),
            "f1": _metric(record.metrics, "f1"),
            "metrics": jsonable(record.metrics),
            "feature_importance": jsonable(record.feature_importance),
            "hyperparameters": jsonable(record.hyperparameters),
            "artifact": artifact,
            "is_active": False,
        }
        for attempt in range(_SAVE_ATTEMPTS):
            try:
                async with self._engine.begin() as conn:
                    last = (
                        await conn.execute(select(func.max(t.c.version)).where(t.c.name == record.name))
                    ).scalar_one_or_none()
                    result = await conn.execute(
                        t.insert().values(version=int(last or 0) + 1, created_at=utc_now(), **values)
                    )
                    model_id = int(result.inserted_primary_key[0])  # type: ignore[index]
                break
            except IntegrityError:
                if attempt == _SAVE_ATTEMPTS - 1:
                    raise
        found = await self.get(model_id)
        assert found is not None
        return found

    async def activate(self, model_id: int) -> ModelRecord:
        """See :meth:`tsbot.ml.ports.ModelRegistry.activate`. Two activations of one name at once: the unique
        index refuses the second writer's row, which then runs again over the first one's result."""
        t = ml_models
        for attempt in range(_SAVE_ATTEMPTS):
            try:
                async with self._engine.begin() as conn:
                    name = (
                        await conn.execute(select(t.c.name).where(t.c.id == model_id))
                    ).scalar_one_or_none()
                    if name is None:
                        raise NotFoundError(f"no model with id {model_id}: see `tsbot model list`")
                    await conn.execute(
                        update(t)
                        .where(t.c.name == name, t.c.is_active.is_(True), t.c.id != model_id)
                        .values(is_active=False)
                    )
                    await conn.execute(update(t).where(t.c.id == model_id).values(is_active=True))
                break
            except IntegrityError:
                if attempt == _SAVE_ATTEMPTS - 1:
                    raise
        found = await self.get(model_id)
        assert found is not None
        return found

    async def active(self, name: str) -> tuple[ModelRecord, bytes] | None:
        t = ml_models
        stmt = select(t).where(t.c.name == name, t.c.is_active.is_(True))
        async with self._engine.connect() as conn:
            row = (await conn.execute(stmt)).mappings().first()
        if row is None:
            return None
        return _record(row), bytes(row["artifact"])

    async def list(self, name: str | None = None) -> list[ModelRecord]:
        t = ml_models
        stmt = select(*_RECORD_COLUMNS).order_by(t.c.name, t.c.version.desc())
        if name is not None:
            stmt = stmt.where(t.c.name == name)
        async with self._engine.connect() as conn:
            rows = (await conn.execute(stmt)).mappings().all()
        return [_record(r) for r in rows]

    async def get(self, model_id: int) -> ModelRecord | None:
        stmt = select(*_RECORD_COLUMNS).where(ml_models.c.id == model_id)
        async with self._engine.connect() as conn:
            row = (await conn.execute(stmt)).mappings().first()
        return _record(row) if row is not None else None
