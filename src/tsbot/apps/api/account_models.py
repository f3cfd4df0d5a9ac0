"""Request and response bodies of the account routes (:mod:`tsbot.apps.api.auth_routes`, :mod:`tsbot.apps.api.me`).

Times are ISO-8601 UTC. No body here carries a password hash, a TOTP secret or a stored token; secrets handed to the
user once (tokens, an API key, a TOTP setup, recovery codes) appear only in the answer that creates them.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, EmailStr, Field

from tsbot.accounts.models import NotificationValue, Permission, Role, User
from tsbot.accounts.records import ApiKeyInfo, LoginEvent
from tsbot.accounts.results import TokenPair

#: Longest password accepted (argon2 hashes anything, but a megabyte password is an attack, not a password).
MAX_PASSWORD = 256
#: A TOTP code (6 digits) or a recovery code (``xxxxx-xxxxx``).
CODE_PATTERN = r"^(\d{6}|[A-Za-z0-9]{5}-?[A-Za-z0-9]{5})$"

Password = Field(min_length=1, max_length=MAX_PASSWORD)


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PreferencesOut(BaseModel):
    """A user's settings (see :class:`tsbot.accounts.models.Preferences`)."""

    time_zone: str = Field(description="IANA time zone, e.g. Europe/Berlin")
    language: str = Field(description="language tag, e.g. en or pt-BR")
    currency: str = Field(description="display currency, e.g. USD")
    notifications: dict[str, NotificationValue]


class UserOut(BaseModel):
    """A user, without secrets."""

    id: str
    email: str
    display_name: str
    role: Role
    is_active: bool
    email_verified: bool
    active_until: datetime | None = Field(description="after this time (UTC) the account cannot sign in")
    totp_enabled: bool
    preferences: PreferencesOut
    permissions: list[Permission]
    created_at: datetime
    updated_at: datetime
    last_login_at: datetime | None

    @classmethod
    def of(cls, user: User) -> UserOut:
        prefs = user.preferences
        return cls(
            id=user.id,
            email=user.email,
            display_name=user.display_name,
            role=user.role,
            is_active=user.is_active,
            email_verified=user.email_verified,
            active_until=user.active_until,
            totp_enabled=user.totp_enabled,
            preferences=PreferencesOut(
                time_zone=prefs.time_zone,
                language=prefs.language,
                currency=prefs.currency,
                notifications=dict(prefs.notifications),
            ),
            permissions=sorted(user.permissions),
            created_at=user.created_at,
            updated_at=user.updated_at,
            last_login_at=user.last_login_at,
        )


class RegisterIn(_Body):
    email: EmailStr = Field(max_length=320)
    password: str = Password
    display_name: str | None = Field(None, min_length=1, max_length=100)


class LoginIn(_Body):
    email: str = Field(min_length=1, max_length=320)
    password: str = Password
    totp_code: str | None = Field(
        None, max_length=16, description="authenticator or recovery code, when two-factor sign-in is on"
    )


class TokensOut(BaseModel):
    """A signed-in session: send ``access_token`` as ``Authorization: Bearer``; exchange ``refresh_token`` once at
    ``POST /api/v1/auth/refresh`` for a new pair."""

    access_token: str
    refresh_token: str
    token_type: str = "bearer"
    expires_in: int = Field(description="seconds the access token stays valid")
    access_expires_at: datetime
    refresh_expires_at: datetime
    session_id: str

    @classmethod
    def of(cls, pair: TokenPair, now: datetime) -> TokensOut:
        return cls(
            access_token=pair.access_token,
            refresh_token=pair.refresh_token,
            token_type=pair.token_type,
            expires_in=max(0, int((pair.access_expires_at - now).total_seconds())),
            access_expires_at=pair.access_expires_at,
            refresh_expires_at=pair.refresh_expires_at,
            session_id=pair.session_id,
        )


class RefreshIn(_Body):
    refresh_token: str = Field(min_length=1, max_length=512)


class EmailIn(_Body):
    email: str = Field(min_length=1, max_length=320)


class TokenIn(_Body):
    token: str = Field(min_length=1, max_length=512, description="the token from the email's link")


class ResetPasswordIn(_Body):
    token: str = Field(min_length=1, max_length=512)
    new_password: str = Password


class ChangePasswordIn(_Body):
    current_password: str = Password
    new_password: str = Password


class ProfileIn(_Body):
    """Fields to change; absent fields stay. ``notifications`` replaces the whole mapping."""

    display_name: str | None = Field(None, min_length=1, max_length=100)
    time_zone: str | None = Field(None, min_length=1, max_length=64)
    language: str | None = Field(None, min_length=1, max_length=35)
    currency: str | None = Field(None, min_length=1, max_length=10)
    notifications: dict[str, NotificationValue] | None = Field(None, max_length=50)


class CodeIn(_Body):
    code: str = Field(pattern=CODE_PATTERN, description="a 6-digit authenticator code or a recovery code")


class TotpSetupOut(BaseModel):
    """Give ``secret`` or ``uri`` (as a QR code) to the authenticator app, then confirm with a code from it."""

    secret: str
    uri: str


class RecoveryCodesOut(BaseModel):
    """Single-use codes, shown once: each replaces one authenticator code."""

    codes: list[str]


class TotpStatusOut(BaseModel):
    enabled: bool
    recovery_codes_left: int


class ApiKeyIn(_Body):
    name: str = Field(min_length=1, max_length=64)
    scopes: list[Permission] | None = Field(
        None, max_length=len(Permission), description="none: every permission of your role"
    )
    expires_at: datetime | None = Field(None, description="UTC; none: until revoked")


class ApiKeyOut(BaseModel):
    """An API key without its secret: ``prefix`` recognises it."""

    id: str
    name: str
    prefix: str
    scopes: list[Permission]
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None
    revoked_at: datetime | None

    @classmethod
    def of(cls, info: ApiKeyInfo) -> ApiKeyOut:
        return cls(
            id=info.id,
            name=info.name,
            prefix=info.prefix,
            scopes=sorted(info.scopes),
            created_at=info.created_at,
            expires_at=info.expires_at,
            last_used_at=info.last_used_at,
            revoked_at=info.revoked_at,
        )


class NewApiKeyOut(BaseModel):
    """A new API key: ``key`` is shown this once; send it as ``Authorization: Bearer``."""

    key: str
    api_key: ApiKeyOut


class LoginEventOut(BaseModel):
    at: datetime
    email: str
    ip: str | None
    user_agent: str | None
    outcome: str

    @classmethod
    def of(cls, event: LoginEvent) -> LoginEventOut:
        return cls(
            at=event.at,
            email=event.email,
            ip=event.ip,
            user_agent=event.user_agent,
            outcome=str(event.outcome),
        )


class MessageOut(BaseModel):
    """A plain acknowledgement."""

    status: str
    message: str
