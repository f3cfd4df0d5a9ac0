"""The middleware at the API's edge: request ids, security headers, CORS and the body-size limit."""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import AsyncIterator

import pytest
from tests.integration.api.conftest import Serve
from tests.integration.api.test_api_errors import assert_error

HEX_ID = re.compile(r"[0-9a-f]{32}")


async def test_a_well_formed_request_id_is_kept_and_returned(serve: Serve) -> None:
    async with serve() as api:
        given = await api.client.get("/api/v1/health", headers={"x-request-id": "edge-7f3a:retry.2"})
        fresh = [await api.client.get("/api/v1/health") for _ in range(2)]
    assert given.headers["x-request-id"] == "edge-7f3a:retry.2"
    ids = [r.headers["x-request-id"] for r in fresh]
    assert all(HEX_ID.fullmatch(i) for i in ids) and ids[0] != ids[1]


@pytest.mark.parametrize(
    "forged",
    [
        b"abc\r\nSet-Cookie: session=stolen",
        b"x" * 129,
        b"<script>alert(1)</script>",
        b"-starts-with-a-dash",
        b"\xff\xfe binary",
    ],
    ids=["header-injection", "too-long", "markup", "leading-dash", "non-ascii"],
)
async def test_a_forged_request_id_is_replaced(serve: Serve, forged: bytes) -> None:
    """Bad input: X-Request-ID values with CR/LF, 129 characters, markup, a leading dash and raw bytes."""
    async with serve() as api:
        # httpx refuses CR/LF in header values, so the raw header goes in through the ASGI scope directly.
        scope_headers = [(b"host", b"testserver"), (b"x-request-id", forged)]
        sent: list[dict[str, object]] = []

        async def receive() -> dict[str, object]:
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message: dict[str, object]) -> None:
            sent.append(message)

        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "GET",
            "scheme": "http",
            "path": "/api/v1/no-route",
            "raw_path": b"/api/v1/no-route",
            "query_string": b"",
            "root_path": "",
            "headers": scope_headers,
            "client": ("127.0.0.1", 50_000),
            "server": ("testserver", 80),
        }
        await api.app(scope, receive, send)
    start = sent[0]
    assert start["status"] == 404
    headers = dict(start["headers"])  # type: ignore[arg-type]
    assert HEX_ID.fullmatch(headers[b"x-request-id"].decode())
    assert b"set-cookie" not in headers
    assert forged not in b"".join(m.get("body", b"") for m in sent)  # type: ignore[misc]


async def test_security_headers_on_api_answers(serve: Serve) -> None:
    async with serve() as api:
        answers = [
            await api.client.get("/api/v1/health"),
            await api.client.get("/api/v1/missing"),
            await api.client.post("/api/v1/test/items", json={"name": ""}),
        ]
    for answer in answers:
        assert answer.headers["x-content-type-options"] == "nosniff"
        assert answer.headers["x-frame-options"] == "DENY"
        assert answer.headers["referrer-policy"] == "no-referrer"
        assert answer.headers["content-security-policy"].startswith("default-src 'none'")
        assert "frame-ancestors 'none'" in answer.headers["content-security-policy"]
        assert "strict-transport-security" not in answer.headers  # public_url is http://


async def test_hsts_is_sent_when_the_public_url_is_https(serve: Serve) -> None:
    async with serve(api={"public_url": "https://tsbot.example.com"}) as api:
        answer = await api.client.get("/api/v1/health")
    assert answer.headers["strict-transport-security"] == "max-age=31536000; includeSubDomains"


async def test_docs_page_and_schema_are_served_with_a_csp_that_allows_the_page(serve: Serve) -> None:
    async with serve() as api:
        docs = await api.client.get("/api/v1/docs")
        schema = await api.client.get("/api/v1/openapi.json")
    assert docs.status_code == 200 and "SwaggerUIBundle" in docs.text
    assert "/api/v1/openapi.json" in docs.text
    csp = docs.headers["content-security-policy"]
    [script] = re.findall(r"<script>(.*?)</script>", docs.text, re.DOTALL)
    digest = base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
    assert f"'sha256-{digest}'" in csp  # the page's own inline script may run, no other
    assert "'unsafe-inline'" not in csp.split("script-src")[1].split(";")[0]
    assert "https://cdn.jsdelivr.net" in csp and "connect-src 'self'" in csp
    assert schema.status_code == 200
    paths = schema.json()["paths"]
    assert {"/api/v1/health", "/api/v1/ready", "/api/v1/metrics"} <= set(paths)


CORS = {"cors_origins": ["https://app.example.com"]}


async def test_cors_allows_the_configured_origin_only(serve: Serve) -> None:
    """Bad input: a preflight from an origin that is not configured."""
    preflight = {"access-control-request-method": "POST", "access-control-request-headers": "content-type"}
    async with serve(api=CORS) as api:
        allowed = await api.client.options(
            "/api/v1/test/items", headers={"origin": "https://app.example.com", **preflight}
        )
        refused = await api.client.options(
            "/api/v1/test/items", headers={"origin": "https://evil.example", **preflight}
        )
        simple = await api.client.get("/api/v1/health", headers={"origin": "https://app.example.com"})
        foreign = await api.client.get("/api/v1/health", headers={"origin": "https://evil.example"})
    assert allowed.status_code == 200
    assert allowed.headers["access-control-allow-origin"] == "https://app.example.com"
    assert "POST" in allowed.headers["access-control-allow-methods"]
    body = assert_error(refused, 400, "cors_refused")
    assert "origin" in body["message"]
    assert simple.headers["access-control-allow-origin"] == "https://app.example.com"
    assert "x-request-id" in simple.headers["access-control-expose-headers"].lower()
    assert "access-control-allow-origin" not in foreign.headers


async def test_no_cors_headers_without_configured_origins(serve: Serve) -> None:
    async with serve() as api:
        answer = await api.client.get("/api/v1/health", headers={"origin": "https://app.example.com"})
    assert "access-control-allow-origin" not in answer.headers


LIMIT = {"max_body_bytes": 2048}


async def test_a_declared_oversized_body_is_refused_before_the_route_runs(serve: Serve) -> None:
    """Bad input: a 5,000-byte JSON body with its Content-Length, where the limit is 2,048 bytes."""
    async with serve(api=LIMIT) as api:
        answer = await api.client.post("/api/v1/test/items", json={"name": "n" * 5_000, "qty": 1})
        fits = await api.client.post("/api/v1/test/items", json={"name": "n" * 1_500, "qty": 1})
    body = assert_error(answer, 413, "payload_too_large")
    assert body["details"] == {"max_body_bytes": 2048}
    assert answer.headers["x-frame-options"] == "DENY"
    assert fits.status_code == 200


@pytest.mark.parametrize("route", ["/api/v1/test/items", "/api/v1/test/raw"])
async def test_a_chunked_oversized_body_is_refused_while_read(serve: Serve, route: str) -> None:
    """Bad input: 3 chunks of 1,000 bytes with no Content-Length (Transfer-Encoding: chunked), limit 2,048."""

    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"name": "' + b"n" * 990
        for _ in range(2):
            yield b"n" * 1_000
        yield b'", "qty": 1}'

    async with serve(api=LIMIT) as api:
        answer = await api.client.post(route, content=chunks(), headers={"content-type": "application/json"})

        async def small() -> AsyncIterator[bytes]:
            yield b'{"name": "a",'
            yield b' "qty": 2}'

        fits = await api.client.post(route, content=small(), headers={"content-type": "application/json"})
    assert "content-length" not in answer.request.headers
    assert_error(answer, 413, "payload_too_large")
    assert fits.status_code == 200, fits.text
