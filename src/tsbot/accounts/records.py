"""What the account stores keep: users with their password hash, refresh tokens, single-use email tokens, API keys,
sign-in events and the audit log. Times are aware UTC datetimes.

Hashes and ciphertexts are kept out of ``repr`` (``field(repr=False)``): a record printed into a log shows none.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, Final

from tsbot.accounts.models import Permission, User


@dataclass(frozen=True, slots=True)
class UserRecord:
    """A stored user with its secrets.

    Attributes:
        password_hash: argon2id hash (PHC string) of the password.
        totp_secret: the TOTP secret encrypted by the :class:`~tsbot.accounts.ports.SecretBox` (None: never set up);
            while ``user.totp_enabled`` is False it is a setup waiting for its first code.
        totp_last_step: the 30-second time step of the last accepted TOTP code; a code of that step or an earlier
            one is refused (no replay).
    """

    user: User
    password_hash: str = field(repr=False)
    totp_secret: str | None = field(default=None, repr=False)
    totp_last_step: int | None = None


@dataclass(frozen=True, slots=True)
class RefreshTokenRecord:
    """One refresh token of a sign-in session. Every rotation adds a token to the same ``family_id`` (the session)
    and marks the presented one ``used_at``; presenting a used one again revokes the family.

    Attributes:
        token_hash: SHA-256 (hex) of the opaque token; the token itself is never stored.
        ip, user_agent: where the session was opened from (None when unknown).
    """

    id: str
    user_id: str
    family_id: str
    token_hash: str = field(repr=False)
    created_at: datetime
    expires_at: datetime
    used_at: datetime | None = None
    revoked_at: datetime | None = None
    ip: str | None = None
    user_agent: str | None = None


class TokenPurpose(StrEnum):
    """What a single-use emailed token is for."""

    VERIFY_EMAIL = "verify_email"
    RESET_PASSWORD = "reset_password"


@dataclass(frozen=True, slots=True)
class OneTimeToken:
    """A single-use token sent by email; ``token_hash`` is the SHA-256 (hex) of the token in the link."""

    token_hash: str = field(repr=False)
    user_id: str
    purpose: TokenPurpose
    created_at: datetime
    expires_at: datetime
    used_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class ApiKeyInfo:
    """An API key as shown after creation: never the key itself, only ``prefix`` (``tsb_`` and the key's first
    characters) to recognise it.

    Attributes:
        scopes: what the key may do; narrowed further to the owner's role permissions at each use.
        expires_at: None: no end.
        last_used_at: the last successful authentication with it (UTC).
        revoked_at: set when revoked; a revoked key is refused.
    """

    id: str
    user_id: str
    name: str
    prefix: str
    scopes: frozenset[Permission]
    created_at: datetime
    expires_at: datetime | None = None
    last_used_at: datetime | None = None
    revoked_at: datetime | None = None

    def usable_at(self, at: datetime) -> bool:
        """True when the key is neither revoked nor expired at ``at`` (UTC)."""
        return self.revoked_at is None and (self.expires_at is None or at < self.expires_at)


class LoginOutcome(StrEnum):
    """How a sign-in attempt ended."""

    SUCCESS = "success"
    BAD_PASSWORD = "bad_password"
    UNKNOWN_EMAIL = "unknown_email"
    BAD_TOTP = "bad_totp"
    TOTP_REQUIRED = "totp_required"
    LOCKED = "locked"
    INACTIVE = "inactive"
    UNVERIFIED = "unverified"


#: Outcomes that count towards the sign-in lock (per account and per IP). A refusal while locked does not count, so
#: the lock ends ``login_window_minutes`` after the failures that caused it.
COUNTED_FAILURES: Final = frozenset(
    {LoginOutcome.BAD_PASSWORD, LoginOutcome.UNKNOWN_EMAIL, LoginOutcome.BAD_TOTP}
)


@dataclass(frozen=True, slots=True)
class LoginEvent:
    """One sign-in attempt: the email as typed (lowercased), the user when the email is known, the client's IP and
    user agent (None when unknown), the outcome, at ``at`` (UTC). ``id`` is set by the store."""

    at: datetime
    email: str
    user_id: str | None
    ip: str | None
    user_agent: str | None
    outcome: LoginOutcome
    id: int | None = None

    @property
    def success(self) -> bool:
        """True for a successful sign-in."""
        return self.outcome is LoginOutcome.SUCCESS


class AuditAction(StrEnum):
    """Security-relevant actions recorded in the audit log."""

    REGISTER = "user.register"
    EMAIL_VERIFIED = "user.email_verified"
    LOGIN = "session.login"
    LOGIN_FAILED = "session.login_failed"
    LOGIN_LOCKED = "session.login_locked"
    LOGOUT = "session.logout"
    REFRESH_REUSED = "session.refresh_reused"
    PASSWORD_CHANGED = "password.changed"
    PASSWORD_RESET_REQUESTED = "password.reset_requested"
    PASSWORD_RESET = "password.reset"
    TOTP_SETUP = "totp.setup"
    TOTP_ENABLED = "totp.enabled"
    TOTP_DISABLED = "totp.disabled"
    RECOVERY_CODE_USED = "totp.recovery_code_used"
    RECOVERY_CODES_RENEWED = "totp.recovery_codes_renewed"
    API_KEY_CREATED = "api_key.created"
    API_KEY_REVOKED = "api_key.revoked"
    USER_CREATED = "user.created"
    ROLE_CHANGED = "user.role_changed"
    ACTIVATED = "user.activated"
    DEACTIVATED = "user.deactivated"
    ACTIVE_UNTIL_CHANGED = "user.active_until_changed"
    USER_DELETED = "user.deleted"
    PROFILE_UPDATED = "user.profile_updated"
    CONFIG_CHANGED = "config.changed"
    TELEGRAM_CODE_ISSUED = "telegram.code_issued"
    TELEGRAM_LINKED = "telegram.linked"
    TELEGRAM_UNLINKED = "telegram.unlinked"
    WEBHOOK_TOKEN_CREATED = "webhook_token.created"
    WEBHOOK_TOKEN_DELETED = "webhook_token.deleted"


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One line of the audit log: who (``actor_id``: a user id, None for the operator or an anonymous caller;
    ``actor``: a label, the email or ``operator`` or ``anonymous``) did what (``action``) to whom (``target``: a
    user id, key id ...) from where (``ip``), when (``at``, UTC), with details (a JSON object without secrets).
    ``id`` is set by the store."""

    at: datetime
    action: AuditAction
    actor_id: str | None
    actor: str
    target: str | None = None
    ip: str | None = None
    details: Mapping[str, Any] = field(default_factory=dict)
    id: int | None = None
