"""The Dramatiq broker of ``settings.broker_url`` (RabbitMQ ``amqp://`` or Redis ``redis://``), and jobs sent to
``tsbot worker`` processes by actor name, so that a process that only sends (the API) needs none of the workers'
code.

The actor names and queues that senders and workers share are named here: :data:`RUN_BACKTEST` on
:data:`BACKTEST_QUEUE` (one argument: the backtest job id).
"""

from __future__ import annotations

import dramatiq
from dramatiq.middleware import AsyncIO

from tsbot.core.errors import ConfigError

#: Milliseconds without a heartbeat after which the Redis broker hands a dead worker's messages to another.
REDIS_HEARTBEAT_TIMEOUT_MS = 15_000
#: The queue of backtest jobs, apart from the cycle's so that a long backtest never holds a cycle's batches back.
BACKTEST_QUEUE = "tsbot.backtest"
#: The actor running one stored backtest job (:func:`tsbot.backtest.jobs.run_backtest_job`).
RUN_BACKTEST = "tsbot.run_backtest"


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


def send_job(broker: dramatiq.Broker, queue_name: str, actor_name: str, *args: str | int | float) -> str:
    """Queue one message for the actor ``actor_name`` on ``queue_name`` with ``args`` (JSON values); its message id.
    Blocking network I/O: call it from a worker thread in async code.

    Raises:
        dramatiq.errors.ConnectionError, redis.RedisError: the broker (RabbitMQ, Redis) did not take the message.
    """
    message: dramatiq.Message[object] = dramatiq.Message(
        queue_name=queue_name, actor_name=actor_name, args=args, kwargs={}, options={}
    )
    return broker.enqueue(message).message_id
