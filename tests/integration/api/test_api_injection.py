"""SQL and script injection strings in every text field of every JSON body, and in every text query parameter, of
every route (SQLite and PostgreSQL), sent by an administrator (so every route runs its code): no answer is a 5xx,
and a store that keeps a text keeps it verbatim (the profile's display name is read back unchanged).

Bad input: ``'; DROP TABLE users; --``, ``" OR "1"="1``, ``<script>alert(1)</script>``, ``{{7*7}}``, a NUL byte, a
right-to-left override, 10,000 characters of text.
"""

from __future__ import annotations

import copy
import re
from typing import Any

from cryptography.fernet import Fernet
from tests.integration.api.conftest import Serve, sign_in
from tests.integration.api.test_route_walk import TEST_PREFIX, _example, _operations, _resolve

from tsbot.accounts.models import Role

INJECTIONS = (
    "'; DROP TABLE users; --",
    '" OR "1"="1',
    "<script>alert(1)</script>",
    "{{7*7}}${7*7}",
    "nul\x00byte",
    "\u202eevil",
    "x" * 10_000,
)
#: Routes that would end the session the test runs in.
SKIPPED = {("DELETE", "/api/v1/me/session"), ("POST", "/api/v1/auth/logout")}


def _string_paths(schema: dict[str, Any], node: dict[str, Any], value: Any, at: tuple[Any, ...] = ()) -> list:
    """Paths (key tuples) of the string fields in ``value`` (an example body built from ``node``)."""
    node = _resolve(schema, node)
    for key in ("anyOf", "oneOf"):
        if key in node:
            options = [o for o in node[key] if _resolve(schema, o).get("type") != "null"]
            return _string_paths(schema, options[0], value, at) if options else []
    if isinstance(value, dict):
        props = node.get("properties", {})
        return [
            p for k, v in value.items() if k in props for p in _string_paths(schema, props[k], v, (*at, k))
        ]
    if isinstance(value, str) and "enum" not in node:
        return [at]
    return []


def _with(body: Any, path: tuple[Any, ...], text: str) -> Any:
    out = copy.deepcopy(body)
    target = out
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = text
    return out


def _full_example(schema: dict[str, Any], node: dict[str, Any]) -> Any:
    """An example body with every property present (optional ones too), so every text field is tried."""
    node = _resolve(schema, node)
    if node.get("type") == "object" or "properties" in node:
        props = node.get("properties", {})
        body = {}
        for name, prop in props.items():
            value = _example(schema, prop)
            body[name] = value if value is not None else _example(schema, _first_option(schema, prop))
        return body
    return _example(schema, node)


def _first_option(schema: dict[str, Any], prop: dict[str, Any]) -> dict[str, Any]:
    prop = _resolve(schema, prop)
    options = [o for o in prop.get("anyOf", []) if _resolve(schema, o).get("type") != "null"]
    return options[0] if options else {"type": "string"}


async def test_injection_strings_never_cause_a_server_error(serve: Serve) -> None:
    limits = {"requests_per_hour": 1_000_000, "orders_per_hour": 1_000_000}
    security = {"encryption_keys": [Fernet.generate_key().decode()]}
    async with serve(api=limits, security=security) as api:
        admin = await sign_in(api, Role.ADMIN)
        schema = (await api.client.get("/api/v1/openapi.json")).json()
        failures, tried = [], 0
        for method, path, op in _operations(schema):
            if (method, path) in SKIPPED or path.startswith(TEST_PREFIX):
                continue
            url = re.sub(r"{\w+}", "none", path)
            content = op.get("requestBody", {}).get("content", {}).get("application/json")
            requests: list[dict[str, Any]] = []
            if content is not None:
                body = _full_example(schema, content["schema"])
                for field in _string_paths(schema, content["schema"], body):
                    requests += [{"json": _with(body, field, text)} for text in INJECTIONS]
            for param in op.get("parameters", []):
                if (
                    param["in"] == "query"
                    and _resolve(schema, param.get("schema", {})).get("type") == "string"
                ):
                    requests += [{"params": {param["name"]: text}} for text in INJECTIONS[:4]]
            for kwargs in requests:
                tried += 1
                answer = await api.client.request(method, url, headers=admin.headers, **kwargs)
                if answer.status_code >= 500:
                    failures.append(
                        f"{method} {path} {str(kwargs)[:120]}: {answer.status_code} {answer.text[:200]}"
                    )

        display = INJECTIONS[2]
        changed = await api.client.patch("/api/v1/me", headers=admin.headers, json={"display_name": display})
        assert changed.status_code == 200
        assert (await api.client.get("/api/v1/me", headers=admin.headers)).json()["display_name"] == display
    assert not failures, "\n".join(failures)
    assert tried > 100


async def test_nul_characters_and_lone_surrogates_are_refused_with_422(serve: Serve) -> None:
    """Bad input: a NUL escape and a lone-surrogate escape in a JSON body, a NUL in a form field and in a query
    string; an escaped backslash before ``u0000`` and an emoji written as a surrogate pair are accepted."""
    async with serve() as api:
        caller = await sign_in(api, Role.TRADER)
        h = {**caller.headers, "content-type": "application/json"}
        for raw in (rb'{"display_name": "a\u0000b"}', rb'{"display_name": "a\ud800b"}'):
            answer = await api.client.patch("/api/v1/me", headers=h, content=raw)
            assert answer.status_code == 422 and answer.json()["details"][0]["type"] == "bad_text", raw
        for raw, shown in (
            (rb'{"display_name": "a\\u0000b"}', "a\\u0000b"),
            (rb'{"display_name": "\ud83d\ude00"}', "😀"),
        ):
            answer = await api.client.patch("/api/v1/me", headers=h, content=raw)
            assert answer.status_code == 200 and answer.json()["display_name"] == shown
        form = await api.client.post("/api/v1/auth/token", data={"username": "a\x00b", "password": "x"})
        assert form.status_code == 422 and form.json()["details"][0]["type"] == "bad_text"
        query = await api.client.get("/api/v1/me/logins?limit=%00", headers=caller.headers)
        assert query.status_code == 422 and query.json()["details"][0]["type"] == "bad_text"
