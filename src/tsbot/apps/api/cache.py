"""Named caches the API's routers share, and the registry behind ``GET`` / ``DELETE /api/v1/admin/cache``.

A router gets its cache by name from the app serving the request (created on first use, then the same object)::

    from tsbot.apps.api.cache import named_cache

    cache = named_cache(request.app, "market", ttl_s=30)
    value = await cache.get(key)          # None: absent or expired (counted as a miss)
    if value is None:
        value = await compute()
        await cache.set(key, value)       # kept ttl_s seconds

Keys are strings; values must be JSON-serialisable (dicts, lists, strings, numbers, booleans) because the Redis
backend stores JSON. Backend: Redis (keys ``tsbot:cache:<name>:<key>``, expiry set by Redis, shared by every
process) when the app has a Redis connection (``settings.redis_url``), else a dict in this process bounded by
``max_entries`` (the oldest entry goes first). A Redis failure reads as a miss and a failed ``set`` is skipped: a
cache never fails a request. Hits and misses are counted per process since start.

The registry (:func:`caches_of`): ``names()``, ``await status()`` (one :class:`CacheStatus` per cache) and
``await clear(name=None)`` (every cache, or one; the number of keys removed per cache).
"""

from __future__ import annotations

import json
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Final, Literal, Protocol

import redis.asyncio
import structlog
from fastapi import FastAPI
from redis.exceptions import RedisError

from tsbot.core.errors import NotFoundError, TemporaryError

#: Prefix of the Redis keys of every named cache.
REDIS_PREFIX: Final = "tsbot:cache:"
#: Keys deleted or counted per Redis SCAN round trip.
_SCAN_COUNT: Final = 500

Backend = Literal["memory", "redis"]
_log = structlog.get_logger("tsbot.api.cache")


@dataclass(frozen=True, slots=True)
class CacheStatus:
    """One cache's state: backend, time to live (s), keys held now (None when Redis did not answer), hits and
    misses since this process started, and an error word when Redis failed."""

    name: str
    backend: Backend
    ttl_s: float
    keys: int | None
    hits: int
    misses: int
    error: str | None = None


class ListedCache(Protocol):
    """What the registry needs of a cache: a name, a backend, a time to live, hit / miss counters, its size and a
    way to empty it."""

    name: str
    backend: Backend
    ttl_s: float
    hits: int
    misses: int

    async def size(self) -> int:
        """Keys held now. Raises ``RedisError`` / ``OSError`` for the Redis backend when Redis fails."""
        ...

    async def clear(self) -> int:
        """Remove every key; how many were removed."""
        ...


class NamedCache(ListedCache, Protocol):
    """A cache of JSON values by string key (see the module docstring)."""

    async def get(self, key: str) -> Any | None:
        """The value under ``key``, or None when absent or expired."""
        ...

    async def set(self, key: str, value: Any) -> None:
        """Keep ``value`` under ``key`` for ``ttl_s`` seconds."""
        ...


class MemoryCache:
    """An in-process cache: at most ``max_entries`` keys, each kept ``ttl_s`` seconds (monotonic clock)."""

    backend: Backend = "memory"

    def __init__(self, name: str, ttl_s: float, max_entries: int = 10_000) -> None:
        self.name = name
        self.ttl_s = float(ttl_s)
        self.max_entries = max(1, int(max_entries))
        self.hits = 0
        self.misses = 0
        self._data: OrderedDict[str, tuple[float, Any]] = OrderedDict()

    async def get(self, key: str) -> Any | None:
        entry = self._data.get(key)
        if entry is None or entry[0] <= time.monotonic():
            if entry is not None:
                del self._data[key]
            self.misses += 1
            return None
        self.hits += 1
        return entry[1]

    async def set(self, key: str, value: Any) -> None:
        self._data.pop(key, None)
        self._data[key] = (time.monotonic() + self.ttl_s, value)
        while len(self._data) > self.max_entries:
            self._data.popitem(last=False)

    async def size(self) -> int:
        now = time.monotonic()
        for key in [k for k, (expires, _) in self._data.items() if expires <= now]:
            del self._data[key]
        return len(self._data)

    async def clear(self) -> int:
        count = len(self._data)
        self._data.clear()
        return count


class RedisCache:
    """A cache in Redis shared by every process: JSON values under ``tsbot:cache:<name>:<key>`` with an expiry."""

    backend: Backend = "redis"

    def __init__(self, name: str, ttl_s: float, client: redis.asyncio.Redis) -> None:
        self.name = name
        self.ttl_s = float(ttl_s)
        self.hits = 0
        self.misses = 0
        self._client = client
        self._prefix = f"{REDIS_PREFIX}{name}:"

    async def get(self, key: str) -> Any | None:
        try:
            raw = await self._client.get(self._prefix + key)
        except (RedisError, OSError) as exc:
            _log.warning("cache.redis_failed", cache=self.name, error=type(exc).__name__)
            raw = None
        if raw is None:
            self.misses += 1
            return None
        self.hits += 1
        return json.loads(raw)

    async def set(self, key: str, value: Any) -> None:
        try:
            await self._client.set(
                self._prefix + key, json.dumps(value, default=str), px=int(self.ttl_s * 1000)
            )
        except (RedisError, OSError) as exc:
            _log.warning("cache.redis_failed", cache=self.name, error=type(exc).__name__)

    async def size(self) -> int:
        count = 0
        async for _ in self._client.scan_iter(match=self._prefix + "*", count=_SCAN_COUNT):
            count += 1
        return count

    async def clear(self) -> int:
        removed = 0
        batch: list[bytes] = []
        async for key in self._client.scan_iter(match=self._prefix + "*", count=_SCAN_COUNT):
            batch.append(key)
            if len(batch) >= _SCAN_COUNT:
                removed += int(await self._client.delete(*batch))
                batch = []
        if batch:
            removed += int(await self._client.delete(*batch))
        return removed


class CacheRegistry:
    """The named caches of one app (see the module docstring). ``client``: the app's Redis connection, or None
    for in-process caches."""

    def __init__(self, client: redis.asyncio.Redis | None) -> None:
        self._client = client
        self._caches: dict[str, ListedCache] = {}

    @property
    def backend(self) -> Backend:
        """Where new caches keep their values."""
        return "redis" if self._client is not None else "memory"

    def get_or_create(self, name: str, *, ttl_s: float, max_entries: int = 10_000) -> NamedCache:
        """The cache ``name``, created on first use with ``ttl_s`` (and ``max_entries`` in process).

        Raises:
            TypeError: ``name`` is a cache registered with :meth:`register` that is not a key / value cache.
        """
        cache = self._caches.get(name)
        if cache is not None and not isinstance(cache, MemoryCache | RedisCache):
            raise TypeError(f"the cache {name!r} is not a key / value cache")
        if cache is None:
            cache = (
                RedisCache(name, ttl_s, self._client)
                if self._client is not None
                else MemoryCache(name, ttl_s, max_entries)
            )
            self._caches[name] = cache
        return cache

    def register(self, cache: ListedCache) -> None:
        """Add a cache built elsewhere (replacing one of the same name)."""
        self._caches[cache.name] = cache

    def names(self) -> list[str]:
        """The names of the caches, sorted."""
        return sorted(self._caches)

    def _chosen(self, name: str | None) -> list[ListedCache]:
        if name is None:
            return [self._caches[n] for n in self.names()]
        cache = self._caches.get(name)
        if cache is None:
            raise NotFoundError(f"no cache named {name!r}; caches: {', '.join(self.names()) or 'none yet'}")
        return [cache]

    async def status(self) -> list[CacheStatus]:
        """Every cache's :class:`CacheStatus`, by name."""
        out = []
        for cache in self._chosen(None):
            keys: int | None
            error = None
            try:
                keys = await cache.size()
            except (RedisError, OSError) as exc:
                keys, error = None, type(exc).__name__
            out.append(
                CacheStatus(cache.name, cache.backend, cache.ttl_s, keys, cache.hits, cache.misses, error)
            )
        return out

    async def clear(self, name: str | None = None) -> dict[str, int]:
        """Empty every cache (or the one named): keys removed per cache.

        Raises:
            NotFoundError: no cache has that name.
            TemporaryError: Redis did not answer.
        """
        removed = {}
        for cache in self._chosen(name):
            try:
                removed[cache.name] = await cache.clear()
            except (RedisError, OSError) as exc:
                raise TemporaryError(
                    f"the cache could not be cleared: Redis failed ({type(exc).__name__})"
                ) from exc
        return removed


def caches_of(app: FastAPI) -> CacheRegistry:
    """The app's :class:`CacheRegistry` (made on first use over ``app.state.redis``)."""
    registry: CacheRegistry | None = getattr(app.state, "caches", None)
    if registry is None:
        registry = app.state.caches = CacheRegistry(getattr(app.state, "redis", None))
    return registry


def named_cache(app: FastAPI, name: str, *, ttl_s: float, max_entries: int = 10_000) -> NamedCache:
    """The app's cache ``name`` (see the module docstring)."""
    return caches_of(app).get_or_create(name, ttl_s=ttl_s, max_entries=max_entries)
