"""The ports of notifications: the outbox (:class:`OutboxStore`), the user's view of it (:class:`InboxStore`), who
the recipients are (:class:`RecipientDirectory`) and the channels (:class:`Notifier`).

Adapters: :mod:`tsbot.adapters.storage.notification_outbox`, :mod:`tsbot.adapters.storage.notification_inbox`,
:mod:`tsbot.adapters.storage.notify_recipients` and :mod:`tsbot.adapters.notifiers`. Times are aware UTC.
"""

from __future__ import annotations

import builtins
from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Protocol

from tsbot.notify.models import (
    AttemptResult,
    ClaimBatch,
    Delivery,
    NewDelivery,
    NewNotification,
    Notification,
    OutgoingMessage,
    Recipient,
)


class Notifier(Protocol):
    """Sends one delivery on one channel.

    Raises (adapters): a :class:`~tsbot.core.errors.TemporaryError` when the channel may take it later (no
    connection, a timeout, HTTP 429/5xx, SMTP 4xx), with ``retry_after_s`` (seconds) when the channel said when;
    any other :class:`~tsbot.core.errors.TsbotError` when it refused for good (an unknown recipient, a revoked
    webhook, a chat that blocked the bot). Messages never hold a secret (bot token, webhook URL, password).
    """

    async def send(self, message: OutgoingMessage) -> None:
        """Deliver ``message`` (plain text) to ``message.target`` on this notifier's channel."""
        ...


class RecipientDirectory(Protocol):
    """Who the users are, for addressing notifications."""

    async def recipients(self, user_ids: Collection[str], at: datetime) -> dict[str, Recipient]:
        """The recipients of ``user_ids`` as of ``at`` (UTC), by user id; unknown ids are absent."""
        ...


class OutboxStore(Protocol):
    """Notifications and their deliveries waiting to be sent, claimed by workers under leases.

    Delivery is at least once: a delivery claimed by a live worker is never claimed by another until its lease
    runs out; when a worker dies mid-send its lease runs out and another worker tries again (the message may then
    arrive twice). :meth:`claim` must be safe with concurrent workers (on PostgreSQL and SQLite).
    """

    async def add(self, notification: NewNotification, deliveries: Sequence[NewDelivery]) -> bool:
        """Store ``notification`` with its deliveries (pending, due at their ``due_at``), in one transaction;
        False (nothing stored) when the user has a notification with the same ``dedup_key`` already."""
        ...

    async def add_many(self, items: Sequence[tuple[NewNotification, Sequence[NewDelivery]]]) -> list[bool]:
        """:meth:`add` for many notifications in one transaction: returns, in order, whether each was stored. One
        whose (user, ``dedup_key``) is stored already, or came earlier in ``items``, stores nothing (False)."""
        ...

    async def claim(
        self, *, now: datetime, limit: int, lease_s: float, max_attempts: int, claim_token: str
    ) -> ClaimBatch:
        """Take up to ``limit`` deliveries that are due at ``now`` (pending ones whose due time has come, and
        sending ones whose lease has run out), oldest due first: each becomes ``sending`` under ``claim_token``
        with its lease ending ``lease_s`` seconds after ``now`` and its attempt count raised by one. An expired
        lease is first recorded as an ``abandoned`` attempt; one with ``max_attempts`` attempts made already is
        marked failed instead of claimed."""
        ...

    async def finish(self, delivery_id: int, claim_token: str, result: AttemptResult) -> bool:
        """Record ``result`` as the attempt of the claimed delivery and settle it (``sent``, ``failed``, or
        ``pending`` again until ``result.next_due_at``). The attempt is always recorded; the state changes only while
        ``claim_token`` still holds the lease (returns False when another worker took the delivery over)."""
        ...

    async def finish_sent(
        self, claim_token: str, sent: Sequence[tuple[int, int]], at: datetime
    ) -> list[bool]:
        """:meth:`finish` for deliveries claimed under ``claim_token`` that went out at ``at`` with nothing to wait
        for (in-app), in one transaction: each ``(delivery id, attempt number)`` gets a ``sent`` attempt at ``at``
        lasting 0 ms and is settled as sent while the token holds it. Returns, in order, whether each was applied
        (an attempt not applied is recorded all the same, as :meth:`finish` records it)."""
        ...


class InboxStore(Protocol):
    """A user's notifications: the in-app list, read marks, and the delivery history of their own notifications.
    Every call is scoped by the owner: another user's notification reads as missing."""

    async def list(
        self, user_id: str, *, unread_only: bool = False, limit: int = 50, offset: int = 0
    ) -> tuple[builtins.list[Notification], int]:
        """One page of the user's in-app notifications, newest first, and how many match in all."""
        ...

    async def unread_count(self, user_id: str) -> int:
        """How many of the user's in-app notifications are unread."""
        ...

    async def get(self, user_id: str, notification_id: str) -> Notification | None:
        """The user's notification, or None."""
        ...

    async def mark_read(self, user_id: str, notification_id: str, at: datetime) -> Notification | None:
        """Mark the user's notification read at ``at`` (a first read time is kept) and its in-app delivery ``read``;
        the notification, or None when the user has no such notification."""
        ...

    async def mark_all_read(self, user_id: str, at: datetime) -> int:
        """Mark every unread in-app notification of the user read at ``at``; how many were marked."""
        ...

    async def deliveries(self, user_id: str, notification_id: str) -> builtins.list[Delivery] | None:
        """The deliveries of the user's notification with their attempts, by channel name; None when the user
        has no such notification."""
        ...
