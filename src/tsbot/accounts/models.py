"""Users, roles and permissions.

Times are aware UTC datetimes. Nothing here holds a secret: password hashes, TOTP secrets and tokens live in the
records of :mod:`tsbot.accounts.records` and the results of :mod:`tsbot.accounts.results`, whose ``repr`` hides
them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from types import MappingProxyType
from typing import Final

from tsbot.accounts.errors import PermissionDeniedError


class Role(StrEnum):
    """What a user is: ``admin`` (everything), ``trader`` (trading, bots, AI and reading), ``viewer`` (reading
    only), ``api_user`` (a program: reads signals, market data and portfolios, places orders)."""

    ADMIN = "admin"
    TRADER = "trader"
    VIEWER = "viewer"
    API_USER = "api_user"


class Permission(StrEnum):
    """One thing a role (or an API key's scope) allows."""

    READ_USERS = "read_users"
    WRITE_USERS = "write_users"
    READ_AUDIT = "read_audit"
    ADMIN_ACCESS = "admin_access"
    SYSTEM_CONFIG = "system_config"
    READ_MARKET = "read_market"
    READ_SIGNALS = "read_signals"
    WRITE_SIGNALS = "write_signals"
    READ_PORTFOLIO = "read_portfolio"
    WRITE_PORTFOLIO = "write_portfolio"
    READ_ORDERS = "read_orders"
    WRITE_ORDERS = "write_orders"
    DELETE_ORDERS = "delete_orders"
    READ_BOTS = "read_bots"
    WRITE_BOTS = "write_bots"
    RUN_BACKTESTS = "run_backtests"
    USE_AI = "use_ai"
    TRAIN_MODELS = "train_models"
    SEND_MESSAGES = "send_messages"


_READ: Final = frozenset(
    {
        Permission.READ_MARKET,
        Permission.READ_SIGNALS,
        Permission.READ_PORTFOLIO,
        Permission.READ_ORDERS,
        Permission.READ_BOTS,
    }
)
_TRADE: Final = frozenset(
    {
        Permission.WRITE_SIGNALS,
        Permission.WRITE_PORTFOLIO,
        Permission.WRITE_ORDERS,
        Permission.DELETE_ORDERS,
        Permission.WRITE_BOTS,
        Permission.RUN_BACKTESTS,
        Permission.USE_AI,
        Permission.SEND_MESSAGES,
    }
)

#: The permissions of each role. Admin: all; trader: reading, trading, bots, backtests, AI and messages (not user
#: administration, model training or system settings); viewer: reading only; api_user: signals, market data and
#: portfolios to read, orders to read and place.
ROLE_PERMISSIONS: Final[Mapping[Role, frozenset[Permission]]] = MappingProxyType(
    {
        Role.ADMIN: frozenset(Permission),
        Role.TRADER: _READ | _TRADE,
        Role.VIEWER: _READ,
        Role.API_USER: frozenset(
            {
                Permission.READ_SIGNALS,
                Permission.READ_MARKET,
                Permission.READ_PORTFOLIO,
                Permission.READ_ORDERS,
                Permission.WRITE_ORDERS,
            }
        ),
    }
)


def permissions_of(role: Role) -> frozenset[Permission]:
    """The permissions of ``role`` (see :data:`ROLE_PERMISSIONS`)."""
    return ROLE_PERMISSIONS[Role(role)]


#: Notification preference values: on/off switches, thresholds, channel names.
NotificationValue = bool | int | float | str


@dataclass(frozen=True, slots=True)
class Preferences:
    """A user's settings: IANA time zone (``Europe/Berlin``) for showing times, language tag (``en``, ``pt-BR``),
    display currency (``USD``, ``EUR``, ``USDT``) and notification preferences (``{"email": True,
    "signals_min_confidence": 0.6}``). Validated by :mod:`tsbot.accounts.validation` before they are stored."""

    time_zone: str = "UTC"
    language: str = "en"
    currency: str = "USD"
    notifications: Mapping[str, NotificationValue] = field(default_factory=dict)

    def to_json(self) -> dict[str, object]:
        """A JSON object of the preferences (for storage)."""
        return {
            "time_zone": self.time_zone,
            "language": self.language,
            "currency": self.currency,
            "notifications": dict(self.notifications),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, object] | None) -> Preferences:
        """Preferences from :meth:`to_json`'s object; missing keys take the defaults."""
        data = data or {}
        notifications = data.get("notifications")
        return cls(
            time_zone=str(data.get("time_zone") or "UTC"),
            language=str(data.get("language") or "en"),
            currency=str(data.get("currency") or "USD"),
            notifications=dict(notifications) if isinstance(notifications, Mapping) else {},
        )


@dataclass(frozen=True, slots=True)
class User:
    """A user as the rest of tsbot sees it (no secrets).

    Attributes:
        id: opaque id (UUID text).
        email: lowercased, unique.
        display_name: as the user typed it (stored verbatim; escape it when rendering HTML).
        active_until: after this time (UTC) the account cannot sign in and its tokens stop working; None: no end.
        totp_enabled: two-factor sign-in is on.
        created_at, updated_at, last_login_at: UTC.
    """

    id: str
    email: str
    display_name: str
    role: Role
    is_active: bool
    email_verified: bool
    active_until: datetime | None
    totp_enabled: bool
    preferences: Preferences
    created_at: datetime
    updated_at: datetime
    last_login_at: datetime | None = None

    def can_sign_in_at(self, at: datetime) -> bool:
        """True when the account is active and its activation has not run out at ``at`` (UTC)."""
        return self.is_active and (self.active_until is None or at < self.active_until)

    @property
    def permissions(self) -> frozenset[Permission]:
        """The permissions of the user's role."""
        return permissions_of(self.role)


@dataclass(frozen=True, slots=True)
class Identity:
    """Who is making a request, as established by an access token or an API key.

    Attributes:
        user: the user as stored now (role and activation are read from the store, not from the token).
        permissions: what this request may do: the role's permissions, narrowed to the key's scopes for an API key.
        session_id: the sign-in session (refresh-token family) of an access token; None for an API key.
        api_key_id: the API key used; None for an access token.
    """

    user: User
    permissions: frozenset[Permission]
    session_id: str | None = None
    api_key_id: str | None = None

    def can(self, permission: Permission) -> bool:
        """True when this identity holds ``permission``."""
        return Permission(permission) in self.permissions

    def require(self, *permissions: Permission) -> None:
        """Check that this identity holds every one of ``permissions``.

        Raises:
            PermissionDeniedError: one is missing (the message names it and the role).
        """
        missing = [p.value for p in permissions if not self.can(p)]
        if missing:
            via = " through this API key" if self.api_key_id else ""
            raise PermissionDeniedError(
                f"permission denied: needs {', '.join(missing)}, which role {self.user.role.value} lacks{via}"
            )

    @property
    def label(self) -> str:
        """How the audit log names this actor (the user's email)."""
        return self.user.email


@dataclass(frozen=True, slots=True)
class Operator:
    """The machine's operator acting through the command line: allowed every administration action. The audit
    log records it as ``operator``. Use :data:`OPERATOR`."""

    label: str = "operator"

    def require(self, *permissions: Permission) -> None:
        """The operator holds every permission: never raises."""


#: The command line's operator (see :class:`Operator`).
OPERATOR: Final = Operator()

#: Who performs an administration action: a signed-in identity (permissions checked) or the operator.
Actor = Identity | Operator
