"""Prometheus metrics of the monitoring cycle, on a given registry (the API's in ``tsbot serve``)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from tsbot.monitor.models import CycleSummary


class CycleMetrics:
    """``tsbot_cycle_runs_total``, ``tsbot_cycle_duration_seconds`` (histogram), ``tsbot_cycle_series`` (gauges of
    the last cycle by outcome: monitored / skipped / errors), ``tsbot_cycle_status_changes_total``,
    ``tsbot_cycle_errors_total``, ``tsbot_cycle_alerts_triggered_total`` and ``tsbot_cycle_last_run_timestamp``
    (seconds since the epoch, UTC)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.runs = Counter("tsbot_cycle_runs", "Monitoring cycles run.", registry=registry)
        self.duration = Histogram(
            "tsbot_cycle_duration_seconds",
            "Wall time of one monitoring cycle.",
            buckets=(0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 120),
            registry=registry,
        )
        self.series = Gauge(
            "tsbot_cycle_series", "Series of the last cycle by outcome.", ["outcome"], registry=registry
        )
        self.changes = Counter(
            "tsbot_cycle_status_changes", "Signal status changes stored by cycles.", registry=registry
        )
        self.errors = Counter(
            "tsbot_cycle_errors", "Series or sources that failed in cycles.", registry=registry
        )
        self.alerts = Counter(
            "tsbot_cycle_alerts_triggered", "Price alerts fired by cycles.", registry=registry
        )
        self.last_run = Gauge(
            "tsbot_cycle_last_run_timestamp", "When the last cycle started (Unix seconds).", registry=registry
        )

    def observe(self, summary: CycleSummary) -> None:
        """Count one finished cycle."""
        self.runs.inc()
        self.duration.observe(summary.duration_s)
        self.series.labels("monitored").set(summary.monitored)
        self.series.labels("skipped").set(summary.skipped)
        self.series.labels("errors").set(summary.errors)
        self.changes.inc(summary.updated)
        self.errors.inc(summary.errors)
        self.alerts.inc(summary.alerts_triggered)
        self.last_run.set(summary.started_at.timestamp())
