"""messages and Telegram links: messages, message_recipients, telegram_links, telegram_link_codes

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

_TS = sa.DateTime(timezone=True)


def _fk(table: str, column: str, target: str, ondelete: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        [column], [f"{target}.id"], name=f"fk_{table}_{column}_{target}", ondelete=ondelete
    )


def upgrade() -> None:
    op.create_table(
        "messages",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("sender_id", sa.String(36), nullable=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("audience", sa.String(16), nullable=True),
        sa.Column("subject", sa.String(200), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("recipient_count", sa.Integer(), nullable=False),
        sa.Column("sender_deleted_at", _TS, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_messages"),
        _fk("messages", "sender_id", "users", "SET NULL"),
    )
    op.create_index("ix_messages_sender_id_created_at", "messages", ["sender_id", "created_at"])
    op.create_table(
        "message_recipients",
        sa.Column("message_id", sa.String(36), nullable=False),
        sa.Column("recipient_id", sa.String(36), nullable=False),
        sa.Column("read_at", _TS, nullable=True),
        sa.Column("deleted_at", _TS, nullable=True),
        sa.PrimaryKeyConstraint("message_id", "recipient_id", name="pk_message_recipients"),
        _fk("message_recipients", "message_id", "messages", "CASCADE"),
        _fk("message_recipients", "recipient_id", "users", "CASCADE"),
    )
    op.create_index("ix_message_recipients_recipient_id", "message_recipients", ["recipient_id", "read_at"])
    op.create_table(
        "telegram_links",
        sa.Column("user_id", sa.String(36), nullable=False),
        sa.Column("chat_id", sa.BigInteger(), nullable=False),
        sa.Column("username", sa.String(64), nullable=True),
        sa.Column("linked_at", _TS, nullable=False),
        sa.PrimaryKeyConstraint("user_id", name="pk_telegram_links"),
        sa.UniqueConstraint("chat_id", name="uq_telegram_links_chat_id"),
        _fk("telegram_links", "user_id", "users", "CASCADE"),
    )
    op.create_table(
        "telegram_link_codes",
        sa.Column("code_hash", sa.String(64), nullable=False),
        sa.Column("user_id", sa.String(36), nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("expires_at", _TS, nullable=False),
        sa.Column("used_at", _TS, nullable=True),
        sa.PrimaryKeyConstraint("code_hash", name="pk_telegram_link_codes"),
        _fk("telegram_link_codes", "user_id", "users", "CASCADE"),
    )
    op.create_index("ix_telegram_link_codes_user_id", "telegram_link_codes", ["user_id"])


def downgrade() -> None:
    op.drop_index("ix_telegram_link_codes_user_id", table_name="telegram_link_codes")
    op.drop_table("telegram_link_codes")
    op.drop_table("telegram_links")
    op.drop_index("ix_message_recipients_recipient_id", table_name="message_recipients")
    op.drop_table("message_recipients")
    op.drop_index("ix_messages_sender_id_created_at", table_name="messages")
    op.drop_table("messages")
