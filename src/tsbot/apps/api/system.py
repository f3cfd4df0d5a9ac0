"""System routes: ``GET /api/v1/health`` (liveness), ``/api/v1/ready`` (readiness), ``/api/v1/metrics``.

* ``health``: answers ``{"status": "ok"}`` without any I/O: the process is up and serving.
* ``ready``: checks, at the same time and each within ``READY_TIMEOUT_S``, the database (``SELECT 1``), Redis
  (``PING``, when ``settings.redis_url`` is set) and the job broker (``settings.broker_url``: for ``amqp://`` an
  AMQP connection is opened and the server's ``Connection.Start`` read; for ``redis://`` a ``PING``; otherwise a
  TCP connection). 200 ``{"status": "ready", "checks": {...}}`` when all pass, else 503 in the error shape with
  the same checks under ``details``. Each check: ``{"status": "ok"|"down"|"not_configured", "latency_ms": ...,
  "error": ...}``.
* ``metrics``: the app's Prometheus registry (:mod:`tsbot.apps.api.metrics`), text format.

Health and metrics are outside the rate limit (:data:`EXEMPT_PATHS`).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlsplit

import redis.asyncio
from fastapi import APIRouter, Request
from fastapi.responses import Response

from tsbot.adapters.storage.stats import SqlStats
from tsbot.apps.api.context import request_id_of
from tsbot.apps.api.deps import ServicesDep
from tsbot.apps.api.errors import error_response
from tsbot.apps.api.metrics import METRICS_CONTENT_TYPE, ApiMetrics

PREFIX = "/api/v1"
HEALTH_PATH = f"{PREFIX}/health"
METRICS_PATH = f"{PREFIX}/metrics"
#: Paths the app-wide rate limit does not count.
#: Where Telegram posts the bot's updates in webhook mode (checked by its secret, not rate-limited per IP).
TELEGRAM_WEBHOOK_PATH = f"{PREFIX}/telegram/webhook"
EXEMPT_PATHS = frozenset({HEALTH_PATH, METRICS_PATH, TELEGRAM_WEBHOOK_PATH})
#: Seconds each readiness check may take before it counts as down.
READY_TIMEOUT_S = 2.0
#: The 8 bytes an AMQP 0-9-1 client opens with; a broker answers with a Connection.Start method frame (type 1).
AMQP_HEADER = b"AMQP\x00\x00\x09\x01"

_HEALTHY = b'{"status":"ok"}'

router = APIRouter(prefix=PREFIX, tags=["system"])


@router.get("/health", summary="Liveness: the process is serving", response_description='{"status": "ok"}')
async def health() -> Response:
    """Answers at once, without touching the database or anything else."""
    return Response(_HEALTHY, media_type="application/json")


@router.get(
    "/ready",
    summary="Readiness: database, cache and broker answer",
    responses={503: {"description": "a dependency is down; `details.checks` says which"}},
)
async def ready(request: Request, services: ServicesDep) -> Response:
    """Runs the checks (see the module docstring) and answers 200 or 503."""
    settings = services.settings
    redis_client: redis.asyncio.Redis | None = request.app.state.redis
    stats = SqlStats(services.db)
    checks = dict(
        zip(
            ("database", "redis", "broker"),
            await asyncio.gather(
                _timed(stats.ping),
                _timed(redis_client.ping) if redis_client is not None else _not_configured(),
                _timed(lambda: check_broker(settings.broker_url))
                if settings.broker_url
                else _not_configured(),
            ),
            strict=True,
        )
    )
    down = [name for name, check in checks.items() if check["status"] == "down"]
    if not down:
        return Response(json.dumps({"status": "ready", "checks": checks}), media_type="application/json")
    return error_response(
        503,
        "not_ready",
        "not ready: " + ", ".join(f"{name} is down" for name in down),
        details={"checks": checks},
        request_id=request_id_of(request.scope),
        headers={"Retry-After": "5"},
    )


@router.get("/metrics", summary="Prometheus metrics", response_class=Response)
async def metrics(request: Request, services: ServicesDep) -> Response:
    """The app's metrics in Prometheus' text format; stored-row gauges are refreshed from the database first."""
    registry: ApiMetrics = request.app.state.metrics
    await registry.refresh_stored(SqlStats(services.db))
    return Response(registry.render(), media_type=METRICS_CONTENT_TYPE)


async def _not_configured() -> dict[str, Any]:
    return {"status": "not_configured"}


async def _timed(check: Callable[[], Awaitable[Any]]) -> dict[str, Any]:
    started = time.perf_counter()
    try:
        await asyncio.wait_for(check(), READY_TIMEOUT_S)
    except TimeoutError:
        error = f"no answer within {READY_TIMEOUT_S:g} s"
    except Exception as exc:  # any failure counts as down; only its class is shown (no hosts or addresses)
        error = type(exc).__name__
    else:
        return {"status": "ok", "latency_ms": round((time.perf_counter() - started) * 1000, 2)}
    return {"status": "down", "latency_ms": round((time.perf_counter() - started) * 1000, 2), "error": error}


async def check_broker(url: str) -> None:
    """Open a connection to the job broker at ``url`` and close it.

    ``amqp://`` / ``amqps://``: sends the AMQP 0-9-1 protocol header and reads the first frame header, which must
    be a method frame (the broker's Connection.Start); ``redis://`` / ``rediss://``: ``PING``; anything else with a
    host and port: a TCP connection.

    Raises:
        OSError: the connection was refused or dropped.
        ValueError: the URL names no host or port, or the broker's first answer is not AMQP.
        redis.RedisError: Redis refused the PING.
    """
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme.startswith("redis"):
        client = redis.asyncio.Redis.from_url(url, socket_connect_timeout=READY_TIMEOUT_S)
        try:
            await client.ping()
        finally:
            await client.aclose()
        return
    default_port = {"amqp": 5672, "amqps": 5671}.get(scheme)
    host, port = parts.hostname, parts.port or default_port
    if not host or not port:
        raise ValueError(f"broker URL names no host and port (scheme {scheme!r})")
    reader, writer = await asyncio.open_connection(host, port, ssl=True if scheme == "amqps" else None)
    try:
        if default_port is not None:
            writer.write(AMQP_HEADER)
            await writer.drain()
            frame = await reader.readexactly(7)
            if frame[0] != 1:
                raise ValueError(f"the broker's first answer is not an AMQP method frame (type {frame[0]})")
    finally:
        writer.close()
        await writer.wait_closed()
