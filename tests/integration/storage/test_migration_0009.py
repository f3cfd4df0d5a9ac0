"""Migration 0009 (users, recovery codes, refresh tokens, email tokens, API keys, sign-in events, audit log) builds
exactly what tables.py declares, on SQLite and PostgreSQL, and goes down to 0008 cleanly."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from tsbot.adapters.storage.database import create_engine, downgrade, upgrade
from tsbot.adapters.storage.schema import metadata

NEW_TABLES = {
    "users",
    "recovery_codes",
    "refresh_tokens",
    "one_time_tokens",
    "api_keys",
    "login_events",
    "audit_log",
}


async def test_migration_0009_up_down_up_matches_the_declared_schema(database_url: str) -> None:
    engine = create_engine(database_url)
    try:
        await upgrade(engine)
        await downgrade(engine, "0008")
        async with engine.connect() as conn:
            names = set(await conn.run_sync(lambda c: inspect(c).get_table_names()))
        assert not NEW_TABLES & names
        assert "paper_ledger" in names  # 0008's table stays
        await upgrade(engine)
        async with engine.connect() as conn:
            names = set(await conn.run_sync(lambda c: inspect(c).get_table_names()))
            indexes = {
                i["name"] for i in await conn.run_sync(lambda c: inspect(c).get_indexes("login_events"))
            }
            diffs = await conn.run_sync(
                lambda c: compare_metadata(
                    MigrationContext.configure(c, opts={"compare_type": True}), metadata
                )
            )
        assert names >= NEW_TABLES
        assert {"ix_login_events_email_at", "ix_login_events_ip_at", "ix_login_events_user_id_at"} <= indexes
        assert diffs == []  # every table the migrations build is the one tables.py declares
    finally:
        await engine.dispose()
