"""Pages of stored signals kept as JSON bytes in each API process, exact across processes.

``GET /api/v1/signals`` is the route dashboards and programs poll. Its answer depends only on the stored signals
and the request's filter and page, so each process keeps the bytes of recent answers, each under the revision of
the stored signals read *before* the page was read (:mod:`tsbot.adapters.storage.revisions`). A kept page is
served only while that revision is still the current one: every request reads the revision (one primary-key
lookup), and any transaction that stores or changes a signal, in any process, raises it. A page is therefore never
older than the stored signals at the moment the request read the revision, as if read from the database, and the
cache needs no message between processes.

Bounds: ``api.page_cache_entries`` pages (0: no cache; least recently used first out), :data:`MAX_BYTES` in all,
and :data:`MAX_AGE_S` per page, so rows changed by hand in SQL (which raise no revision) are seen within that
time. The cache is listed by ``GET /api/v1/admin/cache`` as ``signal_pages`` and emptied by ``DELETE``.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from typing import Final

from fastapi import FastAPI

from tsbot.apps.api.cache import Backend, caches_of

#: The cache's name in ``/api/v1/admin/cache``.
NAME: Final = "signal_pages"
#: Bytes of pages one process keeps at most (the oldest go first).
MAX_BYTES: Final = 16 * 1024 * 1024
#: Seconds a page is kept at most, whatever the revision says.
MAX_AGE_S: Final = 300.0


class SignalPageCache:
    """JSON pages by key, each with the revision it was read at and the monotonic time it was kept."""

    name: str = NAME
    backend: Backend = "memory"

    def __init__(self, max_entries: int, *, max_bytes: int = MAX_BYTES, max_age_s: float = MAX_AGE_S) -> None:
        self.max_entries = max(0, int(max_entries))
        self.max_bytes = max_bytes
        self.ttl_s = max_age_s
        self.hits = 0
        self.misses = 0
        self._pages: OrderedDict[str, tuple[int, float, bytes]] = OrderedDict()
        self._bytes = 0

    @property
    def enabled(self) -> bool:
        """False when ``api.page_cache_entries`` is 0."""
        return self.max_entries > 0

    def page(self, key: str, revision: int) -> bytes | None:
        """The page kept under ``key`` at ``revision`` and younger than :attr:`ttl_s`, or None (a miss)."""
        entry = self._pages.get(key)
        if entry is None or entry[0] != revision or time.monotonic() - entry[1] >= self.ttl_s:
            self.misses += 1
            return None
        self._pages.move_to_end(key)
        self.hits += 1
        return entry[2]

    def keep(self, key: str, revision: int, body: bytes) -> None:
        """Keep ``body`` under ``key`` as read at ``revision``; older pages go while a bound is exceeded. A page
        larger than all the room is not kept."""
        if not self.enabled or len(body) > self.max_bytes:
            return
        self._drop(key)
        self._pages[key] = (revision, time.monotonic(), body)
        self._bytes += len(body)
        self._trim()

    def resize(self, max_entries: int) -> None:
        """Apply a new ``api.page_cache_entries`` (0 empties the cache and turns it off)."""
        self.max_entries = max(0, int(max_entries))
        self._trim()

    def _drop(self, key: str) -> None:
        old = self._pages.pop(key, None)
        if old is not None:
            self._bytes -= len(old[2])

    def _trim(self) -> None:
        while self._pages and (len(self._pages) > self.max_entries or self._bytes > self.max_bytes):
            _, (_, _, body) = self._pages.popitem(last=False)
            self._bytes -= len(body)

    async def size(self) -> int:
        return len(self._pages)

    async def clear(self) -> int:
        count = len(self._pages)
        self._pages.clear()
        self._bytes = 0
        return count


def signal_pages_of(app: FastAPI) -> SignalPageCache:
    """The app's :class:`SignalPageCache`, made on first use from ``api.page_cache_entries`` and listed in the
    app's cache registry."""
    cache: SignalPageCache | None = getattr(app.state, "signal_pages", None)
    if cache is None:
        cache = app.state.signal_pages = SignalPageCache(app.state.settings.api.page_cache_entries)
        caches_of(app).register(cache)
    return cache
