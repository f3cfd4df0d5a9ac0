"""backtest jobs, TradingView webhook tokens and the alerts they accepted

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

_TS = sa.DateTime(timezone=True)


def _owner_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["owner_id"], ["users.id"], name=f"fk_{table}_owner_id_users", ondelete="CASCADE"
    )


def upgrade() -> None:
    op.create_table(
        "backtest_jobs",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("owner_id", sa.String(36), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("strategy", sa.String(32), nullable=False),
        sa.Column("request", sa.JSON(), nullable=False),
        sa.Column("progress_ratio", sa.Float(), nullable=False),
        sa.Column("stage", sa.String(64), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("result", sa.Text(), nullable=True),
        sa.Column("report", sa.Text(), nullable=True),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("started_at", _TS, nullable=True),
        sa.Column("finished_at", _TS, nullable=True),
        sa.Column("heartbeat_at", _TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_backtest_jobs"),
        _owner_fk("backtest_jobs"),
    )
    op.create_index("ix_backtest_jobs_status", "backtest_jobs", ["status"])
    op.create_index("ix_backtest_jobs_owner_id_created_at", "backtest_jobs", ["owner_id", "created_at"])
    op.create_table(
        "webhook_tokens",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("owner_id", sa.String(36), nullable=False),
        sa.Column("label", sa.String(64), nullable=False),
        sa.Column("prefix", sa.String(16), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("last_used_at", _TS, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_webhook_tokens"),
        sa.UniqueConstraint("token_hash", name="uq_webhook_tokens_token_hash"),
        _owner_fk("webhook_tokens"),
    )
    op.create_index("ix_webhook_tokens_owner_id", "webhook_tokens", ["owner_id"])
    op.create_table(
        "webhook_alerts",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("owner_id", sa.String(36), nullable=False),
        sa.Column("received_at", _TS, nullable=False),
        sa.Column("symbol", sa.String(64), nullable=False),
        sa.Column("side", sa.String(8), nullable=False),
        sa.Column("intent", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_webhook_alerts"),
        _owner_fk("webhook_alerts"),
    )
    op.create_index("ix_webhook_alerts_owner_id_received_at", "webhook_alerts", ["owner_id", "received_at"])


def downgrade() -> None:
    op.drop_index("ix_webhook_alerts_owner_id_received_at", table_name="webhook_alerts")
    op.drop_table("webhook_alerts")
    op.drop_index("ix_webhook_tokens_owner_id", table_name="webhook_tokens")
    op.drop_table("webhook_tokens")
    op.drop_index("ix_backtest_jobs_owner_id_created_at", table_name="backtest_jobs")
    op.drop_index("ix_backtest_jobs_status", table_name="backtest_jobs")
    op.drop_table("backtest_jobs")
