"""``tsbot api``: serve the platform API with uvicorn after migrating the database.

Each worker builds its own app with :func:`tsbot.apps.api.app.app_from_settings` (uvicorn's factory mode), so
``--workers`` above 1 works; the database is migrated once, here, before any worker starts. On Linux several
workers each accept on their own socket, so connections are spread evenly (:mod:`tsbot.apps.cli.api_workers`).
Logs are JSON lines on stderr (:func:`tsbot.apps.logs.configure_logging`); uvicorn's own access log is off, the
API writes its own with webhook tokens redacted.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer

from tsbot.apps.cli.common import console, err_console, run, settings_or_exit
from tsbot.config import Settings

#: The import string uvicorn calls in each worker.
APP_FACTORY = "tsbot.apps.api.app:app_from_settings"
#: Seconds a worker may take to start before uvicorn gives up on it and starts another.
WORKER_START_TIMEOUT_S = 120
#: The :class:`uvicorn.Config` options of every worker (host, port and the number of workers aside). A worker
#: imports the whole of tsbot before it answers uvicorn's health check: on a busy machine that takes longer than
#: uvicorn's default 5 s, and uvicorn would restart the worker again and again.
UVICORN_OPTIONS: dict[str, Any] = {
    "factory": True,
    "log_config": None,
    "access_log": False,
    "server_header": False,
    "lifespan": "on",
    "timeout_worker_healthcheck": WORKER_START_TIMEOUT_S,
}


async def _migrate(settings: Settings) -> None:
    from tsbot.adapters.storage.database import create_engine, upgrade

    engine = create_engine(settings.effective_database_url)
    try:
        await upgrade(engine)
    finally:
        await engine.dispose()


def api_command(
    host: Annotated[
        str | None, typer.Option(help="Address to listen on (default: settings api.host, 127.0.0.1).")
    ] = None,
    port: Annotated[
        int | None,
        typer.Option(min=1, max=65_535, help="Port to listen on (default: settings api.port, 8000)."),
    ] = None,
    workers: Annotated[
        int, typer.Option(min=1, max=64, help="Worker processes (each serves the whole API).")
    ] = 1,
) -> None:
    """Serve the platform API under /api/v1 (docs at /api/v1/docs) after migrating the database."""
    from tsbot.apps.cli.api_workers import serve
    from tsbot.apps.logs import configure_logging

    settings = settings_or_exit()
    configure_logging(settings)
    run(_migrate(settings))
    bind_host = host or settings.api.host
    bind_port = port or settings.api.port
    console.print(
        f"tsbot API on http://{bind_host}:{bind_port}/api/v1 ({workers} worker{'s' if workers > 1 else ''})",
        highlight=False,
    )
    try:
        status = serve(APP_FACTORY, host=bind_host, port=bind_port, workers=workers, options=UVICORN_OPTIONS)
    except OSError as exc:
        err_console.print(
            f"[red]cannot listen on {bind_host}:{bind_port}: {exc.strerror or exc}[/]", highlight=False
        )
        raise typer.Exit(1) from exc
    if status:
        raise typer.Exit(status)
