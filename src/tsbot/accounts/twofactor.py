"""Two-factor sign-in with an authenticator app (TOTP) and single-use recovery codes.

The TOTP secret is stored encrypted by the :class:`~tsbot.accounts.ports.SecretBox` (Fernet with
``security.encryption_keys``); recovery codes are stored as SHA-256 digests (50 random bits each, single use).
"""

from __future__ import annotations

from tsbot.accounts.base import ServiceBase
from tsbot.accounts.errors import AccountsError, InvalidTwoFactorCodeError
from tsbot.accounts.ports import SecretBox
from tsbot.accounts.records import AuditAction, UserRecord
from tsbot.accounts.results import RecoveryCodes, TotpSetup
from tsbot.accounts.tokens import digest
from tsbot.accounts.totp import (
    looks_like_totp,
    matching_step,
    new_recovery_codes,
    new_secret,
    normalise_recovery_code,
    provisioning_uri,
)
from tsbot.core.errors import ConfigError

#: Why two-factor sign-in cannot be set up without an encryption key, and how to configure one.
NO_KEY_MESSAGE = (
    "two-factor sign-in needs an encryption key for its secrets: set security.encryption_keys, e.g. the "
    "environment variable TSBOT_SECURITY__ENCRYPTION_KEYS='[\"<key>\"]' with a key made by "
    "`python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())'`"
)


class TwoFactorPart(ServiceBase):
    """Set up, confirm, use and turn off two-factor sign-in."""

    def _secret_box(self) -> SecretBox:
        if self._box is None:
            raise ConfigError(NO_KEY_MESSAGE)
        return self._box

    async def begin_totp(self, user_id: str, *, ip: str | None = None) -> TotpSetup:
        """Start two-factor setup: a new secret (stored encrypted, not yet in force) and its ``otpauth://`` URI.
        Sign-in is unchanged until :meth:`confirm_totp` gets a code from the app.

        Raises:
            ConfigError: no encryption key is configured (the message says how to set one).
            AccountsError: two-factor sign-in is already on (turn it off first).
            UserNotFoundError: no such user.
        """
        box = self._secret_box()
        record = await self._record(user_id)
        if record.user.totp_enabled:
            raise AccountsError("two-factor sign-in is already on; turn it off first to set up a new app")
        secret = new_secret()
        await self._update_user(user_id, totp_secret=box.encrypt(secret))
        await self._audit(AuditAction.TOTP_SETUP, actor=record.user, target=user_id, ip=ip)
        return TotpSetup(secret, provisioning_uri(secret, record.user.email, self._config.totp_issuer))

    async def confirm_totp(self, user_id: str, code: str, *, ip: str | None = None) -> RecoveryCodes:
        """Turn two-factor sign-in on with a first code from the app; returns the 10 recovery codes (shown once).

        Raises:
            AccountsError: no setup was started (:meth:`begin_totp`), or it is on already.
            InvalidTwoFactorCodeError: the code does not match.
            ConfigError: no encryption key is configured.
        """
        record = await self._record(user_id)
        if record.user.totp_enabled:
            raise AccountsError("two-factor sign-in is already on")
        if record.totp_secret is None:
            raise AccountsError("start two-factor setup first (no secret was issued)")
        if not await self._totp_ok(record, code):
            raise InvalidTwoFactorCodeError()
        record = await self._update_user(user_id, totp_enabled=True)
        codes = await self._new_recovery_codes(user_id)
        await self._audit(AuditAction.TOTP_ENABLED, actor=record.user, target=user_id, ip=ip)
        return codes

    async def disable_totp(self, user_id: str, code: str, *, ip: str | None = None) -> None:
        """Turn two-factor sign-in off with an authenticator code or a recovery code; the secret and the
        recovery codes are deleted.

        Raises:
            AccountsError: two-factor sign-in is not on.
            InvalidTwoFactorCodeError: the code matches neither.
        """
        record = await self._record(user_id)
        if not record.user.totp_enabled:
            raise AccountsError("two-factor sign-in is not on")
        if not await self._second_factor(record, code, ip):
            raise InvalidTwoFactorCodeError()
        record = await self._update_user(user_id, totp_secret=None, totp_enabled=False)
        await self._users.set_recovery_codes(user_id, [])
        await self._audit(AuditAction.TOTP_DISABLED, actor=record.user, target=user_id, ip=ip)

    async def renew_recovery_codes(self, user_id: str, code: str, *, ip: str | None = None) -> RecoveryCodes:
        """Replace the recovery codes by 10 new ones (shown once), with an authenticator code.

        Raises:
            AccountsError: two-factor sign-in is not on.
            InvalidTwoFactorCodeError: the code is wrong (recovery codes are not accepted here).
        """
        record = await self._record(user_id)
        if not record.user.totp_enabled:
            raise AccountsError("two-factor sign-in is not on")
        if not await self._totp_ok(record, code):
            raise InvalidTwoFactorCodeError()
        codes = await self._new_recovery_codes(user_id)
        await self._audit(AuditAction.RECOVERY_CODES_RENEWED, actor=record.user, target=user_id, ip=ip)
        return codes

    async def recovery_codes_left(self, user_id: str) -> int:
        """How many unused recovery codes the user has."""
        return await self._users.recovery_codes_left(user_id)

    async def _new_recovery_codes(self, user_id: str) -> RecoveryCodes:
        codes = new_recovery_codes()
        await self._users.set_recovery_codes(user_id, [digest(normalise_recovery_code(c)) for c in codes])
        return RecoveryCodes(codes)

    async def _totp_ok(self, record: UserRecord, code: str) -> bool:
        """True when ``code`` is the app's code for now (or one step either side), not used before; the step is
        recorded so the code works once."""
        if record.totp_secret is None or not isinstance(code, str):
            return False
        secret = self._secret_box().decrypt(record.totp_secret)
        step = matching_step(secret, code, self._now(), record.totp_last_step)
        return step is not None and await self._users.advance_totp_step(record.user.id, step)

    async def _second_factor(self, record: UserRecord, code: str, ip: str | None) -> bool:
        """True when ``code`` is a valid authenticator code or an unused recovery code (which is used up)."""
        if not isinstance(code, str):
            return False
        if looks_like_totp(code):
            return await self._totp_ok(record, code)
        normalised = normalise_recovery_code(code)
        if not normalised or not await self._users.use_recovery_code(record.user.id, digest(normalised)):
            return False
        left = await self._users.recovery_codes_left(record.user.id)
        await self._audit(
            AuditAction.RECOVERY_CODE_USED, actor=record.user, target=record.user.id, ip=ip, left=left
        )
        return True
