"""What the stateful fake venues (Kraken, Coinbase) share: a request log, per-path counters and scripted faults.

``fail(path, nth, Fault.RATE_LIMIT | SERVER_ERROR | STALL)`` makes the ``nth`` request to ``path`` (1-based, all
methods counted together) misbehave; each venue answers the fault in its own shape. ``requests`` logs
``(method, path, params)`` of every request; ``count(path, method)`` counts them. ``hold_next_order()`` makes the
next order request record the order, set ``order_received`` and answer only once the returned event is set.
"""

from __future__ import annotations

import asyncio
import threading
from collections import Counter
from typing import Any

from aiohttp import web

from tests.support.exchange_servers import Fault, ThreadedApp

#: Where a fake venue's middleware leaves a request's parameters (query, form or JSON body) for its handlers.
PARAMS: web.RequestKey[dict[str, Any]] = web.RequestKey("params", dict)


class FakeVenue(ThreadedApp):
    """Bookkeeping for a fake venue served from its own thread (see :class:`ThreadedApp`). ``api_key``: when set,
    private calls must carry exactly this key; ``stall_s``: how long a STALL fault waits before answering."""

    def __init__(self, *, port: int = 0, api_key: str | None = None, stall_s: float = 2.0) -> None:
        super().__init__(port=port)
        self.api_key = api_key
        self.stall_s = stall_s
        self.requests: list[tuple[str, str, dict[str, Any]]] = []
        self._counts: Counter[str] = Counter()
        self._faults: dict[tuple[str, int], Fault] = {}
        self._lock = threading.RLock()
        self.order_received = threading.Event()
        self._hold: threading.Event | None = None

    def hold_next_order(self) -> threading.Event:
        """The next order request is recorded (and filled if it can be) but answered only once the returned event
        is set: its answer is lost to a client that times out first. Later order requests answer at once."""
        self._hold = threading.Event()
        return self._hold

    def stop(self) -> None:
        if self._hold is not None:
            self._hold.set()
        super().stop()

    def fail(self, path: str, nth: int, kind: Fault) -> None:
        """Make the ``nth`` request (1-based, since start, any method) to ``path`` misbehave as ``kind``."""
        with self._lock:
            self._faults[(path, nth)] = kind

    def count(self, path: str, method: str | None = None) -> int:
        """Requests received for ``path`` (of one ``method`` when given)."""
        with self._lock:
            return sum(1 for m, p, _ in self.requests if p == path and (method is None or m == method))

    def sent(self, path: str) -> list[dict[str, Any]]:
        """The parameters of every request to ``path``, oldest first."""
        with self._lock:
            return [params for _, p, params in self.requests if p == path]

    async def _order_recorded(self) -> None:
        """Called by an order handler once the order is booked: sets ``order_received`` and waits while a hold
        armed by :meth:`hold_next_order` is not released."""
        hold, self._hold = self._hold, None
        self.order_received.set()
        while hold is not None and not hold.is_set():
            await asyncio.sleep(0.01)

    def _record(self, method: str, path: str, params: dict[str, Any]) -> Fault | None:
        """Log a request; the fault scripted for it, if any."""
        with self._lock:
            self._counts[path] += 1
            self.requests.append((method, path, params))
            return self._faults.get((path, self._counts[path]))
