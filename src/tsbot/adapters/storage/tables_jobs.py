"""Tables of the API's background work and webhook intake (migration 0013): backtest jobs, users' TradingView
webhook tokens, and the alerts those webhooks accepted.

Times are aware UTC (:class:`UtcDateTime`). Webhook tokens are kept only as SHA-256 hex digests. Prices inside
``webhook_alerts.intent`` are plain-notation decimal strings (``"0.000065"``), exact on every backend.
"""

from __future__ import annotations

from sqlalchemy import JSON, Column, Float, ForeignKey, Index, Integer, String, Table, Text

from tsbot.adapters.storage.tables import UtcDateTime, metadata

#: Backtests run for a user: the request (``strategy``, ``params``, ``symbols``, ``timeframe``, ``start``, ``end``,
#: ``fill``), the state (``queued`` / ``running`` / ``done`` / ``failed``), the progress in [0, 1] with the stage
#: it names, the error of a failed run, and when done the result (JSON text of ``tsbot backtest --json``) and the
#: HTML report (with plotly.js left out; put back when served). ``heartbeat_at`` is renewed while a runner holds
#: the job, so a job whose runner died is recognised as stale.
backtest_jobs = Table(
    "backtest_jobs",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("owner_id", String(36), ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("status", String(16), nullable=False, index=True),
    Column("strategy", String(32), nullable=False),
    Column("request", JSON, nullable=False),
    Column("progress_ratio", Float, nullable=False),
    Column("stage", String(64), nullable=False),
    Column("error", Text, nullable=True),
    Column("result", Text, nullable=True),
    Column("report", Text, nullable=True),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("started_at", UtcDateTime(), nullable=True),
    Column("finished_at", UtcDateTime(), nullable=True),
    Column("heartbeat_at", UtcDateTime(), nullable=False),
)

Index("ix_backtest_jobs_owner_id_created_at", backtest_jobs.c.owner_id, backtest_jobs.c.created_at)

#: TradingView webhook tokens: SHA-256 hex of the token, its visible prefix and the owner's label.
webhook_tokens = Table(
    "webhook_tokens",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("owner_id", String(36), ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("label", String(64), nullable=False),
    Column("prefix", String(16), nullable=False),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("last_used_at", UtcDateTime(), nullable=True),
)

#: Alerts accepted by a user's TradingView webhook: the trade read (``TradeIntent.to_dict`` shape) and when.
webhook_alerts = Table(
    "webhook_alerts",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("owner_id", String(36), ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("received_at", UtcDateTime(), nullable=False),
    Column("symbol", String(64), nullable=False),
    Column("side", String(8), nullable=False),
    Column("intent", JSON, nullable=False),
)

Index("ix_webhook_alerts_owner_id_received_at", webhook_alerts.c.owner_id, webhook_alerts.c.received_at)
