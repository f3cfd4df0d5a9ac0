"""Alembic environment for tsbot. Runs on the connection handed over by tsbot.adapters.storage.database.upgrade,
or, from the ``alembic`` command line, on an async engine built from ``sqlalchemy.url``."""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy.engine import Connection

from tsbot.adapters.storage.schema import metadata

config = context.config
target_metadata = metadata


def _run_on(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def _run_offline() -> None:
    context.configure(
        url=config.get_main_option("sqlalchemy.url"), target_metadata=target_metadata, literal_binds=True
    )
    with context.begin_transaction():
        context.run_migrations()


async def _run_async() -> None:
    from tsbot.adapters.storage.database import create_engine

    engine = create_engine(config.get_main_option("sqlalchemy.url") or "")
    async with engine.begin() as conn:
        await conn.run_sync(_run_on)
    await engine.dispose()


if context.is_offline_mode():
    _run_offline()
elif (conn := config.attributes.get("connection")) is not None:
    _run_on(conn)
else:
    asyncio.run(_run_async())
