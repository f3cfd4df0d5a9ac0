"""Dependencies shared by the API's routers: the services and settings of the app serving the request.

Usage in a router module::

    @router.get("/api/v1/signals/latest")
    async def latest(services: ServicesDep) -> ...:
        ...

Dependencies are ``async def`` even when they never wait: FastAPI runs a plain ``def`` dependency in a worker
thread, a thread hop per request for what is a dictionary look-up.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from tsbot.config import Settings
from tsbot.wiring import Services


async def get_services(request: Request) -> Services:
    """The :class:`~tsbot.wiring.Services` the app was built over (or opened at start-up)."""
    return request.app.state.services  # type: ignore[no-any-return]


async def get_settings(request: Request) -> Settings:
    """The app's settings."""
    return request.app.state.settings  # type: ignore[no-any-return]


ServicesDep = Annotated[Services, Depends(get_services)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
