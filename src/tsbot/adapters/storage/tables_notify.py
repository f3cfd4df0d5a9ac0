"""Tables of the notification outbox (migration 0014): notifications, one delivery per notification and channel, and
the attempts of each delivery (the retry history).

Times are aware UTC (:class:`UtcDateTime`). A notification is unique per (user, dedup key); a delivery per ``key``
(``<notification id>.<channel>``). Deleting a user deletes their notifications, deliveries and attempts.
"""

from __future__ import annotations

from sqlalchemy import JSON, Column, ForeignKey, Index, Integer, String, Table, Text, UniqueConstraint

from tsbot.adapters.storage.tables import UtcDateTime, metadata

#: Notifications: the in-app message itself. ``type`` a :class:`~tsbot.notify.models.NotificationType`;
#: ``title`` and ``body`` plain text rendered when enqueued from ``data`` (the JSON context); ``read_at`` set when
#: the user marks it read.
notifications = Table(
    "notifications",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("user_id", String(36), ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("type", String(32), nullable=False),
    Column("dedup_key", String(200), nullable=False),
    Column("title", String(200), nullable=False),
    Column("body", Text, nullable=False),
    Column("data", JSON, nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("read_at", UtcDateTime(), nullable=True),
    UniqueConstraint("user_id", "dedup_key", name="uq_notifications_user_id_dedup_key"),
)

Index("ix_notifications_user_id_created_at", notifications.c.user_id, notifications.c.created_at)

#: Deliveries: ``state`` a :class:`~tsbot.notify.models.DeliveryState`; ``target`` the channel's address (email,
#: Telegram chat id, the user's own Slack webhook; NULL: the operator's Slack webhook, in-app); ``due_at`` when it is
#: next due (pending: the next try; sending: when the lease runs out; NULL once settled); ``claim_token`` and
#: ``claimed_at`` of the worker holding it; ``attempts`` started so far.
notification_deliveries = Table(
    "notification_deliveries",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("key", String(64), nullable=False, unique=True),
    Column(
        "notification_id",
        String(36),
        ForeignKey("notifications.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    Column("channel", String(16), nullable=False),
    Column("target", Text, nullable=True),
    Column("state", String(16), nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("due_at", UtcDateTime(), nullable=True),
    Column("claim_token", String(36), nullable=True),
    Column("claimed_at", UtcDateTime(), nullable=True),
    Column("last_error", Text, nullable=True),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("updated_at", UtcDateTime(), nullable=False),
    Column("sent_at", UtcDateTime(), nullable=True),
)

Index(
    "ix_notification_deliveries_state_due_at",
    notification_deliveries.c.state,
    notification_deliveries.c.due_at,
)

#: Attempts: ``number`` 1-based per delivery; ``outcome`` an :class:`~tsbot.notify.models.AttemptOutcome`;
#: ``duration_ms`` how long the channel took (NULL when abandoned); ``error`` what went wrong.
notification_attempts = Table(
    "notification_attempts",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column(
        "delivery_id",
        Integer,
        ForeignKey("notification_deliveries.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("number", Integer, nullable=False),
    Column("started_at", UtcDateTime(), nullable=False),
    Column("outcome", String(16), nullable=False),
    Column("duration_ms", Integer, nullable=True),
    Column("error", Text, nullable=True),
)

Index(
    "ix_notification_attempts_delivery_id_number",
    notification_attempts.c.delivery_id,
    notification_attempts.c.number,
)
