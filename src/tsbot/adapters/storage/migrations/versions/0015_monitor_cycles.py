"""monitoring cycle runs and per-series results

Revision ID: 0015
Revises: 0014
Create Date: 2026-11-21
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

_TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "cycle_runs",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("started_at", _TS, nullable=False),
        sa.Column("finished_at", _TS, nullable=True),
        sa.Column("as_of", _TS, nullable=True),
        sa.Column("mode", sa.String(16), nullable=False),
        sa.Column("series", sa.Integer(), nullable=False),
        sa.Column("monitored", sa.Integer(), nullable=True),
        sa.Column("updated", sa.Integer(), nullable=True),
        sa.Column("errors", sa.Integer(), nullable=True),
        sa.Column("duration_s", sa.Float(), nullable=True),
        sa.Column("details", sa.JSON(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_cycle_runs"),
    )
    op.create_index("ix_cycle_runs_started_at", "cycle_runs", ["started_at"])
    op.create_table(
        "cycle_results",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("cycle_id", sa.String(36), nullable=False),
        sa.Column("exchange", sa.String(32), nullable=False),
        sa.Column("symbol", sa.String(32), nullable=False),
        sa.Column("timeframe", sa.String(8), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("changes", sa.JSON(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("finished_at", _TS, nullable=False),
        sa.ForeignKeyConstraint(
            ["cycle_id"], ["cycle_runs.id"], name="fk_cycle_results_cycle_id_cycle_runs", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_cycle_results"),
        sa.UniqueConstraint("cycle_id", "exchange", "symbol", "timeframe", name="uq_cycle_results_cycle_id"),
    )


def downgrade() -> None:
    op.drop_table("cycle_results")
    op.drop_index("ix_cycle_runs_started_at", table_name="cycle_runs")
    op.drop_table("cycle_runs")
