"""Registration with email confirmation, and password reset by an emailed single-use link.

Links are ``<api.public_url>/verify-email?token=...`` (valid ``accounts.email_token_hours``) and
``<api.public_url>/reset-password?token=...`` (valid ``accounts.password_reset_minutes``). Tokens are stored as
SHA-256 digests and work once.
"""

from __future__ import annotations

from datetime import timedelta

from tsbot.accounts.base import log
from tsbot.accounts.errors import (
    EmailTakenError,
    InvalidEmailError,
    TokenExpiredError,
    TokenInvalidError,
    TokenUsedError,
)
from tsbot.accounts.models import Preferences, Role, User
from tsbot.accounts.records import AuditAction, OneTimeToken, TokenPurpose, UserRecord
from tsbot.accounts.sessions import SessionsPart
from tsbot.accounts.tokens import digest, new_id
from tsbot.accounts.validation import check_display_name, check_password, normalise_email
from tsbot.core.errors import TsbotError

VERIFY_PATH = "verify-email"
RESET_PATH = "reset-password"


class RegistrationPart(SessionsPart):
    """Register, confirm the email address, reset a forgotten password."""

    async def _new_user(
        self,
        email: str,
        password: str,
        display_name: str | None,
        role: Role,
        *,
        email_verified: bool,
        active_until_days: int | None,
    ) -> UserRecord:
        """Validate and store a new user (raises InvalidEmailError, WeakPasswordError, AccountInputError,
        EmailTakenError)."""
        address = normalise_email(email)
        check_password(password, address)
        name = check_display_name(display_name if display_name else address.split("@", 1)[0])
        if await self._users.by_email(address) is not None:
            raise EmailTakenError()
        now = self._now()
        user = User(
            id=new_id(),
            email=address,
            display_name=name,
            role=Role(role),
            is_active=True,
            email_verified=email_verified,
            active_until=now + timedelta(days=active_until_days) if active_until_days else None,
            totp_enabled=False,
            preferences=Preferences(),
            created_at=now,
            updated_at=now,
        )
        record = UserRecord(user, await self._hash_password(password))
        await self._users.add(record)
        return record

    async def register(
        self, email: str, password: str, display_name: str | None = None, *, ip: str | None = None
    ) -> User:
        """Create a ``viewer`` account (active for ``accounts.activation_days`` when set) and email it a
        confirmation link.

        When ``accounts.require_email_verification`` is on and the email cannot be sent, nothing is kept and the
        mailer's error is raised (the person can simply try again); when it is off, a failed email is logged and
        the account stays.

        Raises:
            InvalidEmailError: malformed address.
            WeakPasswordError: the password breaks the policy (the message says which rule).
            AccountInputError: bad display name.
            EmailTakenError: an account with this address exists.
            ConfigError, TemporaryError, OperationalError: the email could not be sent (see :class:`Mailer`).
        """
        record = await self._new_user(
            email,
            password,
            display_name,
            Role.VIEWER,
            email_verified=False,
            active_until_days=self._config.activation_days,
        )
        user = record.user
        try:
            await self._send_verification(user)
        except TsbotError as exc:
            if self._config.require_email_verification:
                await self._users.delete(user.id)
                raise
            log.warning("verification_email_failed", user_id=user.id, error=type(exc).__name__)
        await self._audit(AuditAction.REGISTER, actor=user, target=user.id, ip=ip, role=user.role.value)
        return user

    async def _send_verification(self, user: User) -> None:
        hours = self._config.email_token_hours
        token = await self._new_email_token(user.id, TokenPurpose.VERIFY_EMAIL, timedelta(hours=hours))
        text = (
            f"Hello {user.display_name},\n\n"
            f"confirm your email address for tsbot by opening this link within {hours} hours:\n\n"
            f"{self._link(VERIFY_PATH, token)}\n\n"
            "If you did not create a tsbot account, ignore this email.\n"
        )
        await self._mailer.send(user.email, "Confirm your email address", text)

    async def resend_verification(self, email: str, *, ip: str | None = None) -> None:
        """Email a new confirmation link when an unconfirmed account has this address; otherwise do nothing. The
        answer is the same either way (it does not tell whether the address has an account).

        Raises:
            ConfigError, TemporaryError, OperationalError: the email could not be sent.
        """
        try:
            address = normalise_email(email)
        except InvalidEmailError:
            return
        record = await self._users.by_email(address)
        if record is None or record.user.email_verified:
            return
        await self._tokens.discard_one_time(record.user.id, TokenPurpose.VERIFY_EMAIL, self._now())
        await self._send_verification(record.user)

    async def verify_email(self, token: str, *, ip: str | None = None) -> User:
        """Confirm the email address with the token of the emailed link; the token works once.

        Raises:
            TokenInvalidError: unknown token, or not a confirmation token.
            TokenUsedError: the link was used already.
            TokenExpiredError: the link is older than ``accounts.email_token_hours``.
        """
        found = await self._use_email_token(token, TokenPurpose.VERIFY_EMAIL)
        record = await self._record(found.user_id)
        record = await self._update_user(record.user.id, email_verified=True)
        await self._audit(AuditAction.EMAIL_VERIFIED, actor=record.user, target=record.user.id, ip=ip)
        return record.user

    async def request_password_reset(self, email: str, *, ip: str | None = None) -> None:
        """Email a password-reset link when an account has this address. The answer never says whether it does:
        no error for an unknown or malformed address, and a mailer failure is logged, not raised. (Sending takes
        longer than not sending; an API may run this in a background task so both answers take as long.)"""
        address: str | None
        try:
            address = normalise_email(email)
        except InvalidEmailError:
            address = None
        record = await self._users.by_email(address) if address else None
        await self._audit(
            AuditAction.PASSWORD_RESET_REQUESTED,
            actor=None,
            target=record.user.id if record else None,
            ip=ip,
            known=record is not None,
        )
        if record is None:
            return
        user = record.user
        minutes = self._config.password_reset_minutes
        token = await self._new_email_token(user.id, TokenPurpose.RESET_PASSWORD, timedelta(minutes=minutes))
        text = (
            f"Hello {user.display_name},\n\n"
            f"someone (we hope you) asked to reset your tsbot password. Open this link within {minutes} minutes "
            f"to choose a new one:\n\n{self._link(RESET_PATH, token)}\n\n"
            "If you did not ask for this, ignore this email: your password stays as it is.\n"
        )
        try:
            await self._mailer.send(user.email, "Reset your tsbot password", text)
        except TsbotError as exc:
            log.warning("password_reset_email_failed", user_id=user.id, error=type(exc).__name__)

    async def reset_password(self, token: str, new_password: str, *, ip: str | None = None) -> None:
        """Set a new password with the token of a reset link; the token works once, every session of the user is
        ended, and other reset links stop working. Resetting also confirms the email address (the link reached
        it).

        Raises:
            WeakPasswordError: the new password breaks the policy (the token stays usable).
            TokenInvalidError, TokenUsedError, TokenExpiredError: see :meth:`verify_email`.
        """
        found = await self._peek_email_token(token, TokenPurpose.RESET_PASSWORD)
        record = await self._record(found.user_id)
        check_password(new_password, record.user.email)
        found = await self._use_email_token(token, TokenPurpose.RESET_PASSWORD)
        new_hash = await self._hash_password(new_password)
        now = self._now()
        await self._update_user(record.user.id, password_hash=new_hash, email_verified=True)
        ended = await self._tokens.revoke_user_sessions(record.user.id, now)
        await self._tokens.discard_one_time(record.user.id, TokenPurpose.RESET_PASSWORD, now)
        await self._audit(
            AuditAction.PASSWORD_RESET, actor=record.user, target=record.user.id, ip=ip, sessions_ended=ended
        )

    async def _peek_email_token(self, token: str, purpose: TokenPurpose) -> OneTimeToken:
        """The stored token for ``purpose``, checked but not used up."""
        found = await self._tokens.one_time_by_hash(digest(token or ""))
        if found is None or found.purpose is not purpose:
            raise TokenInvalidError("this link is not valid: ask for a new one")
        if found.used_at is not None:
            raise TokenUsedError("this link was already used: ask for a new one")
        if found.expires_at <= self._now():
            raise TokenExpiredError("this link has expired: ask for a new one")
        return found

    async def _use_email_token(self, token: str, purpose: TokenPurpose) -> OneTimeToken:
        """The stored token for ``purpose``, checked and used up (atomically: of two uses one wins)."""
        found = await self._peek_email_token(token, purpose)
        if not await self._tokens.mark_one_time_used(found.token_hash, self._now()):
            raise TokenUsedError("this link was already used: ask for a new one")
        return found
