"""Every error answered in one JSON shape, with the request id: bad input, unknown routes, tsbot errors and an
unexpected exception."""

from __future__ import annotations

import io
import json

import pytest
from tests.integration.api.conftest import Serve

from tsbot.apps.logs import configure_logging
from tsbot.config import load_settings

SHAPE = {"type", "message", "details", "request_id"}


def assert_error(response: object, status: int, error_type: str) -> dict[str, object]:
    """The answer has ``status``, a JSON body of the error shape with ``error_type``, and the request id of its
    X-Request-ID header."""
    assert response.status_code == status, response.text  # type: ignore[attr-defined]
    assert response.headers["content-type"] == "application/json"  # type: ignore[attr-defined]
    body = response.json()  # type: ignore[attr-defined]
    assert set(body) == SHAPE
    assert body["type"] == error_type
    assert body["request_id"] == response.headers["x-request-id"]  # type: ignore[attr-defined]
    return body  # type: ignore[no-any-return]


async def test_unknown_route_is_a_json_404(serve: Serve) -> None:
    """Bad input: a path no route serves, and a method the route does not take."""
    async with serve() as api:
        assert_error(await api.client.get("/api/v1/no-such-thing"), 404, "not_found")
        assert_error(await api.client.delete("/api/v1/health"), 405, "method_not_allowed")


async def test_malformed_json_is_a_422_naming_the_position(serve: Serve) -> None:
    """Bad input: a JSON body cut off in the middle."""
    async with serve() as api:
        response = await api.client.post(
            "/api/v1/test/items",
            content=b'{"name": "a", "qty": ',
            headers={"content-type": "application/json"},
        )
    body = assert_error(response, 422, "validation_error")
    assert "not valid JSON" in body["message"]
    assert body["details"][0]["type"] == "json_invalid"


async def test_invalid_fields_are_a_422_with_field_details_and_no_input_echo(serve: Serve) -> None:
    """Bad input: an empty name, a negative quantity and a password-like value that must not be echoed."""
    async with serve() as api:
        response = await api.client.post(
            "/api/v1/test/items", json={"name": "", "qty": -3, "extra": "hunter2-password"}
        )
    body = assert_error(response, 422, "validation_error")
    fields = {tuple(d["loc"]): d["type"] for d in body["details"]}
    assert fields == {("body", "name"): "string_too_short", ("body", "qty"): "greater_than_equal"}
    assert all(set(d) == {"loc", "message", "type"} for d in body["details"])
    assert "hunter2" not in response.text


@pytest.mark.parametrize(
    "content_type", ["text/plain", "application/x-www-form-urlencoded", None], ids=["text", "form", "missing"]
)
async def test_wrong_content_type_on_a_json_route_is_a_415(serve: Serve, content_type: str | None) -> None:
    """Bad input: a JSON document sent as text/plain, as a form, and with no Content-Type at all."""
    headers = {"content-type": content_type} if content_type else {}
    async with serve() as api:
        response = await api.client.post(
            "/api/v1/test/items", content=b'{"name": "a", "qty": 1}', headers=headers
        )
        good = await api.client.post(
            "/api/v1/test/items",
            content=b'{"name": "a", "qty": 1}',
            headers={"content-type": "application/json; charset=utf-8"},
        )
    body = assert_error(response, 415, "unsupported_media_type")
    assert body["details"] == {"content_type": content_type}
    assert good.status_code == 200 and good.json() == {"name": "a", "qty": 1}


async def test_form_and_raw_routes_are_not_held_to_json(serve: Serve) -> None:
    async with serve() as api:
        form = await api.client.post("/api/v1/test/form", data={"name": "abc"})
        raw = await api.client.post(
            "/api/v1/test/raw", content=b"plain words", headers={"content-type": "text/plain"}
        )
    assert form.status_code == 200 and form.json() == {"name": "abc"}
    assert raw.status_code == 200 and raw.json() == {"bytes": 11}


@pytest.mark.parametrize(
    "kind, status, error_type, message",
    [
        ("not-found", 404, "not_found", "no series BTC/USDT 1h on binance"),
        ("data", 422, "invalid_data", "the candle file has a row with high < low"),
        ("config", 400, "invalid_configuration", "trading.timeframe: '7m' is not a timeframe"),
        ("temporary", 503, "temporarily_unavailable", "the exchange timed out"),
        ("http", 401, "unauthorized", "sign in first"),
    ],
)
async def test_tsbot_and_http_errors_map_to_status_codes(
    serve: Serve, kind: str, status: int, error_type: str, message: str
) -> None:
    async with serve() as api:
        response = await api.client.get(f"/api/v1/test/raise/{kind}")
    body = assert_error(response, status, error_type)
    assert body["message"] == message
    if status == 503:
        assert response.headers["retry-after"] == "5"
    if status == 401:
        assert response.headers["www-authenticate"] == "Bearer"


async def test_http_exception_with_structured_detail_keeps_it_in_details(serve: Serve) -> None:
    async with serve() as api:
        body = assert_error(await api.client.get("/api/v1/test/raise/http-detail"), 409, "conflict")
    assert body["message"] == "Conflict" and body["details"] == {"conflict": "name taken"}


async def test_unexpected_exception_is_a_generic_500_logged_with_the_request_id(
    serve: Serve, restore_logging: None
) -> None:
    """Bad input: none; the route raises RuntimeError whose text holds a path and a password."""
    out = io.StringIO()
    configure_logging(load_settings(), stream=out)
    async with serve() as api:
        response = await api.client.get("/api/v1/test/boom", headers={"x-request-id": "trace-boom-1"})
        again = await api.client.get("/api/v1/health")
    body = assert_error(response, 500, "internal_error")
    assert body["request_id"] == "trace-boom-1"
    for internal in ("hunter2", "RuntimeError", "/srv"):
        assert internal not in response.text
    # the 500 still passed through the security headers
    assert response.headers["x-content-type-options"] == "nosniff"
    assert again.status_code == 200  # the app goes on serving
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    [error] = [line for line in lines if line["event"] == "http.unhandled_error"]
    assert error["request_id"] == "trace-boom-1" and error["level"] == "error"
    assert error["error"] == "RuntimeError" and error["route"] == "/api/v1/test/boom"
    assert "RuntimeError" in error["exception"] and "hunter2" not in out.getvalue()
    [access] = [line for line in lines if line["event"] == "http.request" and line["status"] == 500]
    assert access["request_id"] == "trace-boom-1"
