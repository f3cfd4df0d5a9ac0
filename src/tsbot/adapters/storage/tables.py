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
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
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
)

headline_assets = Table(
    "headline_assets",
    metadata,
    Column("asset", String(32), primary_key=True),
    Column("published_at", UtcDateTime(), primary_key=True),
    Column("headline_id", Integer, ForeignKey("headlines.id", ondelete="CASCADE"), primary_key=True),
)

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
