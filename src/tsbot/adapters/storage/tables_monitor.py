"""Tables of the monitoring cycle (migration 0015): each cycle run and the result of each series it covered.

A cycle run is written by the process that runs the cycle (``tsbot serve`` or ``tsbot scheduler``); the results by
whoever computed the series: the same process, or a Dramatiq worker. A result is unique per (cycle, series), so a
job delivered twice (a worker killed mid-job) writes it once. Times are aware UTC.
"""

from __future__ import annotations

from sqlalchemy import JSON, Column, Float, ForeignKey, Integer, String, Table, Text, UniqueConstraint

from tsbot.adapters.storage.tables import UtcDateTime, metadata

#: One run of the monitoring cycle: when, as of which time (the replay clock's, or null: the latest candles), how
#: it ran (``in_process`` / ``workers``), and its summary once finished (``monitored``, ``updated``, ``errors``,
#: ``duration_s``; ``details`` holds the summary's JSON).
cycle_runs = Table(
    "cycle_runs",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("started_at", UtcDateTime(), nullable=False, index=True),
    Column("finished_at", UtcDateTime(), nullable=True),
    Column("as_of", UtcDateTime(), nullable=True),
    Column("mode", String(16), nullable=False),
    Column("series", Integer, nullable=False),
    Column("monitored", Integer, nullable=True),
    Column("updated", Integer, nullable=True),
    Column("errors", Integer, nullable=True),
    Column("duration_s", Float, nullable=True),
    Column("details", JSON, nullable=True),
)

#: The outcome of one series in one cycle: ``ok`` / ``skipped`` / ``error``, how many status changes it stored,
#: the changes themselves (JSON list) and the reason of a skip or an error.
cycle_results = Table(
    "cycle_results",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("cycle_id", String(36), ForeignKey("cycle_runs.id", ondelete="CASCADE"), nullable=False),
    Column("exchange", String(32), nullable=False),
    Column("symbol", String(32), nullable=False),
    Column("timeframe", String(8), nullable=False),
    Column("status", String(16), nullable=False),
    Column("changes", JSON, nullable=False),
    Column("reason", Text, nullable=True),
    Column("finished_at", UtcDateTime(), nullable=False),
    UniqueConstraint("cycle_id", "exchange", "symbol", "timeframe"),
)

#: The memory of each bot the cycle runs (migration 0016): the bot's JSON snapshot
#: (:func:`tsbot.trading.bot_snapshot.bot_snapshot`) with the runner's progress (bars worked and decided, fills
#: taken, provider signals handed over), written after each cycle that ran it.
bot_runs = Table(
    "bot_runs",
    metadata,
    Column("bot_id", String(36), ForeignKey("bots.id", ondelete="CASCADE"), primary_key=True),
    Column("state", JSON, nullable=False),
    Column("updated_at", UtcDateTime(), nullable=False),
)
