"""The caller's notifications: ``/api/v1/notifications/...``. Every route is for any signed-in user.

=======================================  ========================================================================
route                                    what it does
=======================================  ========================================================================
GET /notifications                       my in-app notifications, newest first, paged (``?unread=true``), with
                                         the number unread
GET /notifications/unread-count          how many of my in-app notifications are unread
POST /notifications/read-all             mark all my in-app notifications read
GET /notifications/preferences           what each type does on each channel for me: sent, off, or unreachable
                                         and why, and the preference keys to change it (through ``/me``)
GET /notifications/{notification_id}     one of my notifications
POST /notifications/{id}/read            mark one read (its first read time is kept)
GET /notifications/{id}/deliveries       each channel's delivery state and attempt history
=======================================  ========================================================================

A notification is written by tsbot (signal changes, executed trades, price alerts, approvals, system notices) and
sent on the channels the user's preferences pick (see :mod:`tsbot.notify.preferences`); the in-app ones are listed
here and pushed live on the WebSocket's ``notifications`` channel. Another user's notification answers 404, like one
that does not exist. Delivery targets (addresses, chat ids, webhook URLs) are never shown.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field

from tsbot.adapters.notifiers import configured_channels
from tsbot.adapters.storage.notification_inbox import SqlInboxStore
from tsbot.adapters.storage.notify_recipients import SqlRecipientDirectory
from tsbot.apps.api.auth import SignedIn
from tsbot.apps.api.deps import ServicesDep, SettingsDep
from tsbot.apps.api.errors import ErrorOut
from tsbot.apps.api.schemas import Page
from tsbot.core.errors import NotFoundError
from tsbot.core.time import utc_now
from tsbot.notify.inbox import MAX_PAGE, NotificationInbox, channel_overview
from tsbot.notify.models import (
    Attempt,
    AttemptOutcome,
    Channel,
    Delivery,
    DeliveryState,
    Notification,
    NotificationType,
)
from tsbot.notify.preferences import SLACK_WEBHOOK_KEY, switch_key
from tsbot.notify.service import slack_rules

router = APIRouter(prefix="/api/v1/notifications", tags=["notifications"])

_NOT_FOUND = {404: {"model": ErrorOut, "description": "you have no notification with this id"}}


def notification_inbox(services: ServicesDep) -> NotificationInbox:
    """The notification inbox over the app's database."""
    return NotificationInbox(SqlInboxStore(services.db))


Inbox = Annotated[NotificationInbox, Depends(notification_inbox)]


class NotificationOut(BaseModel):
    """One notification."""

    id: str
    type: NotificationType
    title: str = Field(description="plain text, one line")
    body: str = Field(description="plain text, lines")
    data: dict[str, Any] = Field(
        description="the values it was written from (symbol, prices as decimal text ...)"
    )
    created_at: datetime = Field(description="UTC")
    read_at: datetime | None = Field(description="when I marked it read (UTC); null while unread")

    @classmethod
    def of(cls, n: Notification) -> NotificationOut:
        return cls(
            id=n.id,
            type=n.type,
            title=n.title,
            body=n.body,
            data=dict(n.data),
            created_at=n.created_at,
            read_at=n.read_at,
        )


class NotificationPage(Page[NotificationOut]):
    """One page of my in-app notifications and how many of all of them are unread."""

    unread: int = Field(ge=0, description="my unread in-app notifications (over all pages)")


class UnreadOut(BaseModel):
    """Unread in-app notifications."""

    unread: int = Field(ge=0)


class ReadAllOut(BaseModel):
    """What marking all read did."""

    marked: int = Field(ge=0, description="notifications marked read now")
    unread: int = Field(ge=0, description="unread left (0 unless new ones arrived meanwhile)")


class AttemptOut(BaseModel):
    """One attempt of a delivery."""

    number: int = Field(ge=0, description="1-based")
    started_at: datetime = Field(description="UTC")
    outcome: AttemptOutcome = Field(
        description="sent; retry (failed for now, tried again later); failed (for good); abandoned (the worker "
        "stopped before reporting, so it was tried again)"
    )
    duration_ms: int | None = Field(description="how long the channel took, milliseconds")
    error: str | None

    @classmethod
    def of(cls, a: Attempt) -> AttemptOut:
        return cls(
            number=a.number,
            started_at=a.started_at,
            outcome=a.outcome,
            duration_ms=a.duration_ms,
            error=a.error,
        )


class DeliveryOut(BaseModel):
    """One channel's delivery of a notification."""

    channel: Channel
    state: DeliveryState = Field(description="pending, sending, sent, failed, or read (in-app)")
    attempts: int = Field(ge=0, description="attempts started")
    next_attempt_at: datetime | None = Field(
        description="pending: when it is tried next; sending: when the worker's lease runs out (UTC)"
    )
    sent_at: datetime | None = Field(description="when the channel accepted it (UTC)")
    last_error: str | None
    created_at: datetime
    history: list[AttemptOut] = Field(description="the attempts, oldest first")

    @classmethod
    def of(cls, d: Delivery) -> DeliveryOut:
        return cls(
            channel=d.channel,
            state=d.state,
            attempts=d.attempts,
            next_attempt_at=d.due_at,
            sent_at=d.sent_at,
            last_error=d.last_error,
            created_at=d.created_at,
            history=[AttemptOut.of(a) for a in d.history],
        )


class DeliveriesOut(BaseModel):
    """The deliveries of one of my notifications."""

    notification_id: str
    deliveries: list[DeliveryOut]


class ChannelPlanOut(BaseModel):
    """What one channel does for one type."""

    channel: Channel
    key: str = Field(description="the preference key switching it (true/false), set through PATCH /api/v1/me")
    send: bool = Field(description="a notification of this type is sent on this channel")
    reason: str | None = Field(description="why not: 'off', or 'unreachable: ...'")


class PreferencesOut(BaseModel):
    """Per type, what each channel does for me now."""

    types: dict[NotificationType, list[ChannelPlanOut]]
    slack_webhook_key: str = Field(description="the preference key of my own Slack incoming webhook URL")


@router.get("")
async def list_notifications(
    identity: SignedIn,
    inbox: Inbox,
    unread: Annotated[bool, Query(description="only the unread ones")] = False,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE, description="items per page")] = 50,
    offset: Annotated[int, Query(ge=0, le=1_000_000, description="items to skip")] = 0,
) -> NotificationPage:
    """My in-app notifications, newest first."""
    user_id = identity.user.id
    items, total = await inbox.list(user_id, unread_only=unread, limit=limit, offset=offset)
    return NotificationPage(
        items=[NotificationOut.of(n) for n in items],
        total=total,
        limit=limit,
        offset=offset,
        unread=await inbox.unread_count(user_id),
    )


@router.get("/unread-count")
async def unread_count(identity: SignedIn, inbox: Inbox) -> UnreadOut:
    """How many of my in-app notifications are unread."""
    return UnreadOut(unread=await inbox.unread_count(identity.user.id))


@router.post("/read-all")
async def read_all(identity: SignedIn, inbox: Inbox) -> ReadAllOut:
    """Mark all my in-app notifications read."""
    marked = await inbox.mark_all_read(identity.user.id, now=utc_now())
    return ReadAllOut(marked=marked, unread=await inbox.unread_count(identity.user.id))


@router.get("/preferences")
async def preferences(identity: SignedIn, services: ServicesDep, settings: SettingsDep) -> PreferencesOut:
    """What each notification type does on each channel for me, given my preferences, my linked Telegram chat,
    my confirmed email address and what this server has configured."""
    user_id = identity.user.id
    directory = SqlRecipientDirectory(
        services.db, require_verified_email=settings.accounts.require_email_verification
    )
    recipient = (await directory.recipients([user_id], utc_now())).get(user_id)
    if recipient is None:
        raise NotFoundError("your account no longer exists")
    overview = channel_overview(
        recipient, available=configured_channels(settings), slack=slack_rules(settings.notify)
    )
    return PreferencesOut(
        types={
            t: [
                ChannelPlanOut(channel=p.channel, key=switch_key(t, p.channel), send=p.send, reason=p.reason)
                for p in plans
            ]
            for t, plans in overview.items()
        },
        slack_webhook_key=SLACK_WEBHOOK_KEY,
    )


@router.get("/{notification_id}", responses=_NOT_FOUND)
async def get_notification(notification_id: UUID, identity: SignedIn, inbox: Inbox) -> NotificationOut:
    """One of my notifications (reading it does not mark it read)."""
    return NotificationOut.of(await inbox.get(identity.user.id, str(notification_id)))


@router.post("/{notification_id}/read", responses=_NOT_FOUND)
async def mark_read(notification_id: UUID, identity: SignedIn, inbox: Inbox) -> NotificationOut:
    """Mark one of my notifications read (its first read time is kept)."""
    return NotificationOut.of(await inbox.mark_read(identity.user.id, str(notification_id), now=utc_now()))


@router.get("/{notification_id}/deliveries", responses=_NOT_FOUND)
async def deliveries(notification_id: UUID, identity: SignedIn, inbox: Inbox) -> DeliveriesOut:
    """Each channel's delivery of one of my notifications: its state and every attempt (time, outcome, error)."""
    found = await inbox.deliveries(identity.user.id, str(notification_id))
    return DeliveriesOut(notification_id=str(notification_id), deliveries=[DeliveryOut.of(d) for d in found])
