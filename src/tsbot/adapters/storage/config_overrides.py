"""Configuration changed while running, shared by every process over the database (table ``config_overrides``).

Each section (``app``, ``trading``, ``logging``, ``symbols``) keeps one JSON object shaped like the settings tree
(``{"trading": {"buy_threshold": 0.2}}``); :func:`apply_overrides` lays them over the settings a process started
with. A process picks changes up on its next :meth:`SqlConfigOverrides.load` (the API polls every few seconds; a
worker or command reads them when it opens its services)::

    settings = apply_overrides(load_settings(), await SqlConfigOverrides(engine).load())

:meth:`SqlConfigOverrides.save` stores a section and its audit entry (action :data:`CONFIG_CHANGED`) in one
transaction. Overrides never hold a secret.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import ValidationError
from sqlalchemy import insert, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

from tsbot.accounts.records import AuditAction
from tsbot.adapters.storage.candles import dialect_insert
from tsbot.adapters.storage.tables import audit_log
from tsbot.adapters.storage.tables_config import config_overrides
from tsbot.config import Settings
from tsbot.core.errors import ConfigError, TemporaryError

#: The audit-log action of a configuration change.
CONFIG_CHANGED = AuditAction.CONFIG_CHANGED.value


@dataclass(frozen=True, slots=True)
class StoredSection:
    """One section's overrides: ``values`` (settings-shaped JSON object), when (UTC) and by whom (a label)."""

    section: str
    values: dict[str, Any]
    updated_at: datetime
    updated_by: str


def deep_merge(base: Mapping[str, Any], top: Mapping[str, Any]) -> dict[str, Any]:
    """``base`` with ``top`` laid over it: nested mappings merge key by key, anything else is replaced."""
    out = dict(base)
    for key, value in top.items():
        current = out.get(key)
        if isinstance(value, Mapping) and isinstance(current, Mapping):
            out[key] = deep_merge(current, value)
        else:
            out[key] = value
    return out


def apply_overrides(base: Settings, overrides: Mapping[str, StoredSection | Mapping[str, Any]]) -> Settings:
    """``base`` with every section's overrides laid over it (sections in name order), validated by
    :class:`~tsbot.config.Settings` (environment and files are not read again).

    Raises:
        ConfigError: the result is invalid (the message names each wrong key).
    """
    data: dict[str, Any] = base.model_dump()
    for name in sorted(overrides):
        section = overrides[name]
        data = deep_merge(data, section.values if isinstance(section, StoredSection) else section)
    try:
        return Settings.model_validate(data)
    except ValidationError as exc:
        wrong = "; ".join(
            f"{'.'.join(str(p) for p in e.get('loc', ()))}: {e.get('msg', '')}" for e in exc.errors()[:5]
        )
        raise ConfigError(f"stored configuration overrides are invalid: {wrong}") from None


class SqlConfigOverrides:
    """The ``config_overrides`` table over one database.

    Raises (every method): :class:`~tsbot.core.errors.TemporaryError` when the database does not answer.
    """

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._insert = dialect_insert(engine)

    async def load(self) -> dict[str, StoredSection]:
        """Every stored section, by name."""
        try:
            async with self._engine.connect() as conn:
                rows = (await conn.execute(select(config_overrides))).mappings().all()
        except (SQLAlchemyError, OSError) as exc:
            raise TemporaryError(f"database did not answer ({type(exc).__name__})") from exc
        return {
            r["section"]: StoredSection(
                r["section"], dict(r["values"] or {}), r["updated_at"], r["updated_by"]
            )
            for r in rows
        }

    async def save(
        self,
        section: str,
        values: Mapping[str, Any],
        *,
        at: datetime,
        actor_id: str | None,
        actor: str,
        ip: str | None,
        changes: list[dict[str, Any]],
    ) -> StoredSection:
        """Store ``values`` as the overrides of ``section`` (replacing the previous ones) and append the audit
        entry ``config.changed`` by ``actor`` (label; ``actor_id`` a user id) from ``ip`` at ``at`` (UTC) whose
        details are ``{"section": ..., "changes": changes}`` (``changes``: ``[{"key", "old", "new"}]``, no
        secrets), in one transaction."""
        stored = dict(values)
        upsert = self._insert(config_overrides).values(
            section=section, values=stored, updated_at=at, updated_by=actor[:320]
        )
        upsert = upsert.on_conflict_do_update(
            index_elements=[config_overrides.c.section],
            set_={"values": stored, "updated_at": at, "updated_by": actor[:320]},
        )
        try:
            async with self._engine.begin() as conn:
                await conn.execute(upsert)
                await conn.execute(
                    insert(audit_log).values(
                        at=at,
                        actor_id=actor_id,
                        actor=actor[:320],
                        action=CONFIG_CHANGED,
                        target=section,
                        ip=None if ip is None else ip[:64],
                        details={"section": section, "changes": changes},
                    )
                )
        except (SQLAlchemyError, OSError) as exc:
            raise TemporaryError(f"database did not store the configuration ({type(exc).__name__})") from exc
        return StoredSection(section, stored, at, actor[:320])
