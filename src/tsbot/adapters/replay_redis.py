"""A :class:`~tsbot.intake.webhooks.ReplayGuard` in Redis, shared by every API process.

Each accepted key is one Redis string ``<prefix><key>`` written with ``SET NX EX window``: the write succeeds only
for the first process that sees the key, and Redis drops it when the window ends.
"""

from __future__ import annotations

from redis.asyncio import Redis
from redis.exceptions import RedisError

from tsbot.core.errors import TemporaryError

DEFAULT_PREFIX = "tsbot:webhook:replay:"


class ReplayStoreUnavailableError(TemporaryError):
    """Redis did not answer a replay check; the alert may be sent again later."""


class RedisReplayGuard:
    """Replay keys in Redis. ``redis`` is a :class:`redis.asyncio.Redis` client; its owner closes it.

    Raises :class:`ReplayStoreUnavailableError` (temporary) when Redis fails or times out.
    """

    def __init__(self, redis: Redis, *, prefix: str = DEFAULT_PREFIX) -> None:
        self._redis = redis
        self.prefix = prefix

    async def seen(self, key: str, window_s: int) -> bool:
        """``True`` when ``key`` is already stored; else store it for ``window_s`` seconds (>= 1)."""
        try:
            created = await self._redis.set(self.prefix + key, b"1", nx=True, ex=max(1, int(window_s)))
        except RedisError as exc:
            raise ReplayStoreUnavailableError(f"replay check failed: Redis did not answer ({exc})") from exc
        return not created

    async def forget(self, key: str) -> None:
        """Delete ``key`` so the same alert is accepted again."""
        try:
            await self._redis.delete(self.prefix + key)
        except RedisError as exc:
            raise ReplayStoreUnavailableError(
                f"replay key removal failed: Redis did not answer ({exc})"
            ) from exc
