"""Table definitions (SQLAlchemy Core). The schema itself is created and changed only by Alembic migrations.

Times: candle open times are int64 milliseconds since the epoch, UTC (``open_time_ms``); other times are
timezone-aware UTC datetimes stored through :class:`UtcDateTime`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
)

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

Double = Float(precision=53)


class UtcDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes on every backend (SQLite keeps no offset: values are normalised to UTC on the way in
    and marked UTC on the way out). Naive values are refused."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given where an aware UTC time is required")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


instruments = Table(
    "instruments",
    metadata,
    Column("exchange", String(32), primary_key=True),
    Column("symbol", String(32), primary_key=True),
    Column("asset_class", String(16), nullable=False),
)

candles = Table(
    "candles",
    metadata,
    Column("exchange", String(32), primary_key=True),
    Column("symbol", String(32), primary_key=True),
    Column("timeframe", String(8), primary_key=True),
    Column("open_time_ms", BigInteger, primary_key=True, autoincrement=False),
    Column("open", Double, nullable=False),
    Column("high", Double, nullable=False),
    Column("low", Double, nullable=False),
    Column("close", Double, nullable=False),
    Column("volume", Double, nullable=False),
)

headlines = Table(
    "headlines",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("url", String(1024), nullable=False, unique=True),
    Column("published_at", UtcDateTime(), nullable=False, index=True),
    Column("source", String(128), nullable=False),
    Column("title", Text, nullable=False),
    Column("summary", Text, nullable=False, default=""),
    Column("assets", String(256), nullable=False, default=""),
    Column("score", Double, nullable=True),
    Column("model", String(64), nullable=True),
    #: When tsbot first read the headline (history imports: its publication time); point-in-time queries use it.
    Column("first_seen_at", UtcDateTime(), nullable=False, index=True),
)

#: One row per (asset, headline); ``first_seen_at`` is copied from the headline so the index
#: ``(asset, first_seen_at)`` answers point-in-time queries per asset without touching ``headlines``.
headline_assets = Table(
    "headline_assets",
    metadata,
    Column("asset", String(32), primary_key=True),
    Column("published_at", UtcDateTime(), primary_key=True),
    Column("headline_id", Integer, ForeignKey("headlines.id", ondelete="CASCADE"), primary_key=True),
    Column("first_seen_at", UtcDateTime(), nullable=False),
)

Index("ix_headline_assets_asset_first_seen", headline_assets.c.asset, headline_assets.c.first_seen_at)

signals = Table(
    "signals",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("exchange", String(32), nullable=False),
    Column("symbol", String(32), nullable=False),
    Column("timeframe", String(8), nullable=False),
    Column("as_of", UtcDateTime(), nullable=False),
    Column("action", String(8), nullable=False),
    Column("score", Double, nullable=False),
    Column("confidence", Double, nullable=False),
    Column("price", Double, nullable=False),
    Column("stop_loss", Double, nullable=True),
    Column("take_profit", JSON, nullable=False),
    Column("components", JSON, nullable=False),
    Column("reasons", JSON, nullable=False),
    # Headlines that moved the sentiment component (HeadlineRef.to_dict() each); null for older rows.
    Column("headlines", JSON, nullable=True),
    Column("created_at", UtcDateTime(), nullable=False),
    UniqueConstraint("exchange", "symbol", "timeframe", "as_of", name="uq_signals_series_as_of"),
)

signal_status_changes = Table(
    "signal_status_changes",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("signal_id", Integer, ForeignKey("signals.id", ondelete="CASCADE"), nullable=False),
    Column("exchange", String(32), nullable=False),
    Column("symbol", String(32), nullable=False),
    Column("timeframe", String(8), nullable=False),
    Column("changed_at", UtcDateTime(), nullable=False),
    Column("from_action", String(8), nullable=True),
    Column("to_action", String(8), nullable=False),
    Column("score", Double, nullable=False),
    Column("recorded_at", UtcDateTime(), nullable=False),
    UniqueConstraint("signal_id", name="uq_signal_status_changes_signal_id"),
)

Index(
    "ix_status_changes_series_time",
    signal_status_changes.c.exchange,
    signal_status_changes.c.symbol,
    signal_status_changes.c.timeframe,
    signal_status_changes.c.changed_at,
)

#: Decimal prices and percents of tracked signals are plain-notation strings (``"0.000065"``), exact on every
#: backend; the intent and each update are JSON objects whose numbers are such strings.
tracked_signals = Table(
    "tracked_signals",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("provider", String(200), nullable=False),
    Column("post_id", String(200), nullable=False),
    Column("symbol", String(64), nullable=False),
    Column("base", String(64), nullable=False),
    Column("status", String(16), nullable=False),
    Column("intent", JSON, nullable=False),
    Column("posted_at", UtcDateTime(), nullable=False),
    Column("filled_entries", Integer, nullable=False),
    Column("targets_hit", Integer, nullable=False),
    Column("stop", Text, nullable=True),
    Column("stop_moved_to_entry", Boolean, nullable=False),
    Column("entry_price", Text, nullable=True),
    Column("exit_price", Text, nullable=True),
    Column("last_profit_pct", Text, nullable=True),
    Column("closed_at", UtcDateTime(), nullable=True),
    Column("note", Text, nullable=True),
    Column("event_count", Integer, nullable=False),
    Column("updated_at", UtcDateTime(), nullable=False),
    UniqueConstraint("provider", "post_id", name="uq_tracked_signals_provider_post"),
)

Index(
    "ix_tracked_signals_provider_symbol_status",
    tracked_signals.c.provider,
    tracked_signals.c.symbol,
    tracked_signals.c.status,
)
Index(
    "ix_tracked_signals_provider_base_status",
    tracked_signals.c.provider,
    tracked_signals.c.base,
    tracked_signals.c.status,
)
Index("ix_tracked_signals_status_posted", tracked_signals.c.status, tracked_signals.c.posted_at)

tracked_signal_events = Table(
    "tracked_signal_events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("signal_id", Integer, ForeignKey("tracked_signals.id", ondelete="CASCADE"), nullable=False),
    Column("seq", Integer, nullable=False),
    Column("at", UtcDateTime(), nullable=False),
    Column("post_id", String(200), nullable=True),
    Column("event", String(24), nullable=False),
    Column("update_data", JSON, nullable=False),
    Column("from_status", String(16), nullable=False),
    Column("to_status", String(16), nullable=False),
    Column("note", Text, nullable=True),
    UniqueConstraint("signal_id", "seq", name="uq_tracked_signal_events_signal_seq"),
)

unmatched_updates = Table(
    "unmatched_updates",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("provider", String(200), nullable=False),
    Column("post_id", String(200), nullable=False),
    Column("received_at", UtcDateTime(), nullable=False),
    Column("symbol", String(64), nullable=True),
    Column("event", String(24), nullable=False),
    Column("update_data", JSON, nullable=False),
    Column("reason", String(32), nullable=False),
    Column("detail", Text, nullable=False),
    Column("signal_id", Integer, ForeignKey("tracked_signals.id", ondelete="SET NULL"), nullable=True),
)

Index("ix_unmatched_updates_provider_received", unmatched_updates.c.provider, unmatched_updates.c.received_at)

#: Trained ML models (``tsbot train``): one row per version of a name, the pickled ensemble in ``artifact``. At most
#: one active row per name (a partial unique index); the headline metrics are columns, the rest JSON.
ml_models = Table(
    "ml_models",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(64), nullable=False),
    Column("version", Integer, nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("timeframe", String(8), nullable=False),
    Column("symbols", JSON, nullable=False),
    Column("train_start", UtcDateTime(), nullable=False),
    Column("train_end", UtcDateTime(), nullable=False),
    Column("accuracy", Double, nullable=True),
    Column("precision", Double, nullable=True),
    Column("recall", Double, nullable=True),
    Column("f1", Double, nullable=True),
    Column("metrics", JSON, nullable=False),
    Column("feature_importance", JSON, nullable=False),
    Column("hyperparameters", JSON, nullable=False),
    Column("artifact", LargeBinary, nullable=False),
    Column("is_active", Boolean, nullable=False),
    UniqueConstraint("name", "version", name="uq_ml_models_name_version"),
)

Index(
    "uq_ml_models_one_active_per_name",
    ml_models.c.name,
    unique=True,
    postgresql_where=ml_models.c.is_active,
    sqlite_where=ml_models.c.is_active,
)

#: Orders (:mod:`tsbot.trading`): one row per client order id; amounts as plain decimal strings so they read back
#: exactly. Every status move is a row of ``order_events``; every execution a row of ``order_fills`` (unique per
#: venue trade id and order, so a fill seen twice is stored once).
orders = Table(
    "orders",
    metadata,
    Column("client_order_id", String(36), primary_key=True),
    Column("account", String(128), nullable=False),
    Column("symbol", String(32), nullable=False),
    Column("side", String(8), nullable=False),
    Column("order_type", String(16), nullable=False),
    Column("qty", String(64), nullable=False),
    Column("quote_qty", String(64), nullable=True),
    Column("price", String(64), nullable=True),
    Column("stop_price", String(64), nullable=True),
    Column("reduce_only", Boolean, nullable=False),
    Column("parent_id", String(36), nullable=True),
    Column("oco_group", String(36), nullable=True),
    Column("leverage", String(32), nullable=False),
    Column("reason", Text, nullable=False),
    Column("status", String(20), nullable=False),
    Column("broker_order_id", String(128), nullable=True),
    Column("filled_qty", String(64), nullable=False),
    Column("avg_fill_price", String(64), nullable=True),
    Column("fees", String(64), nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("updated_at", UtcDateTime(), nullable=False),
)

Index("ix_orders_account_status", orders.c.account, orders.c.status)

order_events = Table(
    "order_events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column(
        "client_order_id",
        String(36),
        ForeignKey("orders.client_order_id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    Column("seq", Integer, nullable=False),
    Column("status_from", String(20), nullable=True),
    Column("status_to", String(20), nullable=False),
    Column("at", UtcDateTime(), nullable=False),
    Column("reason", Text, nullable=False),
    UniqueConstraint("client_order_id", "seq", name="uq_order_events_order_seq"),
)

order_fills = Table(
    "order_fills",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column(
        "client_order_id",
        String(36),
        ForeignKey("orders.client_order_id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    Column("fill_id", String(128), nullable=False),
    Column("symbol", String(32), nullable=False),
    Column("side", String(8), nullable=False),
    Column("qty", String(64), nullable=False),
    Column("price", String(64), nullable=False),
    Column("fee", String(64), nullable=False),
    Column("fee_currency", String(16), nullable=False),
    Column("filled_at", UtcDateTime(), nullable=False),
    UniqueConstraint("client_order_id", "fill_id", name="uq_order_fills_order_fill"),
)


#: Portfolios (:mod:`tsbot.trading.portfolio`): a user's named book over one or more trading accounts (a paper account,
#: an exchange account, an Alpaca account). Target weights (symbol -> weight as a decimal string) drive rebalancing.
portfolios = Table(
    "portfolios",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("owner", String(128), nullable=False),
    Column("name", String(64), nullable=False),
    Column("base_currency", String(16), nullable=False),
    Column("target_weights", JSON, nullable=True),
    Column("created_at", UtcDateTime(), nullable=False),
    UniqueConstraint("owner", "name", name="uq_portfolios_owner_name"),
)

#: Which trading accounts (the ``account`` of orders) belong to which portfolio; an account is in one portfolio.
portfolio_accounts = Table(
    "portfolio_accounts",
    metadata,
    Column("account", String(128), primary_key=True),
    Column(
        "portfolio_id",
        String(36),
        ForeignKey("portfolios.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    Column("venue", String(32), nullable=False),
    Column("asset_class", String(16), nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
)

#: One equity snapshot per portfolio and UTC day (values in the portfolio's base currency, decimal strings).
performance_daily = Table(
    "performance_daily",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column(
        "portfolio_id",
        String(36),
        ForeignKey("portfolios.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    Column("day", Date, nullable=False),
    Column("equity", String(64), nullable=False),
    Column("cash", String(64), nullable=False),
    Column("positions_value", String(64), nullable=False),
    Column("realised_pnl", String(64), nullable=False),
    Column("unrealised_pnl", String(64), nullable=False),
    Column("fees", String(64), nullable=False),
    Column("updated_at", UtcDateTime(), nullable=False),
    UniqueConstraint("portfolio_id", "day", name="uq_performance_daily_portfolio_day"),
)

#: Users' exchange API keys, encrypted (Fernet token of a JSON object); only ``key_hint`` (the last characters of
#: the API key) is ever shown.
exchange_keys = Table(
    "exchange_keys",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("owner", String(128), nullable=False),
    Column("exchange", String(32), nullable=False),
    Column("label", String(64), nullable=False),
    Column("sandbox", Boolean, nullable=False),
    Column("key_hint", String(16), nullable=False),
    Column("ciphertext", LargeBinary, nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("rotated_at", UtcDateTime(), nullable=True),
    UniqueConstraint("owner", "exchange", "label", name="uq_exchange_keys_owner_exchange_label"),
)

#: Bots (:mod:`tsbot.trading.bots`): a strategy (or a followed provider) trading pairs with capital and risk limits
#: on one account; every start, pause, stop, kill-switch trip and refusal is a row of ``bot_events``.
bots = Table(
    "bots",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("owner", String(128), nullable=False),
    Column("name", String(64), nullable=False),
    Column("strategy", String(64), nullable=False),
    Column("provider", String(128), nullable=True),
    Column("account", String(128), nullable=False),
    Column("mode", String(8), nullable=False),
    Column("pairs", JSON, nullable=False),
    Column("timeframe", String(8), nullable=False),
    Column("capital", String(64), nullable=False),
    Column("params", JSON, nullable=False),
    Column("risk", JSON, nullable=False),
    Column("approval", Boolean, nullable=False),
    Column("status", String(16), nullable=False),
    Column("status_reason", Text, nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("updated_at", UtcDateTime(), nullable=False),
    UniqueConstraint("owner", "name", name="uq_bots_owner_name"),
)

bot_events = Table(
    "bot_events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("bot_id", String(36), ForeignKey("bots.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("at", UtcDateTime(), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("message", Text, nullable=False),
    Column("data", JSON, nullable=True),
)

#: Orders a bot proposes in approval mode, waiting for a person's one-tap decision.
order_approvals = Table(
    "order_approvals",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("bot_id", String(36), ForeignKey("bots.id", ondelete="CASCADE"), nullable=True, index=True),
    Column("owner", String(128), nullable=False),
    Column("client_order_id", String(36), nullable=False, unique=True),
    Column("request", JSON, nullable=False),
    Column("summary", Text, nullable=False),
    Column("status", String(16), nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("expires_at", UtcDateTime(), nullable=False),
    Column("decided_at", UtcDateTime(), nullable=True),
    Column("decided_by", String(128), nullable=True),
)

Index("ix_order_approvals_owner_status", order_approvals.c.owner, order_approvals.c.status)

#: Money put into or taken out of a paper account (signed decimal strings per asset). A paper account's balances
#: are its ledger plus the effect of its stored fills, so they survive restarts without a second copy to drift.
paper_ledger = Table(
    "paper_ledger",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("account", String(128), nullable=False, index=True),
    Column("asset", String(16), nullable=False),
    Column("amount", String(64), nullable=False),
    Column("reason", Text, nullable=False),
    Column("at", UtcDateTime(), nullable=False),
)

# --- accounts (tsbot.accounts; migration 0009) -------------------------------------------------------------------
#: Users: ``email`` lowercased and unique; ``password_hash`` argon2id; ``totp_secret`` a Fernet token;
#: ``preferences`` a JSON object (time zone, language, currency, notifications).
users = Table(
    "users",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("email", String(320), nullable=False, unique=True),
    Column("display_name", String(100), nullable=False),
    Column("password_hash", String(255), nullable=False),
    Column("role", String(16), nullable=False),
    Column("is_active", Boolean, nullable=False),
    Column("email_verified", Boolean, nullable=False),
    Column("active_until", UtcDateTime(), nullable=True),
    Column("totp_enabled", Boolean, nullable=False),
    Column("totp_secret", Text, nullable=True),
    Column("totp_last_step", BigInteger, nullable=True),
    Column("preferences", JSON, nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("updated_at", UtcDateTime(), nullable=False),
    Column("last_login_at", UtcDateTime(), nullable=True),
)

#: Two-factor recovery codes, SHA-256 hex of the normalised code; a used code is deleted.
recovery_codes = Table(
    "recovery_codes",
    metadata,
    Column("user_id", String(36), ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    Column("code_hash", String(64), primary_key=True),
)

#: Refresh tokens (SHA-256 hex), one family per sign-in session.
refresh_tokens = Table(
    "refresh_tokens",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("user_id", String(36), ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("family_id", String(36), nullable=False, index=True),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("expires_at", UtcDateTime(), nullable=False),
    Column("used_at", UtcDateTime(), nullable=True),
    Column("revoked_at", UtcDateTime(), nullable=True),
    Column("ip", String(64), nullable=True),
    Column("user_agent", String(256), nullable=True),
)

#: Single-use emailed tokens (``verify_email``, ``reset_password``), SHA-256 hex.
one_time_tokens = Table(
    "one_time_tokens",
    metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("user_id", String(36), ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("purpose", String(16), nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("expires_at", UtcDateTime(), nullable=False),
    Column("used_at", UtcDateTime(), nullable=True),
)

#: API keys: SHA-256 hex of the key, its visible prefix and its scopes (a JSON list of permissions).
api_keys = Table(
    "api_keys",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("user_id", String(36), ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("name", String(64), nullable=False),
    Column("prefix", String(16), nullable=False),
    Column("key_hash", String(64), nullable=False, unique=True),
    Column("scopes", JSON, nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("expires_at", UtcDateTime(), nullable=True),
    Column("last_used_at", UtcDateTime(), nullable=True),
    Column("revoked_at", UtcDateTime(), nullable=True),
)

#: Sign-in attempts; kept when the user is deleted (no foreign key). Counted for the sign-in lock by email and IP.
login_events = Table(
    "login_events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", UtcDateTime(), nullable=False),
    Column("email", String(320), nullable=False),
    Column("user_id", String(36), nullable=True),
    Column("ip", String(64), nullable=True),
    Column("user_agent", String(256), nullable=True),
    Column("outcome", String(16), nullable=False),
)

Index("ix_login_events_email_at", login_events.c.email, login_events.c.at)
Index("ix_login_events_ip_at", login_events.c.ip, login_events.c.at)
Index("ix_login_events_user_id_at", login_events.c.user_id, login_events.c.at)

#: Security-relevant actions: who (actor_id, actor), what (action), to whom (target), from where (ip), when (at).
audit_log = Table(
    "audit_log",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", UtcDateTime(), nullable=False, index=True),
    Column("actor_id", String(36), nullable=True),
    Column("actor", String(320), nullable=False),
    Column("action", String(64), nullable=False),
    Column("target", String(64), nullable=True),
    Column("ip", String(64), nullable=True),
    Column("details", JSON, nullable=False),
)

Index("ix_audit_log_actor_id_at", audit_log.c.actor_id, audit_log.c.at)
Index("ix_audit_log_target_at", audit_log.c.target, audit_log.c.at)
