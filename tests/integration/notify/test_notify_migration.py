"""Migration 0014 (notifications, notification_deliveries, notification_attempts) builds exactly what
tables_notify.py declares, on SQLite and PostgreSQL, and goes down to 0013 cleanly (bad input: a downgrade and a
second upgrade over a migrated database)."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from tsbot.adapters.storage.database import create_engine, downgrade, upgrade
from tsbot.adapters.storage.schema import metadata

TABLES = ("notifications", "notification_deliveries", "notification_attempts")


async def test_migration_0014_up_down_up_matches_the_declared_tables(database_url: str) -> None:
    engine = create_engine(database_url)
    try:
        await upgrade(engine)
        await downgrade(engine, "0013")
        async with engine.connect() as conn:
            names = set(await conn.run_sync(lambda c: inspect(c).get_table_names()))
        assert not set(TABLES) & names
        assert "webhook_tokens" in names  # 0013's tables stay
        await upgrade(engine)
        async with engine.connect() as conn:
            names = set(await conn.run_sync(lambda c: inspect(c).get_table_names()))
            indexes = {
                i["name"]
                for i in await conn.run_sync(lambda c: inspect(c).get_indexes("notification_deliveries"))
            }
            diffs = await conn.run_sync(
                lambda c: compare_metadata(
                    MigrationContext.configure(c, opts={"compare_type": True}), metadata
                )
            )
        assert set(TABLES) <= names
        assert "ix_notification_deliveries_state_due_at" in indexes
        ours = [d for d in diffs if any(t in repr(d) for t in TABLES)]
        assert ours == []  # the tables the migration builds are the ones tables_notify.py declares
    finally:
        await engine.dispose()
