"""The Dramatiq broker of ``settings.broker_url``: RabbitMQ (``amqp://``) or Redis (``redis://``)."""

from __future__ import annotations

import dramatiq
from dramatiq.middleware import AsyncIO

from tsbot.core.errors import ConfigError

#: Queues tsbot's actors use: the cycle's per-series jobs, and notification sends.
CYCLE_QUEUE = "tsbot.cycle"
NOTIFY_QUEUE = "tsbot.notify"
#: Milliseconds without a heartbeat after which the Redis broker hands a dead worker's messages to another.
REDIS_HEARTBEAT_TIMEOUT_MS = 15_000


def build_broker(url: str) -> dramatiq.Broker:
    """A Dramatiq broker for ``url``, with async actors enabled (one event loop thread per worker process).

    A RabbitMQ message is acknowledged only once its actor finished, so a message of a worker killed mid-job is
    delivered again to another worker; the Redis broker does the same after :data:`REDIS_HEARTBEAT_TIMEOUT_MS`.

    Raises:
        ConfigError: the URL is empty or of another scheme.
    """
    scheme = url.split("://", 1)[0].lower() if "://" in url else ""
    if scheme in ("amqp", "amqps"):
        from dramatiq.brokers.rabbitmq import RabbitmqBroker

        broker: dramatiq.Broker = RabbitmqBroker(url=url)
    elif scheme in ("redis", "rediss"):
        from dramatiq.brokers.redis import RedisBroker

        broker = RedisBroker(url=url, heartbeat_timeout=REDIS_HEARTBEAT_TIMEOUT_MS)
    else:
        raise ConfigError(
            "broker_url must be an amqp:// (RabbitMQ) or redis:// URL, e.g. "
            "TSBOT_BROKER_URL=amqp://guest:guest@127.0.0.1:5672/"
        )
    broker.add_middleware(AsyncIO())
    return broker
