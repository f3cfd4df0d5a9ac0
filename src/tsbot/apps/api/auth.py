"""Who is calling: authentication and permissions for the API's routes.

Credentials: ``Authorization: Bearer <token>`` where the token is an access token from ``POST /api/v1/auth/login``
(a JWT, 30 minutes by default) or an API key (``tsb_...``, from ``POST /api/v1/auth/api-keys``).

Every route that needs a signed-in caller declares the permissions it needs with :func:`requires`::

    @router.get("/api/v1/orders")
    async def list_orders(identity: Identity = requires(Permission.READ_ORDERS)) -> ...:
        ...

The permissions appear in the OpenAPI schema as the route's OAuth2 scopes (so the route-walk test and a client can
read them). Answers: no or bad credentials -> 401 with ``WWW-Authenticate: Bearer``; signed in without the
permission -> 403; an inactive or expired account -> 403. Objects of another user are answered 404 by the routes
(never 403, which would tell that the object exists).

The :func:`identify` hook names the caller before the rate limit (so the limit counts per user): for an access
token it only checks the signature (no database), for an API key it authenticates. :func:`requires` then
authenticates once per request.

Checked identities are kept for ``accounts.identity_cache_seconds`` (5 s) in an :class:`IdentityCache` per app, keyed
by a digest of the token (never the token), never past an access token's expiry. Every state-changing account
route (sign-out, password, two-factor, API keys, administration of users) empties the cache of its process when it
is done (:func:`forget_identities`), so a revocation takes effect at once there and within that time elsewhere.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import AsyncIterator
from typing import Annotated, Any

import structlog
from fastapi import Depends, FastAPI, Request, Security
from fastapi.security import OAuth2PasswordBearer, SecurityScopes

from tsbot.accounts.errors import (
    AccountInactiveError,
    AccountInputError,
    AccountLockedError,
    AuthenticationError,
    EmailNotVerifiedError,
    EmailTakenError,
    LastAdminError,
    PermissionDeniedError,
    UserNotFoundError,
)
from tsbot.accounts.models import Identity, Permission
from tsbot.accounts.service import AccountService
from tsbot.apps.api.context import client_ip, scope_state, set_user_id
from tsbot.apps.api.errors import register_error
from tsbot.core.errors import TsbotError
from tsbot.core.time import utc_now

PREFIX = "/api/v1"
#: The form-encoded sign-in route OpenAPI clients (Swagger UI's "Authorize") use.
TOKEN_URL = f"{PREFIX}/auth/token"
#: The prefix of API keys (access tokens are JWTs, which never start with it).
API_KEY_PREFIX = "tsb_"
#: Key in ``scope["state"]`` of the identity :func:`identify` established.
IDENTITY = "identity"

_PERMISSION_TEXT = {
    Permission.READ_USERS: "read users",
    Permission.WRITE_USERS: "create, change and delete users",
    Permission.READ_AUDIT: "read the activity log",
    Permission.ADMIN_ACCESS: "administration pages and figures",
    Permission.SYSTEM_CONFIG: "read and change the configuration",
    Permission.READ_MARKET: "read market data and sentiment",
    Permission.READ_SIGNALS: "read signals",
    Permission.WRITE_SIGNALS: "generate signals, manage the watchlist and parse posts",
    Permission.READ_PORTFOLIO: "read portfolios, positions and performance",
    Permission.WRITE_PORTFOLIO: "create portfolios and move paper funds",
    Permission.READ_ORDERS: "read orders",
    Permission.WRITE_ORDERS: "place orders",
    Permission.DELETE_ORDERS: "cancel orders",
    Permission.READ_BOTS: "read bots",
    Permission.WRITE_BOTS: "start, pause and stop bots",
    Permission.RUN_BACKTESTS: "run backtests",
    Permission.USE_AI: "use the AI features",
    Permission.TRAIN_MODELS: "train models",
    Permission.SEND_MESSAGES: "send messages",
}

bearer = OAuth2PasswordBearer(
    tokenUrl=TOKEN_URL,
    scopes={p.value: _PERMISSION_TEXT.get(p, p.value) for p in Permission},
    auto_error=False,
    description="An access token from `POST /api/v1/auth/login` or an API key (`tsb_...`).",
)

_log = structlog.get_logger("tsbot.api.auth")


def _www_authenticate(_exc: TsbotError) -> dict[str, str]:
    return {"WWW-Authenticate": "Bearer"}


def _retry_at(exc: TsbotError) -> dict[str, str]:
    assert isinstance(exc, AccountLockedError)
    return {"Retry-After": str(max(1, int((exc.retry_at - utc_now()).total_seconds()) + 1))}


# Most specific last: the lookup walks each error's MRO, so subclasses keep their own mapping.
register_error(AuthenticationError, 401, "unauthorized", headers=_www_authenticate)
register_error(AccountLockedError, 429, "too_many_failed_sign_ins", headers=_retry_at)
register_error(AccountInactiveError, 403, "account_inactive")
register_error(EmailNotVerifiedError, 403, "email_not_verified")
register_error(PermissionDeniedError, 403, "forbidden")
register_error(AccountInputError, 422, "invalid_data")
register_error(EmailTakenError, 409, "email_taken")
register_error(LastAdminError, 409, "last_admin")
register_error(UserNotFoundError, 404, "not_found")


class MissingCredentialsError(AuthenticationError):
    """The request carries no ``Authorization: Bearer`` header (401)."""

    def __init__(self) -> None:
        super().__init__(
            "sign in first: send Authorization: Bearer <access token> (POST /api/v1/auth/login) or an API key"
        )


class IdentityCache:
    """Identities checked recently, by a digest of their token, each until its own deadline (monotonic clock).

    At most ``max_entries`` are kept: when full, the whole cache is dropped (a cheap, safe bound).
    """

    def __init__(self, ttl_s: float, *, max_entries: int = 10_000) -> None:
        self.ttl_s = ttl_s
        self.max_entries = max_entries
        self._entries: dict[bytes, tuple[float, Identity]] = {}

    @staticmethod
    def _key(token: str) -> bytes:
        return hashlib.blake2b(token.encode(), digest_size=20).digest()

    def get(self, token: str) -> Identity | None:
        """The identity of ``token`` checked less than its deadline ago, or ``None``."""
        entry = self._entries.get(self._key(token))
        if entry is None:
            return None
        if entry[0] <= time.monotonic():
            self._entries.pop(self._key(token), None)
            return None
        return entry[1]

    def put(self, token: str, identity: Identity, *, valid_s: float | None = None) -> None:
        """Keep ``identity`` for ``ttl_s`` seconds, or ``valid_s`` when sooner (the token's own expiry)."""
        if self.ttl_s <= 0:
            return
        if len(self._entries) >= self.max_entries:
            self._entries.clear()
        life = self.ttl_s if valid_s is None else min(self.ttl_s, valid_s)
        if life > 0:
            self._entries[self._key(token)] = (time.monotonic() + life, identity)

    def clear(self) -> None:
        """Forget every identity (after an account change in this process)."""
        self._entries.clear()


def identity_cache_of(app: FastAPI) -> IdentityCache:
    """The app's :class:`IdentityCache` (``accounts.identity_cache_seconds``)."""
    cache: IdentityCache | None = getattr(app.state, "identity_cache", None)
    if cache is None:
        cache = app.state.identity_cache = IdentityCache(app.state.settings.accounts.identity_cache_seconds)
    return cache


async def forget_identities(request: Request) -> AsyncIterator[None]:
    """Router dependency for routes that change accounts: once the route is done (whatever its answer), this
    process's :class:`IdentityCache` is emptied."""
    try:
        yield
    finally:
        if request.method != "GET":
            identity_cache_of(request.app).clear()


def accounts_of_app(app: FastAPI) -> AccountService:
    """The app's account service, built once per app from its services (one JWT secret, one store set)."""
    state = app.state
    service: AccountService | None = getattr(state, "accounts", None)
    if service is None:
        service = state.accounts = state.services.accounts()
    return service


def accounts_of(request: Request) -> AccountService:
    """The account service of the app serving ``request`` (see :func:`accounts_of_app`)."""
    return accounts_of_app(request.app)


async def _accounts_dependency(request: Request) -> AccountService:
    return accounts_of_app(request.app)  # async: FastAPI would run a plain function in a worker thread


#: A route parameter receiving the app's :class:`AccountService`.
AccountsDep = Annotated[AccountService, Depends(_accounts_dependency)]


def bearer_token(request: Request) -> str | None:
    """The token of an ``Authorization: Bearer`` header, or ``None``."""
    header = request.headers.get("authorization")
    if not header:
        return None
    scheme, _, token = header.partition(" ")
    token = token.strip()
    return token if scheme.lower() == "bearer" and token else None


async def authenticate(app: FastAPI, token: str) -> Identity:
    """The identity behind an access token or an API key, from the app's :class:`IdentityCache` when checked
    recently.

    Raises:
        AuthenticationError: the token or key is unknown, expired, revoked or malformed (401).
        AccountInactiveError: the account is deactivated or past its activation date (403).
    """
    cache = identity_cache_of(app)
    identity = cache.get(token)
    if identity is not None:
        return identity
    accounts = accounts_of_app(app)
    if token.startswith(API_KEY_PREFIX):
        identity = await accounts.authenticate_api_key(token)
        cache.put(token, identity)
    else:
        identity = await accounts.authenticate(token)
        expires_at = accounts.decode_access_token(token).expires_at
        cache.put(token, identity, valid_s=(expires_at - utc_now()).total_seconds())
    return identity


async def identify(request: Request) -> str | None:
    """The ``identify`` hook of :func:`~tsbot.apps.api.app.create_app`: the caller's user id, or ``None``.

    Bad credentials give ``None`` here (the route's :func:`requires` answers 401). An identity found here (an API
    key's, or an access token's from the :class:`IdentityCache`) is kept in the scope for the route; an access
    token missing from the cache only has its signature checked, and the route authenticates it.
    """
    token = bearer_token(request)
    if token is None:
        return None
    try:
        if token.startswith(API_KEY_PREFIX):
            identity = await authenticate(request.app, token)
        elif (cached := identity_cache_of(request.app).get(token)) is not None:
            identity = cached  # checked recently: the route uses it as it is (no second look-up)
        else:
            # A verified signature is enough to count the request against its user; the route authenticates.
            return accounts_of(request).decode_access_token(token).user_id
    except TsbotError:
        return None
    scope_state(request.scope)[IDENTITY] = identity
    return identity.user.id


async def current_identity(
    request: Request, scopes: SecurityScopes, token: str | None = Depends(bearer)
) -> Identity:
    """The dependency behind :func:`requires`: the caller's identity, holding every scope of the route.

    Raises:
        MissingCredentialsError, AuthenticationError: 401.
        AccountInactiveError, PermissionDeniedError: 403.
    """
    identity: Identity | None = scope_state(request.scope).get(IDENTITY)
    if identity is None:
        if token is None:
            raise MissingCredentialsError
        identity = await authenticate(request.app, token)
        scope_state(request.scope)[IDENTITY] = identity
    set_user_id(request, identity.user.id)
    identity.require(*(Permission(s) for s in scopes.scopes))
    return identity


def requires(*permissions: Permission) -> Any:
    """A parameter default that authenticates the caller and checks ``permissions`` (none: any signed-in user).

    Use as ``identity: Identity = requires(Permission.WRITE_ORDERS)``.
    """
    return Security(current_identity, scopes=[Permission(p).value for p in permissions])


def require_session(identity: Identity) -> Identity:
    """``identity``, checked to be signed in with a password (an access token), not with an API key: an API key is
    a program's credential and may never widen or take over the account (its keys, password, two-factor sign-in).

    Raises:
        PermissionDeniedError: the request is authenticated by an API key (403).
    """
    if identity.api_key_id is not None:
        raise PermissionDeniedError(
            "an API key cannot do this: sign in with your password (POST /api/v1/auth/login)"
        )
    return identity


async def _password_session(identity: Identity = requires()) -> Identity:
    return require_session(identity)


#: A route parameter: any signed-in caller (no permission needed), signed in with a password, not an API key.
SignedIn = Annotated[Identity, requires()]
#: A route parameter: the caller signed in with a password (see :func:`require_session`), not with an API key.
PasswordSession = Annotated[Identity, Depends(_password_session)]


def caller_ip(request: Request) -> str:
    """The client address recorded in the audit log and sign-in history."""
    return client_ip(request.scope)
