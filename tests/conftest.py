"""Shared fixtures: settings and services over a fresh database, on SQLite and on PostgreSQL.

The PostgreSQL parameter uses ``TSBOT_TEST_POSTGRES_URL`` (default: the server on 127.0.0.1:5432, database
``test``) and creates a private database for the session. Where no PostgreSQL answers it skips, except in CI
(``CI=true``), where it fails: CI must run the suite on both backends.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from tsbot.adapters.storage.database import create_engine, upgrade
from tsbot.adapters.storage.schema import metadata
from tsbot.config import Settings, load_settings
from tsbot.wiring import Services, open_services

# pytest-xdist's worker processes get COLUMNS=80 and LINES=24; a rich Console created with both set keeps that size
# for good, whatever width a test asks of the command line. Drop them before any console is made.
for _fixed_size in ("COLUMNS", "LINES"):
    os.environ.pop(_fixed_size, None)

PG_URL = os.environ.get("TSBOT_TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test")
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No TSBOT_* variable of the developer's shell leaks into a test."""
    for name in list(os.environ):
        if name.startswith("TSBOT_") and name != "TSBOT_TEST_POSTGRES_URL":
            monkeypatch.delenv(name, raising=False)


@pytest.fixture(scope="session")
def pg_database_url() -> Iterator[str | None]:
    """URL of a private PostgreSQL database for this test session (migrated), or None when none answers."""
    import asyncio

    import asyncpg

    base = make_url(PG_URL)
    name = f"tsbot_test_{uuid.uuid4().hex[:10]}"
    dsn = base.set(drivername="postgresql").render_as_string(hide_password=False)

    async def _admin(sql: str) -> None:
        conn = await asyncpg.connect(dsn, timeout=5)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    try:
        asyncio.run(_admin(f'CREATE DATABASE "{name}"'))
    except (OSError, asyncpg.PostgresError) as exc:
        if IN_CI:
            pytest.fail(f"PostgreSQL at {base.render_as_string()} is required in CI: {exc}")
        yield None
        return
    url = base.set(database=name).render_as_string(hide_password=False)

    async def _migrate() -> None:
        engine = create_engine(url)
        await upgrade(engine)
        await engine.dispose()

    asyncio.run(_migrate())
    try:
        yield url
    finally:
        asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh, empty database: a SQLite file, or the session's PostgreSQL database emptied."""
    import asyncio

    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'tsbot.sqlite'}"
    url = request.getfixturevalue("pg_database_url")
    if url is None:
        pytest.skip(
            f"no PostgreSQL answers at {make_url(PG_URL).render_as_string()} (set TSBOT_TEST_POSTGRES_URL)"
        )

    async def _truncate() -> None:
        engine = create_engine(url)
        names = ", ".join(f'"{t.name}"' for t in metadata.sorted_tables)
        async with engine.begin() as conn:
            await conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
        await engine.dispose()

    asyncio.run(_truncate())
    return url


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    """Settings on the fresh database, with defaults for everything else."""
    return load_settings(database_url=database_url, data_dir=tmp_path)


@pytest.fixture
async def services(settings: Settings) -> AsyncIterator[Services]:
    """tsbot's services on the fresh database."""
    async with open_services(settings) as svc:
        yield svc
