"""In-app notifications: the stored notification is the message (the API lists it); sending it publishes it live to
the user's open connections on the ``notifications`` event channel, when a publisher is given."""

from __future__ import annotations

from typing import Any

from tsbot.adapters.events import EventPublisher
from tsbot.notify.models import OutgoingMessage


def event_data(message: OutgoingMessage) -> dict[str, Any]:
    """The live event of an in-app notification: ``id``, ``type``, ``title``, ``body``, ``data`` (its context),
    ``created_at`` (ISO 8601 UTC) and ``read_at`` (None): the shape of an item of ``GET /api/v1/notifications``."""
    return {
        "id": message.notification_id,
        "type": message.type.value,
        "title": message.title,
        "body": message.body,
        "data": dict(message.data),
        "created_at": message.created_at.isoformat(),
        "read_at": None,
    }


class InAppNotifier:
    """Publishes in-app notifications on the ``notifications`` channel for their user (``publisher`` None: nothing
    to publish, the stored row is the whole delivery). Publishers log their own failures and never raise."""

    def __init__(self, publisher: EventPublisher | None = None) -> None:
        self._publisher = publisher

    async def send(self, message: OutgoingMessage) -> None:
        """Publish ``message`` to its user's live connections."""
        if self._publisher is not None:
            await self._publisher.publish("notifications", event_data(message), user_id=message.user_id)
