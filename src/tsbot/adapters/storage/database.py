"""Engine creation and schema migration.

``TSBOT_DATABASE_URL`` picks the backend: ``sqlite+aiosqlite:///path`` (the embedded default) or
``postgresql+asyncpg://user@host:5432/db``. The schema is owned by Alembic: :func:`upgrade` brings a database to the
newest revision and is safe to call on every start.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import event
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.exc import DisconnectionError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from tsbot.core.errors import ConfigError, TemporaryError

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
#: Seconds a pooled PostgreSQL connection may sit idle before it is pinged at its next checkout.
PING_AFTER_IDLE_S = 10.0
#: PostgreSQL connections a process keeps open (``database_pool_size``), and how many more it may open while
#: busy (``database_max_overflow``; each closed again when handed back to a full pool). A busy API worker holds
#: one connection per request in flight: with 5 kept (SQLAlchemy's default), connections were opened and closed
#: some 20 times a second under ``bench/api_load.py`` and the worker answered half as many requests.
POOL_SIZE = 20
MAX_OVERFLOW = 10
_IDLE_SINCE = "tsbot_idle_since"
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


_scan_json = json.JSONDecoder().scan_once


def json_loads(text: str) -> Any:
    """:func:`json.loads` for the JSON columns, with the same results and errors, faster on what databases send:
    one value with nothing around it is read by the C scanner directly (``json.loads`` adds three Python calls and
    two regular-expression matches per value: the 200 values of a page of 50 signals took 0.23 ms, now 0.10 ms);
    anything else goes through ``json.loads``.

    Raises:
        json.JSONDecodeError: ``text`` is not JSON.
    """
    try:
        value, end = _scan_json(text, 0)
    except StopIteration:
        return json.loads(text)
    return value if end == len(text) else json.loads(text)


def create_engine(url: str, *, pool_size: int = POOL_SIZE, max_overflow: int = MAX_OVERFLOW) -> AsyncEngine:
    """An async engine for ``url``. For SQLite the parent folder is created and foreign keys and WAL are enabled;
    for PostgreSQL the pool keeps ``pool_size`` connections and opens at most ``max_overflow`` more."""
    url = normalise_url(url)
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(url, json_deserializer=json_loads)

        @event.listens_for(engine.sync_engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record) -> None:  # type: ignore[no-untyped-def]
            cursor = dbapi_conn.cursor()
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.close()

        return engine
    engine = create_async_engine(
        url, json_deserializer=json_loads, pool_size=pool_size, max_overflow=max_overflow
    )
    _ping_when_idle(engine)
    return engine


def _ping_when_idle(engine: AsyncEngine) -> None:
    """Check a pooled PostgreSQL connection before use only when it sat idle over :data:`PING_AFTER_IDLE_S`
    seconds (a connection that fails the check is replaced, and the pool tries again).

    A busy API process then sends no ping before each request's query (``pool_pre_ping`` would: one more round
    trip per request), while a connection the server dropped while idle (a restart, an idle timeout) is still
    caught before use. A connection the server drops while it is busy fails its next statement once; the pool
    then replaces every connection older than the failure.
    """
    sync_engine = engine.sync_engine

    @event.listens_for(sync_engine, "checkin")
    def _checked_in(_dbapi_conn, record) -> None:  # type: ignore[no-untyped-def]
        record.info[_IDLE_SINCE] = time.monotonic()

    @event.listens_for(sync_engine, "checkout")
    def _checked_out(dbapi_conn, record, _proxy) -> None:  # type: ignore[no-untyped-def]
        idle_since = record.info.get(_IDLE_SINCE)
        if idle_since is None or time.monotonic() - idle_since <= PING_AFTER_IDLE_S:
            return
        try:
            sync_engine.dialect.do_ping(dbapi_conn)
        except Exception as exc:  # any failure of the ping: this connection is dead
            raise DisconnectionError(f"pooled connection failed its ping: {exc}") from exc


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
