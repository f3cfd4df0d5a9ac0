"""Administration routes under ``/api/v1/admin``: dashboard figures, users, the activity (audit) log, all signals
and a user's signals, and the API's caches. Configuration routes live in :mod:`tsbot.apps.api.admin_config`.

Permissions: ``admin_access`` (dashboard, all signals, caches), ``read_users`` / ``write_users`` (users),
``read_audit`` (activity). Every change to a user is recorded in the audit log with the caller and their IP.
Deactivating or deleting a user ends their sessions (their access tokens, refresh tokens and API keys are refused
from the next request) and closes their live WebSocket connections. The last active admin cannot be demoted,
deactivated or deleted (409).

"A user's signals": signals carry no owner, so they are the signals of the symbols the user trades: the pairs of
their bots and the symbols ordered on their portfolios' accounts.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from fastapi import APIRouter, Depends, Query, Request, Response

from tsbot.accounts.models import Identity, Permission, Role, User
from tsbot.accounts.records import AuditAction, AuditEntry
from tsbot.accounts.validation import check_display_name
from tsbot.adapters.storage.account_events import SqlAccountEventLog
from tsbot.adapters.storage.accounts import SqlUserStore
from tsbot.adapters.storage.admin_queries import SqlAdminQueries
from tsbot.adapters.storage.signal_queries import SignalFilter, SqlSignalQueries
from tsbot.apps.api.account_models import UserOut
from tsbot.apps.api.admin_models import (
    AuditEntryOut,
    CacheClearedOut,
    CacheOut,
    CacheStatusOut,
    DashboardOut,
    UserCreateIn,
    UserPatchIn,
    UtcTime,
)
from tsbot.apps.api.auth import AccountsDep, caller_ip, forget_identities, requires
from tsbot.apps.api.cache import caches_of
from tsbot.apps.api.deps import ServicesDep
from tsbot.apps.api.errors import ApiError
from tsbot.apps.api.events import bus_of, end_live_sessions
from tsbot.apps.api.schemas import Page
from tsbot.apps.api.signal_models import SignalOut
from tsbot.core.enums import Action
from tsbot.core.time import utc_now
from tsbot.market.models import Timeframe

router = APIRouter(prefix="/api/v1/admin", tags=["admin"], dependencies=[Depends(forget_identities)])

_USER_ID = "the user's id"
_NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"description": "no such user"}}
_LAST_ADMIN: dict[int | str, dict[str, Any]] = {409: {"description": "it would leave no active admin"}}


class _Paging:
    """``limit`` (1..500) and ``offset`` query parameters."""

    def __init__(
        self,
        limit: int = Query(50, ge=1, le=500, description="items per page"),
        offset: int = Query(0, ge=0, le=1_000_000, description="items to skip"),
    ) -> None:
        self.limit = limit
        self.offset = offset


PagingDep = Depends(_Paging)


# --- dashboard ------------------------------------------------------------------------------------------------


@router.get("/dashboard", summary="Figures for the administration dashboard")
async def dashboard(
    request: Request, services: ServicesDep, identity: Identity = requires(Permission.ADMIN_ACCESS)
) -> DashboardOut:
    """Users by role and activation, sign-ins and signals in the last 24 h, orders, bots, database size."""
    now = utc_now()
    figures = await SqlAdminQueries(services.db).dashboard(now - timedelta(hours=24))
    return DashboardOut.of(figures, now, bus_of(request.app).listeners)


# --- users ----------------------------------------------------------------------------------------------------


@router.get("/users", summary="Users, filtered and paginated")
async def list_users(
    services: ServicesDep,
    role: Role | None = Query(None, description="only this role"),
    active: bool | None = Query(None, description="only active (true) or deactivated (false) users"),
    email: str | None = Query(None, min_length=1, max_length=320, description="part of the email address"),
    paging: _Paging = PagingDep,
    identity: Identity = requires(Permission.READ_USERS),
) -> Page[UserOut]:
    """Users oldest first."""
    users, total = await SqlAdminQueries(services.db).users(
        role=role, active=active, email=email, limit=paging.limit, offset=paging.offset
    )
    return Page[UserOut](
        items=[UserOut.of(u) for u in users], total=total, limit=paging.limit, offset=paging.offset
    )


@router.post(
    "/users",
    status_code=201,
    summary="Create a user",
    responses={409: {"description": "the email address is in use"}},
)
async def create_user(
    request: Request,
    body: UserCreateIn,
    accounts: AccountsDep,
    identity: Identity = requires(Permission.WRITE_USERS),
) -> UserOut:
    """Create a user with a role and a password (the password policy applies); no email is sent."""
    user = await accounts.create_user(
        identity,
        str(body.email),
        body.password,
        body.role,
        display_name=body.display_name,
        email_verified=body.email_verified,
        active_until=body.active_until,
        ip=caller_ip(request),
    )
    return UserOut.of(user)


@router.get("/users/{user_id}", summary="One user", responses=_NOT_FOUND)
async def get_user(
    user_id: str, accounts: AccountsDep, identity: Identity = requires(Permission.READ_USERS)
) -> UserOut:
    """The user, without secrets."""
    return UserOut.of(await accounts.get_user(identity, user_id))


async def _set_display_name(
    services: ServicesDep, identity: Identity, user: User, name: str, ip: str
) -> User:
    """Change another user's display name, recorded in the audit log with the admin as actor."""
    checked = check_display_name(name)
    if checked == user.display_name:
        return user
    now = utc_now()
    record = await SqlUserStore(services.db).update(user.id, {"display_name": checked, "updated_at": now})
    await SqlAccountEventLog(services.db).add_audit(
        AuditEntry(
            now,
            AuditAction.PROFILE_UPDATED,
            identity.user.id,
            identity.label,
            user.id,
            ip[:64],
            {"fields": ["display_name"], "by_admin": True},
        )
    )
    return record.user


def _not_yourself(identity: Identity, user_id: str, what: str) -> None:
    """Refuse (409) an administrator's change that would lock themselves out: another admin must do it."""
    if user_id == identity.user.id:
        raise ApiError(
            409,
            f"you cannot {what} your own account here; another administrator must",
            error_type="own_account",
        )


@router.patch(
    "/users/{user_id}",
    summary="Change a user's role, activation, name or two-factor sign-in",
    responses={**_NOT_FOUND, **_LAST_ADMIN},
)
async def patch_user(
    request: Request,
    user_id: str,
    body: UserPatchIn,
    accounts: AccountsDep,
    services: ServicesDep,
    identity: Identity = requires(Permission.WRITE_USERS),
) -> UserOut:
    """Apply the changes given, each recorded in the audit log. Deactivating, changing the role or resetting
    two-factor sign-in closes the user's live connections; deactivating and resetting also end their sessions."""
    ip = caller_ip(request)
    if (body.role is not None and body.role is not identity.user.role) or body.is_active is False:
        _not_yourself(identity, user_id, "change the role or deactivate")
    user = await accounts.get_user(identity, user_id)
    given = body.model_fields_set
    if body.display_name is not None:
        user = await _set_display_name(services, identity, user, body.display_name, ip)
    if body.role is not None and body.role is not user.role:
        user = await accounts.set_role(identity, user_id, body.role, ip=ip)
        await end_live_sessions(request.app, user_id, "role changed")
    if "active_until" in given:
        user = await accounts.set_active_until(identity, user_id, body.active_until, ip=ip)
    if body.extend_days is not None:
        user = await accounts.extend_activation(identity, user_id, body.extend_days, ip=ip)
    if body.is_active is not None and body.is_active != user.is_active:
        user = await accounts.set_active(identity, user_id, body.is_active, ip=ip)
        if not body.is_active:
            await end_live_sessions(request.app, user_id, "account deactivated")
    if body.reset_totp:
        user = await accounts.reset_totp(identity, user_id, ip=ip)
        await end_live_sessions(request.app, user_id, "two-factor sign-in reset")
    return UserOut.of(user)


@router.post(
    "/users/{user_id}/deactivate",
    summary="Deactivate a user and end their sessions",
    responses={**_NOT_FOUND, **_LAST_ADMIN},
)
async def deactivate_user(
    request: Request,
    user_id: str,
    accounts: AccountsDep,
    identity: Identity = requires(Permission.WRITE_USERS),
) -> UserOut:
    """The user can no longer sign in; their tokens and API keys are refused from the next request."""
    _not_yourself(identity, user_id, "deactivate")
    user = await accounts.deactivate(identity, user_id, ip=caller_ip(request))
    await end_live_sessions(request.app, user_id, "account deactivated")
    return UserOut.of(user)


@router.delete(
    "/users/{user_id}",
    status_code=204,
    response_class=Response,
    summary="Delete a user",
    responses={**_NOT_FOUND, **_LAST_ADMIN},
)
async def delete_user(
    request: Request,
    user_id: str,
    accounts: AccountsDep,
    identity: Identity = requires(Permission.WRITE_USERS),
) -> Response:
    """Delete the user with their sessions and API keys (sign-in history and audit entries stay)."""
    _not_yourself(identity, user_id, "delete")
    await accounts.delete_user(identity, user_id, ip=caller_ip(request))
    await end_live_sessions(request.app, user_id, "account deleted")
    return Response(status_code=204)


# --- activity -------------------------------------------------------------------------------------------------


@router.get("/activity", summary="The activity log: every security-relevant action")
async def activity(
    services: ServicesDep,
    actor_id: str | None = Query(None, max_length=64, description="only actions by this user"),
    target: str | None = Query(None, max_length=64, description="only actions on this user, key or section"),
    action: list[str] | None = Query(
        None, max_length=50, description="only these actions (repeat the parameter)"
    ),
    since: UtcTime | None = Query(None, description="at or after this time (UTC)"),
    until: UtcTime | None = Query(None, description="before this time (UTC)"),
    paging: _Paging = PagingDep,
    identity: Identity = requires(Permission.READ_AUDIT),
) -> Page[AuditEntryOut]:
    """Who did what, when and from where, newest first."""
    rows, total = await SqlAdminQueries(services.db).audit(
        actor_id=actor_id,
        target=target,
        actions=[a[:64] for a in action or ()],
        since=since,
        until=until,
        limit=paging.limit,
        offset=paging.offset,
    )
    return Page[AuditEntryOut](
        items=[AuditEntryOut.of(r) for r in rows], total=total, limit=paging.limit, offset=paging.offset
    )


# --- signals --------------------------------------------------------------------------------------------------


class _SignalFilters:
    """Query filters of the signal lists."""

    def __init__(
        self,
        symbol: list[str] | None = Query(None, max_length=100, description="only these symbols (repeat)"),
        exchange: str | None = Query(None, min_length=1, max_length=32),
        timeframe: Timeframe | None = Query(None, description="e.g. 1h"),
        action: Action | None = Query(None, description="BUY, SELL or HOLD"),
        since: UtcTime | None = Query(None, description="as_of at or after this time (UTC)"),
        until: UtcTime | None = Query(None, description="as_of at or before this time (UTC)"),
    ) -> None:
        self.symbols = [s[:32] for s in symbol] if symbol else None
        self.exchange = exchange
        self.timeframe = timeframe
        self.action = action
        self.since = since
        self.until = until


async def _signal_page(
    services: ServicesDep, filters: _SignalFilters, paging: _Paging, symbols: list[str] | None
) -> Page[SignalOut]:
    where = SignalFilter(
        tuple(symbols) if symbols is not None else None,
        filters.exchange,
        filters.timeframe,
        filters.action,
        filters.since,
        filters.until,
    )
    items, total = await SqlSignalQueries(services.db).page(where, limit=paging.limit, offset=paging.offset)
    return Page[SignalOut](items=SignalOut.many(items), total=total, limit=paging.limit, offset=paging.offset)


@router.get("/signals", summary="All stored signals")
async def all_signals(
    services: ServicesDep,
    filters: _SignalFilters = Depends(_SignalFilters),
    paging: _Paging = PagingDep,
    identity: Identity = requires(Permission.ADMIN_ACCESS),
) -> Page[SignalOut]:
    """Every stored signal, newest first (by ``as_of``)."""
    return await _signal_page(services, filters, paging, filters.symbols)


@router.get(
    "/users/{user_id}/signals", summary="The signals of the symbols a user trades", responses=_NOT_FOUND
)
async def user_signals(
    user_id: str,
    services: ServicesDep,
    accounts: AccountsDep,
    filters: _SignalFilters = Depends(_SignalFilters),
    paging: _Paging = PagingDep,
    identity: Identity = requires(Permission.READ_USERS, Permission.READ_SIGNALS),
) -> Page[SignalOut]:
    """Signals of the pairs of the user's bots and the symbols ordered on their portfolios' accounts (narrowed by
    ``symbol`` when given), newest first."""
    await accounts.get_user(identity, user_id)
    traded = await SqlAdminQueries(services.db).symbols_of(user_id)
    symbols = [s for s in traded if filters.symbols is None or s in filters.symbols]
    return await _signal_page(services, filters, paging, symbols)


# --- cache ----------------------------------------------------------------------------------------------------


@router.get("/cache", summary="The API's caches: backend, keys, hits and misses")
async def cache_status(
    request: Request, identity: Identity = requires(Permission.ADMIN_ACCESS)
) -> CacheStatusOut:
    """Each named cache of the answering process (keys are shared when the backend is Redis)."""
    registry = caches_of(request.app)
    caches = [CacheOut.of(s) for s in await registry.status()]
    return CacheStatusOut(
        backend=registry.backend,
        keys=sum(c.keys or 0 for c in caches),
        hits=sum(c.hits for c in caches),
        misses=sum(c.misses for c in caches),
        caches=caches,
    )


@router.delete(
    "/cache",
    summary="Clear the caches (all, or one by name)",
    responses={404: {"description": "no cache has that name"}, 503: {"description": "Redis did not answer"}},
)
async def clear_cache(
    request: Request,
    name: str | None = Query(None, min_length=1, max_length=64, description="only this cache"),
    identity: Identity = requires(Permission.ADMIN_ACCESS),
) -> CacheClearedOut:
    """Remove every key of the caches (the next reads go to the source)."""
    cleared = await caches_of(request.app).clear(name)
    return CacheClearedOut(cleared=cleared, total=sum(cleared.values()))
