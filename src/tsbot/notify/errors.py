"""The errors of notifications."""

from __future__ import annotations

from tsbot.core.errors import NotFoundError


class NotificationNotFoundError(NotFoundError):
    """The user has no notification with this id (unknown, or another user's): 404."""

    def __init__(self, notification_id: str) -> None:
        super().__init__(f"no notification {notification_id!r} of yours")
        self.notification_id = notification_id
