"""Backtest jobs (:mod:`tsbot.backtest.jobs`) in the ``backtest_jobs`` table: one row per backtest a user asked for,
from ``queued`` through ``running`` to ``done`` (with its result and report) or ``failed`` (with the reason).

State changes are conditional updates (``... WHERE status = 'queued'``), so two runners never both start a job and
a finished job is never moved back. Times are aware UTC.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from tsbot.adapters.storage.tables_jobs import backtest_jobs
from tsbot.backtest.jobs import BacktestJob, JobStatus

__all__ = ["MAX_ERROR_CHARS", "BacktestJob", "JobStatus", "SqlBacktestJobStore", "is_id"]

#: Longest error message kept, in characters.
MAX_ERROR_CHARS = 2_000


def is_id(text: str) -> bool:
    """Whether ``text`` has the shape of the ids given here (32 lowercase hex digits); other text names nothing
    (and is never sent to the database: PostgreSQL refuses some characters, such as NUL, in text)."""
    return len(text) == 32 and all(c in "0123456789abcdef" for c in text)


_ACTIVE = (JobStatus.QUEUED.value, JobStatus.RUNNING.value)


_SUMMARY = [c for c in backtest_jobs.c if c.name not in ("result", "report")]


def _job(row: Mapping[str, Any]) -> BacktestJob:
    return BacktestJob(
        id=row["id"],
        owner_id=row["owner_id"],
        status=JobStatus(row["status"]),
        strategy=row["strategy"],
        request=dict(row["request"]),
        progress_ratio=float(row["progress_ratio"]),
        stage=row["stage"],
        error=row["error"],
        created_at=row["created_at"],
        started_at=row["started_at"],
        finished_at=row["finished_at"],
        heartbeat_at=row["heartbeat_at"],
    )


class SqlBacktestJobStore:
    """Backtest jobs over ``engine`` (:class:`tsbot.backtest.jobs.BacktestJobStore`)."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def create(
        self, owner_id: str, strategy: str, request: Mapping[str, Any], now: datetime
    ) -> BacktestJob:
        """Store a new ``queued`` job of ``owner_id``; ``request`` must be JSON-ready."""
        job_id = uuid.uuid4().hex
        async with self._engine.begin() as conn:
            await conn.execute(
                backtest_jobs.insert().values(
                    id=job_id,
                    owner_id=owner_id,
                    status=JobStatus.QUEUED.value,
                    strategy=strategy,
                    request=dict(request),
                    progress_ratio=0.0,
                    stage="queued",
                    created_at=now,
                    heartbeat_at=now,
                )
            )
        found = await self.get(job_id)
        assert found is not None
        return found

    async def get(self, job_id: str, *, owner_id: str | None = None) -> BacktestJob | None:
        """The job, or None when there is none (or it belongs to someone other than ``owner_id`` when given)."""
        if not is_id(job_id):
            return None
        query = select(*_SUMMARY).where(backtest_jobs.c.id == job_id)
        if owner_id is not None:
            query = query.where(backtest_jobs.c.owner_id == owner_id)
        async with self._engine.connect() as conn:
            row = (await conn.execute(query)).mappings().first()
        return None if row is None else _job(row)

    async def page(self, owner_id: str, *, limit: int, offset: int) -> tuple[list[BacktestJob], int]:
        """``owner_id``'s jobs, newest first (``limit`` from ``offset``), and how many there are in all."""
        t = backtest_jobs
        query = (
            select(*_SUMMARY)
            .where(t.c.owner_id == owner_id)
            .order_by(t.c.created_at.desc(), t.c.id.desc())
            .limit(limit)
            .offset(offset)
        )
        async with self._engine.connect() as conn:
            rows = (await conn.execute(query)).mappings().all()
            total = (await conn.execute(select(func.count()).where(t.c.owner_id == owner_id))).scalar_one()
        return [_job(r) for r in rows], int(total)

    async def start(self, job_id: str, now: datetime) -> bool:
        """Move a ``queued`` job to ``running``; False when it is not queued (taken, finished or unknown)."""
        return await self._move(
            job_id,
            (JobStatus.QUEUED.value,),
            status=JobStatus.RUNNING.value,
            started_at=now,
            heartbeat_at=now,
            stage="starting",
        )

    async def progress(self, job_id: str, ratio: float, stage: str, now: datetime) -> bool:
        """Record the progress (``ratio`` in [0, 1]) and stage of a running job; renews its heartbeat."""
        return await self._move(
            job_id,
            (JobStatus.RUNNING.value,),
            progress_ratio=min(1.0, max(0.0, ratio)),
            stage=stage[:64],
            heartbeat_at=now,
        )

    async def heartbeat(self, job_id: str, now: datetime) -> bool:
        """Renew the heartbeat of a queued or running job (its runner is alive)."""
        return await self._move(job_id, _ACTIVE, heartbeat_at=now)

    async def finish(self, job_id: str, result: str, report: str, now: datetime) -> bool:
        """Store the result (JSON text) and report (HTML) of a running job and mark it ``done``."""
        return await self._move(
            job_id,
            (JobStatus.RUNNING.value,),
            status=JobStatus.DONE.value,
            progress_ratio=1.0,
            stage="done",
            result=result,
            report=report,
            finished_at=now,
            heartbeat_at=now,
        )

    async def fail(self, job_id: str, error: str, now: datetime) -> bool:
        """Mark a queued or running job ``failed`` with ``error`` (cut to :data:`MAX_ERROR_CHARS`)."""
        return await self._move(
            job_id,
            _ACTIVE,
            status=JobStatus.FAILED.value,
            stage="failed",
            error=error[:MAX_ERROR_CHARS],
            finished_at=now,
            heartbeat_at=now,
        )

    async def fail_stale(self, before: datetime, error: str, now: datetime) -> int:
        """Mark ``failed`` every queued or running job whose heartbeat is older than ``before``; how many."""
        t = backtest_jobs
        async with self._engine.begin() as conn:
            result = await conn.execute(
                update(t)
                .where(t.c.status.in_(_ACTIVE), t.c.heartbeat_at < before)
                .values(
                    status=JobStatus.FAILED.value,
                    stage="failed",
                    error=error[:MAX_ERROR_CHARS],
                    finished_at=now,
                )
            )
        return int(result.rowcount or 0)

    async def result(self, job_id: str) -> str | None:
        """The result JSON text of a done job, else None."""
        return await self._column(job_id, "result")

    async def report(self, job_id: str) -> str | None:
        """The stored report HTML of a done job, else None."""
        return await self._column(job_id, "report")

    async def _column(self, job_id: str, name: str) -> str | None:
        query = select(backtest_jobs.c[name]).where(backtest_jobs.c.id == job_id)
        async with self._engine.connect() as conn:
            value = (await conn.execute(query)).scalar_one_or_none()
        return None if value is None else str(value)

    async def _move(self, job_id: str, from_status: tuple[str, ...], **values: Any) -> bool:
        t = backtest_jobs
        async with self._engine.begin() as conn:
            result = await conn.execute(
                update(t).where(t.c.id == job_id, t.c.status.in_(from_status)).values(**values)
            )
        return bool(result.rowcount)
