"""Rate limits with :mod:`limits`: fixed one-hour windows in Redis (shared by every API process) or in process.

Two limits, both per user when the request is authenticated and per client IP otherwise
(:func:`tsbot.apps.api.context.limit_key`):

* ``requests``: ``settings.api.requests_per_hour`` on every route except the paths in ``exempt`` (health and
  metrics), checked by :class:`RateLimitMiddleware` before routing. Answers carry ``X-RateLimit-Limit`` (the limit
  in force, which follows a live configuration change) and ``X-RateLimit-Remaining``;
* ``orders``: ``settings.api.orders_per_hour``, checked by the :data:`OrdersRateLimit` dependency that order
  routes declare, after their authentication dependency::

      @router.post("/orders", dependencies=[Depends(current_user), OrdersRateLimit])

A request over a limit is answered 429 with ``Retry-After`` (seconds until its window ends) and the JSON error
shape. Each check is one round trip (``INCR`` with expiry, :meth:`limits.aio.storage.Storage.incr`, the fixed-window
strategy's own step); the window's expiry is read only for a 429. The count is kept under the window and the
caller only, so a limit changed while running (``PATCH /api/v1/admin/config/app``) applies to what was already
counted in the window.

When the storage fails (Redis down) requests are let through (fail open): a warning is logged when it starts
failing, the storage is not asked again for ``failure_cooldown_s`` seconds (so a dead Redis costs no latency),
and ``tsbot_rate_limit_storage_errors_total`` counts the unchecked requests.

Paths under ``exempt_prefixes`` (the web pages' ``/static/`` files, which a router declares) are not counted either.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import redis.asyncio
import structlog
from fastapi import Depends, Request
from limits import RateLimitItem, RateLimitItemPerHour
from limits.aio.storage import MemoryStorage, RedisStorage, Storage
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tsbot.apps.api.context import limit_key
from tsbot.apps.api.errors import RateLimitedError, send_error
from tsbot.apps.api.metrics import ApiMetrics
from tsbot.config import Settings

_log = structlog.get_logger("tsbot.api.ratelimit")

#: Prefix of the rate-limit keys in Redis.
KEY_PREFIX = "tsbot:ratelimit"
REQUESTS = "requests"
ORDERS = "orders"


@dataclass(frozen=True, slots=True)
class Decision:
    """The outcome of one check: allowed or not, the limit per window, hits left in the window (``None`` when the
    storage failed and the request was let through unchecked), and seconds until the window ends (for a 429)."""

    allowed: bool
    limit: int
    remaining: int | None
    retry_after_s: int


def _storage_key(item: RateLimitItem, name: str, key: str) -> str:
    """Where the count of ``key`` under the limit ``name`` is kept: the window (one hour) and the caller, not the
    number allowed (which :meth:`limits.RateLimitItem.key_for` would add), so a limit changed while running
    applies to the counts already made in the window: lowered, it refuses at once whoever is over it."""
    return f"{item.namespace}/{name}/{key}/{item.multiples}/{item.GRANULARITY.name}"


class RateLimits:
    """The API's two limits over one storage (see the module docstring).

    Parameters
    ----------
    settings:
        ``settings.api.requests_per_hour`` and ``orders_per_hour``.
    metrics:
        Counts 429s and storage failures.
    pool:
        A Redis connection pool (``settings.redis_url``); ``None``: limits held in this process. The pool belongs
        to the caller, who closes it.
    failure_cooldown_s:
        After a storage failure, seconds during which requests pass unchecked without asking the storage.
    """

    def __init__(
        self,
        settings: Settings,
        metrics: ApiMetrics,
        *,
        pool: redis.asyncio.ConnectionPool | None = None,
        failure_cooldown_s: float = 5.0,
    ) -> None:
        self._metrics = metrics
        self._storage: Storage
        if pool is None:
            self._storage = MemoryStorage()
        else:
            url = settings.redis_url if "://" in settings.redis_url else "redis://" + settings.redis_url
            self._storage = RedisStorage(
                "async+" + url, implementation="redispy", key_prefix=KEY_PREFIX, connection_pool=pool
            )
        self.requests: RateLimitItem = RateLimitItemPerHour(settings.api.requests_per_hour)
        self.orders: RateLimitItem = RateLimitItemPerHour(settings.api.orders_per_hour)
        self._cooldown_s = failure_cooldown_s
        self._skip_until = float("-inf")
        self._failing = False

    @property
    def shared(self) -> bool:
        """Whether the counts live in Redis (shared by every process) rather than in this process."""
        return isinstance(self._storage, RedisStorage)

    async def hit(self, name: str, item: RateLimitItem, key: str) -> Decision:
        """Count one hit of ``key`` against ``item`` (the limit called ``name``) and decide."""
        amount = item.amount
        if time.monotonic() < self._skip_until:
            self._metrics.observe_storage_error()
            return Decision(True, amount, None, 0)
        storage_key = _storage_key(item, name, key)
        try:
            count = await self._storage.incr(storage_key, item.get_expiry())
        except Exception as exc:  # any storage failure: let the request through (fail open)
            self._storage_failed(exc)
            return Decision(True, amount, None, 0)
        if self._failing:
            self._failing = False
            _log.info("rate_limit.storage_recovered")
        if count <= amount:
            return Decision(True, amount, amount - count, 0)
        try:
            resets_at = await self._storage.get_expiry(storage_key)
        except Exception:  # the 429 stands; only the wait is unknown
            resets_at = time.time() + item.get_expiry()
        return Decision(False, amount, 0, max(1, math.ceil(resets_at - time.time())))

    def _storage_failed(self, exc: Exception) -> None:
        self._metrics.observe_storage_error()
        self._skip_until = time.monotonic() + self._cooldown_s
        if not self._failing:
            self._failing = True
            _log.warning(
                "rate_limit.storage_failed",
                error=type(exc).__name__,
                message=str(exc),
                action=f"requests pass unchecked; retrying the storage every {self._cooldown_s:g} s",
            )

    def refused(self, name: str, item: RateLimitItem, decision: Decision) -> RateLimitedError:
        """The 429 error for a refused ``decision`` (also counted in the metrics)."""
        self._metrics.observe_rate_limited(name)
        return RateLimitedError(name, item.amount, item.get_expiry(), decision.retry_after_s)


class RateLimitMiddleware:
    """Pure ASGI: the ``requests`` limit on every HTTP request except ``exempt`` paths and paths starting with one
    of ``exempt_prefixes`` (each ending in ``/``, e.g. ``"/static/"``; see the module docstring). The key is
    :func:`~tsbot.apps.api.context.limit_key`, read after any identify hook ran."""

    def __init__(
        self,
        app: ASGIApp,
        limits: RateLimits,
        *,
        exempt: frozenset[str],
        exempt_prefixes: tuple[str, ...] = (),
    ) -> None:
        self.app = app
        self.limits = limits
        self.exempt = exempt
        self.exempt_prefixes = exempt_prefixes
        self._limit_amount = -1
        self._limit_header = (b"x-ratelimit-limit", b"")

    def _limit_header_for(self, amount: int) -> tuple[bytes, bytes]:
        """The ``X-RateLimit-Limit`` header of ``amount``, rebuilt only when the limit changed (a live
        configuration change replaces ``limits.requests``)."""
        if amount != self._limit_amount:
            self._limit_header = (b"x-ratelimit-limit", str(amount).encode())
            self._limit_amount = amount
        return self._limit_header

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["path"] in self.exempt
            or (self.exempt_prefixes and scope["path"].startswith(self.exempt_prefixes))
        ):
            await self.app(scope, receive, send)
            return
        limits = self.limits
        decision = await limits.hit(REQUESTS, limits.requests, limit_key(scope))
        limit_header = self._limit_header_for(decision.limit)
        if not decision.allowed:
            error = limits.refused(REQUESTS, limits.requests, decision)
            await send_error(
                send,
                scope,
                429,
                error.error_type,
                str(error.detail),
                details=error.details,
                headers=[
                    (b"retry-after", str(decision.retry_after_s).encode()),
                    limit_header,
                    (b"x-ratelimit-remaining", b"0"),
                ],
            )
            return
        if decision.remaining is None:
            await self.app(scope, receive, send)
            return
        extra = (limit_header, (b"x-ratelimit-remaining", str(decision.remaining).encode()))

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", ()), *extra]
            await send(message)

        await self.app(scope, receive, send_with_headers)


async def limit_orders(request: Request) -> None:
    """Dependency: count an order against ``settings.api.orders_per_hour`` for the request's user (its IP when
    anonymous). Declare it after the route's authentication dependency so the user is known.

    Raises:
        RateLimitedError: the user placed ``orders_per_hour`` orders within the current hour (429, Retry-After).
    """
    limits: RateLimits = request.app.state.rate_limits
    decision = await limits.hit(ORDERS, limits.orders, limit_key(request.scope))
    if not decision.allowed:
        raise limits.refused(ORDERS, limits.orders, decision)


#: ``dependencies=[OrdersRateLimit]`` on a route that places orders.
OrdersRateLimit = Depends(limit_orders)
