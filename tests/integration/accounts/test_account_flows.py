"""The account service as wired for production (SQL stores, SMTP mailer, Fernet secret box, generated JWT
secret) on SQLite and PostgreSQL, with a real SMTP server: confirmation and reset emails arrive and their tokens
work once; the sign-in lock holds across service instances; two-factor secrets are stored encrypted."""

from __future__ import annotations

import stat
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

import pyotp
import pytest
from sqlalchemy import select
from tests.integration.accounts.conftest import SmtpInbox

from tsbot.accounts.errors import (
    AccountInactiveError,
    AccountLockedError,
    EmailNotVerifiedError,
    InvalidCredentialsError,
    InvalidTwoFactorCodeError,
    TokenExpiredError,
    TokenReuseError,
    TokenRevokedError,
    TokenUsedError,
    TwoFactorRequiredError,
)
from tsbot.accounts.models import OPERATOR, Permission, Role
from tsbot.accounts.records import AuditAction
from tsbot.accounts.service import AccountService
from tsbot.adapters.account_secrets import jwt_secret_from_settings, secret_box_from_settings
from tsbot.adapters.email.smtp import SmtpMailer
from tsbot.adapters.storage.account_events import SqlAccountEventLog
from tsbot.adapters.storage.account_tokens import SqlApiKeyStore, SqlTokenStore
from tsbot.adapters.storage.accounts import SqlUserStore
from tsbot.adapters.storage.tables import api_keys, one_time_tokens, refresh_tokens, users
from tsbot.config import Settings
from tsbot.core.errors import ConfigError
from tsbot.core.time import utc_now
from tsbot.wiring import Services

PASSWORD = "Correct-horse-42"
INJECTION = "x'); DELETE FROM users; -- <img src=x onerror=alert(1)>"


async def test_register_confirm_by_email_and_sign_in(accounts: AccountService, smtp: SmtpInbox) -> None:
    user = await accounts.register("New.User@Example.com", PASSWORD, INJECTION, ip="192.0.2.10")
    assert user.display_name == INJECTION  # bad input: injection text in the display name, stored verbatim
    with pytest.raises(EmailNotVerifiedError):
        await accounts.login("new.user@example.com", PASSWORD)
    assert len(smtp.messages) == 1
    mail = smtp.messages[0]
    assert mail["To"] == "new.user@example.com" and mail["From"] == "tsbot@tsbot.test"
    assert mail["Subject"] == "Confirm your email address"
    token = smtp.token("verify-email")
    assert (await accounts.verify_email(token)).email_verified
    with pytest.raises(TokenUsedError):  # bad input: the confirmation link used twice
        await accounts.verify_email(token)
    pair = await accounts.login("NEW.USER@example.com", PASSWORD, ip="192.0.2.10")
    identity = await accounts.authenticate(pair.access_token)
    assert identity.user.display_name == INJECTION and identity.can(Permission.READ_SIGNALS)


async def test_password_reset_by_email(accounts: AccountService, smtp: SmtpInbox, services: Services) -> None:
    await accounts.create_user(OPERATOR, "ann@example.com", PASSWORD, Role.TRADER)
    session = await accounts.login("ann@example.com", PASSWORD)
    await accounts.request_password_reset("nobody@example.com")  # bad input: unknown email, same answer
    assert smtp.messages == []
    await accounts.request_password_reset("Ann@Example.com", ip="192.0.2.20")
    token = smtp.token("reset-password", to="ann@example.com")
    async with services.db.connect() as conn:  # only the digest is stored
        stored = (await conn.execute(select(one_time_tokens.c.token_hash))).scalars().all()
    assert token not in stored and len(stored) == 1 and len(stored[0]) == 64
    await accounts.reset_password(token, "Brand-new-pass-7", ip="192.0.2.20")
    with pytest.raises(TokenUsedError):  # bad input: reused reset token
        await accounts.reset_password(token, "Another-pass-8")
    with pytest.raises(TokenRevokedError):
        await accounts.refresh(session.refresh_token)
    with pytest.raises(InvalidCredentialsError):
        await accounts.login("ann@example.com", PASSWORD)
    assert await accounts.login("ann@example.com", "Brand-new-pass-7")
    reset = await accounts.audit_log(OPERATOR, actions=[AuditAction.PASSWORD_RESET])
    assert len(reset) == 1 and reset[0].ip == "192.0.2.20"


def _service(
    services: Services, settings: Settings, clock: Callable[[], datetime] = utc_now
) -> AccountService:
    """The account service wired the way :meth:`Services.accounts` wires it, with ``clock``."""
    return AccountService(
        users=SqlUserStore(services.db),
        tokens=SqlTokenStore(services.db),
        api_keys=SqlApiKeyStore(services.db),
        events=SqlAccountEventLog(services.db),
        mailer=SmtpMailer(settings.email),
        config=settings.accounts,
        jwt_secret=jwt_secret_from_settings(settings),
        public_url=settings.api.public_url,
        secret_box=secret_box_from_settings(settings),
        clock=clock,
    )


async def test_expired_reset_link_is_refused(
    account_settings: Settings, services: Services, smtp: SmtpInbox
) -> None:
    now = [utc_now()]
    accounts = _service(services, account_settings, lambda: now[0])
    await accounts.create_user(OPERATOR, "ann@example.com", PASSWORD)
    await accounts.request_password_reset("ann@example.com")
    token = smtp.token("reset-password")
    now[0] += timedelta(minutes=account_settings.accounts.password_reset_minutes)
    with pytest.raises(TokenExpiredError):  # bad input: expired reset token
        await accounts.reset_password(token, "Brand-new-pass-7")


async def test_lock_holds_across_service_instances(services: Services) -> None:
    first, second = services.accounts(), services.accounts()  # as two API processes on one database
    await first.create_user(OPERATOR, "ann@example.com", PASSWORD)
    for n in range(5):  # bad input: five wrong passwords, alternating processes
        with pytest.raises(InvalidCredentialsError):
            await (first if n % 2 else second).login("ann@example.com", f"Wrong-pass-{n}x", ip="198.51.100.9")
    with pytest.raises(AccountLockedError) as locked:  # the 6th failure locks, whichever process answers
        await first.login("ann@example.com", PASSWORD, ip="198.51.100.10")
    assert locked.value.retry_at > utc_now()
    with pytest.raises(AccountLockedError):  # and per IP: that address is locked for another account too
        await second.login("other@example.com", PASSWORD, ip="198.51.100.9")


async def test_refresh_reuse_revokes_the_family_in_the_database(
    accounts: AccountService, services: Services
) -> None:
    await accounts.create_user(OPERATOR, "ann@example.com", PASSWORD)
    pair = await accounts.login("ann@example.com", PASSWORD)
    newer = await accounts.refresh(pair.refresh_token)
    with pytest.raises(TokenReuseError):  # bad input: a refresh token used twice
        await accounts.refresh(pair.refresh_token)
    async with services.db.connect() as conn:
        rows = (await conn.execute(select(refresh_tokens.c.token_hash, refresh_tokens.c.revoked_at))).all()
    assert len(rows) == 2 and all(r.revoked_at is not None for r in rows)
    assert {pair.refresh_token, newer.refresh_token}.isdisjoint(r.token_hash for r in rows)
    with pytest.raises(TokenRevokedError):
        await accounts.authenticate(newer.access_token)


async def test_two_factor_with_the_fernet_vault(accounts: AccountService, services: Services) -> None:
    user = await accounts.create_user(OPERATOR, "ann@example.com", PASSWORD)
    setup = await accounts.begin_totp(user.id)
    async with services.db.connect() as conn:
        sealed = (await conn.execute(select(users.c.totp_secret))).scalar_one()
    assert sealed.startswith("gAAAAA") and setup.secret not in sealed  # a Fernet token
    codes = await accounts.confirm_totp(user.id, pyotp.TOTP(setup.secret).now())
    with pytest.raises(TwoFactorRequiredError):
        await accounts.login("ann@example.com", PASSWORD)
    with pytest.raises(InvalidTwoFactorCodeError):  # bad input: wrong TOTP code
        await accounts.login("ann@example.com", PASSWORD, totp_code="000000x")
    assert await accounts.login("ann@example.com", PASSWORD, totp_code=codes.codes[0])
    assert await accounts.recovery_codes_left(user.id) == 9


async def test_deactivated_and_expired_accounts(accounts: AccountService) -> None:
    await accounts.create_user(OPERATOR, "boss@example.com", PASSWORD, Role.ADMIN)
    ann = await accounts.create_user(OPERATOR, "ann@example.com", PASSWORD)
    pair = await accounts.login("ann@example.com", PASSWORD)
    key = await accounts.create_api_key(ann.id, "bot")
    assert (await accounts.authenticate_api_key(key.key)).user.id == ann.id
    await accounts.deactivate(OPERATOR, ann.id)
    with pytest.raises(AccountInactiveError):  # bad input: a deactivated user's access token
        await accounts.authenticate(pair.access_token)
    with pytest.raises(AccountInactiveError):  # and API key
        await accounts.authenticate_api_key(key.key)
    await accounts.set_active(OPERATOR, ann.id, True)
    await accounts.set_active_until(OPERATOR, ann.id, utc_now() - timedelta(seconds=1))
    with pytest.raises(AccountInactiveError, match="activation ended"):  # bad input: past active_until
        await accounts.login("ann@example.com", PASSWORD)


async def test_api_key_is_stored_as_a_digest(accounts: AccountService, services: Services) -> None:
    ann = await accounts.create_user(OPERATOR, "ann@example.com", PASSWORD, Role.API_USER)
    key = await accounts.create_api_key(ann.id, "feed", ["read_signals"])
    async with services.db.connect() as conn:
        row = (await conn.execute(select(api_keys.c.key_hash, api_keys.c.prefix, api_keys.c.scopes))).one()
    assert key.key not in row.key_hash and row.prefix == key.key[:12] and row.scopes == ["read_signals"]
    identity = await accounts.authenticate_api_key(key.key)
    assert identity.permissions == {Permission.READ_SIGNALS}


def test_generated_jwt_secret_is_private_and_stable(services: Services, account_settings: Settings) -> None:
    services.accounts()
    path = Path(account_settings.data_dir) / "jwt.secret"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    secret = path.read_text().strip()
    assert len(secret) >= 64
    services.accounts()
    assert path.read_text().strip() == secret


async def test_without_encryption_keys_two_factor_says_how_to_configure(
    account_settings: Settings, services: Services
) -> None:
    no_keys = account_settings.security.model_copy(update={"encryption_keys": []})
    accounts = _service(services, account_settings.model_copy(update={"security": no_keys}))
    user = await accounts.create_user(OPERATOR, "ann@example.com", PASSWORD)
    with pytest.raises(ConfigError, match="TSBOT_SECURITY__ENCRYPTION_KEYS"):  # bad input: no key configured
        await accounts.begin_totp(user.id)
