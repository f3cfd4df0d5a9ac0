"""The model registry on a real database (SQLite file and PostgreSQL), the same contract in memory, and migration
0003 going down and up."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, text, update
from sqlalchemy.exc import IntegrityError

from tsbot.adapters.memory import MemoryModelRegistry
from tsbot.adapters.storage.database import create_engine, downgrade, upgrade
from tsbot.adapters.storage.tables import metadata, ml_models
from tsbot.core.errors import DataError, NotFoundError
from tsbot.market.models import Timeframe
from tsbot.ml.models import ModelRecord
from tsbot.ml.ports import ModelRegistry
from tsbot.wiring import Services

START = datetime(2021, 1, 9, 7, tzinfo=UTC)
END = datetime(2022, 10, 10, 9, tzinfo=UTC)


def _record(name: str = "ensemble", accuracy: float = 0.45) -> ModelRecord:
    return ModelRecord(
        name=name,
        timeframe=Timeframe.H1,
        symbols=("BTC/USDT", "ETH/USDT"),
        train_start=START,
        train_end=END,
        metrics={
            "accuracy": accuracy,
            "precision": 0.38,
            "recall": 0.34,
            "f1": 0.32,
            "baseline_f1": 0.2,
            "class_balance": {"down": 0.43, "flat": 0.14, "up": 0.43},
            "folds": [{"fold": 1, "model": {"accuracy": float("nan")}}],
        },
        feature_importance={"atr_ratio": 0.08, "low_200_ratio": 0.07},
        hyperparameters={"n_estimators": 150, "weights": {"random_forest": 0.4}},
        id=99,
        version=7,
        is_active=True,
    )


async def _contract(registry: ModelRegistry) -> None:
    before = datetime.now(UTC)
    first = await registry.save(_record(), b"artifact-1")
    second = await registry.save(_record(accuracy=0.5), b"artifact-2")
    other = await registry.save(_record("momentum"), b"artifact-3")
    assert (first.version, second.version, other.version) == (1, 2, 1)  # numbered per name; given ids ignored
    assert len({first.id, second.id, other.id}) == 3 and first.id != 99
    assert not (first.is_active or second.is_active or other.is_active)
    assert first.created_at is not None and first.created_at >= before.replace(microsecond=0)
    assert first.created_at.tzinfo is not None and first.train_start == START and first.train_end == END
    assert first.symbols == ("BTC/USDT", "ETH/USDT") and first.timeframe is Timeframe.H1
    assert first.metrics["accuracy"] == 0.45 and first.metrics["class_balance"]["flat"] == 0.14
    assert first.feature_importance == {"atr_ratio": 0.08, "low_200_ratio": 0.07}
    assert first.hyperparameters["weights"] == {"random_forest": 0.4}

    assert await registry.active("ensemble") is None
    activated = await registry.activate(first.id or 0)
    assert activated.is_active and activated.version == 1
    found = await registry.active("ensemble")
    assert found is not None and found[0].id == first.id and found[1] == b"artifact-1"
    await registry.activate(second.id or 0)
    await registry.activate(other.id or 0)
    found = await registry.active("ensemble")
    assert found is not None and found[0].id == second.id and found[1] == b"artifact-2"
    assert (await registry.get(first.id or 0)).is_active is False  # type: ignore[union-attr]
    await registry.activate(second.id or 0)  # activating the active one again changes nothing
    assert [r.version for r in await registry.list("ensemble") if r.is_active] == [2]

    listed = await registry.list()
    assert [(r.name, r.version) for r in listed] == [("ensemble", 2), ("ensemble", 1), ("momentum", 1)]
    assert [r.is_active for r in listed] == [True, False, True]
    assert [r.version for r in await registry.list("momentum")] == [1]
    assert await registry.list("nope") == []
    assert await registry.get(123_456) is None
    with pytest.raises(NotFoundError, match="no model with id 123456"):
        await registry.activate(123_456)


async def test_registry_on_the_database(services: Services) -> None:
    await _contract(services.models)
    first = (await services.models.list("ensemble"))[-1]
    # NaN in the metrics is stored as null (JSON has no NaN); the headline metrics are columns too
    assert first.metrics["folds"][0]["model"]["accuracy"] is None
    async with services.db.connect() as conn:
        row = await conn.execute(
            text("SELECT accuracy, f1 FROM ml_models WHERE version = 1 AND name = 'ensemble'")
        )
        assert tuple(row.one()) == (0.45, 0.32)


async def test_registry_in_memory() -> None:
    await _contract(MemoryModelRegistry())


async def test_the_database_refuses_two_active_models_of_one_name(services: Services) -> None:
    a = await services.models.save(_record(), b"a")
    b = await services.models.save(_record(), b"b")
    await services.models.activate(a.id or 0)
    with pytest.raises(IntegrityError):
        async with services.db.begin() as conn:
            await conn.execute(update(ml_models).where(ml_models.c.id == b.id).values(is_active=True))
    found = await services.models.active("ensemble")
    assert found is not None and found[0].id == a.id


async def test_bad_saves_are_refused(services: Services) -> None:
    with pytest.raises(DataError, match="artifact"):
        await services.models.save(_record(), b"")
    with pytest.raises(DataError, match="name"):
        await services.models.save(_record("x" * 65), b"a")


async def test_migration_0003_goes_down_and_up(database_url: str) -> None:
    engine = create_engine(database_url)
    try:
        await upgrade(engine)
        await downgrade(engine, "0002")
        async with engine.connect() as conn:
            names = set(await conn.run_sync(lambda c: inspect(c).get_table_names()))
        assert "ml_models" not in names and {"candles", "tracked_signals"} <= names
        await upgrade(engine)
        async with engine.connect() as conn:
            names = set(await conn.run_sync(lambda c: inspect(c).get_table_names()))
            indexes = await conn.run_sync(lambda c: inspect(c).get_indexes("ml_models"))
            columns = await conn.run_sync(
                lambda c: [col["name"] for col in inspect(c).get_columns("ml_models")]
            )
            diffs = await conn.run_sync(
                lambda c: compare_metadata(
                    MigrationContext.configure(c, opts={"compare_type": True}), metadata
                )
            )
        assert "ml_models" in names
        assert {"accuracy", "precision", "recall", "f1", "artifact", "is_active", "metrics"} <= set(columns)
        active_index = next(i for i in indexes if i["name"] == "uq_ml_models_one_active_per_name")
        assert active_index["unique"] and active_index["column_names"] == ["name"]
        assert [
            d for d in diffs if "ml_models" in repr(d)
        ] == []  # the migration builds what tables.py declares
    finally:
        await engine.dispose()
