"""Request and response bodies of the administration routes (:mod:`tsbot.apps.api.admin`).

Times are ISO-8601 UTC. No body carries a password hash, a TOTP secret or a token.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, EmailStr, Field

from tsbot.accounts.models import Role
from tsbot.adapters.storage.admin_queries import AuditRow, Dashboard
from tsbot.apps.api.account_models import MAX_PASSWORD
from tsbot.apps.api.cache import CacheStatus
from tsbot.core.time import to_utc


def _as_utc(value: datetime) -> datetime:
    """``value`` as aware UTC (no offset: UTC already)."""
    try:
        return to_utc(value)
    except OverflowError:
        raise ValueError("time out of range once converted to UTC") from None


#: A time given by a client, converted to aware UTC (a time without an offset is UTC).
UtcTime = Annotated[datetime, AfterValidator(_as_utc)]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class UserCreateIn(_Body):
    """A new user; the email counts as confirmed unless ``email_verified`` is false (no email is sent)."""

    email: EmailStr = Field(max_length=320)
    password: str = Field(min_length=1, max_length=MAX_PASSWORD)
    role: Role = Role.VIEWER
    display_name: str | None = Field(None, min_length=1, max_length=100)
    email_verified: bool = True
    active_until: UtcTime | None = Field(None, description="UTC; none: no end")


class UserPatchIn(_Body):
    """Changes to a user; absent fields stay. ``active_until`` null (sent explicitly) removes the end;
    ``extend_days`` extends the activation from its current end (or from now when it has ended)."""

    role: Role | None = None
    is_active: bool | None = None
    display_name: str | None = Field(None, min_length=1, max_length=100)
    active_until: UtcTime | None = Field(None, description="UTC; null removes the end")
    extend_days: int | None = Field(None, ge=1, le=36_500)
    reset_totp: bool = Field(
        False, description="turn two-factor sign-in off (a lost phone); ends every session"
    )


class DashboardOut(BaseModel):
    """Figures for the administration dashboard ("24 h": the 24 hours before ``at``)."""

    at: datetime
    users_total: int = Field(ge=0)
    users_by_role: dict[str, int]
    users_active: int = Field(ge=0)
    users_inactive: int = Field(ge=0)
    sign_ins_24h: int = Field(ge=0, description="successful sign-ins in the last 24 h")
    failed_sign_ins_24h: int = Field(ge=0, description="refused sign-in attempts in the last 24 h")
    signals_total: int = Field(ge=0)
    signals_24h: int = Field(ge=0, description="signals stored in the last 24 h")
    orders_total: int = Field(ge=0)
    orders_by_status: dict[str, int]
    bots_running: int = Field(ge=0)
    bots_by_status: dict[str, int]
    database_bytes: int | None = Field(None, description="database size in bytes, when the database tells it")
    live_connections: int = Field(ge=0, description="WebSocket clients connected to the answering process")

    @classmethod
    def of(cls, d: Dashboard, at: datetime, live_connections: int) -> DashboardOut:
        return cls(
            at=at,
            users_total=sum(d.users_by_role.values()),
            users_by_role=d.users_by_role,
            users_active=d.users_active,
            users_inactive=d.users_inactive,
            sign_ins_24h=d.sign_ins_24h,
            failed_sign_ins_24h=d.failed_sign_ins_24h,
            signals_total=d.signals_total,
            signals_24h=d.signals_24h,
            orders_total=sum(d.orders_by_status.values()),
            orders_by_status=d.orders_by_status,
            bots_running=d.bots_by_status.get("running", 0),
            bots_by_status=d.bots_by_status,
            database_bytes=d.database_bytes,
            live_connections=live_connections,
        )


class AuditEntryOut(BaseModel):
    """One security-relevant action: who (``actor_id``, ``actor``), what (``action``, ``target``, ``details``),
    when (``at``, UTC), from where (``ip``)."""

    id: int
    at: datetime
    actor_id: str | None = Field(
        description="the acting user's id; null for the operator or an anonymous caller"
    )
    actor: str = Field(description="email of the acting user, operator or anonymous")
    action: str = Field(description="e.g. session.login, user.deactivated, config.changed")
    target: str | None = Field(description="the user, key or configuration section acted on")
    ip: str | None
    details: dict[str, Any]

    @classmethod
    def of(cls, row: AuditRow) -> AuditEntryOut:
        return cls(
            id=row.id,
            at=row.at,
            actor_id=row.actor_id,
            actor=row.actor,
            action=row.action,
            target=row.target,
            ip=row.ip,
            details=dict(row.details),
        )


class CacheOut(BaseModel):
    """One named cache (``keys`` null when its backend did not answer; ``error`` says why)."""

    name: str
    backend: str = Field(description="memory or redis")
    ttl_s: float
    keys: int | None
    hits: int = Field(ge=0, description="since the answering process started")
    misses: int = Field(ge=0, description="since the answering process started")
    error: str | None = None

    @classmethod
    def of(cls, s: CacheStatus) -> CacheOut:
        return cls(
            name=s.name,
            backend=s.backend,
            ttl_s=s.ttl_s,
            keys=s.keys,
            hits=s.hits,
            misses=s.misses,
            error=s.error,
        )


class CacheStatusOut(BaseModel):
    """The caches of the answering process: ``backend`` new caches use, totals, and each cache."""

    backend: str = Field(description="memory (this process) or redis (shared)")
    keys: int = Field(ge=0, description="keys over all caches that answered")
    hits: int = Field(ge=0)
    misses: int = Field(ge=0)
    caches: list[CacheOut]


class CacheClearedOut(BaseModel):
    """Keys removed per cache."""

    cleared: dict[str, int]
    total: int = Field(ge=0)
