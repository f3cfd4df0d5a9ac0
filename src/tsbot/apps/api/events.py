"""The app's live parts: its event hub (:class:`~tsbot.adapters.events.EventBus`, bridged over Redis when
``settings.redis_url`` is set) and the watcher that applies configuration changed through the API by other
processes.

:func:`live_updates` runs them for the app's lifespan (the lifespan of :func:`tsbot.apps.api.app.create_app` enters
it once the services are open). Code of the API process publishes with :func:`publish`::

    await publish(request.app, "notifications", {"title": "..."}, user_id=user.id)

Other processes publish through Redis (:class:`~tsbot.adapters.events.RedisEventPublisher`).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

import structlog
from fastapi import FastAPI

from tsbot.adapters.events import SESSION_CHANNEL, Event, EventBus
from tsbot.apps.api.admin_config import refresh_config, watch_config
from tsbot.core.errors import TsbotError

_log = structlog.get_logger("tsbot.api.events")


def bus_of(app: FastAPI) -> EventBus:
    """The app's event hub (an in-process one is made on first use when :func:`live_updates` did not run)."""
    bus: EventBus | None = getattr(app.state, "events", None)
    if bus is None:
        bus = app.state.events = EventBus()
    return bus


async def publish(
    app: FastAPI,
    channel: str,
    data: Mapping[str, Any],
    *,
    user_id: str | None = None,
    symbol: str | None = None,
) -> Event:
    """Publish an event to the app's WebSocket clients (and those of the other processes when bridged); see
    :meth:`EventBus.publish <tsbot.adapters.events.EventBus.publish>`."""
    return await bus_of(app).publish(channel, data, user_id=user_id, symbol=symbol)


async def end_live_sessions(app: FastAPI, user_id: str, reason: str) -> None:
    """Close the live connections of ``user_id`` in every process (deactivated, deleted, role changed)."""
    await bus_of(app).publish(SESSION_CHANNEL, {"reason": reason}, user_id=user_id)


@asynccontextmanager
async def live_updates(app: FastAPI) -> AsyncIterator[None]:
    """Start the event hub (its Redis listener when ``settings.redis_url`` is set), apply the configuration
    changes stored in the database, and watch for new ones; stop both on exit."""
    app.state.config_base = app.state.settings
    bus = app.state.events = EventBus(app.state.settings.redis_url)
    try:
        await refresh_config(app)
    except TsbotError as exc:  # the API still serves with the settings it started with
        _log.warning("config.refresh_failed", error=type(exc).__name__, message=str(exc))
    watcher = asyncio.create_task(watch_config(app), name="tsbot-config-watch")
    try:
        async with bus:
            yield
    finally:
        watcher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watcher
