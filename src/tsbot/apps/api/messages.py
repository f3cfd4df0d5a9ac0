"""Messages between users: ``/api/v1/messages/...`` and the admins' bulk send ``/api/v1/admin/messages/bulk``.

=====================================  =========================  ==================================================
route                                  permission                 what it does
=====================================  =========================  ==================================================
POST /messages                         send_messages              to one user by id or email (201)
POST /messages/admins                  any signed-in user         "contact the admins": to every active admin (201)
POST /admin/messages/bulk              admin_access+send_messages to every active user, or one role (201)
GET /messages                          any signed-in user         inbox (``?unread=true``) or ``?box=sent``, paged
GET /messages/unread-count             any signed-in user         unread messages in the inbox
GET /messages/{message_id}             any signed-in user         my copy (reading does not mark it read)
POST /messages/{message_id}/read       any signed-in user         mark my received copy read
POST /messages/{message_id}/unread     any signed-in user         mark it unread again
POST /messages/delete                  any signed-in user         delete my copies of the given ids
=====================================  =========================  ==================================================

Viewers cannot send (no ``send_messages``), but every signed-in user may contact the admins: that is how a user
asks for help. Each user holds their own copy of a message: deleting it (as recipient or sender) leaves the other
copies. ``POST /messages/delete`` ignores ids the caller holds no copy of (unknown or another user's) and lists them
in ``not_found`` (it never says which of the two an id was). A message the caller has no copy of answers 404.
Subject and body are stored and returned verbatim (escaping is the renderer's job). Senders and recipients are
shown by id and display name, never by email. Errors: unknown recipient 404, deactivated recipient 409
(``recipient_inactive``), nobody to deliver to 409 (``no_recipients``), bad text 422.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Depends, Query, status
from pydantic import BaseModel, ConfigDict, Field

from tsbot.accounts.messages import (
    MAX_BODY_CHARS,
    MAX_DELETE_IDS,
    MAX_SUBJECT_CHARS,
    MessageNotFoundError,
    MessageService,
    NoRecipientsError,
    RecipientInactiveError,
)
from tsbot.accounts.messaging_ports import Box, Message, MessageKind, UserRef
from tsbot.accounts.models import Identity, Permission, Role
from tsbot.adapters.storage.accounts import SqlUserStore
from tsbot.adapters.storage.messages import SqlMessageStore
from tsbot.apps.api.auth import requires
from tsbot.apps.api.deps import ServicesDep
from tsbot.apps.api.errors import ErrorOut, register_error
from tsbot.apps.api.schemas import Page

router = APIRouter(prefix="/api/v1/messages", tags=["messages"])
admin_router = APIRouter(prefix="/api/v1/admin/messages", tags=["messages"])

register_error(RecipientInactiveError, 409, "recipient_inactive")
register_error(NoRecipientsError, 409, "no_recipients")
register_error(MessageNotFoundError, 404, "not_found")

SignedIn = Annotated[Identity, requires()]
Sender = Annotated[Identity, requires(Permission.SEND_MESSAGES)]
Broadcaster = Annotated[Identity, requires(Permission.ADMIN_ACCESS, Permission.SEND_MESSAGES)]

_Subject = Field(min_length=1, max_length=MAX_SUBJECT_CHARS, description="plain text, stored verbatim")
_Body = Field(min_length=1, max_length=MAX_BODY_CHARS, description="plain text, stored verbatim")
_NOT_FOUND = {404: {"model": ErrorOut, "description": "you hold no copy of this message"}}


def message_service(services: ServicesDep) -> MessageService:
    """The message service over the app's database."""
    return MessageService(SqlMessageStore(services.db), SqlUserStore(services.db))


Messages = Annotated[MessageService, Depends(message_service)]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SendMessageIn(_In):
    """A message to one user."""

    to: str = Field(min_length=1, max_length=320, description="the recipient's user id or email address")
    subject: str = _Subject
    body: str = _Body


class ContactAdminsIn(_In):
    """A message to the admins."""

    subject: str = _Subject
    body: str = _Body


class BulkMessageIn(_In):
    """A message to every active user, or to every active user of ``role``."""

    subject: str = _Subject
    body: str = _Body
    role: Role | None = Field(None, description="only users of this role; none: every user")


class DeleteMessagesIn(_In):
    """Message ids to delete from the caller's inbox and sent box."""

    ids: list[UUID] = Field(min_length=1, max_length=MAX_DELETE_IDS, description="message ids")


class DeleteMessagesOut(BaseModel):
    """Which ids were deleted, and which the caller holds no copy of (unknown or not theirs)."""

    deleted: list[str]
    not_found: list[str]


class UnreadCountOut(BaseModel):
    """Unread messages in the caller's inbox."""

    unread: int = Field(ge=0)


class UserRefOut(BaseModel):
    """A user as shown on a message."""

    id: str
    display_name: str

    @classmethod
    def of(cls, ref: UserRef | None) -> UserRefOut | None:
        return None if ref is None else cls(id=ref.id, display_name=ref.display_name)


class UserMessageOut(BaseModel):
    """The caller's copy of a message."""

    id: str = Field(description="the message id")
    box: Box = Field(description="inbox: received; sent: written by the caller")
    kind: MessageKind = Field(description="direct: to one user; admins: to the admins; bulk: from an admin")
    audience: str | None = Field(description="bulk messages: 'all' or the role it went to")
    subject: str
    body: str
    sent_at: datetime = Field(description="UTC")
    sender: UserRefOut | None = Field(description="the author; null when their account was deleted")
    recipient: UserRefOut | None = Field(description="sent direct messages: the recipient (null if deleted)")
    recipient_count: int = Field(ge=0, description="users it was delivered to")
    read: bool = Field(description="received copies: marked read (sent copies: always true)")
    read_at: datetime | None = Field(description="when it was marked read (UTC)")

    @classmethod
    def of(cls, message: Message) -> UserMessageOut:
        return cls(
            id=message.id,
            box=message.box,
            kind=message.kind,
            audience=message.audience,
            subject=message.subject,
            body=message.body,
            sent_at=message.created_at,
            sender=UserRefOut.of(message.sender),
            recipient=UserRefOut.of(message.recipient),
            recipient_count=message.recipient_count,
            read=message.box is Box.SENT or message.read_at is not None,
            read_at=message.read_at,
        )


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    responses={
        404: {"model": ErrorOut, "description": "no user has this id or email"},
        409: {"model": ErrorOut, "description": "the recipient is deactivated"},
    },
)
async def send_message(body: SendMessageIn, identity: Sender, messages: Messages) -> UserMessageOut:
    """Send a message to one user (by id or email); answers the sender's copy."""
    return UserMessageOut.of(await messages.send(identity, body.to, body.subject, body.body))


@router.post(
    "/admins",
    status_code=status.HTTP_201_CREATED,
    responses={409: {"model": ErrorOut, "description": "there is no other active admin"}},
)
async def contact_admins(body: ContactAdminsIn, identity: SignedIn, messages: Messages) -> UserMessageOut:
    """Contact the admins: one message delivered to every active admin (open to every signed-in user)."""
    return UserMessageOut.of(await messages.contact_admins(identity, body.subject, body.body))


@admin_router.post(
    "/bulk",
    status_code=status.HTTP_201_CREATED,
    responses={409: {"model": ErrorOut, "description": "no active user matches"}},
)
async def bulk_send(body: BulkMessageIn, identity: Broadcaster, messages: Messages) -> UserMessageOut:
    """Send one message to every active user, or to every active user of ``role`` (the sender excluded)."""
    return UserMessageOut.of(await messages.broadcast(identity, body.subject, body.body, body.role))


@router.get("")
async def list_messages(
    identity: SignedIn,
    messages: Messages,
    box: Annotated[Box, Query(description="inbox (received) or sent")] = Box.INBOX,
    unread: Annotated[bool, Query(description="inbox only: just the unread messages")] = False,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> Page[UserMessageOut]:
    """My inbox (or sent box), newest first."""
    items, total = await messages.list(identity.user.id, box, unread_only=unread, limit=limit, offset=offset)
    return Page[UserMessageOut](
        items=[UserMessageOut.of(m) for m in items], total=total, limit=limit, offset=offset
    )


@router.get("/unread-count")
async def unread_count(identity: SignedIn, messages: Messages) -> UnreadCountOut:
    """How many messages in my inbox are unread."""
    return UnreadCountOut(unread=await messages.unread_count(identity.user.id))


@router.post("/delete")
async def delete_messages(
    body: DeleteMessagesIn, identity: SignedIn, messages: Messages
) -> DeleteMessagesOut:
    """Delete my copies of these messages (other users' copies stay); ids I hold no copy of are listed in
    ``not_found`` and otherwise ignored."""
    result = await messages.delete(identity.user.id, [str(i) for i in body.ids])
    return DeleteMessagesOut(deleted=result.deleted, not_found=result.not_found)


@router.get("/{message_id}", responses=_NOT_FOUND)
async def get_message(message_id: UUID, identity: SignedIn, messages: Messages) -> UserMessageOut:
    """My copy of a message (received, else sent); reading it does not mark it read."""
    return UserMessageOut.of(await messages.get(identity.user.id, str(message_id)))


@router.post("/{message_id}/read", responses=_NOT_FOUND)
async def mark_read(message_id: UUID, identity: SignedIn, messages: Messages) -> UserMessageOut:
    """Mark a message I received read (its first read time is kept)."""
    return UserMessageOut.of(await messages.mark(identity.user.id, str(message_id), read=True))


@router.post("/{message_id}/unread", responses=_NOT_FOUND)
async def mark_unread(message_id: UUID, identity: SignedIn, messages: Messages) -> UserMessageOut:
    """Mark a message I received unread."""
    return UserMessageOut.of(await messages.mark(identity.user.id, str(message_id), read=False))
