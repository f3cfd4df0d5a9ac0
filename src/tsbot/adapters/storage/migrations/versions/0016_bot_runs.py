"""the memory of bots run by the monitoring cycle

Revision ID: 0016
Revises: 0015
Create Date: 2026-11-21
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "bot_runs",
        sa.Column("bot_id", sa.String(36), nullable=False),
        sa.Column("state", sa.JSON(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["bot_id"], ["bots.id"], name="fk_bot_runs_bot_id_bots", ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("bot_id", name="pk_bot_runs"),
    )


def downgrade() -> None:
    op.drop_table("bot_runs")
