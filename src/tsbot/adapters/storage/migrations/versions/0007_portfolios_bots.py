"""portfolios, daily performance, encrypted exchange keys, bots, approvals; quote amounts on orders

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-21
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

_TS = sa.DateTime(timezone=True)


def _fk(table: str, column: str, target: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        [column], [f"{target}.id"], name=f"fk_{table}_{column}_{target}", ondelete="CASCADE"
    )


def upgrade() -> None:
    with op.batch_alter_table("orders") as batch:
        batch.add_column(sa.Column("quote_qty", sa.String(64), nullable=True))
    op.create_table(
        "portfolios",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("owner", sa.String(128), nullable=False),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("base_currency", sa.String(16), nullable=False),
        sa.Column("target_weights", sa.JSON(), nullable=True),
        sa.Column("created_at", _TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_portfolios"),
        sa.UniqueConstraint("owner", "name", name="uq_portfolios_owner_name"),
    )
    op.create_table(
        "portfolio_accounts",
        sa.Column("account", sa.String(128), nullable=False),
        sa.Column("portfolio_id", sa.String(36), nullable=False),
        sa.Column("venue", sa.String(32), nullable=False),
        sa.Column("asset_class", sa.String(16), nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.PrimaryKeyConstraint("account", name="pk_portfolio_accounts"),
        _fk("portfolio_accounts", "portfolio_id", "portfolios"),
    )
    op.create_index("ix_portfolio_accounts_portfolio_id", "portfolio_accounts", ["portfolio_id"])
    op.create_table(
        "performance_daily",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("portfolio_id", sa.String(36), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("equity", sa.String(64), nullable=False),
        sa.Column("cash", sa.String(64), nullable=False),
        sa.Column("positions_value", sa.String(64), nullable=False),
        sa.Column("realised_pnl", sa.String(64), nullable=False),
        sa.Column("unrealised_pnl", sa.String(64), nullable=False),
        sa.Column("fees", sa.String(64), nullable=False),
        sa.Column("updated_at", _TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_performance_daily"),
        _fk("performance_daily", "portfolio_id", "portfolios"),
        sa.UniqueConstraint("portfolio_id", "day", name="uq_performance_daily_portfolio_day"),
    )
    op.create_index("ix_performance_daily_portfolio_id", "performance_daily", ["portfolio_id"])
    op.create_table(
        "exchange_keys",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("owner", sa.String(128), nullable=False),
        sa.Column("exchange", sa.String(32), nullable=False),
        sa.Column("label", sa.String(64), nullable=False),
        sa.Column("sandbox", sa.Boolean(), nullable=False),
        sa.Column("key_hint", sa.String(16), nullable=False),
        sa.Column("ciphertext", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("rotated_at", _TS, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_exchange_keys"),
        sa.UniqueConstraint("owner", "exchange", "label", name="uq_exchange_keys_owner_exchange_label"),
    )
    op.create_table(
        "bots",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("owner", sa.String(128), nullable=False),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("strategy", sa.String(64), nullable=False),
        sa.Column("provider", sa.String(128), nullable=True),
        sa.Column("account", sa.String(128), nullable=False),
        sa.Column("mode", sa.String(8), nullable=False),
        sa.Column("pairs", sa.JSON(), nullable=False),
        sa.Column("timeframe", sa.String(8), nullable=False),
        sa.Column("capital", sa.String(64), nullable=False),
        sa.Column("params", sa.JSON(), nullable=False),
        sa.Column("risk", sa.JSON(), nullable=False),
        sa.Column("approval", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("status_reason", sa.Text(), nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("updated_at", _TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_bots"),
        sa.UniqueConstraint("owner", "name", name="uq_bots_owner_name"),
    )
    op.create_table(
        "bot_events",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("bot_id", sa.String(36), nullable=False),
        sa.Column("at", _TS, nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("data", sa.JSON(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_bot_events"),
        _fk("bot_events", "bot_id", "bots"),
    )
    op.create_index("ix_bot_events_bot_id", "bot_events", ["bot_id"])
    op.create_table(
        "order_approvals",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("bot_id", sa.String(36), nullable=True),
        sa.Column("owner", sa.String(128), nullable=False),
        sa.Column("client_order_id", sa.String(36), nullable=False),
        sa.Column("request", sa.JSON(), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("expires_at", _TS, nullable=False),
        sa.Column("decided_at", _TS, nullable=True),
        sa.Column("decided_by", sa.String(128), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_order_approvals"),
        _fk("order_approvals", "bot_id", "bots"),
        sa.UniqueConstraint("client_order_id", name="uq_order_approvals_client_order_id"),
    )
    op.create_index("ix_order_approvals_bot_id", "order_approvals", ["bot_id"])
    op.create_index("ix_order_approvals_owner_status", "order_approvals", ["owner", "status"])


def downgrade() -> None:
    op.drop_index("ix_order_approvals_owner_status", table_name="order_approvals")
    op.drop_index("ix_order_approvals_bot_id", table_name="order_approvals")
    op.drop_table("order_approvals")
    op.drop_index("ix_bot_events_bot_id", table_name="bot_events")
    op.drop_table("bot_events")
    op.drop_table("bots")
    op.drop_table("exchange_keys")
    op.drop_index("ix_performance_daily_portfolio_id", table_name="performance_daily")
    op.drop_table("performance_daily")
    op.drop_index("ix_portfolio_accounts_portfolio_id", table_name="portfolio_accounts")
    op.drop_table("portfolio_accounts")
    op.drop_table("portfolios")
    with op.batch_alter_table("orders") as batch:
        batch.drop_column("quote_qty")
