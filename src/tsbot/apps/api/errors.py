"""Every error the API answers, in one place and one shape.

Body of every error answer (``Content-Type: application/json``)::

    {"type": "not_found", "message": "unknown symbol 'X'; known symbols: ...", "details": null,
     "request_id": "4c1f..."}

``type`` is a stable snake_case word a client can branch on; ``message`` is for people; ``details`` is ``null`` or
structured data (the fields of a validation error, the limit that was hit); ``request_id`` repeats the
``X-Request-ID`` response header, so a user's report can be matched with the logs.

Mapping of tsbot's errors (:mod:`tsbot.core.errors`), most specific class first; add more with
:func:`register_error`:

==================  ======  ==============================================================================
error               status  type
==================  ======  ==============================================================================
NotFoundError       404     ``not_found``
DataError           422     ``invalid_data``
ConfigError         400     ``invalid_configuration``
OperationalError    400     ``operation_failed``
TemporaryError      503     ``temporarily_unavailable`` (with ``Retry-After``; ``exc.retry_after_s`` or 5)
ExchangeError       502     ``exchange_error``
other TsbotError    400     ``error``
any other error     500     ``internal_error``: a generic message; the error is logged with the request id
==================  ======  ==============================================================================
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from http import HTTPStatus
from typing import Any

import structlog
from fastapi import FastAPI
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tsbot.apps.api.context import request_id_of, route_template
from tsbot.core.errors import (
    ConfigError,
    DataError,
    ExchangeError,
    NotFoundError,
    OperationalError,
    TemporaryError,
    TsbotError,
)

_log = structlog.get_logger("tsbot.api.errors")

#: Seconds a client is asked to wait after a temporary failure that names no time of its own.
DEFAULT_RETRY_AFTER_S = 5
INTERNAL_MESSAGE = "internal error; the request id identifies it in the server's logs"


class ErrorOut(BaseModel):
    """The body of every error answer (see the module docstring)."""

    type: str = Field(description="a stable snake_case word to branch on, e.g. not_found")
    message: str = Field(description="what went wrong, for people")
    details: Any = Field(None, description="structured data: the fields of a validation error, a limit ...")
    request_id: str | None = Field(None, description="the X-Request-ID of the answer, to find it in the logs")


def _documented(description: str) -> dict[str, Any]:
    return {"model": ErrorOut, "description": description}


#: Error answers every route may give, documented on each (a route adds its own with ``responses=``).
COMMON_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: _documented("the request cannot be carried out as asked (the message says why)"),
    413: _documented("the body is over api.max_body_bytes"),
    415: _documented("the body is not JSON"),
    422: _documented("the request is invalid: `details` lists the fields"),
    429: _documented("a rate limit was hit; Retry-After says when to try again"),
    500: _documented("an unexpected error; the request id finds it in the server's logs"),
    503: _documented("a dependency is unavailable; Retry-After says when to try again"),
}
#: Error answers of routes that need credentials.
AUTH_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: _documented("no credentials, or they are wrong, expired or revoked"),
    403: _documented("signed in, but not allowed: a permission is missing or the account is inactive"),
    404: _documented("no such object, or it belongs to another user"),
    409: _documented("the request conflicts with the current state"),
}

_TYPE_OF_STATUS = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_error",
    429: "rate_limited",
    500: "internal_error",
    502: "bad_gateway",
    503: "unavailable",
}

#: Headers an error's answer carries, computed from the error (``Retry-After``, ``WWW-Authenticate``).
ErrorHeaders = Callable[[TsbotError], Mapping[str, str]]

#: tsbot error class -> headers of its answer; looked up along the raised class's MRO.
_HEADERS: dict[type[TsbotError], ErrorHeaders] = {}

#: tsbot error class -> (HTTP status, error type); looked up along the raised class's MRO.
_ERRORS: dict[type[TsbotError], tuple[int, str]] = {
    NotFoundError: (404, "not_found"),
    DataError: (422, "invalid_data"),
    ConfigError: (400, "invalid_configuration"),
    OperationalError: (400, "operation_failed"),
    TemporaryError: (503, "temporarily_unavailable"),
    ExchangeError: (502, "exchange_error"),
    TsbotError: (400, "error"),
}


def register_error(
    error: type[TsbotError], status: int, error_type: str, *, headers: ErrorHeaders | None = None
) -> None:
    """Answer ``error`` (and its subclasses without a mapping of their own) with ``status`` and ``error_type``,
    and with the headers ``headers(exc)`` returns when given (inherited by subclasses the same way).

    For a domain's own errors, e.g. ``register_error(PermissionDeniedError, 403, "forbidden")``.
    """
    _ERRORS[error] = (status, error_type)
    if headers is not None:
        _HEADERS[error] = headers


def headers_of(exc: TsbotError) -> dict[str, str]:
    """The extra headers registered for ``exc``'s class (nearest along its MRO), or none."""
    for cls in type(exc).__mro__:
        if cls in _HEADERS:
            return dict(_HEADERS[cls](exc))  # type: ignore[index]
    return {}


def status_of(exc: TsbotError) -> tuple[int, str]:
    """The HTTP status and error type for a tsbot error (see the module docstring)."""
    for cls in type(exc).__mro__:
        if cls in _ERRORS:
            return _ERRORS[cls]  # type: ignore[index]
    return 400, "error"


def type_of_status(status: int) -> str:
    """The error type word for an HTTP status (``404`` -> ``not_found``)."""
    known = _TYPE_OF_STATUS.get(status)
    if known is not None:
        return known
    try:
        return HTTPStatus(status).phrase.lower().replace(" ", "_").replace("-", "_")
    except ValueError:
        return "error"


class ApiError(HTTPException):
    """An error answer raised from routes, dependencies or middleware: status, type, message and details."""

    def __init__(
        self,
        status_code: int,
        message: str,
        *,
        error_type: str | None = None,
        details: Any = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(status_code=status_code, detail=message, headers=headers)
        self.error_type = error_type or type_of_status(status_code)
        self.details = details


class BodyTooLargeError(ApiError):
    """The request body is larger than ``settings.api.max_body_bytes`` (413)."""

    def __init__(self, limit: int) -> None:
        super().__init__(
            413,
            f"request body is larger than the limit of {limit} bytes",
            details={"max_body_bytes": limit},
        )


class UnsupportedMediaTypeError(ApiError):
    """A JSON route received a body that is not declared as JSON (415)."""

    def __init__(self, content_type: str | None) -> None:
        super().__init__(
            415,
            "this route takes a JSON body: send it with Content-Type: application/json",
            details={"content_type": content_type},
        )


class RateLimitedError(ApiError):
    """A rate limit was hit (429); ``Retry-After`` says in how many seconds the window frees up."""

    def __init__(self, limit_name: str, limit: int, window_s: int, retry_after_s: int) -> None:
        super().__init__(
            429,
            f"rate limit reached: {limit} {limit_name} per {window_s} s; retry in {retry_after_s} s",
            details={"limit": limit_name, "max": limit, "window_s": window_s, "retry_after_s": retry_after_s},
            headers={"Retry-After": str(retry_after_s)},
        )


def error_body(error_type: str, message: str, details: Any = None, request_id: str | None = None) -> bytes:
    """The JSON bytes of an error answer (see the module docstring)."""
    payload = {"type": error_type, "message": message, "details": details, "request_id": request_id}
    return json.dumps(payload, separators=(",", ":"), default=str).encode()


def error_response(
    status: int,
    error_type: str,
    message: str,
    *,
    details: Any = None,
    request_id: str | None = None,
    headers: Mapping[str, str] | None = None,
) -> Response:
    """An error answer as a Starlette response."""
    return Response(
        error_body(error_type, message, details, request_id),
        status_code=status,
        media_type="application/json",
        headers=dict(headers) if headers else None,
    )


async def send_error(
    send: Send,
    scope: Scope,
    status: int,
    error_type: str,
    message: str,
    *,
    details: Any = None,
    headers: list[tuple[bytes, bytes]] | None = None,
) -> None:
    """Send an error answer straight from pure ASGI middleware (no response object)."""
    body = error_body(error_type, message, details, request_id_of(scope))
    raw = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        *(headers or ()),
    ]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    rid = request_id_of(request.scope)
    if isinstance(exc, ApiError):
        return error_response(
            exc.status_code,
            exc.error_type,
            str(exc.detail),
            details=jsonable_encoder(exc.details),
            request_id=rid,
            headers=exc.headers,
        )
    if exc.status_code in (204, 304):
        return Response(status_code=exc.status_code, headers=exc.headers)
    if isinstance(exc.detail, str):
        message, details = exc.detail, None
    else:
        message, details = HTTPStatus(exc.status_code).phrase, jsonable_encoder(exc.detail)
    return error_response(
        exc.status_code,
        type_of_status(exc.status_code),
        message,
        details=details,
        request_id=rid,
        headers=exc.headers,
    )


def _field_errors(exc: RequestValidationError) -> list[dict[str, Any]]:
    """Each error's location, message and type; the input is left out (it may be a password)."""
    return [
        {
            "loc": [str(part) for part in err.get("loc", ())],
            "message": err.get("msg", ""),
            "type": err.get("type"),
        }
        for err in exc.errors()
    ]


async def _validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    errors = exc.errors()
    if errors and errors[0].get("type") == "json_invalid":
        reason = (errors[0].get("ctx") or {}).get("error", "")
        position = errors[0].get("loc", ("body", "?"))[-1]
        message = f"request body is not valid JSON: {reason} at character {position}"
    else:
        message = "request is invalid: " + "; ".join(
            f"{'.'.join(str(p) for p in e.get('loc', ()))}: {e.get('msg', '')}" for e in errors[:5]
        )
    return error_response(
        422,
        "validation_error",
        message,
        details=_field_errors(exc),
        request_id=request_id_of(request.scope),
    )


async def _tsbot_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, TsbotError)
    status, error_type = status_of(exc)
    headers = headers_of(exc)
    if status == 503:
        retry_after = getattr(exc, "retry_after_s", None) or DEFAULT_RETRY_AFTER_S
        headers["Retry-After"] = str(int(retry_after))
    if status >= 500:
        _log.warning("http.dependency_failed", error=type(exc).__name__, message=str(exc), status=status)
    return error_response(
        status, error_type, str(exc), request_id=request_id_of(request.scope), headers=headers or None
    )


def install_error_handlers(app: FastAPI) -> None:
    """Answer HTTP exceptions (FastAPI's and :class:`ApiError`), validation errors and tsbot errors in the JSON
    shape. Unexpected exceptions are answered by :class:`CatchAllMiddleware`."""
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(TsbotError, _tsbot_error)


#: Called with the request's scope and the unexpected exception (for a metrics counter).
OnUnhandled = Callable[[Scope, BaseException], None]


class CatchAllMiddleware:
    """Pure ASGI: any exception that escapes the routes and handlers becomes a 500 JSON answer with a generic
    message; the exception and its traceback are logged (``http.unhandled_error``) with the request id.

    Place it innermost among the app's middleware so the 500 passes through the others (request id, security
    headers, rate-limit headers). If the response had already started, the exception is re-raised so the server
    drops the connection.
    """

    def __init__(self, app: ASGIApp, on_unhandled: OnUnhandled | None = None) -> None:
        self.app = app
        self.on_unhandled = on_unhandled

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception as exc:
            _log.exception(
                "http.unhandled_error",
                error=type(exc).__name__,
                method=scope.get("method"),
                route=route_template(scope),
                request_id=request_id_of(scope),
            )
            if self.on_unhandled is not None:
                self.on_unhandled(scope, exc)
            if started:
                raise
            await send_error(send, scope, 500, "internal_error", INTERNAL_MESSAGE)
