"""Pooled PostgreSQL connections are pinged only after sitting idle (no round trip per checkout under load), and a
connection the server dropped while idle is replaced before use: the next query answers, with no error."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import event, text
from sqlalchemy.ext.asyncio import AsyncEngine

from tsbot.adapters.storage import database
from tsbot.adapters.storage.database import create_engine


@pytest.fixture
def pg_url(database_url: str) -> str:
    if not database_url.startswith("postgresql"):
        pytest.skip("the idle ping is PostgreSQL's (SQLite connections are files)")
    return database_url


async def _backend_pid(engine: AsyncEngine) -> int:
    async with engine.connect() as conn:
        return int((await conn.execute(text("SELECT pg_backend_pid()"))).scalar_one())


def _count_pings(engine: AsyncEngine) -> list[int]:
    """Counts ``SELECT 1``-style pings: the dialect's ``do_ping`` calls (wrapped)."""
    calls: list[int] = []
    dialect = engine.sync_engine.dialect
    ping = dialect.do_ping

    def counted(dbapi_conn):  # type: ignore[no-untyped-def]
        calls.append(1)
        return ping(dbapi_conn)

    dialect.do_ping = counted  # type: ignore[method-assign]
    return calls


async def test_busy_connections_are_not_pinged(pg_url: str) -> None:
    engine = create_engine(pg_url)
    pings = _count_pings(engine)
    checkouts: list[int] = []
    event.listen(engine.sync_engine, "checkout", lambda *_: checkouts.append(1))
    try:
        pids = {await _backend_pid(engine) for _ in range(20)}
    finally:
        await engine.dispose()
    assert len(checkouts) == 20 and pings == [] and len(pids) == 1  # one pooled connection, reused unpinged


async def test_a_connection_dropped_while_idle_is_replaced_before_use(
    pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Bad input: the server ends the pooled connection's backend (as a restart or an idle timeout does) while it
    sits in the pool longer than the idle limit (0.2 s here)."""
    monkeypatch.setattr(database, "PING_AFTER_IDLE_S", 0.2)
    engine, admin = create_engine(pg_url), create_engine(pg_url)
    pings = _count_pings(engine)
    try:
        first = await _backend_pid(engine)
        async with admin.connect() as conn:
            ended = await conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": first})
            assert ended.scalar_one() is True
        await asyncio.sleep(0.3)
        second = await _backend_pid(engine)  # no error: the dead connection failed its ping and was replaced
        third = await _backend_pid(engine)  # used just now: not pinged again
    finally:
        await engine.dispose()
        await admin.dispose()
    assert second != first and third == second
    assert len(pings) == 1
