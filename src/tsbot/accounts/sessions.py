"""Signing in and out: login with the sign-in lock, refresh-token rotation with reuse detection, logout, access
token checks, password change and the login history."""

from __future__ import annotations

from datetime import datetime, timedelta

from tsbot.accounts.base import clip, log
from tsbot.accounts.errors import (
    AccountInactiveError,
    AccountLockedError,
    EmailNotVerifiedError,
    InvalidCredentialsError,
    InvalidEmailError,
    InvalidTwoFactorCodeError,
    TokenExpiredError,
    TokenInvalidError,
    TokenReuseError,
    TokenRevokedError,
    TwoFactorRequiredError,
)
from tsbot.accounts.models import Identity, User
from tsbot.accounts.records import AuditAction, LoginEvent, LoginOutcome, RefreshTokenRecord, TokenPurpose
from tsbot.accounts.results import TokenPair
from tsbot.accounts.tokens import AccessClaims, digest
from tsbot.accounts.twofactor import TwoFactorPart
from tsbot.accounts.validation import check_password, normalise_email


def inactive_error(user: User, at: datetime) -> AccountInactiveError:
    """The error for a user who cannot sign in at ``at``: deactivated, or past ``active_until``."""
    if not user.is_active:
        return AccountInactiveError("this account is deactivated; ask an administrator")
    until = user.active_until
    assert until is not None
    return AccountInactiveError(
        f"this account's activation ended on {until:%Y-%m-%d %H:%M} UTC; ask an administrator to extend it"
    )


class SessionsPart(TwoFactorPart):
    """Login, refresh, logout, access-token checks, password change, login history."""

    async def login(
        self,
        email: str,
        password: str,
        *,
        totp_code: str | None = None,
        ip: str | None = None,
        user_agent: str | None = None,
    ) -> TokenPair:
        """Sign in with email and password (and the authenticator or a recovery code when two-factor sign-in is
        on); every attempt is recorded as a :class:`~tsbot.accounts.records.LoginEvent`.

        At most ``accounts.login_max_failures`` failures per account (since its last successful sign-in) and per
        IP within ``accounts.login_window_minutes`` are allowed; further tries are refused before the password is
        checked, whatever it is, until enough failures leave the window.

        Raises:
            AccountLockedError: too many recent failures (``retry_at`` says when to try again).
            InvalidCredentialsError: wrong password, or no account with this email (the same answer).
            AccountInactiveError: deactivated, or past ``active_until``.
            EmailNotVerifiedError: the address is not confirmed and ``accounts.require_email_verification`` is on.
            TwoFactorRequiredError: right password, two-factor on, no code given.
            InvalidTwoFactorCodeError: wrong, stale or already used code.
        """
        now = self._now()
        try:
            key = normalise_email(email)
        except InvalidEmailError:
            key = str(email or "").strip().lower()[:320]
        await self._check_lock(key, ip, user_agent, now)
        record = await self._users.by_email(key)
        ok, new_hash = await self._verify_password(password, None if record is None else record.password_hash)
        if record is None or not ok:
            outcome = LoginOutcome.UNKNOWN_EMAIL if record is None else LoginOutcome.BAD_PASSWORD
            await self._login_event(key, record.user if record else None, ip, user_agent, outcome)
            raise InvalidCredentialsError()
        user = record.user
        if not user.can_sign_in_at(now):
            await self._login_event(key, user, ip, user_agent, LoginOutcome.INACTIVE)
            raise inactive_error(user, now)
        if self._config.require_email_verification and not user.email_verified:
            await self._login_event(key, user, ip, user_agent, LoginOutcome.UNVERIFIED)
            raise EmailNotVerifiedError()
        if user.totp_enabled:
            if not totp_code:
                await self._login_event(key, user, ip, user_agent, LoginOutcome.TOTP_REQUIRED)
                raise TwoFactorRequiredError()
            if not await self._second_factor(record, totp_code, ip):
                await self._login_event(key, user, ip, user_agent, LoginOutcome.BAD_TOTP)
                raise InvalidTwoFactorCodeError()
        rehashed = {} if new_hash is None else {"password_hash": new_hash}
        record = await self._update_user(user.id, last_login_at=now, **rehashed)
        pair = await self._issue(record.user, None, ip, user_agent)
        await self._login_event(key, record.user, ip, user_agent, LoginOutcome.SUCCESS)
        await self._audit(
            AuditAction.LOGIN, actor=record.user, target=record.user.id, ip=ip, session=pair.session_id
        )
        return pair

    async def _check_lock(self, email: str, ip: str | None, user_agent: str | None, now: datetime) -> None:
        """Raise :class:`AccountLockedError` when the account or the IP has too many counted failures in the
        window; the refusal is recorded but does not count."""
        window = timedelta(minutes=self._config.login_window_minutes)
        limit = self._config.login_max_failures
        start = now - window
        last_ok = await self._events.last_success_at(email)
        account = await self._events.failure_times(max(start, last_ok) if last_ok else start, email=email)
        by_ip = await self._events.failure_times(start, ip=ip) if ip else []
        retry_at = max(
            (times[len(times) - limit] + window for times in (account, by_ip) if len(times) >= limit),
            default=None,
        )
        if retry_at is None:
            return
        record = await self._users.by_email(email)
        user = record.user if record else None
        await self._login_event(email, user, ip, user_agent, LoginOutcome.LOCKED)
        await self._audit(
            AuditAction.LOGIN_LOCKED,
            actor=None,
            target=user.id if user else None,
            ip=ip,
            email=email,
            by="account" if len(account) >= limit else "ip",
        )
        raise AccountLockedError(retry_at)

    async def _login_event(
        self, email: str, user: User | None, ip: str | None, user_agent: str | None, outcome: LoginOutcome
    ) -> None:
        """Record a sign-in attempt; failures also go to the audit log."""
        event = LoginEvent(
            self._now(), email, user.id if user else None, clip(ip, 64), clip(user_agent, 256), outcome
        )
        await self._events.add_login(event)
        if outcome not in (LoginOutcome.SUCCESS, LoginOutcome.LOCKED):
            await self._audit(
                AuditAction.LOGIN_FAILED,
                actor=None,
                target=user.id if user else None,
                ip=ip,
                email=email,
                reason=outcome.value,
            )

    async def refresh(
        self, refresh_token: str, *, ip: str | None = None, user_agent: str | None = None
    ) -> TokenPair:
        """Exchange a refresh token for a new pair in the same session (rotation: the old one stops working).

        Presenting a refresh token that was already exchanged means two parties hold it (one may be a thief): the
        whole session is revoked, an audit entry is recorded, and :class:`TokenReuseError` is raised.

        Raises:
            TokenInvalidError: unknown token.
            TokenRevokedError: the session was ended (logout, password change, reuse, deleted user).
            TokenReuseError: the token was already used (the session is now revoked).
            TokenExpiredError: the token's time ran out.
            AccountInactiveError: the user was deactivated or is past ``active_until`` (the session is revoked).
        """
        now = self._now()
        record = await self._tokens.refresh_by_hash(digest(refresh_token or ""))
        if record is None:
            raise TokenInvalidError("unknown refresh token: sign in again")
        if record.revoked_at is not None:
            raise TokenRevokedError("this session was ended: sign in again")
        if record.used_at is not None:
            await self._reused(record, ip)
        if record.expires_at <= now:
            raise TokenExpiredError("refresh token expired: sign in again")
        stored = await self._users.get(record.user_id)
        if stored is None:
            raise TokenRevokedError("this account no longer exists")
        if not stored.user.can_sign_in_at(now):
            await self._tokens.revoke_family(record.family_id, now)
            raise inactive_error(stored.user, now)
        if not await self._tokens.mark_refresh_used(record.id, now):
            await self._reused(record, ip)
        return await self._issue(stored.user, record.family_id, ip, user_agent)

    async def _reused(self, record: RefreshTokenRecord, ip: str | None) -> None:
        """Revoke the family of a reused refresh token, audit it, and raise :class:`TokenReuseError`."""
        revoked = await self._tokens.revoke_family(record.family_id, self._now())
        log.warning("refresh_token_reused", user_id=record.user_id, session=record.family_id, ip=ip)
        stored = await self._users.get(record.user_id)
        await self._audit(
            AuditAction.REFRESH_REUSED,
            actor=stored.user if stored else None,
            target=record.user_id,
            ip=ip,
            session=record.family_id,
            revoked=revoked,
        )
        raise TokenReuseError()

    async def logout(self, refresh_token: str, *, ip: str | None = None) -> bool:
        """End the session of ``refresh_token`` (every token of its family is revoked). False when the token is
        unknown (nothing to do); logging out twice is harmless."""
        record = await self._tokens.refresh_by_hash(digest(refresh_token or ""))
        if record is None:
            return False
        await self._end(record.user_id, record.family_id, ip)
        return True

    async def end_session(self, user_id: str, session_id: str, *, ip: str | None = None) -> None:
        """End the user's session ``session_id`` (an access token's ``Identity.session_id``)."""
        await self._end(user_id, session_id, ip)

    async def _end(self, user_id: str, family_id: str, ip: str | None) -> None:
        revoked = await self._tokens.revoke_family(family_id, self._now())
        stored = await self._users.get(user_id)
        await self._audit(
            AuditAction.LOGOUT,
            actor=stored.user if stored else None,
            target=user_id,
            ip=ip,
            session=family_id,
            revoked=revoked,
        )

    def decode_access_token(self, token: str) -> AccessClaims:
        """The claims of an access token, checked for signature, algorithm, type and expiry (not against the
        store: use :meth:`authenticate` for requests).

        Raises:
            TokenInvalidError: malformed, forged (another secret, ``alg: none``), or missing claims.
            TokenTypeError: not an access token.
            TokenExpiredError: expired.
        """
        return self._codec.decode(token, self._now())

    async def authenticate(self, access_token: str) -> Identity:
        """The identity behind an access token, as stored now: the role is read from the store, and a token of a
        deleted, deactivated or expired account, or of a session ended by logout or password change, is refused.

        Raises:
            TokenInvalidError, TokenTypeError, TokenExpiredError: see :meth:`decode_access_token`.
            TokenRevokedError: the session was ended or the account deleted.
            AccountInactiveError: the account is deactivated or past ``active_until``.
        """
        now = self._now()
        claims = self._codec.decode(access_token, now)
        stored = await self._users.get(claims.user_id)
        if stored is None:
            raise TokenRevokedError("this account no longer exists")
        if not stored.user.can_sign_in_at(now):
            raise inactive_error(stored.user, now)
        if not await self._tokens.family_active(claims.session_id, now):
            raise TokenRevokedError("this session was ended: sign in again")
        return Identity(stored.user, stored.user.permissions, session_id=claims.session_id)

    async def change_password(
        self,
        user_id: str,
        current_password: str,
        new_password: str,
        *,
        keep_session: str | None = None,
        ip: str | None = None,
    ) -> None:
        """Change the password after checking the current one; every other session is ended (``keep_session``,
        the caller's own, stays) and pending password-reset links stop working.

        Raises:
            InvalidCredentialsError: the current password is wrong.
            WeakPasswordError: the new password breaks the policy.
            UserNotFoundError: no such user.
        """
        record = await self._record(user_id)
        ok, _ = await self._verify_password(current_password, record.password_hash)
        if not ok:
            await self._audit(
                AuditAction.PASSWORD_CHANGED, actor=record.user, target=user_id, ip=ip, ok=False
            )
            raise InvalidCredentialsError()
        check_password(new_password, record.user.email)
        new_hash = await self._hash_password(new_password)
        now = self._now()
        await self._update_user(user_id, password_hash=new_hash)
        ended = await self._tokens.revoke_user_sessions(user_id, now, keep_family=keep_session)
        await self._tokens.discard_one_time(user_id, TokenPurpose.RESET_PASSWORD, now)
        await self._audit(
            AuditAction.PASSWORD_CHANGED,
            actor=record.user,
            target=user_id,
            ip=ip,
            ok=True,
            sessions_ended=ended,
        )

    async def login_history(self, user_id: str, limit: int = 50) -> list[LoginEvent]:
        """The user's sign-in attempts, newest first (at most ``limit``, 1..500)."""
        return await self._events.login_history(user_id, max(1, min(int(limit), 500)))
