"""watchlists and price alerts: watchlist_items, price_alerts

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

_TS = sa.DateTime(timezone=True)


def _user_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["user_id"], ["users.id"], name=f"fk_{table}_user_id_users", ondelete="CASCADE"
    )


def upgrade() -> None:
    op.create_table(
        "watchlist_items",
        sa.Column("user_id", sa.String(36), nullable=False),
        sa.Column("symbol", sa.String(32), nullable=False),
        sa.Column("added_at", _TS, nullable=False),
        sa.PrimaryKeyConstraint("user_id", "symbol", name="pk_watchlist_items"),
        _user_fk("watchlist_items"),
    )
    op.create_table(
        "price_alerts",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("user_id", sa.String(36), nullable=False),
        sa.Column("symbol", sa.String(32), nullable=False),
        sa.Column("condition", sa.String(8), nullable=False),
        sa.Column("price", sa.String(40), nullable=False),
        sa.Column("note", sa.String(500), nullable=False),
        sa.Column("repeat", sa.Boolean(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("armed", sa.Boolean(), nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("triggered_at", _TS, nullable=True),
        sa.Column("trigger_count", sa.Integer(), nullable=False),
        sa.Column("last_price", sa.String(40), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_price_alerts"),
        _user_fk("price_alerts"),
    )
    op.create_index("ix_price_alerts_user_id_created_at", "price_alerts", ["user_id", "created_at"])
    op.create_index("ix_price_alerts_symbol_active", "price_alerts", ["symbol", "active"])


def downgrade() -> None:
    op.drop_index("ix_price_alerts_symbol_active", table_name="price_alerts")
    op.drop_index("ix_price_alerts_user_id_created_at", table_name="price_alerts")
    op.drop_table("price_alerts")
    op.drop_table("watchlist_items")
