"""Tables of messages between users and of linked Telegram chats (migration 0011).

A message is one ``messages`` row (the sender's copy, until ``sender_deleted_at`` is set) and one
``message_recipients`` row per recipient (their copy, until ``deleted_at`` is set); a message whose copies are all
deleted is removed. Link codes are SHA-256 hex
digests. Times are aware UTC (:class:`UtcDateTime`).
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, ForeignKey, Index, Integer, String, Table, Text

from tsbot.adapters.storage.tables import UtcDateTime, metadata

#: Messages: ``kind`` direct / admins / bulk; ``audience`` ``all`` or a role for bulk messages; ``sender_id`` set
#: to NULL when the sender's account is deleted; ``recipient_count`` as delivered.
messages = Table(
    "messages",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("sender_id", String(36), ForeignKey("users.id", ondelete="SET NULL"), nullable=True),
    Column("kind", String(16), nullable=False),
    Column("audience", String(16), nullable=True),
    Column("subject", String(200), nullable=False),
    Column("body", Text, nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("recipient_count", Integer, nullable=False),
    Column("sender_deleted_at", UtcDateTime(), nullable=True),
)

Index("ix_messages_sender_id_created_at", messages.c.sender_id, messages.c.created_at)

#: Each recipient's copy of a message: when they marked it read, when they deleted it.
message_recipients = Table(
    "message_recipients",
    metadata,
    Column("message_id", String(36), ForeignKey("messages.id", ondelete="CASCADE"), primary_key=True),
    Column("recipient_id", String(36), ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    Column("read_at", UtcDateTime(), nullable=True),
    Column("deleted_at", UtcDateTime(), nullable=True),
)

Index("ix_message_recipients_recipient_id", message_recipients.c.recipient_id, message_recipients.c.read_at)

#: A user's linked Telegram chat (one per user, one user per chat).
telegram_links = Table(
    "telegram_links",
    metadata,
    Column("user_id", String(36), ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    Column("chat_id", BigInteger, nullable=False, unique=True),
    Column("username", String(64), nullable=True),
    Column("linked_at", UtcDateTime(), nullable=False),
)

#: One-time Telegram link codes (SHA-256 hex of the code).
telegram_link_codes = Table(
    "telegram_link_codes",
    metadata,
    Column("code_hash", String(64), primary_key=True),
    Column("user_id", String(36), ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("expires_at", UtcDateTime(), nullable=False),
    Column("used_at", UtcDateTime(), nullable=True),
)
