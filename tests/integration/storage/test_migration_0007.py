"""Migration 0007 (portfolios, daily performance, exchange keys, bots, approvals, quote amounts on orders) builds
exactly what tables.py declares, on SQLite and PostgreSQL, and goes down to 0006 cleanly."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from tsbot.adapters.storage.database import create_engine, downgrade, upgrade
from tsbot.adapters.storage.schema import metadata

NEW_TABLES = {
    "portfolios",
    "portfolio_accounts",
    "performance_daily",
    "exchange_keys",
    "bots",
    "bot_events",
    "order_approvals",
}


async def test_migration_0007_up_down_up_matches_the_declared_schema(database_url: str) -> None:
    engine = create_engine(database_url)
    try:
        await upgrade(engine)
        await downgrade(engine, "0006")
        async with engine.connect() as conn:
            names = set(await conn.run_sync(lambda c: inspect(c).get_table_names()))
            order_columns = {
                c["name"] for c in await conn.run_sync(lambda c: inspect(c).get_columns("orders"))
            }
        assert not NEW_TABLES & names
        assert "quote_qty" not in order_columns and "qty" in order_columns
        await upgrade(engine)
        async with engine.connect() as conn:
            names = set(await conn.run_sync(lambda c: inspect(c).get_table_names()))
            diffs = await conn.run_sync(
                lambda c: compare_metadata(
                    MigrationContext.configure(c, opts={"compare_type": True}), metadata
                )
            )
        assert names >= NEW_TABLES
        assert diffs == []  # every table the migrations build is the one tables.py declares
    finally:
        await engine.dispose()
