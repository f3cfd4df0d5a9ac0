"""config overrides: configuration sections changed while running

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-21
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "config_overrides",
        sa.Column("section", sa.String(16), nullable=False),
        sa.Column("values", sa.JSON(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_by", sa.String(320), nullable=False),
        sa.PrimaryKeyConstraint("section", name="pk_config_overrides"),
    )


def downgrade() -> None:
    op.drop_table("config_overrides")
