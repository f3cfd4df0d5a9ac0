"""The vocabulary of notifications: types, channels, delivery states, what callers ask for
(:class:`NotificationRequest`) and what the outbox stores and reports.

A *notification* is one message for one user (its title and body rendered once, when it is enqueued); a *delivery*
is that notification on one channel (one row per notification and channel, with its own state, due time and
retries); an *attempt* is one try of a delivery (the retry history). Times are aware UTC datetimes (``*_at``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any


class NotificationType(StrEnum):
    """What a notification is about; each has its own templates and per-channel preferences."""

    SIGNAL_CHANGED = "signal_changed"
    TRADE_EXECUTED = "trade_executed"
    PRICE_ALERT = "price_alert"
    APPROVAL_NEEDED = "approval_needed"
    SYSTEM = "system"


class Channel(StrEnum):
    """Where a notification goes: a Telegram chat, an email address, a Slack incoming webhook, or the app itself
    (the stored notification, listed by the API and pushed live on the ``notifications`` event channel)."""

    TELEGRAM = "telegram"
    EMAIL = "email"
    SLACK = "slack"
    IN_APP = "in_app"


class DeliveryState(StrEnum):
    """Where a delivery stands.

    * ``pending``: waiting for its due time (the first try, or a retry after a temporary failure);
    * ``sending``: claimed by a worker under a lease; when the lease runs out with no result reported (the worker
      died mid-send) the delivery is due again;
    * ``sent``: the channel accepted it;
    * ``failed``: refused for good, or still failing after the last allowed attempt;
    * ``read``: an in-app delivery the user marked read.
    """

    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"
    READ = "read"


class AttemptOutcome(StrEnum):
    """How one attempt ended: ``sent``; ``retry`` (a temporary failure, tried again later); ``failed`` (refused for
    good, or the last allowed attempt failed); ``abandoned`` (the worker that claimed it never reported: its lease
    ran out, and whether the message went out is unknown)."""

    SENT = "sent"
    RETRY = "retry"
    FAILED = "failed"
    ABANDONED = "abandoned"


@dataclass(frozen=True, slots=True)
class NotificationRequest:
    """One notification to send to one user.

    Attributes:
        user_id: the recipient's user id.
        type: what it is about (picks the templates and the user's channel preferences).
        dedup_key: what makes it unique for this user, e.g. ``"signal:BTC/USDT:1h:2024-01-01T10:00Z:BUY"`` (1 to
            200 characters): a second request with the same user and key creates nothing.
        context: the values the templates use (JSON-serialisable; ``Decimal``, ``datetime``, enums, tuples and
            sets are converted to strings and lists). Missing values show as ``?``.
    """

    user_id: str
    type: NotificationType
    dedup_key: str
    context: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Recipient:
    """A user as the notifier sees them.

    Attributes:
        user_id: the user's id.
        active: the account can sign in now (a deactivated or expired account gets no notifications).
        email: the address to email, None when there is none to use (not confirmed).
        telegram_chat_id: the linked Telegram chat, None when none is linked.
        preferences: the user's notification preferences (see :mod:`tsbot.notify.preferences`).
        time_zone: the IANA time zone the user reads times in (``Europe/Berlin``; their profile setting): the
            notification's text shows its times there (a name that is no zone: UTC).
    """

    user_id: str
    active: bool
    email: str | None = None
    telegram_chat_id: int | None = None
    preferences: Mapping[str, bool | int | float | str] = field(default_factory=dict)
    time_zone: str = "UTC"


@dataclass(frozen=True, slots=True)
class Rendered:
    """A notification's plain text (no HTML, no markup): ``title`` (one line) and ``body`` (lines)."""

    title: str
    body: str


@dataclass(frozen=True, slots=True)
class NewNotification:
    """A notification about to be stored (id is UUID text; ``data`` the JSON context; ``created_at`` UTC)."""

    id: str
    user_id: str
    type: NotificationType
    dedup_key: str
    title: str
    body: str
    data: Mapping[str, Any]
    created_at: datetime


@dataclass(frozen=True, slots=True)
class NewDelivery:
    """A delivery about to be stored: its unique ``key`` (``<notification id>.<channel>``), the channel's
    ``target`` (an email address, a Telegram chat id, the user's own Slack webhook URL; None: the operator's Slack
    webhook, and in-app) and when it is first due (UTC)."""

    key: str
    channel: Channel
    target: str | None
    due_at: datetime


@dataclass(frozen=True, slots=True)
class OutgoingMessage:
    """What a :class:`~tsbot.notify.ports.Notifier` sends: one delivery of one notification.

    Attributes:
        delivery_key: unique per notification and channel, the same on every retry (email uses it for a stable
            ``Message-ID``, so a repeated send can be recognised).
        channel: the channel of the delivery.
        target: the channel's address (see :class:`NewDelivery`).
        user_id, notification_id, type, title, body, data, created_at: the notification (plain text; ``data`` is
            its JSON context; ``created_at`` UTC).
        attempt: the number of this attempt, 1-based.
    """

    delivery_key: str
    channel: Channel
    target: str | None
    user_id: str
    notification_id: str
    type: NotificationType
    title: str
    body: str
    data: Mapping[str, Any]
    created_at: datetime
    attempt: int = 1


@dataclass(frozen=True, slots=True)
class ClaimedDelivery:
    """A delivery a worker holds under a lease: ``claim_token`` proves it holds it when reporting the result,
    ``message`` is what to send (``message.attempt`` is this attempt's number)."""

    delivery_id: int
    claim_token: str
    message: OutgoingMessage


@dataclass(frozen=True, slots=True)
class AttemptResult:
    """How one attempt ended, as the outbox records it.

    Attributes:
        attempt: the attempt's number, 1-based (``OutgoingMessage.attempt``).
        outcome: sent, retry or failed.
        started_at: when the attempt began (UTC).
        duration_ms: how long the channel took, in milliseconds.
        error: what went wrong (None when sent); never holds a secret (adapters keep tokens and webhook URLs out).
        next_due_at: for ``retry``, when the next attempt is due (UTC).
    """

    attempt: int
    outcome: AttemptOutcome
    started_at: datetime
    duration_ms: int
    error: str | None = None
    next_due_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class ClaimBatch:
    """What one claim took: the deliveries now held, and how many expired leases it found (``abandoned``), of
    which ``gave_up`` had no attempt left and were marked failed."""

    claimed: list[ClaimedDelivery]
    abandoned: int = 0
    gave_up: int = 0


@dataclass(frozen=True, slots=True)
class DispatchSummary:
    """What one :meth:`~tsbot.notify.service.NotificationService.dispatch` did.

    Attributes:
        claimed: deliveries taken and tried.
        sent: accepted by their channel.
        retried: failed for now; due again after a backoff.
        failed: refused for good, or out of attempts (including expired leases with no attempt left).
        abandoned: expired leases found (a worker died mid-send); each was tried again or, out of attempts, failed.
        lost: results that could not be recorded because this worker's lease had run out and another worker had
            taken the delivery over (the message may go out twice).
    """

    claimed: int = 0
    sent: int = 0
    retried: int = 0
    failed: int = 0
    abandoned: int = 0
    lost: int = 0


@dataclass(frozen=True, slots=True)
class Notification:
    """A stored notification as its user sees it (the in-app message).

    Attributes:
        id: UUID text.
        type: what it is about.
        title, body: plain text, rendered when it was enqueued.
        data: the JSON context it was rendered from.
        created_at: UTC.
        read_at: when the user marked it read (UTC), None while unread.
    """

    id: str
    user_id: str
    type: NotificationType
    title: str
    body: str
    data: Mapping[str, Any]
    created_at: datetime
    read_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Attempt:
    """One attempt of a delivery: its number (1-based), when it began (UTC), how it ended, how long the channel
    took (milliseconds; None when abandoned) and the error (None when sent)."""

    number: int
    started_at: datetime
    outcome: AttemptOutcome
    duration_ms: int | None
    error: str | None


@dataclass(frozen=True, slots=True)
class Delivery:
    """One channel's delivery of a notification, with its retry history.

    Attributes:
        channel: the channel.
        state: where it stands.
        attempts: attempts started so far.
        due_at: pending: when it is tried next; sending: when its lease runs out (UTC); None once settled.
        sent_at: when the channel accepted it (UTC).
        last_error: the error of the latest failed attempt.
        history: the attempts, oldest first.
    """

    channel: Channel
    state: DeliveryState
    attempts: int
    due_at: datetime | None
    sent_at: datetime | None
    last_error: str | None
    created_at: datetime
    history: list[Attempt] = field(default_factory=list)
