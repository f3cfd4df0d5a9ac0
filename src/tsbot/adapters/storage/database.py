"""Engine creation and schema migration.

``TSBOT_DATABASE_URL`` picks the backend: ``sqlite+aiosqlite:///path`` (the embedded default) or
``postgresql+asyncpg://user@host:5432/db``. The schema is owned by Alembic: :func:`upgrade` brings a database to the
newest revision and is safe to call on every start.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import event
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from tsbot.core.errors import ConfigError, TemporaryError

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
_SYNC_TO_ASYNC = {
    "sqlite": "sqlite+aiosqlite",
    "postgresql": "postgresql+asyncpg",
    "postgres": "postgresql+asyncpg",
}


def normalise_url(url: str) -> str:
    """Turn a plain ``sqlite:///`` or ``postgresql://`` URL into its async-driver form.

    Raises:
        ConfigError: the URL cannot be parsed or names a backend other than SQLite or PostgreSQL.
    """
    try:
        parsed = make_url(url)
    except Exception as exc:  # sqlalchemy raises ArgumentError with a terse message
        raise ConfigError(
            f"database_url {url!r} is not a database URL (e.g. sqlite:///var/tsbot.sqlite)"
        ) from exc
    driver = parsed.drivername
    if driver in _SYNC_TO_ASYNC:
        parsed = parsed.set(drivername=_SYNC_TO_ASYNC[driver])
    if parsed.drivername not in ("sqlite+aiosqlite", "postgresql+asyncpg"):
        raise ConfigError(
            f"database_url backend {driver!r} is not supported; allowed: sqlite+aiosqlite, postgresql+asyncpg"
        )
    return parsed.render_as_string(hide_password=False)


def create_engine(url: str) -> AsyncEngine:
    """An async engine for ``url``. For SQLite the parent folder is created and foreign keys and WAL are enabled."""
    url = normalise_url(url)
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(url)

        @event.listens_for(engine.sync_engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record) -> None:  # type: ignore[no-untyped-def]
            cursor = dbapi_conn.cursor()
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.close()

        return engine
    return create_async_engine(url, pool_pre_ping=True)


def alembic_config(url: str | None = None) -> Config:
    """Alembic configuration pointing at tsbot's migrations (no ``alembic.ini`` needed)."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    if url:
        cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


async def upgrade(engine: AsyncEngine, revision: str = "head") -> None:
    """Migrate the database behind ``engine`` to ``revision`` (default: the newest).

    Raises:
        TemporaryError: the database cannot be reached.
    """

    def _run(sync_conn: Connection) -> None:
        cfg = alembic_config()
        cfg.attributes["connection"] = sync_conn
        command.upgrade(cfg, revision)

    try:
        async with engine.begin() as conn:
            await conn.run_sync(_run)
    except (OSError, SQLAlchemyError) as exc:
        if isinstance(exc, SQLAlchemyError) and "connect" not in str(exc).lower():
            raise
        raise TemporaryError(f"database unreachable at {engine.url.render_as_string()}: {exc}") from exc


async def downgrade(engine: AsyncEngine, revision: str) -> None:
    """Migrate the database behind ``engine`` down to ``revision`` (``"base"`` drops every tsbot table)."""

    def _run(sync_conn: Connection) -> None:
        cfg = alembic_config()
        cfg.attributes["connection"] = sync_conn
        command.downgrade(cfg, revision)

    async with engine.begin() as conn:
        await conn.run_sync(_run)
