"""headlines and headline_assets get first_seen_at (backfilled with published_at), indexed for point-in-time reads

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02

SQLite cannot add a NOT NULL constraint to an existing column without rebuilding the table, and rebuilding
``headlines`` with foreign keys on would cascade-delete its ``headline_assets`` rows. So on SQLite the columns are
added NOT NULL with a placeholder default and then backfilled; on PostgreSQL they are added nullable, backfilled,
and made NOT NULL.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

_TABLES = ("headlines", "headline_assets")


def upgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    for table in _TABLES:
        if sqlite:
            op.add_column(
                table,
                sa.Column(
                    "first_seen_at",
                    sa.DateTime(timezone=True),
                    nullable=False,
                    server_default=sa.text("'1970-01-01 00:00:00.000000'"),
                ),
            )
        else:
            op.add_column(table, sa.Column("first_seen_at", sa.DateTime(timezone=True), nullable=True))
        op.execute(sa.text(f"UPDATE {table} SET first_seen_at = published_at"))
        if not sqlite:
            op.alter_column(table, "first_seen_at", nullable=False)
    op.create_index("ix_headlines_first_seen_at", "headlines", ["first_seen_at"], unique=False)
    op.create_index(
        "ix_headline_assets_asset_first_seen", "headline_assets", ["asset", "first_seen_at"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_headline_assets_asset_first_seen", table_name="headline_assets")
    op.drop_index("ix_headlines_first_seen_at", table_name="headlines")
    for table in reversed(_TABLES):
        op.drop_column(table, "first_seen_at")
