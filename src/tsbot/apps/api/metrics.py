"""Prometheus metrics of one API app, in a registry of its own (several apps in one process do not collide).

Series (all prefixed ``tsbot_``):

* ``http_requests_total{method, route, status}``: answered requests; ``route`` is the route's path template
  (``/api/v1/webhooks/tradingview/{token}``), or ``unrouted`` for requests answered before routing (404, a 429
  from the app-wide rate limit, a 413 on Content-Length);
* ``http_request_duration_seconds{route}``: time from the request's arrival to the end of its answer (histogram);
* ``http_errors_total{route, exception}``: unexpected exceptions answered with 500, by exception class;
* ``rate_limited_total{limit}``: requests refused with 429, by limit (``requests``, ``orders``);
* ``rate_limit_storage_errors_total``: rate-limit checks skipped because the storage (Redis) did not answer;
* ``signals_stored{action}``, ``orders_stored{status}``: rows in the database, counted when ``/metrics`` is read
  (at most once per ``stats_ttl_s``).

With several uvicorn workers each process counts its own requests; the scrape reaches one of them.
"""

from __future__ import annotations

import time
from typing import Any

import structlog
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from tsbot.adapters.storage.stats import SqlStats
from tsbot.core.errors import TemporaryError

_log = structlog.get_logger("tsbot.api.metrics")

#: Content-Type of the ``/metrics`` answer (Prometheus text format 0.0.4).
METRICS_CONTENT_TYPE = CONTENT_TYPE_LATEST
UNROUTED = "unrouted"
#: Request-duration buckets in seconds: API answers are expected in milliseconds.
LATENCY_BUCKETS_S = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


class ApiMetrics:
    """The metrics of one app (see the module docstring); stored-row gauges are read at most every
    ``stats_ttl_s`` seconds."""

    def __init__(self, *, stats_ttl_s: float = 5.0) -> None:
        self.registry = CollectorRegistry()
        self._requests = Counter(
            "tsbot_http_requests",
            "HTTP requests answered, by method, route template and status code.",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self._duration = Histogram(
            "tsbot_http_request_duration_seconds",
            "Time to answer an HTTP request, in seconds, by route template.",
            ["route"],
            buckets=LATENCY_BUCKETS_S,
            registry=self.registry,
        )
        self._errors = Counter(
            "tsbot_http_errors",
            "Unexpected exceptions answered with 500, by route template and exception class.",
            ["route", "exception"],
            registry=self.registry,
        )
        self._limited = Counter(
            "tsbot_rate_limited",
            "Requests refused with 429, by limit.",
            ["limit"],
            registry=self.registry,
        )
        self._storage_errors = Counter(
            "tsbot_rate_limit_storage_errors",
            "Rate-limit checks skipped (request let through) because the limit storage did not answer.",
            registry=self.registry,
        )
        self._signals = Gauge(
            "tsbot_signals_stored",
            "Signals stored in the database, by action.",
            ["action"],
            registry=self.registry,
        )
        self._orders = Gauge(
            "tsbot_orders_stored",
            "Orders stored in the database, by status.",
            ["status"],
            registry=self.registry,
        )
        self._stats_ttl_s = stats_ttl_s
        self._stats_read_at = float("-inf")
        self._signal_labels: set[str] = set()
        self._order_labels: set[str] = set()
        # Label children looked up once: ``labels()`` takes a lock and builds a tuple on every call.
        self._request_children: dict[tuple[str, str, int], Any] = {}
        self._duration_children: dict[str, Any] = {}

    def observe_request(self, method: str, route: str, status: int, seconds: float) -> None:
        """Count one answered request and its duration in seconds."""
        if method not in _METHODS:
            method = "OTHER"  # a client's made-up method must not grow the label set
        key = (method, route, status)
        counter = self._request_children.get(key)
        if counter is None:
            counter = self._request_children[key] = self._requests.labels(method, route, str(status))
        counter.inc()
        histogram = self._duration_children.get(route)
        if histogram is None:
            histogram = self._duration_children[route] = self._duration.labels(route)
        histogram.observe(seconds)

    def observe_error(self, route: str, exception: BaseException) -> None:
        """Count an unexpected exception answered with 500."""
        self._errors.labels(route, type(exception).__name__).inc()

    def observe_rate_limited(self, limit: str) -> None:
        """Count a request refused by the limit named ``limit``."""
        self._limited.labels(limit).inc()

    def observe_storage_error(self) -> None:
        """Count a rate-limit check skipped because its storage failed."""
        self._storage_errors.inc()

    async def refresh_stored(self, stats: SqlStats) -> None:
        """Update the row-count gauges from ``stats``, at most once per ``stats_ttl_s`` seconds. A database that
        does not answer leaves the last values and logs a warning (the scrape still succeeds)."""
        if time.monotonic() - self._stats_read_at < self._stats_ttl_s:
            return
        try:
            counts = await stats.counts()
        except TemporaryError as exc:
            _log.warning("metrics.counts_failed", message=str(exc))
            return
        self._stats_read_at = time.monotonic()
        _set_all(self._signals, counts.signals_by_action, self._signal_labels)
        _set_all(self._orders, counts.orders_by_status, self._order_labels)

    def render(self) -> bytes:
        """The registry in Prometheus' text format."""
        return generate_latest(self.registry)


def _set_all(gauge: Gauge, values: dict[str, int], seen: set[str]) -> None:
    """Set each labelled value; labels in ``seen`` (set before) but now absent drop to 0."""
    for label in seen - values.keys():
        gauge.labels(label).set(0)
    for label, value in values.items():
        gauge.labels(label).set(value)
    seen.update(values)
