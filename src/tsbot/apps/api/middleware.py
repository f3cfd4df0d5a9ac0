"""Request guards at the edge of the API: security headers, the body-size limit and the JSON Content-Type check.

The two middlewares are pure ASGI (no ``BaseHTTPMiddleware``): each wraps ``send`` or ``receive`` with a small
closure and does no other work per request. The Content-Type check is an app-wide dependency, because only the
route knows whether it takes a JSON body.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from collections.abc import Mapping

import structlog
from fastapi import params
from starlette.datastructures import Headers
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tsbot.apps.api.context import USER_ID, Identify, scope_state
from tsbot.apps.api.errors import (
    ApiError,
    BodyTooLargeError,
    UnsupportedMediaTypeError,
    error_response,
    send_error,
)

_log = structlog.get_logger("tsbot.api.middleware")

#: For JSON answers: nothing may be loaded, framed or submitted.
API_CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
#: Where the Swagger UI page loads its script, stylesheet and icon from (FastAPI's defaults).
DOCS_ASSET_ORIGIN = "https://cdn.jsdelivr.net"
DOCS_ICON_ORIGIN = "https://fastapi.tiangolo.com"
#: One year, in seconds (the usual HSTS max-age).
HSTS_MAX_AGE_S = 31_536_000

_INLINE_SCRIPT = re.compile(r"<script>(.*?)</script>", re.DOTALL)


def docs_csp(html: str) -> str:
    """A Content-Security-Policy for the Swagger UI page ``html``: its own inline script allowed by SHA-256 hash,
    assets from the CDN, API calls to this origin only."""
    hashes = " ".join(
        "'sha256-" + base64.b64encode(hashlib.sha256(script.encode()).digest()).decode() + "'"
        for script in _INLINE_SCRIPT.findall(html)
    )
    return (
        f"default-src 'none'; script-src {DOCS_ASSET_ORIGIN} {hashes}; "
        f"style-src {DOCS_ASSET_ORIGIN} 'unsafe-inline'; img-src 'self' data: {DOCS_ICON_ORIGIN}; "
        "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
    )


def _header_list(csp: str, hsts: bool) -> list[tuple[bytes, bytes]]:
    headers = [
        (b"x-content-type-options", b"nosniff"),
        (b"x-frame-options", b"DENY"),
        (b"referrer-policy", b"no-referrer"),
        (b"content-security-policy", csp.encode()),
    ]
    if hsts:
        headers.append(
            (b"strict-transport-security", f"max-age={HSTS_MAX_AGE_S}; includeSubDomains".encode())
        )
    return headers


class SecurityHeadersMiddleware:
    """Adds ``X-Content-Type-Options: nosniff``, ``X-Frame-Options: DENY``, ``Referrer-Policy: no-referrer``, a
    ``Content-Security-Policy`` (:data:`API_CSP`, or the one given for a path in ``page_csp``) and, when ``hsts``
    (the public URL is https), ``Strict-Transport-Security`` to every HTTP answer. Header lists are built once."""

    def __init__(self, app: ASGIApp, *, hsts: bool, page_csp: Mapping[str, str] | None = None) -> None:
        self.app = app
        self._default = _header_list(API_CSP, hsts)
        self._by_path = {path: _header_list(csp, hsts) for path, csp in (page_csp or {}).items()}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        extra = self._by_path.get(scope["path"], self._default)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", ()), *extra]
            await send(message)

        await self.app(scope, receive, send_with_headers)


class BodyLimitMiddleware:
    """Answers 413 (JSON error shape) to a request body over ``max_body_bytes``.

    A declared ``Content-Length`` over the limit is refused before the app runs; a body without one (chunked) is
    counted as it is read and the read that crosses the limit raises :class:`BodyTooLargeError`, which the error
    handlers answer (or this middleware, if the app let it escape). Requests without a body pass untouched.
    """

    def __init__(self, app: ASGIApp, max_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.max_body_bytes
        has_body = False
        for name, value in scope["headers"]:
            if name == b"content-length":
                has_body = True
                if value.isdigit() and int(value) > limit:
                    await self._refuse(scope, send)
                    return
            elif name == b"transfer-encoding":
                has_body = True
        if not has_body:
            await self.app(scope, receive, send)
            return
        received = 0
        started = False

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLargeError(limit)
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except BodyTooLargeError:
            if started:
                raise
            await self._refuse(scope, send)

    async def _refuse(self, scope: Scope, send: Send) -> None:
        error = BodyTooLargeError(self.max_body_bytes)
        await send_error(
            send,
            scope,
            413,
            error.error_type,
            str(error.detail),
            details=error.details,
            headers=[(b"connection", b"close")],
        )


class JsonCORSMiddleware(CORSMiddleware):
    """Starlette's CORS middleware whose refused preflight (origin, method or header not allowed) is answered in
    the JSON error shape (400, type ``cors_refused``) instead of plain text."""

    def preflight_response(self, request_headers: Headers) -> Response:
        response = super().preflight_response(request_headers)
        if response.status_code != 400:
            return response
        headers = {
            k: v for k, v in response.headers.items() if k.lower() not in ("content-length", "content-type")
        }
        # Starlette passes no scope here; the request id is in the log context the request-context middleware bound.
        request_id = structlog.contextvars.get_contextvars().get("request_id")
        return error_response(
            400, "cors_refused", bytes(response.body).decode(), request_id=request_id, headers=headers
        )


class IdentifyMiddleware:
    """Pure ASGI: runs the app's :data:`~tsbot.apps.api.context.Identify` hook on each HTTP request and records the
    user id it returns (``request.state.user_id``), before the rate limit counts the request. The hook gets a
    :class:`~starlette.requests.Request` whose body it must not read. A hook that raises is logged
    (``http.identify_failed``) and the request goes on as anonymous."""

    def __init__(self, app: ASGIApp, identify: Identify) -> None:
        self.app = app
        self.identify = identify

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            try:
                user_id = await self.identify(Request(scope))
            except Exception as exc:  # a broken hook must not take the API down: anonymous it is
                _log.exception("http.identify_failed", error=type(exc).__name__)
                user_id = None
            if user_id:
                scope_state(scope)[USER_ID] = user_id
        await self.app(scope, receive, send)


_BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def is_json_media_type(content_type: str | None) -> bool:
    """Whether a Content-Type value is JSON: ``application/json`` or ``application/<x>+json``, any parameters."""
    if not content_type:
        return False
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or (media.startswith("application/") and media.endswith("+json"))


async def require_json_body(request: Request) -> None:
    """App-wide dependency: a route that takes a JSON body (a pydantic model or ``Body()`` parameter) answers 415
    to a non-empty body whose Content-Type is missing or not JSON. Form and raw-body routes are left alone.

    Raises:
        UnsupportedMediaTypeError: the body is not declared as JSON.
    """
    if request.method not in _BODY_METHODS:
        return
    field = getattr(request.scope.get("route"), "body_field", None)
    if field is None or isinstance(field.field_info, params.Form):
        return
    headers = request.headers
    if headers.get("content-length", "0") == "0" and "transfer-encoding" not in headers:
        return
    content_type = headers.get("content-type")
    if not is_json_media_type(content_type):
        raise UnsupportedMediaTypeError(content_type)


class BadTextError(ApiError):
    """A text in the request holds a NUL character or a lone surrogate, which no text field accepts (422)."""

    def __init__(self, where: str) -> None:
        super().__init__(
            422,
            f"the request's {where} holds a NUL character (\\u0000) or a lone surrogate (\\ud800-\\udfff),"
            " which no text may contain",
            error_type="validation_error",
            details=[{"loc": [where], "message": "NUL character or lone surrogate", "type": "bad_text"}],
        )


#: JSON escapes that may decode to text no field accepts: NUL, and the surrogate range (``\ud800``-``\udfff``).
_SUSPECT_ESCAPES = re.compile(rb"\\u(?:0000|[dD][89a-fA-F])")


async def refuse_bad_text(request: Request) -> None:
    """App-wide dependency: 422 for a NUL character anywhere in the path, the query string, a JSON body or a form,
    and for a lone surrogate in a JSON body (which escapes such as ``\\ud800`` produce).

    No text field accepts either: PostgreSQL cannot store them, and no person types them. They are refused once,
    here, with a clear message, before any route stores or compares them.

    Raises:
        BadTextError: such a character was found (the error says where).
    """
    scope = request.scope
    if "\x00" in scope["path"] or b"%00" in scope.get("query_string", b""):
        raise BadTextError("path or query")
    if request.method not in _BODY_METHODS:
        return
    field = getattr(scope.get("route"), "body_field", None)
    if field is None:
        return
    if isinstance(field.field_info, params.Form):
        form = await request.form()  # parsed once already by the route: cached
        if any("\x00" in k or (isinstance(v, str) and "\x00" in v) for k, v in form.multi_items()):
            raise BadTextError("body")
        return
    body = await request.body()  # read once already by the route: cached
    if _SUSPECT_ESCAPES.search(body) and _holds_bad_text(body):
        raise BadTextError("body")


def _holds_bad_text(body: bytes) -> bool:
    """Whether the JSON ``body`` decodes to a key or string holding a NUL character or a lone surrogate."""
    try:
        value = json.loads(body)
    except ValueError:
        return False  # the route's own parsing answers a malformed body
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if "\x00" in item or not item.isascii() and _has_surrogate(item):
                return True
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False


def _has_surrogate(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False
