"""Configuration routes: read a section, change it with validation and an audit entry, applied without restart.

Sections (``{section}``):

* ``app``: the top-level settings of ``app.yaml`` (database, cache, intake, ml, news, api, accounts, email ...);
* ``trading``: ``trading.yaml`` except the watchlist and timeframe;
* ``logging``: ``log_level``;
* ``symbols``: ``trading.watchlist`` and ``trading.timeframe``.

``GET /api/v1/admin/config/{section}`` answers the values in use with secrets masked (``"***"``; a password inside
a URL too). ``PATCH`` changes the keys given (nested objects merge); ``PUT`` replaces the section's changes (keys
left out go back to the values the process started with). Both validate the result with the same models as
:class:`~tsbot.config.Settings` (an invalid value: 422 naming the key), store it in the database
(:mod:`tsbot.adapters.storage.config_overrides`) with an audit entry ``config.changed`` (who, from where, each
changed key with its old and new value) and apply it at once to the process that answered: later requests read
the new ``request.app.state.settings`` / ``services.settings``. The other API processes apply it within
:data:`POLL_S` seconds; workers and commands read it when they open their services.

Refused with 422 (they cannot change while running, or must not be stored in the database): keys of
:data:`~tsbot.apps.api.config_sections.RESTART_KEYS` (database, Redis, broker, data folder, listening address,
CORS origins, body limit, sentiment model) and secrets (``security.*``, passwords, API keys, client secrets): set
those in the environment or the configuration files and restart. Sending a key back with its masked value
(``"***"``) leaves it unchanged.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from datetime import datetime
from typing import Any, Final

import structlog
from fastapi import APIRouter, Body, FastAPI, Request
from limits import RateLimitItemPerHour
from pydantic import BaseModel, Field, ValidationError

from tsbot.accounts.models import Identity, Permission
from tsbot.adapters.storage.config_overrides import (
    SqlConfigOverrides,
    StoredSection,
    apply_overrides,
    deep_merge,
)
from tsbot.apps.api import config_sections as sections
from tsbot.apps.api.auth import caller_ip, requires
from tsbot.apps.api.config_sections import Section
from tsbot.apps.api.errors import ApiError
from tsbot.config import Settings
from tsbot.core.errors import TsbotError
from tsbot.core.time import utc_now

#: Seconds between two reads of the stored configuration by each API process.
POLL_S: Final = 5.0

router = APIRouter(prefix="/api/v1/admin/config", tags=["admin"])
_log = structlog.get_logger("tsbot.api.admin_config")


class ConfigChange(BaseModel):
    """One changed key: dotted name, old and new value (secrets never appear: they cannot be changed here)."""

    key: str = Field(description="dotted settings key, e.g. trading.buy_threshold")
    old: Any = None
    new: Any = None


class ConfigOut(BaseModel):
    """A section's values in use (secrets masked) and what can change without a restart."""

    section: Section
    values: dict[str, Any] = Field(description="the section's settings; secrets shown as ***")
    restart_keys: list[str] = Field(
        description="keys of this section that need a restart (refused by updates)"
    )
    secret_keys: list[str] = Field(description="keys holding secrets (masked, refused by updates)")
    overrides: dict[str, Any] = Field(description="what was changed through the API, settings-shaped")
    updated_at: datetime | None = Field(None, description="last change through the API (UTC)")
    updated_by: str | None = None
    changes: list[ConfigChange] = Field(default_factory=list, description="what this update changed")


def _invalid(message: str, details: list[dict[str, Any]]) -> ApiError:
    return ApiError(422, message, error_type="validation_error", details=details)


def _validation_details(exc: ValidationError) -> list[dict[str, Any]]:
    return [
        {"loc": [str(p) for p in e.get("loc", ())], "message": e.get("msg", ""), "type": e.get("type")}
        for e in exc.errors(include_url=False)
    ]


# --- state of the app -----------------------------------------------------------------------------------------


def _base(app: FastAPI) -> Settings:
    """The settings the process started with (before changes made through the API)."""
    base: Settings | None = getattr(app.state, "config_base", None)
    if base is None:
        base = app.state.config_base = app.state.settings
    return base


def apply_settings(app: FastAPI, new: Settings) -> None:
    """Make ``new`` the settings of ``app`` and its services, and update what was built from the old ones: rate
    limits, the account service (rebuilt on next use), the identity cache's time (emptied: what it holds was kept
    under the old time), the size of the signal page cache, the log level and the cached ML model source."""
    old: Settings = app.state.settings
    app.state.settings = new
    services = getattr(app.state, "services", None)
    if services is not None:
        services.settings = new
        if new.ml != old.ml:
            services.ml_source = None
    limits = getattr(app.state, "rate_limits", None)
    if limits is not None and new.api != old.api:
        limits.requests = RateLimitItemPerHour(new.api.requests_per_hour)
        limits.orders = RateLimitItemPerHour(new.api.orders_per_hour)
    pages = getattr(app.state, "signal_pages", None)
    if pages is not None and new.api.page_cache_entries != old.api.page_cache_entries:
        pages.resize(new.api.page_cache_entries)
    if new.accounts != old.accounts or new.email != old.email or new.api.public_url != old.api.public_url:
        app.state.accounts = None
    cache = getattr(app.state, "identity_cache", None)
    if cache is not None and new.accounts.identity_cache_seconds != old.accounts.identity_cache_seconds:
        cache.ttl_s = new.accounts.identity_cache_seconds
        cache.clear()
    if new.log_level != old.log_level:
        level = logging.getLevelNamesMapping()[new.log_level]
        logging.getLogger().setLevel(level)
        structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(level))


async def refresh_config(app: FastAPI) -> bool:
    """Read the stored changes and apply them when they differ from those applied; True when applied.

    Raises:
        TemporaryError: the database did not answer.
        ConfigError: the stored changes are invalid with this process's settings.
    """
    stored = await SqlConfigOverrides(app.state.services.db).load()
    values = {name: s.values for name, s in stored.items()}
    if values == getattr(app.state, "config_applied", {}):
        return False
    apply_settings(app, apply_overrides(_base(app), values))
    app.state.config_applied = values
    return True


async def watch_config(app: FastAPI) -> None:
    """Apply stored changes every :data:`POLL_S` seconds until cancelled (failures are logged, never raised)."""
    while True:
        await asyncio.sleep(POLL_S)
        try:
            if await refresh_config(app):
                _log.info("config.applied_from_store")
        except TsbotError as exc:
            _log.warning("config.refresh_failed", error=type(exc).__name__, message=str(exc))


# --- routes ---------------------------------------------------------------------------------------------------


def _out(app: FastAPI, section: Section, stored: StoredSection | None) -> ConfigOut:
    values = sections.view(section, app.state.settings.model_dump())
    return ConfigOut(
        section=section,
        values=sections.masked(values, sections.prefix(section).rstrip(".")),
        restart_keys=sections.restart_keys(section, values),
        secret_keys=sections.secret_keys(section, values),
        overrides=sections.masked(stored.values) if stored else {},
        updated_at=stored.updated_at if stored else None,
        updated_by=stored.updated_by if stored else None,
    )


@router.get("/{section}", summary="A configuration section in use (secrets masked)")
async def read_config(
    request: Request, section: Section, identity: Identity = requires(Permission.SYSTEM_CONFIG)
) -> ConfigOut:
    """The section's values as the answering process uses them, with which keys need a restart."""
    stored = await SqlConfigOverrides(request.app.state.services.db).load()
    return _out(request.app, section, stored.get(section))


async def _update(
    request: Request, section: Section, body: dict[str, Any], identity: Identity, *, replace: bool
) -> ConfigOut:
    app = request.app
    if sections.too_deep(body):
        raise _invalid(
            f"the body nests deeper than {sections.MAX_DEPTH} levels",
            [{"loc": ["body"], "message": "too deep"}],
        )
    unknown = sorted(set(body) - set(sections.allowed(section)))
    if unknown:
        names = ", ".join(sections.prefix(section) + k for k in unknown)
        raise _invalid(
            f"configuration is invalid: unknown key(s) in section {section}: {names}",
            [{"loc": ["body", k], "message": "unknown key", "type": "extra_forbidden"} for k in unknown],
        )
    current: Settings = app.state.settings
    body = sections.drop_unchanged_masked(
        body,
        sections.masked(sections.view(section, current.model_dump()), sections.prefix(section).rstrip(".")),
    )
    store = SqlConfigOverrides(app.state.services.db)
    stored = await store.load()
    overrides = {name: s.values for name, s in stored.items()}
    previous = overrides.get(section, {})
    overrides[section] = (
        sections.tree(section, body) if replace else deep_merge(previous, sections.tree(section, body))
    )
    try:
        new = Settings.model_validate(_merged(_base(app), overrides))
    except ValidationError as exc:
        details = _validation_details(exc)
        wrong = "; ".join(f"{'.'.join(d['loc'])}: {d['message']}" for d in details[:5])
        raise _invalid(f"configuration is invalid: {wrong}", details) from None
    old_flat = sections.flat(current.model_dump())
    new_flat = sections.flat(new.model_dump())
    changed = sorted(
        k
        for k in set(old_flat) | set(new_flat)
        if sections.in_section(section, k) and old_flat.get(k) != new_flat.get(k)
    )
    refused = [k for k in changed if any(k == r or k.startswith(r + ".") for r in sections.RESTART_KEYS)]
    secret = [
        k for k in changed if sections.is_secret(k, old_flat.get(k)) or sections.is_secret(k, new_flat.get(k))
    ]
    if refused or secret:
        details = [
            {
                "loc": ["body", *k.split(".")],
                "message": "needs a restart: set it in the configuration and restart",
            }
            for k in refused
        ] + [
            {"loc": ["body", *k.split(".")], "message": "a secret: set it in the environment and restart"}
            for k in secret
        ]
        raise _invalid("cannot change while running: " + ", ".join(sorted({*refused, *secret})), details)
    changes = [
        {"key": k, "old": sections.masked(old_flat.get(k), k), "new": sections.masked(new_flat.get(k), k)}
        for k in changed
    ]
    saved = await store.save(
        section,
        overrides[section],
        at=utc_now(),
        actor_id=identity.user.id,
        actor=identity.label,
        ip=caller_ip(request),
        changes=changes,
    )
    apply_settings(app, new)
    app.state.config_applied = overrides
    _log.info("config.changed", section=section, keys=changed, actor=identity.label)
    out = _out(app, section, saved)
    out.changes = [ConfigChange(**c) for c in changes]
    return out


def _merged(base: Settings, overrides: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    data: dict[str, Any] = base.model_dump()
    for name in sorted(overrides):
        data = deep_merge(data, overrides[name])
    return data


_UPDATE_RESPONSES: dict[int | str, dict[str, Any]] = {
    422: {
        "description": "invalid value, unknown key, a secret, or a key that needs a restart (named in details)"
    }
}


@router.patch(
    "/{section}",
    summary="Change some keys of a configuration section (applied at once)",
    responses=_UPDATE_RESPONSES,
)
async def patch_config(
    request: Request,
    section: Section,
    body: dict[str, Any] = Body(description="keys of the section to change; nested objects merge"),
    identity: Identity = requires(Permission.SYSTEM_CONFIG),
) -> ConfigOut:
    """Change the keys given, validate, store with an audit entry and apply without restart."""
    return await _update(request, section, body, identity, replace=False)


@router.put(
    "/{section}",
    summary="Replace a configuration section's changes (applied at once)",
    responses=_UPDATE_RESPONSES,
)
async def put_config(
    request: Request,
    section: Section,
    body: dict[str, Any] = Body(
        description="the section's changed keys; keys left out go back to the start values"
    ),
    identity: Identity = requires(Permission.SYSTEM_CONFIG),
) -> ConfigOut:
    """Replace the section's changes (keys left out return to the values the process started with)."""
    return await _update(request, section, body, identity, replace=True)
