"""Live events for WebSocket clients: an in-process hub, bridged over Redis pub/sub between processes.

Channels: ``signals`` (signal status changes), ``prices``, ``trades`` (a user's orders and fills) and
``notifications`` (a user's messages); :data:`CHANNELS`. An event published with a ``user_id`` reaches only that
user's listeners (``trades``, ``notifications``); one with a ``symbol`` reaches listeners that asked for that symbol
or for all. The internal channel :data:`SESSION_CHANNEL` tells a user's connections that their session ended.

Publishing, in the API process (the hub delivers at once, and over Redis to the other processes)::

    await bus.publish("signals", {"symbol": "BTC/USDT", ...}, symbol="BTC/USDT")

and from a process without a hub (a worker that stored a status change)::

    publisher = RedisEventPublisher(settings.redis_url)
    await publish_status_changes(publisher, await store.save(signals))

Redis messages on :data:`REDIS_CHANNEL` are JSON ``{"origin": <bus id>, "event": Event.to_json()}``; a bus skips
its own (already delivered). Without ``redis_url`` the hub serves its own process only. A Redis failure never
fails a publish: it is logged and local delivery stands; the listener reconnects every :data:`RECONNECT_S`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final, Protocol

import redis.asyncio
import structlog
from redis.exceptions import RedisError

from tsbot.core.time import utc_now
from tsbot.monitor.models import change_to_json
from tsbot.signals.models import StatusChange

#: Channels clients may subscribe to.
CHANNELS: Final = ("signals", "trades", "prices", "notifications")
#: Internal channel: ``publish(SESSION_CHANNEL, {...}, user_id=...)`` ends that user's live connections.
SESSION_CHANNEL: Final = "session"
#: The Redis pub/sub channel events travel on between processes.
REDIS_CHANNEL: Final = "tsbot:events"
#: Events a slow listener may have waiting; beyond it the oldest are dropped (and counted).
QUEUE_SIZE: Final = 1_000
#: Seconds between reconnection attempts of the Redis listener; and the longest wait for it at start.
RECONNECT_S: Final = 1.0
START_WAIT_S: Final = 2.0

_log = structlog.get_logger("tsbot.events")


@dataclass(frozen=True, slots=True)
class Event:
    """One event: ``channel``, a JSON object ``data``, when it was published (``at``, UTC), the one user it is for
    (``user_id``; None: everyone subscribed) and the symbol it is about (``symbol``; None: not symbol-bound)."""

    channel: str
    data: Mapping[str, Any]
    at: datetime
    user_id: str | None = None
    symbol: str | None = None

    def to_json(self) -> dict[str, Any]:
        """The event as a JSON object (``at`` in ISO 8601)."""
        return {
            "channel": self.channel,
            "data": dict(self.data),
            "at": self.at.isoformat(),
            "user_id": self.user_id,
            "symbol": self.symbol,
        }

    @classmethod
    def from_json(cls, obj: Mapping[str, Any]) -> Event:
        """The event of :meth:`to_json`'s object.

        Raises:
            KeyError, TypeError, ValueError: the object is malformed.
        """
        data = obj["data"]
        if not isinstance(data, Mapping):
            raise TypeError("event data must be a JSON object")
        return cls(
            channel=str(obj["channel"]),
            data=data,
            at=datetime.fromisoformat(str(obj["at"])),
            user_id=None if obj.get("user_id") is None else str(obj["user_id"]),
            symbol=None if obj.get("symbol") is None else str(obj["symbol"]),
        )


@dataclass(eq=False, slots=True)
class Listener:
    """One live connection's interest: its user, channels and symbols (empty: every symbol), and the queue its
    events wait in (at most :data:`QUEUE_SIZE`; when full the oldest is dropped and ``dropped`` counts it)."""

    user_id: str
    channels: set[str] = field(default_factory=set)
    symbols: set[str] = field(default_factory=set)
    queue: asyncio.Queue[Event] = field(default_factory=lambda: asyncio.Queue(QUEUE_SIZE))
    dropped: int = 0

    def wants(self, event: Event) -> bool:
        """Whether ``event`` is for this listener (session events of its user always are)."""
        if event.user_id is not None and event.user_id != self.user_id:
            return False
        if event.channel == SESSION_CHANNEL:
            return event.user_id == self.user_id
        if event.channel not in self.channels:
            return False
        return not self.symbols or event.symbol is None or event.symbol in self.symbols

    def offer(self, event: Event) -> None:
        """Queue ``event`` without waiting, dropping the oldest waiting one when the queue is full."""
        if self.queue.full():
            with contextlib.suppress(asyncio.QueueEmpty):
                self.queue.get_nowait()
                self.dropped += 1
        self.queue.put_nowait(event)


class EventPublisher(Protocol):
    """Anything events can be published to: an :class:`EventBus` or a :class:`RedisEventPublisher`."""

    async def publish(
        self,
        channel: str,
        data: Mapping[str, Any],
        *,
        user_id: str | None = None,
        symbol: str | None = None,
    ) -> Event:
        """Publish one event and return it."""
        ...


def _envelope(origin: str, event: Event) -> str:
    return json.dumps({"origin": origin, "event": event.to_json()}, separators=(",", ":"), default=str)


def _redis_client(url: str) -> redis.asyncio.Redis:
    return redis.asyncio.Redis.from_url(url if "://" in url else "redis://" + url, socket_connect_timeout=2)


class RedisEventPublisher:
    """Publishes events to the hubs of other processes over Redis (for processes that serve no live clients).
    :meth:`publish` never raises for Redis: a failure is logged (``events.publish_failed``) and the event is
    returned undelivered."""

    def __init__(self, redis_url: str) -> None:
        self._client = _redis_client(redis_url)
        self._origin = f"publisher-{uuid.uuid4().hex}"

    async def publish(
        self,
        channel: str,
        data: Mapping[str, Any],
        *,
        user_id: str | None = None,
        symbol: str | None = None,
    ) -> Event:
        """Publish ``data`` on ``channel`` (for ``user_id`` only / about ``symbol`` when given)."""
        event = Event(channel, dict(data), utc_now(), user_id, symbol)
        try:
            await self._client.publish(REDIS_CHANNEL, _envelope(self._origin, event))
        except (RedisError, OSError) as exc:
            _log.warning("events.publish_failed", channel=channel, error=type(exc).__name__)
        return event

    async def aclose(self) -> None:
        """Close the connection."""
        await self._client.aclose()


class EventBus:
    """The in-process hub: listeners register, :meth:`publish` delivers at once to matching listeners here and,
    when ``redis_url`` is given, to the hubs of other processes. Run :meth:`start` / :meth:`stop` (or ``async
    with``) around its use so the Redis listener runs."""

    def __init__(self, redis_url: str = "") -> None:
        self._listeners: set[Listener] = set()
        self._origin = f"bus-{uuid.uuid4().hex}"
        self._client = _redis_client(redis_url) if redis_url else None
        self._task: asyncio.Task[None] | None = None
        self._subscribed = asyncio.Event()
        self.published = 0
        self.delivered = 0

    @property
    def bridged(self) -> bool:
        """True when events travel over Redis to other processes."""
        return self._client is not None

    def add(self, listener: Listener) -> None:
        """Start delivering to ``listener``."""
        self._listeners.add(listener)

    def remove(self, listener: Listener) -> None:
        """Stop delivering to ``listener`` (no error when it was not added)."""
        self._listeners.discard(listener)

    @property
    def listeners(self) -> int:
        """How many listeners are registered."""
        return len(self._listeners)

    def deliver(self, event: Event) -> int:
        """Queue ``event`` for every matching listener of this process; how many got it."""
        count = 0
        for listener in list(self._listeners):
            if listener.wants(event):
                listener.offer(event)
                count += 1
        self.delivered += count
        return count

    async def publish(
        self,
        channel: str,
        data: Mapping[str, Any],
        *,
        user_id: str | None = None,
        symbol: str | None = None,
    ) -> Event:
        """Publish ``data`` (a JSON object) on ``channel``, for ``user_id`` only / about ``symbol`` when given:
        delivered here at once, then sent over Redis when bridged (a failure there is logged, not raised)."""
        event = Event(channel, dict(data), utc_now(), user_id, symbol)
        self.published += 1
        self.deliver(event)
        if self._client is not None:
            try:
                await self._client.publish(REDIS_CHANNEL, _envelope(self._origin, event))
            except (RedisError, OSError) as exc:
                _log.warning("events.publish_failed", channel=channel, error=type(exc).__name__)
        return event

    async def start(self) -> None:
        """Start the Redis listener (when bridged) and wait up to :data:`START_WAIT_S` for its subscription; a
        Redis that is down is retried in the background."""
        if self._client is None or self._task is not None:
            return
        self._task = asyncio.create_task(self._listen(), name="tsbot-events-redis")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._subscribed.wait(), START_WAIT_S)

    async def stop(self) -> None:
        """Stop the Redis listener and close the connection; listeners stay registered."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._client is not None:
            await self._client.aclose()

    async def __aenter__(self) -> EventBus:
        await self.start()
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.stop()

    async def _listen(self) -> None:
        assert self._client is not None
        while True:
            try:
                async with self._client.pubsub() as pubsub:
                    await pubsub.subscribe(REDIS_CHANNEL)
                    self._subscribed.set()
                    while True:
                        message = await pubsub.get_message(
                            ignore_subscribe_messages=True, timeout=RECONNECT_S
                        )
                        if message is not None:
                            self._received(message.get("data"))
            except (RedisError, OSError) as exc:
                self._subscribed.clear()
                _log.warning("events.redis_listener_failed", error=type(exc).__name__)
                await asyncio.sleep(RECONNECT_S)

    def _received(self, raw: Any) -> None:
        try:
            envelope = json.loads(raw)
            if envelope.get("origin") == self._origin:
                return
            event = Event.from_json(envelope["event"])
        except (KeyError, TypeError, ValueError, AttributeError):
            _log.warning("events.malformed_message")
            return
        self.deliver(event)


def status_change_data(change: StatusChange) -> dict[str, Any]:
    """A status change as event data: ``exchange``, ``symbol``, ``timeframe``, ``changed_at`` (ISO 8601 UTC),
    ``from_action`` (None for a series' first signal), ``to_action`` and ``score`` in [-1, 1]."""
    return change_to_json(change)


async def publish_status_changes(publisher: EventPublisher, changes: Iterable[StatusChange]) -> list[Event]:
    """Publish each stored status change on the ``signals`` channel (call right after
    :meth:`~tsbot.signals.ports.SignalStore.save` returns them); the events published."""
    return [await publisher.publish("signals", status_change_data(c), symbol=c.key.symbol) for c in changes]


class EventChangePublisher:
    """Pushes stored status changes to live clients through an :class:`EventPublisher`
    (:class:`tsbot.monitor.ports.ChangePublisher`); a failure is logged, never raised."""

    def __init__(self, publisher: EventPublisher) -> None:
        self._publisher = publisher

    async def publish_changes(self, changes: Sequence[StatusChange]) -> None:
        try:
            await publish_status_changes(self._publisher, changes)
        except Exception as exc:  # noqa: BLE001 - live pushes are best effort; the changes are stored
            _log.warning("events.publish_failed", error=str(exc), changes=len(changes))


def unknown_channels(names: Sequence[str]) -> list[str]:
    """The names of ``names`` that are not channels of :data:`CHANNELS`."""
    return [n for n in names if n not in CHANNELS]
