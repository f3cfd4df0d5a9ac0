"""What the API knows about the request in hand: its id, its client and, once authenticated, its user.

The values live in the ASGI scope's ``state`` dict, which is what ``request.state`` reads and writes, so pure ASGI
middleware, dependencies and exception handlers all see the same values:

* ``request.state.request_id``: set by the request-context middleware before anything else runs;
* ``request.state.user_id``: the authenticated principal, or absent while anonymous. Set it with
  :func:`set_user_id`, either from an :data:`Identify` hook given to ``create_app`` (runs before the rate limit,
  so the limit counts per user) or from an authentication dependency (then the orders limit and the access log see
  it, while the app-wide limit has already counted the request by client IP).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import HTTPConnection, Request
from starlette.types import Scope

#: Keys in ``scope["state"]``.
REQUEST_ID = "request_id"
USER_ID = "user_id"

#: Resolves the principal of a request before routing: the user id, or ``None`` when anonymous or the credentials
#: are missing or wrong (never raise for bad credentials: the route's own dependency answers 401). It must verify
#: what it reads (a token's signature), or a client could spread its requests over made-up users.
Identify = Callable[[Request], Awaitable[str | None]]


def scope_state(scope: Scope) -> dict[str, Any]:
    """The scope's ``state`` dict (created empty when the server gave none)."""
    state = scope.get("state")
    if state is None:
        state = scope["state"] = {}
    return state  # type: ignore[no-any-return]


def request_id_of(scope: Scope) -> str | None:
    """The request id given to this request by the request-context middleware."""
    state = scope.get("state")
    return state.get(REQUEST_ID) if state else None


def user_id_of(scope: Scope) -> str | None:
    """The authenticated user's id, or ``None`` while the request is anonymous."""
    state = scope.get("state")
    return state.get(USER_ID) if state else None


def set_user_id(connection: HTTPConnection, user_id: str) -> None:
    """Record the authenticated principal of a request (for the rate limits and the access log)."""
    scope_state(connection.scope)[USER_ID] = user_id


def route_template(scope: Scope) -> str | None:
    """The path template of the route that answered (``/api/v1/orders/{order_id}``, with the prefixes of every
    enclosing router), or ``None`` before routing or when no route matched."""
    included = scope.get("fastapi")
    if included:
        # FastAPI keeps the route's full path (include prefixes too) on its effective route context.
        template = getattr(included.get("effective_route_context"), "path_format", None)
        if template:
            return str(template)
    route = scope.get("route")
    template = getattr(route, "path_format", None) or getattr(route, "path", None)
    if template:
        return str(template)
    if "endpoint" in scope and "app_root_path" not in scope and not scope.get("path_params"):
        # A plain Starlette route without parameters (the OpenAPI schema); never a mount, whose paths are open-ended.
        return str(scope["path"])
    return None


def client_ip(scope: Scope) -> str:
    """The client's address as the server saw it (behind a proxy: run uvicorn with ``--proxy-headers`` and
    ``--forwarded-allow-ips`` so this is the original client), or ``"unknown"``."""
    client = scope.get("client")
    return client[0] if client else "unknown"


def limit_key(scope: Scope) -> str:
    """The rate-limit key of a request: ``user:<id>`` when authenticated, else ``ip:<address>``."""
    user = user_id_of(scope)
    return f"user:{user}" if user else f"ip:{client_ip(scope)}"
