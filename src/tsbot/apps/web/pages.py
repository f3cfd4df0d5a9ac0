"""The web dashboard's pages and static files: :func:`web_router`, mounted with
``create_app(services, routers=[web_router()])``.

=====================  ============================================================================================
path                   what it serves
=====================  ============================================================================================
GET /                  the landing page; a browser that holds a session goes on to ``/dashboard``
GET /login             sign-in: email, password, the two-factor code when the account asks for one
GET /dashboard         watchlist signals (live), chart, sentiment, providers, portfolio, paper orders, notifications
GET /admin             users (deactivate / activate), activity log, messages, system status (admins)
GET /static/{name}     the pages' stylesheet, scripts and icon; ``plotly.min.js`` from the installed plotly package
=====================  ============================================================================================

The pages are server-rendered shells without user data: their scripts (``static/js``) sign in through
``POST /api/v1/auth/login``, keep the tokens in the browser (``sessionStorage``, or ``localStorage`` with
"remember me"), refresh them before they expire and read everything else from ``/api/v1`` and its WebSocket, so
every permission check stays the API's. No page holds an inline script or style.

Security: the pages carry :data:`PAGE_CSP` (scripts, styles, images and connections only from this origin). The
router declares it in its ``page_csp`` attribute (path -> policy), which :func:`tsbot.apps.api.app.create_app`
gives to its security-headers middleware; other paths keep the API's ``default-src 'none'``.

Rate limit: static files do not count against the API's per-client ``requests_per_hour`` (a page load fetches a
dozen of them, answered from memory); the router declares ``/static/`` in ``rate_limit_exempt_prefixes``, which
``create_app`` gives to its rate-limit middleware. The pages themselves and every API call still count.

Static files are read once when the router is built (``plotly.min.js``, 4.8 MB, on its first request) and served
from memory, gzip-compressed when the browser accepts it. Their URLs carry a content version (``?v=...``); an
answer to the current version may be cached for a year (``immutable``), any other for no time at all.
"""

from __future__ import annotations

import gzip
import hashlib
import importlib.metadata
import importlib.resources
import threading
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from importlib.resources.abc import Traversable
from typing import Final

import anyio
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from jinja2 import Environment, PackageLoader, select_autoescape

import tsbot
from tsbot.core.errors import NotFoundError

_PACKAGE: Final = "tsbot.apps.web"
#: Page path -> its template.
PAGES: Final[dict[str, str]] = {
    "/": "landing.html",
    "/login": "login.html",
    "/dashboard": "dashboard.html",
    "/admin": "admin.html",
}
#: Content-Security-Policy of the pages: everything from this origin only (``connect-src 'self'`` covers the API
#: and, in current browsers, the WebSocket on the same host); no inline script, no plugins, no framing. Inline
#: *styles* are allowed because plotly.js writes its own stylesheets into the page when it loads and draws (the
#: pages themselves hold none, and build every text they show as text, never as HTML).
PAGE_CSP: Final = (
    "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; font-src 'self'; "
    "connect-src 'self'; manifest-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)
STATIC_PREFIX: Final = "/static"
#: The plotly.js bundle of the installed plotly package, served as ``/static/plotly.min.js``.
PLOTLY_NAME: Final = "plotly.min.js"
_PLOTLY_RESOURCE: Final = ("package_data", "plotly.min.js")
#: Cache-Control of a static answer to the current version, and of everything else.
CACHE_IMMUTABLE: Final = "public, max-age=31536000, immutable"
CACHE_REVALIDATE: Final = "no-cache"
_MEDIA_TYPES: Final = {
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
    ".json": "application/json",
    ".webmanifest": "application/manifest+json",
}
#: Answers smaller than this many bytes are sent uncompressed.
_GZIP_MIN_BYTES: Final = 1_024


class WebRouter(APIRouter):
    """An :class:`~fastapi.APIRouter` that declares the Content-Security-Policy of its pages (``page_csp``: exact
    path -> policy) for the app's security-headers middleware, and the path prefixes the API's per-client request
    limit leaves alone (``rate_limit_exempt_prefixes``: the static files)."""

    page_csp: dict[str, str]
    rate_limit_exempt_prefixes: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class StaticFile:
    """One static file in memory: its bytes, their gzip form (None when too small to gain), media type and
    version (the first 12 hex digits of the SHA-256 of its bytes, or the plotly package version)."""

    body: bytes
    gzipped: bytes | None
    media_type: str
    version: str


def _media_type(name: str) -> str:
    suffix = name[name.rfind(".") :] if "." in name else ""
    return _MEDIA_TYPES.get(suffix.lower(), "application/octet-stream")


def _static_file(name: str, body: bytes, version: str | None = None) -> StaticFile:
    packed = gzip.compress(body, compresslevel=6, mtime=0) if len(body) >= _GZIP_MIN_BYTES else None
    if packed is not None and len(packed) >= len(body):
        packed = None
    return StaticFile(body, packed, _media_type(name), version or hashlib.sha256(body).hexdigest()[:12])


def _walk(folder: Traversable, prefix: str = "") -> Iterator[tuple[str, Traversable]]:
    for item in folder.iterdir():
        if item.is_dir():
            yield from _walk(item, f"{prefix}{item.name}/")
        elif not item.name.startswith("."):
            yield f"{prefix}{item.name}", item


class Assets:
    """The static files: the package's own (``tsbot/apps/web/static``, read at construction) and plotly.js (read
    and compressed on first use, in a worker thread).

    Raises:
        tsbot.core.errors.NotFoundError: (from :meth:`get`) no static file has that name.
    """

    def __init__(self) -> None:
        root = importlib.resources.files(_PACKAGE).joinpath("static")
        self._files = {name: _static_file(name, item.read_bytes()) for name, item in _walk(root)}
        self._plotly_version = importlib.metadata.version("plotly")
        self._plotly: StaticFile | None = None
        self._lock = threading.Lock()

    def version(self, name: str) -> str:
        """The current version of ``name`` (what its URL's ``v`` carries).

        Raises:
            NotFoundError: no static file has that name.
        """
        if name == PLOTLY_NAME:
            return self._plotly_version
        found = self._files.get(name)
        if found is None:
            raise NotFoundError(f"no static file {name!r}")
        return found.version

    def url(self, name: str) -> str:
        """``/static/<name>?v=<version>``.

        Raises:
            NotFoundError: no static file has that name (a template naming a missing file fails to render).
        """
        return f"{STATIC_PREFIX}/{name}?v={self.version(name)}"

    def _load_plotly(self) -> StaticFile:
        with self._lock:
            if self._plotly is None:
                body = importlib.resources.files("plotly").joinpath(*_PLOTLY_RESOURCE).read_bytes()
                self._plotly = _static_file(PLOTLY_NAME, body, self._plotly_version)
            return self._plotly

    async def get(self, name: str) -> StaticFile:
        """The static file ``name``.

        Raises:
            NotFoundError: no static file has that name.
        """
        if name == PLOTLY_NAME:
            return self._plotly or await anyio.to_thread.run_sync(self._load_plotly)
        found = self._files.get(name)
        if found is None:
            raise NotFoundError(f"no static file {name!r}")
        return found


def _accepts_gzip(request: Request) -> bool:
    return any(
        part.split(";", 1)[0].strip().lower() == "gzip"
        for part in request.headers.get("accept-encoding", "").split(",")
    )


def static_response(request: Request, item: StaticFile) -> Response:
    """The answer for ``item``: 304 when the browser holds this version (``If-None-Match``); the gzip form when
    accepted; long-lived caching only when the URL asked for the current version."""
    etag = f'"{item.version}"'
    cache = CACHE_IMMUTABLE if request.query_params.get("v") == item.version else CACHE_REVALIDATE
    headers = {"ETag": etag, "Cache-Control": cache, "Vary": "Accept-Encoding"}
    if etag in {t.strip() for t in request.headers.get("if-none-match", "").split(",")}:
        return Response(status_code=304, headers=headers)
    if item.gzipped is not None and _accepts_gzip(request):
        headers["Content-Encoding"] = "gzip"
        return Response(item.gzipped, media_type=item.media_type, headers=headers)
    return Response(item.body, media_type=item.media_type, headers=headers)


def _environment(assets: Assets) -> Environment:
    env = Environment(
        loader=PackageLoader(_PACKAGE, "templates"),
        autoescape=select_autoescape(["html"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals.update(static=assets.url, version=tsbot.__version__, plotly_url=assets.url(PLOTLY_NAME))
    return env


def _page_route(env: Environment, template: str, page: str) -> Callable[[], Awaitable[HTMLResponse]]:
    """A route answering the rendered ``template`` (rendered per request from the environment's cache)."""

    async def render() -> HTMLResponse:
        html = env.get_template(template).render(page=page)
        return HTMLResponse(html, headers={"Cache-Control": CACHE_REVALIDATE})

    return render


def web_router() -> WebRouter:
    """The dashboard's pages (:data:`PAGES`, left out of the OpenAPI schema) and ``/static/{name}``, with their
    Content-Security-Policy in ``page_csp`` and ``/static/`` in ``rate_limit_exempt_prefixes``.

    Raises:
        FileNotFoundError: the package's static folder or plotly's bundle is missing (a broken installation).
    """
    assets = Assets()
    env = _environment(assets)
    router = WebRouter(tags=["web"], include_in_schema=False)
    router.page_csp = dict.fromkeys(PAGES, PAGE_CSP)
    router.rate_limit_exempt_prefixes = (STATIC_PREFIX + "/",)
    for path, template in PAGES.items():
        page = template.removesuffix(".html")
        router.add_api_route(
            path,
            _page_route(env, template, page),
            methods=["GET"],
            response_class=HTMLResponse,
            include_in_schema=False,
            name=f"web_{page}",
        )

    @router.get(STATIC_PREFIX + "/{name:path}", include_in_schema=False, name="web_static")
    async def static(name: str, request: Request) -> Response:
        return static_response(request, await assets.get(name))

    return router
