"""The Dramatiq broker of ``settings.broker_url``: RabbitMQ (``amqp://``) or Redis (``redis://``), built by
:func:`tsbot.adapters.job_queue.build_broker`, and the queues of the workers' actors."""

from __future__ import annotations

from tsbot.adapters.job_queue import BACKTEST_QUEUE, REDIS_HEARTBEAT_TIMEOUT_MS, build_broker

__all__ = ["BACKTEST_QUEUE", "CYCLE_QUEUE", "NOTIFY_QUEUE", "REDIS_HEARTBEAT_TIMEOUT_MS", "build_broker"]

#: Queues tsbot's actors use: the cycle's per-series jobs, and notification sends (backtests: ``BACKTEST_QUEUE``).
CYCLE_QUEUE = "tsbot.cycle"
NOTIFY_QUEUE = "tsbot.notify"
