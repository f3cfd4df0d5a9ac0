"""A user's own notifications: the in-app list and read marks, the delivery history of each notification, and what
their preferences make of each type (:func:`channel_overview`).

Every call is scoped by the user: another user's notification answers :class:`NotificationNotFoundError`, exactly
like one that does not exist.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime

from tsbot.notify.errors import NotificationNotFoundError
from tsbot.notify.models import Channel, Delivery, Notification, NotificationType, Recipient
from tsbot.notify.policy import check_now
from tsbot.notify.ports import InboxStore
from tsbot.notify.preferences import ChannelPlan, SlackRules, plan_channels

#: Most notifications one page holds.
MAX_PAGE: int = 200


class NotificationInbox:
    """The in-app side of notifications over ``store``."""

    def __init__(self, store: InboxStore) -> None:
        self._store = store

    async def list(
        self, user_id: str, *, unread_only: bool = False, limit: int = 50, offset: int = 0
    ) -> tuple[list[Notification], int]:
        """One page of the user's in-app notifications, newest first (``limit`` 1 to :data:`MAX_PAGE`), and how many
        match in all (unread ones only when ``unread_only``)."""
        limit = max(1, min(limit, MAX_PAGE))
        return await self._store.list(user_id, unread_only=unread_only, limit=limit, offset=max(0, offset))

    async def unread_count(self, user_id: str) -> int:
        """How many of the user's in-app notifications are unread."""
        return await self._store.unread_count(user_id)

    async def get(self, user_id: str, notification_id: str) -> Notification:
        """The user's notification.

        Raises:
            NotificationNotFoundError: the user has no such notification.
        """
        found = await self._store.get(user_id, notification_id)
        if found is None:
            raise NotificationNotFoundError(notification_id)
        return found

    async def mark_read(self, user_id: str, notification_id: str, *, now: datetime) -> Notification:
        """Mark the user's notification read at ``now`` (UTC; a first read time is kept).

        Raises:
            NotificationNotFoundError: the user has no such notification.
            DataError: ``now`` is naive.
        """
        found = await self._store.mark_read(user_id, notification_id, check_now(now))
        if found is None:
            raise NotificationNotFoundError(notification_id)
        return found

    async def mark_all_read(self, user_id: str, *, now: datetime) -> int:
        """Mark all the user's unread in-app notifications read at ``now`` (UTC); how many were marked.

        Raises:
            DataError: ``now`` is naive.
        """
        return await self._store.mark_all_read(user_id, check_now(now))

    async def deliveries(self, user_id: str, notification_id: str) -> list[Delivery]:
        """The deliveries of the user's notification, each with its attempts (oldest first).

        Raises:
            NotificationNotFoundError: the user has no such notification.
        """
        found = await self._store.deliveries(user_id, notification_id)
        if found is None:
            raise NotificationNotFoundError(notification_id)
        return found


def channel_overview(
    recipient: Recipient, *, available: Collection[Channel], slack: SlackRules | None = None
) -> dict[NotificationType, list[ChannelPlan]]:
    """For each type, what each channel would do for ``recipient`` now (see
    :func:`~tsbot.notify.preferences.plan_channels`): sent, off, or unreachable and why."""
    return {t: plan_channels(recipient, t, available=available, slack=slack) for t in NotificationType}
