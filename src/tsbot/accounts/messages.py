"""Messages between users: user to user, "contact the admins", admin bulk send, read / unread, delete.

Rules:

* sending to a user (by id or email) needs ``send_messages``; the recipient must exist (else
  :class:`~tsbot.accounts.errors.UserNotFoundError`) and be able to sign in (else :class:`RecipientInactiveError`);
  nobody messages themselves;
* "contact the admins" is open to every signed-in user, viewers included (it is how a user without
  ``send_messages`` asks for help): one message delivered to every active admin but the sender;
* bulk send needs ``admin_access`` and ``send_messages``: one message to every active user, or to every active user
  of one role, but the sender;
* each user holds their own copy: a recipient deleting a message leaves the sender's copy (and the other
  recipients') alone. Deleting ids the user holds no copy of (unknown, another user's) does nothing: those ids are
  reported back as not found, without saying which of the two they were;
* subject and body are kept verbatim (no trimming, no escaping: the renderer escapes); text holding NUL characters
  or unpaired surrogates is refused (:class:`MessageInputError`).
"""

from __future__ import annotations

import builtins
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Final

from tsbot.accounts.errors import AccountInputError, AccountsError, UserNotFoundError
from tsbot.accounts.messaging_ports import Box, Message, MessageKind, MessageStore, NewMessage
from tsbot.accounts.models import Identity, Permission, Role
from tsbot.accounts.ports import UserStore
from tsbot.accounts.records import UserRecord
from tsbot.core.errors import NotFoundError
from tsbot.core.time import utc_now

#: Longest subject and body, in characters.
MAX_SUBJECT_CHARS: Final = 200
MAX_BODY_CHARS: Final = 10_000
#: Most ids one delete call takes.
MAX_DELETE_IDS: Final = 500
#: Audience of a bulk message sent to every role.
ALL: Final = "all"
#: Users read per store call while collecting bulk recipients.
_PAGE: Final = 1000


class MessageInputError(AccountInputError):
    """A subject, body or address is not acceptable (422); the message says what is allowed."""


class RecipientInactiveError(AccountsError):
    """The recipient's account is deactivated or its activation ran out: it cannot receive messages (409)."""


class NoRecipientsError(AccountsError):
    """Nobody matches the audience (no other active admin, no active user of the role) (409)."""


class MessageNotFoundError(AccountsError, NotFoundError):
    """The user holds no copy of this message (unknown id, another user's message, or deleted) (404)."""

    def __init__(self, message_id: str) -> None:
        super().__init__(f"no message {message_id} in your inbox or sent messages")


@dataclass(frozen=True, slots=True)
class DeleteResult:
    """What a delete did: the ids whose copy was deleted, and those the user held no copy of (same order as
    given, duplicates removed)."""

    deleted: list[str]
    not_found: list[str]


def check_text(name: str, text: str, max_chars: int) -> str:
    """``text`` unchanged when it has 1 to ``max_chars`` characters, not all blank, no NUL, valid UTF-8.

    Raises:
        MessageInputError: otherwise (the message names ``name`` and the rule).
    """
    if not text.strip():
        raise MessageInputError(f"{name} is empty: write at least one visible character")
    if len(text) > max_chars:
        raise MessageInputError(f"{name} is {len(text)} characters long; at most {max_chars} are allowed")
    if "\x00" in text:
        raise MessageInputError(f"{name} holds a NUL character, which cannot be stored")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise MessageInputError(f"{name} holds an unpaired surrogate, which is not valid text") from None
    return text


def _storable(text: str) -> bool:
    """True when ``text`` can be used in a store lookup (no NUL, valid UTF-8)."""
    if "\x00" in text:
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


class MessageService:
    """Sends, lists, marks and deletes messages.

    Args:
        messages: the message store.
        users: the user store (recipients are looked up there).
        clock: the current time (aware UTC); tests pass their own.
    """

    def __init__(
        self, messages: MessageStore, users: UserStore, *, clock: Callable[[], datetime] = utc_now
    ) -> None:
        self._messages = messages
        self._users = users
        self._clock = clock

    # sending ---------------------------------------------------------------------------------------------------

    async def send(self, sender: Identity, to: str, subject: str, body: str) -> Message:
        """Send a message to one user, named by id or by email (any case); the sender's copy.

        Raises:
            PermissionDeniedError: the sender lacks ``send_messages``.
            MessageInputError: bad subject or body, or ``to`` is the sender.
            UserNotFoundError: no user has this id or email.
            RecipientInactiveError: the recipient cannot sign in now.
        """
        sender.require(Permission.SEND_MESSAGES)
        subject, body = self._checked(subject, body)
        recipient = await self._find(to)
        if recipient.user.id == sender.user.id:
            raise MessageInputError("you cannot send a message to yourself")
        if not recipient.user.can_sign_in_at(self._clock()):
            raise RecipientInactiveError(
                f"user {recipient.user.id} is deactivated and cannot receive messages"
            )
        return await self._deliver(sender, MessageKind.DIRECT, None, subject, body, [recipient.user.id])

    async def contact_admins(self, sender: Identity, subject: str, body: str) -> Message:
        """Send one message to every active admin but the sender (any signed-in user may); the sender's copy.

        Raises:
            MessageInputError: bad subject or body.
            NoRecipientsError: there is no other active admin.
        """
        subject, body = self._checked(subject, body)
        admins = await self._active_ids(Role.ADMIN, exclude=sender.user.id)
        if not admins:
            raise NoRecipientsError("there is no other active admin to contact")
        return await self._deliver(sender, MessageKind.ADMINS, None, subject, body, admins)

    async def broadcast(self, sender: Identity, subject: str, body: str, role: Role | None = None) -> Message:
        """Send one message to every active user (of ``role`` when given) but the sender; the sender's copy.

        Raises:
            PermissionDeniedError: the sender lacks ``admin_access`` or ``send_messages``.
            MessageInputError: bad subject or body.
            NoRecipientsError: no active user matches.
        """
        sender.require(Permission.ADMIN_ACCESS, Permission.SEND_MESSAGES)
        subject, body = self._checked(subject, body)
        recipients = await self._active_ids(role, exclude=sender.user.id)
        if not recipients:
            who = f"with role {Role(role).value}" if role is not None else "besides you"
            raise NoRecipientsError(f"there is no active user {who}")
        audience = Role(role).value if role is not None else ALL
        return await self._deliver(sender, MessageKind.BULK, audience, subject, body, recipients)

    # reading ---------------------------------------------------------------------------------------------------

    async def list(
        self,
        user_id: str,
        box: Box = Box.INBOX,
        *,
        unread_only: bool = False,
        limit: int = 50,
        offset: int = 0,
    ) -> tuple[builtins.list[Message], int]:
        """One page of the user's inbox or sent box, newest first, and the box's size.

        Raises:
            MessageInputError: ``unread_only`` with the sent box (sent copies have no read state), or a limit
                below 1 or an offset below 0.
        """
        if unread_only and box is Box.SENT:
            raise MessageInputError("unread applies to the inbox only, not to sent messages")
        if limit < 1 or offset < 0:
            raise MessageInputError("limit must be at least 1 and offset at least 0")
        return await self._messages.list(
            user_id, Box(box), unread_only=unread_only, limit=limit, offset=offset
        )

    async def get(self, user_id: str, message_id: str) -> Message:
        """The user's copy of a message (the received one when they hold both); reading does not mark it read.

        Raises:
            MessageNotFoundError: the user holds no copy of it.
        """
        message = await self._messages.get(user_id, message_id) if _is_uuid(message_id) else None
        if message is None:
            raise MessageNotFoundError(message_id)
        return message

    async def mark(self, user_id: str, message_id: str, *, read: bool) -> Message:
        """Mark the user's received copy read (now) or unread; the copy as it is now. Marking a read message read
        again keeps its first read time.

        Raises:
            MessageNotFoundError: the user received no such message (a sent copy has no read state).
        """
        message = await self.get(user_id, message_id)
        if message.box is not Box.INBOX:
            raise MessageNotFoundError(message_id)
        if read != (message.read_at is not None):
            await self._messages.set_read(user_id, message_id, self._clock() if read else None)
        return await self.get(user_id, message_id)

    async def delete(self, user_id: str, message_ids: Sequence[str]) -> DeleteResult:
        """Delete the user's copies of ``message_ids`` (other users' copies stay); ids the user holds no copy of
        are reported in ``not_found``.

        Raises:
            MessageInputError: more than :data:`MAX_DELETE_IDS` ids.
        """
        unique = list(dict.fromkeys(message_ids))
        if len(unique) > MAX_DELETE_IDS:
            raise MessageInputError(f"{len(unique)} ids given; at most {MAX_DELETE_IDS} per call")
        valid = [i for i in unique if _is_uuid(i)]
        deleted = await self._messages.delete(user_id, valid, self._clock()) if valid else set()
        return DeleteResult([i for i in unique if i in deleted], [i for i in unique if i not in deleted])

    async def unread_count(self, user_id: str) -> int:
        """How many received messages of the user are unread."""
        return await self._messages.unread_count(user_id)

    # helpers ---------------------------------------------------------------------------------------------------

    @staticmethod
    def _checked(subject: str, body: str) -> tuple[str, str]:
        return check_text("subject", subject, MAX_SUBJECT_CHARS), check_text("body", body, MAX_BODY_CHARS)

    async def _find(self, to: str) -> UserRecord:
        """The user named by id or email.

        Raises:
            UserNotFoundError: nobody (also for text no store can look up).
        """
        key = to.strip()
        record: UserRecord | None = None
        if key and _storable(key):
            record = await self._users.get(key) if _is_uuid(key) else await self._users.by_email(key.lower())
        if record is None:
            raise UserNotFoundError(f"no user with id or email {to!r}")
        return record

    async def _active_ids(self, role: Role | None, *, exclude: str) -> builtins.list[str]:
        """Ids of users (of ``role``) who can sign in now, but ``exclude``."""
        now = self._clock()
        ids: builtins.list[str] = []
        offset = 0
        while True:
            page = await self._users.list(role=role, active=True, limit=_PAGE, offset=offset)
            ids.extend(r.user.id for r in page if r.user.id != exclude and r.user.can_sign_in_at(now))
            if len(page) < _PAGE:
                return ids
            offset += _PAGE

    async def _deliver(
        self,
        sender: Identity,
        kind: MessageKind,
        audience: str | None,
        subject: str,
        body: str,
        recipients: builtins.list[str],
    ) -> Message:
        new = NewMessage(str(uuid.uuid4()), sender.user.id, kind, audience, subject, body, self._clock())
        await self._messages.add(new, recipients)
        return await self.get(sender.user.id, new.id)


def _is_uuid(text: str) -> bool:
    """True for a canonical (lowercase, hyphenated) UUID text: message and user ids."""
    try:
        return str(uuid.UUID(text)) == text
    except ValueError:
        return False
