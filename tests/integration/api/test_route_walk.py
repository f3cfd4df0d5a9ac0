"""One walk over every route of the OpenAPI schema proves the authorization rules (SQLite and PostgreSQL):

* every route but the public ones declares its permissions (OAuth2 scopes), and the public ones are listed here;
* no token -> 401;
* a role without one of the route's permissions -> 403;
* another user's object -> 404: each path parameter naming an object is filled with an object of user A (made by
  the ``owned_objects`` function of the test module of that route), and user B, who holds the route's
  permissions, is refused with 404, never 403 (which would tell the object exists) and never served.

A new path parameter must be made by some test module's ``owned_objects`` or be listed in :data:`NOT_OWNED`, and a
new route without permissions must be listed in :data:`PUBLIC`, or this test fails and says which.
"""

from __future__ import annotations

import importlib
import pkgutil
import re
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography.fernet import Fernet
from tests.integration.api import __path__ as api_tests_path
from tests.integration.api.conftest import Api, Caller, Serve, sign_in

from tsbot.accounts.models import ROLE_PERMISSIONS, Permission, Role

#: Routes anyone may call (signing up and in, liveness, the webhook whose token is in its path).
PUBLIC = {
    ("GET", "/api/v1/health"),
    ("GET", "/api/v1/ready"),
    ("GET", "/api/v1/metrics"),
    ("POST", "/api/v1/auth/register"),
    ("POST", "/api/v1/auth/verify-email"),
    ("POST", "/api/v1/auth/resend-verification"),
    ("POST", "/api/v1/auth/login"),
    ("POST", "/api/v1/auth/token"),
    ("POST", "/api/v1/auth/refresh"),
    ("POST", "/api/v1/auth/logout"),
    ("POST", "/api/v1/auth/password/forgot"),
    ("POST", "/api/v1/auth/password/reset"),
    ("POST", "/api/v1/webhooks/tradingview/{token}"),
}
#: Path parameters that do not name an object some user owns (market symbols, an admin's target user ...).
NOT_OWNED = {"symbol", "asset", "provider", "section", "user_id", "token"}
#: Routes of the test router the API tests mount.
TEST_PREFIX = "/api/v1/test/"

OwnedObjects = Callable[[Api, Caller], Awaitable[dict[str, str]]]


def _providers() -> list[OwnedObjects]:
    found = []
    for module in pkgutil.iter_modules(api_tests_path):
        if module.name.startswith("test_") and module.name != "test_route_walk":
            loaded = importlib.import_module(f"tests.integration.api.{module.name}")
            if callable(getattr(loaded, "owned_objects", None)):
                found.append(loaded.owned_objects)
    return found


def _operations(schema: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    ops = []
    for path, item in schema["paths"].items():
        if path.startswith(TEST_PREFIX):
            continue
        for method, op in item.items():
            if method in {"get", "post", "put", "patch", "delete"}:
                ops.append((method.upper(), path, op))
    return ops


def _scopes(op: dict[str, Any]) -> list[str] | None:
    """The route's permissions, or ``None`` when it declares no security at all."""
    for requirement in op.get("security", []):
        if "OAuth2PasswordBearer" in requirement:
            return list(requirement["OAuth2PasswordBearer"])
    return None


def _role_without(scopes: list[str]) -> Role | None:
    for role in (Role.VIEWER, Role.API_USER, Role.TRADER):
        if not {Permission(s) for s in scopes} <= ROLE_PERMISSIONS[role]:
            return role
    return None


def _role_with(scopes: list[str]) -> Role:
    for role in (Role.TRADER, Role.VIEWER, Role.API_USER, Role.ADMIN):
        if {Permission(s) for s in scopes} <= ROLE_PERMISSIONS[role]:
            return role
    raise AssertionError(f"no role holds {scopes}")


# ---- a minimal valid request body from the schema (so the 404 check reaches the route, not the validation) ----

_CANDIDATES = ("1", "10", "BTC/USDT", "BTC", "binance", "1h", "x1", "123456", "a@example.com")


def _resolve(schema: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        name = node["$ref"].rsplit("/", 1)[-1]
        node = schema["components"]["schemas"][name]
    return node


def _example(schema: dict[str, Any], node: dict[str, Any]) -> Any:  # noqa: C901, PLR0911 (one branch per type)
    node = _resolve(schema, node)
    if "default" in node and node["default"] is not None:
        return node["default"]
    if "enum" in node:
        return node["enum"][0]
    if "const" in node:
        return node["const"]
    for key in ("anyOf", "oneOf", "allOf"):
        if key in node:
            options = [o for o in node[key] if _resolve(schema, o).get("type") != "null"]
            return _example(schema, options[0]) if options else None
    kind = node.get("type")
    if kind == "object" or "properties" in node:
        props = node.get("properties", {})
        return {name: _example(schema, props[name]) for name in node.get("required", [])}
    if kind == "array":
        return [_example(schema, node.get("items", {})) for _ in range(node.get("minItems", 0))]
    if kind in ("integer", "number"):
        low = node.get("minimum", node.get("exclusiveMinimum", 0) + 1)
        return int(low) if kind == "integer" else float(low)
    if kind == "boolean":
        return False
    if kind == "string":
        if node.get("format") == "date-time":
            return (datetime.now(UTC) + timedelta(days=1)).isoformat()
        if node.get("format") == "email":
            return "someone@example.com"
        pattern = node.get("pattern")
        for candidate in _CANDIDATES:
            if (pattern is None or re.search(pattern, candidate)) and len(candidate) >= node.get(
                "minLength", 0
            ):
                return candidate
        return "x" * max(1, node.get("minLength", 1))
    return None


def _body(schema: dict[str, Any], op: dict[str, Any]) -> dict[str, Any]:
    content = op.get("requestBody", {}).get("content", {})
    if "application/json" in content:
        return {"json": _example(schema, content["application/json"]["schema"])}
    if "application/x-www-form-urlencoded" in content:
        return {"data": _example(schema, content["application/x-www-form-urlencoded"]["schema"])}
    return {}


async def test_every_route_declares_its_permission_and_keeps_other_users_out(serve: Serve) -> None:
    limits = {"requests_per_hour": 100_000, "orders_per_hour": 100_000}
    security = {"encryption_keys": [Fernet.generate_key().decode()]}
    async with serve(api=limits, security=security) as api:
        schema = (await api.client.get("/api/v1/openapi.json")).json()
        operations = _operations(schema)
        callers = {role: await sign_in(api, role) for role in Role}
        owner = await sign_in(api, Role.ADMIN)
        objects: dict[str, str] = {}
        for provider in _providers():
            objects.update(await provider(api, owner))

        undeclared, unowned, failures = [], set(), []
        for method, path, op in operations:
            scopes = _scopes(op)
            if scopes is None:
                if (method, path) not in PUBLIC:
                    undeclared.append(f"{method} {path}")
                continue
            params = re.findall(r"{(\w+)}", path)
            unowned.update(p for p in params if p not in NOT_OWNED and p not in objects)
            url = path.format(**{p: objects.get(p, "none") for p in params})

            anonymous = await api.client.request(method, url)
            if anonymous.status_code != 401:
                failures.append(f"{method} {path} without a token: {anonymous.status_code}, not 401")
            lacking = _role_without(scopes)
            if lacking is not None:
                refused = await api.client.request(method, url, headers=callers[lacking].headers)
                if refused.status_code != 403:
                    failures.append(f"{method} {path} as {lacking.value}: {refused.status_code}, not 403")
            owned = [p for p in params if p not in NOT_OWNED and p in objects]
            if owned:
                stranger = callers[_role_with(scopes)]
                answer = await api.client.request(method, url, headers=stranger.headers, **_body(schema, op))
                if answer.status_code != 404:
                    failures.append(
                        f"{method} {path} on another user's {', '.join(owned)}: {answer.status_code}, not 404"
                        f" ({answer.text[:160]})"
                    )

        assert not undeclared, (
            f"routes without a permission (add requires(...) or list in PUBLIC): {undeclared}"
        )
        assert not unowned, f"path parameters no test module's owned_objects makes: {sorted(unowned)}"
        assert not failures, "\n".join(failures)
        assert len(operations) >= 20
