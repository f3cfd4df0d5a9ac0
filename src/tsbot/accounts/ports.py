"""The ports accounts need: stores (the database), a mailer and a secret box. Adapters live in
:mod:`tsbot.adapters.storage` (SQL stores), :mod:`tsbot.adapters.email.smtp` and :mod:`tsbot.adapters.account_secrets`.

Times are aware UTC datetimes. Hashes are SHA-256 hex digests made by :func:`tsbot.accounts.tokens.digest`; no store
ever sees a token, key or recovery code in clear.
"""

from __future__ import annotations

import builtins
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any, Final, Protocol

from tsbot.accounts.models import Role
from tsbot.accounts.records import (
    ApiKeyInfo,
    AuditAction,
    AuditEntry,
    LoginEvent,
    OneTimeToken,
    RefreshTokenRecord,
    TokenPurpose,
    UserRecord,
)

#: Fields :meth:`UserStore.update` may change: ``password_hash`` and ``totp_secret`` of the
#: :class:`~tsbot.accounts.records.UserRecord`, the rest of its :class:`~tsbot.accounts.models.User`.
USER_FIELDS: Final = frozenset(
    {
        "display_name",
        "role",
        "is_active",
        "email_verified",
        "active_until",
        "totp_enabled",
        "preferences",
        "updated_at",
        "last_login_at",
        "password_hash",
        "totp_secret",
    }
)


class UserStore(Protocol):
    """Users (unique lowercased email) and their two-factor recovery codes."""

    async def add(self, record: UserRecord) -> None:
        """Store a new user. Raises :class:`~tsbot.accounts.errors.EmailTakenError` when the email is in use."""
        ...

    async def get(self, user_id: str) -> UserRecord | None:
        """The user ``user_id``, or None."""
        ...

    async def by_email(self, email: str) -> UserRecord | None:
        """The user with this (lowercased) email, or None."""
        ...

    async def list(
        self, role: Role | None = None, active: bool | None = None, limit: int = 100, offset: int = 0
    ) -> builtins.list[UserRecord]:
        """Users (of ``role``, active or not when given), oldest first, ``limit`` from ``offset``."""
        ...

    async def count_admins(self, at: datetime) -> int:
        """Admins who are active and whose activation has not run out at ``at``."""
        ...

    async def update(self, user_id: str, changes: Mapping[str, Any]) -> UserRecord:
        """Set the fields named in ``changes`` (only those, so concurrent changes to other fields are kept) and
        return the stored user. Field names: those of :data:`USER_FIELDS`. ``totp_last_step`` is changed only by
        :meth:`advance_totp_step`. Raises :class:`~tsbot.accounts.errors.UserNotFoundError` when the user is gone,
        ``ValueError`` for another field name."""
        ...

    async def advance_totp_step(self, user_id: str, step: int) -> bool:
        """Set the user's ``totp_last_step`` to ``step`` when it is None or smaller; True when this call did it
        (atomic, so one code is accepted once even by two concurrent requests)."""
        ...

    async def delete(self, user_id: str) -> bool:
        """Delete the user with its tokens, keys and recovery codes; False when there was none."""
        ...

    async def set_recovery_codes(self, user_id: str, code_hashes: Iterable[str]) -> None:
        """Replace the user's recovery codes by ``code_hashes`` (empty: none)."""
        ...

    async def use_recovery_code(self, user_id: str, code_hash: str) -> bool:
        """Consume one recovery code: True when it existed (it is gone now); atomic, so one code works once."""
        ...

    async def recovery_codes_left(self, user_id: str) -> int:
        """How many unused recovery codes the user has."""
        ...


class TokenStore(Protocol):
    """Refresh tokens (grouped in families: one family per sign-in session) and single-use email tokens."""

    async def add_refresh(self, record: RefreshTokenRecord) -> None:
        """Store a new refresh token."""
        ...

    async def refresh_by_hash(self, token_hash: str) -> RefreshTokenRecord | None:
        """The refresh token with this hash, or None."""
        ...

    async def mark_refresh_used(self, token_id: str, at: datetime) -> bool:
        """Mark the token used at ``at`` unless it was used or revoked already; True when this call did it (so of
        two concurrent refreshes with one token only one wins)."""
        ...

    async def revoke_family(self, family_id: str, at: datetime) -> int:
        """Revoke every unrevoked token of the family; the number revoked."""
        ...

    async def revoke_user_sessions(self, user_id: str, at: datetime, keep_family: str | None = None) -> int:
        """Revoke every unrevoked refresh token of the user except those of ``keep_family``; the number revoked."""
        ...

    async def family_active(self, family_id: str, at: datetime) -> bool:
        """True when the family has a token that is neither used, revoked nor expired at ``at``."""
        ...

    async def add_one_time(self, token: OneTimeToken) -> None:
        """Store a single-use email token."""
        ...

    async def one_time_by_hash(self, token_hash: str) -> OneTimeToken | None:
        """The single-use token with this hash, or None."""
        ...

    async def mark_one_time_used(self, token_hash: str, at: datetime) -> bool:
        """Mark the token used at ``at`` unless it was used already; True when this call did it."""
        ...

    async def discard_one_time(self, user_id: str, purpose: TokenPurpose, at: datetime) -> int:
        """Mark the user's unused tokens of ``purpose`` used (they stop working); the number discarded."""
        ...


class ApiKeyStore(Protocol):
    """API keys, found by the hash of the key."""

    async def add_key(self, info: ApiKeyInfo, key_hash: str) -> None:
        """Store a new key."""
        ...

    async def key_by_hash(self, key_hash: str) -> ApiKeyInfo | None:
        """The key with this hash (revoked or not), or None."""
        ...

    async def list_keys(self, user_id: str) -> builtins.list[ApiKeyInfo]:
        """The user's keys, revoked ones too, newest first."""
        ...

    async def revoke_key(self, user_id: str, key_id: str, at: datetime) -> bool:
        """Revoke the user's key ``key_id``; False when the user has no such unrevoked key."""
        ...

    async def touch_key(self, key_id: str, at: datetime) -> None:
        """Record a use of the key at ``at``."""
        ...


class AccountEventLog(Protocol):
    """Sign-in attempts and the audit log (append-only)."""

    async def add_login(self, event: LoginEvent) -> None:
        """Record a sign-in attempt."""
        ...

    async def failure_times(
        self, since: datetime, *, email: str | None = None, ip: str | None = None
    ) -> builtins.list[datetime]:
        """Times (ascending) of the counted failures (:data:`~tsbot.accounts.records.COUNTED_FAILURES`) strictly
        after ``since`` for this email, or from this IP."""
        ...

    async def last_success_at(self, email: str) -> datetime | None:
        """The time of the last successful sign-in with this email, or None."""
        ...

    async def login_history(self, user_id: str, limit: int = 50) -> builtins.list[LoginEvent]:
        """The user's sign-in attempts, newest first."""
        ...

    async def add_audit(self, entry: AuditEntry) -> None:
        """Append an audit entry."""
        ...

    async def audit(
        self,
        *,
        user_id: str | None = None,
        actions: Sequence[AuditAction] | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = 100,
    ) -> builtins.list[AuditEntry]:
        """Audit entries, newest first: done by or to ``user_id`` (actor or target), of ``actions``, with
        ``since <= at < until``, when given."""
        ...


class Mailer(Protocol):
    """Sends plain-text email.

    Raises (adapters): :class:`~tsbot.core.errors.ConfigError` when email is not configured;
    :class:`~tsbot.core.errors.TemporaryError` when the server is unreachable or refuses for now (4xx);
    :class:`~tsbot.core.errors.OperationalError` when it refuses for good (5xx: bad address, bad login).
    """

    async def send(self, to: str, subject: str, text: str) -> None:
        """Send ``text`` (plain text, UTF-8) to ``to`` with ``subject``."""
        ...


class SecretBox(Protocol):
    """Encrypts small secrets at rest (TOTP secrets)."""

    def encrypt(self, plaintext: str) -> str:
        """``plaintext`` encrypted: ASCII text that only :meth:`decrypt` opens."""
        ...

    def decrypt(self, ciphertext: str) -> str:
        """The plaintext of ``ciphertext``. Raises an OperationalError when it cannot be opened."""
        ...
