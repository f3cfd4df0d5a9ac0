"""tracked signals of providers, their applied updates, and the updates that matched none

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "tracked_signals",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("provider", sa.String(length=200), nullable=False),
        sa.Column("post_id", sa.String(length=200), nullable=False),
        sa.Column("symbol", sa.String(length=64), nullable=False),
        sa.Column("base", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("intent", sa.JSON(), nullable=False),
        sa.Column("posted_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("filled_entries", sa.Integer(), nullable=False),
        sa.Column("targets_hit", sa.Integer(), nullable=False),
        sa.Column("stop", sa.Text(), nullable=True),
        sa.Column("stop_moved_to_entry", sa.Boolean(), nullable=False),
        sa.Column("entry_price", sa.Text(), nullable=True),
        sa.Column("exit_price", sa.Text(), nullable=True),
        sa.Column("last_profit_pct", sa.Text(), nullable=True),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("event_count", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tracked_signals")),
        sa.UniqueConstraint("provider", "post_id", name="uq_tracked_signals_provider_post"),
    )
    op.create_index(
        "ix_tracked_signals_provider_symbol_status", "tracked_signals", ["provider", "symbol", "status"]
    )
    op.create_index(
        "ix_tracked_signals_provider_base_status", "tracked_signals", ["provider", "base", "status"]
    )
    op.create_index("ix_tracked_signals_status_posted", "tracked_signals", ["status", "posted_at"])

    op.create_table(
        "tracked_signal_events",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("signal_id", sa.Integer(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("post_id", sa.String(length=200), nullable=True),
        sa.Column("event", sa.String(length=24), nullable=False),
        sa.Column("update_data", sa.JSON(), nullable=False),
        sa.Column("from_status", sa.String(length=16), nullable=False),
        sa.Column("to_status", sa.String(length=16), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["signal_id"],
            ["tracked_signals.id"],
            name=op.f("fk_tracked_signal_events_signal_id_tracked_signals"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tracked_signal_events")),
        sa.UniqueConstraint("signal_id", "seq", name="uq_tracked_signal_events_signal_seq"),
    )

    op.create_table(
        "unmatched_updates",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("provider", sa.String(length=200), nullable=False),
        sa.Column("post_id", sa.String(length=200), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("symbol", sa.String(length=64), nullable=True),
        sa.Column("event", sa.String(length=24), nullable=False),
        sa.Column("update_data", sa.JSON(), nullable=False),
        sa.Column("reason", sa.String(length=32), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("signal_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["signal_id"],
            ["tracked_signals.id"],
            name=op.f("fk_unmatched_updates_signal_id_tracked_signals"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_unmatched_updates")),
    )
    op.create_index(
        "ix_unmatched_updates_provider_received", "unmatched_updates", ["provider", "received_at"]
    )


def downgrade() -> None:
    op.drop_index("ix_unmatched_updates_provider_received", table_name="unmatched_updates")
    op.drop_table("unmatched_updates")
    op.drop_table("tracked_signal_events")
    op.drop_index("ix_tracked_signals_status_posted", table_name="tracked_signals")
    op.drop_index("ix_tracked_signals_provider_base_status", table_name="tracked_signals")
    op.drop_index("ix_tracked_signals_provider_symbol_status", table_name="tracked_signals")
    op.drop_table("tracked_signals")
