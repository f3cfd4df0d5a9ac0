"""Configuration changed while running (``PATCH /api/v1/admin/config/{section}``; migration 0012).

``config_overrides``: one row per configuration section (``app``, ``trading``, ``logging``, ``symbols``); ``values``
is a JSON object shaped like the settings tree (``{"trading": {"buy_threshold": 0.2}}``) laid over the settings a
process starts with. It never holds a secret: secrets are refused by the API and set in the environment or files.
"""

from __future__ import annotations

from sqlalchemy import JSON, Column, String, Table

from tsbot.adapters.storage.tables import UtcDateTime, metadata

config_overrides = Table(
    "config_overrides",
    metadata,
    Column("section", String(16), primary_key=True),
    Column("values", JSON, nullable=False),
    Column("updated_at", UtcDateTime(), nullable=False),
    Column("updated_by", String(320), nullable=False),
)
