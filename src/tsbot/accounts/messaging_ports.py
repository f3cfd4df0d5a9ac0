"""The ports of messaging between users (:mod:`tsbot.accounts.messages`) and of Telegram account linking
(:mod:`tsbot.accounts.telegram_link`), with the values they exchange. Adapters: :mod:`tsbot.adapters.storage.messages`,
:mod:`tsbot.adapters.storage.telegram_links` and :mod:`tsbot.adapters.telegram_api`.

Times are aware UTC datetimes. Link codes are kept as SHA-256 hex digests (:func:`tsbot.accounts.tokens.digest`):
no store ever sees a code in clear.
"""

from __future__ import annotations

import builtins
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Protocol


class MessageKind(StrEnum):
    """How a message was addressed: to one user, to the admins, or in bulk by an admin."""

    DIRECT = "direct"
    ADMINS = "admins"
    BULK = "bulk"


class Box(StrEnum):
    """Which copy of a message a user sees: the one they received or the one they sent."""

    INBOX = "inbox"
    SENT = "sent"


@dataclass(frozen=True, slots=True)
class UserRef:
    """A user as shown on a message: id and display name (never the email address)."""

    id: str
    display_name: str


@dataclass(frozen=True, slots=True)
class NewMessage:
    """A message about to be stored.

    Attributes:
        id: UUID text.
        sender_id: the author's user id.
        audience: for bulk messages ``all`` or the role name; None otherwise.
        subject, body: stored verbatim (escaping is the renderer's job).
        created_at: UTC.
    """

    id: str
    sender_id: str
    kind: MessageKind
    audience: str | None
    subject: str
    body: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Message:
    """One user's copy of a message.

    Attributes:
        box: ``inbox`` for a copy received, ``sent`` for the sender's copy.
        sender: the author, None when their account was deleted.
        recipient: the one recipient of a direct message (sent copies only); None otherwise.
        recipient_count: how many users it was delivered to.
        read_at: when the recipient marked it read (UTC); None while unread and on sent copies.
    """

    id: str
    box: Box
    kind: MessageKind
    audience: str | None
    subject: str
    body: str
    created_at: datetime
    sender: UserRef | None
    recipient_count: int
    recipient: UserRef | None = None
    read_at: datetime | None = None


class MessageStore(Protocol):
    """Messages and one copy per recipient; each user deletes only their own copy."""

    async def add(self, message: NewMessage, recipient_ids: Sequence[str]) -> None:
        """Store ``message`` and deliver it to ``recipient_ids`` (distinct user ids, at least one), unread."""
        ...

    async def get(self, user_id: str, message_id: str) -> Message | None:
        """The user's copy of the message: the received one when there is one, else the sent one; None when the
        user has neither (unknown id, another user's message, or deleted)."""
        ...

    async def list(
        self, user_id: str, box: Box, *, unread_only: bool = False, limit: int = 50, offset: int = 0
    ) -> tuple[builtins.list[Message], int]:
        """One page of the user's ``box``, newest first, and the number of messages in the whole box (the inbox
        restricted to unread copies when ``unread_only``)."""
        ...

    async def set_read(self, user_id: str, message_id: str, read_at: datetime | None) -> bool:
        """Set ``read_at`` of the user's received copy (None: unread again); False when they have no such copy."""
        ...

    async def delete(self, user_id: str, message_ids: Collection[str], at: datetime) -> set[str]:
        """Delete (at ``at``) the user's copies, received and sent, of ``message_ids``; the ids of which a copy was
        deleted. Other users' copies stay; a message nobody holds a copy of any more is removed."""
        ...

    async def unread_count(self, user_id: str) -> int:
        """How many received copies of the user are unread."""
        ...


@dataclass(frozen=True, slots=True)
class TelegramLink:
    """A user's linked Telegram chat: ``chat_id`` (Telegram's 64-bit chat id), the Telegram ``username`` without
    ``@`` (None when the account has none) and when it was linked (UTC)."""

    user_id: str
    chat_id: int
    username: str | None
    linked_at: datetime


@dataclass(frozen=True, slots=True)
class LinkCode:
    """A one-time link code; ``code_hash`` is the SHA-256 hex of the code the user sends to the bot."""

    code_hash: str = field(repr=False)
    user_id: str
    created_at: datetime
    expires_at: datetime
    used_at: datetime | None = None


class TelegramLinkStore(Protocol):
    """Linked Telegram chats (one per user, one user per chat) and one-time link codes."""

    async def get(self, user_id: str) -> TelegramLink | None:
        """The user's link, or None."""
        ...

    async def save(self, link: TelegramLink) -> None:
        """Link ``link.chat_id`` to ``link.user_id``, replacing the user's previous link and any link of that
        chat to another user."""
        ...

    async def delete(self, user_id: str) -> bool:
        """Remove the user's link; False when there was none."""
        ...

    async def add_code(self, code: LinkCode) -> None:
        """Store a new code; the user's earlier unused codes stop working."""
        ...

    async def code_by_hash(self, code_hash: str) -> LinkCode | None:
        """The code with this hash (used or not), or None."""
        ...

    async def use_code(self, code_hash: str, at: datetime) -> bool:
        """Mark the code used at ``at`` when it is unused and not expired at ``at``; True when this call did it
        (atomic: of two concurrent uses one wins)."""
        ...


class ChatMessenger(Protocol):
    """Sends a text message to a Telegram chat (the Bot API's ``sendMessage``).

    Raises (adapters): :class:`~tsbot.accounts.telegram_link.TelegramUnavailableError` when Telegram cannot be
    reached or answers 429/5xx; :class:`~tsbot.accounts.telegram_link.TelegramRefusedError` when it refuses the
    message (a chat that does not exist, a bot the user blocked, a bad token).
    """

    async def send_message(self, chat_id: int, text: str) -> None:
        """Send ``text`` (plain text, at most 4096 characters) to ``chat_id``."""
        ...
