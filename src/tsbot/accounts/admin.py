"""Administration: create users with a role, change roles and activation, deactivate, delete, and read the audit
log. Every method takes the ``actor`` (a signed-in :class:`Identity`, whose permissions are checked, or
:data:`~tsbot.accounts.models.OPERATOR` for the command line) and records an audit entry."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from tsbot.accounts.errors import AccountInputError, LastAdminError, UserNotFoundError
from tsbot.accounts.models import Actor, Permission, Role, User
from tsbot.accounts.records import AuditAction, AuditEntry, UserRecord
from tsbot.accounts.registration import RegistrationPart
from tsbot.accounts.validation import normalise_email
from tsbot.core.time import to_utc


class AdminPart(RegistrationPart):
    """User administration and the audit log."""

    async def create_user(
        self,
        actor: Actor,
        email: str,
        password: str,
        role: Role = Role.VIEWER,
        *,
        display_name: str | None = None,
        email_verified: bool = True,
        active_until: datetime | None = None,
        ip: str | None = None,
    ) -> User:
        """Create a user with ``role``; the address counts as confirmed (an administrator vouches for it) unless
        ``email_verified`` is False. No email is sent. ``active_until`` (UTC): None, no end.

        Raises:
            PermissionDeniedError: the actor lacks ``write_users``.
            InvalidEmailError, WeakPasswordError, AccountInputError, EmailTakenError: see :meth:`register`.
        """
        actor.require(Permission.WRITE_USERS)
        record = await self._new_user(
            email, password, display_name, Role(role), email_verified=email_verified, active_until_days=None
        )
        if active_until is not None:
            record = await self._update_user(record.user.id, active_until=to_utc(active_until))
        await self._audit(
            AuditAction.USER_CREATED,
            actor=actor,
            target=record.user.id,
            ip=ip,
            email=record.user.email,
            role=record.user.role.value,
        )
        return record.user

    async def get_user(self, actor: Actor, user_id: str) -> User:
        """The user ``user_id``.

        Raises:
            PermissionDeniedError: the actor lacks ``read_users``.
            UserNotFoundError: no such user.
        """
        actor.require(Permission.READ_USERS)
        return (await self._record(user_id)).user

    async def find_user(self, actor: Actor, email: str) -> User:
        """The user with this email address (any case).

        Raises:
            PermissionDeniedError: the actor lacks ``read_users``.
            UserNotFoundError: no such user.
        """
        actor.require(Permission.READ_USERS)
        record = await self._users.by_email(normalise_email(email))
        if record is None:
            raise UserNotFoundError(f"no user with email {email.strip().lower()}")
        return record.user

    async def list_users(
        self,
        actor: Actor,
        *,
        role: Role | None = None,
        active: bool | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> list[User]:
        """Users, oldest first (``limit`` 1..1000 from ``offset``), of ``role`` / active or not when given.

        Raises:
            PermissionDeniedError: the actor lacks ``read_users``.
        """
        actor.require(Permission.READ_USERS)
        limit = max(1, min(int(limit), 1000))
        records = await self._users.list(role, active, limit, max(0, int(offset)))
        return [r.user for r in records]

    async def set_role(self, actor: Actor, user_id: str, role: Role, *, ip: str | None = None) -> User:
        """Give the user ``role`` (it applies to their next request: tokens carry no authority of their own).

        Raises:
            PermissionDeniedError: the actor lacks ``write_users``.
            LastAdminError: the last active admin would lose the role.
            UserNotFoundError: no such user.
        """
        actor.require(Permission.WRITE_USERS)
        record = await self._record(user_id)
        new_role = Role(role)
        if new_role is not Role.ADMIN:
            await self._keep_an_admin(record)
        old = record.user.role
        record = await self._update_user(user_id, role=new_role)
        await self._audit(
            AuditAction.ROLE_CHANGED, actor=actor, target=user_id, ip=ip, old=old.value, new=new_role.value
        )
        return record.user

    async def set_active(self, actor: Actor, user_id: str, active: bool, *, ip: str | None = None) -> User:
        """Activate or deactivate the user. A deactivated user cannot sign in, their sessions are ended and their
        tokens and API keys stop working at once.

        Raises:
            PermissionDeniedError: the actor lacks ``write_users``.
            LastAdminError: the last active admin would be deactivated.
            UserNotFoundError: no such user.
        """
        actor.require(Permission.WRITE_USERS)
        record = await self._record(user_id)
        if not active:
            await self._keep_an_admin(record)
        record = await self._update_user(user_id, is_active=bool(active))
        ended = 0
        if not active:
            ended = await self._tokens.revoke_user_sessions(user_id, self._now())
        action = AuditAction.ACTIVATED if active else AuditAction.DEACTIVATED
        await self._audit(action, actor=actor, target=user_id, ip=ip, sessions_ended=ended)
        return record.user

    async def deactivate(self, actor: Actor, user_id: str, *, ip: str | None = None) -> User:
        """:meth:`set_active` with ``active=False``."""
        return await self.set_active(actor, user_id, False, ip=ip)

    async def set_active_until(
        self, actor: Actor, user_id: str, until: datetime | None, *, ip: str | None = None
    ) -> User:
        """Set the end of the user's activation (UTC; None: no end). After it, sign-in and tokens are refused.

        Raises:
            PermissionDeniedError: the actor lacks ``write_users``.
            LastAdminError: it would end the last active admin's activation now.
            UserNotFoundError: no such user.
        """
        actor.require(Permission.WRITE_USERS)
        record = await self._record(user_id)
        value = None if until is None else to_utc(until)
        if value is not None and value <= self._now():
            await self._keep_an_admin(record)
        old = record.user.active_until
        record = await self._update_user(user_id, active_until=value)
        await self._audit(
            AuditAction.ACTIVE_UNTIL_CHANGED,
            actor=actor,
            target=user_id,
            ip=ip,
            old=old.isoformat() if old else None,
            new=value.isoformat() if value else None,
        )
        return record.user

    async def extend_activation(
        self, actor: Actor, user_id: str, days: int, *, ip: str | None = None
    ) -> User:
        """Extend the user's activation by ``days`` (1..36500) from its current end, or from now when it has
        ended; a user without an end keeps none.

        Raises:
            AccountInputError: ``days`` out of range.
            PermissionDeniedError, UserNotFoundError: see :meth:`set_active_until`.
        """
        if not 1 <= int(days) <= 36_500:
            raise AccountInputError("days must be between 1 and 36500")
        actor.require(Permission.WRITE_USERS)
        record = await self._record(user_id)
        current = record.user.active_until
        if current is None:
            return record.user
        start = max(current, self._now())
        return await self.set_active_until(actor, user_id, start + timedelta(days=int(days)), ip=ip)

    async def delete_user(self, actor: Actor, user_id: str, *, ip: str | None = None) -> None:
        """Delete the user with their sessions, API keys and recovery codes (sign-in history and audit entries
        stay).

        Raises:
            PermissionDeniedError: the actor lacks ``write_users``.
            LastAdminError: the user is the last active admin.
            UserNotFoundError: no such user.
        """
        actor.require(Permission.WRITE_USERS)
        record = await self._record(user_id)
        await self._keep_an_admin(record)
        if not await self._users.delete(user_id):
            raise UserNotFoundError(f"no user with id {user_id}")
        await self._audit(
            AuditAction.USER_DELETED, actor=actor, target=user_id, ip=ip, email=record.user.email
        )

    async def reset_totp(self, actor: Actor, user_id: str, *, ip: str | None = None) -> User:
        """Turn the user's two-factor sign-in off without a code (a lost phone and lost recovery codes); the
        secret and recovery codes are deleted and every session is ended.

        Raises:
            PermissionDeniedError: the actor lacks ``write_users``.
            UserNotFoundError: no such user.
        """
        actor.require(Permission.WRITE_USERS)
        record = await self._update_user(user_id, totp_secret=None, totp_enabled=False)
        await self._users.set_recovery_codes(user_id, [])
        ended = await self._tokens.revoke_user_sessions(user_id, self._now())
        await self._audit(
            AuditAction.TOTP_DISABLED, actor=actor, target=user_id, ip=ip, by_admin=True, sessions_ended=ended
        )
        return record.user

    async def audit_log(
        self,
        actor: Actor,
        *,
        user_id: str | None = None,
        actions: Sequence[AuditAction] | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = 100,
    ) -> list[AuditEntry]:
        """Audit entries, newest first (``limit`` 1..1000): by or about ``user_id``, of ``actions``, with
        ``since <= at < until`` (UTC), when given.

        Raises:
            PermissionDeniedError: the actor lacks ``read_audit``.
        """
        actor.require(Permission.READ_AUDIT)
        return await self._events.audit(
            user_id=user_id,
            actions=actions,
            since=None if since is None else to_utc(since),
            until=None if until is None else to_utc(until),
            limit=max(1, min(int(limit), 1000)),
        )

    async def _keep_an_admin(self, record: UserRecord) -> None:
        """Raise :class:`LastAdminError` when ``record`` is the only admin able to sign in now."""
        user = record.user
        now = self._now()
        if user.role is Role.ADMIN and user.can_sign_in_at(now) and await self._users.count_admins(now) <= 1:
            raise LastAdminError()
