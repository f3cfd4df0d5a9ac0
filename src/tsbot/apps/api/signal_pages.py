"""Pages of stored signals kept as JSON bytes in each API process, exact across processes.

``GET /api/v1/signals``, ``/signals/latest`` (what the dashboard polls) and ``/signals/history`` are the routes
dashboards and programs poll. Their answers depend only on the stored signals and the request's route, filter and
page (:func:`cached_page`), so each process keeps the bytes of recent answers, each under the revision of
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
from collections.abc import Awaitable, Callable
from typing import Final

from fastapi import FastAPI, Request, Response

from tsbot.adapters.storage.revisions import SIGNALS, SqlRevisions
from tsbot.adapters.storage.signal_queries import SignalFilter, StoredSignal
from tsbot.apps.api.cache import Backend, caches_of
from tsbot.apps.api.schemas import Page
from tsbot.apps.api.signal_models import SignalOut
from tsbot.wiring import Services

#: Reads one page of stored signals: (filter, limit, offset) -> (the page's items, the total matching).
PageReader = Callable[[SignalFilter, int, int], Awaitable[tuple[list[StoredSignal], int]]]

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


async def cached_page(
    request: Request,
    services: Services,
    route: str,
    where: SignalFilter,
    limit: int,
    offset: int,
    read: PageReader,
) -> Response:
    """The JSON answer (shaped ``Page[SignalOut]``) of ``read(where, limit, offset)`` for the route ``route``:
    from this process's cache when it holds the page at the current revision of the stored signals, else read,
    kept and answered. The revision is read before the page, so the answer is never older than that read."""
    cache = signal_pages_of(request.app)
    if not cache.enabled:
        return _json(await _page_json(read, where, limit, offset))
    key = repr((route, where, limit, offset))
    revision = await SqlRevisions(services.db).current(SIGNALS)
    body = cache.page(key, revision)
    if body is None:
        body = await _page_json(read, where, limit, offset)
        cache.keep(key, revision, body)
    return _json(body)


async def _page_json(read: PageReader, where: SignalFilter, limit: int, offset: int) -> bytes:
    items, total = await read(where, limit, offset)
    page = Page[SignalOut](items=SignalOut.many(items), total=total, limit=limit, offset=offset)
    return page.model_dump_json().encode()


def _json(body: bytes) -> Response:
    return Response(content=body, media_type="application/json")
