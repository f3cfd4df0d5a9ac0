"""initial schema: instruments, candles, headlines, signals, status changes

Revision ID: 0001
Revises: (none)
Create Date: 2026-11-21
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "candles",
        sa.Column("exchange", sa.String(length=32), nullable=False),
        sa.Column("symbol", sa.String(length=32), nullable=False),
        sa.Column("timeframe", sa.String(length=8), nullable=False),
        sa.Column("open_time_ms", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("open", sa.Float(precision=53), nullable=False),
        sa.Column("high", sa.Float(precision=53), nullable=False),
        sa.Column("low", sa.Float(precision=53), nullable=False),
        sa.Column("close", sa.Float(precision=53), nullable=False),
        sa.Column("volume", sa.Float(precision=53), nullable=False),
        sa.PrimaryKeyConstraint("exchange", "symbol", "timeframe", "open_time_ms", name=op.f("pk_candles")),
    )
    op.create_table(
        "headlines",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("url", sa.String(length=1024), nullable=False),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("source", sa.String(length=128), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("assets", sa.String(length=256), nullable=False),
        sa.Column("score", sa.Float(precision=53), nullable=True),
        sa.Column("model", sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_headlines")),
        sa.UniqueConstraint("url", name=op.f("uq_headlines_url")),
    )
    with op.batch_alter_table("headlines", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_headlines_published_at"), ["published_at"], unique=False)

    op.create_table(
        "instruments",
        sa.Column("exchange", sa.String(length=32), nullable=False),
        sa.Column("symbol", sa.String(length=32), nullable=False),
        sa.Column("asset_class", sa.String(length=16), nullable=False),
        sa.PrimaryKeyConstraint("exchange", "symbol", name=op.f("pk_instruments")),
    )
    op.create_table(
        "signals",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("exchange", sa.String(length=32), nullable=False),
        sa.Column("symbol", sa.String(length=32), nullable=False),
        sa.Column("timeframe", sa.String(length=8), nullable=False),
        sa.Column("as_of", sa.DateTime(timezone=True), nullable=False),
        sa.Column("action", sa.String(length=8), nullable=False),
        sa.Column("score", sa.Float(precision=53), nullable=False),
        sa.Column("confidence", sa.Float(precision=53), nullable=False),
        sa.Column("price", sa.Float(precision=53), nullable=False),
        sa.Column("stop_loss", sa.Float(precision=53), nullable=True),
        sa.Column("take_profit", sa.JSON(), nullable=False),
        sa.Column("components", sa.JSON(), nullable=False),
        sa.Column("reasons", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_signals")),
        sa.UniqueConstraint("exchange", "symbol", "timeframe", "as_of", name="uq_signals_series_as_of"),
    )
    op.create_table(
        "headline_assets",
        sa.Column("asset", sa.String(length=32), nullable=False),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("headline_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["headline_id"],
            ["headlines.id"],
            name=op.f("fk_headline_assets_headline_id_headlines"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("asset", "published_at", "headline_id", name=op.f("pk_headline_assets")),
    )
    op.create_table(
        "signal_status_changes",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("signal_id", sa.Integer(), nullable=False),
        sa.Column("exchange", sa.String(length=32), nullable=False),
        sa.Column("symbol", sa.String(length=32), nullable=False),
        sa.Column("timeframe", sa.String(length=8), nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("from_action", sa.String(length=8), nullable=True),
        sa.Column("to_action", sa.String(length=8), nullable=False),
        sa.Column("score", sa.Float(precision=53), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["signal_id"],
            ["signals.id"],
            name=op.f("fk_signal_status_changes_signal_id_signals"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_signal_status_changes")),
        sa.UniqueConstraint("signal_id", name="uq_signal_status_changes_signal_id"),
    )
    with op.batch_alter_table("signal_status_changes", schema=None) as batch_op:
        batch_op.create_index(
            "ix_status_changes_series_time", ["exchange", "symbol", "timeframe", "changed_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("signal_status_changes", schema=None) as batch_op:
        batch_op.drop_index("ix_status_changes_series_time")

    op.drop_table("signal_status_changes")
    op.drop_table("headline_assets")
    op.drop_table("signals")
    op.drop_table("instruments")
    with op.batch_alter_table("headlines", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_headlines_published_at"))

    op.drop_table("headlines")
    op.drop_table("candles")
