"""What the parts of :class:`~tsbot.accounts.service.AccountService` share: the ports, the settings, the clock,
password hashing, token issue, the audit log and email links."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import structlog
from pwdlib import PasswordHash

from tsbot.accounts.errors import UserNotFoundError
from tsbot.accounts.models import Actor, Identity, User
from tsbot.accounts.ports import AccountEventLog, ApiKeyStore, Mailer, SecretBox, TokenStore, UserStore
from tsbot.accounts.records import (
    AuditAction,
    AuditEntry,
    OneTimeToken,
    RefreshTokenRecord,
    TokenPurpose,
    UserRecord,
)
from tsbot.accounts.results import TokenPair
from tsbot.accounts.tokens import AccessTokenCodec, digest, new_id, new_token
from tsbot.config import AccountsConfig
from tsbot.core.time import utc_now

log = structlog.get_logger("tsbot.accounts")

#: Label of an unauthenticated actor in the audit log.
ANONYMOUS = "anonymous"


class ServiceBase:
    """The state and helpers every part of the account service uses (see :class:`AccountService` for the
    arguments)."""

    def __init__(
        self,
        *,
        users: UserStore,
        tokens: TokenStore,
        api_keys: ApiKeyStore,
        events: AccountEventLog,
        mailer: Mailer,
        config: AccountsConfig,
        jwt_secret: str,
        public_url: str,
        secret_box: SecretBox | None = None,
        clock: Callable[[], datetime] = utc_now,
        password_hash: PasswordHash | None = None,
    ) -> None:
        self._users = users
        self._tokens = tokens
        self._keys = api_keys
        self._events = events
        self._mailer = mailer
        self._config = config
        self._codec = AccessTokenCodec(jwt_secret, timedelta(minutes=config.access_token_minutes))
        self._public_url = public_url.rstrip("/")
        self._box = secret_box
        self._clock = clock
        self._hasher = password_hash or PasswordHash.recommended()
        self._dummy_hash: str | None = None

    def __repr__(self) -> str:
        return f"{type(self).__name__}(<stores, mailer and secrets hidden>)"

    def _now(self) -> datetime:
        return self._clock()

    # passwords -------------------------------------------------------------------------------------------------

    async def _hash_password(self, password: str) -> str:
        """The argon2id hash of ``password`` (computed in a worker thread: it takes ~0.1 s of CPU)."""
        return await asyncio.to_thread(self._hasher.hash, password)

    async def _verify_password(self, password: str, password_hash: str | None) -> tuple[bool, str | None]:
        """Whether ``password`` matches ``password_hash``, and a new hash when the stored one uses outdated
        parameters. ``password_hash`` None (unknown email) checks against a dummy hash so both answers take as
        long and always fails."""
        if password_hash is None:
            if self._dummy_hash is None:
                self._dummy_hash = await self._hash_password(new_token())
            await asyncio.to_thread(self._hasher.verify, password, self._dummy_hash)
            return False, None
        try:
            return await asyncio.to_thread(self._hasher.verify_and_update, password, password_hash)
        except Exception:  # a stored hash pwdlib cannot read: no password matches it
            log.warning("account_password_hash_unreadable")
            return False, None

    # users -----------------------------------------------------------------------------------------------------

    async def _record(self, user_id: str) -> UserRecord:
        """The stored user ``user_id``.

        Raises:
            UserNotFoundError: no such user.
        """
        record = await self._users.get(user_id)
        if record is None:
            raise UserNotFoundError(f"no user with id {user_id}")
        return record

    async def _update_user(self, user_id: str, **changes: Any) -> UserRecord:
        """Set ``changes`` (fields of :data:`~tsbot.accounts.ports.USER_FIELDS`) and ``updated_at`` on the stored
        user and return it.

        Raises:
            UserNotFoundError: no such user.
        """
        return await self._users.update(user_id, {**changes, "updated_at": self._now()})

    # sessions --------------------------------------------------------------------------------------------------

    async def _issue(
        self, user: User, family_id: str | None, ip: str | None, user_agent: str | None
    ) -> TokenPair:
        """A new access token and refresh token for ``user`` in session ``family_id`` (None: a new session)."""
        now = self._now()
        family = family_id or new_id()
        refresh = new_token()
        record = RefreshTokenRecord(
            id=new_id(),
            user_id=user.id,
            family_id=family,
            token_hash=digest(refresh),
            created_at=now,
            expires_at=now + timedelta(days=self._config.refresh_token_days),
            ip=clip(ip, 64),
            user_agent=clip(user_agent, 256),
        )
        await self._tokens.add_refresh(record)
        access, access_expires = self._codec.issue(user.id, user.role, family, now)
        return TokenPair(access, refresh, access_expires, record.expires_at, family)

    # single-use email tokens -----------------------------------------------------------------------------------

    async def _new_email_token(self, user_id: str, purpose: TokenPurpose, lifetime: timedelta) -> str:
        """A new single-use token for ``purpose`` (stored hashed), valid for ``lifetime``."""
        now = self._now()
        token = new_token()
        await self._tokens.add_one_time(OneTimeToken(digest(token), user_id, purpose, now, now + lifetime))
        return token

    def _link(self, path: str, token: str) -> str:
        """``<public_url>/<path>?token=<token>``."""
        return f"{self._public_url}/{path}?{urlencode({'token': token})}"

    # audit -----------------------------------------------------------------------------------------------------

    async def _audit(
        self,
        action: AuditAction,
        *,
        actor: Actor | User | None,
        target: str | None = None,
        ip: str | None = None,
        **details: Any,
    ) -> None:
        """Append an audit entry (and log it). ``actor``: the signed-in identity, the user acting on their own
        account, the operator, or None (anonymous). ``details`` must hold no secret."""
        if isinstance(actor, Identity):
            actor_id, label = actor.user.id, actor.label
        elif isinstance(actor, User):
            actor_id, label = actor.id, actor.email
        elif actor is None:
            actor_id, label = None, ANONYMOUS
        else:
            actor_id, label = None, actor.label
        entry = AuditEntry(self._now(), action, actor_id, label, target, clip(ip, 64), details)
        await self._events.add_audit(entry)
        log.info("account_audit", action=action.value, actor=label, target=target, ip=ip)


def clip(text: str | None, size: int) -> str | None:
    """``text`` cut to ``size`` characters (None stays None)."""
    return None if text is None else text[:size]
