"""The platform API: :func:`create_app` assembles the FastAPI app under ``/api/v1``.

Middleware, outermost first (all pure ASGI):

1. :class:`~tsbot.apps.api.observe.RequestContextMiddleware`: request id, structlog context, access log, metrics;
2. :class:`~tsbot.apps.api.middleware.SecurityHeadersMiddleware`;
3. Starlette's ``CORSMiddleware`` (refusals in the JSON shape), when ``settings.api.cors_origins`` is not empty;
4. :class:`~tsbot.apps.api.middleware.BodyLimitMiddleware` (``settings.api.max_body_bytes``);
5. :class:`~tsbot.apps.api.middleware.IdentifyMiddleware`, when an ``identify`` hook is given;
6. :class:`~tsbot.apps.api.ratelimit.RateLimitMiddleware` (``settings.api.requests_per_hour``; not on health,
   metrics, nor the path prefixes routers declare in ``rate_limit_exempt_prefixes``, such as ``/static/``);
7. :class:`~tsbot.apps.api.errors.CatchAllMiddleware`: unexpected exceptions become a JSON 500.

Then FastAPI's exception handlers (:func:`~tsbot.apps.api.errors.install_error_handlers`) and the routers. Every
route also runs :func:`~tsbot.apps.api.middleware.require_json_body` (415 for a non-JSON body on a JSON route).

Adding a router: write ``tsbot/apps/api/<domain>.py`` with ``router = APIRouter(prefix="/api/v1/<domain>",
tags=["<domain>"])`` whose routes take :data:`~tsbot.apps.api.deps.ServicesDep`, raise tsbot errors or
:class:`~tsbot.apps.api.errors.ApiError` (never build error bodies), and add it to :data:`ROUTERS` (or pass routers
built at run time, such as the TradingView webhook router, in ``create_app(..., routers=[...])``).
"""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import redis.asyncio
from fastapi import APIRouter, Depends, FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from starlette.middleware import Middleware
from starlette.types import Scope

import tsbot
from tsbot.apps.api import (
    admin,
    admin_config,
    alerts,
    auth,
    auth_routes,
    backtests,
    bots,
    exchange_keys,
    intake,
    market,
    me,
    messages,
    notifications,
    portfolios,
    sentiment,
    signals,
    system,
    telegram,
    trading,
    webhooks,
    ws,
)
from tsbot.apps.api.context import Identify, route_template
from tsbot.apps.api.errors import (
    AUTH_RESPONSES,
    COMMON_RESPONSES,
    CatchAllMiddleware,
    install_error_handlers,
)
from tsbot.apps.api.events import live_updates
from tsbot.apps.api.metrics import UNROUTED, ApiMetrics
from tsbot.apps.api.middleware import (
    BodyLimitMiddleware,
    IdentifyMiddleware,
    JsonCORSMiddleware,
    SecurityHeadersMiddleware,
    docs_csp,
    refuse_bad_text,
    require_json_body,
)
from tsbot.apps.api.observe import RequestContextMiddleware
from tsbot.apps.api.ratelimit import RateLimitMiddleware, RateLimits
from tsbot.apps.logs import configure_logging
from tsbot.config import Settings, load_settings
from tsbot.wiring import Services, open_services

PREFIX = system.PREFIX
OPENAPI_PATH = f"{PREFIX}/openapi.json"
DOCS_PATH = f"{PREFIX}/docs"
#: Routers every app serves, in order. A request is matched against the routes one by one in this order (no
#: router is skipped by its prefix), so the routes polled most, signals and market data, come first: matching
#: ``GET /api/v1/signals`` behind the other routers cost about a tenth of that request's time. Their prefixes are
#: their own, so the order changes no match.
ROUTERS: tuple[APIRouter, ...] = (
    signals.router,
    market.router,
    system.router,
    auth_routes.router,
    me.router,
    exchange_keys.router,
    messages.router,
    messages.admin_router,
    notifications.router,
    telegram.router,
    portfolios.router,
    portfolios.positions_router,
    trading.router,
    bots.router,
    sentiment.router,
    alerts.router,
    admin.router,
    admin_config.router,
    ws.router,
    intake.router,
    webhooks.router,
    backtests.router,
)
#: Seconds to wait for Redis (connect, then each answer) before a rate-limit check fails open.
REDIS_TIMEOUT_S = 0.5

_DESCRIPTION = (
    "tsbot's platform API. Errors are JSON: `{type, message, details, request_id}`. "
    "Every answer carries `X-Request-ID`; rate-limited routes carry `X-RateLimit-Limit` and "
    "`X-RateLimit-Remaining`, and a 429 carries `Retry-After`."
)


def create_app(
    services: Services,
    *,
    routers: Sequence[APIRouter] = (),
    identify: Identify | None = auth.identify,
) -> FastAPI:
    """The API over ``services`` (opened and closed by the caller; the app never closes them).

    Parameters
    ----------
    services:
        What the routes use; ``services.settings`` configures the app (``api``, ``redis_url``, ``broker_url``).
    routers:
        Routers added after :data:`ROUTERS` (routers that need parts built outside ``services``).
    identify:
        Resolves the authenticated user of a request before the rate limit, so limits count per user (see
        :data:`tsbot.apps.api.context.Identify`); by default :func:`tsbot.apps.api.auth.identify` (access tokens
        and API keys). ``None``: requests are counted per client IP until a route's dependency sets the user.

    The lifespan closes only what the app opened itself: the Redis connection pool of the rate limits and the
    readiness check. Run it (uvicorn does; in tests ``app.router.lifespan_context(app)``) or that pool stays open.
    """
    app = _assemble(services.settings, routers=routers, identify=identify, opener=None)
    app.state.services = services
    return app


def app_from_settings() -> FastAPI:
    """The app for ``uvicorn --factory tsbot.apps.api.app:app_from_settings`` (what ``tsbot api`` runs in each
    worker): settings from :func:`~tsbot.config.load_settings`, JSON logs, and services opened at start-up and
    closed at shutdown. The database is not migrated here (``tsbot api`` does it once, before the workers start).

    Raises:
        tsbot.core.errors.ConfigError: the settings are invalid.
    """
    settings = load_settings()
    configure_logging(settings)
    return _assemble(
        settings, routers=(), identify=auth.identify, opener=lambda: open_services(settings, migrate=False)
    )


def _assemble(
    settings: Settings,
    *,
    routers: Sequence[APIRouter],
    identify: Identify | None,
    opener: Callable[[], AbstractAsyncContextManager[Services]] | None,
) -> FastAPI:
    metrics = ApiMetrics()
    pool = _redis_pool(settings.redis_url) if settings.redis_url else None
    rate_limits = RateLimits(settings, metrics, pool=pool)
    docs_page = bytes(get_swagger_ui_html(openapi_url=OPENAPI_PATH, title="tsbot API").body)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        try:
            if opener is None:
                async with live_updates(app):
                    yield
            else:
                async with opener() as services:
                    app.state.services = services
                    _freeze_startup_objects()
                    async with live_updates(app):
                        yield
        finally:
            if pool is not None:
                await pool.aclose()

    def count_unhandled(scope: Scope, exc: BaseException) -> None:
        metrics.observe_error(route_template(scope) or UNROUTED, exc)

    app = FastAPI(
        title="tsbot API",
        version=tsbot.__version__,
        description=_DESCRIPTION,
        openapi_url=OPENAPI_PATH,
        docs_url=None,
        redoc_url=None,
        swagger_ui_oauth2_redirect_url=None,
        lifespan=lifespan,
        # FastAPI's built-in OpenTelemetry hooks cost ~30 us a request even with no exporter; the app's own
        # metrics and access log cover what they would report.
        telemetry={"tracing": False, "metrics": False, "logs": False},
        dependencies=[Depends(require_json_body), Depends(refuse_bad_text)],
        middleware=_middleware(
            settings, metrics, rate_limits, identify, count_unhandled, docs_csp(docs_page.decode()), routers
        ),
    )
    app.state.settings = settings
    app.state.metrics = metrics
    app.state.rate_limits = rate_limits
    app.state.redis = redis.asyncio.Redis(connection_pool=pool) if pool is not None else None
    install_error_handlers(app)

    @app.get(DOCS_PATH, include_in_schema=False)
    async def docs() -> HTMLResponse:
        return HTMLResponse(docs_page)

    for router in (*ROUTERS, *routers):
        app.include_router(router, responses={**COMMON_RESPONSES, **AUTH_RESPONSES})
    return app


def _freeze_startup_objects() -> None:
    """Take every object alive once a server process has started (modules, the app, the services: some 300,000)
    out of the garbage collector's sight (:func:`gc.freeze`). A full collection then scans only what requests
    made: well under a millisecond instead of some 70 ms during which every request in flight waits."""
    gc.collect()
    gc.freeze()


def _middleware(
    settings: Settings,
    metrics: ApiMetrics,
    rate_limits: RateLimits,
    identify: Identify | None,
    on_unhandled: Callable[[Scope, BaseException], None],
    page_csp: str,
    routers: Sequence[APIRouter] = (),
) -> list[Middleware]:
    """The middleware list, outermost first (see the module docstring)."""
    api = settings.api
    stack: list[Middleware] = [
        Middleware(RequestContextMiddleware, metrics=metrics),
        Middleware(
            SecurityHeadersMiddleware,
            hsts=api.public_url.lower().startswith("https://"),
            # routers serving pages (the web dashboard's) declare their paths' policies in ``page_csp``
            page_csp={
                DOCS_PATH: page_csp,
                **{p: c for r in routers for p, c in getattr(r, "page_csp", {}).items()},
            },
        ),
    ]
    if api.cors_origins:
        stack.append(Middleware(JsonCORSMiddleware, **_cors_options(api.cors_origins)))
    stack.append(Middleware(BodyLimitMiddleware, max_body_bytes=api.max_body_bytes))
    if identify is not None:
        stack.append(Middleware(IdentifyMiddleware, identify=identify))
    # routers serving static files (the web dashboard's) declare their prefixes in ``rate_limit_exempt_prefixes``
    exempt_prefixes = tuple(
        sorted({p for r in routers for p in getattr(r, "rate_limit_exempt_prefixes", ())})
    )
    stack.append(
        Middleware(
            RateLimitMiddleware,
            limits=rate_limits,
            exempt=system.EXEMPT_PATHS,
            exempt_prefixes=exempt_prefixes,
        )
    )
    stack.append(Middleware(CatchAllMiddleware, on_unhandled=on_unhandled))
    return stack


def _cors_options(origins: list[str]) -> dict[str, Any]:
    """CORS for browser clients on ``origins``: credentials only with named origins (never with ``*``)."""
    return {
        "allow_origins": origins,
        "allow_methods": ["GET", "POST", "PUT", "PATCH", "DELETE"],
        "allow_headers": ["Authorization", "Content-Type", "X-Request-ID"],
        "allow_credentials": "*" not in origins,
        "expose_headers": ["X-Request-ID", "X-RateLimit-Limit", "X-RateLimit-Remaining", "Retry-After"],
        "max_age": 600,
    }


def _redis_pool(url: str) -> redis.asyncio.ConnectionPool:
    """A connection pool to ``url`` with short timeouts and no retries: a slow Redis must not hold requests."""
    return redis.asyncio.ConnectionPool.from_url(
        url if "://" in url else "redis://" + url,
        socket_connect_timeout=REDIS_TIMEOUT_S,
        socket_timeout=REDIS_TIMEOUT_S,
        retry=Retry(NoBackoff(), 0),
    )
