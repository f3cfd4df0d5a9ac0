"""A tiny ASGI app answering the process id of the worker that serves the request, and a runner of
:func:`tsbot.apps.cli.api_workers.serve` for it: ``python -m tests.support.pid_app PORT WORKERS [APP]``.

``APP`` defaults to ``tests.support.pid_app:app``; ``tests.support.pid_app:broken`` is a factory that raises, so
the worker's app fails to start."""

from __future__ import annotations

import os
import sys
from typing import Any

from tsbot.apps.cli.api_workers import serve


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    body = str(os.getpid()).encode()
    headers = [(b"content-type", b"text/plain"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def broken() -> Any:
    raise RuntimeError("this app cannot start")


if __name__ == "__main__":
    port, workers = int(sys.argv[1]), int(sys.argv[2])
    target = sys.argv[3] if len(sys.argv) > 3 else "tests.support.pid_app:app"
    options = {"log_level": "info", "factory": target.endswith(":broken"), "lifespan": "off"}
    sys.exit(serve(target, host="127.0.0.1", port=port, workers=workers, options=options))
