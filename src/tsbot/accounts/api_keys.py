"""API keys for programs: ``tsb_`` + 43 random characters, shown once, stored as a SHA-256 digest with a short
visible prefix. A key acts for its user with the key's scopes, narrowed at each use to what the user's role allows
then."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Final

from tsbot.accounts.base import ServiceBase
from tsbot.accounts.errors import (
    AccountInputError,
    PermissionDeniedError,
    TokenExpiredError,
    TokenInvalidError,
    TokenRevokedError,
)
from tsbot.accounts.models import Identity, Permission
from tsbot.accounts.records import ApiKeyInfo, AuditAction
from tsbot.accounts.results import NewApiKey
from tsbot.accounts.sessions import inactive_error
from tsbot.accounts.tokens import digest, new_id, new_token
from tsbot.core.errors import NotFoundError
from tsbot.core.time import to_utc

KEY_PREFIX: Final = "tsb_"
#: Characters of a key kept visible (``tsb_`` and the first 8 random characters).
VISIBLE: Final = len(KEY_PREFIX) + 8
MAX_KEYS_PER_USER: Final = 50


class ApiKeysPart(ServiceBase):
    """Create, list, revoke and authenticate with API keys."""

    async def create_api_key(
        self,
        user_id: str,
        name: str,
        scopes: Iterable[Permission | str] | None = None,
        *,
        expires_at: datetime | None = None,
        ip: str | None = None,
    ) -> NewApiKey:
        """A new API key named ``name`` (1-64 characters) with ``scopes`` (None: every permission of the user's
        role), valid until ``expires_at`` (UTC; None: until revoked). The key is in the result only.

        Raises:
            AccountInputError: bad name, unknown scope, ``expires_at`` in the past, or too many keys.
            PermissionDeniedError: a scope the user's role does not have.
            UserNotFoundError: no such user.
        """
        record = await self._record(user_id)
        user = record.user
        label = (name or "").strip()
        if not 1 <= len(label) <= 64:
            raise AccountInputError("API key name must be 1 to 64 characters")
        try:
            wanted = user.permissions if scopes is None else frozenset(Permission(s) for s in scopes)
        except ValueError:
            known = ", ".join(p.value for p in Permission)
            raise AccountInputError(f"unknown scope; known scopes: {known}") from None
        if not wanted:
            raise AccountInputError("an API key needs at least one scope")
        beyond = sorted(p.value for p in wanted - user.permissions)
        if beyond:
            raise PermissionDeniedError(f"role {user.role.value} cannot grant {', '.join(beyond)}")
        now = self._now()
        if expires_at is not None and to_utc(expires_at) <= now:
            raise AccountInputError("expires_at must be in the future")
        active = [k for k in await self._keys.list_keys(user_id) if k.usable_at(now)]
        if len(active) >= MAX_KEYS_PER_USER:
            raise AccountInputError(f"at most {MAX_KEYS_PER_USER} active API keys per user: revoke one first")
        key = KEY_PREFIX + new_token()
        info = ApiKeyInfo(
            id=new_id(),
            user_id=user_id,
            name=label,
            prefix=key[:VISIBLE],
            scopes=wanted,
            created_at=now,
            expires_at=None if expires_at is None else to_utc(expires_at),
        )
        await self._keys.add_key(info, digest(key))
        await self._audit(
            AuditAction.API_KEY_CREATED,
            actor=user,
            target=info.id,
            ip=ip,
            name=label,
            prefix=info.prefix,
            scopes=sorted(p.value for p in wanted),
        )
        return NewApiKey(key, info)

    async def list_api_keys(self, user_id: str) -> list[ApiKeyInfo]:
        """The user's API keys (revoked ones too), newest first; never the keys themselves."""
        return await self._keys.list_keys(user_id)

    async def revoke_api_key(self, user_id: str, key_id: str, *, ip: str | None = None) -> None:
        """Revoke the user's key ``key_id``: it stops working at once.

        Raises:
            NotFoundError: the user has no such key (or it is revoked already).
        """
        if not await self._keys.revoke_key(user_id, key_id, self._now()):
            raise NotFoundError(f"no active API key {key_id}")
        stored = await self._users.get(user_id)
        await self._audit(
            AuditAction.API_KEY_REVOKED, actor=stored.user if stored else None, target=key_id, ip=ip
        )

    async def authenticate_api_key(self, key: str) -> Identity:
        """The identity a request with API key ``key`` acts as: its user as stored now, with the key's scopes
        narrowed to the user's current role permissions.

        Raises:
            TokenInvalidError: not a tsbot key, or unknown.
            TokenRevokedError: the key was revoked, or its user deleted.
            TokenExpiredError: the key's ``expires_at`` passed.
            AccountInactiveError: the user is deactivated or past ``active_until``.
        """
        if not isinstance(key, str) or not key.startswith(KEY_PREFIX):
            raise TokenInvalidError("not a tsbot API key (they start with tsb_)")
        info = await self._keys.key_by_hash(digest(key))
        if info is None:
            raise TokenInvalidError("unknown API key")
        now = self._now()
        if info.revoked_at is not None:
            raise TokenRevokedError("this API key was revoked")
        if info.expires_at is not None and info.expires_at <= now:
            raise TokenExpiredError("this API key has expired")
        stored = await self._users.get(info.user_id)
        if stored is None:
            raise TokenRevokedError("this API key's account no longer exists")
        if not stored.user.can_sign_in_at(now):
            raise inactive_error(stored.user, now)
        await self._keys.touch_key(info.id, now)
        return Identity(stored.user, info.scopes & stored.user.permissions, api_key_id=info.id)
