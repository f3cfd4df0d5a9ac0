"""Tables of what users watch (migration 0010): each user's watchlist and price alerts.

Symbols are unified symbols as the candle store writes them (``BTC/USDT``, ``AAPL``). Alert levels and prices are
plain-notation decimal strings (``"0.000065"``), exact on every backend. Times are aware UTC (:class:`UtcDateTime`).
"""

from __future__ import annotations

from sqlalchemy import Boolean, Column, ForeignKey, Index, Integer, String, Table

from tsbot.adapters.storage.tables import UtcDateTime, metadata

#: One row per (user, symbol) on the user's watchlist.
watchlist_items = Table(
    "watchlist_items",
    metadata,
    Column("user_id", String(36), ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    Column("symbol", String(32), primary_key=True),
    Column("added_at", UtcDateTime(), nullable=False),
)

#: Price alerts (:class:`tsbot.signals.alerts.PriceAlert`); ``condition`` is above / below / crosses.
price_alerts = Table(
    "price_alerts",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("user_id", String(36), ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("symbol", String(32), nullable=False),
    Column("condition", String(8), nullable=False),
    Column("price", String(40), nullable=False),
    Column("note", String(500), nullable=False),
    Column("repeat", Boolean, nullable=False),
    Column("active", Boolean, nullable=False),
    Column("armed", Boolean, nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("triggered_at", UtcDateTime(), nullable=True),
    Column("trigger_count", Integer, nullable=False),
    Column("last_price", String(40), nullable=True),
)

Index("ix_price_alerts_user_id_created_at", price_alerts.c.user_id, price_alerts.c.created_at)
Index("ix_price_alerts_symbol_active", price_alerts.c.symbol, price_alerts.c.active)
